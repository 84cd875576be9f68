//! Notices as JSON (or TOML): what the local API and the CLI accept. Each
//! maps onto the core's builders, so every notice is validated by the core.

use isop_core::pb::field_value::Value;
use isop_core::{
    CaseMessageBuilder, IntelReportBuilder, NoticeDraft, NoticeId, OrgId, ReferralBuilder,
    RetractionBuilder, StatusUpdateBuilder, TakedownRequestBuilder, Tlp, UnixMillis, pb,
};
use serde::{Deserialize, Serialize};

use crate::Error;

fn bad(what: &str, why: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{what}: {why}"))
}

/// Parses a protobuf enum value from its short name: `live_sport` for
/// `CONTENT_CATEGORY_LIVE_SPORT`.
fn enum_value<E: Into<i32>>(
    what: &str,
    prefix: &str,
    name: &str,
    from: fn(&str) -> Option<E>,
) -> Result<E, Error> {
    from(&format!(
        "{prefix}_{}",
        name.trim().to_uppercase().replace(['-', ' '], "_")
    ))
    .ok_or_else(|| bad(what, format!("{name:?} is not a known value")))
}

fn notice_id(what: &str, s: &str) -> Result<NoticeId, Error> {
    s.parse().map_err(|e| bad(what, e))
}

/// A TLP marking.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TlpName {
    /// TLP:CLEAR.
    Clear,
    /// TLP:GREEN.
    Green,
    /// TLP:AMBER.
    Amber,
    /// TLP:AMBER+STRICT.
    AmberStrict,
    /// TLP:RED.
    Red,
}

impl From<TlpName> for Tlp {
    fn from(t: TlpName) -> Self {
        match t {
            TlpName::Clear => Tlp::Clear,
            TlpName::Green => Tlp::Green,
            TlpName::Amber => Tlp::Amber,
            TlpName::AmberStrict => Tlp::AmberStrict,
            TlpName::Red => Tlp::Red,
        }
    }
}

/// A notice to send.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitNotice {
    /// The TLP marking.
    pub tlp: TlpName,
    /// Recipient org ids.
    #[serde(default)]
    pub to_orgs: Vec<String>,
    /// Recipient groups.
    #[serde(default)]
    pub to_groups: Vec<String>,
    /// Case reference.
    #[serde(default)]
    pub case_ref: Option<String>,
    /// The notice this answers (UUID).
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// Labelled fields.
    #[serde(default)]
    pub labelled: Vec<LabelledField>,
    /// The typed body.
    pub body: Body,
}

/// A labelled field.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabelledField {
    /// Its path, starting with the kind's name (`referral.contact`).
    pub path: String,
    /// Its access label; empty means anyone the notice reaches.
    #[serde(default)]
    pub label: String,
    /// Its value.
    pub value: FieldValue,
}

/// A labelled field's value.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FieldValue {
    /// Free text.
    Text(String),
    /// An indicator.
    Indicator(Indicator),
    /// A natural person.
    Person {
        /// Name.
        name: String,
        /// Date of birth, YYYY-MM-DD.
        #[serde(default)]
        date_of_birth: String,
        /// Nationality.
        #[serde(default)]
        nationality: String,
        /// Aliases.
        #[serde(default)]
        aliases: Vec<String>,
    },
}

/// An indicator.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    /// `domain`, `ip`, `url`, `payment_account`, `crypto_wallet`, `email` or `person`.
    pub kind: String,
    /// The value.
    pub value: String,
    /// Context.
    #[serde(default)]
    pub context: String,
}

/// What a referral or takedown points at.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Target {
    /// URL.
    pub url: String,
    /// Domain.
    pub domain: String,
    /// IP address.
    pub ip: String,
    /// Hosting ASN.
    pub hosting_asn: u32,
    /// Hosting provider.
    pub hosting_provider: String,
    /// Registrar.
    pub registrar: String,
    /// Hosting country.
    pub hosting_country: String,
}

impl From<Target> for pb::Target {
    fn from(t: Target) -> Self {
        pb::Target {
            url: t.url,
            domain: t.domain,
            ip: t.ip,
            hosting_asn: t.hosting_asn,
            hosting_provider: t.hosting_provider,
            registrar: t.registrar,
            hosting_country: t.hosting_country,
        }
    }
}

/// An infringed work.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Work {
    /// Title.
    pub title: String,
    /// Rights owner.
    #[serde(default)]
    pub rights_owner: String,
    /// Identifiers: (`isan` | `isrc` | `isbn` | `iswc` | `eidr` | `proprietary`, value).
    #[serde(default)]
    pub identifiers: Vec<(String, String)>,
}

