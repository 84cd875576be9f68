//! `isop send`: a notice described by flags, sent through the node's API.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use isop_api::{LabelledField, SubmitNotice};
use isop_core::json::{enum_value, to_json};
use isop_core::pb::field_value::Value;
use isop_core::pb::notice::Body;
use isop_core::{
    CaseMessageBuilder, IntelReportBuilder, NoticeId, OrgId, ReferralBuilder, RetractionBuilder,
    TakedownRequestBuilder, UnixMillis, pb,
};

use super::{NodeArg, send};

/// The arguments of `isop send`.
#[derive(Debug, Args)]
pub(crate) struct Send {
    #[command(flatten)]
    node: NodeArg,
    /// Recipient orgs.
    #[arg(long, global = true)]
    to: Vec<String>,
    /// Recipient groups.
    #[arg(long, global = true)]
    group: Vec<String>,
    /// The TLP marking: clear, green, amber, amber_strict or red.
    #[arg(long, global = true, default_value = "amber")]
    tlp: String,
    /// The case reference.
    #[arg(long, global = true)]
    case: Option<String>,
    #[command(subcommand)]
    kind: SendKind,
}

impl Send {
    pub(crate) async fn run(self) -> Result<()> {
        let Self {
            node,
            to,
            group,
            tlp,
            case,
            kind,
        } = self;
        let notice = send_notice(to, group, &tlp, case, kind)?;
        send(&node, &notice).await
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum SendKind {
    /// A referral of an infringing site, with evidence (the same as `isop
    /// submit` with a file, from flags).
    Referral(ReferralArgs),
    /// Intelligence on the networks and money behind sites (agencies and the hub).
    Intel(IntelArgs),
    /// A takedown request to the agency where the server is hosted.
    Takedown {
        /// The domain.
        #[arg(long)]
        domain: Option<String>,
        /// The IP address.
        #[arg(long)]
        ip: Option<String>,
        /// The URL.
        #[arg(long)]
        url: Option<String>,
        /// Where the server is hosted (ISO 3166-1 alpha-2).
        #[arg(long)]
        hosting_country: String,
        /// The legal basis.
        #[arg(long)]
        legal_basis: String,
        /// Days until the deadline.
        #[arg(long, default_value_t = 7)]
        deadline_days: u64,
        /// takedown, domain_seizure, blocking, payment_disruption or investigate.
        #[arg(long, default_value = "takedown")]
        action: String,
        /// Referrals the request rests on.
        #[arg(long = "referral")]
        referrals: Vec<String>,
    },
    /// A case message (the case is --case).
    Case {
        /// open, add_participants, remove_participants, message or close.
        #[arg(long)]
        action: String,
        /// Subject (to open).
        #[arg(long, default_value = "")]
        subject: String,
        /// Participants.
        #[arg(long = "participant")]
        participants: Vec<String>,
        /// Text.
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Withdraw or narrow a notice this org sent.
    Retract {
        /// The notice.
        #[arg(long)]
        notice: String,
        /// withdraw or narrow.
        #[arg(long, default_value = "withdraw")]
        scope: String,
        /// Field paths withdrawn (to narrow).
        #[arg(long = "path")]
        paths: Vec<String>,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// The arguments of `isop send referral`.
#[derive(Debug, Args)]
pub(crate) struct ReferralArgs {
    /// The site's domain.
    #[arg(long)]
    pub(crate) domain: Option<String>,
    /// The infringing URL.
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// The server's IP address.
    #[arg(long)]
    pub(crate) ip: Option<String>,
    /// Where the server is hosted (ISO 3166-1 alpha-2).
    #[arg(long, default_value = "")]
    pub(crate) hosting_country: String,
    /// film, tv, live_sport, music, software, games or publishing.
    #[arg(long)]
    pub(crate) category: String,
    /// An infringed work, as title or title=rights owner.
    #[arg(long = "work", required = true)]
    pub(crate) works: Vec<String>,
    /// Evidence, as `sha256-hex,method[,description]` (method: screenshot,
    /// page_archive, stream_recording, network_trace, file_download,
    /// test_purchase or other).
    #[arg(long = "evidence")]
    pub(crate) evidence: Vec<String>,
    /// Evidence from a file, as `path,method[,description]`: its SHA-256,
    /// size and media type are taken from the file, and its capture time
    /// from its modification time unless --captured-at says otherwise.
    #[arg(long = "evidence-file")]
    pub(crate) evidence_files: Vec<String>,
    /// When the evidence was captured: RFC 3339 or Unix milliseconds
    /// (default now).
    #[arg(long)]
    pub(crate) captured_at: Option<String>,
    /// investigate, takedown, domain_seizure, blocking or payment_disruption.
    #[arg(long, default_value = "takedown")]
    pub(crate) action: String,
    /// The jurisdiction asked to act (ISO 3166-1 alpha-2).
    #[arg(long)]
    pub(crate) jurisdiction: String,
    /// A summary.
    #[arg(long, default_value = "")]
    pub(crate) summary: String,
    /// A contact, sent as a labelled field.
    #[arg(long)]
    pub(crate) contact: Option<String>,
    /// The contact's label.
    #[arg(long, default_value = "role:agency|role:hub")]
    pub(crate) contact_label: String,
    /// Affirm that the referral is made in good faith and is accurate.
    #[arg(long, required = true)]
    pub(crate) affirm: bool,
}

/// The arguments of `isop send intel`.
#[derive(Debug, Args)]
pub(crate) struct IntelArgs {
    /// Title.
    #[arg(long)]
    title: String,
    /// Admiralty grade, for example B2.
    #[arg(long)]
    grade: String,
    /// Indicators in the clear, as kind=value (domain, ip, url).
    #[arg(long = "indicator")]
    indicators: Vec<String>,
    /// Indicators naming a person or an account, as kind=value (person,
    /// crypto_wallet, payment_account, email); sent as labelled fields.
    #[arg(long = "personal")]
    personal: Vec<String>,
    /// The narrative, sent as a labelled field.
    #[arg(long)]
    narrative: Option<String>,
    /// The label of the personal indicators and the narrative.
    #[arg(long, default_value = "role:agency")]
    label: String,
}

fn notice_id(what: &str, id: &str) -> Result<NoticeId> {
    id.parse().with_context(|| format!("{what} {id:?}"))
}

/// `kind=value` as an indicator.
fn indicator(kv: &str) -> Result<pb::Indicator> {
    let (kind, value) = kv
        .split_once('=')
        .with_context(|| format!("{kv:?} is not kind=value"))?;
    Ok(pb::Indicator {
        kind: enum_value(
            "indicator kind",
            "isop.v1.IndicatorKind",
            kind,
            pb::IndicatorKind::from_str_name,
        )? as i32,
        value: value.into(),
        context: String::new(),
    })
}

/// A labelled field of `value`, in the API's JSON form.
fn labelled(path: String, label: String, value: Value) -> Result<LabelledField> {
    let value = to_json(&pb::FieldValue { value: Some(value) }, "isop.v1.FieldValue")?;
    Ok(LabelledField { path, label, value })
}

/// What a `send` command's kind puts in its notice.
struct Content {
    body: Body,
    labelled: Vec<LabelledField>,
    in_reply_to: Option<String>,
}

impl Content {
    fn of(body: Body) -> Self {
        Self {
            body,
            labelled: Vec::new(),
            in_reply_to: None,
        }
    }
}

/// The notice a `send` command describes; the core validates it when the
/// node seals it.
pub(crate) fn send_notice(
    to: Vec<String>,
    group: Vec<String>,
    tlp: &str,
    case: Option<String>,
    kind: SendKind,
) -> Result<SubmitNotice> {
    let now = isop_node::now();
    let Content {
        body,
        labelled,
        in_reply_to,
    } = match kind {
        SendKind::Referral(r) => r.content(now)?,
        SendKind::Intel(i) => i.content(case.as_deref())?,
        SendKind::Takedown {
            domain,
            ip,
            url,
            hosting_country,
            legal_basis,
            deadline_days,
            action,
            referrals,
        } => {
            let action = enum_value(
                "--action",
                "isop.v1.RequestedAction",
                &action,
                pb::RequestedAction::from_str_name,
            )?;
            let mut t =
                TakedownRequestBuilder::new(target(domain, url, ip, hosting_country), action)
                    .legal_basis(&legal_basis)
                    .deadline(UnixMillis(
                        deadline_days
                            .checked_mul(86_400_000)
                            .and_then(|d| d.checked_add(now.0))
                            .with_context(|| {
                                format!("--deadline-days {deadline_days} is too far")
                            })?,
                    ));
            for r in &referrals {
                t = t.referral(notice_id("--referral", r)?);
            }
            Content::of(t.build())
        }
        SendKind::Case {
            action,
            subject,
            participants,
            text,
        } => {
            let action = enum_value(
                "--action",
                "isop.v1.CaseAction",
                &action,
                pb::CaseAction::from_str_name,
            )?;
            let mut c = CaseMessageBuilder::new(action)
                .subject(&subject)
                .text(&text);
            for p in &participants {
                c = c.participant(&OrgId::new(p).with_context(|| format!("--participant {p:?}"))?);
            }
            Content::of(c.build())
        }
        SendKind::Retract {
            notice,
            scope,
            paths,
            reason,
        } => {
            let scope = enum_value(
                "--scope",
                "isop.v1.RetractionScope",
                &scope,
                pb::RetractionScope::from_str_name,
            )?;
            let mut r = RetractionBuilder::new(notice_id("--notice", &notice)?, scope, &reason);
            for p in &paths {
                r = r.path(p);
            }
            Content {
                in_reply_to: Some(notice),
                ..Content::of(r.build())
            }
        }
    };
    let body = to_json(
        &pb::Notice {
            body: Some(body),
            ..Default::default()
        },
        "isop.v1.Notice",
    )?;
    Ok(SubmitNotice {
        tlp: tlp.to_owned(),
        to_orgs: to,
        to_groups: group,
        case_ref: case,
        in_reply_to,
        labelled,
        body,
    })
}

/// What a referral or takedown points at.
fn target(
    domain: Option<String>,
    url: Option<String>,
    ip: Option<String>,
    hosting_country: String,
) -> pb::Target {
    pb::Target {
        domain: domain.unwrap_or_default(),
        url: url.unwrap_or_default(),
        ip: ip.unwrap_or_default(),
        hosting_country,
        ..Default::default()
    }
}

impl ReferralArgs {
    /// The referral, its evidence captured `now`.
    fn content(self, now: UnixMillis) -> Result<Content> {
        let mut fields = Vec::new();
        if let Some(text) = self.contact {
            fields.push(labelled(
                "referral.contact".into(),
                self.contact_label,
                Value::Text(text),
            )?);
        }
        let category = enum_value(
            "--category",
            "isop.v1.ContentCategory",
            &self.category,
            pb::ContentCategory::from_str_name,
        )?;
        let action = enum_value(
            "--action",
            "isop.v1.RequestedAction",
            &self.action,
            pb::RequestedAction::from_str_name,
        )?;
        let mut r =
            ReferralBuilder::new(target(self.domain, self.url, self.ip, self.hosting_country))
                .category(category)
                .action(action)
                .jurisdiction(&self.jurisdiction)
                .summary(&self.summary);
        for w in &self.works {
            let (title, owner) = w.split_once('=').unwrap_or((w, ""));
            r = r.work(title, owner, &[]);
        }
        let captured_at = self
            .captured_at
            .as_deref()
            .map(|t| {
                t.parse()
                    .ok()
                    .or_else(|| isop_core::json::parse_rfc3339(t))
                    .map(UnixMillis)
                    .with_context(|| {
                        format!("--captured-at {t:?} is neither RFC 3339 nor Unix milliseconds")
                    })
            })
            .transpose()?;
        let method_of = |e: &str, method: &str| {
            enum_value(
                &format!("--evidence {e:?}: the method"),
                "isop.v1.CaptureMethod",
                method,
                pb::CaptureMethod::from_str_name,
            )
        };
        for e in &self.evidence {
            let mut parts = e.splitn(3, ',');
            let (Some(sha256), Some(method)) = (parts.next(), parts.next()) else {
                anyhow::bail!("--evidence {e:?}: expected sha256-hex,method[,description]");
            };
            let sha: [u8; 32] = hex::decode(sha256)
                .ok()
                .and_then(|v| v.try_into().ok())
                .with_context(|| format!("--evidence {e:?}: {sha256:?} is not 64 hex digits"))?;
            let description = parts.next().unwrap_or_default();
            r = r.evidence(
                sha,
                captured_at.unwrap_or(now),
                method_of(e, method)?,
                description,
            );
        }
        for e in &self.evidence_files {
            let mut parts = e.splitn(3, ',');
            let (Some(path), Some(method)) = (parts.next(), parts.next()) else {
                anyhow::bail!("--evidence-file {e:?}: expected path,method[,description]");
            };
            let file = crate::evidence::EvidenceFile::read(std::path::Path::new(path))?;
            let description = parts.next().unwrap_or_default();
            r = r
                .evidence(
                    file.sha256,
                    captured_at.unwrap_or(file.modified),
                    method_of(e, method)?,
                    description,
                )
                .evidence_file(file.size, &file.media_type);
        }
        if self.affirm {
            r = r.affirm_statements();
        }
        Ok(Content {
            labelled: fields,
            ..Content::of(r.build())
        })
    }
}

impl IntelArgs {
    /// The report, linked to `case` if there is one: its personal
    /// indicators and narrative as labelled fields.
    fn content(self, case: Option<&str>) -> Result<Content> {
        let mut fields = Vec::new();
        for (i, p) in self.personal.iter().enumerate() {
            fields.push(labelled(
                format!("intel.indicators[{}]", self.indicators.len() + i),
                self.label.clone(),
                Value::Indicator(indicator(p)?),
            )?);
        }
        if let Some(text) = self.narrative {
            fields.push(labelled(
                "intel.narrative".into(),
                self.label,
                Value::Text(text),
            )?);
        }
        let mut r = IntelReportBuilder::graded(&self.title, &self.grade)?;
        for i in &self.indicators {
            let i = indicator(i)?;
            let kind = pb::IndicatorKind::try_from(i.kind).unwrap_or_default();
            r = r.indicator(kind, &i.value, &i.context);
        }
        if let Some(c) = case {
            r = r.link_case(c);
        }
        Ok(Content {
            labelled: fields,
            ..Content::of(r.build())
        })
    }
}
