//! The bad-input corpus of issue 12: flags, URLs, `.env` files, migration files and
//! inventories that must be refused — each with its exit code, and a message that says
//! what is wrong, where (`file:line[:column]` when there is a file, else the flag or the
//! variable) and what to do. Nothing here reaches a server: every case is refused while
//! the input is read, and the one URL given points at a port where nothing listens (a case
//! that got that far would exit 2, not 3). A secret, `s3cr3t`, stands in every input that
//! can carry one, and no output may show it. Add a row per new refusal.

use std::time::Duration;

use crate::harness::{self, Cmd};

/// A URL nothing listens on: a case that reached it would fail with exit 2, not 3.
const URL: &str = "postgres://u:pw@127.0.0.1:1/x?sslmode=disable";

/// What no output may ever show.
const SECRET: &str = "s3cr3t";

/// Bad input or configuration (`ExitCode::BadInput`).
const BAD: i32 = 3;

/// One bad input and what its message must hold.
struct Case<'a> {
    /// Files written into the case's folder, which is the working folder of the run.
    files: Vec<(&'a str, Vec<u8>)>,
    args: Vec<&'a str>,
    env: Vec<(&'a str, &'a str)>,
    code: i32,
    /// What is wrong, where, and what to do: each must be in the message.
    what: &'a str,
    at: String,
    fix: &'a str,
}

