//! The objects every bundle and collection carries: the TLP 2.0 marking
//! definitions OASIS publishes, isop's extension definition and the
//! identity that publishes it, and an identity for each member.

use isop_core::pb;
use serde_json::json;

use crate::{Object, SPEC_VERSION, ids, timestamp};

/// The extension OASIS defines for TLP 2.0 markings
/// (cti-stix-common-objects, `extension-definition-specifications/tlp-2.0`).
pub const TLP_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// When OASIS made the TLP 2.0 marking definitions.
const TLP_CREATED: &str = "2022-10-01T00:00:00.000Z";

/// Each TLP 2.0 marking: the wire value, OASIS's marking-definition id,
/// its name and its `tlp_2_0` value.
const TLP: [(pb::Tlp, &str, &str, &str); 5] = [
    (
        pb::Tlp::Clear,
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        "TLP:CLEAR",
        "clear",
    ),
    (
        pb::Tlp::Green,
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        "TLP:GREEN",
        "green",
    ),
    (
        pb::Tlp::Amber,
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        "TLP:AMBER",
        "amber",
    ),
    (
        pb::Tlp::AmberStrict,
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        "TLP:AMBER+STRICT",
        "amber+strict",
    ),
    (
        pb::Tlp::Red,
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        "TLP:RED",
        "red",
    ),
];

/// The marking-definition id of `tlp`; `None` if it is not set.
pub fn tlp_marking_id(tlp: pb::Tlp) -> Option<&'static str> {
    TLP.iter().find(|t| t.0 == tlp).map(|t| t.1)
}

/// The TLP marking a marking-definition id names: OASIS's TLP 2.0 ids,
/// and the TLP 1.0 ids of STIX 2.1 §7.2.1.4 (WHITE is CLEAR).
pub fn tlp_of_marking(id: &str) -> Option<pb::Tlp> {
    const TLP1: [(&str, pb::Tlp); 4] = [
        (
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
            pb::Tlp::Clear,
        ),
        (
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            pb::Tlp::Green,
        ),
        (
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            pb::Tlp::Amber,
        ),
        (
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
            pb::Tlp::Red,
        ),
    ];
    TLP.iter()
        .find(|t| t.1 == id)
        .map(|t| t.0)
        .or_else(|| TLP1.iter().find(|t| t.0 == id).map(|t| t.1))
}

/// The strictest TLP of `o`'s markings, if it has any isop knows: of the
/// whole object, or of any of its properties (a granular marking).
pub fn strictest_tlp(o: &Object) -> Option<pb::Tlp> {
    use serde_json::Value;
    let whole = o
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let granular = o
        .get("granular_markings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("marking_ref"));
    whole
        .chain(granular)
        .filter_map(Value::as_str)
        .filter_map(tlp_of_marking)
        .max_by_key(|t| *t as i32)
}

/// The name of `tlp`'s marking (`TLP:AMBER+STRICT`), as MISP tags take it
/// in lower case.
pub fn tlp_name(tlp: pb::Tlp) -> Option<&'static str> {
    TLP.iter().find(|t| t.0 == tlp).map(|t| t.2)
}

/// OASIS's marking-definition object for `tlp`.
pub fn tlp_marking(tlp: pb::Tlp) -> Option<Object> {
    let (_, id, name, value) = TLP.iter().find(|t| t.0 == tlp)?;
    Some(object(json!({
        "type": "marking-definition",
        "spec_version": SPEC_VERSION,
        "id": id,
        "created": TLP_CREATED,
        "name": name,
        "extensions": {
            TLP_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": value},
        },
    })))
}

/// isop's property extension: what a notice holds that STIX has no
/// property for (`docs/stix/isop-notice.schema.json`).
pub const EXTENSION: &str = "extension-definition--3c9f1e47-5d0a-4b8e-9f61-2a7c4e8d5b13";

/// The identity that publishes [`EXTENSION`]: the isop project.
pub const PUBLISHER: &str = "identity--8e2b6c14-9d3f-4a57-b0e1-6f4a2c9d7e85";

/// When the extension's version 1.0 was published.
const EXTENSION_CREATED: &str = "2026-12-03T00:00:00.000Z";

/// The new-SCO extension defining `cryptocurrency-wallet` (its `address`
/// property): the one dogesec's stix2extensions publishes, which OpenCTI
/// and others read.
pub const WALLET_EXTENSION: &str = "extension-definition--be78509e-6958-51b1-8b26-d17ee0eba2d7";

/// Where the extension's JSON schema is published.
pub fn extension_schema_url() -> String {
    format!(
        "{}/blob/main/docs/stix/isop-notice.schema.json",
        env!("CARGO_PKG_REPOSITORY")
    )
}

