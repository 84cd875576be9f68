//! Every request and answer of the API.

use std::fmt;

use isop_core::pb;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The schema of a string holding a value of a schema enum, by its full
/// name; generated from `proto/`, so a new value is documented with it.
macro_rules! proto_enum {
    ($schema:ident, $name:literal) => {
        fn $schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "string",
                "enum": isop_core::json::enum_all_names($name),
                "description": concat!("A value of ", $name, ", by its full name."),
            })
        }
    };
}

proto_enum!(tlp, "isop.v1.Tlp");
proto_enum!(notice_kind, "isop.v1.NoticeKind");
proto_enum!(direction, "isop.v1.Direction");
proto_enum!(referral_status, "isop.v1.ReferralStatus");
proto_enum!(role, "isop.v1.Role");
proto_enum!(indicator_kind, "isop.v1.IndicatorKind");

/// The same for an optional value.
macro_rules! optional {
    ($schema:ident, $inner:ident) => {
        fn $schema(g: &mut SchemaGenerator) -> Schema {
            let mut s = $inner(g);
            s.insert("nullable".into(), true.into());
            s
        }
    };
}

optional!(referral_status_opt, referral_status);
optional!(notice_kind_opt, notice_kind);

/// A list of notice kinds.
fn notice_kinds(g: &mut SchemaGenerator) -> Schema {
    let item = notice_kind(g);
    json_schema!({ "type": "array", "items": item })
}

/// A time: RFC 3339 in UTC on the wire (Unix milliseconds are accepted
/// too); Unix milliseconds within.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&isop_core::json::rfc3339(self.0))
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Millis(u64),
            Text(String),
        }
        match Given::deserialize(d)? {
            Given::Millis(ms) => Ok(Self(ms)),
            Given::Text(s) => s
                .parse()
                .ok()
                .or_else(|| isop_core::json::parse_rfc3339(&s))
                .map(Self)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "{s:?} is neither an RFC 3339 time (2026-12-02T10:00:00Z) nor Unix milliseconds"
                    ))
                }),
        }
    }
}

impl JsonSchema for Time {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Time".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 in UTC; Unix milliseconds are accepted too.",
        })
    }
}

/// What kind of problem an error is, by which a client decides what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The request is malformed or names something invalid (400).
    InvalidRequest,
    /// No bearer token, or the wrong one (401).
    Unauthorized,
    /// Refused by the policy, the TLP or the roster (403).
    Forbidden,
    /// No such notice, entry or route (404).
    NotFound,
    /// The route exists, the method does not (405).
    MethodNotAllowed,
    /// The body is larger than the API takes (413).
    PayloadTooLarge,
    /// The body's media type is not the one the route takes (415).
    UnsupportedMediaType,
    /// A peer failed or refused (502).
    PeerFailed,
    /// The node cannot take it now: shutting down, or its log unreadable (503).
    Unavailable,
    /// The node cannot make anything durable now: its disk is full.
    /// Nothing was written; retry later (507).
    ResourceExhausted,
    /// The node failed (500).
    Internal,
}

impl ErrorCode {
    /// The code of an HTTP status.
    pub fn of_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            502 => Self::PeerFailed,
            503 => Self::Unavailable,
            507 => Self::ResourceExhausted,
            400..=499 => Self::InvalidRequest,
            _ => Self::Internal,
        }
    }
}

/// Every error's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// What kind of problem.
    pub code: ErrorCode,
    /// The problem, named.
    pub message: String,
}

/// `/healthz`: the process serves.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `/readyz`: whether the node takes work.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Ready {
    /// Whether it does.
    pub ready: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The node's org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The roster version it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster_version: Option<u64>,
    /// Its log's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_size: Option<u64>,
}

/// `GET /v1/status`: the node, its log and its peers.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    /// The node's org.
    pub org: String,
    /// The roster version it holds.
    pub roster_version: u64,
    /// Its log's size.
    pub log_size: u64,
    /// The size its latest checkpoint signs.
    pub last_checkpoint_size: Option<u64>,
    /// Deliveries waiting, to all peers.
    pub outbox_depth: u64,
    /// Split views seen since the node started.
    pub split_views: u64,
    /// The key it signs with and the certificate it shows.
    pub identity: NodeIdentity,
    /// Every other member.
    pub peers: Vec<Peer>,
    /// Each webhook (`[[notify]]`).
    pub notify: Vec<HookStatus>,
}