/// An evidence item.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// SHA-256 of the captured file, hex.
    pub sha256: String,
    /// Capture time, Unix milliseconds.
    pub captured_at: u64,
    /// `screenshot`, `page_archive`, `stream_recording`, `network_trace`, `file_download`, `test_purchase` or `other`.
    pub method: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// A notice's typed body.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Body {
    /// A referral.
    Referral {
        /// Target.
        target: Target,
        /// `film`, `tv`, `live_sport`, `music`, `software`, `games` or `publishing`.
        category: String,
        /// Works.
        works: Vec<Work>,
        /// Evidence.
        evidence: Vec<Evidence>,
        /// `investigate`, `takedown`, `domain_seizure`, `blocking` or `payment_disruption`.
        requested_action: String,
        /// Jurisdiction.
        jurisdiction: String,
        /// The good-faith statement, affirmed.
        good_faith: bool,
        /// The accuracy statement, affirmed.
        accuracy: bool,
        /// Summary.
        #[serde(default)]
        summary: String,
    },
    /// A status update on a referral.
    Status {
        /// The referral (UUID).
        referral: String,
        /// `received`, `triaged`, `accepted`, `rejected`, `needs_info`, `action_taken` or `closed`.
        status: String,
        /// Reason.
        #[serde(default)]
        reason: String,
        /// For `action_taken`: `takedown`, `domain_seizure`, `blocking`, `payment_disruption`, `arrest` or `other`.
        #[serde(default)]
        action: Option<String>,
        /// When the action was taken (Unix ms; default now).
        #[serde(default)]
        taken_at: Option<u64>,
        /// Action details.
        #[serde(default)]
        details: String,
    },
    /// An intelligence report.
    Intel {
        /// Title.
        title: String,
        /// Indicators in the clear (domain, IP, URL).
        #[serde(default)]
        indicators: Vec<Indicator>,
        /// Linked notices (UUIDs).
        #[serde(default)]
        linked_notices: Vec<String>,
        /// Linked cases.
        #[serde(default)]
        linked_cases: Vec<String>,
        /// Admiralty grade, for example `B2`.
        grade: String,
        /// Handling conditions.
        #[serde(default)]
        handling: String,
    },
    /// A takedown request.
    Takedown {
        /// Target (with its hosting country).
        target: Target,
        /// Legal basis.
        legal_basis: String,
        /// Deadline, Unix ms.
        deadline: u64,
        /// Requested action.
        requested_action: String,
        /// Referrals it is based on (UUIDs).
        #[serde(default)]
        referrals: Vec<String>,
    },
    /// A case message.
    Case {
        /// `open`, `add_participants`, `remove_participants`, `message` or `close`.
        action: String,
        /// Subject.
        #[serde(default)]
        subject: String,
        /// Participants.
        #[serde(default)]
        participants: Vec<String>,
        /// Text.
        #[serde(default)]
        text: String,
    },
    /// A retraction.
    Retraction {
        /// The notice retracted (UUID).
        notice: String,
        /// `withdraw` or `narrow`.
        scope: String,
        /// Paths withdrawn, for `narrow`.
        #[serde(default)]
        paths: Vec<String>,
        /// Reason.
        reason: String,
    },
}

fn indicator(i: Indicator) -> Result<pb::Indicator, Error> {
    let kind = enum_value(
        "indicator kind",
        "INDICATOR_KIND",
        &i.kind,
        pb::IndicatorKind::from_str_name,
    )?;
    Ok(pb::Indicator {
        kind: kind as i32,
        value: i.value,
        context: i.context,
    })
}

