//! `isop`: the command-line tool of the isop federated message bus.
//!
//! A thin clap layer: each subcommand is one library call plus output.
//! Exit codes: 0 success, 1 an error (printed with its causes), 2 a usage
//! error, 3 an audit that reported findings.

mod audit;
mod demo;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use isop_authority::Authority;
use isop_core::text::printable;
use isop_node::NodeConfig;
use isop_node::client::ApiClient;
use serde_json::{Value, json};

/// sled, under the node's log, allocates on every update; mimalloc is
/// markedly faster at that than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// isop: a secure, federated message bus for public–private intelligence
/// exchange on online piracy.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which node to talk to, through its local API.
#[derive(Debug, Args)]
struct NodeArg {
    /// The node's config file (its `[api]` section names the address and token).
    #[arg(long, env = "ISOP_NODE")]
    node: PathBuf,
    /// Print the node's JSON answer instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the demo: a federation of real nodes on loopback plays the
    /// referral cycle.
    Demo {
        /// Keep the federation's files (keys, certificates, logs) here
        /// instead of a temporary directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Run a node.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// The federation authority: CA and roster key, certificates.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// An org's keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The roster: members, keys, revocations.
    Roster {
        #[command(subcommand)]
        command: RosterCommand,
    },
    /// Make example federations.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// A node's state: roster, log, checkpoints, outbox per peer.
    Status(NodeArg),
    /// Send a notice described in a JSON or TOML file (see examples/referral.toml).
    Submit {
        #[command(flatten)]
        node: NodeArg,
        /// The notice file.
        file: PathBuf,
    },
    /// Send an intelligence report, takedown request, case message or retraction.
    Send {
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
    },
    /// The notices delivered to the node.
    Inbox {
        #[command(flatten)]
        node: NodeArg,
        /// Only unread ones.
        #[arg(long)]
        unread: bool,
        /// Only this kind (referral, status, intel, takedown, case, retraction).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// A notice as the node holds it: revealed and withheld fields.
    Show {
        #[command(flatten)]
        node: NodeArg,
        /// The notice id.
        id: String,
    },
    /// Answer a referral with a status update to its author.
    Respond {
        #[command(flatten)]
        node: NodeArg,
        /// The referral's id.
        id: String,
        /// received, triaged, accepted, rejected, needs_info, action_taken or closed.
        #[arg(long)]
        status: String,
        /// Why (required for rejected and needs_info).
        #[arg(long, default_value = "")]
        reason: String,
        /// For action_taken: takedown, domain_seizure, blocking, payment_disruption, arrest or other.
        #[arg(long)]
        action: Option<String>,
        /// Details of the action.
        #[arg(long, default_value = "")]
        details: String,
    },
    /// Who referred this, and who acted.
    Query {
        #[command(flatten)]
        node: NodeArg,
        /// A domain, IP, URL, wallet, payment account or e-mail.
        #[arg(long, alias = "domain", alias = "ip", conflicts_with = "case")]
        indicator: Option<String>,
        /// A case reference.
        #[arg(long)]
        case: Option<String>,
    },
    /// The node's log.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Audit log exports offline: verify, replay, cross-check.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SendKind {
    /// A referral of an infringing site, with evidence (the same as `isop
    /// submit` with a file, from flags).
    Referral {
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
    },
    /// Intelligence on the networks and money behind sites (agencies and the hub).
    Intel {
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
    },
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

/// `kind=value` as an indicator.
fn indicator(kv: &str) -> Result<isop_node::submit::Indicator> {
    let (kind, value) = kv
        .split_once('=')
        .with_context(|| format!("{kv:?} is not kind=value"))?;
    Ok(isop_node::submit::Indicator {
        kind: kind.into(),
        value: value.into(),
        context: String::new(),
    })
}

/// The notice a `send` command describes; the core validates it when the node seals it.
fn send_notice(
    to: Vec<String>,
    group: Vec<String>,
    tlp: &str,
    case: Option<String>,
    kind: SendKind,
) -> Result<isop_node::submit::SubmitNotice> {
    use isop_node::submit::{Body, FieldValue, LabelledField, SubmitNotice, Target};
    let tlp = serde_json::from_value(json!(tlp))
        .with_context(|| format!("{tlp:?} is not a TLP marking"))?;
    let mut labelled = Vec::new();
    let now = isop_node::now().0;
    let (body, in_reply_to) = match kind {
        SendKind::Referral {
            domain,
            url,
            ip,
            hosting_country,
            category,
            works,
            evidence,
            action,
            jurisdiction,
            summary,
            contact,
            contact_label,
            affirm,
        } => {
            use isop_node::submit::{Evidence, Work};
            if let Some(text) = contact {
                labelled.push(LabelledField {
                    path: "referral.contact".into(),
                    label: contact_label,
                    value: FieldValue::Text(text),
                });
            }
            let works = works
                .into_iter()
                .map(|w| match w.split_once('=') {
                    Some((title, owner)) => Work {
                        title: title.into(),
                        rights_owner: owner.into(),
                        identifiers: vec![],
                    },
                    None => Work {
                        title: w,
                        rights_owner: String::new(),
                        identifiers: vec![],
                    },
                })
                .collect();
            let evidence = evidence
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
                        _ => anyhow::bail!(
                            "--evidence {e:?}: expected sha256-hex,method[,description]"
                        ),
                    }
                })
                .collect::<Result<_>>()?;
            (
                Body::Referral {
                    target: Target {
                        domain: domain.unwrap_or_default(),
                        url: url.unwrap_or_default(),
                        ip: ip.unwrap_or_default(),
                        hosting_country,
                        ..Default::default()
                    },
                    category,
                    works,
                    evidence,
                    requested_action: action,
                    jurisdiction,
                    good_faith: affirm,
                    accuracy: affirm,
                    summary,
                },
                None,
            )
        }
        SendKind::Intel {
            title,
            grade,
            indicators,
            personal,
            narrative,
            label,
        } => {
            for (i, p) in personal.iter().enumerate() {
                labelled.push(LabelledField {
                    path: format!("intel.indicators[{}]", indicators.len() + i),
                    label: label.clone(),
                    value: FieldValue::Indicator(indicator(p)?),
                });
            }
            if let Some(text) = narrative {
                labelled.push(LabelledField {
                    path: "intel.narrative".into(),
                    label: label.clone(),
                    value: FieldValue::Text(text),
                });
            }
            let indicators = indicators
                .iter()
                .map(|i| indicator(i))
                .collect::<Result<_>>()?;
            (
                Body::Intel {
                    title,
                    indicators,
                    linked_notices: vec![],
                    linked_cases: case.iter().cloned().collect(),
                    grade,
                    handling: String::new(),
                },
                None,
            )
        }
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
            let target = Target {
                domain: domain.unwrap_or_default(),
                ip: ip.unwrap_or_default(),
                url: url.unwrap_or_default(),
                hosting_country,
                ..Default::default()
            };
            (
                Body::Takedown {
                    target,
                    legal_basis,
                    deadline: now + deadline_days * 86_400_000,
                    requested_action: action,
                    referrals,
                },
                None,
            )
        }
        SendKind::Case {
            action,
            subject,
            participants,
            text,
        } => (
            Body::Case {
                action,
                subject,
                participants,
                text,
            },
            None,
        ),
        SendKind::Retract {
            notice,
            scope,
            paths,
            reason,
        } => (
            Body::Retraction {
                notice: notice.clone(),
                scope,
                paths,
                reason,
            },
            Some(notice),
        ),
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

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Run a node until interrupted (Ctrl-C), then shut down gracefully.
    Run {
        /// The node's config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Write a node's config into DIR, beside the files `keys gen` made
    /// and the certificate `ca issue` made (saved as DIR/tls.crt).
    Init {
        /// The org.
        #[arg(long)]
        org: String,
        /// The node's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The federation authority's directory (for the CA and roster).
        #[arg(long)]
        authority: PathBuf,
        /// The QUIC listen address.
        #[arg(long, default_value = "127.0.0.1:7401")]
        listen: std::net::SocketAddr,
        /// The local API's address.
        #[arg(long, default_value = "127.0.0.1:7481")]
        api: std::net::SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Create the federation CA, the roster key and an empty signed roster in DIR.
    Init {
        /// The authority's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The federation's name.
        #[arg(long)]
        federation: String,
    },
    /// Issue an org's TLS certificate from its CSR (printed as PEM).
    Issue {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// The org the certificate is for (must match the CSR).
        #[arg(long)]
        org: String,
        /// The CSR file.
        #[arg(long)]
        csr: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u64,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make an org's signing key, TLS key (both 0600) and CSR in DIR.
    Gen {
        /// The org.
        #[arg(long)]
        org: String,
        /// Where to write them.
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum RosterCommand {
    /// Add a member to the next roster version (a draft until `roster sign`).
    Add {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// Org id.
        #[arg(long)]
        org: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// agency, hub, partner or auditor.
        #[arg(long)]
        role: String,
        /// ISO 3166-1 alpha-2 country.
        #[arg(long)]
        country: String,
        /// The signing key's public half, hex (signing.pub from `keys gen`).
        #[arg(long)]
        public_key: String,
        /// The org's TLS certificate (its key is pinned).
        #[arg(long)]
        tls_cert: PathBuf,
        /// The org's endpoint, host:port.
        #[arg(long)]
        endpoint: String,
        /// The signing key's name.
        #[arg(long, default_value = "k1")]
        key_name: String,
        /// Extra clearance tokens.
        #[arg(long)]
        clearance: Vec<String>,
    },
    /// Revoke a member's signing key, from now on, in the next version.
    RevokeKey {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// Org id.
        #[arg(long)]
        org: String,
        /// The key's name.
        #[arg(long, default_value = "k1")]
        key_name: String,
    },
    /// Remove a member (revoked from now on; kept listed for auditors) in the next version.
    Remove {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// Org id.
        #[arg(long)]
        org: String,
    },
    /// Sign the next version and put it in force (roster.bin); hand it to any node with `roster push`.
    Sign {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
    },
    /// Hand the roster in force to a node, which passes it on to the federation.
    Push {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Verify and print the roster in force.
    Show {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Write the demo federation (CA, roster key, signed roster, keys,
    /// certificates and a node config per org) into DIR. Not for production.
    Example {
        /// Where to write it (must not exist or be empty).
        dir: PathBuf,
        /// The first QUIC port; org i listens on this + i.
        #[arg(long, default_value_t = 7401)]
        quic_port: u16,
        /// The first local API port; org i serves on this + i.
        #[arg(long, default_value_t = 7481)]
        api_port: u16,
    },
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Export the whole log as one file, with the disclosures a clearance allows.
    Export {
        #[command(flatten)]
        node: NodeArg,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// Comma-separated clearance tokens (for example role:auditor); none gives no disclosures.
        #[arg(long, default_value = "")]
        clearance: String,
    },
}

async fn roster(command: RosterCommand) -> Result<()> {
    let show_draft = |r: &isop_core::pb::Roster| {
        println!(
            "next version pending: {} members (sign it with `isop roster sign`)",
            r.members.len()
        )
    };
    match command {
        RosterCommand::Add {
            authority,
            org,
            name,
            role,
            country,
            public_key,
            tls_cert,
            endpoint,
            key_name,
            clearance,
        } => {
            let role = match role.as_str() {
                "agency" => isop_core::Role::Agency,
                "hub" => isop_core::Role::Hub,
                "partner" => isop_core::Role::Partner,
                "auditor" => isop_core::Role::Auditor,
                other => anyhow::bail!("role {other:?} is not agency, hub, partner or auditor"),
            };
            let cert = std::fs::read_to_string(&tls_cert)
                .with_context(|| format!("reading {}", tls_cert.display()))?;
            let public_key = match std::fs::read_to_string(&public_key) {
                Ok(file) => file.trim().to_owned(),
                Err(_) => public_key,
            };
            let r = Authority::open(&authority)?.add_member(&isop_authority::NewMember {
                org: &org.parse()?,
                display_name: &name,
                role,
                country: &country,
                key_name: &key_name.parse()?,
                public_key_hex: &public_key,
                // An hour back: a member's clock may run a little behind.
                key_valid_from: isop_core::UnixMillis(isop_node::now().0.saturating_sub(3_600_000)),
                tls_cert_pem: &cert,
                endpoint: &endpoint,
                clearances: &clearance,
            })?;
            show_draft(&r);
        }
        RosterCommand::RevokeKey {
            authority,
            org,
            key_name,
        } => {
            show_draft(&Authority::open(&authority)?.revoke_key(&org.parse()?, &key_name.parse()?)?)
        }
        RosterCommand::Remove { authority, org } => {
            show_draft(&Authority::open(&authority)?.remove_member(&org.parse()?)?)
        }
        RosterCommand::Push { authority, node } => {
            let bytes = std::fs::read(authority.join("roster.bin"))
                .with_context(|| format!("reading {}", authority.join("roster.bin").display()))?;
            let v = client(&node)?.post_bytes("/v1/roster", bytes).await?;
            print(&node, &v, |v| {
                println!("the node now holds roster v{}", s(&v["version"]))
            })?;
        }
        RosterCommand::Sign { authority } => {
            let r = Authority::open(&authority)?.sign()?;
            println!(
                "roster v{} of {:?} signed and in force: {}",
                r.version(),
                r.federation(),
                authority.join("roster.bin").display()
            );
        }
        RosterCommand::Show { authority, json } => {
            let r = Authority::open(&authority)?.roster()?.roster;
            let members: Vec<Value> = r
                .members()
                .map(|m| {
                    json!({
                        "org": m.org_id.to_string(), "name": m.display_name, "role": m.role.as_str(), "country": m.country,
                        "endpoints": m.endpoints, "revoked_at": m.revoked_at.map(|t| t.0),
                        "keys": m.keys.iter().map(|k| json!({ "name": k.name.to_string(), "public_key": hex::encode(k.public.as_bytes()), "not_after": k.not_after.0, "revoked_at": k.revoked_at.map(|t| t.0) })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({ "federation": r.federation(), "version": r.version(), "members": members })
                    )?
                );
            } else {
                println!(
                    "roster v{} of {:?}, signature verified",
                    r.version(),
                    r.federation()
                );
                for m in r.members() {
                    let state = if m.revoked_at.is_some() {
                        "REVOKED"
                    } else {
                        ""
                    };
                    println!(
                        "  {:<13} {:<8} {}  {:<36} {:<22} keys {} {state}",
                        m.org_id.as_str(),
                        m.role.as_str(),
                        m.country,
                        printable(&m.display_name),
                        printable(&m.endpoints.join(",")),
                        m.keys
                            .iter()
                            .map(|k| k.name.to_string()
                                + if k.revoked_at.is_some() {
                                    "(revoked)"
                                } else {
                                    ""
                                })
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                }
            }
        }
    }
    Ok(())
}

/// Sends a notice through the node's API and says where it went.
async fn send(node: &NodeArg, notice: &isop_node::submit::SubmitNotice) -> Result<()> {
    let v = client(node)?
        .post("/v1/notices", &serde_json::to_value(notice)?)
        .await?;
    print(node, &v, |v| {
        let to = v["recipients"]
            .as_array()
            .map(|r| r.iter().map(s).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        println!("sent {} (entry {}) to {to}", s(&v["id"]), s(&v["index"]));
    })
}

fn client(node: &NodeArg) -> Result<ApiClient> {
    let config = NodeConfig::load(&node.node)?;
    Ok(ApiClient::from_config(&config)?)
}

/// `v` as a query-string value: a URL indicator's `&`, `#`, `+` or `=`
/// stays part of the value.
fn q(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// Prints `v` as JSON, or with `text` for people.
fn print(node: &NodeArg, v: &Value, text: impl FnOnce(&Value)) -> Result<()> {
    if node.json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        text(v);
    }
    Ok(())
}

/// A value of the API's answer, for people: what other members wrote may
/// hold control or bidi characters, shown escaped so that no value forges
/// a line, a colour or a title (`--json` stays exact).
fn s(v: &Value) -> String {
    match v {
        Value::String(s) => printable(s).into_owned(),
        Value::Null => "-".into(),
        other => printable(&other.to_string()).into_owned(),
    }
}

fn print_summaries(items: &Value) {
    println!(
        "{:<6} {:<36} {:<10} {:<13} {:<16} case",
        "entry", "id", "kind", "author", "tlp"
    );
    for i in items.as_array().into_iter().flatten() {
        println!(
            "{:<6} {:<36} {:<10} {:<13} {:<16} {}",
            s(&i["index"]),
            s(&i["id"]),
            s(&i["kind"]),
            s(&i["author"]),
            s(&i["tlp"]),
            s(&i["case_ref"])
        );
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Demo { dir } => match dir {
            Some(dir) => demo::run(&dir).await,
            None => {
                let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
                demo::run(tmp.path()).await
            }
        },
        Command::Node {
            command: NodeCommand::Run { config },
        } => {
            let config = NodeConfig::load(&config)?;
            let node = isop_node::Node::bind(config).await?;
            eprintln!(
                "{} listening on {} (API {:?}); Ctrl-C to stop",
                node.org(),
                node.local_addr()?,
                node.api_addr()
            );
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            node.shutdown().await?;
            Ok(())
        }
        Command::Ca {
            command: CaCommand::Init { dir, federation },
        } => {
            let a = Authority::init(&dir, &federation)?;
            println!(
                "federation {federation:?}: CA and roster key {} in {}; roster v1 signed (no members yet)",
                a.roster_key().name,
                dir.display()
            );
            Ok(())
        }
        Command::Ca {
            command:
                CaCommand::Issue {
                    authority,
                    org,
                    csr,
                    days,
                },
        } => {
            let csr = std::fs::read_to_string(&csr)
                .with_context(|| format!("reading {}", csr.display()))?;
            print!(
                "{}",
                Authority::open(&authority)?.issue(&org.parse()?, &csr, days)?
            );
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Gen { org, dir },
        } => {
            let keys = isop_authority::keys_gen(&dir, &org.parse()?)?;
            println!(
                "{org}: signing key {} (public {}), TLS key and CSR in {}",
                dir.join("signing.key").display(),
                keys.public_key_hex,
                dir.display()
            );
            Ok(())
        }
        Command::Node {
            command:
                NodeCommand::Init {
                    org,
                    dir,
                    authority,
                    listen,
                    api,
                },
        } => {
            let path =
                isop_authority::node_init(&dir, &org.parse()?, &authority, listen, Some(api))?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Command::Roster { command } => roster(command).await,
        Command::Certs {
            command:
                CertsCommand::Example {
                    dir,
                    quic_port,
                    api_port,
                },
        } => {
            if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
                anyhow::bail!("{} is not empty; choose a new directory", dir.display());
            }
            let fed = demo::example_federation(
                &dir,
                isop_authority::Ports::Fixed {
                    quic: quic_port,
                    api: api_port,
                },
            )?;
            std::fs::write(dir.join("README.md"), demo::EXAMPLE_README)
                .context("writing the README")?;
            println!(
                "wrote the example federation {:?} to {}:",
                fed.roster.federation,
                dir.display()
            );
            for m in &fed.members {
                println!(
                    "  {:<13} quic://{}  api http://{}  config {}",
                    m.spec.org.as_str(),
                    m.addr,
                    m.config
                        .api
                        .as_ref()
                        .map_or("-".into(), |a| a.listen.to_string()),
                    dir.join(m.spec.org.as_str()).join("node.toml").display()
                );
            }
            println!("NOT FOR PRODUCTION: every private key is in this directory.");
            Ok(())
        }
        Command::Status(node) => {
            let v = client(&node)?.get("/v1/status").await?;
            print(&node, &v, |v| {
                println!(
                    "{} — roster v{}, log of {} entries, last checkpoint at {}, {} notices waiting, {} split views",
                    s(&v["org"]),
                    s(&v["roster_version"]),
                    s(&v["log_size"]),
                    s(&v["last_checkpoint_size"]),
                    s(&v["outbox_depth"]),
                    s(&v["split_views"])
                );
                for p in v["peers"].as_array().into_iter().flatten() {
                    println!(
                        "  {:<13} {:<8} {:<3} {:<22} outbox {}",
                        s(&p["org"]),
                        s(&p["role"]),
                        s(&p["country"]),
                        s(&p["endpoint"]),
                        s(&p["outbox_depth"])
                    );
                }
            })
        }
        Command::Submit { node, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let notice: isop_node::submit::SubmitNotice =
                if file.extension().is_some_and(|e| e == "toml") {
                    toml::from_str(&text)
                        .with_context(|| format!("{} is not a notice (TOML)", file.display()))?
                } else {
                    serde_json::from_str(&text)
                        .with_context(|| format!("{} is not a notice (JSON)", file.display()))?
                };
            send(&node, &notice).await
        }
        Command::Send {
            node,
            to,
            group,
            tlp,
            case,
            kind,
        } => {
            let notice = send_notice(to, group, &tlp, case, kind)?;
            send(&node, &notice).await
        }
        Command::Inbox {
            node,
            unread,
            kind,
            limit,
        } => {
            let mut path = format!("/v1/inbox?unread={unread}&limit={limit}");
            if let Some(k) = kind {
                path.push_str(&format!("&kind={}", q(&k)));
            }
            let v = client(&node)?.get(&path).await?;
            print(&node, &v, |v| print_summaries(&v["items"]))
        }
        Command::Show { node, id } => {
            let v = client(&node)?.get(&format!("/v1/notices/{id}")).await?;
            print(&node, &v, |v| {
                println!(
                    "{} {} by {} ({}), entry {} {} from {}",
                    s(&v["kind"]),
                    s(&v["id"]),
                    s(&v["author"]),
                    s(&v["tlp"]),
                    s(&v["index"]),
                    s(&v["direction"]),
                    s(&v["peer"])
                );
                for f in v["revealed"].as_array().into_iter().flatten() {
                    println!(
                        "  sees      {:<32} [{}] {}",
                        s(&f["path"]),
                        s(&f["label"]),
                        s(&f["value"])
                    );
                }
                for f in v["withheld"].as_array().into_iter().flatten() {
                    println!("  withheld  {:<32} [{}]", s(&f["path"]), s(&f["label"]));
                }
                // A name with an IDNA A-label, beside its Unicode form:
                // a look-alike shows for what it is.
                for f in v["idna"].as_array().into_iter().flatten() {
                    println!("  idna      {} is {}", s(&f["ascii"]), s(&f["unicode"]));
                }
                // The body as the node lays it out, each line escaped.
                for line in v["body"].as_str().unwrap_or_default().lines() {
                    println!("{}", printable(line));
                }
            })
        }
        Command::Respond {
            node,
            id,
            status,
            reason,
            action,
            details,
        } => {
            let body =
                json!({ "status": status, "reason": reason, "action": action, "details": details });
            let v = client(&node)?
                .post(&format!("/v1/notices/{id}/respond"), &body)
                .await?;
            print(&node, &v, |v| {
                println!("answered with {} (entry {})", s(&v["id"]), s(&v["index"]))
            })
        }
        Command::Query {
            node,
            indicator,
            case,
        } => {
            let path = match (indicator, case) {
                (Some(i), None) => format!("/v1/query?indicator={}", q(&i)),
                (None, Some(c)) => format!("/v1/query?case={}", q(&c)),
                _ => anyhow::bail!("give --indicator (or --domain, --ip) or --case"),
            };
            let v = client(&node)?.get(&path).await?;
            print(&node, &v, |v| {
                println!(
                    "referred by: {}",
                    v["referred_by"]
                        .as_array()
                        .map(|r| r.iter().map(s).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default()
                );
                print_summaries(&v["notices"]);
            })
        }
        Command::Log {
            command:
                LogCommand::Export {
                    node,
                    out,
                    clearance,
                },
        } => {
            // An export holds notices in clear: readable by its owner only.
            let mut file = tokio::fs::File::from_std(isop_node::config::create_private(&out)?);
            let bar = audit::bytes_spinner("exporting");
            let n = client(&node)?
                .download(
                    &format!("/v1/export?clearance={}", q(&clearance)),
                    &mut file,
                    |n| bar.set_position(n),
                )
                .await?;
            bar.finish_and_clear();
            let v = json!({ "file": out.display().to_string(), "bytes": n });
            print(&node, &v, |_| {
                println!("wrote {n} bytes to {}", out.display())
            })
        }
        Command::Audit { command } => audit::run(command),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The demo narrates on stdout; a node logs what it does.
    let default = match cli.command {
        Command::Demo { .. } => "error",
        Command::Node { .. } => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // No transparent huge pages for this process: sled replaces its write
    // buffer at every flush and the allocator returns freed pages, so with
    // them each first touch zeroes 2 MiB. Measured in the ingest benchmark:
    // 12-18% more notices/s, 40% less system time, a third less memory.
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %e, "transparent huge pages stay as the system sets them");
    }
    let result = tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(cli.command)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.is::<audit::FindingsReported>() => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(3)
        }
        Err(e) => {
            // The error and its causes, one line; no backtrace for people.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
