//! `isop audit verify | replay | cross-check`: the auditor's commands, over
//! export files, offline.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use isop_audit::VerifyOptions;

use crate::output::{bar, print_cross, print_verify};

/// The federation's roster key and the output format.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// The federation's roster key: its `roster.pub` (`<keyid> <hex>`) or a
    /// node config holding it.
    #[arg(long, env = "ISOP_ROSTER_KEY")]
    roster_key: PathBuf,
    /// Write a machine-readable JSON report instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify one export: tree, checkpoints, signatures, disclosures,
    /// clearances, TLP and receipts. Exits 3 on any finding.
    Verify {
        /// The export file.
        export: PathBuf,
        #[command(flatten)]
        args: AuditArgs,
        /// Signature-checking threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// The memory, in MiB, that sent notices still awaiting receipts
        /// may take; past it their receipts are not checked and a
        /// TOO_MANY_OUTSTANDING finding says so.
        #[arg(long, default_value_t = isop_audit::DEFAULT_MAX_OUTSTANDING_BYTES >> 20)]
        max_outstanding_mib: usize,
    },
    /// Rebuild the story: referral lifecycles, cases, receipt latency, who
    /// saw which labelled field when.
    Replay {
        /// The export file.
        export: PathBuf,
        /// Print the access record instead: who used the node's local API
        /// for what (reads of notices' fields, sends, erasures, roster and
        /// user changes, refusals), from its LOCAL entries.
        #[arg(long)]
        access: bool,
        #[command(flatten)]
        args: AuditArgs,
    },
    /// Compare two nodes' exports: omissions, denials of receipt, split
    /// views. Exits 3 on any finding.
    CrossCheck {
        /// The first node's export.
        a: PathBuf,
        /// The second node's export.
        b: PathBuf,
        #[command(flatten)]
        args: AuditArgs,
    },
}

/// Findings were reported: the command ran, and the logs broke rules.
#[derive(Debug)]
pub(crate) struct FindingsReported(pub(crate) u64);

impl std::fmt::Display for FindingsReported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} finding(s); see the report above", self.0)
    }
}

impl std::error::Error for FindingsReported {}

fn open(path: &Path) -> Result<(std::io::BufReader<std::fs::File>, u64)> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the export {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((std::io::BufReader::with_capacity(1 << 20, file), len))
}

impl AuditArgs {
    /// The roster key, read from `--roster-key`.
    fn roster_key(&self) -> Result<isop_core::RosterKey> {
        isop_node::config::load_roster_key(&self.roster_key).with_context(|| {
            format!(
                "reading the roster key from {} (a roster.pub or a node config)",
                self.roster_key.display()
            )
        })
    }
}

pub(crate) fn run(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Verify {
            export,
            args,
            threads,
            max_outstanding_mib,
        } => {
            let key = args.roster_key()?;
            let mut options = VerifyOptions::new(key);
            if let Some(t) = threads {
                options.threads = t.max(1);
            }
            options.max_outstanding_bytes = max_outstanding_mib.saturating_mul(1 << 20);
            let (file, len) = open(&export)?;
            let bar = bar(len, "verifying");
            let report = isop_audit::verify(file, &options, Some(&mut |at| bar.set_position(at)))
                .with_context(|| format!("auditing {}", export.display()))?;
            bar.finish_and_clear();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_verify(&report);
            }
            verdict(report.findings_total)
        }
        AuditCommand::Replay {
            export,
            access,
            args,
        } => {
            let key = args.roster_key()?;
            let (file, len) = open(&export)?;
            let bar = bar(len, "replaying");
            let story = isop_audit::replay(file, &key, Some(&mut |at| bar.set_position(at)))
                .with_context(|| format!("replaying {}", export.display()))?;
            bar.finish_and_clear();
            match (args.json, access) {
                (true, false) => println!("{}", serde_json::to_string_pretty(&story)?),
                (true, true) => println!("{}", serde_json::to_string_pretty(&story.accesses)?),
                (false, false) => print!("{story}"),
                (false, true) => crate::output::print_accesses(&story),
            }
            Ok(())
        }
        AuditCommand::CrossCheck { a, b, args } => {
            let key = args.roster_key()?;
            if std::fs::canonicalize(&a)
                .ok()
                .is_some_and(|a| std::fs::canonicalize(&b).is_ok_and(|b| a == b))
            {
                eprintln!(
                    "warning: both exports are the same file, {}: a log checked against itself can show no divergence",
                    a.display()
                );
            }
            let len = open(&a)?.1 * 2 + open(&b)?.1;
            let bar = bar(len, "cross-checking");
            let mut done = 0;
            let mut last = 0;
            let report = isop_audit::cross_check(
                &a,
                &b,
                &key,
                Some(&mut |at| {
                    // Each pass counts from 0: add up across passes.
                    if at < last {
                        done += last;
                    }
                    last = at;
                    bar.set_position(done + at);
                }),
            )
            .context("cross-checking the exports")?;
            bar.finish_and_clear();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_cross(&report);
            }
            verdict(report.findings_total)
        }
    }
}

fn verdict(findings: u64) -> Result<()> {
    if findings == 0 {
        Ok(())
    } else {
        Err(FindingsReported(findings).into())
    }
}
