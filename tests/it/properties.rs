//! Property tests of the parsers (migration files, inventories, ssh_config, known_hosts)
//! and of the redaction: no input panics, every parse error says where (a migration file's
//! line and column, an inventory's, ssh_config's and known_hosts' file and line), and no
//! password survives redaction whatever its characters. `PROPTEST_CASES` sets how many
//! cases each runs (default here: 512; on demand:
//! `PROPTEST_CASES=100000 cargo test --test integration properties::`).

use std::path::Path;

use pgfleet::migration::{Timeout, parse, split_statements};
use pgfleet::transport::{DbUrl, redact};
use proptest::prelude::*;

/// Runs `check` on one file and holds each finding's place to the file's (normalised) text.
fn check_says_where(bytes: &[u8]) -> Result<(), TestCaseError> {
    use pgfleet::check::{Config, Input, check};
    let input = Input {
        path: "m/20240101000000_p.sql".into(),
        bytes: bytes.to_vec(),
    };
    let checked = check(&[input], &[], None, &Config::default());
    let text = pgfleet::migration::normalize(&String::from_utf8_lossy(bytes));
    let lines: Vec<&str> = text.split('\n').collect();
    for f in &checked.findings {
        prop_assert!(
            f.span.start <= f.span.end && f.span.end <= text.len(),
            "{f:?}"
        );
        prop_assert!(
            text.is_char_boundary(f.span.start) && text.is_char_boundary(f.span.end),
            "{f:?}"
        );
        prop_assert!(f.line >= 1 && f.line <= lines.len(), "{f:?}");
        prop_assert!(
            f.column >= 1 && f.column <= lines[f.line - 1].chars().count() + 1,
            "{f:?}"
        );
        prop_assert!((f.line, f.column) <= (f.end_line, f.end_column), "{f:?}");
        prop_assert!(!f.message.is_empty());
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(512),
        ..ProptestConfig::default()
    }
}

/// Lines a migration file is made of, valid and not: markers with options good and bad,
/// directives good and bad, SQL with quotes and dollar quotes, comments, blanks, junk.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-- migrate:up".to_string()),
        Just("-- migrate:down".to_string()),
        Just("-- migrate:up transaction:false".to_string()),
        Just("-- migrate:up lock_timeout:5".to_string()),
        Just("-- migrate:down statement_timeout:soon".to_string()),
        Just("-- pgfleet:stop worker".to_string()),
        Just("-- pgfleet:stopp worker".to_string()),
        Just("-- pgfleet:precondition select true".to_string()),
        Just("-- pgfleet:precondition delete from t".to_string()),
        Just("-- pgfleet:requires label=a=b image=x:1".to_string()),
        Just("-- pgfleet:quiesce".to_string()),
        Just("create table t (id int);".to_string()),
        Just("select 'a;b', $$x;y$$, \"q;\";".to_string()),
        Just("do $f$ begin perform 1; end $f$;".to_string()),
        // Statements check's rules look at, and allows good and bad.
        Just("create index i on t (x);".to_string()),
        Just("create index concurrently if not exists i on t (x);".to_string()),
        Just("alter table t alter column x type bigint;".to_string()),
        Just("alter type e add value 'v';".to_string()),
        Just("update t set e = 'v';".to_string()),
        Just("vacuum full t;".to_string()),
        Just("-- pgfleet:allow ban-drop-column the reason".to_string()),
        Just("-- pgfleet:allow nope".to_string()),
        Just("alter table t drop column x;".to_string()),
        Just(String::new()),
        "-- [ -~]{0,20}",
        "[ -~]{0,30}",
        "\\PC{0,12}",
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any file made of those lines parses or fails with a line inside the file.
    #[test]
    fn migration_files_parse_or_say_where(lines in prop::collection::vec(line(), 0..14)) {
        let text = lines.join("\n");
        let count = text.lines().count();
        match parse(Path::new("20240101000000_p.sql"), text.as_bytes()) {
            Ok(m) => prop_assert!(!m.up.is_empty()),
            Err(e) => {
                prop_assert!(e.line <= count.max(1), "line {} of {count}: {e}", e.line);
                prop_assert!(e.to_string().contains("20240101000000_p.sql"), "{e}");
                // An error on a line says the column too, one inside the line.
                if e.line > 0 {
                    let width = text.split('\n').nth(e.line - 1).map_or(0, |l| l.chars().count());
                    prop_assert!(e.column >= 1 && e.column <= width + 1, "column {}: {e}", e.column);
                }
            }
        }
    }

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(Path::new("1_x.sql"), &bytes);
    }

    /// Each statement split off is a piece of the text, in order, never overlapping.
    /// `check` never panics, and every finding lies inside the file it is about, on a line
    /// and column that exist there.
    #[test]
    fn check_findings_lie_inside_the_file(lines in prop::collection::vec(line(), 0..14), crlf in any::<bool>()) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        check_says_where(text.as_bytes())?;
    }

    #[test]
    fn check_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_says_where(&bytes)?;
    }

    #[test]
    fn statements_are_pieces_of_the_text_in_order(lines in prop::collection::vec(line(), 0..10)) {
        let text = lines.join("\n");
        let mut from = 0;
        for statement in split_statements(&text) {
            let found = text[from..].find(statement.sql);
            prop_assert!(found.is_some(), "{:?} not found after {from} in {text:?}", statement.sql);
            from += found.unwrap_or_default() + statement.sql.len();
        }
    }

    /// Durations parse or are refused, never panic; a bare non-zero number is refused.
    #[test]
    fn durations(text in "[0-9]{0,25}(ms|s|min|h|m|x|)") {
        let parsed = Timeout::parse(&text);
        if Timeout::needs_unit(&text) {
            prop_assert!(parsed.is_none());
        }
    }

    /// Whatever a URL holds, parsing it never panics, and its error never shows the
    /// password.
    #[test]
    fn urls_never_show_their_password(
        // `?`, `#` and `\\` end a URL's authority when they parse: they are tried, unparsed,
        // by the redaction property below.
        password in "[!-~&&[^@:/ \"?#\\\\]]{6,16}",
        host in "[a-z0-9.:\\[\\]%-]{0,20}",
        rest in "[ -~]{0,20}",
    ) {
        let url = format!("postgres://app:{password}@{host}/{rest}");
        match DbUrl::parse(&url) {
            Ok(u) => prop_assert!(!u.to_string().contains(&password)),
            Err(e) => prop_assert!(!e.to_string().contains(&password), "{e}"),
        }
    }

    /// The redaction hides a userinfo password and a `password=` value, whatever they
    /// hold (`/`, `#`, `@` included), wherever the URL stands in the text.
    #[test]
    fn redaction_hides_any_password(
        password in "[!-~&&[^\"\\\\&]]{6,20}",
        before in "[ -~&&[^:]]{0,10}",
        after in "[ -~]{0,10}",
    ) {
        let in_userinfo = format!("{before} postgres://app:{password}@h:5432/db {after}");
        let out = redact(&in_userinfo);
        prop_assert!(!out.contains(&password), "{out}");
        let in_query = format!("{before} postgres://app@h/db?password={password} {after}");
        let out = redact(&in_query);
        prop_assert!(!out.contains(&password), "{out}");
    }
}

