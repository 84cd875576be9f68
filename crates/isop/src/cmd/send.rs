//! `isop send`: a notice described by flags, sent through the node's API.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use isop_node::submit::{
    Body, Evidence, FieldValue, Indicator, LabelledField, SubmitNotice, Target, Work,
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
    domain: Option<String>,
    /// The infringing URL.
    #[arg(long)]
    url: Option<String>,
    /// The server's IP address.
    #[arg(long)]
    ip: Option<String>,
    /// Where the server is hosted (ISO 3166-1 alpha-2).
    #[arg(long, default_value = "")]
    hosting_country: String,
    /// film, tv, live_sport, music, software, games or publishing.
    #[arg(long)]
    category: String,
    /// An infringed work, as title or title=rights owner.
    #[arg(long = "work", required = true)]
    works: Vec<String>,
    /// Evidence, as `sha256-hex,method[,description]` (method: screenshot,
    /// page_archive, stream_recording, network_trace, file_download,
    /// test_purchase or other); captured now.
    #[arg(long = "evidence", required = true)]
    evidence: Vec<String>,
    /// investigate, takedown, domain_seizure, blocking or payment_disruption.
    #[arg(long, default_value = "takedown")]
    action: String,
    /// The jurisdiction asked to act (ISO 3166-1 alpha-2).
    #[arg(long)]
    jurisdiction: String,
    /// A summary.
    #[arg(long, default_value = "")]
    summary: String,
    /// A contact, sent as a labelled field.
    #[arg(long)]
    contact: Option<String>,
    /// The contact's label.
    #[arg(long, default_value = "role:agency|role:hub")]
    contact_label: String,
    /// Affirm that the referral is made in good faith and is accurate.
    #[arg(long, required = true)]
    affirm: bool,
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

/// `kind=value` as an indicator.
fn indicator(kv: &str) -> Result<Indicator> {
    let (kind, value) = kv
        .split_once('=')
        .with_context(|| format!("{kv:?} is not kind=value"))?;
    Ok(Indicator {
        kind: kind.into(),
        value: value.into(),
        context: String::new(),
    })
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
fn send_notice(
    to: Vec<String>,
    group: Vec<String>,
    tlp: &str,
    case: Option<String>,
    kind: SendKind,
) -> Result<SubmitNotice> {
    let tlp = serde_json::from_value(json!(tlp))
        .with_context(|| format!("{tlp:?} is not a TLP marking"))?;
    let now = isop_node::now().0;
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
        } => Content::of(Body::Takedown {
            target: target(domain, url, ip, hosting_country),
            legal_basis,
            deadline: now + deadline_days * 86_400_000,
            requested_action: action,
            referrals,
        }),
        SendKind::Case {
            action,
            subject,
            participants,
            text,
        } => Content::of(Body::Case {
            action,
            subject,
            participants,
            text,
        }),
        SendKind::Retract {
            notice,
            scope,
            paths,
            reason,
        } => Content {
            in_reply_to: Some(notice.clone()),
            ..Content::of(Body::Retraction {
                notice,
                scope,
                paths,
                reason,
            })
        },
    };
    Ok(SubmitNotice {
        tlp,
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
) -> Target {
    Target {
        domain: domain.unwrap_or_default(),
        url: url.unwrap_or_default(),
        ip: ip.unwrap_or_default(),
        hosting_country,
        ..Default::default()
    }
}

impl ReferralArgs {
    /// The referral, its evidence captured `now`.
    fn content(self, now: u64) -> Result<Content> {
        let mut labelled = Vec::new();
        if let Some(text) = self.contact {
            labelled.push(LabelledField {
                path: "referral.contact".into(),
                label: self.contact_label,
                value: FieldValue::Text(text),
            });
        }
        let works = self
            .works
            .into_iter()
            .map(|w| {
                let (title, owner) = w.split_once('=').unwrap_or((&w, ""));
                Work {
                    title: title.into(),
                    rights_owner: owner.into(),
                    identifiers: vec![],
                }
            })
            .collect();
        let evidence = self
            .evidence
            .iter()
            .map(|e| {
                let mut parts = e.splitn(3, ',');
                match (parts.next(), parts.next()) {
                    (Some(sha256), Some(method)) => Ok(Evidence {
                        sha256: sha256.into(),
                        captured_at: now,
                        method: method.into(),
                        description: parts.next().unwrap_or_default().into(),
                    }),
                    _ => {
                        anyhow::bail!("--evidence {e:?}: expected sha256-hex,method[,description]")
                    }
                }
            })
            .collect::<Result<_>>()?;
        Ok(Content {
            labelled,
            ..Content::of(Body::Referral {
                target: target(self.domain, self.url, self.ip, self.hosting_country),
                category: self.category,
                works,
                evidence,
                requested_action: self.action,
                jurisdiction: self.jurisdiction,
                good_faith: self.affirm,
                accuracy: self.affirm,
                summary: self.summary,
            })
        })
    }
}

impl IntelArgs {
    /// The report, linked to `case` if there is one: its personal
    /// indicators and narrative as labelled fields.
    fn content(self, case: Option<&str>) -> Result<Content> {
        let mut labelled = Vec::new();
        for (i, p) in self.personal.iter().enumerate() {
            labelled.push(LabelledField {
                path: format!("intel.indicators[{}]", self.indicators.len() + i),
                label: self.label.clone(),
                value: FieldValue::Indicator(indicator(p)?),
            });
        }
        if let Some(text) = self.narrative {
            labelled.push(LabelledField {
                path: "intel.narrative".into(),
                label: self.label,
                value: FieldValue::Text(text),
            });
        }
        let indicators = self
            .indicators
            .iter()
            .map(|i| indicator(i))
            .collect::<Result<_>>()?;
        Ok(Content {
            labelled,
            ..Content::of(Body::Intel {
                title: self.title,
                indicators,
                linked_notices: vec![],
                linked_cases: case.map(Into::into).into_iter().collect(),
                grade: self.grade,
                handling: String::new(),
            })
        })
    }
}
