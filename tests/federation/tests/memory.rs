//! What nodes do, deterministically: real nodes (sled logs, signatures,
//! the whole receive and delivery pipeline) on an in-memory network, with
//! no sockets and no TLS handshake, all reading one manual clock that
//! moves only when a test moves it. Delivery, backoff, restarts, receipt
//! matching, duplicates and id conflicts. The real-QUIC suites beside this
//! one cover the transport.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use isop_authority::LocalFederation;
use isop_core::protocol::Sent;
use isop_core::*;
use isop_federation_tests::*;
use isop_net::{Endpoint, EndpointConfig, MemoryNetwork, PeerConnection, TlsIdentity};
use isop_node::{Clock, Node};
use isop_store::DeliveryStatus;
use rand::SeedableRng;

/// How long a step may take before the test fails (a bound on failure,
/// never a wait: every step waits on the node's events).
const WAIT: Duration = Duration::from_secs(10);

struct Setup {
    _dir: tempfile::TempDir,
    network: MemoryNetwork,
    clock: Clock,
    fed: LocalFederation,
}

fn setup() -> Result<Setup> {
    let dir = tempfile::tempdir()?;
    let network = MemoryNetwork::new();
    let clock = Clock::manual(now());
    let fed = federation_in_memory(dir.path(), &network, &clock)?;
    Ok(Setup {
        _dir: dir,
        network,
        clock,
        fed,
    })
}

impl Setup {
    /// An endpoint on the network holding `org`'s TLS identity, at `addr`
    /// or at an address of its own; it admits any peer.
    fn endpoint_as(&self, org: &str, addr: Option<SocketAddr>) -> Result<Endpoint> {
        let m = self.fed.member(org)?;
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).with_context(|| p.display().to_string())
        };
        let identity =
            TlsIdentity::from_pem(&read(&m.config.tls_cert)?, &read(&m.config.tls_key)?)?;
        let ca = isop_net::pki::certs_from_pem(&read(&self.fed.dir.join("ca.crt"))?)?;
        Ok(Endpoint::memory(
            &self.network,
            addr.unwrap_or_else(|| self.network.reserve()),
            EndpointConfig::new(ca, identity),
            Arc::new(|_| Ok(())),
        )?)
    }

    fn addr(&self, org: &str) -> Result<SocketAddr> {
        Ok(self.fed.member(org)?.addr)
    }

    /// `draft` sealed by `org` now, by the shared clock, from `seed`.
    fn seal(&self, org: &str, draft: NoticeDraft, seed: u64) -> Result<SealedNotice> {
        Ok(draft.seal(
            &signer(&self.fed, org)?,
            self.clock.now(),
            &mut rand::rngs::StdRng::seed_from_u64(seed),
        )?)
    }
}

/// The delivery of `sealed` that `to`'s clearance in `roster` allows.
fn delivery(roster: &Roster, sealed: &SealedNotice, to: &str) -> Result<Delivery> {
    Ok(sealed.delivery_for(&roster.clearance(&org(to))?))
}

/// Waits until the first attempt to deliver entry `index` to `to` failed:
/// when the next is due, and why it failed.
async fn first_failure(node: &Node, index: LogIndex, to: &str) -> Result<(UnixMillis, String)> {
    node.wait_until("a failed attempt", WAIT, |n| {
        matches!(
            status_of(n, index, to),
            DeliveryStatus::Pending { attempts: 1, .. }
        )
    })
    .await?;
    match status_of(node, index, to) {
        DeliveryStatus::Pending {
            next_attempt,
            last_error,
            ..
        } => Ok((next_attempt, last_error)),
        other => bail!("pending: {other:?}"),
    }
}

