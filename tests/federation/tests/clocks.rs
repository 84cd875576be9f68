//! Clocks that are wrong: each node of these federations reads its own
//! clock (`isop_node::Clock`, set off the wall clock by the test). A
//! receiver 20 minutes behind refuses a notice as `CLOCK_SKEW`, naming
//! the clocks and the amount, and the sender keeps retrying it until the
//! clocks agree; a receiver 20 minutes ahead takes everything (its
//! receipts' times are told, not judged); a sender whose clock jumps back
//! an hour does not wait the hour out; a node whose clock is before its
//! key's validity refuses to sign, saying so. Nothing is lost, nothing
//! arrives twice, and every log audits clean.

use std::time::Duration;

use anyhow::{Result, ensure};
use isop_authority::LocalFederation;
use isop_core::*;
use isop_federation_tests::*;
use isop_node::Node;
use isop_store::DeliveryStatus;

const WAIT: Duration = Duration::from_secs(60);
const MINUTE: i64 = 60_000;

/// Every one of `sent` receipted, held once by the agency in the order
/// sent, and both logs audit clean.
async fn arrived_once(
    fed: &LocalFederation,
    from: &Node,
    kr: &Node,
    sent: &[(NoticeId, LogIndex)],
) -> Result<()> {
    receipted(from, sent, WAIT).await?;
    logged_in_order(kr, sent.iter().map(|(id, _)| id))?;
    let held = kr.store().inbox(false)?.len();
    ensure!(
        held == sent.len(),
        "the agency holds {held} notices, not {}",
        sent.len()
    );
    for node in [from, kr] {
        let findings = audit_findings(node, fed)?;
        ensure!(
            findings.is_empty(),
            "{}'s log audits with {findings:?}",
            node.org()
        );
    }
    // And the two logs agree.
    let dir = tempfile::tempdir()?;
    let mut paths = Vec::new();
    for node in [from, kr] {
        let path = dir.path().join(format!("{}.isop", node.org()));
        node.export(
            std::fs::File::create(&path)?,
            &node.roster().clearance(node.org())?,
        )?;
        paths.push(path);
    }
    let cross = isop_audit::cross_check(&paths[0], &paths[1], &fed.roster_key(), None)?;
    ensure!(
        cross.is_clean(),
        "the cross-check finds {:?}",
        cross.findings
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_behind_refuses_naming_the_clocks_and_takes_the_notices_once_they_agree()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr_clock = fed.member(KR)?.config.clock.clone();
    kr_clock.set_offset(-20 * MINUTE);
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;

    let sent = refer(&filmco, 5).await?;
    let first = sent[0].1;
    filmco
        .wait_until("the agency to refuse for its clock", WAIT, |n| {
            matches!(status_of(n, first, KR), DeliveryStatus::Pending { attempts, .. } if attempts > 0)
        })
        .await?;
    let DeliveryStatus::Pending { last_error, .. } = status_of(&filmco, first, KR) else {
        anyhow::bail!("a notice refused for the clocks left the outbox");
    };
    // 20 minutes less the moment between signing and receiving.
    for says in ["CLOCK_SKEW", "19m ", "ahead of the receiver's clock", "NTP"] {
        ensure!(
            last_error.contains(says),
            "the refusal does not say {says:?}: {last_error}"
        );
    }
    ensure!(kr.store().inbox(false)?.is_empty());

    // The agency's clock put right: the sender's retries get through.
    kr_clock.set_offset(0);
    arrived_once(&fed, &filmco, &kr, &sent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_ahead_takes_everything_and_its_receipts_are_taken() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    fed.member(KR)?.config.clock.set_offset(20 * MINUTE);
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let sent = refer(&filmco, 5).await?;
    arrived_once(&fed, &filmco, &kr, &sent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_whose_clock_jumps_back_an_hour_does_not_wait_it_out() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let clock = fed.member(FILMCO)?.config.clock.clone();
    let filmco = fed.start(FILMCO).await?;
    // The agency is down: each delivery is deferred by the backoff.
    let mut sent = refer(&filmco, 3).await?;
    filmco
        .wait_until("a failed attempt", WAIT, |n| {
            matches!(status_of(n, sent[0].1, KR), DeliveryStatus::Pending { attempts, .. } if attempts > 0)
        })
        .await?;
    clock.set_offset(-60 * MINUTE);
    // Notices made after the jump are older than those before it.
    sent.extend(refer(&filmco, 3).await?);
    let kr = fed.start(KR).await?;
    arrived_once(&fed, &filmco, &kr, &sent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_clock_is_before_its_keys_validity_refuses_to_sign_saying_so() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    // The roster's keys are valid from a day before it was made: 50
    // hours behind, this node's key is not valid for another day.
    let clock = fed.member(FILMCO)?.config.clock.clone();
    clock.set_offset(-50 * 60 * MINUTE);
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let e = filmco
        .send(referral(&[KR], Tlp::Amber))
        .await
        .expect_err("a notice its key cannot sign yet");
    for says in [
        "cannot sign by its clock",
        "before its validity starts",
        "1d ",
        "NTP",
    ] {
        ensure!(
            e.to_string().contains(says),
            "the refusal does not say {says:?}: {e}"
        );
    }
    ensure!(
        filmco.store().outbox()?.is_empty(),
        "a refused notice was queued"
    );
    clock.set_offset(0);
    let sent = refer(&filmco, 2).await?;
    arrived_once(&fed, &filmco, &kr, &sent).await
}