/// The key a node signs with and the certificate it shows (`GET
/// /v1/status`, and `POST /v1/node/reload` after it takes up new ones).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct NodeIdentity {
    /// The notice-signing key's id, `<ORG-ID>/<name>`.
    pub signing_key: String,
    /// Its public half, hex.
    pub public_key: String,
    /// Until when the roster holds it valid.
    pub key_not_after: Time,
    /// The TLS certificate's pin (SPKI SHA-256), hex.
    pub tls_pin: String,
    /// When the certificate expires.
    pub tls_not_after: Time,
}

/// Where a webhook stands.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct HookStatus {
    /// Its name.
    pub name: String,
    /// Where it POSTs, without the query.
    pub url: String,
    /// Log entries not yet looked at for it: its queue.
    pub pending: u64,
    /// Failed attempts at its current event.
    pub attempts: u32,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When an event was last taken by it.
    pub last_delivered: Option<Time>,
}

/// What an event tells of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// A notice was delivered to this node.
    NewNotice,
    /// A status answer came to a referral this node sent.
    StatusChanged,
    /// This node gave up delivering a notice to a recipient.
    DeliveryFailed,
    /// A peer's checkpoints were inconsistent: both are kept as evidence.
    SplitView,
    /// A notice delivered here made a target an overlap: a second partner
    /// referred it, or a second agency reported it.
    NewOverlap,
}

/// What a webhook is POSTed: one event, named by `id` (the same event is
/// sent again with the same id if a delivery is retried, so a receiver
/// takes each id once). Signed: `X-Isop-Signature: sha256=<hex>` is
/// HMAC-SHA256 of the body under the webhook's secret.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct NotifyEvent {
    /// What it tells of.
    pub event: EventKind,
    /// Its id: the node's org, the log entry and the event.
    pub id: String,
    /// The node's org.
    pub org: String,
    /// The log entry that records it.
    pub index: u64,
    /// When that entry was logged.
    pub at: Time,
    /// The notice (`NEW_NOTICE`; the answer, for `STATUS_CHANGED`).
    pub notice: Option<Summary>,
    /// The referral answered (`STATUS_CHANGED`), or the notice not
    /// delivered (`DELIVERY_FAILED`).
    pub referral: Option<String>,
    /// The status given (`STATUS_CHANGED`).
    #[schemars(schema_with = "referral_status_opt")]
    pub status: Option<pb::ReferralStatus>,
    /// The org concerned: the recipient not reached, or the peer whose
    /// checkpoints disagree.
    pub peer: Option<String>,
    /// Why (`DELIVERY_FAILED`, `SPLIT_VIEW`).
    pub reason: Option<String>,
    /// The overlap the notice made (`NEW_OVERLAP`; its notices are not
    /// listed, `GET /v1/correlations` has them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<Overlap>,
}

/// A target that several members name: referred by two or more partners,
/// or named in intelligence from two or more agencies.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Overlap {
    /// The target: a registrable domain (its subdomains and URLs count for
    /// it), an IP address, a wallet or a payment account.
    pub target: String,
    /// What kind of indicator it is.
    #[schemars(schema_with = "indicator_kind")]
    pub kind: pb::IndicatorKind,
    /// The partners whose referrals name it.
    pub referred_by: Vec<String>,
    /// The agencies whose intelligence reports name it.
    pub reported_by: Vec<String>,
    /// When it became an overlap: the time of the notice that brought the
    /// second partner or agency.
    pub since: Time,
    /// The notices naming it that this node holds, oldest first, each with
    /// its latest status.
    pub notices: Vec<Summary>,
}

/// `GET /v1/correlations`: the overlaps this node's log shows.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Correlations {
    /// The overlaps, newest first.
    pub overlaps: Vec<Overlap>,
    /// More overlaps past the limit.
    pub more: u64,
}

/// `POST /v1/match`: a private matching with another member
/// (docs/MATCHING.md): which of these indicators it also holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    /// The member to match with (its org id).
    pub with: String,
    /// The indicators to ask, one each: `KIND VALUE`, or a bare value
    /// whose kind is told from its form (an IP, a URL, an IBAN, a wallet,
    /// else a domain).
    #[serde(default)]
    pub indicators: Vec<String>,
    /// Also ask every indicator of the notices in this node's inbox.
    #[serde(default)]
    pub from_inbox: bool,
    /// Also ask every indicator of the notices of this case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_case: Option<String>,
}

