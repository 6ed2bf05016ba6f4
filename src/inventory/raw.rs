//! The YAML as written: serde types that keep each value's location, before any resolution.
//! Every struct denies unknown keys; `error.rs` turns serde's complaint into a "did you
//! mean" message.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde_saphyr::Spanned;

/// What `RawPassword`'s visitor expects; `error.rs` recognises it to word its messages
/// without ever repeating the value (which may be a password written by mistake).
pub(super) const PASSWORD_EXPECTED: &str =
    "a password source: { env: VAR }, { file: PATH } or { container: VAR }";
pub(super) const PASSWORD_SOURCES: &[&str] = &["env", "file", "container"];

/// One inventory file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) defaults: Option<RawSettings>,
    pub(super) groups: Option<Ordered<Option<RawGroup>>>,
    /// Spanned, so that "no hosts" can point at an empty `hosts:`.
    pub(super) hosts: Option<Spanned<Ordered<Option<RawHost>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    pub(super) hosts: Option<Vec<Spanned<String>>>,
    pub(super) vars: Option<RawSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    pub(super) container: Option<Spanned<String>>,
    pub(super) label: Option<Spanned<String>>,
    pub(super) database: Option<Spanned<String>>,
    pub(super) user: Option<Spanned<String>>,
    pub(super) password: Option<Spanned<RawPassword>>,
    pub(super) method: Option<Spanned<String>>,
    pub(super) migrations: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<u16>>,
    pub(super) sslmode: Option<Spanned<String>>,
    pub(super) sslrootcert: Option<Spanned<String>>,
    pub(super) sslcert: Option<Spanned<String>>,
    pub(super) sslkey: Option<Spanned<String>>,
}

/// Declares a struct holding its own keys plus every key `defaults:` takes (serde's
/// `flatten` would lose both `deny_unknown_fields` and the locations).
macro_rules! with_settings {
    ($name:ident { $($field:ident: $ty:ty,)* }) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct $name {
            $(pub(super) $field: $ty,)*
            pub(super) user: Option<Spanned<String>>,
            pub(super) port: Option<Spanned<u16>>,
            pub(super) identity_file: Option<Spanned<String>>,
            pub(super) identity_files: Option<Spanned<Vec<String>>>,
            pub(super) known_hosts: Option<Spanned<Paths>>,
            pub(super) connect_timeout: Option<Spanned<String>>,
            pub(super) keepalive: Option<Spanned<String>>,
            pub(super) docker_socket: Option<Spanned<String>>,
            pub(super) method: Option<Spanned<String>>,
            pub(super) migrations: Option<Spanned<String>>,
            pub(super) db_user: Option<Spanned<String>>,
            pub(super) db_port: Option<Spanned<u16>>,
            pub(super) password: Option<Spanned<RawPassword>>,
            pub(super) drift_ignore: Option<Spanned<Vec<String>>>,
            pub(super) sslmode: Option<Spanned<String>>,
            pub(super) sslrootcert: Option<Spanned<String>>,
            pub(super) sslcert: Option<Spanned<String>>,
            pub(super) sslkey: Option<Spanned<String>>,
        }
    };
}

with_settings!(RawSettings {});

with_settings!(RawHost {
    address: Option<Spanned<String>>,
    jump: Option<Spanned<String>>,
    local: Option<Spanned<bool>>,
    docker_context: Option<Spanned<String>>,
    databases: Option<Ordered<Option<RawDatabase>>>,
});

impl RawHost {
    /// Moves the `defaults:` keys out, leaving the host's own keys.
    pub(super) fn take_settings(&mut self) -> RawSettings {
        RawSettings {
            user: self.user.take(),
            port: self.port.take(),
            identity_file: self.identity_file.take(),
            identity_files: self.identity_files.take(),
            known_hosts: self.known_hosts.take(),
            connect_timeout: self.connect_timeout.take(),
            keepalive: self.keepalive.take(),
            docker_socket: self.docker_socket.take(),
            method: self.method.take(),
            migrations: self.migrations.take(),
            db_user: self.db_user.take(),
            db_port: self.db_port.take(),
            password: self.password.take(),
            drift_ignore: self.drift_ignore.take(),
            sslmode: self.sslmode.take(),
            sslrootcert: self.sslrootcert.take(),
            sslcert: self.sslcert.take(),
            sslkey: self.sslkey.take(),
        }
    }
}

/// A mapping kept in file order, each key with its location.
#[derive(Debug)]
pub(super) struct Ordered<V>(pub(super) Vec<(Spanned<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}

/// One path or a list of paths (`known_hosts`).
#[derive(Debug)]
pub(super) struct Paths(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for Paths {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PathsVisitor;
        impl<'de> Visitor<'de> for PathsVisitor {
            type Value = Paths;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path or a list of paths")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Paths, E> {
                Ok(Paths(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Paths, A::Error> {
                let mut paths = Vec::new();
                while let Some(p) = seq.next_element()? {
                    paths.push(p);
                }
                Ok(Paths(paths))
            }
        }
        deserializer.deserialize_any(PathsVisitor)
    }
}

/// `{ env: VAR }`, `{ file: PATH }` or `{ container: VAR }`. Hand-written so that no error
/// ever quotes a scalar written here: it may be a password pasted by mistake.
#[derive(Debug, Clone)]
pub(super) enum RawPassword {
    Env(String),
    File(String),
    Container(String),
}

impl<'de> Deserialize<'de> for RawPassword {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PasswordVisitor)
    }
}

struct PasswordVisitor;

impl PasswordVisitor {
    fn scalar<E: de::Error>(&self) -> Result<RawPassword, E> {
        Err(E::invalid_type(Unexpected::Other("a plain value"), self))
    }
}

impl<'de> Visitor<'de> for PasswordVisitor {
    type Value = RawPassword;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PASSWORD_EXPECTED)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawPassword, E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawPassword, E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawPassword, E> {
        self.scalar()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<RawPassword, E> {
        self.scalar()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<RawPassword, E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawPassword, E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<RawPassword, E> {
        self.scalar()
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<RawPassword, E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawPassword, E> {
        self.scalar()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<RawPassword, A::Error> {
        Err(de::Error::invalid_type(Unexpected::Seq, &self))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPassword, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::invalid_length(0, &self));
        };
        let value: String = map.next_value()?;
        let source = match key.as_str() {
            "env" => RawPassword::Env(value),
            "file" => RawPassword::File(value),
            "container" => RawPassword::Container(value),
            _ => return Err(de::Error::unknown_variant(&key, PASSWORD_SOURCES)),
        };
        let mut count = 1;
        while map.next_key::<de::IgnoredAny>()?.is_some() {
            map.next_value::<de::IgnoredAny>()?;
            count += 1;
        }
        if count > 1 {
            return Err(de::Error::invalid_length(count, &self));
        }
        Ok(source)
    }
}