/// The isop project's identity, which publishes the extension.
pub fn publisher() -> Object {
    object(json!({
        "type": "identity",
        "spec_version": SPEC_VERSION,
        "id": PUBLISHER,
        "created": EXTENSION_CREATED,
        "modified": EXTENSION_CREATED,
        "name": "isop",
        "description": "The isop project: a federated message bus for public-private intelligence exchange on online piracy.",
        "identity_class": "system",
    }))
}

/// The extension definition of [`EXTENSION`].
pub fn extension_definition() -> Object {
    object(json!({
        "type": "extension-definition",
        "spec_version": SPEC_VERSION,
        "id": EXTENSION,
        "created_by_ref": PUBLISHER,
        "created": EXTENSION_CREATED,
        "modified": EXTENSION_CREATED,
        "name": "isop notice",
        "description": "What an isop notice holds beyond STIX's own properties: its id, kind, author, recipients and case; its body as the isop.v1 schema's JSON form (works and rights holders, evidence hashes, legal basis); the labelled fields the exporting node holds revealed, and the paths and labels of those withheld from it; its place in the node's log and the checkpoint that covers it.",
        "schema": extension_schema_url(),
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    }))
}

/// A member of the federation, as its identity shows it.
#[derive(Clone, Debug)]
pub struct Member {
    /// Its org id (`KR-KNPA`).
    pub org: String,
    /// Its display name.
    pub name: String,
    /// Its role.
    pub role: pb::Role,
    /// Its country, ISO 3166-1 alpha-2.
    pub country: String,
    /// When it became a member: its first key's `not_before`, Unix ms.
    pub since: u64,
    /// When the roster that describes it so was issued, Unix ms: its
    /// identity's version.
    pub described: u64,
}

impl Member {
    /// The members of `roster`, as a node holds it.
    pub fn of_roster(roster: &isop_core::Roster) -> Vec<Self> {
        roster
            .members()
            .map(|m| Self {
                org: m.org_id.to_string(),
                name: m.display_name.clone(),
                role: m.role.to_pb(),
                country: m.country.clone(),
                since: first(m.keys.iter().map(|k| k.not_before.0)),
                described: roster.issued_at().0,
            })
            .collect()
    }

    /// The members of the roster `fed` shows (`GET /v1/federation`): the
    /// same as [`Member::of_roster`] at the node.
    pub fn of_federation(fed: &isop_api::Federation) -> Vec<Self> {
        fed.members
            .iter()
            .map(|m| Self {
                org: m.org.clone(),
                name: m.name.clone(),
                role: m.role,
                country: m.country.clone(),
                since: first(m.keys.iter().map(|k| k.not_before.0)),
                described: fed.roster_issued_at.0,
            })
            .collect()
    }
}

/// The earliest of `times`; 0 if there is none.
fn first(times: impl Iterator<Item = u64>) -> u64 {
    times.min().unwrap_or_default()
}

/// The id of `org`'s identity.
pub fn identity_id(org: &str) -> String {
    ids::sdo("identity", org)
}

/// `member`'s identity.
pub fn identity(member: &Member) -> Object {
    let since = timestamp(member.since.min(member.described));
    let described = timestamp(member.described);
    let role = isop_core::json::enum_words("isop.v1.Role", member.role.as_str_name());
    let sector = match member.role {
        pb::Role::Agency | pb::Role::Hub => Some("government"),
        pb::Role::Partner => Some("entertainment"),
        _ => None,
    };
    let mut o = object(json!({
        "type": "identity",
        "spec_version": SPEC_VERSION,
        "id": identity_id(&member.org),
        "created": since,
        "modified": described,
        "name": member.name,
        "description": format!("isop member {} ({role}, {})", member.org, member.country),
        "identity_class": "organization",
        "roles": [role],
        "external_references": [{"source_name": "isop", "external_id": member.org}],
    }));
    if let Some(s) = sector {
        o.insert("sectors".into(), json!([s]));
    }
    o
}

/// The objects every bundle and collection carries: the five TLP 2.0
/// markings, isop's publisher and extension definition, and each
/// member's identity.
pub fn preamble(members: &[Member]) -> Vec<Object> {
    let mut out: Vec<Object> = TLP.iter().filter_map(|t| tlp_marking(t.0)).collect();
    out.push(publisher());
    out.push(extension_definition());
    out.extend(members.iter().map(identity));
    out
}

/// `value` as an object (it is one).
pub(crate) fn object(value: serde_json::Value) -> Object {
    match value {
        serde_json::Value::Object(o) => o,
        _ => Object::new(),
    }
}
