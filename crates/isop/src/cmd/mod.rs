//! The commands, by area: `node` (run a node, its first config),
//! `authority` (CA, keys, roster, the example federation), `notices` and
//! `send` (a member's work through its node's local API), `audit` (log
//! exports, offline). Each is a library call and its output.

pub(crate) mod audit;
mod authority;
mod bulk;
mod node;
mod notices;
mod send;
mod stix;
mod users;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use isop_api::{ApiClient, SubmitNotice};
use isop_node::NodeConfig;

use crate::output::{esc, print};

/// Which node to talk to, through its local API.
#[derive(Debug, Args)]
pub(crate) struct NodeArg {
    /// The node's config file (its `[api]` section names the address and token).
    #[arg(long, env = "ISOP_NODE")]
    node: PathBuf,
    /// Print the node's JSON answer instead of text.
    #[arg(long)]
    json: bool,
    /// Act as the user whose API token is in this file (0600); by
    /// default, the node's API token file (the first admin).
    #[arg(long, env = "ISOP_TOKEN_FILE")]
    token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the demo: a federation of real nodes on loopback plays the
    /// referral cycle.
    Demo {
        /// Keep the federation's files (keys, certificates, logs) here
        /// instead of a temporary directory.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// After the scenario, keep the nodes running (until Ctrl-C) and
        /// print where each one's web console is and its admin token file.
        #[arg(long)]
        keep_running: bool,
    },
    /// Run a node.
    Node {
        #[command(subcommand)]
        command: node::NodeCommand,
    },
    /// The federation authority: CA and roster key, certificates.
    Ca {
        #[command(subcommand)]
        command: authority::CaCommand,
    },
    /// An org's keys.
    Keys {
        #[command(subcommand)]
        command: authority::KeysCommand,
    },
    /// The roster: members, keys, revocations.
    Roster {
        #[command(subcommand)]
        command: authority::RosterCommand,
    },
    /// Make example federations.
    Certs {
        #[command(subcommand)]
        command: authority::CertsCommand,
    },
    /// A node's state: roster, log, checkpoints, outbox per peer.
    Status(NodeArg),
    /// Send a notice described in a JSON or TOML file (see
    /// examples/referral.toml), or with --bulk a file of referrals (CSV
    /// or JSON Lines), all checked before any is sent.
    Submit(notices::Submit),
    /// Send an intelligence report, takedown request, case message or retraction.
    Send(send::Send),
    /// The notices delivered to the node, newest first.
    Inbox(notices::List),
    /// What the node sent, newest first.
    Sent(notices::List),
    /// Where a notice sent stands with each recipient, and what came back.
    Track(notices::Track),
    /// A notice as the node holds it: revealed and withheld fields (marks
    /// it read).
    Show(notices::Show),
    /// Mark a notice read.
    Read(notices::Read),
    /// Erase the values of a notice's labelled fields held here (or of
    /// one): the digests stay, the log still verifies, and a LOCAL entry
    /// says who erased what and why.
    Erase(notices::Erase),
    /// What the retention policy (`[retention]` in node.toml) erases now;
    /// --apply erases it.
    Retention(notices::Retention),
    /// Answer a referral with a status update to its author; or with
    /// --bulk a file of answers, all checked before any is sent.
    Respond(notices::Respond),
    /// Who referred this, and who acted.
    Query(notices::Query),
    /// Targets several members name: referred by two or more partners, or
    /// reported by two or more agencies, with each notice's status.
    Correlate(notices::Correlate),
    /// Which of your indicators another member also holds, and nothing
    /// else: a private matching, logged on both sides, within the
    /// roster's limits (docs/MATCHING.md).
    Match(notices::Match),
    /// The node's log.
    Log {
        #[command(subcommand)]
        command: notices::LogCommand,
    },
    /// The users of a node's local API, each with a role (admin, analyst,
    /// submitter, viewer) and a token.
    User {
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// What the node holds in the field's standards: a STIX 2.1 bundle
    /// (docs/STIX.md).
    Export {
        #[command(subcommand)]
        command: stix::ExportCommand,
    },
    /// Notices from the field's standards: a STIX 2.1 bundle
    /// (docs/STIX.md).
    Import {
        #[command(subcommand)]
        command: stix::ImportCommand,
    },
    /// Audit log exports offline: verify, replay, cross-check.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

impl Command {
    /// Whether the command runs a node (`node run`, `node init`).
    pub(crate) fn runs_a_node(&self) -> bool {
        matches!(
            self,
            Self::Node {
                command: node::NodeCommand::Run { .. } | node::NodeCommand::Init { .. }
            }
        )
    }

    /// What is logged unless `RUST_LOG` says otherwise: the demo narrates
    /// on stdout, and a node logs what it does.
    pub(crate) fn default_log_level(&self) -> &'static str {
        match self {
            Self::Demo { .. } => "error",
            Self::Node { .. } => "info",
            _ => "warn",
        }
    }
}

/// Sends a notice through the node's API and says where it went.
pub(crate) async fn send(node: &NodeArg, notice: &SubmitNotice) -> Result<()> {
    let sent = client(node)?.submit(notice).await?;
    print(node.json, &sent, |v| {
        let to: Vec<String> = v.recipients.iter().map(|r| esc(r)).collect();
        println!("sent {} (entry {}) to {}", v.id, v.index, to.join(", "));
    })
}

/// A time given on the command line, as `flag`: RFC 3339 or Unix
/// milliseconds.
pub(crate) fn time_arg(flag: &str, t: Option<String>) -> Result<Option<isop_core::UnixMillis>> {
    t.map(|t| {
        serde_json::from_value::<isop_api::Time>(serde_json::Value::String(t.clone()))
            .map(|t| isop_core::UnixMillis(t.0))
            .with_context(|| format!("{flag} {t:?} is neither RFC 3339 nor Unix milliseconds"))
    })
    .transpose()
}

fn client(node: &NodeArg) -> Result<ApiClient> {
    Ok(NodeConfig::load(&node.node)?.api_client_as(node.token_file.as_deref())?)
}

pub(crate) async fn run(command: Command) -> Result<()> {
    match command {
        Command::Demo { dir, keep_running } => match dir {
            Some(dir) => crate::demo::run(&dir, keep_running).await,
            None => {
                let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
                crate::demo::run(tmp.path(), keep_running).await
            }
        },
        Command::Node { command } => node::run(command).await,
        Command::Ca { command } => authority::ca(command),
        Command::Keys { command } => authority::keys(command),
        Command::Roster { command } => authority::roster(command).await,
        Command::Certs { command } => authority::certs(command),
        Command::Status(node) => notices::status(node).await,
        Command::Submit(c) => c.run().await,
        Command::Send(c) => c.run().await,
        Command::Inbox(c) => c.run(notices::Box::Inbox).await,
        Command::Sent(c) => c.run(notices::Box::Sent).await,
        Command::Track(c) => c.run().await,
        Command::Show(c) => c.run().await,
        Command::Read(c) => c.run().await,
        Command::Erase(c) => c.run().await,
        Command::Retention(c) => c.run().await,
        Command::Respond(c) => c.run().await,
        Command::Query(c) => c.run().await,
        Command::Export { command } => stix::export(command).await,
        Command::Import { command } => stix::import(command).await,
        Command::Correlate(c) => c.run().await,
        Command::Match(m) => m.run().await,
        Command::Log { command } => notices::log(command).await,
        Command::User { command } => users::run(command).await,
        Command::Audit { command } => audit::run(command),
    }
}
