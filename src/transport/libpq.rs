//! What libpq reads besides the URL: the PG* variables and the password file
//! (`~/.pgpass`, `PGPASSFILE`). The environment is passed in as a lookup function, so
//! this is tested without touching the process's own.

use std::path::{Path, PathBuf};

/// Looks up an environment variable (`std::env::var(..).ok()` in the program).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The socket folder libpq is built with on Debian, and dbmate's default; the password
/// file calls a connection there `localhost`.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// Where a connection's password came from, for the hint after a wrong one; never the
/// password itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordFrom {
    /// None was found; the password file that was looked at, if any.
    Nowhere {
        pgpass: Option<PathBuf>,
    },
    Url,
    /// PGPASSWORD.
    Env,
    /// A line of the password file.
    Pgpass {
        file: PathBuf,
        line: usize,
    },
}

impl PasswordFrom {
    /// What to check after the server refused the password (28P01).
    pub fn wrong_hint(&self) -> String {
        match self {
            PasswordFrom::Url => "the password came from the URL: check it there".into(),
            PasswordFrom::Env => "the password came from PGPASSWORD: check it there".into(),
            PasswordFrom::Pgpass { file, line } => format!(
                "the password came from {} line {line}: check it there",
                file.display()
            ),
            PasswordFrom::Nowhere { .. } => {
                "no password was given; the server's pg_hba.conf may expect one".into()
            }
        }
    }

    /// What to do when the server asks for a password and none was found.
    pub fn missing_hint(&self) -> String {
        let file = match self {
            PasswordFrom::Nowhere { pgpass: Some(file) } => {
                format!(", nor in a line of {} that matches", file.display())
            }
            _ => String::new(),
        };
        format!(
            "the server asks for a password, and none was given: not in the URL, not in PGPASSWORD{file}; give it in one of those"
        )
    }
}

/// `$HOME`, where `~/.pgpass` and `~/.postgresql/` are.
pub fn home(env: Env<'_>) -> Option<PathBuf> {
    env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// The password file libpq reads: `PGPASSFILE`, else `~/.pgpass`.
pub fn pgpass_file(env: Env<'_>) -> Option<PathBuf> {
    match env("PGPASSFILE").filter(|f| !f.is_empty()) {
        Some(file) => Some(PathBuf::from(file)),
        None => home(env).map(|h| h.join(".pgpass")),
    }
}

/// What reading the password file gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PgpassFound {
    /// The password and its 1-based line.
    pub password: Option<(String, usize)>,
    /// Why the file was not used although it is there (as libpq warns).
    pub warning: Option<String>,
}

/// The password of the first line of `file` that matches, as libpq reads it: a missing
/// file is no error; a file others may read is ignored with a warning.
pub fn pgpass_lookup(file: &Path, host: &str, port: u16, dbname: &str, user: &str) -> PgpassFound {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(file) else {
        return PgpassFound::default();
    };
    let warn = |why: String| PgpassFound {
        password: None,
        warning: Some(why),
    };
    if !meta.is_file() {
        return warn(format!(
            "the password file {} is not a plain file; it is not read",
            file.display()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return warn(format!(
            "the password file {} has group or world access, so it is not read (as libpq does); chmod 600 it",
            file.display()
        ));
    }
    match std::fs::read_to_string(file) {
        Ok(text) => PgpassFound {
            password: pgpass_match(&text, host, port, dbname, user),
            warning: None,
        },
        Err(e) => warn(format!(
            "cannot read the password file {}: {e}",
            file.display()
        )),
    }
}

/// The first matching line of a password file's text: `host:port:database:user:password`,
/// `*` matching anything in the first four, `\:` and `\\` escapes. A socket connection in
/// the default socket folder is `localhost`, as libpq has it.
pub fn pgpass_match(
    text: &str,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Option<(String, usize)> {
    let host = if host.is_empty() || host == DEFAULT_SOCKET_DIR {
        "localhost"
    } else {
        host
    };
    let port = port.to_string();
    let wanted = [host, port.as_str(), dbname, user];
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_fields(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = fields[..4]
            .iter()
            .zip(wanted)
            .all(|((raw, value), want)| raw == "*" || value == want);
        if matches {
            return Some((fields[4].1.clone(), i + 1));
        }
    }
    None
}

/// A line's fields, each as written (to tell `*` from `\*`) and unescaped. The password
/// is the fifth; anything after another unescaped `:` is ignored, as libpq does.
fn split_fields(line: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let (mut raw, mut value) = (String::new(), String::new());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                raw.push(c);
                if let Some(next) = chars.next() {
                    raw.push(next);
                    value.push(next);
                }
            }
            ':' => fields.push((std::mem::take(&mut raw), std::mem::take(&mut value))),
            c => {
                raw.push(c);
                value.push(c);
            }
        }
    }
    fields.push((raw, value));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_as_libpq() {
        let text = "# comment\n\
                    db.example:5432:shop:app:first\n\
                    *:*:*:app:wild\\:card\\\\\n\
                    localhost:5432:*:*:socket\n";
        assert_eq!(
            pgpass_match(text, "db.example", 5432, "shop", "app"),
            Some(("first".into(), 2))
        );
        // A field must match whole; `*` matches anything; escapes are taken out.
        assert_eq!(
            pgpass_match(text, "db.example", 6543, "shop", "app"),
            Some(("wild:card\\".into(), 3))
        );
        assert_eq!(
            pgpass_match(text, "/var/run/postgresql", 5432, "x", "other"),
            Some(("socket".into(), 4))
        );
        assert_eq!(pgpass_match(text, "/tmp/sock", 5432, "x", "other"), None);
        // `\*` is a literal star, not a wildcard.
        assert_eq!(pgpass_match("\\*:*:*:*:pw", "h", 5432, "d", "u"), None);
        assert_eq!(
            pgpass_match("a\\:b:*:*:*:pw:extra", "a:b", 1, "d", "u"),
            Some(("pw".into(), 1))
        );
        assert_eq!(pgpass_match("h:5432:d:u", "h", 5432, "d", "u"), None);
    }

    #[test]
    fn a_file_others_can_read_is_ignored_with_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "*:*:*:*:pw\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let found = pgpass_lookup(&file, "h", 5432, "d", "u");
        assert_eq!(found.password, None);
        assert!(found.warning.unwrap().contains("chmod 600"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let found = pgpass_lookup(&file, "h", 5432, "d", "u");
        assert_eq!(found.password, Some(("pw".into(), 1)));
        assert_eq!(
            pgpass_lookup(&dir.path().join("none"), "h", 1, "d", "u"),
            PgpassFound::default()
        );
    }

    #[test]
    fn file_and_home_come_from_the_lookup() {
        let env = |k: &str| (k == "HOME").then(|| "/home/ann".to_string());
        assert_eq!(pgpass_file(&env), Some(PathBuf::from("/home/ann/.pgpass")));
        let env = |k: &str| match k {
            "PGPASSFILE" => Some("/etc/pw".to_string()),
            "HOME" => Some("/home/ann".to_string()),
            _ => None,
        };
        assert_eq!(pgpass_file(&env), Some(PathBuf::from("/etc/pw")));
        assert_eq!(pgpass_file(&|_| None), None);
    }
}
