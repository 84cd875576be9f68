//! Messages as JSON, both ways: the canonical protobuf JSON mapping,
//! generated from `proto/` by pbjson (proto field names kept, enum values
//! by their full names, `TLP_AMBER`), in one readable profile for what
//! the mapping leaves opaque:
//!
//! - a `bytes` field holding a notice id (`id`, `*_id`, `in_reply_to`,
//!   `linked_notices`, `referrals`) is a UUID;
//! - a `bytes` field holding a digest, hash, key or salt (`sha256`,
//!   `*digest*`, `*sha256*`, `hashes`, `root`, `public_key`, `salt`) is
//!   lower-case hex;
//! - any other `bytes` field (payloads, signatures, entries) stays base64,
//!   as the mapping has it;
//! - a time (`created_at`, `*_at`, `deadline`, `not_before`,
//!   `not_after`: Unix milliseconds on the wire) is RFC 3339 in UTC, and
//!   may also be given as Unix milliseconds.
//!
//! - an enum value is written by its full name (`TLP_AMBER`), and may be
//!   given in any case with or without its prefix (`amber`, `Tlp_Amber`).
//!
//! The rule is read from the schema (each field's name and type, from
//! [`isop_proto::DESCRIPTORS`]); a test holds every `bytes` and time field
//! of the schema to it, so a new field gets a form on purpose.

use std::collections::HashMap;
use std::sync::OnceLock;

use prost::Message;
use prost_types::field_descriptor_proto::Type;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Error, NoticeId};

/// How a `bytes` field is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BytesForm {
    /// A notice id, as a UUID.
    NoticeId,
    /// A digest, hash, key or salt, as lower-case hex.
    Hex,
    /// Anything else, as base64 (the canonical mapping's form).
    Base64,
}

impl BytesForm {
    /// The form of the `bytes` field named `field`.
    pub fn of(field: &str) -> Self {
        match field {
            "id" | "in_reply_to" | "linked_notices" | "referrals" => Self::NoticeId,
            f if f.ends_with("_id") => Self::NoticeId,
            "hashes" | "root" | "public_key" | "salt" => Self::Hex,
            f if f.contains("digest") || f.contains("sha256") => Self::Hex,
            _ => Self::Base64,
        }
    }
}

/// Whether the integer field named `field` is a time (Unix milliseconds).
pub fn is_time(field: &str) -> bool {
    field == "deadline" || field == "not_before" || field == "not_after" || field.ends_with("_at")
}

/// What the profile needs to know of one field.
#[derive(Clone, Debug)]
enum Form {
    /// A value the profile rewrites.
    Leaf(Leaf),
    /// A message it descends into, by its full name (`.isop.v1.Target`).
    Message(String),
}

/// A value the profile rewrites.
#[derive(Clone, Debug)]
enum Leaf {
    Bytes(BytesForm),
    Time,
    /// A value of the enum of this full name (`.isop.v1.Tlp`).
    Enum(String),
}

#[derive(Debug, Default)]
struct Schema {
    /// Each message's fields that the profile rewrites or descends into.
    messages: HashMap<String, HashMap<String, Form>>,
    /// Each enum's value names, by its full name (`.isop.v1.Tlp`), in
    /// schema order.
    enums: HashMap<String, Vec<String>>,
}

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = Schema::default();
        // The descriptors are the schema this crate was built with.
        let Ok(set) = prost_types::FileDescriptorSet::decode(isop_proto::DESCRIPTORS) else {
            return schema;
        };
        for file in set.file {
            let package = file.package().to_owned();
            for m in &file.message_type {
                add_message(&mut schema, &format!(".{package}"), m);
            }
            for e in &file.enum_type {
                add_enum(&mut schema, &format!(".{package}"), e);
            }
        }
        schema
    })
}

