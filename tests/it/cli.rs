//! The command line as a user meets it: each command's help reads on its own (its flags
//! first, the global ones under their heading, an example, the exit codes), flags that mean
//! nothing to a command are refused there, dbmate's flags still come before the command,
//! completions load in real shells, the man page renders in `man`, and `--version` names the
//! commit.

use std::path::Path;

use crate::harness::{Cmd, tempdir};

/// The subcommands, as the binary's clap command has them (`help` aside).
fn commands() -> Vec<(String, String)> {
    pgfleet::cli::command()
        .get_subcommands()
        .map(|c| {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            (c.get_name().to_string(), about)
        })
        .collect()
}

fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_command_has_one_line_an_example_and_the_exit_codes() {
    let names: Vec<String> = commands().into_iter().map(|(n, _)| n).collect();
    assert!(names.len() >= 17, "{names:?}");
    for (name, about) in commands() {
        assert!(
            !about.is_empty() && !about.contains('\n') && about.chars().count() <= 90,
            "`{name}` needs a one-line description, has {about:?}"
        );
        let short = Cmd::new().args([name.as_str(), "-h"]).run();
        short.success();
        assert!(short.stdout.starts_with(&about), "{short}");
        let examples = short
            .stdout
            .split_once("Examples:\n")
            .unwrap_or_else(|| panic!("`{name} -h` has no examples:\n{short}"))
            .1;
        assert!(
            examples
                .lines()
                .any(|l| l.trim_start().starts_with("pgfleet ")),
            "`{name} -h` has no example command line:\n{short}"
        );
        short.stdout_has("Exit codes: 0 done");
        let long = Cmd::new().args([name.as_str(), "--help"]).run();
        long.success();
        for (code, meaning) in pgfleet::ExitCode::TABLE {
            let line = words(&format!("{} {}", code as u8, meaning.replace('`', "")));
            assert!(
                words(&long.stdout).contains(&line),
                "`{name} --help` lacks exit code {}:\n{long}",
                code as u8
            );
        }
    }
}

/// The headings of a help text, in order.
fn headings(help: &str) -> Vec<&str> {
    help.lines()
        .filter(|l| l.ends_with(':') && !l.starts_with(' '))
        .collect()
}

#[test]
fn a_command_offers_its_own_flags_first_and_only_those_it_uses() {
    let status = Cmd::new()
        .args(["status", "-h"])
        .env("COLUMNS", "100")
        .run();
    assert_eq!(
        headings(&status.stdout),
        [
            "Options:",
            "Database (one, by URL):",
            "Fleet (an inventory of docker hosts):",
            "Migrations:",
            "Global options:",
            "Examples:",
        ],
        "{status}"
    );
    let own = status.stdout.split_once("Options:\n").unwrap().1;
    assert!(own.trim_start().starts_with("--exit-code"), "{status}");
    for (command, absent) in [
        (
            "new",
            &[
                "--url",
                "--inventory",
                "--limit",
                "--parallel",
                "--lock-wait",
            ][..],
        ),
        (
            "check",
            &["--url", "--inventory", "--limit", "--lock-timeout"],
        ),
        ("inventory", &["--url", "--migrations-dir", "--parallel"]),
        (
            "query",
            &["--migrations-dir", "--migrations-table", "--lock-wait"],
        ),
        ("wait", &["--inventory", "--migrations-dir", "--parallel"]),
        ("dump", &["--migrations-dir", "--lock-timeout"]),
        ("completions", &["--url", "--migrations-dir"]),
    ] {
        let help = Cmd::new().args([command, "--help"]).run();
        // The flags, not the exit codes after them (which name other commands' flags).
        let flags = help.stdout.split("Examples:").next().unwrap();
        for flag in absent {
            assert!(
                !flags.contains(flag),
                "`{command} --help` offers {flag}, which means nothing to it:\n{help}"
            );
            // `query`'s SQL may start with `--` (a comment): give it first.
            let sql = Some("select 1").filter(|_| command == "query");
            Cmd::new()
                .arg(command)
                .args(sql)
                .args([flag, "x"])
                .run()
                .code_is(3)
                .stderr_has(&format!("unexpected argument '{flag}'"));
        }
    }
}

/// The migration files `new` wrote into `dir`.
fn written(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .map(|n| {
            n.split_once('_')
                .map_or(n.clone(), |(_, name)| name.to_string())
        })
        .collect()
}

