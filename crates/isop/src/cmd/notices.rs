//! A member's daily work through its node's local API: status, submit,
//! inbox, show, respond, query, and the log's export.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use super::{NodeArg, client, q, send};
use crate::output::{bytes_spinner, outline, print, print_summaries, s, value_words};

/// A node's state: roster, log, checkpoints, outbox per peer.
pub(crate) async fn status(node: NodeArg) -> Result<()> {
    let v = client(&node)?.get("/v1/status").await?;
    print(node.json, &v, |v| {
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

/// The arguments of `isop submit`.
#[derive(Debug, Args)]
pub(crate) struct Submit {
    #[command(flatten)]
    node: NodeArg,
    /// The notice file.
    file: PathBuf,
}

impl Submit {
    pub(crate) async fn run(self) -> Result<()> {
        let Self { node, file } = self;
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
}

/// The arguments of `isop inbox`.
#[derive(Debug, Args)]
pub(crate) struct Inbox {
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
}

impl Inbox {
    pub(crate) async fn run(self) -> Result<()> {
        let Self {
            node,
            unread,
            kind,
            limit,
        } = self;
        let mut path = format!("/v1/inbox?unread={unread}&limit={limit}");
        if let Some(k) = kind {
            path.push_str(&format!("&kind={}", q(&k)));
        }
        let v = client(&node)?.get(&path).await?;
        print(node.json, &v, |v| print_summaries(&v["items"]))
    }
}

/// The arguments of `isop show`.
#[derive(Debug, Args)]
pub(crate) struct Show {
    #[command(flatten)]
    node: NodeArg,
    /// The notice id.
    id: String,
}

impl Show {
    pub(crate) async fn run(self) -> Result<()> {
        let Self { node, id } = self;
        let v = client(&node)?.get(&format!("/v1/notices/{id}")).await?;
        print(node.json, &v, |v| {
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
            if v["verified"] == false {
                println!(
                    "  DOES NOT VERIFY NOW: {}; its fields are withheld",
                    s(&v["verification_error"])
                );
            }
            for f in v["revealed"].as_array().into_iter().flatten() {
                println!(
                    "  sees      {:<32} [{}] {}",
                    s(&f["path"]),
                    s(&f["label"]),
                    value_words(&f["value"])
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
            // The body as an outline, field names as words, each value
            // escaped.
            outline(&v["body"], 2);
        })
    }
}

/// The arguments of `isop respond`.
#[derive(Debug, Args)]
pub(crate) struct Respond {
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
}

impl Respond {
    pub(crate) async fn run(self) -> Result<()> {
        let Self {
            node,
            id,
            status,
            reason,
            action,
            details,
        } = self;
        let body =
            json!({ "status": status, "reason": reason, "action": action, "details": details });
        let v = client(&node)?
            .post(&format!("/v1/notices/{id}/respond"), &body)
            .await?;
        print(node.json, &v, |v| {
            println!("answered with {} (entry {})", s(&v["id"]), s(&v["index"]))
        })
    }
}

/// The arguments of `isop query`.
#[derive(Debug, Args)]
pub(crate) struct Query {
    #[command(flatten)]
    node: NodeArg,
    /// A domain, IP, URL, wallet, payment account or e-mail.
    #[arg(long, alias = "domain", alias = "ip", conflicts_with = "case")]
    indicator: Option<String>,
    /// A case reference.
    #[arg(long)]
    case: Option<String>,
}

impl Query {
    pub(crate) async fn run(self) -> Result<()> {
        let Self {
            node,
            indicator,
            case,
        } = self;
        let path = match (indicator, case) {
            (Some(i), None) => format!("/v1/query?indicator={}", q(&i)),
            (None, Some(c)) => format!("/v1/query?case={}", q(&c)),
            _ => anyhow::bail!("give --indicator (or --domain, --ip) or --case"),
        };
        let v = client(&node)?.get(&path).await?;
        print(node.json, &v, |v| {
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
}

#[derive(Debug, Subcommand)]
pub(crate) enum LogCommand {
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

pub(crate) async fn log(command: LogCommand) -> Result<()> {
    let LogCommand::Export {
        node,
        out,
        clearance,
    } = command;

    // An export holds notices in clear: readable by its owner only.
    let mut file = tokio::fs::File::from_std(isop_node::config::create_private(&out)?);
    let bar = bytes_spinner("exporting");
    let n = client(&node)?
        .download(
            &format!("/v1/export?clearance={}", q(&clearance)),
            &mut file,
            |n| bar.set_position(n),
        )
        .await?;
    bar.finish_and_clear();
    let v = json!({ "file": out.display().to_string(), "bytes": n });
    print(node.json, &v, |_| {
        println!("wrote {n} bytes to {}", out.display())
    })
}
