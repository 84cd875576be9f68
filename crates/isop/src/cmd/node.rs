//! `isop node`: run a node, or write a new org's first config.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use isop_node::NodeConfig;

use super::{NodeArg, client};
use crate::output::print;

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
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
        /// The QUIC listen address (default: the org's endpoint in the
        /// authority's roster).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// The local API's address.
        #[arg(long, default_value = "127.0.0.1:7481")]
        api: std::net::SocketAddr,
    },
    /// Have a running node take up the signing key and TLS certificate
    /// its config names now, without a restart (as SIGHUP does). The
    /// roster in force must list the key and pin the certificate's key.
    Reload(NodeArg),
}

pub(crate) async fn run(command: NodeCommand) -> Result<()> {
    match command {
        NodeCommand::Run { config } => {
            let config = NodeConfig::load(&config)?;
            // SIGHUP has the running node take up a new key or certificate.
            let reload = std::sync::Arc::new(tokio::sync::Notify::new());
            let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .context("listening for SIGHUP")?;
            let notify = reload.clone();
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    notify.notify_one();
                }
            });
            let told = |event: isop_node::RunEvent<'_>| {
                if let isop_node::RunEvent::Started(node) = event {
                    eprintln!(
                        "{} listening on {} (API {:?}); SIGINT (Ctrl-C) or SIGTERM to stop, SIGHUP to take up a new key or certificate",
                        node.org(),
                        node.local_addr()
                            .map_or_else(|e| e.to_string(), |a| a.to_string()),
                        node.api_addr()
                    );
                }
            };
            let stop = async {
                let signal = stop_signal().await;
                // Peers are told, by the QUIC close reason, and re-dial at once.
                if let Ok(signal) = &signal {
                    tracing::info!(signal, "shutting down");
                }
                signal
            };
            isop_node::run(config, stop, &reload, told).await??;
            tracing::info!("stopped");
            Ok(())
        }
        NodeCommand::Init {
            org,
            dir,
            authority,
            listen,
            api,
        } => {
            let path =
                isop_authority::node_init(&dir, &org.parse()?, &authority, listen, Some(api))?;
            println!("wrote {}", path.display());
            Ok(())
        }
        NodeCommand::Reload(node) => {
            let v = client(&node)?.reload().await?;
            print(node.json, &v, |v| {
                println!("took up the key and certificate the config names:");
                println!("{}", super::notices::identity_line(v));
            })
        }
    }
}

/// Waits for SIGINT or SIGTERM, and names it.
async fn stop_signal() -> Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            r.context("listening for SIGINT")?;
            Ok("SIGINT")
        }
        _ = term.recv() => Ok("SIGTERM"),
    }
}
