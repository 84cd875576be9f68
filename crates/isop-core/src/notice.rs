//! Notices: the validated form of the wire `Notice`, one builder per kind,
//! and sealing (commit to labelled fields, sign).

use bytes::Bytes;
use isop_proto::v1 as pb;
use pb::notice::Body;
use prost::Message;

use crate::ids::check_country;
use crate::label::is_token;
use crate::{Error, Label, NoticeId, OrgId, Tlp, UnixMillis};
use crate::{indicator, text};

/// The most recipients (orgs plus groups) a notice may name.
pub const MAX_RECIPIENTS: usize = 256;
/// The most labelled fields a notice may commit to.
pub const MAX_FIELDS: usize = 256;
/// The most items in any repeated body field (works, evidence, indicators…).
pub const MAX_ITEMS: usize = 1024;
/// The longest field path accepted.
pub const MAX_PATH_LEN: usize = 128;

/// Checks a field path: it starts with the kind's name and a dot, and holds
/// only `[a-z0-9_.]` and `[N]` indexes.
pub(crate) fn check_path(path: &str, kind: NoticeKind) -> Result<(), Error> {
    let bad = |why: &str| Error::InvalidNotice {
        what: "notice.fields".into(),
        why: format!("path {path:?} {why}"),
    };
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return Err(bad("must be 1 to 128 bytes"));
    }
    if !path
        .strip_prefix(kind.as_str())
        .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1)
    {
        return Err(bad(&format!("must start with \"{kind}.\"")));
    }
    if !is_path(path) {
        return Err(bad("may hold only a-z, 0-9, '_', '.', '[' and ']'"));
    }
    Ok(())
}

/// Whether `path` is 1 to 128 bytes of `[a-z0-9_.]` and `[N]` indexes.
pub(crate) fn is_path(path: &str) -> bool {
    (1..=MAX_PATH_LEN).contains(&path.len())
        && path.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'[' | b']')
        })
}

/// The kind of a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoticeKind {
    /// A referral of an infringing site or server.
    Referral,
    /// A status answer to a referral.
    StatusUpdate,
    /// Intelligence on networks and money.
    IntelReport,
    /// A takedown request.
    TakedownRequest,
    /// Case coordination.
    CaseMessage,
    /// A retraction of an earlier notice.
    Retraction,
}

impl NoticeKind {
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::Referral,
        Self::StatusUpdate,
        Self::IntelReport,
        Self::TakedownRequest,
        Self::CaseMessage,
        Self::Retraction,
    ];

    /// The kind's name, as used in field paths: `referral`, `status`,
    /// `intel`, `takedown`, `case`, `retraction`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Referral => "referral",
            Self::StatusUpdate => "status",
            Self::IntelReport => "intel",
            Self::TakedownRequest => "takedown",
            Self::CaseMessage => "case",
            Self::Retraction => "retraction",
        }
    }

    pub(crate) fn from_pb(v: i32) -> Result<Self, Error> {
        use pb::NoticeKind as K;
        Ok(match K::try_from(v) {
            Ok(K::Referral) => Self::Referral,
            Ok(K::StatusUpdate) => Self::StatusUpdate,
            Ok(K::IntelReport) => Self::IntelReport,
            Ok(K::TakedownRequest) => Self::TakedownRequest,
            Ok(K::CaseMessage) => Self::CaseMessage,
            Ok(K::Retraction) => Self::Retraction,
            _ => return Err(invalid("notice.kind", format!("{v} is not a notice kind"))),
        })
    }

    /// The wire enum.
    pub fn to_pb(self) -> pb::NoticeKind {
        use pb::NoticeKind as K;
        match self {
            Self::Referral => K::Referral,
            Self::StatusUpdate => K::StatusUpdate,
            Self::IntelReport => K::IntelReport,
            Self::TakedownRequest => K::TakedownRequest,
            Self::CaseMessage => K::CaseMessage,
            Self::Retraction => K::Retraction,
        }
    }

    pub(crate) fn of_body(body: &Body) -> Self {
        match body {
            Body::Referral(_) => Self::Referral,
            Body::StatusUpdate(_) => Self::StatusUpdate,
            Body::IntelReport(_) => Self::IntelReport,
            Body::TakedownRequest(_) => Self::TakedownRequest,
            Body::CaseMessage(_) => Self::CaseMessage,
            Body::Retraction(_) => Self::Retraction,
        }
    }
}