/// Waits until `sent` is delivered to KR-KNPA, which logs it; then both
/// nodes stop.
async fn delivered_to_kr(filmco: Node, kr: Node, sent: &isop_node::Sent) -> Result<()> {
    filmco
        .wait_until("delivered", WAIT, |n| delivered(n, sent.index, KR))
        .await?;
    ensure!(kr.store().find_notice(&sent.id)?.is_some());
    filmco.shutdown().await?;
    kr.shutdown().await?;
    Ok(())
}

/// Sends `deliveries` as one batch to `to` and reads its receipts, each
/// matched to what was sent.
async fn deliver_batch(
    conn: &PeerConnection,
    to: &str,
    roster: &Roster,
    deliveries: Vec<Delivery>,
) -> Result<Vec<Receipt>> {
    let sent: Vec<Sent> = deliveries.iter().map(|d| Sent::of(&d.envelope)).collect();
    let items = deliveries
        .into_iter()
        .map(|d| pb::Deliver {
            envelope: Some(d.envelope),
            disclosures: d.disclosures,
        })
        .collect();
    let answer = conn
        .request(&pb::Frame {
            roster_version: 0,
            kind: Some(pb::frame::Kind::DeliverBatch(pb::DeliverBatch { items })),
        })
        .await?;
    let Some(pb::frame::Kind::ReceiptBatch(pb::ReceiptBatch {
        receipts: Some(env),
    })) = answer.kind
    else {
        bail!("no receipts: {answer:?}");
    };
    Ok(SignedReceipts::verify(&env, roster, Judgement::AtCreation)?.answering(&org(to), &sent)?)
}

#[tokio::test]
async fn a_notice_is_delivered_and_its_receipt_logged() -> Result<()> {
    let mut s = setup()?;
    let filmco = s.fed.start(FILMCO).await?;
    let kr = s.fed.start(KR).await?;
    let sent = filmco.send(referral(&[KR], Tlp::Amber)).await?;
    filmco
        .wait_until("delivered", WAIT, |n| delivered(n, sent.index, KR))
        .await?;
    let at = kr.store().find_notice(&sent.id)?.context("KR logs it")?;
    let held = kr.held(at)?.context("a notice")?;
    let verified = held.verified.map_err(|e| anyhow::anyhow!("{e}"))?;
    // KR-KNPA's clearance shows it all three fields but FilmCo's own.
    let paths: Vec<&str> = verified
        .revealed()
        .iter()
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        paths,
        ["referral.contact", "referral.evidence[0].location"],
        "{paths:?}"
    );
    filmco.shutdown().await?;
    kr.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_notice_waits_out_its_backoff_by_the_clock_and_survives_a_restart() -> Result<()> {
    let mut s = setup()?;
    let filmco = s.fed.start(FILMCO).await?;
    // KR-KNPA is down: the attempt fails, and the notice waits.
    let sent = filmco.send(referral(&[KR], Tlp::Amber)).await?;
    let (next_attempt, last_error) = first_failure(&filmco, sent.index, KR).await?;
    // The first backoff: 50 ms, with ±50% jitter, from the clock's time.
    let wait = next_attempt.0 - s.clock.now().0;
    ensure!((25..=75).contains(&wait), "backoff {wait} ms");
    ensure!(last_error.contains("no endpoint listens"), "{last_error}");

    // The sender restarts; the recipient comes up. The clock has not moved,
    // so the notice is still waiting.
    filmco.shutdown().await?;
    let filmco = s.fed.start(FILMCO).await?;
    let kr = s.fed.start(KR).await?;
    ensure!(matches!(
        status_of(&filmco, sent.index, KR),
        DeliveryStatus::Pending { attempts: 1, .. }
    ));
    // Once the clock passes the due time, a kick delivers it.
    s.clock.advance(wait + 1);
    filmco.kick();
    delivered_to_kr(filmco, kr, &sent).await
}