fn add_message(schema: &mut Schema, scope: &str, m: &prost_types::DescriptorProto) {
    let name = format!("{scope}.{}", m.name());
    let mut fields = HashMap::new();
    for f in &m.field {
        let form = match f.r#type() {
            Type::Bytes => Some(Form::Leaf(Leaf::Bytes(BytesForm::of(f.name())))),
            Type::Uint64 | Type::Int64 | Type::Fixed64 | Type::Sint64 | Type::Sfixed64
                if is_time(f.name()) =>
            {
                Some(Form::Leaf(Leaf::Time))
            }
            Type::Message => Some(Form::Message(f.type_name().to_owned())),
            Type::Enum => Some(Form::Leaf(Leaf::Enum(f.type_name().to_owned()))),
            _ => None,
        };
        // A repeated field's items each take the form.
        if let Some(form) = form {
            fields.insert(f.name().to_owned(), form);
        }
    }
    for nested in &m.nested_type {
        add_message(schema, &name, nested);
    }
    for e in &m.enum_type {
        add_enum(schema, &name, e);
    }
    schema.messages.insert(name, fields);
}

fn add_enum(schema: &mut Schema, scope: &str, e: &prost_types::EnumDescriptorProto) {
    let names = e.value.iter().map(|v| v.name().to_owned()).collect();
    schema.enums.insert(format!("{scope}.{}", e.name()), names);
}

