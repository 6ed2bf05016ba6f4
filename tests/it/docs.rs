//! The documentation says what the code does: the README's exit-code table is the one the
//! binary's `--help` prints, both from `ExitCode::TABLE`.

use pgfleet::ExitCode;

use crate::harness::Cmd;

/// The rows of the README's "Exit codes" table, as (code, meaning).
fn readme_exit_codes() -> Vec<(u8, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    let section = readme
        .split_once("### Exit codes")
        .expect("README.md has an Exit codes section")
        .1;
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            Some((cells.first()?.parse().ok()?, cells.get(1)?.to_string()))
        })
        .collect()
}

#[test]
fn the_readme_exit_codes_are_the_binarys() {
    let table: Vec<(u8, String)> = ExitCode::TABLE
        .iter()
        .map(|(code, meaning)| (*code as u8, meaning.to_string()))
        .collect();
    assert_eq!(readme_exit_codes(), table, "README.md's Exit codes table");
    let out = Cmd::new().arg("--help").run();
    out.success();
    // Wrapped to the terminal's width: compared word by word.
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let help = words(&out.stdout);
    for (code, meaning) in ExitCode::TABLE {
        let line = words(&format!("{} {}", code as u8, meaning.replace('`', "")));
        assert!(
            help.contains(&line),
            "--help lacks {line:?}:\n{}",
            out.stdout
        );
    }
}