impl<'a> Case<'a> {
    fn new(
        args: &[&'a str],
        code: i32,
        what: &'a str,
        at: impl Into<String>,
        fix: &'a str,
    ) -> Self {
        Case {
            files: Vec::new(),
            args: args.to_vec(),
            env: Vec::new(),
            code,
            what,
            at: at.into(),
            fix,
        }
    }

    fn file(mut self, name: &'a str, text: impl AsRef<[u8]>) -> Self {
        self.files.push((name, text.as_ref().to_vec()));
        self
    }

    fn env(mut self, key: &'a str, value: &'a str) -> Self {
        self.env.push((key, value));
        self
    }

    /// Runs the case; what is wrong with its outcome, if anything.
    fn fails(&self) -> Option<String> {
        let dir = harness::tempdir();
        for (name, text) in &self.files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let mut cmd = Cmd::new()
            .dir(dir.path())
            .args(&self.args)
            .timeout(Duration::from_secs(30));
        for (key, value) in &self.env {
            cmd = cmd.env(key, value);
        }
        let out = cmd.run();
        let all = format!("{}{}", out.stdout, out.stderr);
        let mut wrong = Vec::new();
        if out.code != Some(self.code) {
            wrong.push(format!("exit {:?}, not {}", out.code, self.code));
        }
        for (part, text) in [("what", self.what), ("where", &self.at), ("fix", self.fix)] {
            if !all.contains(text) {
                wrong.push(format!("no {part}: {text:?}"));
            }
        }
        if all.contains(SECRET) {
            wrong.push("the secret is shown".into());
        }
        if all.contains("panicked") {
            wrong.push("a panic".into());
        }
        (!wrong.is_empty()).then(|| {
            let files: Vec<String> = self
                .files
                .iter()
                .map(|(n, t)| format!("{n}: {:?}", String::from_utf8_lossy(t)))
                .collect();
            format!(
                "{:?} {files:?} {:?}: {}\n{out}",
                self.args,
                self.env,
                wrong.join("; ")
            )
        })
    }
}

/// Runs every case and fails listing each one that went wrong (not only the first).
fn check(cases: &[Case<'_>]) {
    let failures: Vec<String> = cases.iter().filter_map(Case::fails).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases went wrong:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// (arguments after `--url URL -d m`, exit code, what, where, what to do).
type Flag = (
    &'static [&'static str],
    i32,
    &'static str,
    &'static str,
    &'static str,
);

#[rustfmt::skip]
const FLAGS: &[Flag] = &[
    (&["up", "--log-dir", "/proc/pgfleet-logs"], BAD, "cannot create the log folder /proc/pgfleet-logs", "--log-dir", "a folder you can write to"),
    (&["up", "--lock-timeout", "5x"], BAD, "'5x' is not a duration", "--lock-timeout", "use a number with ms, s, min or h"),
    (&["up", "--lock-timeout", "5"], BAD, "'5' needs a unit", "--lock-timeout", "5s for seconds"),
    (&["up", "--lock-timeout", "1.5s"], BAD, "'1.5s' is not a duration", "--lock-timeout", "(e.g. 30s)"),
    (&["up", "--lock-timeout", "99999999999999999h"], BAD, "is not a duration", "--lock-timeout", "(e.g. 30s)"),
    (&["up", "--statement-timeout", "-3s"], BAD, "'-3s' is not a duration", "--statement-timeout", "(e.g. 30s)"),
    (&["up", "--statement-timeout", ""], BAD, "'' is not a duration", "--statement-timeout", "(e.g. 30s)"),
    (&["up", "--lock-wait", "soon"], BAD, "'soon' is not a duration", "--lock-wait", "(e.g. 30s)"),
    (&["up", "--lock-wait", "5"], BAD, "'5' needs a unit", "--lock-wait", "5ms for milliseconds"),
    (&["up", "--wait-for-quiet", "5"], BAD, "'5' needs a unit", "--wait-for-quiet", "5s for seconds"),
    (&["wait", "--wait-timeout", "x"], BAD, "'x' is not a duration", "--wait-timeout", "(e.g. 30s)"),
    (&["wait", "--wait-timeout", "5"], BAD, "'5' needs a unit", "--wait-timeout", "5s for seconds"),
    (&["up", "--parallel", "0"], BAD, "0 is not in 1..=65535", "--parallel", "1..=65535"),
    (&["up", "--parallel", "-1"], BAD, "-1 is not in 1..=65535", "--parallel", "1..=65535"),
    (&["up", "--parallel", "70000"], BAD, "70000 is not in 1..=65535", "--parallel", "1..=65535"),
    (&["up", "--canary", "x"], BAD, "invalid value 'x'", "--canary <N>", "try '--help'"),
    (&["up", "--canary", "-1"], BAD, "invalid value '-1'", "--canary <N>", "try '--help'"),
    (&["up", "--lock-retries", "-1"], BAD, "invalid value '-1'", "--lock-retries <N>", "try '--help'"),
    (&["up", "--lock-retries", "99999999999"], BAD, "99999999999 is not in 0..=4294967295", "--lock-retries <N>", "0..=4294967295"),
    (&["up", "--dry-run=maybe"], BAD, "invalid value 'maybe'", "--dry-run", "[possible values: full, summary, rehearse]"),
    (&["up", "-n", "1"], BAD, "unexpected argument '-n' found", "Usage: pgfleet up", "try '--help'"),
    (&["rollback", "-n", "0"], BAD, "'0' is not a count of 1 or more", "--count <N>", "1 or more"),
    (&["rollback", "-n", "-1"], BAD, "'-1' is not a count of 1 or more", "--count <N>", "1 or more"),
    (&["rollback", "-n", "2x"], BAD, "'2x' is not a count of 1 or more", "--count <N>", "1 or more"),
    (&["rollback", "-n", "99999999999999999999"], BAD, "is not a count of 1 or more", "--count <N>", "1 or more"),
    (&["rollback", "-n", "1", "--to", "2"], BAD, "cannot be used with", "--to <VERSION>", "try '--help'"),
    (&["rollback", "--to", "abc"], BAD, "'abc' is not a version", "--to", "the digits a migration file name starts with"),
    (&["rollback", "--to", ""], BAD, "'' is not a version", "--to", "the digits a migration file name starts with"),
    (&["--format", "yaml", "status"], BAD, "invalid value 'yaml'", "--format", "[possible values: text, json, json-lines, github, sarif, csv]"),
    (&["--format", "csv", "status"], BAD, "--format csv is for `query`'s rows", "--format csv", "use text, json or json-lines here"),
    (&["query", "commit; insert into t values (1)"], BAD, "`commit` is transaction control", "read-only transaction", "leave it out"),
    (&["query", "select 1; rollback and chain"], BAD, "is transaction control", "read-only transaction", "leave it out"),
    (&["query", "selct 1"], BAD, "the SQL does not parse: syntax error at or near \"selct\"", "PostgreSQL's grammar", "before any target is contacted"),
    (&["query", "-- nothing"], BAD, "no SQL to run", "the text", "only comments or white space"),
    (&["query", "--bogus"], BAD, "unexpected argument '--bogus'", "query has no such flag", "`pgfleet query --help`"),
    (&["query", "--password=s3cr3t"], BAD, "unexpected argument '--password'", "query has no such flag", "`pgfleet query --help`"),
    (&["query", "-x"], BAD, "unexpected argument '-x'", "query has no such flag", "on the lines after it"),
    (&["query", "select 1", "--statement-timeout", "5"], BAD, "'5' needs a unit", "--statement-timeout", "5s for seconds"),
    (&["--migrations-table", "", "status"], BAD, "--migrations-table \"\"", "--migrations-table", "write `table` or `schema.table`"),
    (&["--migrations-table", "a.b.c", "status"], BAD, "\"a.b.c\"", "--migrations-table", "write `table` or `schema.table`"),
    (&["--migrations-table", "1st", "status"], BAD, "\"1st\"", "--migrations-table", "not starting with a digit"),
    (&["--migrations-table", "x y", "status"], BAD, "\"x y\"", "--migrations-table", "write `table` or `schema.table`"),
    (&["--migrations-table", "public.", "status"], BAD, "\"public.\"", "--migrations-table", "write `table` or `schema.table`"),
    (&["--migrations-table", ".t", "status"], BAD, "\".t\"", "--migrations-table", "write `table` or `schema.table`"),
    (&["--migrations-table", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "status"], BAD, "aaaa\"", "--migrations-table", "at most 63"),
    (&["baseline", "--legacy-table", ""], BAD, "--legacy-table \"\"", "--legacy-table", "write a plain table name"),
    (&["baseline", "--legacy-table", "public.old"], BAD, "\"public.old\"", "--legacy-table", "write a plain table name"),
    (&["baseline", "--from", "nas/app"], BAD, "--from and --apply-to name inventory targets", "--from", "drop them, or drop --url"),
    (&["drift", "--between", "a", "b"], BAD, "--between names two inventory targets", "--between", "drop --url"),
    (&["drift", "--between", "a"], BAD, "2 values required", "--between <A> <B>", "try '--help'"),
    (&["--limit", "nas", "status"], BAD, "--limit selects targets of the inventory", "--url", "drop --limit"),
    (&["-i", "inventory.yml", "status"], BAD, "-i names an inventory, but --url names one database", "-i", "drop -i, or drop --url"),
    (&["drift", "--shadow-url", "mysql://a:s3cr3t@h/x"], BAD, "the scheme must be", "--shadow-url", "postgres:// or postgresql://"),
    (&["drift", "--shadow-url", "postgres://a:s3cr3t@h:99999/x"], BAD, "invalid port number", "--shadow-url", "a port from 1 to 65535"),
    (&["bogus"], BAD, "unrecognized subcommand 'bogus'", "Usage: pgfleet", "try '--help'"),
    (&["--unknown-flag", "status"], BAD, "unexpected argument '--unknown-flag' found", "Usage: pgfleet", "try '--help'"),
    (&["status", "--exit-code=yes"], BAD, "unexpected value 'yes'", "--exit-code", "Usage: pgfleet status --exit-code"),
    (&["--verbose", "--quiet", "status"], BAD, "cannot be used with", "--quiet", "Usage:"),
    (&["--env-file"], BAD, "a value is required", "--env-file <PATH>", "try '--help'"),
    (&["register"], BAD, "required arguments were not provided", "<VERSION>", "Usage: pgfleet register <VERSION>"),
    (&["register", "999"], BAD, "no migration 999", "in m", "give its version or file name"),
    (&["new"], BAD, "required arguments were not provided", "<NAME>", "Usage: pgfleet new"),
    (&["new", ""], BAD, "not \"\"", "`new` needs a name", "e.g. `pgfleet new add_orders`"),
    (&["new", "../escape"], BAD, "not \"../escape\"", "`new` needs a name", "without / or a leading dot"),
    (&["new", ".hidden"], BAD, "not \".hidden\"", "`new` needs a name", "without / or a leading dot"),
    (&["new", "x/y"], BAD, "not \"x/y\"", "`new` needs a name", "without / or a leading dot"),
    (&["new", "ok", "extra"], BAD, "unexpected argument 'extra' found", "Usage: pgfleet new", "try '--help'"),
];

fn flag_cases() -> Vec<Case<'static>> {
    let cases: Vec<Case> = FLAGS
        .iter()
        .map(|(args, code, what, at, fix)| {
            let mut all = vec!["--url", URL, "-d", "m"];
            all.extend_from_slice(args);
            Case::new(&all, *code, what, *at, fix).file("m/.keep", b"")
        })
        .collect();
    cases
}

#[test]
fn bad_flags_are_refused_saying_what_where_and_what_to_do() {
    check(&flag_cases());
}

/// Folders that are not there, or not folders.
fn folder_cases() -> Vec<Case<'static>> {
    vec![
        // Nothing names a database.
        Case::new(
            &["status"],
            BAD,
            "no database",
            "inventory does not exist",
            "pass --url postgres://user@host:port/db",
        ),
        Case::new(
            &["wait"],
            BAD,
            "no database",
            "DATABASE_URL",
            "pass --url postgres://user@host:port/db",
        ),
        Case::new(
            &["-d", "file.sql", "new", "x"],
            BAD,
            "the migrations folder file.sql is a file, not a folder",
            "file.sql",
            "pass --migrations-dir FOLDER",
        )
        .file("file.sql", b""),
        Case::new(
            &["--url", URL, "-d", "nope", "up"],
            BAD,
            "the migrations folder nope does not exist",
            "nope",
            "create it, or pass --migrations-dir",
        ),
        Case::new(
            &["--url", URL, "-d", "file.sql", "status"],
            BAD,
            "the migrations folder file.sql does not exist",
            "file.sql",
            "create it, or pass --migrations-dir",
        )
        .file("file.sql", b"-- migrate:up\n-- migrate:down\n"),
        Case::new(
            &["--url", URL, "-d", "m", "--env-file", "nope.env", "status"],
            BAD,
            "cannot load the env file",
            "nope.env",
            "check the path given to --env-file",
        )
        .file("m/.keep", b""),
        Case::new(
            &["--url", URL, "-d", "m", "--env-file", "m", "status"],
            BAD,
            "cannot load the env file",
            "m",
            "check the path given to --env-file",
        )
        .file("m/.keep", b""),
    ]
}

#[test]
fn bad_folders_are_refused_with_their_path() {
    check(&folder_cases());
}