/// An asked indicator the other member also holds.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct MatchedItem {
    /// Its kind: domain, url, ip, wallet or account.
    pub kind: String,
    /// Its value, in the form it was matched under.
    pub value: String,
    /// Where the other member holds it (`NOTICE_KIND_…` names, and
    /// `LIST` for its operator's list), when the policy reveals it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
}

/// The answer to `POST /v1/match`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct MatchResult {
    /// The run's id (hex), as both logs record it.
    pub run: String,
    /// The member matched with.
    pub with: String,
    /// Distinct indicators asked.
    pub asked: u64,
    /// Items the other member matched against.
    pub held: u64,
    /// The asked indicators it also holds.
    pub matched: Vec<MatchedItem>,
    /// This node's log entry recording the run.
    pub logged_at: u64,
    /// Bytes sent to the other member.
    pub bytes_sent: u64,
    /// Bytes received from it.
    pub bytes_received: u64,
}

/// `GET /v1/correlations`' parameters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrelationQuery {
    /// Only overlaps that formed at or after this time.
    pub since: Option<Time>,
    /// Only overlaps naming this value (a site finds its subdomains).
    pub target: Option<String>,
    /// At most this many overlaps (default 50, at most 500).
    pub limit: Option<usize>,
}

/// A peer as this node sees it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Peer {
    /// Its org.
    pub org: String,
    /// Its role.
    #[schemars(schema_with = "role")]
    pub role: pb::Role,
    /// Its country.
    pub country: String,
    /// Where it listens.
    pub endpoint: Option<String>,
    /// Deliveries to it waiting here.
    pub outbox_depth: u64,
    /// Whether the last exchange with it worked; none before the first.
    pub reachable: Option<bool>,
    /// When it last answered.
    pub last_seen: Option<Time>,
    /// The roster version it last said it holds.
    pub roster_version: Option<u64>,
    /// Why the last exchange with it failed, if it did.
    pub last_error: Option<String>,
}

/// `GET /v1/federation`: the roster in force as this node holds it, each
/// peer's health, and the state of this node's log and its witnessing.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Federation {
    /// The federation's name.
    pub federation: String,
    /// The roster's version.
    pub roster_version: u64,
    /// When the roster was signed.
    pub roster_issued_at: Time,
    /// This node's org.
    pub org: String,
    /// This node's clearance under the roster.
    pub clearance: Vec<String>,
    /// What the roster's policy lets this node's role send, and to whom.
    pub sends: Vec<SendRule>,
    /// Every member, this node's own first.
    pub members: Vec<MemberView>,
    /// The roster's groups.
    pub groups: Vec<GroupView>,
    /// This node's log, its checkpoints and whom it witnesses.
    pub log: LogView,
}

/// A rule of the sending policy, for this node's role.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct SendRule {
    /// To members of this role…
    #[schemars(schema_with = "role")]
    pub to: pb::Role,
    /// …these kinds may be sent…
    #[schemars(schema_with = "notice_kinds")]
    pub kinds: Vec<pb::NoticeKind>,
    /// …only in reply to a referral the recipient authored, if set.
    pub reply_to_own_referral: bool,
}

/// A member of the roster.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct MemberView {
    /// Its org.
    pub org: String,
    /// Its display name.
    pub name: String,
    /// Its role.
    #[schemars(schema_with = "role")]
    pub role: pb::Role,
    /// Its country.
    pub country: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Time>,
    /// Its clearance under the roster.
    pub clearance: Vec<String>,
    /// Its notice-signing keys.
    pub keys: Vec<KeyView>,
    /// How this node sees it (none for this node itself).
    pub health: Option<Peer>,
}

/// A member's signing key and its validity.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct KeyView {
    /// `org/name`.
    pub id: String,
    /// The public key, hex.
    pub public_key: String,
    /// Valid from.
    pub not_before: Time,
    /// Valid until (exclusive).
    pub not_after: Time,
    /// When it was revoked, if it was, and why.
    pub revoked_at: Option<Time>,
    /// Why it was revoked (empty if it was not, or no reason was given).
    pub revocation_reason: String,
    /// Now: valid, not yet valid, expired or revoked.
    pub state: String,
}