fn body(b: Body, now: UnixMillis) -> Result<pb::notice::Body, Error> {
    Ok(match b {
        Body::Referral {
            target,
            category,
            works,
            evidence,
            requested_action,
            jurisdiction,
            good_faith,
            accuracy,
            summary,
        } => {
            let mut r = ReferralBuilder::new(target.into())
                .category(enum_value(
                    "category",
                    "CONTENT_CATEGORY",
                    &category,
                    pb::ContentCategory::from_str_name,
                )?)
                .action(enum_value(
                    "requested_action",
                    "REQUESTED_ACTION",
                    &requested_action,
                    pb::RequestedAction::from_str_name,
                )?)
                .jurisdiction(&jurisdiction)
                .summary(&summary);
            for w in works {
                let ids = w
                    .identifiers
                    .iter()
                    .map(|(s, v)| {
                        Ok((
                            enum_value(
                                "identifier scheme",
                                "IDENTIFIER_SCHEME",
                                s,
                                pb::IdentifierScheme::from_str_name,
                            )?,
                            v.as_str(),
                        ))
                    })
                    .collect::<Result<Vec<_>, Error>>()?;
                r = r.work(&w.title, &w.rights_owner, &ids);
            }
            for e in evidence {
                let sha: [u8; 32] = hex::decode(&e.sha256)
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or_else(|| bad("evidence sha256", "is not 64 hex digits"))?;
                r = r.evidence(
                    sha,
                    UnixMillis(e.captured_at),
                    enum_value(
                        "evidence method",
                        "CAPTURE_METHOD",
                        &e.method,
                        pb::CaptureMethod::from_str_name,
                    )?,
                    &e.description,
                );
            }
            let mut built = r.build();
            if let pb::notice::Body::Referral(r) = &mut built {
                r.good_faith_statement = good_faith;
                r.accuracy_statement = accuracy;
            }
            built
        }
        Body::Status {
            referral,
            status,
            reason,
            action,
            taken_at,
            details,
        } => {
            let mut s = StatusUpdateBuilder::new(
                notice_id("referral", &referral)?,
                enum_value(
                    "status",
                    "REFERRAL_STATUS",
                    &status,
                    pb::ReferralStatus::from_str_name,
                )?,
            )
            .reason(&reason);
            if let Some(a) = action {
                s = s.action_taken(
                    enum_value("action", "ACTION_TYPE", &a, pb::ActionType::from_str_name)?,
                    UnixMillis(taken_at.unwrap_or(now.0)),
                    &details,
                );
            }
            s.build()
        }
        Body::Intel {
            title,
            indicators,
            linked_notices,
            linked_cases,
            grade,
            handling,
        } => {
            let mut chars = grade.chars();
            let (Some(source), Some(info), None) = (chars.next(), chars.next(), chars.next())
            else {
                return Err(bad(
                    "grade",
                    format!("{grade:?} is not an Admiralty grade like B2"),
                ));
            };
            let source = enum_value(
                "grade",
                "SOURCE_RELIABILITY",
                &source.to_string(),
                pb::SourceReliability::from_str_name,
            )?;
            let info = match info {
                '1' => pb::InformationCredibility::Confirmed,
                '2' => pb::InformationCredibility::ProbablyTrue,
                '3' => pb::InformationCredibility::PossiblyTrue,
                '4' => pb::InformationCredibility::Doubtful,
                '5' => pb::InformationCredibility::Improbable,
                '6' => pb::InformationCredibility::CannotBeJudged,
                _ => {
                    return Err(bad(
                        "grade",
                        format!("{grade:?} is not an Admiralty grade like B2"),
                    ));
                }
            };
            let mut r = IntelReportBuilder::new(&title, source, info).handling(&handling);
            for i in indicators {
                let i = indicator(i)?;
                r = r.indicator(
                    pb::IndicatorKind::try_from(i.kind).unwrap_or_default(),
                    &i.value,
                    &i.context,
                );
            }
            for n in linked_notices {
                r = r.link_notice(notice_id("linked notice", &n)?);
            }
            for c in linked_cases {
                r = r.link_case(&c);
            }
            r.build()
        }
        Body::Takedown {
            target,
            legal_basis,
            deadline,
            requested_action,
            referrals,
        } => {
            let mut t = TakedownRequestBuilder::new(
                target.into(),
                enum_value(
                    "requested_action",
                    "REQUESTED_ACTION",
                    &requested_action,
                    pb::RequestedAction::from_str_name,
                )?,
            )
            .legal_basis(&legal_basis)
            .deadline(UnixMillis(deadline));
            for r in referrals {
                t = t.referral(notice_id("referral", &r)?);
            }
            t.build()
        }
        Body::Case {
            action,
            subject,
            participants,
            text,
        } => {
            let mut c = CaseMessageBuilder::new(enum_value(
                "action",
                "CASE_ACTION",
                &action,
                pb::CaseAction::from_str_name,
            )?)
            .subject(&subject)
            .text(&text);
            for p in participants {
                c = c.participant(&OrgId::new(&p).map_err(|e| bad("participant", e))?);
            }
            c.build()
        }
        Body::Retraction {
            notice,
            scope,
            paths,
            reason,
        } => {
            let mut r = RetractionBuilder::new(
                notice_id("notice", &notice)?,
                enum_value(
                    "scope",
                    "RETRACTION_SCOPE",
                    &scope,
                    pb::RetractionScope::from_str_name,
                )?,
                &reason,
            );
            for p in paths {
                r = r.path(&p);
            }
            r.build()
        }
    })
}

impl SubmitNotice {
    /// The draft to seal; the core validates it when it is sealed.
    pub fn into_draft(self, now: UnixMillis) -> Result<NoticeDraft, Error> {
        let mut d = NoticeDraft::new(self.tlp.into(), body(self.body, now)?);
        for o in &self.to_orgs {
            d = d.to_org(&OrgId::new(o).map_err(|e| bad("to_orgs", e))?);
        }
        for g in &self.to_groups {
            d = d.to_group(g);
        }
        if let Some(c) = &self.case_ref {
            d = d.case_ref(c);
        }
        if let Some(r) = &self.in_reply_to {
            d = d.in_reply_to(notice_id("in_reply_to", r)?);
        }
        for f in self.labelled {
            let value = match f.value {
                FieldValue::Text(t) => Value::Text(t),
                FieldValue::Indicator(i) => Value::Indicator(indicator(i)?),
                FieldValue::Person {
                    name,
                    date_of_birth,
                    nationality,
                    aliases,
                } => Value::Person(pb::Person {
                    name,
                    date_of_birth,
                    nationality,
                    aliases,
                }),
            };
            d = d.labelled(&f.path, &f.label, value);
        }
        Ok(d)
    }
}