/// (URL, what, what to do): refused before connecting, naming the flag.
#[rustfmt::skip]
const URLS: &[(&str, &str, &str)] = &[
    ("mysql://u@h/db", "the scheme must be", "postgres:// or postgresql://"),
    ("http://u:s3cr3t@h/db", "the scheme must be", "postgres:// or postgresql://"),
    ("file:///tmp/x", "the scheme must be", "postgres:// or postgresql://"),
    ("postgres://u@h/db?sslmode=verify-full", "sslmode=verify-full checks the server's certificate against a CA, and none was given", "set sslrootcert=FILE"),
    ("postgres://u@h/db?sslmode=verify-ca", "sslmode=verify-ca checks the server's certificate against a CA, and none was given", "set sslrootcert=FILE"),
    ("postgres://u@h/db?sslmode=bogus", "sslmode=bogus is not an sslmode", "use one of disable, allow, prefer, require, verify-ca, verify-full"),
    ("postgres://u@h/db?sslmode", "sslmode= is not an sslmode", "use one of disable, allow, prefer, require, verify-ca, verify-full"),
    ("postgres://u@h/db?sslmode=require&sslrootcert=system", "sslmode=require cannot be used with sslrootcert=system", "only sslmode=verify-full"),
    ("postgres://u@h/db?sslcrl=/etc/crl.pem", "sslcrl is a libpq setting pgfleet does not support", "pgfleet takes sslmode, sslrootcert, sslcert and sslkey"),
    ("postgres://u@h/db?connect_timeout=x", "connect_timeout is not a number of seconds", "e.g. connect_timeout=10"),
    ("postgres://u@h/db?connect_timeout=-1", "connect_timeout is not a number of seconds", "e.g. connect_timeout=10"),
    ("postgres://u@h/db?connect_timeout=", "connect_timeout is not a number of seconds", "e.g. connect_timeout=10"),
    ("postgres://u@h/db?connect_timeout=99999999999999999999", "connect_timeout is not a number of seconds", "e.g. connect_timeout=10"),
    ("postgres://u@h/db?port=abc", "port=abc is not a port", "1 to 65535"),
    ("postgres://u@h/db?port=0", "port=0 is not a port", "1 to 65535"),
    ("postgres://u@h/db?port=70000", "port=70000 is not a port", "1 to 65535"),
    ("postgres://u:s3cr3t@h:99999/db", "invalid port number", "a port from 1 to 65535"),
    ("postgres://u:s3cr3t@h:54x/db", "invalid port number", "a port from 1 to 65535"),
    ("postgres://u:s3cr3t@h:65536/db", "invalid port number", "a port from 1 to 65535"),
    ("postgres://u:s3cr3t@h:0/db", "port 0 is not a port", "e.g. 5432"),
    ("postgres://u:s3c#r3t@h/db", "a `#`, `/` or `?` in the user or password", "percent-encode it"),
    ("postgres://u:s3c/r3t@h:5432/db", "a `#`, `/` or `?` in the user or password", "percent-encode it"),
    ("postgres://u:s3c?r3t@h/db", "a `#`, `/` or `?` in the user or password", "percent-encode it"),
    ("postgres://u:s3cr3t@[::1/db", "invalid IPv6 address", "postgres://user@host:port/database"),
    ("not a url", "relative URL without a base", "postgres://user@host:port/database"),
    ("", "it is empty", "postgres://user@host:port/database"),
    ("postgres://u:s3cr3t@h/", "it names no database", "add the database after the host"),
    ("postgres://u:s3cr3t@h", "it names no database", "add the database after the host"),
    ("postgres://u:s3%FFt@h/db", "a percent-escape is not valid UTF-8", "%C3%A9"),
    ("postgres://u@h/db?statement_timeout=5", "statement_timeout=5 has no unit", "write 5s or 5ms"),
    ("postgres://u@h/db?lock_timeout=300", "lock_timeout=300 has no unit", "write 300s or 300ms"),
    ("postgres://u:s3c%ZZret@h/db", "a '%' is not followed by two hex digits", "write a literal % as %25"),
    ("postgres://u:100%@h/db", "a '%' is not followed by two hex digits", "write a literal % as %25"),
    ("postgres://u@h/d%FFb", "a percent-escape is not valid UTF-8", "%C3%A9"),
    ("postgres://u:s3cr3t@h/db?password=s3cr3t&sslmode=verify-ca", "sslmode=verify-ca checks the server's certificate against a CA, and none was given", "set sslrootcert=FILE"),
];

fn url_cases() -> Vec<Case<'static>> {
    let mut cases: Vec<Case> = URLS
        .iter()
        .map(|(url, what, fix)| {
            Case::new(
                &["--url", url, "-d", "m", "status"],
                BAD,
                what,
                "(--url)",
                fix,
            )
            .file("m/.keep", b"")
        })
        .collect();
    // The same URLs from the environment name the variable.
    for (url, what, fix) in [URLS[0], URLS[15], URLS[19], URLS[25]] {
        cases.push(
            Case::new(&["-d", "m", "status"], BAD, what, "(DATABASE_URL)", fix)
                .env("DATABASE_URL", url)
                .file("m/.keep", b""),
        );
    }
    cases
}

#[test]
fn bad_urls_are_refused_before_connecting() {
    check(&url_cases());
}

/// (`.env` text, what, where, what to do), read from the working folder.
#[rustfmt::skip]
const ENV_FILES: &[(&str, &str, &str, &str)] = &[
    ("DATABASE_URL=\"postgres://u:s3cr3t@h/x\n", "is not KEY=VALUE", ".env:1:", "close every quote"),
    ("DATABASE_URL='postgres://u:s3cr3t@h/x\n", "is not KEY=VALUE", ".env:1:", "close every quote"),
    ("DATABASE_URL postgres://u:s3cr3t@h/x\n", "is not KEY=VALUE", ".env:1:14", "write KEY=VALUE"),
    ("A=1\nB s3cr3t\n", "is not KEY=VALUE", ".env:2:3", "write KEY=VALUE"),
    ("=s3cr3t\n", "is not KEY=VALUE", ".env:1:1", "write KEY=VALUE"),
    ("DATABASE_URL=\"postgres://u:s3cr3t@h/x\" trailing\n", "is not KEY=VALUE", ".env:1:", "quote a value that holds spaces"),
    ("FOO=${BAR\n", "is not KEY=VALUE", ".env:1:", "close every quote"),
    ("export\n", "is not KEY=VALUE", ".env:1:", "write KEY=VALUE"),
    ("# comment\n\nA=1\nDATABASE_URL=\"s3cr3t\n", "is not KEY=VALUE", ".env:4:", "close every quote"),
    ("A=\"multi\nline\"\nB=x s3cr3t\n", "is not KEY=VALUE", ".env:3:", "quote a value that holds spaces"),
    ("A=1\nA=1 2\n", "is not KEY=VALUE", ".env:2:", "quote a value that holds spaces"),
    ("K=a\\qs3cr3t\n", "is not KEY=VALUE", ".env:1:", "write KEY=VALUE"),
    ("export DATABASE_URL=mysql://u:s3cr3t@h/x\n", "the scheme must be", "(DATABASE_URL from .env:1)", "postgres:// or postgresql://"),
    ("DATABASE_URL=postgres://u:s3cr3t@127.0.0.1:99999/x\n", "invalid port number", "(DATABASE_URL from .env:1)", "a port from 1 to 65535"),
    ("A=1\r\nDATABASE_URL=postgres://u:s3cr3t@h:99999/x\r\n", "invalid port number", "(DATABASE_URL from .env:2)", "a port from 1 to 65535"),
    ("DATABASE_URL=postgres://u:s3c#r3t@h/x\n", "a `#`, `/` or `?` in the user or password", "(DATABASE_URL from .env:1)", "percent-encode it"),
    ("DATABASE_URL=postgres://u:s3/cr3t@h:5432/x\n", "a `#`, `/` or `?` in the user or password", "(DATABASE_URL from .env:1)", "percent-encode it"),
    ("DATABASE_URL=\n", "it is empty", "(DATABASE_URL from .env:1)", "postgres://user@host:port/database"),
    ("DATABASE_URL=postgres://u:s3cr3t@h/x?sslmode=verify-full\n", "sslmode=verify-full checks the server's certificate against a CA, and none was given", "(DATABASE_URL from .env:1)", "set sslrootcert=FILE"),
    ("\u{feff}DATABASE_URL=postgres://u@h:99999/x\n", "invalid port number", "(DATABASE_URL from .env:1)", "a port from 1 to 65535"),
    ("DATABASE_URL = postgres://u@h:0/x\n", "port 0 is not a port", "(DATABASE_URL from .env:1)", "e.g. 5432"),
];