/// A group of the roster.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct GroupView {
    /// Its id.
    pub id: String,
    /// Its members.
    pub members: Vec<String>,
}

/// This node's log: its size, its latest checkpoints with who signed
/// them, the peers' checkpoints it last cosigned, and split views seen.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct LogView {
    /// Entries in the log.
    pub size: u64,
    /// The latest signed checkpoints, newest first (at most 10).
    pub checkpoints: Vec<CheckpointView>,
    /// Each peer's checkpoint this node last witnessed and cosigned.
    pub witnessed: Vec<Witnessed>,
    /// Split views seen: a peer that showed two checkpoints that are not
    /// consistent. Any is an alarm.
    pub split_views: u64,
}

/// A signed checkpoint of a log.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CheckpointView {
    /// The tree size it covers.
    pub size: u64,
    /// Its root hash, hex.
    pub root: String,
    /// The orgs whose signature on it verifies: its log's own and its
    /// witnesses' cosignatures.
    pub signed_by: Vec<String>,
}

/// A peer's checkpoint this node witnessed.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Witnessed {
    /// The peer.
    pub org: String,
    /// Its checkpoint.
    pub checkpoint: CheckpointView,
}

/// `POST /v1/audit`: this node's log exported and verified as an auditor
/// verifies it (`isop audit verify`): what was checked, and every finding.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct AuditReport {
    /// Entries read.
    pub entries: u64,
    /// Whether the export ended with a valid trailer.
    pub complete: bool,
    /// The recomputed RFC 6962 root, hex.
    pub root: String,
    /// Roster versions verified.
    pub rosters: u64,
    /// Notices sent.
    pub notices_sent: u64,
    /// Notices received.
    pub notices_received: u64,
    /// Receipts held and rejections issued.
    pub receipts: u64,
    /// Envelope signatures checked.
    pub signatures: u64,
    /// Checkpoints of the log checked.
    pub checkpoints: u64,
    /// Cosignatures on them verified.
    pub cosignatures: u64,
    /// Peers' checkpoints this node witnessed.
    pub witnessed: u64,
    /// Disclosures checked against their commitments.
    pub disclosures: u64,
    /// Values erased (not a finding).
    pub erased: u64,
    /// Accesses through the local API the log records.
    pub accesses: u64,
    /// Deliveries still waiting in the outbox.
    pub pending: u64,
    /// Deliveries given up on.
    pub failed: u64,
    /// How many findings there were.
    pub findings_total: u64,
    /// The findings kept, in entry order.
    pub findings: Vec<AuditFinding>,
}

/// A finding of a verification.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct AuditFinding {
    /// The rule broken (`BAD_SIGNATURE`, `ROOT_MISMATCH`, …; see
    /// `docs/PROTOCOL.md`).
    pub kind: String,
    /// The entry at fault, if it concerns one.
    pub index: Option<u64>,
    /// What exactly is wrong.
    pub detail: String,
}

/// `POST /v1/notices`: a notice to sign and send. TOML files of
/// `isop submit` take the same form.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitNotice {
    /// The TLP marking, a value of isop.v1.Tlp (`TLP_AMBER`; `amber` is
    /// taken too).
    pub tlp: String,
    /// Recipient orgs.
    #[serde(default)]
    pub to_orgs: Vec<String>,
    /// Recipient groups.
    #[serde(default)]
    pub to_groups: Vec<String>,
    /// The case reference.
    #[serde(default)]
    pub case_ref: Option<String>,
    /// The notice this answers (a UUID).
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// Fields sent under an access label.
    #[serde(default)]
    pub labelled: Vec<LabelledField>,
    /// The body in the JSON form of isop.v1.Notice's body: one key naming
    /// its kind (`referral`, `status_update`, `intel_report`,
    /// `takedown_request`, `case_message`, `retraction`) over its fields,
    /// as `show` gives it.
    #[schemars(schema_with = "body_object")]
    pub body: Value,
}

fn body_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "description": "The JSON form of isop.v1.Notice's body (the canonical protobuf JSON mapping; ids as UUIDs, digests as hex, times as RFC 3339): one key naming its kind over its fields.",
        "minProperties": 1,
        "maxProperties": 1,
    })
}