#[test]
fn dbmates_flags_come_before_the_command_and_after_wins() {
    let tmp = tempdir();
    let run = |args: &[&str], env: Option<&str>| {
        let mut cmd = Cmd::new().dir(tmp.path()).args(args);
        if let Some(dir) = env {
            cmd = cmd.env("DBMATE_MIGRATIONS_DIR", dir);
        }
        cmd.run().success();
    };
    run(&["-d", "before", "new", "one"], None);
    run(&["-d", "before", "new", "two", "-d", "after"], None);
    run(&["new", "three"], Some("env"));
    run(&["new", "four", "-d", "after"], Some("env"));
    run(&["--migrations-dir", "before", "new", "five"], Some("env"));
    assert_eq!(written(&tmp.path().join("before")), ["one.sql", "five.sql"]);
    assert_eq!(written(&tmp.path().join("after")), ["two.sql", "four.sql"]);
    assert_eq!(written(&tmp.path().join("env")), ["three.sql"]);
}

/// What bash's completion function offers for `line` (completing its last word).
fn bash_completes(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let script = format!(
        r#"source <("$PGFLEET" completions bash)
COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}
_pgfleet pgfleet "{last}" "{prev}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        words = words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
        last = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = Cmd::program("bash")
        .args(["--norc", "-c", &script])
        .env("PGFLEET", env!("CARGO_BIN_EXE_pgfleet"))
        .run();
    out.success();
    out.stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn completions_load_in_real_shells() {
    assert_eq!(bash_completes("pgfleet sta"), ["status"]);
    assert_eq!(bash_completes("pgfleet status --exit"), ["--exit-code"]);
    assert!(bash_completes("pgfleet up --dry").contains(&"--dry-run".to_string()));
    // Not offered where it means nothing.
    assert_eq!(bash_completes("pgfleet new --inv"), Vec::<String>::new());

    let bin = Path::new(env!("CARGO_BIN_EXE_pgfleet"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let fish = |line: &str| {
        let out = Cmd::program("fish")
            .args([
                "--no-config",
                "-c",
                &format!("pgfleet completions fish | source; complete -C '{line}'"),
            ])
            .env("PATH", &path)
            .run();
        out.success();
        out.stdout
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        fish("pgfleet sta").contains(&"status".to_string()),
        "{:?}",
        fish("pgfleet sta")
    );
    assert!(fish("pgfleet drift --ign").contains(&"--ignore".to_string()));
    assert!(!fish("pgfleet new --").contains(&"--inventory".to_string()));

    // The shells not installed here: each script names every command.
    for shell in ["zsh", "elvish", "powershell"] {
        let out = Cmd::new().args(["completions", shell]).run();
        out.success();
        for (name, _) in commands() {
            assert!(out.stdout.contains(&name), "{shell} lacks {name}");
        }
    }
    Cmd::new()
        .args(["completions", "tcsh"])
        .run()
        .code_is(3)
        .stderr_has("possible values: bash");
}

/// `page` as `man` shows it, 80 columns wide.
fn man_renders(page: &Path) -> String {
    let out = Cmd::program("man")
        .args(["-l".as_ref(), page.as_os_str()])
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .run();
    out.success();
    out.stdout
}

#[test]
fn the_man_page_renders_in_man() {
    let tmp = tempdir();
    let out = Cmd::new().arg("man").run();
    out.success().stdout_has(".TH pgfleet 1");
    let page = tmp.path().join("pgfleet.1");
    std::fs::write(&page, &out.stdout).unwrap();
    let shown = man_renders(&page);
    for (name, _) in commands() {
        assert!(shown.contains(&format!("pgfleet-{name}(1)")), "{shown}");
    }
    assert!(words(&shown).contains("130 interrupted"), "{shown}");

    let pages = tmp.path().join("man1");
    Cmd::new()
        .args(["man", "--dir"])
        .arg(&pages)
        .run()
        .success()
        .stderr_has("wrote pgfleet.1");
    let status = man_renders(&pages.join("pgfleet-status.1"));
    assert!(status.contains("--exit-code"), "{status}");
    assert!(status.contains("pgfleet status --quiet"), "{status}");
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let head = std::process::Command::new("git")
        .args(["log", "-1", "--format=%h"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run git");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let out = Cmd::new().arg("--version").run();
    out.success();
    assert!(
        out.stdout
            .starts_with(&format!("pgfleet {} ({head} ", env!("CARGO_PKG_VERSION"))),
        "HEAD is {head}:\n{out}"
    );
}
