//! Multi-node scenarios: real nodes, real QUIC and certificates on loopback.

use anyhow::{Context, Result, ensure};
use isop_core::*;
use isop_federation_tests::*;
use isop_node::Node;
use isop_store::{DeliveryStatus, DisclosureState};
use prost::Message;

/// The held disclosures of the notice `id` in `node`'s log, by path.
fn held_paths(node: &Node, id: &NoticeId) -> Result<Vec<String>> {
    let at = node
        .store()
        .find_notice(id)?
        .context("notice not in the log")?;
    let mut paths = Vec::new();
    for d in node.store().disclosures_of(at)? {
        if let Some(DisclosureState::Held(b)) = d.state {
            paths.push(pb::Disclosure::decode(b)?.path);
        }
    }
    paths.sort();
    Ok(paths)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_reaches_two_agencies_redacted_with_verified_receipts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let hub = fed.start(HUB).await?;
    let kr = fed.start(KR).await?;
    let gb = fed.start(GB).await?;
    let filmco = fed.start(FILMCO).await?;

    let sent = filmco.send(referral(&[KR, GB, HUB], Tlp::Amber)).await?;
    filmco
        .wait_until("three receipts", STEP, |n| {
            [KR, GB, HUB].iter().all(|o| delivered(n, sent.index, o))
        })
        .await?;

    // Each recipient holds what its clearance allows, and no more.
    assert_eq!(
        held_paths(&kr, &sent.id)?,
        ["referral.contact", "referral.evidence[0].location"]
    );
    assert_eq!(
        held_paths(&gb, &sent.id)?,
        ["referral.contact"],
        "the other country's agency gets a redacted copy"
    );
    assert_eq!(
        held_paths(&hub, &sent.id)?,
        ["referral.contact", "referral.internal_ref"]
    );
    assert_eq!(kr.store().inbox(true)?.len(), 1);
    assert_eq!(kr.store().by_indicator("streamz.example")?.len(), 1);

    // The sender holds one signed receipt per recipient, and each verifies.
    let roster = filmco.roster();
    let mut receipts = 0;
    for r in filmco
        .store()
        .entries(LogIndex(0), LogIndex(filmco.store().size()))
    {
        let (_, bytes) = r?;
        let e = pb::LogEntry::decode(bytes)?;
        if let Some(pb::log_entry::Record::Envelope(env)) = e.record {
            let env = pb::Envelope::decode(env)?;
            // Each recipient answers its batch with one signed list.
            if env.payload_type == RECEIPTS_PAYLOAD_TYPE {
                let list = SignedReceipts::verify(&env, &roster, Judgement::AtCreation)?;
                let [receipt] = list.receipts() else {
                    anyhow::bail!("a list of {} receipts", list.receipts().len())
                };
                assert_eq!(receipt.notice_id(), Some(sent.id));
                assert!(matches!(receipt.outcome(), ReceiptOutcome::Accepted(_)));
                receipts += 1;
            }
        }
    }
    assert_eq!(receipts, 3);
    assert!(filmco.store().outbox()?.is_empty());

    // The same notice again is answered DUPLICATE with the original index.
    let raw = raw_client(&fed, FILMCO, None, None)?;
    let conn = raw.connect(kr.local_addr()?, &org(KR)).await?;
    let outbound = filmco
        .store()
        .log_entry(sent.index)?
        .context("outbound entry")?;
    let Some(pb::log_entry::Record::Envelope(env)) = outbound.record else {
        anyhow::bail!("not an envelope")
    };
    let receipt = deliver(&conn, pb::Envelope::decode(env)?, vec![]).await?;
    assert_eq!(receipt.status, pb::ReceiptStatus::Duplicate as i32);
    assert_eq!(
        Some(LogIndex(receipt.log_index)),
        kr.store().find_notice(&sent.id)?
    );
    assert_eq!(
        kr.store().inbox(false)?.len(),
        1,
        "a duplicate is not appended again"
    );

    // Checkpoints are witnessed and cosigned on both sides.
    let w = hub.witness(&org(KR)).await?;
    assert_eq!(
        w.size + 1,
        kr.store().size(),
        "KR logged the cosigned checkpoint after it"
    );
    assert_eq!(
        kr.store()
            .latest_checkpoint()?
            .context("checkpoint")?
            .signatures()
            .len(),
        2
    );
    let again = hub.witness(&org(KR)).await?;
    assert!(
        again.consistent_with.is_some(),
        "the second witnessing proves consistency with the first"
    );

    for n in [hub, kr, gb, filmco] {
        n.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_that_was_down_gets_everything_after_it_restarts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let hub = fed.start(HUB).await?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;

    // GB is down: KR gets its copies, GB's wait in FILMCO's durable outbox.
    let mut sent = Vec::new();
    for _ in 0..5 {
        sent.push(filmco.send(referral(&[KR, GB], Tlp::Green)).await?);
    }
    let retried = |n: &Node| {
        sent.iter().all(|s| delivered(n, s.index, KR) && matches!(status_of(n, s.index, GB), DeliveryStatus::Pending { attempts, .. } if attempts >= 1))
    };
    filmco
        .wait_until("KR delivered, GB retried", STEP, retried)
        .await?;

    // The sender restarts too: its outbox resumes from disk.
    filmco.shutdown().await?;
    let filmco = fed.start(FILMCO).await?;
    let gb = fed.start(GB).await?;
    filmco
        .wait_until("GB delivered", STEP, |n| {
            sent.iter().all(|s| delivered(n, s.index, GB))
        })
        .await?;
    for s in &sent {
        ensure!(
            gb.store().find_notice(&s.id)?.is_some(),
            "GB lacks {}",
            s.id
        );
    }
    assert!(filmco.store().outbox()?.is_empty());

    // Sync: GB pulls from FILMCO and finds nothing new, every notice is held once.
    assert_eq!(gb.sync_with(&org(FILMCO)).await?, 0);
    assert_eq!(gb.store().inbox(false)?.len(), 5);

    for n in [hub, kr, gb, filmco] {
        n.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_update_propagates_and_a_revoked_key_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let hub = fed.start(HUB).await?;
    let kr = fed.start(KR).await?;
    let gb = fed.start(GB).await?;
    let filmco = fed.start(FILMCO).await?;

    // The authority revokes FILMCO's key; the hub takes the new roster and passes it on.
    let now = now();
    let v2 = RosterBuilder::from_pb(fed.roster.clone())
        .version(2, now)
        .revoke_key(
            &org(FILMCO),
            &"k1".parse()?,
            UnixMillis(now.0 - 1000),
            "key leaked",
        )?
        .revoke_member(&org(SPORTS), UnixMillis(now.0 - 1000))?
        .build()?;
    hub.update_roster(&fed.sign(&v2)?)?;
    for n in [&kr, &gb, &filmco] {
        n.wait_until("roster v2", STEP, |n| n.roster().version() == 2)
            .await?;
    }
    // Every node that takes it up passes it on, so it arrives again where
    // it is held: acknowledged as held, not refused as stale (a federation
    // of 200 spent most of a roster update refusing these).
    let again = raw_client(&fed, KR, None, None)?
        .connect(fed.member(GB)?.addr, &org(GB))
        .await?
        .request(&pb::Frame {
            roster_version: 2,
            kind: Some(pb::frame::Kind::RosterPush(pb::RosterPush {
                roster: Some(gb.roster_envelope()),
            })),
        })
        .await?;
    ensure!(
        matches!(again.kind, Some(pb::frame::Kind::Ack(_))),
        "the roster in force, pushed again: {again:?}"
    );
    // An older roster is refused.
    assert!(kr.update_roster(&fed.sign(&fed.roster)?).is_err());
    // A revoked org is refused at the door, by name.
    let reason = refusal(&raw_client(&fed, SPORTS, None, None)?, &kr).await;
    assert!(reason.contains("org RH-SPORTSNET is revoked"), "{reason}");

    // FilmCo's node refuses to send with its revoked key: nothing it signs
    // could be delivered.
    let refused = filmco
        .send(referral(&[KR], Tlp::Amber))
        .await
        .expect_err("a revoked key cannot send");
    assert!(
        refused.to_string().contains("RH-FILMCO/k1") && refused.to_string().contains("revoked"),
        "{refused}"
    );
    assert_eq!(refused.fault(), isop_node::Fault::Forbidden);
    // A notice signed with it anyway, sent by hand, is refused by the
    // receiver, which signs and logs the rejection naming the reason.
    let sealed = referral(&[KR], Tlp::Amber).seal(
        &signer(&fed, FILMCO)?,
        isop_node::now(),
        &mut rand::rngs::OsRng,
    )?;
    let delivery = sealed.delivery_for(&kr.roster().clearance(&org(KR))?);
    let conn = raw_client(&fed, FILMCO, None, None)?
        .connect(fed.member(KR)?.addr, &org(KR))
        .await?;
    let size = kr.store().size();
    let receipt = deliver(&conn, delivery.envelope, delivery.disclosures).await?;
    assert_eq!(
        receipt.status,
        pb::ReceiptStatus::Rejected as i32,
        "{receipt:?}"
    );
    assert_eq!(receipt.reason_code, pb::RejectReason::KeyInvalid as i32);
    assert!(receipt.reason.contains("revoked"), "{}", receipt.reason);
    assert!(
        kr.store().find_notice(&sealed.notice().id())?.is_none(),
        "a rejected notice is not appended as a delivery"
    );
    assert!(kr.store().inbox(false)?.is_empty());
    assert_eq!(
        kr.store().size(),
        size + 1,
        "only the signed rejection is logged"
    );

    for n in [hub, kr, gb, filmco] {
        n.shutdown().await?;
    }
    Ok(())
}

/// The reason a node gives when it closes a raw client's connection.
async fn refusal(client: &isop_net::Endpoint, node: &Node) -> String {
    match client
        .connect(node.local_addr().expect("address"), node.org())
        .await
    {
        Err(e) => e.to_string(),
        Ok(conn) => conn.closed().await.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intruders_and_rule_breakers_are_refused_with_named_reasons() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let gb = fed.start(GB).await?;
    let year = 365 * 86_400_000u64;
    let now = now();

    // A client certificate from another CA: the TLS handshake fails.
    let rogue_ca =
        isop_net::pki::generate_ca("rogue", UnixMillis(now.0 - year), UnixMillis(now.0 + year))?;
    let key = isop_net::pki::generate_tls_key()?;
    let cert = isop_net::pki::issue(
        &rogue_ca,
        &org(FILMCO),
        &key,
        UnixMillis(now.0 - year),
        UnixMillis(now.0 + year),
    )?;
    let client = raw_client(&fed, FILMCO, Some((&cert, &key)), None)?;
    let reason = refusal(&client, &kr).await;
    ensure!(!reason.is_empty(), "no refusal");

    // An org missing from the roster.
    let key = isop_net::pki::generate_tls_key()?;
    let cert = isop_net::pki::issue(
        &fed.ca,
        &org("XX-STRANGER"),
        &key,
        UnixMillis(now.0 - year),
        UnixMillis(now.0 + year),
    )?;
    let reason = refusal(&raw_client(&fed, FILMCO, Some((&cert, &key)), None)?, &kr).await;
    assert!(
        reason.contains("org XX-STRANGER is not in the roster"),
        "{reason}"
    );

    // A member's name on a key the roster does not pin.
    let key = isop_net::pki::generate_tls_key()?;
    let cert = isop_net::pki::issue(
        &fed.ca,
        &org(FILMCO),
        &key,
        UnixMillis(now.0 - year),
        UnixMillis(now.0 + year),
    )?;
    let reason = refusal(&raw_client(&fed, FILMCO, Some((&cert, &key)), None)?, &kr).await;
    assert!(reason.contains("does not match the roster pin"), "{reason}");

    // A partner sending an IntelReport.
    let filmco = signer(&fed, FILMCO)?;
    let intel = intel_to(KR).seal(&filmco, now, &mut rand::rngs::OsRng)?;
    let as_filmco = raw_client(&fed, FILMCO, None, None)?;
    let to_kr = as_filmco.connect(kr.local_addr()?, &org(KR)).await?;
    let r = deliver(&to_kr, intel.envelope().clone(), vec![]).await?;
    assert_eq!(
        r.reason_code,
        pb::RejectReason::Policy as i32,
        "{}",
        r.reason
    );
    assert!(r.reason.contains("policy forbids"), "{}", r.reason);

    // A RED notice, delivered to KR, then forwarded by KR to GB.
    let red = referral(&[KR], Tlp::Red).seal(&filmco, now, &mut rand::rngs::OsRng)?;
    let r = deliver(&to_kr, red.envelope().clone(), vec![]).await?;
    assert_eq!(r.status, pb::ReceiptStatus::Accepted as i32, "{}", r.reason);
    let as_kr = raw_client(&fed, KR, None, None)?;
    let to_gb = as_kr.connect(gb.local_addr()?, &org(GB)).await?;
    let r = deliver(&to_gb, red.envelope().clone(), vec![]).await?;
    assert_eq!(r.reason_code, pb::RejectReason::Tlp as i32, "{}", r.reason);
    assert!(r.reason.contains("TLP:RED"), "{}", r.reason);

    // A notice claiming another author, and a bad signature.
    let mut forged = referral(&[GB], Tlp::Amber)
        .seal(&filmco, now, &mut rand::rngs::OsRng)?
        .envelope()
        .clone();
    forged.signatures[0].sig = signer(&fed, SPORTS)?
        .sign(&pae(&forged.payload_type, &forged.payload))
        .to_bytes()
        .to_vec()
        .into();
    let r = deliver(&to_gb, forged, vec![]).await?;
    assert_eq!(
        r.reason_code,
        pb::RejectReason::BadSignature as i32,
        "{}",
        r.reason
    );
    let impostor = Signer::new("RH-FILMCO/k1".parse()?, stranger_key());
    let r = deliver(
        &to_gb,
        referral(&[GB], Tlp::Amber)
            .seal(&impostor, now, &mut rand::rngs::OsRng)?
            .envelope()
            .clone(),
        vec![],
    )
    .await?;
    assert_eq!(
        r.reason_code,
        pb::RejectReason::BadSignature as i32,
        "{}",
        r.reason
    );

    // None of it reached an inbox; every refusal is logged.
    assert_eq!(
        kr.store().inbox(false)?.len(),
        1,
        "only the RED notice addressed to KR"
    );
    assert!(gb.store().inbox(false)?.is_empty());
    assert!(gb.store().size() >= 3, "the refusals are logged");

    kr.shutdown().await?;
    gb.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_view_is_caught_and_kept_as_evidence() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let hub = fed.start(HUB).await?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    for _ in 0..3 {
        let s = filmco.send(referral(&[KR], Tlp::Amber)).await?;
        filmco
            .wait_until("delivered", STEP, |n| delivered(n, s.index, KR))
            .await?;
    }
    let first = hub.witness(&org(KR)).await?;
    assert!(first.size >= 3);

    // KR's log is replaced by another history (as a node showing different
    // logs to different peers would look to one of them).
    kr.shutdown().await?;
    std::fs::remove_dir_all(&fed.member(KR)?.config.data_dir)?;
    let kr = fed.start(KR).await?;
    let s = filmco.send(referral(&[KR], Tlp::Amber)).await?;
    filmco
        .wait_until("delivered", STEP, |n| delivered(n, s.index, KR))
        .await?;

    let before = hub.store().size();
    let e = hub
        .witness(&org(KR))
        .await
        .expect_err("an inconsistent checkpoint must not be cosigned");
    assert!(e.to_string().contains("inconsistent checkpoints"), "{e}");
    assert_eq!(hub.inconsistencies(), 1);
    // Both checkpoints are kept in the hub's log as evidence.
    let evidence: Vec<_> = hub
        .store()
        .entries(LogIndex(before), LogIndex(hub.store().size()))
        .filter_map(|r| r.ok())
        .filter_map(|(_, b)| pb::LogEntry::decode(b).ok())
        .filter(|e| {
            e.peer == KR && matches!(e.record, Some(pb::log_entry::Record::CosignedCheckpoint(_)))
        })
        .collect();
    assert_eq!(evidence.len(), 2);

    for n in [hub, kr, filmco] {
        n.shutdown().await?;
    }
    Ok(())
}

/// Concurrent single deliveries from two partners are received together
/// (one batch signature check per sender and one group commit); each is
/// still answered with its own signed receipt, for its own notice, with its
/// own outcome, and a bad signature among them refuses only its notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_single_deliveries_each_get_their_own_receipt() -> Result<()> {
    logs();
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let mut clients = Vec::new();
    let mut sent = Vec::new();
    for partner in [FILMCO, SPORTS] {
        let client = raw_client(&fed, partner, None, None)?;
        let conn = client.connect(kr.local_addr()?, &org(KR)).await?;
        let signer = signer(&fed, partner)?;
        for i in 0..40 {
            let sealed =
                referral(&[KR], Tlp::Amber).seal(&signer, now(), &mut rand::rngs::OsRng)?;
            let mut env = sealed.envelope().clone();
            let forged = i % 10 == 9;
            if forged {
                let mut sig = env.signatures[0].sig.to_vec();
                sig[5] ^= 1;
                env.signatures[0].sig = sig.into();
            }
            sent.push((conn.clone(), sealed.notice().id(), env, forged));
        }
        clients.push(client);
    }
    let burst = |sent: &[(isop_net::PeerConnection, NoticeId, pb::Envelope, bool)]| {
        let mut requests = tokio::task::JoinSet::new();
        for (conn, id, env, forged) in sent.iter().cloned() {
            requests.spawn(async move {
                let receipt = deliver(&conn, env, vec![]).await?;
                anyhow::Ok((id, forged, receipt))
            });
        }
        requests
    };
    let mut first = std::collections::HashMap::new();
    let mut requests = burst(&sent);
    while let Some(answer) = requests.join_next().await {
        let (id, forged, r) = answer??;
        let named = NoticeId::from_slice(&r.notice_id)?;
        ensure!(named == id, "the receipt for {id} names {named}");
        if forged {
            ensure!(
                r.status == pb::ReceiptStatus::Rejected as i32
                    && r.reason_code == pb::RejectReason::BadSignature as i32,
                "a forged signature was answered {r:?}"
            );
        } else {
            ensure!(r.status == pb::ReceiptStatus::Accepted as i32, "{r:?}");
            first.insert(id, r.log_index);
        }
    }
    assert_eq!(first.len(), 72);
    assert_eq!(kr.store().inbox(false)?.len(), 72);
    // The same burst again: each accepted notice is a duplicate at its own
    // original index.
    let mut requests = burst(&sent);
    while let Some(answer) = requests.join_next().await {
        let (id, forged, r) = answer??;
        if !forged {
            ensure!(r.status == pb::ReceiptStatus::Duplicate as i32, "{r:?}");
            ensure!(Some(&r.log_index) == first.get(&id), "{id} moved");
        }
    }
    assert_eq!(kr.store().inbox(false)?.len(), 72);
    kr.shutdown().await?;
    Ok(())
}