fn value_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "description": "The JSON form of isop.v1.FieldValue: one key naming its kind (`text`, `indicator`, `contact`, `person`, `binary`).",
        "minProperties": 1,
        "maxProperties": 1,
    })
}

/// A field sent under an access label.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelledField {
    /// Its path, starting with the kind's name (`referral.contact`).
    pub path: String,
    /// Its access label; empty means anyone the notice reaches.
    #[serde(default)]
    pub label: String,
    /// Its value.
    #[schemars(schema_with = "value_object")]
    pub value: Value,
}

/// `POST /v1/notices/{id}/respond`: a status answer to a referral.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Respond {
    /// A value of isop.v1.ReferralStatus (`REFERRAL_STATUS_ACCEPTED`;
    /// `accepted` is taken too).
    pub status: String,
    /// Why (required for rejected and needs_info).
    #[serde(default)]
    pub reason: String,
    /// For action_taken: a value of isop.v1.ActionType.
    #[serde(default)]
    pub action: Option<String>,
    /// Details of the action.
    #[serde(default)]
    pub details: String,
}

/// A notice sent: its id, its entry, where it goes.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Sent {
    /// Its id.
    pub id: String,
    /// Its OUTBOUND entry.
    pub index: u64,
    /// The orgs it goes to.
    pub recipients: Vec<String>,
}

/// `POST /v1/notices/check` and `POST /v1/notices/{id}/respond/check`:
/// the notice passes every check sending makes, and would go to these
/// orgs. Nothing is logged or sent.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Checked {
    /// The orgs it would go to.
    pub recipients: Vec<String>,
}

/// `POST /v1/notices/preview`: the notice passes every check sending
/// makes, and this is what each recipient would get. Nothing is logged or
/// sent.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Preview {
    /// Each org it would go to, in the order it would be sent.
    pub recipients: Vec<RecipientView>,
}

/// What one recipient would get of a notice: every field in the clear,
/// and of the labelled fields those its clearance satisfies.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RecipientView {
    /// The org.
    pub org: String,
    /// Its clearance under the roster: `role:agency`, `country:KR`,
    /// `org:KR-KNPA` and any the roster grants it.
    pub clearance: Vec<String>,
    /// The labelled fields it would get.
    pub sees: Vec<FieldLabel>,
    /// Those withheld from it, and why.
    pub withheld: Vec<Withheld>,
}

/// A labelled field: its path and label.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct FieldLabel {
    /// The field's path.
    pub path: String,
    /// Its label.
    pub label: String,
}

/// Another notice, named: its id and, when this node holds it, what it is.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct NoticeRef {
    /// Its id.
    pub id: String,
    /// Its kind, if this node holds it.
    #[serde(default)]
    #[schemars(schema_with = "notice_kind_opt")]
    pub kind: Option<pb::NoticeKind>,
    /// What it is about (a referral's domain, a report's title), if held.
    #[serde(default)]
    pub subject: Option<String>,
}

/// One line of a list: a notice and what this node knows of it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Its entry in this node's log.
    pub index: u64,
    /// Its id.
    pub id: String,
    /// Its kind.
    #[schemars(schema_with = "notice_kind")]
    pub kind: pb::NoticeKind,
    /// Whether it came in, went out, or stayed here.
    #[schemars(schema_with = "direction")]
    pub direction: pb::Direction,
    /// Its author.
    pub author: String,
    /// When its author made it.
    pub created_at: Time,
    /// When this node logged it.
    pub logged_at: Time,
    /// Its TLP marking.
    #[schemars(schema_with = "tlp")]
    pub tlp: pb::Tlp,
    /// Its case.
    pub case_ref: Option<String>,
    /// What it is about: a referral's or takedown's domain (or URL, or IP),
    /// a report's title, a case's subject, a status answer's or
    /// retraction's reason.
    pub subject: String,
    /// A referral's latest status (the newest answer by one of its
    /// recipients), or the status an answer gives.
    #[schemars(schema_with = "referral_status_opt")]
    pub status: Option<pb::ReferralStatus>,
    /// The notice it answers.
    pub in_reply_to: Option<String>,
    /// For an inbox item, whether it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<bool>,
}

