//! A YAML (or INI) value of an Ansible inventory, whatever its shape, with the place each
//! part was written: Ansible's variables are free-form, so they cannot be typed up front.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::error::{InventoryError, Loc};

/// The text ansible-vault puts at the start of what it encrypts.
pub(super) const VAULT_HEADER: &str = "$ANSIBLE_VAULT;";

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// An ansible-vault encrypted value (`!vault |` followed by `$ANSIBLE_VAULT;…`): never
    /// decrypted, never shown.
    Vault,
    Seq(Vec<Val>),
    Map(Vec<(Key, Val)>),
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Val {
    pub(super) node: Node,
    pub(super) at: Loc,
}

/// A mapping key (Ansible's keys are names; a number written as a key is its text).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Key {
    pub(super) name: String,
    pub(super) at: Loc,
}

impl Node {
    /// What kind of value this is, for messages that must not quote the value itself.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "empty",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Vault => "an ansible-vault encrypted value",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    /// A scalar as text (`22` and `"22"` alike), or None for anything else.
    pub(super) fn scalar_text(&self) -> Option<String> {
        match self {
            Node::Str(s) => Some(s.clone()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Bool(b) => Some(if *b { "true" } else { "false" }.to_owned()),
            _ => None,
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&Val> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses YAML `text` of `file` into a `Val`, with locations.
pub(super) fn parse_yaml(file: &Path, text: &str) -> Result<Val, InventoryError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(Val {
            node: Node::Null,
            at: Loc {
                file: file.to_path_buf(),
                line: 1,
                column: 1,
            },
        });
    }
    let raw: Spanned<Raw> =
        serde_saphyr::from_str(text).map_err(|e| InventoryError::from_yaml(file, &e))?;
    Ok(convert(file, raw))
}

fn convert(file: &Path, raw: Spanned<Raw>) -> Val {
    let at = Loc::new(file, raw.referenced);
    let node = match raw.value {
        Raw::Null => Node::Null,
        Raw::Bool(b) => Node::Bool(b),
        Raw::Int(i) => Node::Int(i),
        Raw::Float(f) => Node::Float(f),
        Raw::Str(s) if s.trim_start().starts_with(VAULT_HEADER) => Node::Vault,
        Raw::Str(s) => Node::Str(s),
        Raw::Seq(items) => Node::Seq(items.into_iter().map(|i| convert(file, i)).collect()),
        Raw::Map(entries) => Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = Key {
                        at: Loc::new(file, k.referenced),
                        name: k.value.0,
                    };
                    (key, convert(file, v))
                })
                .collect(),
        ),
    };
    Val { node, at }
}

/// The serde side: any YAML value, each part spanned.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<KeyText>, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Raw::Map(entries))
    }
}

/// A mapping key: any scalar, as text.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_owned()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_places_and_vault_values_stay_sealed() {
        let v = parse_yaml(
            Path::new("inv.yml"),
            "all:\n  vars:\n    port: 22\n    pw: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n    list: [a, 1]\n",
        )
        .unwrap();
        let vars = &v.node.get("all").unwrap().node.get("vars").unwrap().node;
        let port = vars.get("port").unwrap();
        assert_eq!(port.node, Node::Int(22));
        assert_eq!((port.at.line, port.at.column), (3, 11));
        assert_eq!(vars.get("pw").unwrap().node, Node::Vault);
        assert!(matches!(&vars.get("list").unwrap().node, Node::Seq(items) if items.len() == 2));
    }
}
