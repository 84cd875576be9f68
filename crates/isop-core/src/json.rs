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
            "hashes" | "root" | "public_key" | "salt" | "run" | "query_commitment"
            | "query_salt" => Self::Hex,
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

/// An enum of the schema.
#[derive(Debug, Default)]
struct Enum {
    /// Its values' names, in schema order, `*_UNSPECIFIED` included.
    names: Vec<String>,
    /// The prefix its values share (`TLP_`): the `*_UNSPECIFIED` value's
    /// without `UNSPECIFIED`, or the words all names begin with.
    prefix: String,
}

impl Enum {
    fn new(names: Vec<String>) -> Self {
        let prefix = match names.iter().find_map(|n| n.strip_suffix("UNSPECIFIED")) {
            Some(p) => p.to_owned(),
            None => {
                let words: Vec<Vec<&str>> = names.iter().map(|n| n.split('_').collect()).collect();
                let shortest = words.iter().map(Vec::len).min().unwrap_or(0);
                // Leave each name at least one word of its own.
                let shared = (0..shortest.saturating_sub(1))
                    .take_while(|&i| words.iter().all(|w| w[i] == words[0][i]))
                    .count();
                words
                    .first()
                    .map(|w| w[..shared].iter().map(|x| format!("{x}_")).collect())
                    .unwrap_or_default()
            }
        };
        Self { names, prefix }
    }

    /// The values a caller may give: all but `*_UNSPECIFIED`.
    fn values(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .map(String::as_str)
            .filter(|n| !n.ends_with("_UNSPECIFIED"))
    }

    /// A value's name without the prefix (`AMBER_STRICT`).
    fn short<'a>(&self, name: &'a str) -> &'a str {
        name.strip_prefix(self.prefix.as_str()).unwrap_or(name)
    }
}

#[derive(Debug, Default)]
struct Schema {
    /// Each message's fields that the profile rewrites or descends into.
    messages: HashMap<String, HashMap<String, Form>>,
    /// Each enum, by its full name (`.isop.v1.Tlp`).
    enums: HashMap<String, Enum>,
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
    schema
        .enums
        .insert(format!("{scope}.{}", e.name()), Enum::new(names));
}

fn enum_of(type_name: &str) -> Option<&'static Enum> {
    schema()
        .enums
        .get(&format!(".{}", type_name.trim_start_matches('.')))
}

/// The values an enum of the schema (`isop.v1.Tlp`) may take, by their
/// full names, without its `*_UNSPECIFIED` value.
pub fn enum_names(type_name: &str) -> Vec<&'static str> {
    enum_of(type_name)
        .map(|e| e.values().collect())
        .unwrap_or_default()
}

/// Every value an enum of the schema holds, `*_UNSPECIFIED` included: what
/// an answer may carry.
pub fn enum_all_names(type_name: &str) -> Vec<&'static str> {
    enum_of(type_name)
        .map(|e| e.names.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

/// The value of the enum `type_name` (`isop.v1.Tlp`) that `given` names
/// for `field`: its full name, or its name without the prefix the values
/// share, or that name's first word when no other value begins with it
/// (`status` for `NOTICE_KIND_STATUS_UPDATE`); in any case, `-` or a space
/// taken for `_`. [`Error::UnknownValue`] listing the values otherwise.
pub fn parse_enum(field: &str, type_name: &str, given: &str) -> Result<&'static str, Error> {
    let unknown = |valid: Vec<String>| Error::UnknownValue {
        field: field.to_owned(),
        given: given.to_owned(),
        valid,
    };
    let Some(e) = enum_of(type_name) else {
        return Err(unknown(Vec::new()));
    };
    let wanted = given.trim().to_uppercase().replace(['-', ' '], "_");
    let first_word = |n: &str| e.short(n).split('_').next().unwrap_or_default().to_owned();
    let by_first_word: Vec<&str> = e.values().filter(|n| first_word(n) == wanted).collect();
    e.values()
        .find(|n| *n == wanted || e.short(n) == wanted)
        .or(match by_first_word.as_slice() {
            [only] => Some(only),
            _ => None,
        })
        .ok_or_else(|| unknown(e.values().map(|n| e.short(n).to_lowercase()).collect()))
}

/// The value of the enum `type_name` that `given` names for `field` (see
/// [`parse_enum`]), as its generated type: `enum_value("tlp",
/// "isop.v1.Tlp", "amber", pb::Tlp::from_str_name)`.
pub fn enum_value<E>(
    field: &str,
    type_name: &str,
    given: &str,
    from_str_name: fn(&str) -> Option<E>,
) -> Result<E, Error> {
    let name = parse_enum(field, type_name, given)?;
    from_str_name(name).ok_or_else(|| Error::UnknownValue {
        field: field.to_owned(),
        given: given.to_owned(),
        valid: Vec::new(),
    })
}

/// The value name in words for people: without its enum's prefix, in
/// lower case, `_` as a space (`TLP_AMBER_STRICT` is `amber strict`).
pub fn enum_words(type_name: &str, name: &str) -> String {
    let short = enum_of(type_name).map_or(name, |e| e.short(name));
    short.to_lowercase().replace('_', " ")
}

/// `message`'s JSON form (from [`to_json`]) for people: each enum value
/// in words (`live sport`), by the schema, so that free text that happens
/// to spell an enum value stays as written.
pub fn in_words(mut value: Value, type_name: &str) -> Value {
    let words = |v: &mut Value, leaf: Leaf, _at: &str| {
        if let (Leaf::Enum(e), Value::String(s)) = (leaf, &*v) {
            *v = Value::String(enum_words(&e, s));
        }
        Ok(())
    };
    // Rewriting enum values to words cannot fail.
    let _ = walk(
        &mut value,
        &format!(".{}", type_name.trim_start_matches('.')),
        "",
        &words,
    );
    value
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
            *v = Value::String(parse_enum(at, &e, s)?.to_owned());
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