fn env_cases() -> Vec<Case<'static>> {
    let mut cases: Vec<Case> = ENV_FILES
        .iter()
        .map(|(text, what, at, fix)| {
            Case::new(&["-d", "m", "status"], BAD, what, *at, fix)
                .file(".env", text.as_bytes())
                .file("m/.keep", b"")
        })
        .collect();
    cases.push(
        Case::new(
            &["-d", "m", "status"],
            BAD,
            "not UTF-8",
            ".env:2",
            "save it as UTF-8",
        )
        .file(".env", b"A=1\nB=\xff\xfe\n")
        .file("m/.keep", b""),
    );
    // A team coming from dbmate keeps DATABASE_URL in .env: -i must not lose to it silently.
    cases.push(
        Case::new(
            &["-d", "m", "-i", "inv.yml", "up"],
            BAD,
            "-i names an inventory, but DATABASE_URL from .env:1 names one database",
            ".env:1",
            "(and DATABASE_URL, in the environment or .env)",
        )
        .file(".env", "DATABASE_URL=postgres://u:s3cr3t@127.0.0.1:1/x\n")
        .file(
            "inv.yml",
            "hosts:\n  nas:\n    databases:\n      app: { container: pg }\n",
        )
        .file("m/.keep", b""),
    );
    cases.push(
        Case::new(
            &["-d", "m", "--env-file", "prod.env", "status"],
            BAD,
            "is not KEY=VALUE",
            "prod.env:1:",
            "write KEY=VALUE",
        )
        .file("prod.env", b"NOT A LINE s3cr3t\n")
        .file("m/.keep", b""),
    );
    cases
}

#[test]
fn bad_env_files_are_refused_with_line_and_column_and_no_secret() {
    check(&env_cases());
}

/// (file text, what, line — 0 for the whole file, what to do), as `m/001_a.sql`.
#[rustfmt::skip]
const FILES: &[(&str, &str, usize, &str)] = &[
    ("-- only a comment\n", "no '-- migrate:up' section", 0, "every migration needs one"),
    ("", "no '-- migrate:up' section", 0, "every migration needs one"),
    ("-- migrate:up\nselect 1;\n", "no '-- migrate:down' section", 0, "add one (it may be empty)"),
    ("-- migrate:up\n-- migrate:up\nselect 1;\n", "no '-- migrate:down' section", 0, "add one (it may be empty)"),
    ("-- migrate:down\n-- migrate:up\n", "comes before the first '-- migrate:up'", 1, "put the up section first"),
    ("create table t (id int);\n-- migrate:up\n-- migrate:down\n", "SQL before the first '-- migrate:up'", 1, "only blank lines and comments"),
    ("-- migrate:upgrade\nselect 1;\n-- migrate:up\n-- migrate:down\n", "SQL before the first '-- migrate:up'", 2, "only blank lines and comments"),
    ("\u{feff}select 1;\n-- migrate:up\n-- migrate:down\n", "SQL before the first '-- migrate:up'", 1, "only blank lines and comments"),
    ("-- migrate:up transaction:maybe\n-- migrate:down\n", "invalid value 'maybe' for 'transaction'", 1, "expected true or false"),
    ("-- migrate:up transaction:FALSE\n-- migrate:down\n", "invalid value 'FALSE' for 'transaction'", 1, "expected true or false"),
    ("-- migrate:up transaction\n-- migrate:down\n", "marker option 'transaction'", 1, "key:value"),
    ("-- migrate:up\n-- migrate:down lock_timout:3s\n", "unknown marker option 'lock_timout'", 2, "did you mean 'lock_timeout'?"),
    ("-- migrate:up isolation:serializable\n-- migrate:down\n", "unknown marker option 'isolation'", 1, "known: transaction, lock_timeout, statement_timeout"),
    ("-- migrate:up lock_timeout:5\n-- migrate:down\n", "invalid value '5' for 'lock_timeout'", 1, "a duration with a unit"),
    ("-- migrate:up lock_timeout:\n-- migrate:down\n", "invalid value '' for 'lock_timeout'", 1, "500ms, 30s, 2min, 1h or off"),
    ("-- migrate:up statement_timeout:soon\n-- migrate:down\n", "invalid value 'soon' for 'statement_timeout'", 1, "500ms, 30s, 2min, 1h or off"),
    ("-- migrate:up statement_timeout:-5s\n-- migrate:down\n", "invalid value '-5s' for 'statement_timeout'", 1, "500ms, 30s, 2min, 1h or off"),
    ("-- migrate:up\nselect 1;\n-- migrate:down\n-- migrate:up transaction:false\nselect 2;\n-- migrate:down\n", "mix 'transaction:false'", 4, "split the file"),
    ("-- migrate:up\n-- migrate:down transaction:false\nselect 1;\n-- migrate:up\n-- migrate:down\nselect 2;\n", "mix 'transaction:false'", 2, "split the file"),
    ("-- migrate:up\r\nselect 1;\r\n-- migrate:down bogus\r\n", "marker option 'bogus'", 3, "key:value"),
    ("\u{feff}-- migrate:up\r\nselect 1;\r\n", "no '-- migrate:down' section", 0, "add one (it may be empty)"),
    ("-- migrate:up\rselect 1;\r-- migrate:down\rselect 2;\r", "a '-- migrate:' marker follows a carriage return (CR)", 1, "save it with LF (or CRLF) line endings"),
    ("-- migrate:up\nselect '\u{0}';\n-- migrate:down\n", "a NUL byte", 2, "remove it"),
    ("-- migrate:up\nselect 1;\n\n-- x\u{0}\n-- migrate:down\n", "a NUL byte", 4, "remove it"),
    // A marker line inside a literal: dbmate cuts there all the same.
    ("-- migrate:up\ncreate function f() returns int as $$\nbegin\n-- migrate:down\nreturn 1;\nend $$ language plpgsql;\n-- migrate:down\ndrop function f();\n", "stands inside a dollar-quoted string opened at line 2", 4, "indent that line"),
    ("-- migrate:up transaction:false\ncreate table a (id int);\ncreate function f() returns int as $body$\n-- migrate:down\nselect 1 $body$ language sql;\n-- migrate:down transaction:false\n", "opened at line 3, in the statement at line 3 (create function f() returns int as $body$)", 4, "indent that line"),
    ("-- migrate:up\ninsert into t\nvalues (1, 'a\n-- migrate:down\nb');\n-- migrate:down\n", "stands inside a quoted string opened at line 3, in the statement at line 2 (insert into t)", 4, "indent that line"),
    ("-- migrate:up\nselect 1; /* notes\n-- migrate:down\n*/\n-- migrate:down\n", "stands inside a /* comment opened at line 2", 3, "indent that line"),
    ("-- migrate:up\nselect 1 as \"odd\n-- migrate:down\nname\";\n-- migrate:down\n", "stands inside a quoted identifier opened at line 2", 3, "indent that line"),
    ("-- migrate:up\nselect 1;\n-- migrate:down\nselect $$\n-- migrate:up\n$$;\n-- migrate:down\n", "'-- migrate:up' stands inside a dollar-quoted string opened at line 4", 5, "reword it"),
    // Directives.
    ("-- pgfleet:stopp worker\n-- migrate:up\n-- migrate:down\n", "unknown directive 'pgfleet:stopp'", 1, "did you mean 'stop'?"),
    ("-- pgfleet:usedby worker\n-- migrate:up\n-- migrate:down\n", "unknown directive 'pgfleet:usedby'", 1, "did you mean 'used-by'?"),
    ("-- pgfleet:teleport worker\n-- migrate:up\n-- migrate:down\n", "unknown directive 'pgfleet:teleport'", 1, "a plain comment must not start with 'pgfleet:'"),
    ("-- pgfleet: stop worker\n-- migrate:up\n-- migrate:down\n", "no directive name right after the colon", 1, "write it there"),
    ("-- pgfleet:\n-- migrate:up\n-- migrate:down\n", "no directive name right after the colon", 1, "write it there"),
    ("-- pgfleet:stop\n-- migrate:up\n-- migrate:down\n", "'-- pgfleet:stop' needs a selector", 1, "a container name such as 'worker'"),
    ("-- pgfleet:used-by\n-- migrate:up\n-- migrate:down\n", "'-- pgfleet:used-by' needs a selector", 1, "label=KEY or label=KEY=VALUE"),
    ("-- pgfleet:stop /worker\n-- migrate:up\n-- migrate:down\n", "'/worker' is not a selector for '-- pgfleet:stop'", 1, "container name"),
    ("-- pgfleet:stop _worker\n-- migrate:up\n-- migrate:down\n", "'_worker' is not a selector", 1, "container name"),
    ("-- pgfleet:used-by label=\n-- migrate:up\n-- migrate:down\n", "'label=' is not a selector", 1, "label"),
    ("-- pgfleet:stop worker now\n-- migrate:up\n-- migrate:down\n", "unexpected 'now'", 1, "write '-- pgfleet:stop SELECTOR', one per line"),
    ("-- pgfleet:requires worker image=a:1 or newer\n-- migrate:up\n-- migrate:down\n", "unexpected 'or newer'", 1, "one per line"),
    ("-- pgfleet:requires worker image\n-- migrate:up\n-- migrate:down\n", "not 'image'", 1, "image=REF or label=KEY=VALUE"),
    ("-- pgfleet:requires worker\n-- migrate:up\n-- migrate:down\n", "not nothing", 1, "image=REF or label=KEY=VALUE"),
    ("-- pgfleet:requires worker image=\n-- migrate:up\n-- migrate:down\n", "not 'image='", 1, "image=REF or label=KEY=VALUE"),
    ("-- pgfleet:requires worker label=schema\n-- migrate:up\n-- migrate:down\n", "not 'label=schema'", 1, "image=REF or label=KEY=VALUE"),
    ("-- pgfleet:requires worker image\n-- migrate:up\n-- migrate:down\n", "'-- pgfleet:requires' needs what the container must run", 1, "e.g. '-- pgfleet:requires classifier image=classifier:2.1'"),
    ("-- pgfleet:precondition delete from t\n-- migrate:up\n-- migrate:down\n", "it is not a SELECT", 1, "returns true when the migration may go ahead"),
    ("-- pgfleet:precondition\n-- migrate:up\n-- migrate:down\n", "there is no SQL after it", 1, "takes one SELECT"),
    ("-- pgfleet:precondition selct 1\n-- migrate:up\n-- migrate:down\n", "syntax error at or near \"selct\"", 1, "takes one SELECT"),
    ("-- pgfleet:precondition select 1; select 2\n-- migrate:up\n-- migrate:down\n", "it holds 2 statements", 1, "takes one SELECT"),
    ("-- pgfleet:precondition select true into ok\n-- migrate:up\n-- migrate:down\n", "SELECT … INTO would create a table", 1, "takes one SELECT"),
    ("-- pgfleet:precondition ;\n-- migrate:up\n-- migrate:down\n", "it holds no statement", 1, "takes one SELECT"),
    ("-- pgfleet:quiesce two words\n-- migrate:up\n-- migrate:down\n", "unexpected 'words'", 1, "write '-- pgfleet:quiesce NAME'"),
    ("-- pgfleet:quiesce\n-- migrate:up\n-- migrate:down\n", "not nothing", 1, "takes one name of letters"),
    ("-- pgfleet:quiesce batch/lock\n-- migrate:up\n-- migrate:down\n", "not 'batch/lock'", 1, "takes one name of letters"),
    ("-- migrate:up\n-- pgfleet:stop worker\n-- migrate:down\n", "'-- pgfleet:stop' after the first '-- migrate:up'", 2, "directives go before it"),
    ("-- migrate:up\nselect 1;\n-- migrate:down\n  --pgfleet:quiesce q\n", "after the first '-- migrate:up'", 4, "move it up"),
];

