//! `isop`: the command-line tool of the isop federated message bus.
//!
//! A thin clap layer: the commands live in `cmd/`, by area, each one
//! library call plus output (`output.rs`). Exit codes: 0 success, 1 an
//! error (printed with its causes), 2 a usage error, 3 an audit that
//! reported findings.

mod cmd;
mod demo;
mod evidence;
mod output;

use anyhow::Context;
use clap::Parser;

/// sled, under the node's log, allocates on every update; mimalloc is
/// markedly faster at that than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// isop: a secure, federated message bus for public–private intelligence
/// exchange on online piracy.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// How log lines on stderr are written: text for people, json (one
    /// object a line) for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: cmd::Command,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| cli.command.default_log_level().into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        // No colour codes where stderr is not a terminal.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    // A command whose reader goes away (`isop status | head -1`) ends
    // quietly, as other tools do, instead of panicking on a closed pipe.
    // A node keeps ignoring SIGPIPE: its sockets report a closed peer.
    if !cli.command.runs_a_node() {
        sigpipe::reset();
    }
    // No transparent huge pages for this process: sled replaces its write
    // buffer at every flush and the allocator returns freed pages, so with
    // them each first touch zeroes 2 MiB. Measured in the ingest benchmark:
    // 12-18% more notices/s, 40% less system time, a third less memory.
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %e, "transparent huge pages stay as the system sets them");
    }
    let result = tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(cmd::run(cli.command)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.is::<cmd::audit::FindingsReported>() => {
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