/// The values an enum of the schema (`isop.v1.Tlp`) may take, by their
/// full names, without its `*_UNSPECIFIED` value.
pub fn enum_names(type_name: &str) -> Vec<&'static str> {
    schema()
        .enums
        .get(&format!(".{type_name}"))
        .map(|names| {
            names
                .iter()
                .filter(|n| !n.ends_with("_UNSPECIFIED"))
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default()
}

/// The value of the enum `type_name` (`isop.v1.Tlp`) that `given` names:
/// its full name or its name without the prefix the values share, in any
/// case, `-` or a space taken for `_` (`amber`, `TLP_AMBER`, `Amber`);
/// an error listing the values otherwise.
pub fn parse_enum(type_name: &str, given: &str) -> Result<&'static str, Error> {
    let names = enum_names(type_name);
    let prefix = common_prefix(&names);
    let wanted = given.trim().to_uppercase().replace(['-', ' '], "_");
    names
        .iter()
        .find(|n| **n == wanted || n.strip_prefix(prefix.as_str()) == Some(wanted.as_str()))
        .copied()
        .ok_or_else(|| Error::InvalidNotice {
            what: type_name.trim_start_matches("isop.v1.").to_owned(),
            why: format!(
                "{given:?} is not one of {}",
                names
                    .iter()
                    .map(|n| n.strip_prefix(prefix.as_str()).unwrap_or(n).to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// The value of the enum `type_name` that `given` names (see
/// [`parse_enum`]), as its generated type: `enum_value("isop.v1.Tlp",
/// "amber", pb::Tlp::from_str_name)`.
pub fn enum_value<E>(
    type_name: &str,
    given: &str,
    from_str_name: fn(&str) -> Option<E>,
) -> Result<E, Error> {
    let name = parse_enum(type_name, given)?;
    from_str_name(name).ok_or_else(|| Error::InvalidNotice {
        what: type_name.to_owned(),
        why: format!("{name} is not a value of the generated type"),
    })
}

/// The value name in words for people: without its enum's prefix, in
/// lower case, `_` as a space (`TLP_AMBER_STRICT` is `amber strict`).
pub fn enum_words(type_name: &str, name: &str) -> String {
    let prefix = common_prefix(&enum_names(type_name));
    name.strip_prefix(prefix.as_str())
        .unwrap_or(name)
        .to_lowercase()
        .replace('_', " ")
}

/// The prefix up to and with the last `_` that all `names` share
/// (`TLP_` of `TLP_CLEAR`, `TLP_AMBER`).
fn common_prefix(names: &[&str]) -> String {
    let Some(first) = names.first() else {
        return String::new();
    };
    let mut prefix = *first;
    for n in names {
        while !n.starts_with(prefix) {
            prefix = &prefix[..prefix.len() - 1];
        }
    }
    match prefix.rfind('_') {
        Some(i) => prefix[..=i].to_owned(),
        None => String::new(),
    }
}

/// `message` (of the schema type `type_name`, for example
/// `isop.v1.Notice`) in the readable JSON profile.
pub fn to_json<M: Serialize>(message: &M, type_name: &str) -> Result<Value, Error> {
    let mut v = serde_json::to_value(message).map_err(|e| json_error(type_name, e))?;
    walk(&mut v, &format!(".{type_name}"), "", &readable)?;
    Ok(v)
}

/// The message of schema type `type_name` that `value` gives in the
/// readable profile (the canonical mapping's own forms are accepted too).
pub fn from_json<M: DeserializeOwned>(mut value: Value, type_name: &str) -> Result<M, Error> {
    walk(&mut value, &format!(".{type_name}"), "", &canonical)?;
    serde_json::from_value(value).map_err(|e| json_error(type_name, e))
}

fn json_error(type_name: &str, e: serde_json::Error) -> Error {
    Error::InvalidNotice {
        what: type_name.to_owned(),
        why: e.to_string(),
    }
}

/// Rewrites each value of a field with a form, through nested messages.
fn walk(
    v: &mut Value,
    type_name: &str,
    path: &str,
    rewrite: &dyn Fn(&mut Value, Leaf, &str) -> Result<(), Error>,
) -> Result<(), Error> {
    let Some(fields) = schema().messages.get(type_name) else {
        return Ok(());
    };
    let Value::Object(map) = v else {
        return Ok(());
    };
    for (name, value) in map.iter_mut() {
        let Some(form) = fields.get(name) else {
            continue;
        };
        let at = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let items: Vec<&mut Value> = match value {
            Value::Array(items) => items.iter_mut().collect(),
            other => vec![other],
        };
        for item in items {
            match form {
                Form::Message(inner) => walk(item, inner, &at, rewrite)?,
                Form::Leaf(leaf) => rewrite(item, leaf.clone(), &at)?,
            }
        }
    }
    Ok(())
}

/// The readable form of a canonical value.
fn readable(v: &mut Value, leaf: Leaf, _at: &str) -> Result<(), Error> {
    let Value::String(s) = v else {
        return Ok(());
    };
    match leaf {
        Leaf::Bytes(BytesForm::Base64) => {}
        Leaf::Bytes(form) => {
            let Ok(raw) = base64_decode(s) else {
                return Ok(());
            };
            *s = match form {
                BytesForm::NoticeId if raw.is_empty() => String::new(),
                BytesForm::NoticeId => match NoticeId::from_slice(&raw) {
                    Ok(id) => id.to_string(),
                    // Not an id after all: shown as hex, never dropped.
                    Err(_) => hex::encode(raw),
                },
                _ => hex::encode(raw),
            };
        }
        Leaf::Time => {
            if let Ok(ms) = s.parse::<u64>() {
                *v = Value::String(rfc3339(ms));
            }
        }
        Leaf::Enum(_) => {}
    }
    Ok(())
}

/// The canonical value of a readable one.
fn canonical(v: &mut Value, leaf: Leaf, at: &str) -> Result<(), Error> {
    let bad = |why: String| Error::InvalidNotice {
        what: at.to_owned(),
        why,
    };
    match (leaf, &*v) {
        (Leaf::Bytes(BytesForm::NoticeId), Value::String(s)) if !s.is_empty() => {
            let id: NoticeId = s.parse().map_err(|e: Error| bad(e.to_string()))?;
            *v = Value::String(base64_encode(id.as_bytes()));
        }
        (Leaf::Bytes(BytesForm::Hex), Value::String(s)) if !s.is_empty() => {
            let raw = hex::decode(s).map_err(|e| bad(format!("{s:?} is not hex: {e}")))?;
            *v = Value::String(base64_encode(&raw));
        }
        (Leaf::Time, Value::String(s)) => {
            let ms = match s.parse::<u64>() {
                Ok(ms) => ms,
                Err(_) => parse_rfc3339(s).ok_or_else(|| {
                    bad(format!(
                        "{s:?} is neither an RFC 3339 time (2026-12-02T10:00:00Z) nor Unix milliseconds"
                    ))
                })?,
            };
            *v = Value::String(ms.to_string());
        }
        (Leaf::Enum(e), Value::String(s)) => {
            let name = parse_enum(e.trim_start_matches('.'), s).map_err(|e| match e {
                Error::InvalidNotice { why, .. } => bad(why),
                e => e,
            })?;
            *v = Value::String(name.to_owned());
        }
        _ => {}
    }
    Ok(())
}

/// Unix milliseconds as RFC 3339 in UTC, always to the millisecond
/// (`2026-12-02T14:22:02.800Z`).
pub fn rfc3339(ms: u64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// An RFC 3339 time as Unix milliseconds; `None` if it is not one, or is
/// before 1970.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

fn base64_encode(raw: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn base64_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s)
}