impl std::fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

fn invalid(what: impl Into<String>, why: impl Into<String>) -> Error {
    Error::InvalidNotice {
        what: what.into(),
        why: why.into(),
    }
}

/// A notice's commitment to one labelled field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    /// The field's path.
    pub path: String,
    /// The field's label.
    pub label: Label,
    /// SHA-256 of the disclosure bytes.
    pub digest: [u8; 32],
}

/// A validated notice. The only ways to get one are decoding and validating
/// a payload ([`Notice::decode`], [`TryFrom`]) or sealing a [`NoticeDraft`](crate::NoticeDraft).
#[derive(Clone, Debug)]
pub struct Notice {
    id: NoticeId,
    author: OrgId,
    created_at: UnixMillis,
    kind: NoticeKind,
    tlp: Tlp,
    to_orgs: Vec<OrgId>,
    to_groups: Vec<String>,
    case_ref: Option<String>,
    in_reply_to: Option<NoticeId>,
    commitments: Vec<Commitment>,
    body: Body,
}

impl Notice {
    /// Decodes and validates notice payload bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, Error> {
        let pb = pb::Notice::decode(payload).map_err(|e| Error::Decode {
            what: "notice",
            source: e,
        })?;
        Self::try_from(pb)
    }

    /// The id.
    pub fn id(&self) -> NoticeId {
        self.id
    }
    /// The author org.
    pub fn author(&self) -> &OrgId {
        &self.author
    }
    /// Creation time.
    pub fn created_at(&self) -> UnixMillis {
        self.created_at
    }
    /// The kind.
    pub fn kind(&self) -> NoticeKind {
        self.kind
    }
    /// The TLP marking.
    pub fn tlp(&self) -> Tlp {
        self.tlp
    }
    /// Recipient orgs named directly.
    pub fn to_orgs(&self) -> &[OrgId] {
        &self.to_orgs
    }
    /// Recipient groups.
    pub fn to_groups(&self) -> &[String] {
        &self.to_groups
    }
    /// The case reference, if any.
    pub fn case_ref(&self) -> Option<&str> {
        self.case_ref.as_deref()
    }
    /// The notice this answers, if any.
    pub fn in_reply_to(&self) -> Option<NoticeId> {
        self.in_reply_to
    }
    /// The commitments to labelled fields.
    pub fn commitments(&self) -> &[Commitment] {
        &self.commitments
    }
    /// The typed body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Whether `org` is addressed, directly or through a group of `roster`.
    pub fn addresses(&self, org: &OrgId, roster: &crate::Roster) -> bool {
        self.to_orgs.contains(org) || self.to_groups.iter().any(|g| roster.in_group(g, org))
    }
}

impl TryFrom<pb::Notice> for Notice {
    type Error = Error;