/// `GET /v1/inbox` and `GET /v1/sent`: the filters and the page.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only unread ones (inbox only).
    #[serde(default)]
    pub unread: bool,
    /// Only this kind: a value of isop.v1.NoticeKind (`referral` is taken too).
    #[serde(default)]
    pub kind: Option<String>,
    /// Only entries before this one (the page after a page: its `next_before`).
    #[serde(default)]
    pub before: Option<u64>,
    /// Only entries after this one (what came since a page's first entry).
    #[serde(default)]
    pub since: Option<u64>,
    /// At most this many (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only those by this org.
    #[serde(default)]
    pub author: Option<String>,
    /// Only those whose status is this value of isop.v1.ReferralStatus: a
    /// referral's latest, or the one an answer gives.
    #[serde(default)]
    pub status: Option<String>,
    /// Only those whose subject, case reference or an indicator named in
    /// clear holds this text, in any case.
    #[serde(default)]
    pub contains: Option<String>,
    /// Only those made at or after this time.
    #[serde(default)]
    pub made_from: Option<Time>,
    /// Only those made before this time.
    #[serde(default)]
    pub made_until: Option<Time>,
}

/// A page of a list, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Page {
    /// The notices.
    pub items: Vec<Summary>,
    /// How many more match past this page.
    pub more: u64,
    /// The `before` that gives the next page, if there is one.
    pub next_before: Option<u64>,
    /// In the inbox: how many referrals this node received and has sent
    /// nothing in reply to yet (whatever the filters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unanswered: Option<u64>,
}

/// A field withheld from this node, and why.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Withheld {
    /// Its path.
    pub path: String,
    /// Its access label.
    pub label: String,
    /// Why in plain words: what the label needs and what this node is.
    pub reason: String,
}

/// A field this node holds revealed.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Revealed {
    /// Its path.
    pub path: String,
    /// Its access label.
    pub label: String,
    /// Its value, in the JSON form of isop.v1.FieldValue.
    #[schemars(schema_with = "value_object")]
    pub value: Value,
}

/// A name holding an IDNA A-label, with its Unicode form.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Idna {
    /// As written.
    pub ascii: String,
    /// As it shows.
    pub unicode: String,
}

/// A disclosure erased from this node.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Erased {
    /// Its digest, hex.
    pub digest: String,
    /// Its field's path.
    pub path: String,
    /// Why.
    pub reason: String,
    /// Who: a user of the API, or `retention`.
    pub erased_by: String,
    /// When.
    pub erased_at: Time,
}

/// A user of the node's local API.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct UserView {
    /// The name.
    pub name: String,
    /// The role: admin, analyst, submitter or viewer.
    pub role: String,
    /// When the user was added.
    pub added_at: Time,
}

/// `GET /v1/me`: the user a token is, and what their role lets them do.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Me {
    /// The name.
    pub name: String,
    /// The role: admin, analyst, submitter or viewer.
    pub role: String,
    /// What the role permits: of status, read_received, read_sent, send,
    /// erase, export, operate, users.
    pub may: Vec<String>,
}

/// `POST /v1/users`: a user to add.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// The name: 1 to 64 of a-z, 0-9, `.`, `_`, `-`.
    pub name: String,
    /// The role: admin (everything), analyst (read, send, answer),
    /// submitter (send, and follow what it sent), viewer (read).
    pub role: String,
}

/// A user's new token, shown this once (the node keeps only its hash).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct UserToken {
    /// The user.
    pub name: String,
    /// Their role.
    pub role: String,
    /// The bearer token.
    pub token: String,
}

/// `POST /v1/notices/{id}/erase`: which values to erase, and why.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// Only the field at this path (`referral.contact`); none: every
    /// labelled value of the notice this node holds.
    #[serde(default)]
    pub field: Option<String>,
    /// Why: a lawful order, the retention period, a data subject's request.
    pub reason: String,
}

/// A labelled value erased, or due to be.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ErasedField {
    /// The notice.
    pub id: String,
    /// Its entry in this node's log.
    pub index: u64,
    /// The field's path.
    pub path: String,
    /// Its label.
    pub label: String,
    /// The value's digest, hex: it stays in the log.
    pub digest: String,
    /// The retention rule that makes it due (`GET`/`POST /v1/retention`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// When it became due under that rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Time>,
}