#[tokio::test]
async fn a_copy_is_a_duplicate_and_another_notice_under_its_id_a_conflict() -> Result<()> {
    let mut s = setup()?;
    let kr = s.fed.start(KR).await?;
    let roster = kr.roster();
    let client = s.endpoint_as(FILMCO, None)?;
    let conn = client.connect(s.addr(KR)?, &org(KR)).await?;
    // Two notices under one id: sealed from one seed at one time.
    let first = s.seal(FILMCO, referral(&[KR], Tlp::Amber), 7)?;
    let squatter = s.seal(FILMCO, referral(&[KR], Tlp::Amber).case_ref("SOP-2"), 7)?;
    ensure!(first.notice().id() == squatter.notice().id());
    ensure!(first.digest() != squatter.digest());

    let [accepted] =
        &deliver_batch(&conn, KR, &roster, vec![delivery(&roster, &first, KR)?]).await?[..]
    else {
        bail!("one receipt");
    };
    let ReceiptOutcome::Accepted(at) = accepted.outcome() else {
        bail!("accepted: {accepted:?}");
    };
    // The same notice again: its original index, and the fields held.
    let [dup] = &deliver_batch(&conn, KR, &roster, vec![delivery(&roster, &first, KR)?]).await?[..]
    else {
        bail!("one receipt");
    };
    ensure!(dup.outcome() == &ReceiptOutcome::Duplicate(*at), "{dup:?}");
    ensure!(dup.disclosure_digests() == accepted.disclosure_digests());
    // Another notice under its id: refused, naming the holder, and logged.
    let size = kr.store().size();
    let [conflict] =
        &deliver_batch(&conn, KR, &roster, vec![delivery(&roster, &squatter, KR)?]).await?[..]
    else {
        bail!("one receipt");
    };
    let ReceiptOutcome::Rejected {
        code,
        reason,
        logged: Some(logged),
    } = conflict.outcome()
    else {
        bail!("a logged rejection: {conflict:?}");
    };
    ensure!(*code == pb::RejectReason::IdConflict, "{code:?}");
    ensure!(reason.contains(&hex::encode(first.digest())), "{reason}");
    ensure!(logged.0 == size, "logged at {logged}, the log was {size}");
    ensure!(kr.store().find_notice(&first.notice().id())? == Some(*at));
    // Both in one batch: refused whole.
    let both = vec![
        delivery(&roster, &first, KR)?,
        delivery(&roster, &squatter, KR)?,
    ];
    let err = deliver_batch(&conn, KR, &roster, both).await.unwrap_err();
    ensure!(err.to_string().contains("twice"), "{err}");
    kr.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_receipt_for_something_else_is_a_failed_attempt() -> Result<()> {
    let mut s = setup()?;
    // A KR-KNPA that signs receipts for another notice than it was sent.
    let impostor = s.endpoint_as(KR, Some(s.addr(KR)?))?;
    let kr_signer = Arc::new(signer(&s.fed, KR)?);
    let filmco = s.fed.start(FILMCO).await?;
    let impostor = Arc::new(impostor);
    let serving = impostor.clone();
    tokio::spawn(async move {
        while let Some(incoming) = serving.accept().await {
            let Ok(conn) = incoming.admit().await else {
                continue;
            };
            let kr_signer = kr_signer.clone();
            tokio::spawn(async move {
                while let Some(request) = conn.next_request().await {
                    let Ok(request) = request.read().await else {
                        continue;
                    };
                    let answer = match &request.frame.kind {
                        Some(pb::frame::Kind::DeliverBatch(batch)) => {
                            misdirected_receipts(batch, &kr_signer)
                        }
                        _ => isop_net::error_frame(pb::ErrorCode::Unexpected, "not served here"),
                    };
                    let _ = request.respond(&answer).await;
                }
            });
        }
    });
    let sent = filmco.send(referral(&[KR], Tlp::Amber)).await?;
    let (_, last_error) = first_failure(&filmco, sent.index, KR).await?;
    ensure!(
        last_error.contains("receipt 0 is for something other"),
        "{last_error}"
    );
    // The impostor goes; the real KR-KNPA takes the notice once it is due.
    impostor.close();
    let kr = s.fed.start(KR).await?;
    s.clock.advance(1_000);
    filmco.kick();
    delivered_to_kr(filmco, kr, &sent).await
}

/// Receipts, signed by `signer`, for each item of `batch`: its id, but
/// another digest.
fn misdirected_receipts(batch: &pb::DeliverBatch, signer: &Signer) -> pb::Frame {
    let drafts: Vec<ReceiptDraft> = batch
        .items
        .iter()
        .map(|d| ReceiptDraft {
            notice_id: d.envelope.as_ref().and_then(|e| Sent::of(e).id),
            notice_digest: Some([9; 32]),
            disclosure_digests: Vec::new(),
            received_at: now(),
            outcome: ReceiptOutcome::Accepted(LogIndex(1)),
        })
        .collect();
    match ReceiptDraft::sign_list(&drafts, signer) {
        Ok(env) => pb::Frame {
            roster_version: 0,
            kind: Some(pb::frame::Kind::ReceiptBatch(pb::ReceiptBatch {
                receipts: Some(env),
            })),
        },
        Err(e) => isop_net::error_frame(pb::ErrorCode::Internal, e.to_string()),
    }
}

/// Waits until the delivery of entry `index` to `to` is given up; its
/// reason.
async fn given_up(node: &Node, index: LogIndex, to: &str) -> Result<String> {
    node.wait_until("given up", WAIT, |n| {
        matches!(status_of(n, index, to), DeliveryStatus::Failed { .. })
    })
    .await?;
    match status_of(node, index, to) {
        DeliveryStatus::Failed { reason, .. } => Ok(reason),
        other => bail!("failed: {other:?}"),
    }
}

#[tokio::test]
async fn a_delivery_that_can_never_succeed_is_given_up_and_accounted_for() -> Result<()> {
    let mut s = setup()?;
    let filmco = s.fed.start(FILMCO).await?;
    // KR-KNPA stays down for longer than any receiver takes a notice: the
    // delivery is given up, with its reason, and leaves the outbox.
    let sent = filmco.send(referral(&[KR], Tlp::Amber)).await?;
    first_failure(&filmco, sent.index, KR).await?;
    s.clock.advance(Judgement::DEFAULT_MAX_AGE_MS + 1);
    filmco.kick();
    let reason = given_up(&filmco, sent.index, KR).await?;
    ensure!(reason.contains("30 days old"), "{reason}");
    ensure!(filmco.store().outbox_for(&org(KR))?.is_empty());

    // A recipient revoked from the roster can never receive: given up at
    // the next attempt, without waiting for the notice to age.
    let to_gb = filmco.send(referral(&[GB], Tlp::Amber)).await?;
    first_failure(&filmco, to_gb.index, GB).await?;
    let revoked = RosterBuilder::from_pb(s.fed.roster.clone())
        .version(2, s.clock.now())
        .revoke_member(&org(GB), s.clock.now())?
        .build()?;
    filmco.update_roster(&s.fed.sign(&revoked)?)?;
    s.clock.advance(60_000);
    filmco.kick();
    let reason = given_up(&filmco, to_gb.index, GB).await?;
    ensure!(
        reason.contains(GB) && reason.contains("never receive"),
        "{reason}"
    );

    // The log accounts for both: an auditor counts them given up, and
    // finds nothing missing.
    let mut export = Vec::new();
    filmco.export(&mut export, &filmco.roster().clearance(filmco.org())?)?;
    let report = isop_audit::verify(
        export.as_slice(),
        &isop_audit::VerifyOptions::new(s.fed.roster_key()),
        None,
    )?;
    ensure!(report.failed == 2, "{report:?}");
    ensure!(report.is_clean(), "{:?}", report.findings);
    filmco.shutdown().await?;
    Ok(())
}