/// Lines an inventory is made of, valid and not.
fn inventory_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("hosts:".to_string()),
        Just("  alpha:".to_string()),
        Just("    address: 127.0.0.1".to_string()),
        Just("    port: 22x".to_string()),
        Just("    databases:".to_string()),
        Just("      app: { container: pg, database: app }".to_string()),
        Just("      app:".to_string()),
        Just("        container: label=a=b".to_string()),
        Just("groups:".to_string()),
        Just("  web: [alpha, beta]".to_string()),
        Just("defaults:".to_string()),
        Just("  connect_timeout: 5".to_string()),
        Just("  password: { env: PW }".to_string()),
        Just("  password: { env: $PW, file: x }".to_string()),
        Just("    password: plain".to_string()),
        Just("    local: true".to_string()),
        Just("    jump: alpha".to_string()),
        Just("    identity_files: key".to_string()),
        Just("      app: { container: \"pg }".to_string()),
        Just("---".to_string()),
        Just("\t- [".to_string()),
        // Ansible's forms (tests/it/ansible.rs).
        Just("all:".to_string()),
        Just("  children:".to_string()),
        Just("    lab:".to_string()),
        Just("      hosts:".to_string()),
        Just("        db[01:03].lab:2222:".to_string()),
        Just("          pgfleet_databases: { app: { container: pg } }".to_string()),
        Just("          ansible_ssh_common_args: -J gw:x".to_string()),
        Just("[lab]".to_string()),
        Just("[lab:children]".to_string()),
        Just("[lab:vars]".to_string()),
        Just("nas ansible_port=22x pgfleet_databases=\"{'a': {'container': 'c'}}\"".to_string()),
        Just("pi[a:c] ansible_host=\"{{ x }}\"".to_string()),
        "[ -~]{0,25}",
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any inventory text loads or is refused with a message; any `--limit` pattern selects
    /// or is refused; neither panics.
    #[test]
    fn inventories_and_limits_never_panic(
        lines in prop::collection::vec(inventory_line(), 0..12),
        // Ansible's forms too: `~regex`, `&`, `:`, `[subscripts]` and `@file`.
        limit in prop::collection::vec("[!&~@a-z0-9*?,:/_.\\[\\]{}()+^$-]{0,10}", 0..3),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.yml");
        std::fs::write(&path, lines.join("\n")).unwrap();
        match pgfleet::inventory::load(&path) {
            Ok(inventory) => {
                let _ = pgfleet::inventory::select(&inventory, &limit);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Every error loading an inventory file says where: `file:line[:column]`, a line
    /// inside the file (or the one after its end, where the YAML ran out).
    #[test]
    fn inventory_errors_say_where(
        lines in prop::collection::vec(inventory_line(), 0..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.yml");
        let text = lines.join("\n");
        std::fs::write(&path, &text).unwrap();
        if let Err(e) = pgfleet::inventory::load(&path) {
            prop_assert_eq!(e.file.as_deref(), Some(path.as_path()), "{}", e);
            let line = e.line.unwrap_or(0);
            prop_assert!(line >= 1 && line <= text.lines().count() + 1, "line {line}: {e}\n{text}");
            let place = format!("{}:{line}", path.display());
            prop_assert!(e.to_string().starts_with(&place), "{e}");
        }
    }

    /// Any ssh_config text is read without panicking, and a refusal names its line.
    #[test]
    fn ssh_configs_never_panic_and_say_where(
        lines in prop::collection::vec(prop_oneof![
            Just("Host *".to_string()),
            Just("Host alpha !beta".to_string()),
            Just("  HostName 10.0.0.1".to_string()),
            Just("  Port 22x".to_string()),
            Just("  ProxyJump a@b:22,c".to_string()),
            Just("  IdentityFile ~/.ssh/id".to_string()),
            Just("Match host x".to_string()),
            Just("Match originalhost a*,!b user root".to_string()),
            Just("Match all".to_string()),
            Just("Match !all host".to_string()),
            Just("Match exec \"true\"".to_string()),
            Just("Match localnetwork 10.0.0.0/8".to_string()),
            Just("Include config.d/* 'quoted name'".to_string()),
            "[ -~]{0,25}",
        ], 0..10),
        alias in "[a-z0-9.-]{1,10}",
    ) {
        use pgfleet::transport::ssh_config::{Query, parse};
        let text = lines.join("\n");
        let query = Query { alias: &alias, user: None, local_user: "me" };
        if let Err(e) = parse(&text, Path::new("/home/x/.ssh/config"), &query, Path::new("/home/x")) {
            prop_assert!(e.line >= 1 && e.line <= text.lines().count(), "{e}");
            let at = format!("/home/x/.ssh/config:{}: ", e.line);
            prop_assert!(e.to_string().starts_with(&at), "{e}");
        }
    }
}

/// Lines a known_hosts file is made of, valid and not: markers, hashed names good and
/// bad, patterns with `!`, `*` and ports, keys good, truncated and of unknown types.
fn known_hosts_line() -> impl Strategy<Value = String> {
    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let names = prop_oneof![
        Just("nas".to_string()),
        Just("*.lan,!secret.lan".to_string()),
        Just("[127.0.0.1]:2222".to_string()),
        Just("|1|AAECAwQFBgcICQoLDA0ODxAREhM=|s6Ra6Ii9e8qY/zoDnrmCzmxPqD0=".to_string()),
        Just("|1|bad|hash".to_string()),
        Just("|2|x|y".to_string()),
        "[ -~&&[^ ]]{0,12}",
    ];
    let key = prop_oneof![
        Just(KEY.to_string()),
        Just("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0".to_string()),
        Just(
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
                .to_string()
        ),
        Just("ssh-ed25519-cert-v01@openssh.com AAAA".to_string()),
        Just("2048 35 1234567".to_string()),
        Just(String::new()),
        "[ -~]{0,20}",
    ];
    let marker = prop_oneof![
        Just(""),
        Just("@revoked "),
        Just("@cert-authority "),
        Just("@bogus "),
    ];
    prop_oneof![
        (marker, names, key, "( [ -~]{0,8})?").prop_map(|(m, n, k, c)| format!("{m}{n} {k}{c}")),
        Just("# comment".to_string()),
        Just(String::new()),
        "[ -~\t]{0,40}",
        "\\PC{0,20}",
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any known_hosts text is read without panicking; each line it skips is named as
    /// `file:line` inside the file; looking a host up in it never panics either.
    #[test]
    fn known_hosts_never_panic_and_say_where(
        lines in prop::collection::vec(known_hosts_line(), 0..12),
        name in prop_oneof![Just("nas".to_string()), Just("[127.0.0.1]:2222".to_string()), "[ -~]{0,12}"],
    ) {
        use pgfleet::transport::known_hosts::KnownHosts;
        let text = lines.join("\n");
        let mut known = KnownHosts::default();
        known.add("known_hosts", &text);
        for skipped in known.skipped() {
            prop_assert!(skipped.at.line >= 1 && skipped.at.line <= text.lines().count(), "{skipped}");
            let at = format!("known_hosts:{}: ", skipped.at.line);
            prop_assert!(skipped.to_string().starts_with(&at), "{skipped}");
        }
        let key = russh::keys::PublicKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        ).unwrap();
        let _ = known.check_key(&name, &key);
    }

    /// Arbitrary bytes, read as OpenSSH reads them, never panic the known_hosts reader.
    #[test]
    fn known_hosts_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut known = pgfleet::transport::known_hosts::KnownHosts::default();
        known.add("known_hosts", &String::from_utf8_lossy(&bytes));
    }
}