/// The values erased (`POST /v1/notices/{id}/erase`, `POST
/// /v1/retention`), or that the retention policy would erase now (`GET
/// /v1/retention`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ErasedFields {
    /// Each value.
    pub fields: Vec<ErasedField>,
}

/// `GET /v1/notices/{id}`: a notice as this node holds it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct NoticeView {
    /// Its entry in this node's log.
    pub index: u64,
    /// Whether it came in, went out, or stayed here.
    #[schemars(schema_with = "direction")]
    pub direction: pb::Direction,
    /// The peer it came from (inbound).
    pub peer: String,
    /// Its id.
    pub id: String,
    /// Its kind.
    #[schemars(schema_with = "notice_kind")]
    pub kind: pb::NoticeKind,
    /// Its author.
    pub author: String,
    /// When its author made it.
    pub created_at: Time,
    /// When this node logged it.
    pub logged_at: Time,
    /// Its TLP marking.
    #[schemars(schema_with = "tlp")]
    pub tlp: pb::Tlp,
    /// Recipient orgs.
    pub to_orgs: Vec<String>,
    /// Recipient groups.
    pub to_groups: Vec<String>,
    /// Its case.
    pub case_ref: Option<String>,
    /// The notice it answers.
    pub in_reply_to: Option<NoticeRef>,
    /// Its body in the JSON form of isop.v1.Notice.
    #[schemars(schema_with = "body_object")]
    pub body: Value,
    /// Whether its signature verifies now.
    pub verified: bool,
    /// The roster key whose signature verified (`org/key`), if it did.
    #[serde(default)]
    pub signed_by: Option<String>,
    /// Why not, if it does not.
    pub verification_error: Option<String>,
    /// The labelled fields this node holds revealed.
    pub revealed: Vec<Revealed>,
    /// The labelled fields withheld from it.
    pub withheld: Vec<Withheld>,
    /// Names holding IDNA A-labels.
    pub idna: Vec<Idna>,
    /// Disclosures erased here.
    pub erased: Vec<Erased>,
    /// For an inbox item, whether it was read.
    pub read: Option<bool>,
    /// What this node holds answering it (replies, status answers, a
    /// takedown's outcome, a retraction), in log order.
    #[serde(default)]
    pub thread: Vec<Summary>,
}

/// `GET /v1/notices/{id}/proof`: a notice's entry in this node's log,
/// proven included in the latest signed checkpoint (one signed then, if
/// none covered the entry yet).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct InLog {
    /// Its entry.
    pub index: u64,
    /// The entry's RFC 6962 leaf hash, hex.
    pub leaf_hash: String,
    /// The size of that checkpoint, if it verifies.
    pub checkpoint_size: Option<u64>,
    /// That checkpoint's root hash, hex.
    pub root: Option<String>,
    /// The orgs whose signature on that checkpoint verifies under the
    /// roster: this node's own, and its witnesses' cosignatures.
    pub signed_by: Vec<String>,
    /// The inclusion proof's hashes, hex.
    pub proof: Vec<String>,
    /// Whether the proof takes the entry to the checkpoint's root and the
    /// checkpoint verifies under this node's roster key.
    pub verified: bool,
    /// Why it is not verified, if it is not.
    pub problem: Option<String>,
}

/// `POST /v1/notices/{id}/read`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct MarkedRead {
    /// The entry.
    pub index: u64,
    /// Now read.
    pub read: bool,
}

/// Where a delivery to one recipient stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryState {
    /// In the outbox, to be tried (again).
    Queued,
    /// Receipted by the recipient.
    Delivered,
    /// Receipted by the recipient, which already held it.
    Duplicate,
    /// Refused by the recipient, with a signed rejection.
    Rejected,
    /// Given up on, with the reason; no longer in the outbox.
    Failed,
    /// Neither queued nor answered.
    Unknown,
}

/// A delivery to one recipient.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Delivery {
    /// The recipient.
    pub recipient: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts so far (queued).
    pub attempts: u32,
    /// Why the last attempt failed, why it was rejected, or why it failed.
    pub last_error: Option<String>,
    /// The next attempt, no sooner (queued).
    pub next_attempt: Option<Time>,
    /// The entry here that settled it: the receipt (delivered, duplicate,
    /// rejected), or the `DeliveryFailed` entry (failed).
    pub receipt_index: Option<u64>,
    /// When the recipient received it, as its receipt says.
    pub receipt_at: Option<Time>,
}