fn file_cases() -> Vec<Case<'static>> {
    let mut cases: Vec<Case> = FILES
        .iter()
        .map(|(text, what, line, fix)| {
            let at = match line {
                0 => "m/001_a.sql: ".to_string(),
                n => format!("m/001_a.sql:{n}:"),
            };
            Case::new(&["--url", URL, "-d", "m", "up"], BAD, what, at, fix)
                .file("m/001_a.sql", text.as_bytes())
        })
        .collect();
    let up = ["--url", URL, "-d", "m", "up"];
    cases.extend([
        Case::new(
            &up,
            BAD,
            "the file is not valid UTF-8",
            "m/001_a.sql:2:",
            "save it as UTF-8",
        )
        .file(
            "m/001_a.sql",
            b"-- migrate:up\nselect '\xe9';\n-- migrate:down\n",
        ),
        // UTF-16, as some editors save: its byte-order mark is no UTF-8.
        Case::new(
            &up,
            BAD,
            "the file is not valid UTF-8",
            "m/001_a.sql:1:",
            "save it as UTF-8",
        )
        .file("m/001_a.sql", b"\xff\xfe-\x00-\x00 \x00m\x00"),
        Case::new(
            &up,
            BAD,
            "version 001 is also used by",
            "m/001_b.sql",
            "rename one of them",
        )
        .file("m/001_a.sql", b"-- migrate:up\n-- migrate:down\n")
        .file("m/001_b.sql", b"-- migrate:up\n-- migrate:down\n"),
        // `plan` and `status` read the files as `up` does.
        Case::new(
            &["--url", URL, "-d", "m", "plan"],
            BAD,
            "no '-- migrate:down' section",
            "m/002_b.sql: ",
            "add one",
        )
        .file("m/001_a.sql", b"-- migrate:up\n-- migrate:down\n")
        .file("m/002_b.sql", b"-- migrate:up\n"),
        Case::new(
            &["--url", URL, "-d", "m", "status"],
            BAD,
            "unknown marker option",
            "m/002_b.sql:1:",
            "did you mean 'transaction'?",
        )
        .file(
            "m/002_b.sql",
            b"-- migrate:up transacton:false\n-- migrate:down\n",
        ),
    ]);
    cases
}

#[test]
fn bad_files_are_refused_with_file_and_line() {
    check(&file_cases());
}

/// A host that answers nothing: a case that got past the inventory would fail to connect
/// (exit 2), not be refused (exit 3).
const HOST: &str = "hosts:\n  nas:\n    address: 127.0.0.1\n    port: 1\n    databases:\n      app: { container: pg";