    fn try_from(n: pb::Notice) -> Result<Self, Error> {
        let id = NoticeId::from_slice(&n.id).map_err(|e| invalid("notice.id", e.to_string()))?;
        let author = OrgId::new(&n.author).map_err(|e| invalid("notice.author", e.to_string()))?;
        if n.created_at == 0 {
            return Err(invalid("notice.created_at", "is not set"));
        }
        let kind = NoticeKind::from_pb(n.kind)?;
        let tlp = Tlp::from_pb(n.tlp)?;
        let body = n.body.ok_or_else(|| invalid("notice.body", "is not set"))?;
        if NoticeKind::of_body(&body) != kind {
            return Err(invalid(
                "notice.kind",
                format!("is {kind} but the body is a {}", NoticeKind::of_body(&body)),
            ));
        }
        if n.to_orgs.len() + n.to_groups.len() > MAX_RECIPIENTS {
            return Err(invalid(
                "notice.recipients",
                format!("more than {MAX_RECIPIENTS}"),
            ));
        }
        let to_orgs = n
            .to_orgs
            .iter()
            .map(|o| OrgId::new(o).map_err(|e| invalid("notice.to_orgs", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        for g in &n.to_groups {
            if !is_token(g) {
                return Err(invalid(
                    "notice.to_groups",
                    format!("{g:?} is not a valid group id"),
                ));
            }
            if crate::roster::RESERVED_PREFIXES
                .iter()
                .any(|p| g.starts_with(p))
            {
                return Err(invalid(
                    "notice.to_groups",
                    format!(
                        "{g:?} uses a reserved prefix (org:, role:, country:); name orgs in to_orgs"
                    ),
                ));
            }
        }
        if to_orgs.is_empty() && n.to_groups.is_empty() {
            return Err(invalid("notice.recipients", "names no org and no group"));
        }
        if tlp == Tlp::Red && !n.to_groups.is_empty() {
            return Err(invalid(
                "notice.to_groups",
                "TLP:RED goes only to named orgs, never to groups",
            ));
        }
        let case_ref = Some(n.case_ref).filter(|c| !c.is_empty());
        if let Some(c) = &case_ref {
            check_case_ref("notice.case_ref", c)?;
        }
        let in_reply_to = if n.in_reply_to.is_empty() {
            None
        } else {
            Some(
                NoticeId::from_slice(&n.in_reply_to)
                    .map_err(|e| invalid("notice.in_reply_to", e.to_string()))?,
            )
        };
        if n.fields.len() > MAX_FIELDS {
            return Err(invalid("notice.fields", format!("more than {MAX_FIELDS}")));
        }
        let mut commitments: Vec<Commitment> = Vec::with_capacity(n.fields.len());
        for f in n.fields {
            check_path(&f.path, kind)?;
            if commitments.iter().any(|c| c.path == f.path) {
                return Err(invalid(
                    "notice.fields",
                    format!("path {:?} is committed twice", f.path),
                ));
            }
            let digest = <[u8; 32]>::try_from(f.digest.as_ref()).map_err(|_| {
                invalid(
                    "notice.fields",
                    format!("digest of {:?} is not 32 bytes", f.path),
                )
            })?;
            commitments.push(Commitment {
                label: Label::parse(&f.label)?,
                path: f.path,
                digest,
            });
        }
        let notice = Self {
            id,
            author,
            created_at: UnixMillis(n.created_at),
            kind,
            tlp,
            to_orgs,
            to_groups: n.to_groups,
            case_ref,
            in_reply_to,
            commitments,
            body,
        };
        validate_body(&notice)?;
        Ok(notice)
    }
}

fn check_items<T>(what: &str, items: &[T]) -> Result<(), Error> {
    if items.len() > MAX_ITEMS {
        return Err(invalid(what, format!("more than {MAX_ITEMS} items")));
    }
    Ok(())
}

fn check_ids(what: &str, ids: &[Bytes]) -> Result<(), Error> {
    check_items(what, ids)?;
    for id in ids {
        NoticeId::from_slice(id).map_err(|e| invalid(what, e.to_string()))?;
    }
    Ok(())
}

fn check_target(what: &str, t: Option<&pb::Target>) -> Result<(), Error> {
    let t = t.ok_or_else(|| invalid(what, "is not set"))?;
    if t.url.is_empty() && t.domain.is_empty() && t.ip.is_empty() {
        return Err(invalid(what, "needs a url, a domain or an ip"));
    }
    type Check = fn(&str) -> Result<(), String>;
    let checks: [(&str, &str, Check); 5] = [
        ("url", &t.url, indicator::check_web_url),
        ("domain", &t.domain, indicator::check_domain),
        ("ip", &t.ip, indicator::check_ip),
        ("hosting_provider", &t.hosting_provider, text::check_line),
        ("registrar", &t.registrar, text::check_line),
    ];
    for (field, value, check) in checks {
        if !value.is_empty() {
            check(value).map_err(|why| invalid(format!("{what}.{field}"), why))?;
        }
    }
    if !t.hosting_country.is_empty() {
        check_country(&t.hosting_country)
            .map_err(|e| invalid(format!("{what}.hosting_country"), e.to_string()))?;
    }
    Ok(())
}

/// Checks one line of member text in the field `what`.
fn line(what: impl Into<String>, s: &str) -> Result<(), Error> {
    text::check_line(s).map_err(|why| invalid(what, why))
}

/// Checks free text (line breaks and tabs allowed) in the field `what`.
fn prose(what: impl Into<String>, s: &str) -> Result<(), Error> {
    text::check_prose(s).map_err(|why| invalid(what, why))
}

/// Whether `m` is a media type, `type/subtype` of RFC 6838's restricted
/// names (parameters are not taken), at most 255 characters.
fn is_media_type(m: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    m.len() <= 255 && m.split_once('/').is_some_and(|(t, s)| name(t) && name(s))
}

/// Checks a case reference: 1 to 128 printable ASCII characters.
fn check_case_ref(what: &str, c: &str) -> Result<(), Error> {
    if c.is_empty() || c.len() > 128 || !c.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(what, "must be 1 to 128 printable ASCII characters"));
    }
    Ok(())
}

fn set<E: TryFrom<i32>>(what: &str, v: i32) -> Result<(), Error> {
    match E::try_from(v) {
        Ok(_) if v != 0 => Ok(()),
        _ => Err(invalid(what, "is not set")),
    }
}

fn has_labelled(n: &Notice, prefix: &str) -> bool {
    n.commitments.iter().any(|c| c.path.starts_with(prefix))
}

fn validate_body(n: &Notice) -> Result<(), Error> {
    match &n.body {
        Body::Referral(r) => {
            check_target("referral.target", r.target.as_ref())?;
            set::<pb::ContentCategory>("referral.category", r.category)?;
            if r.works.is_empty() {
                return Err(invalid("referral.works", "needs at least one work"));
            }
            check_items("referral.works", &r.works)?;
            for (i, w) in r.works.iter().enumerate() {
                if w.title.is_empty() {
                    return Err(invalid(format!("referral.works[{i}].title"), "is empty"));
                }
                line(format!("referral.works[{i}].title"), &w.title)?;
                line(format!("referral.works[{i}].rights_owner"), &w.rights_owner)?;
                for (j, id) in w.identifiers.iter().enumerate() {
                    set::<pb::IdentifierScheme>(
                        &format!("referral.works[{i}].identifiers[{j}].scheme"),
                        id.scheme,
                    )?;
                    let what = format!("referral.works[{i}].identifiers[{j}].value");
                    if id.value.is_empty() {
                        return Err(invalid(what, "is empty"));
                    }
                    line(what, &id.value)?;
                }
            }
            if r.evidence.is_empty() {
                return Err(invalid(
                    "referral.evidence",
                    "needs at least one evidence item",
                ));
            }
            check_items("referral.evidence", &r.evidence)?;
            for (i, e) in r.evidence.iter().enumerate() {
                if e.sha256.len() != 32 {
                    return Err(invalid(
                        format!("referral.evidence[{i}].sha256"),
                        format!("is {} bytes, expected a 32-byte SHA-256", e.sha256.len()),
                    ));
                }
                if e.captured_at == 0 {
                    return Err(invalid(
                        format!("referral.evidence[{i}].captured_at"),
                        "is not set",
                    ));
                }
                set::<pb::CaptureMethod>(&format!("referral.evidence[{i}].method"), e.method)?;
                prose(
                    format!("referral.evidence[{i}].description"),
                    &e.description,
                )?;
                if !e.media_type.is_empty() && !is_media_type(&e.media_type) {
                    return Err(invalid(
                        format!("referral.evidence[{i}].media_type"),
                        format!("{:?} is not a media type like video/mp4", e.media_type),
                    ));
                }
            }
            set::<pb::RequestedAction>("referral.requested_action", r.requested_action)?;
            check_country(&r.jurisdiction)
                .map_err(|e| invalid("referral.jurisdiction", e.to_string()))?;
            if !r.good_faith_statement {
                return Err(invalid("referral.good_faith_statement", "must be affirmed"));
            }
            if !r.accuracy_statement {
                return Err(invalid("referral.accuracy_statement", "must be affirmed"));
            }
            prose("referral.summary", &r.summary)?;
        }
        Body::StatusUpdate(s) => {
            NoticeId::from_slice(&s.referral_id)
                .map_err(|e| invalid("status.referral_id", e.to_string()))?;
            let status = pb::ReferralStatus::try_from(s.status)
                .ok()
                .filter(|s| *s != pb::ReferralStatus::Unspecified)
                .ok_or_else(|| invalid("status.status", "is not set"))?;
            use pb::ReferralStatus as S;
            prose("status.reason", &s.reason)?;
            if matches!(status, S::Rejected | S::NeedsInfo)
                && s.reason.is_empty()
                && !has_labelled(n, "status.reason")
            {
                return Err(invalid(
                    "status.reason",
                    format!("is required for {}", status.as_str_name()),
                ));
            }
            if status == S::ActionTaken {
                let a = s
                    .action
                    .as_ref()
                    .ok_or_else(|| invalid("status.action", "is required for ACTION_TAKEN"))?;
                set::<pb::ActionType>("status.action.action", a.action)?;
                if a.taken_at == 0 {
                    return Err(invalid("status.action.taken_at", "is not set"));
                }
                prose("status.action.details", &a.details)?;
            }
        }
        Body::IntelReport(r) => {
            if r.title.is_empty() {
                return Err(invalid("intel.title", "is empty"));
            }
            line("intel.title", &r.title)?;
            check_items("intel.indicators", &r.indicators)?;
            for (i, ind) in r.indicators.iter().enumerate() {
                check_indicator(&format!("intel.indicators[{i}]"), ind, true)?;
            }
            if r.indicators.is_empty() && !has_labelled(n, "intel.indicators") {
                return Err(invalid(
                    "intel.indicators",
                    "needs at least one indicator, in clear or labelled",
                ));
            }
            check_ids("intel.linked_notices", &r.linked_notices)?;
            check_items("intel.linked_cases", &r.linked_cases)?;
            for (i, c) in r.linked_cases.iter().enumerate() {
                check_case_ref(&format!("intel.linked_cases[{i}]"), c)?;
            }
            prose("intel.handling", &r.handling)?;
            set::<pb::SourceReliability>("intel.source_reliability", r.source_reliability)?;
            set::<pb::InformationCredibility>(
                "intel.information_credibility",
                r.information_credibility,
            )?;
        }
        Body::TakedownRequest(t) => {
            check_target("takedown.target", t.target.as_ref())?;
            if t.target
                .as_ref()
                .is_some_and(|t| t.hosting_country.is_empty())
            {
                return Err(invalid(
                    "takedown.target.hosting_country",
                    "is required: the request goes to the hosting country's agency",
                ));
            }
            if t.legal_basis.is_empty() {
                return Err(invalid("takedown.legal_basis", "is empty"));
            }
            prose("takedown.legal_basis", &t.legal_basis)?;
            if t.deadline <= n.created_at.0 {
                return Err(invalid(
                    "takedown.deadline",
                    "must be after the notice's creation",
                ));
            }
            set::<pb::RequestedAction>("takedown.requested_action", t.requested_action)?;
            check_ids("takedown.referrals", &t.referrals)?;
        }
        Body::CaseMessage(c) => {
            if n.case_ref.is_none() {
                return Err(invalid("notice.case_ref", "is required for a case message"));
            }
            let action = pb::CaseAction::try_from(c.action)
                .ok()
                .filter(|a| *a != pb::CaseAction::Unspecified)
                .ok_or_else(|| invalid("case.action", "is not set"))?;
            check_items("case.participants", &c.participants)?;
            for p in &c.participants {
                OrgId::new(p).map_err(|e| invalid("case.participants", e.to_string()))?;
            }
            line("case.subject", &c.subject)?;
            prose("case.text", &c.text)?;
            use pb::CaseAction as A;
            match action {
                A::Open if c.subject.is_empty() => {
                    return Err(invalid("case.subject", "is required to open a case"));
                }
                A::Open | A::AddParticipants | A::RemoveParticipants
                    if c.participants.is_empty() =>
                {
                    return Err(invalid(
                        "case.participants",
                        format!("are required for {}", action.as_str_name()),
                    ));
                }
                A::Message if c.text.is_empty() && !has_labelled(n, "case.text") => {
                    return Err(invalid("case.text", "is required for a message"));
                }
                _ => {}
            }
        }
        Body::Retraction(r) => {
            let target = NoticeId::from_slice(&r.notice_id)
                .map_err(|e| invalid("retraction.notice_id", e.to_string()))?;
            if n.in_reply_to != Some(target) {
                return Err(invalid(
                    "notice.in_reply_to",
                    "must name the retracted notice",
                ));
            }
            let scope = pb::RetractionScope::try_from(r.scope)
                .ok()
                .filter(|s| *s != pb::RetractionScope::Unspecified)
                .ok_or_else(|| invalid("retraction.scope", "is not set"))?;
            check_items("retraction.paths", &r.paths)?;
            for (i, p) in r.paths.iter().enumerate() {
                if !is_path(p) {
                    return Err(invalid(
                        format!("retraction.paths[{i}]"),
                        format!("{p:?} is not a field path"),
                    ));
                }
            }
            if scope == pb::RetractionScope::Narrow && r.paths.is_empty() {
                return Err(invalid(
                    "retraction.paths",
                    "are required to narrow a notice",
                ));
            }
            if r.reason.is_empty() {
                return Err(invalid("retraction.reason", "is empty"));
            }
            prose("retraction.reason", &r.reason)?;
        }
    }
    Ok(())
}

/// Checks an indicator in the field `what`: its kind is set, its value
/// valid for its kind, its context one line. Indicators in the clear
/// (`clear`) may only be infrastructure (domain, IP, URL): anything naming
/// a person or an account must be a labelled field.
fn check_indicator(what: &str, ind: &pb::Indicator, clear: bool) -> Result<(), Error> {
    use pb::IndicatorKind as K;
    let kind = K::try_from(ind.kind)
        .ok()
        .filter(|k| *k != K::Unspecified)
        .ok_or_else(|| invalid(format!("{what}.kind"), "is not set"))?;
    if clear && !matches!(kind, K::Domain | K::Ip | K::Url) {
        return Err(invalid(
            what,
            format!(
                "a {} indicator names a person or account: send it as a labelled field",
                kind.as_str_name()
            ),
        ));
    }
    indicator::check(kind, &ind.value).map_err(|why| invalid(format!("{what}.value"), why))?;
    line(format!("{what}.context"), &ind.context)
}

/// Checks the value of the labelled field `path`, as its author seals it
/// and as every receiver opens it: text as free text, an indicator by its
/// kind, a contact's and a person's parts one line each, an e-mail address,
/// a date of birth and a nationality in their forms.
pub(crate) fn check_value(path: &str, v: &pb::field_value::Value) -> Result<(), Error> {
    use pb::field_value::Value;
    match v {
        Value::Text(t) => prose(path, t),
        Value::Binary(_) => Ok(()),
        Value::Indicator(i) => check_indicator(path, i, false),
        Value::Contact(c) => {
            line(format!("{path}.name"), &c.name)?;
            line(format!("{path}.phone"), &c.phone)?;
            line(format!("{path}.organisation"), &c.organisation)?;
            if !c.email.is_empty() {
                indicator::check_email(&c.email)
                    .map_err(|why| invalid(format!("{path}.email"), why))?;
            }
            Ok(())
        }
        Value::Person(p) => {
            line(format!("{path}.name"), &p.name)?;
            if !p.date_of_birth.is_empty() && !is_date(&p.date_of_birth) {
                return Err(invalid(
                    format!("{path}.date_of_birth"),
                    format!("{:?} is not a date (YYYY-MM-DD)", p.date_of_birth),
                ));
            }
            if !p.nationality.is_empty() {
                check_country(&p.nationality)
                    .map_err(|e| invalid(format!("{path}.nationality"), e.to_string()))?;
            }
            for (i, a) in p.aliases.iter().enumerate() {
                line(format!("{path}.aliases[{i}]"), a)?;
            }
            Ok(())
        }
    }
}

/// Whether `s` is a calendar date written YYYY-MM-DD.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| s[r].parse::<u32>().ok())
            .flatten()
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return false,
    };
    (1..=days).contains(&d)
}