/// `GET /v1/notices/{id}/track`: where a notice sent stands, and what came
/// back.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Track {
    /// The notice.
    pub id: String,
    /// Its entry.
    pub index: u64,
    /// Each recipient's delivery.
    pub recipients: Vec<Delivery>,
    /// What this node holds answering it (status answers, case messages in
    /// reply, takedown requests resting on it, retractions), in log order.
    pub thread: Vec<Summary>,
}

/// `GET /v1/query`: search. `indicator`, `case` and `author` pick the
/// notices from the log's indexes (all of them given must hold); without
/// any, every notice is searched. The other filters narrow what they
/// pick. Newest first.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    /// A domain (with its subdomains and URLs on them), IP, URL, wallet,
    /// payment account or e-mail.
    #[serde(default)]
    pub indicator: Option<String>,
    /// A case reference.
    #[serde(default)]
    pub case: Option<String>,
    /// The author's org.
    #[serde(default)]
    pub author: Option<String>,
    /// A value of isop.v1.NoticeKind (`referral` is taken too).
    #[serde(default)]
    pub kind: Option<String>,
    /// A value of isop.v1.ReferralStatus: a referral's latest, or the one
    /// an answer gives.
    #[serde(default)]
    pub status: Option<String>,
    /// A value of isop.v1.ContentCategory (referrals).
    #[serde(default)]
    pub category: Option<String>,
    /// Text a work's title, rights owner or identifier holds, in any case
    /// (referrals).
    #[serde(default)]
    pub work: Option<String>,
    /// Text an indicator the notice names in clear, its subject or its
    /// case reference holds, in any case.
    #[serde(default)]
    pub contains: Option<String>,
    /// Made at or after this time.
    #[serde(default)]
    pub since: Option<Time>,
    /// Made before this time.
    #[serde(default)]
    pub until: Option<Time>,
    /// At most this many notices (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Who acted on a referral: a status answer.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Acted {
    /// Who answered.
    pub org: String,
    /// The referral answered.
    pub referral: String,
    /// The status given.
    #[schemars(schema_with = "referral_status")]
    pub status: pb::ReferralStatus,
    /// When.
    pub at: Time,
}

/// The answer to a query.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct QueryAnswer {
    /// The notices found, newest first.
    pub notices: Vec<Summary>,
    /// How many more were found past `limit`.
    pub more: u64,
    /// Who referred what was found.
    pub referred_by: Vec<String>,
    /// Who answered those referrals, and how.
    pub acted: Vec<Acted>,
}

/// `POST /v1/roster`: the roster version the node now holds.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RosterAccepted {
    /// Its version.
    pub version: u64,
    /// Whether the roster pushed was new to the node; false if it had it
    /// already (nothing changed).
    pub new: bool,
}

/// `GET /v1/export`'s parameters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Comma-separated clearance tokens the disclosures are chosen for.
    #[serde(default)]
    pub clearance: String,
}

/// The schemas of every type above, by name, as `docs/api.openapi.yaml`'s
/// `components.schemas` holds them (OpenAPI 3.0: `nullable` for what may
/// be null).
pub fn schemas() -> serde_json::Map<String, Value> {
    let mut g = schemars::generate::SchemaSettings::openapi3().into_generator();
    macro_rules! add {
        ($($t:ty),* $(,)?) => {
            $( g.subschema_for::<$t>(); )*
        };
    }
    add!(
        ErrorBody,
        Health,
        Ready,
        Status,
        SubmitNotice,
        Respond,
        Sent,
        Checked,
        Preview,
        Federation,
        AuditReport,
        ListQuery,
        Page,
        NoticeView,
        InLog,
        MarkedRead,
        Track,
        QueryParams,
        QueryAnswer,
        RosterAccepted,
        ExportQuery,
        NotifyEvent,
        Correlations,
        CorrelationQuery,
        MatchRequest,
        MatchedItem,
        MatchResult,
        EraseRequest,
        ErasedFields,
        UserView,
        Me,
        NewUser,
        UserToken,
    );
    g.take_definitions(true)
}