/// (inventory text, what, `line:column`, what to do): `pgfleet -i inv.yml inventory`.
#[rustfmt::skip]
const INVENTORIES: &[(&str, &str, &str, &str)] = &[
    // YAML syntax.
    ("hosts:\n  nas: {\n", "unclosed bracket '{'", "2:8", "close it"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: \"pg }\n", "unclosed quote", "4:25", "close it"),
    ("hosts:\n  nas: { databases: { app: { container: pg } }\n  pi: x\n", "did not find expected", "", "check the brackets, quotes and indentation"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: pg }\n---\nhosts: {}\n", "holds one YAML document", "6:1", "remove the `---`"),
    ("x: *a\n", "unknown key `x` at the top level", "1:1", "the keys here are defaults, groups, hosts"),
    ("defaults: *nope\nhosts: {}\n", "`*name` refers to no anchor", "1:11", "define it first with `&name`"),
    ("defaults:\n  password: { env: ~ }\nhosts: {}\n", "this is empty (or `~`)", "2:20", "write one, or remove the key"),
    ("hosts:\n  ~:\n    databases:\n      app: { container: pg }\n", "this is empty (or `~`)", "2:3", "write one, or remove the key"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: pg\u{7} }\n", "unexpected character: `\\u{7}'", "4:25", "check the brackets, quotes and indentation"),
    ("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n", "recursion limit exceeded", "1:", "check the brackets"),
    ("just text\n", "expected a mapping here", "1:1", "`key: value` lines"),
    // Empty inventories: the place to add hosts.
    ("", "the inventory has no hosts", "inv.yml:1", "add a hosts: section"),
    ("# only a comment\n", "the inventory has no hosts", "inv.yml:1", "add a hosts: section"),
    ("defaults:\n  user: deploy\nhosts:\n", "the inventory has no hosts", "inv.yml:1: ", "add a hosts: section"),
    ("hosts: {}\n", "the inventory has no hosts", "1:8", "add a hosts: section"),
    // Unknown keys, with did-you-mean, or where they belong.
    ("hosts:\n  nas:\n    adress: 10.0.0.1\n", "unknown key `adress` in a host", "3:5", "did you mean `address`?"),
    ("hosts:\n  nas:\n    databses:\n      app: { container: pg }\n", "unknown key `databses` in a host", "3:5", "did you mean `databases`?"),
    ("hosts:\n  nas:\n    databases:\n      app: { containr: pg }\n", "unknown key `containr` in a database", "4:14", "did you mean `container`?"),
    ("defaults:\n  usr: x\nhosts: {}\n", "unknown key `usr` in defaults or group vars", "2:3", "did you mean `user`?"),
    ("defaults:\n  container: x\nhosts: {}\n", "unknown key `container` in defaults or group vars", "2:3", "it belongs to a database"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: pg, db_user: x }\n", "unknown key `db_user` in a database", "4:29", "plain `user` and `port`"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: pg, identity_file: x }\n", "unknown key `identity_file` in a database", "4:29", "it is a host setting"),
    ("hosts:\n  nas:\n    container: pg\n", "unknown key `container` in a host", "3:5", "it belongs to a database"),
    ("groups:\n  g: { hosts: [nas], vars: { adress: x } }\nhosts: {}\n", "unknown key `adress` in defaults or group vars", "2:30", "the keys here are user, port"),
    ("hostz:\n  nas: {}\n", "unknown key `hostz` at the top level", "1:1", "did you mean `hosts`?"),
    // Wrong types.
    ("hosts: [nas]\n", "expected a mapping here", "1:8", "`key: value` lines"),
    ("hosts:\n  - nas\n", "expected a mapping here", "2:3", "`key: value` lines"),
    ("hosts: 3\n", "expected a mapping here", "1:8", "`key: value` lines"),
    ("defaults: []\nhosts: {}\n", "expected a mapping here", "1:11", "`key: value` lines"),
    ("hosts:\n  nas:\n    databases: [app]\n", "expected a mapping here", "3:16", "`key: value` lines"),
    ("hosts:\n  nas:\n    databases:\n      app: pg\n", "expected a mapping here", "4:12", "`key: value` lines"),
    ("groups:\n  g: [nas]\nhosts: {}\n", "expected a mapping here", "2:6", "`key: value` lines"),
    ("groups:\n  g: { hosts: nas }\nhosts: {}\n", "expected a list here", "2:15", "[a, b] or `- a` lines"),
    ("defaults:\n  identity_files: a\nhosts: {}\n", "expected a list here", "2:19", "[a, b] or `- a` lines"),
    ("defaults:\n  known_hosts: 3\nhosts: {}\n", "invalid type: integer `3`", "2:3", "expected a path or a list of paths"),
    ("defaults:\n  known_hosts: { a: b }\nhosts: {}\n", "invalid type: map", "2:16", "expected a path or a list of paths"),
    ("defaults:\n  user: [a, b]\nhosts: {}\n", "expected a single value here", "2:9", "not a list or a mapping"),
    ("hosts:\n  nas:\n    local: maybe\n", "expected true or false", "3:12", "true or false"),
    // Ports.
    ("hosts:\n  nas:\n    port: 70000\n", "expected a port number", "3:11", "1 to 65535"),
    ("hosts:\n  nas:\n    port: -1\n", "expected a port number", "3:11", "1 to 65535"),
    ("hosts:\n  nas:\n    port: 22x\n", "expected a port number", "3:11", "1 to 65535"),
    ("hosts:\n  nas:\n    port: 0\n", "port: 0 is not a port", "3:11", "use 1 to 65535"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: pg, port: 99999 }\n", "expected a port number", "4:35", "1 to 65535"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: pg, port: 0 }\n", "port: 0 is not a port", "4:35", "use 1 to 65535"),
    ("defaults:\n  db_port: abc\nhosts: {}\n", "expected a port number", "2:12", "1 to 65535"),
    // Durations.
    ("defaults:\n  connect_timeout: 10\nhosts: {}\n", "connect_timeout: `10` needs a unit", "2:20", "10s for seconds"),
    ("defaults:\n  connect_timeout: 0s\nhosts: {}\n", "connect_timeout must be more than 0", "2:20", "e.g. 10s"),
    ("defaults:\n  connect_timeout: -1s\nhosts: {}\n", "`-1s` is not a duration", "2:20", "write e.g. 500ms, 10s, 2min or 1h"),
    ("defaults:\n  connect_timeout: 1.5s\nhosts: {}\n", "`1.5s` is not a duration", "2:20", "write e.g. 500ms, 10s, 2min or 1h"),
    ("defaults:\n  keepalive: forever\nhosts: {}\n", "`forever` is not a duration", "2:14", "write e.g. 500ms, 10s, 2min or 1h"),
    ("defaults:\n  keepalive: 15\nhosts: {}\n", "keepalive: `15` needs a unit", "2:14", "15s for seconds"),
    // Empty values.
    ("defaults:\n  user: ''\nhosts: {}\n", "user is empty", "2:9", "give it a value or remove it"),
    ("defaults:\n  docker_socket: ''\nhosts: {}\n", "docker_socket is empty", "2:18", "give it a value or remove it"),
    ("defaults:\n  migrations: ''\nhosts: {}\n", "migrations is empty", "2:15", "give it a value or remove it"),
    ("hosts:\n  nas:\n    address: ''\n", "address is empty", "3:14", "give it a value or remove it"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: '' }\n", "container is empty", "4:25", "give it a value or remove it"),
    ("hosts:\n  nas:\n    databases:\n      app: { label: '' }\n", "label is empty", "4:21", "give it a value or remove it"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: pg, database: '' }\n", "database is empty", "4:39", "give it a value or remove it"),
    ("defaults:\n  method: ssh\nhosts: {}\n", "method `ssh` is not tunnel, exec or auto", "2:11", "tunnel, exec or auto"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: pg, method: tunel }\n", "method `tunel` is not tunnel, exec or auto", "4:37", "did you mean `tunnel`?"),
    ("defaults:\n  identity_file: a\n  identity_files: [b]\nhosts: {}\n", "identity_file and identity_files are both set", "3:19", "keep one"),
    // Duplicates and names.
    ("hosts:\n  nas:\n  nas:\n", "`nas` appears twice in the same mapping", "3:3", "keep one"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: pg }\n      app: { container: pg2 }\n", "`app` appears twice", "5:7", "keep one"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: pg }\n    databases: {}\n", "`databases` appears twice", "5:5", "keep one"),
    ("hosts:\n  'a b':\n    databases:\n      app: { container: pg }\n", "host name `a b` may not contain whitespace", "2:3", "rename it"),
    ("hosts:\n  nas:\n    databases:\n      'a/b': { container: pg }\n", "database name `a/b` may not contain", "4:7", "rename it"),
    ("groups:\n  'web*': { hosts: [nas] }\nhosts:\n  nas:\n    databases:\n      app: { container: pg }\n", "group name `web*` may not contain", "2:3", "rename it"),
    ("groups:\n  nas: { hosts: [nas] }\nhosts:\n  nas:\n    databases:\n      app: { container: pg }\n", "`nas` is both a group and a host", "2:3", "rename one"),
    ("groups:\n  g:\nhosts:\n  nas:\n    databases:\n      app: { container: pg }\n", "group `g` has no hosts", "2:3", "list them"),
    ("groups:\n  lab: { hosts: [pie] }\nhosts:\n  pi:\n    databases:\n      app: { container: pg }\n", "group `lab` lists `pie`, which is not a host", "2:18", "did you mean `pi`?"),
    ("groups:\n  a: { hosts: [nas], vars: { user: x } }\n  b: { hosts: [nas], vars: { user: y } }\nhosts:\n  nas:\n    databases:\n      app: { container: pg }\n", "whose vars set user differently", "3:36", "set user on the host itself"),
    // Databases.
    ("hosts:\n  nas:\n    address: 10.0.0.1\n", "host `nas` has no databases", "2:3", "add databases:"),
    ("hosts:\n  nas:\n    databases:\n      app:\n", "database `nas/app` is empty", "4:7", "give it container: NAME"),
    ("hosts:\n  nas:\n    databases:\n      app: { database: x }\n", "database `nas/app` names no container", "4:7", "add container: NAME or label: KEY=VALUE"),
    ("hosts:\n  nas:\n    databases:\n      app: { container: pg, label: a=b }\n", "has both container and label", "4:36", "keep one"),
    // Jumps and local hosts.
    ("hosts:\n  nas:\n    jump: nas\n    databases:\n      app: { container: pg }\n", "jump loop: nas → nas", "3:11", "must be reachable without a jump"),
    ("hosts:\n  a:\n    jump: b\n    databases:\n      app: { container: pg }\n  b:\n    jump: a\n", "jump loop", ":3:11", "must be reachable without a jump"),
    ("hosts:\n  nas:\n    jump: bastoin\n    databases:\n      app: { container: pg }\n  bastion: {}\n", "jump `bastoin` is not a host of the inventory", "3:11", "did you mean `bastion`?"),
    ("hosts:\n  nas:\n    jump: 'u@h:99999'\n    databases:\n      app: { container: pg }\n", "`99999` is not a port", "3:11", "write [user@]host[:port]"),
    ("hosts:\n  nas:\n    jump: '[::1'\n    databases:\n      app: { container: pg }\n", "a `[` without its `]`", "3:11", "write [user@]host[:port]"),
    ("hosts:\n  nas:\n    jump: 'u@'\n    databases:\n      app: { container: pg }\n", "the host is empty", "3:11", "write [user@]host[:port]"),
    ("hosts:\n  nas:\n    jump: ''\n    databases:\n      app: { container: pg }\n", "jump is empty", "3:11", "give it a value or remove it"),
    ("hosts:\n  nas:\n    jump: me\n    databases:\n      app: { container: pg }\n  me:\n    local: true\n    databases:\n      app: { container: pg }\n", "`me` is a local host (no SSH) and cannot be jumped through", "3:11", "jump through a host reached over SSH"),
    ("hosts:\n  nas:\n    local: true\n    jump: x.y\n    databases:\n      app: { container: pg }\n", "so jump does not apply", "4:11", "remove it, or set local: false"),
    ("hosts:\n  nas:\n    local: true\n    address: x.y\n    databases:\n      app: { container: pg }\n", "so address does not apply", "4:14", "remove it, or set local: false"),
    ("hosts:\n  nas:\n    local: true\n    identity_file: k\n    databases:\n      app: { container: pg }\n", "so identity_file does not apply", "4:20", "remove it, or set local: false"),
    // Passwords: where to read one, never one written here.
    ("defaults:\n  password: hunter2s3cr3t\nhosts: {}\n", "a password itself does not belong in the inventory", "2:3", "password: { env: VAR }"),
    ("defaults:\n  password: 4711\nhosts: {}\n", "a password itself does not belong in the inventory", "2:3", "password: { env: VAR }"),
    ("defaults:\n  password: { env: A, file: b }\nhosts: {}\n", "password takes exactly one source", "2:23", "{ env: VAR }, { file: PATH } or { container: VAR }"),
    ("defaults:\n  password: {}\nhosts: {}\n", "password takes exactly one source", "2:13", "{ env: VAR }, { file: PATH } or { container: VAR }"),
    ("defaults:\n  password: [s3cr3t]\nhosts: {}\n", "a password itself does not belong in the inventory", "2:3", "password: { env: VAR }"),
    ("defaults:\n  password: { evn: PW }\nhosts: {}\n", "unknown password source `evn`", "2:15", "did you mean `env`?"),
    ("defaults:\n  password: { env: '' }\nhosts: {}\n", "password: { env: } is empty", "2:13", "name the variable"),
    ("defaults:\n  password: { file: '' }\nhosts: {}\n", "password: { file: } is empty", "2:13", "name the file"),
    ("defaults:\n  password: { container: '' }\nhosts: {}\n", "password: { container: } is empty", "2:13", "name the variable"),
    ("defaults:\n  password: { env: [a] }\nhosts: {}\n", "expected a single value here", "2:20", "not a list or a mapping"),
    ("defaults:\n  password: { env: 3PW }\nhosts: {}\n", "password: { env: } is not the name of an environment variable", "2:13", "letters, digits and _"),
    ("defaults:\n  password: { env: $PW }\nhosts: {}\n", "password: { env: } is not the name of an environment variable", "2:13", "without the $"),
    ("defaults:\n  password: { env: 'A B' }\nhosts: {}\n", "password: { env: } is not the name of an environment variable", "2:13", "letters, digits and _"),
    ("defaults:\n  password: { container: PW=x }\nhosts: {}\n", "password: { container: } is not the name of an environment variable", "2:13", "letters, digits and _"),
    ("defaults:\n  password: { env: 's3cr3t!' }\nhosts: {}\n", "password: { env: } is not the name of an environment variable", "2:13", "letters, digits and _"),
    ("defaults:\n  password: { container: 's3cr3t#1' }\nhosts: {}\n", "password: { container: } is not the name of an environment variable", "2:13", "letters, digits and _"),
];

fn inventory_cases() -> Vec<Case<'static>> {
    let mut cases: Vec<Case> = INVENTORIES
        .iter()
        .map(|(text, what, at, fix)| {
            let at = if at.starts_with("inv.yml") || at.is_empty() {
                at.to_string()
            } else {
                format!("inv.yml:{}", at.trim_start_matches(':'))
            };
            Case::new(&["-i", "inv.yml", "inventory"], BAD, what, at, fix)
                .file("inv.yml", text.as_bytes())
        })
        .collect();
    let inventory = ["-i", "inv", "inventory"];
    let host =
        |name: &str| format!("hosts:\n  {name}:\n    databases:\n      app: {{ container: pg }}\n");
    let nas = host("nas");
    cases.extend([
        // Folders: a key set twice across files names both places.
        Case::new(&inventory, BAD, "defaults: user is also set at inv/a.yml:2:9", "inv/b.yml:2:9", "set it in one file only")
            .file("inv/a.yml", b"defaults:\n  user: a\n")
            .file("inv/b.yml", format!("defaults:\n  user: b\n{nas}")),
        Case::new(&inventory, BAD, "host `nas` is defined twice: here and at inv/a.yml:2:3", "inv/b.yml:2:3", "keep one")
            .file("inv/a.yml", &nas)
            .file("inv/b.yml", &nas),
        Case::new(&inventory, BAD, "group `g` is defined twice", "inv/b.yml:2:3", "merge the two")
            .file("inv/a.yml", format!("groups:\n  g: {{ hosts: [nas] }}\n{nas}"))
            .file("inv/b.yml", b"groups:\n  g: { hosts: [nas] }\n"),
        Case::new(&inventory, BAD, "has no *.yml or *.yaml files", "inv", "add one, or pass -i FILE")
            .file("inv/notes.txt", b"hosts:\n"),
        Case::new(&["-i", "nope.yml", "inventory"], BAD, "cannot read the inventory: no such file or folder", "nope.yml", "pass -i FILE or -i FOLDER"),
        Case::new(&["-i", "inv.yml", "inventory"], BAD, "not UTF-8", "inv.yml:3", "save it as UTF-8")
            .file("inv.yml", b"hosts:\n  nas:\n    user: \xe9\n"),
        // --limit.
        Case::new(&["-i", "inv.yml", "--limit", "nsa", "inventory"], BAD, "--limit `nsa` matches no host, group or target", "--limit", "did you mean `nas`?")
            .file("inv.yml", &nas),
        Case::new(&["-i", "inv.yml", "--limit", "nas/ap", "inventory"], BAD, "matches no host, group or target", "--limit `nas/ap`", "did you mean `nas/app`?")
            .file("inv.yml", &nas),
        Case::new(&["-i", "inv.yml", "--limit", "[", "inventory"], BAD, "unclosed character class", "--limit `[`", "write a host, group or host/database")
            .file("inv.yml", &nas),
        Case::new(&["-i", "inv.yml", "--limit", "{a", "inventory"], BAD, "unclosed alternate group", "--limit `{a`", "write a host, group or host/database")
            .file("inv.yml", &nas),
        Case::new(&["-i", "inv.yml", "--limit", "!", "inventory"], BAD, "--limit has an empty pattern after !", "--limit", "e.g. --limit 'nas*,!nas/old'")
            .file("inv.yml", &nas),
        Case::new(&["-i", "inv.yml", "--limit", "nas,", "inventory"], BAD, "--limit has an empty pattern", "--limit", "e.g. --limit 'nas*,!nas/old'")
            .file("inv.yml", &nas),
        Case::new(&["-i", "inv.yml", "--limit", "!nas", "inventory"], BAD, "--limit !nas selects none of the 1 targets", "--limit", "`pgfleet inventory` lists them")
            .file("inv.yml", &nas),
        Case::new(&["-i", "inv.yml", "baseline", "--from", "nas*"], BAD, "--from nas* names 2 targets", "--from", "name exactly one as host/database")
            .file("inv.yml", b"hosts:\n  nas:\n    databases:\n      a: { container: pg }\n      b: { container: pg }\n")
            .file("migrations/.keep", b""),
    ]);
    cases
}

#[test]
fn bad_inventories_are_refused_with_file_line_and_column() {
    check(&inventory_cases());
}

/// What a run reads on this machine must be there, checked before any host is contacted: a
/// password variable not set, a password file or key file that cannot be read is bad
/// input, named at the inventory line that sets it.
fn password_cases() -> Vec<Case<'static>> {
    let status = ["-i", "inv.yml", "status"];
    let with = |password: &str| format!("{HOST}, password: {password} }}\n");
    vec![
        Case::new(
            &status,
            BAD,
            "the environment variable PGFLEET_CORPUS_UNSET, which is not set",
            "inv.yml:6:39",
            "set it, or change password: there",
        )
        .file("inv.yml", with("{ env: PGFLEET_CORPUS_UNSET }"))
        .file("migrations/.keep", b""),
        Case::new(
            &status,
            BAD,
            "cannot read the password file",
            "inv.yml:6:39",
            "change password: there",
        )
        .file("inv.yml", with("{ file: nope.pw }"))
        .file("migrations/.keep", b""),
        Case::new(
            &status,
            BAD,
            "cannot read the password file",
            "inv.yml:6:39",
            "change password: there",
        )
        .file("inv.yml", with("{ file: migrations }"))
        .file("migrations/.keep", b""),
        // Key files named for the host.
        Case::new(
            &status,
            BAD,
            "host `nas`: cannot read the key file keys/nope",
            "inv.yml:1:28",
            "fix identity_file(s) there, or remove it",
        )
        .file(
            "inv.yml",
            format!("defaults: {{ identity_file: keys/nope }}\n{HOST} }}\n"),
        )
        .file("migrations/.keep", b""),
        Case::new(
            &status,
            BAD,
            "cannot read the key file keys/b",
            "inv.yml:1:29",
            "fix identity_file(s) there",
        )
        .file(
            "inv.yml",
            format!("defaults: {{ identity_files: [keys/a, keys/b] }}\n{HOST} }}\n"),
        )
        .file("keys/a", b"not checked here: only that it can be read")
        .file("migrations/.keep", b""),
        Case::new(
            &status,
            BAD,
            "cannot read the key file keys: Is a directory",
            "inv.yml:1:28",
            "fix identity_file(s) there",
        )
        .file(
            "inv.yml",
            format!("defaults: {{ identity_file: keys }}\n{HOST} }}\n"),
        )
        .file("keys/a", b"")
        .file("migrations/.keep", b""),
        // Set in defaults, it is named there.
        Case::new(
            &status,
            BAD,
            "nas/app: the password comes from the environment variable PGFLEET_CORPUS_UNSET",
            "inv.yml:2:13",
            "set it, or change password: there",
        )
        .file(
            "inv.yml",
            format!("defaults:\n  password: {{ env: PGFLEET_CORPUS_UNSET }}\n{HOST} }}\n"),
        )
        .file("migrations/.keep", b""),
    ]
}

#[test]
fn unreadable_passwords_and_keys_are_refused_before_connecting() {
    check(&password_cases());
}

/// Issue 12 asks for at least 150 cases.
#[test]
fn the_corpus_holds_at_least_150_cases() {
    let families = [
        ("flags", flag_cases().len() + folder_cases().len()),
        ("URLs", url_cases().len()),
        (".env files", env_cases().len()),
        ("migration files", file_cases().len()),
        (
            "inventories",
            inventory_cases().len() + password_cases().len(),
        ),
    ];
    let total: usize = families.iter().map(|(_, n)| n).sum();
    // Read by `scripts/evidence corpus` for RELIABILITY.md.
    eprintln!("corpus: {total} cases, each with its exit code, what, where and what to do");
    for (family, n) in families {
        eprintln!("corpus: {family}: {n}");
    }
    assert!(total >= 150, "{total} cases: {families:?}");
}
