//! A node verifying its own log as an auditor would: the export and the
//! auditor's verifier (`isop_audit::verify`) side by side over a pipe, so
//! that no copy of the log is kept.

use isop_api::{AuditFinding, AuditReport};
use isop_audit::VerifyOptions;

use crate::Error;
use crate::state::Inner;

/// Exports this node's log with the disclosures its clearance holds and
/// verifies the export: the report, or why it could not be made.
pub(crate) fn verify_own(inner: &std::sync::Arc<Inner>) -> Result<AuditReport, Error> {
    let mut options = VerifyOptions::new(inner.config.roster_key()?);
    options.threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let clearance = inner.roster().clearance(&inner.org).unwrap_or_default();
    let task = |why: String| Error::Task {
        what: "verifying this node's log",
        why,
    };
    let (reader, writer) = std::io::pipe().map_err(|e| task(format!("a pipe: {e}")))?;
    let exporting = inner.clone();
    let exporter = std::thread::spawn(move || exporting.export(writer, &clearance));
    let verified = isop_audit::verify(reader, &options, None);
    // The writer's end is dropped when the export ends, which ends the
    // reader's; a verifier that stopped early makes the export fail on a
    // closed pipe, which says nothing more.
    let exported = exporter
        .join()
        .map_err(|_| task("the export stopped unexpectedly".into()))?;
    let r = verified.map_err(|e| task(format!("the export could not be read: {e}")))?;
    exported?;
    Ok(AuditReport {
        entries: r.entries,
        complete: r.complete,
        root: r.root,
        rosters: r.rosters,
        notices_sent: r.notices_sent,
        notices_received: r.notices_received,
        receipts: r.receipts,
        signatures: r.signatures,
        checkpoints: r.checkpoints,
        cosignatures: r.cosignatures,
        witnessed: r.witnessed,
        disclosures: r.disclosures,
        erased: r.erased,
        accesses: r.accesses,
        pending: r.pending,
        failed: r.failed,
        findings_total: r.findings_total,
        findings: r
            .findings
            .into_iter()
            .map(|f| AuditFinding {
                kind: f.kind.as_str().into(),
                index: f.index,
                detail: f.detail,
            })
            .collect(),
    })
}
