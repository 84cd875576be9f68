//! `isop`: the command-line tool of the isop federated message bus.
//!
//! A thin clap layer: each subcommand is one library call plus output.

mod demo;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Run a node until interrupted (Ctrl-C), then shut down gracefully.
    Run {
        /// The node's config file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The demo narrates on stdout; a node logs what it does.
    let default = if matches!(cli.command, Command::Demo { .. }) {
        "error"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        match cli.command {
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
                let config = isop_node::NodeConfig::load(&config)?;
                let node = isop_node::Node::bind(config).await?;
                eprintln!(
                    "{} listening on {}; Ctrl-C to stop",
                    node.org(),
                    node.local_addr()?
                );
                tokio::signal::ctrl_c()
                    .await
                    .context("waiting for Ctrl-C")?;
                node.shutdown().await?;
                Ok(())
            }
        }
    })
}
