//! `isop`: the command-line tool of the isop federated message bus.
//!
//! A thin clap layer: each subcommand is one library call plus output.

mod demo;

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
    /// Run the demo scenario: a federation of six orgs, a labelled referral,
    /// redaction per recipient, verification, and refused bad input.
    Demo,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Demo => demo::run(),
    }
}
