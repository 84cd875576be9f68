//! Trust under adversarial members: each attack a member could try with
//! what the protocol allows, run against real nodes on loopback, and
//! refused by name without harm to anyone else's record.

use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use bytes::Bytes;
use isop_core::*;
use isop_federation_tests::*;
use isop_net::PeerConnection;
use isop_node::Node;
use isop_store::DeliveryStatus;
use prost::Message;

/// `draft` sealed by `signer`, then given the id `id` and signed again:
/// a member's own notice under someone else's notice id, with the
/// disclosures `node`'s org is cleared for (they still match the
/// commitments).
fn under_id(
    draft: NoticeDraft,
    signer: &Signer,
    id: NoticeId,
    node: &Node,
) -> Result<(pb::Envelope, Vec<Bytes>)> {
    let sealed = draft.seal(signer, now(), &mut rand::rngs::OsRng)?;
    let mut n = pb::Notice::decode(sealed.envelope().payload.clone())?;
    n.id = Bytes::copy_from_slice(id.as_bytes());
    let env = sign_envelope(signer, NOTICE_PAYLOAD_TYPE, n.encode_to_vec().into());
    Ok((env, delivery(node, &sealed, node.org().as_str())?.1))
}

/// A sealed notice's delivery to `to`: its envelope and the disclosures
/// `to` is cleared for.
fn delivery(node: &Node, sealed: &SealedNotice, to: &str) -> Result<(pb::Envelope, Vec<Bytes>)> {
    let clearance = node.roster().clearance(&org(to))?;
    let d = sealed.delivery_for(&clearance);
    Ok((d.envelope, d.disclosures))
}

/// A raw connection of member `as_org` to `node`, to send what a
/// well-behaved node never would.
async fn connect_as(
    fed: &isop_authority::LocalFederation,
    as_org: &str,
    node: &Node,
) -> Result<PeerConnection> {
    Ok(raw_client(fed, as_org, None, None)?
        .connect(node.local_addr()?, node.org())
        .await?)
}

fn seal(draft: NoticeDraft, signer: &Signer) -> Result<SealedNotice> {
    Ok(draft.seal(signer, now(), &mut rand::rngs::OsRng)?)
}

fn rejected(r: &pb::Receipt, code: pb::RejectReason, text: &str) -> Result<()> {
    ensure!(
        r.status == pb::ReceiptStatus::Rejected as i32 && r.reason_code == code as i32,
        "expected {} naming {text:?}, got {r:?}",
        code.as_str_name()
    );
    ensure!(
        r.reason.contains(text),
        "reason {:?} lacks {text:?}",
        r.reason
    );
    Ok(())
}

fn accepted(r: &pb::Receipt) -> Result<()> {
    ensure!(
        r.status == pb::ReceiptStatus::Accepted as i32,
        "expected ACCEPTED, got {r:?}"
    );
    Ok(())
}

/// The inbound entries of `node`'s log whose notice payload has `digest`.
fn inbound_with_digest(node: &Node, digest: &[u8; 32]) -> Result<usize> {
    let mut n = 0;
    for r in node
        .store()
        .entries(LogIndex(0), LogIndex(node.store().size()))
    {
        let (_, bytes) = r?;
        let e = pb::LogEntry::decode(bytes)?;
        if let Some(pb::log_entry::Record::Envelope(env)) = e.record {
            let env = pb::Envelope::decode(env)?;
            if env.payload_type == NOTICE_PAYLOAD_TYPE && sha256(&env.payload) == *digest {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// One line of a node's Prometheus text, by its prefix; 0 if absent.
async fn metric(node: &Node, fed: &isop_authority::LocalFederation, line: &str) -> Result<f64> {
    let token = std::fs::read_to_string(
        fed.member(node.org().as_str())?
            .config
            .api
            .as_ref()
            .context("api")?
            .token_file
            .clone(),
    )?;
    let addr = node.api_addr().context("api address")?;
    let text = isop_api::http_client()?
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(token.trim())
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find(|l| l.starts_with(line))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_squatted_notice_id_is_refused_as_id_conflict_and_never_receipted_as_held() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = signer(&fed, FILMCO)?;
    let gb = signer(&fed, GB)?;
    let endpoint = raw_client(&fed, FILMCO, None, None)?;
    let as_filmco = endpoint.connect(kr.local_addr()?, &org(KR)).await?;
    let as_gb = connect_as(&fed, GB, &kr).await?;

    // FilmCo's referral to KR and GB: GB, a co-recipient, learns its id
    // and reaches KR first with a notice of its own under that id.
    let genuine = seal(referral(&[KR, GB], Tlp::Amber), &filmco)?;
    let id = genuine.notice().id();
    let genuine_digest = sha256(&genuine.envelope().payload);
    let (squat, squat_ds) = under_id(referral(&[KR], Tlp::Amber), &gb, id, &kr)?;
    assert!(!squat_ds.is_empty());
    let squat_digest = sha256(&squat.payload);
    accepted(&deliver(&as_gb, squat.clone(), squat_ds.clone()).await?)?;
    let held_at = kr
        .store()
        .find_notice(&id)?
        .context("the squat is logged")?;

    // The genuine delivery: refused as ID_CONFLICT, naming both authors,
    // with the genuine id and digest so that FilmCo can link it.
    let size = kr.store().size();
    let (env, ds) = delivery(&kr, &genuine, KR)?;
    let r = deliver(&as_filmco, env.clone(), ds.clone()).await?;
    rejected(&r, pb::RejectReason::IdConflict, "GB-PIPCU")?;
    ensure!(r.reason.contains("RH-FILMCO"), "{}", r.reason);
    assert_eq!(r.notice_id.as_ref(), id.as_bytes());
    assert_eq!(r.notice_digest.as_ref(), genuine_digest);
    // Nothing of it stored: one new entry, the logged rejection.
    assert_eq!(kr.store().size(), size + 1);
    assert_eq!(inbound_with_digest(&kr, &genuine_digest)?, 0);
    assert_eq!(kr.store().find_notice(&id)?, Some(held_at));
    assert_eq!(kr.store().inbox(false)?.len(), 1);
    ensure!(
        metric(
            &kr,
            &fed,
            "isop_rejections_total{reason=\"REJECT_REASON_ID_CONFLICT\"}"
        )
        .await?
            >= 1.0,
        "the id conflict is counted"
    );

    // Again, as a batch: the same verdict.
    let answer = deliver_batch(&as_filmco, vec![(env, ds)])
        .await?
        .map_err(anyhow::Error::msg)?;
    rejected(&answer[0], pb::RejectReason::IdConflict, "GB-PIPCU")?;

    // A DUPLICATE names what the log holds at the original index, never
    // what the incoming copy carries: GB resends its own notice bare.
    let r = deliver(&as_gb, squat, vec![]).await?;
    assert_eq!(r.status, pb::ReceiptStatus::Duplicate as i32);
    assert_eq!(r.log_index, held_at.0);
    assert_eq!(r.notice_digest.as_ref(), squat_digest);
    let held: Vec<[u8; 32]> = squat_ds.iter().map(|d| sha256(d)).collect();
    let named: Vec<&[u8]> = r.disclosure_digests.iter().map(|d| d.as_ref()).collect();
    assert_eq!(named, held.iter().map(|d| d.as_slice()).collect::<Vec<_>>());

    // Other traffic is unaffected.
    let other = seal(referral(&[KR], Tlp::Amber), &filmco)?;
    let (env, ds) = delivery(&kr, &other, KR)?;
    accepted(&deliver(&as_filmco, env, ds).await?)?;
    kr.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_genuine_author_sees_an_id_conflict_as_a_failed_delivery() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    // FilmCo retries an hour after a failed attempt.
    let delivery = &mut fed.member_mut(FILMCO)?.config.delivery;
    delivery.initial_backoff_ms = 3_600_000;
    delivery.max_backoff_ms = 3_600_000;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    // KR is down when FilmCo sends.
    let kr_addr = kr.local_addr()?;
    kr.shutdown().await?;
    let sent = filmco.send(referral(&[KR, GB], Tlp::Amber)).await?;
    filmco
        .wait_until("a failed attempt", STEP, |n| {
            matches!(status_of(n, sent.index, KR), DeliveryStatus::Pending { attempts, .. } if attempts >= 1)
        })
        .await?;
    // FilmCo's retry is held back (by its backoff) while GB squats the id
    // at the restarted KR.
    let kr = fed.start(KR).await?;
    assert_eq!(kr.local_addr()?, kr_addr);
    let gb = signer(&fed, GB)?;
    let (squat, ds) = under_id(intel_to(KR), &gb, sent.id, &kr)?;
    let as_gb = connect_as(&fed, GB, &kr).await?;
    accepted(&deliver(&as_gb, squat, ds).await?)?;

    // Two hours on, by FilmCo's clock, the retry is due.
    filmco.clock().set_offset(2 * 3_600_000);
    filmco.kick();
    filmco
        .wait_until("KR's answer", STEP, |n| {
            matches!(
                status_of(n, sent.index, KR),
                DeliveryStatus::Rejected { .. }
            )
        })
        .await?;
    // The rejection is logged at FilmCo with its reason; not a delivery.
    let DeliveryStatus::Rejected { receipt } = status_of(&filmco, sent.index, KR) else {
        bail!("not rejected")
    };
    let entry = filmco
        .store()
        .log_entry(receipt)?
        .context("receipt entry")?;
    let Some(pb::log_entry::Record::Envelope(env)) = entry.record else {
        bail!("not an envelope")
    };
    let list = SignedReceipts::verify(
        &pb::Envelope::decode(env)?,
        &filmco.roster(),
        Judgement::AtCreation,
    )?;
    ensure!(
        list.receipts().iter().any(|r| matches!(
            r.outcome(),
            ReceiptOutcome::Rejected {
                code: pb::RejectReason::IdConflict,
                ..
            }
        )),
        "FilmCo holds KR's ID_CONFLICT rejection"
    );
    for n in [kr, filmco] {
        n.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_cannot_ride_on_a_decoy_in_a_batch() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = signer(&fed, FILMCO)?;
    let sports = signer(&fed, SPORTS)?;
    let as_filmco = connect_as(&fed, FILMCO, &kr).await?;
    let as_sports = connect_as(&fed, SPORTS, &kr).await?;

    // FilmCo's referral, held by KR.
    let target = seal(referral(&[KR], Tlp::Amber), &filmco)?;
    let (env, ds) = delivery(&kr, &target, KR)?;
    accepted(&deliver(&as_filmco, env, ds).await?)?;
    let id = target.notice().id();

    // SportsNet answers FilmCo's referral three ways; each is refused
    // alone, and the same inside a batch behind a decoy that reuses the
    // referral's id (a referral of SportsNet's own under it).
    let replies = [
        (
            "retraction",
            NoticeDraft::new(
                Tlp::Amber,
                RetractionBuilder::new(id, pb::RetractionScope::Withdraw, "withdrawn").build(),
            ),
            "retraction must be by the author",
        ),
        (
            "status update",
            NoticeDraft::new(
                Tlp::Amber,
                StatusUpdateBuilder::new(id, pb::ReferralStatus::Closed).build(),
            )
            .in_reply_to(id),
            "referral of the sender's own",
        ),
        (
            "case message",
            NoticeDraft::new(
                Tlp::Amber,
                CaseMessageBuilder::new(pb::CaseAction::Message)
                    .text("taking this over")
                    .build(),
            )
            .case_ref("SOP-1")
            .in_reply_to(id),
            "referral of the sender's own",
        ),
    ];
    for (what, draft, why) in replies {
        let draft = draft.to_org(&org(KR));
        let alone = seal(draft.clone(), &sports)?;
        let r = deliver(&as_sports, alone.envelope().clone(), vec![]).await?;
        rejected(&r, pb::RejectReason::Policy, why).context(format!("{what} alone"))?;

        let decoy = under_id(referral(&[KR], Tlp::Amber), &sports, id, &kr)?;
        let reply = seal(draft, &sports)?;
        let size = kr.store().size();
        let answer = deliver_batch(&as_sports, vec![decoy, (reply.envelope().clone(), vec![])])
            .await?
            .map_err(anyhow::Error::msg)?;
        rejected(&answer[0], pb::RejectReason::IdConflict, "RH-FILMCO")
            .context(format!("{what}: the decoy"))?;
        rejected(&answer[1], pb::RejectReason::Policy, why)
            .context(format!("{what} behind a decoy"))?;
        assert_eq!(
            kr.store().size(),
            size + 2,
            "{what}: two logged rejections, nothing else"
        );
    }

    // A batch that carries one id twice is refused whole.
    let twice = seal(referral(&[KR], Tlp::Amber), &sports)?;
    let size = kr.store().size();
    let answer = deliver_batch(
        &as_sports,
        vec![
            (twice.envelope().clone(), vec![]),
            (twice.envelope().clone(), vec![]),
        ],
    )
    .await?;
    let Err(e) = answer else {
        bail!("a batch with one id twice was answered")
    };
    ensure!(
        e.starts_with("ERROR_CODE_MALFORMED") && e.contains("twice"),
        "{e}"
    );
    assert_eq!(kr.store().size(), size);

    // The author's own referral and its retraction in one batch: the
    // retraction rests on the referral accepted just before it.
    let own = seal(referral(&[KR], Tlp::Amber), &filmco)?;
    let retract = seal(
        NoticeDraft::new(
            Tlp::Amber,
            RetractionBuilder::new(
                own.notice().id(),
                pb::RetractionScope::Withdraw,
                "sent in error",
            )
            .build(),
        )
        .to_org(&org(KR)),
        &filmco,
    )?;
    let answer = deliver_batch(
        &as_filmco,
        vec![
            delivery(&kr, &own, KR)?,
            (retract.envelope().clone(), vec![]),
        ],
    )
    .await?
    .map_err(anyhow::Error::msg)?;
    accepted(&answer[0])?;
    accepted(&answer[1])?;
    kr.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_author_may_retract_at_send_too() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let gb = fed.start(GB).await?;
    // GB holds KR's intelligence report, and may not retract it.
    let sent = kr.send(intel_to(GB)).await?;
    gb.wait_until("KR's report", STEP, |n| {
        n.store().find_notice(&sent.id).ok().flatten().is_some()
    })
    .await?;
    let retraction = NoticeDraft::new(
        Tlp::Amber,
        RetractionBuilder::new(sent.id, pb::RetractionScope::Withdraw, "not yours").build(),
    )
    .to_org(&org(KR));
    let e = gb.send(retraction.clone()).await.unwrap_err().to_string();
    ensure!(e.contains("retraction must be by the author"), "{e}");
    // KR may retract its own.
    let r = RetractionBuilder::new(sent.id, pb::RetractionScope::Withdraw, "superseded").build();
    kr.send(NoticeDraft::new(Tlp::Amber, r).to_org(&org(GB)))
        .await?;
    for n in [kr, gb] {
        n.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_from_a_long_outage_arrives_exactly_once_and_an_expired_one_fails() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    kr.shutdown().await?;
    // KR is down while FilmCo sends 20 referrals...
    let mut sent = Vec::new();
    for _ in 0..20 {
        sent.push(filmco.send(referral(&[KR], Tlp::Amber)).await?);
    }
    // ...and comes back two hours later: both clocks have moved on.
    const HOURS_2: i64 = 2 * 3_600_000;
    fed.member(KR)?.config.clock.set_offset(HOURS_2);
    filmco.clock().set_offset(HOURS_2);
    let kr = fed.start(KR).await?;
    filmco.kick();
    filmco
        .wait_until("the backlog delivered", STEP, |n| {
            sent.iter().all(|s| delivered(n, s.index, KR))
        })
        .await?;
    assert_eq!(kr.store().inbox(false)?.len(), 20, "each exactly once");
    for s in &sent {
        ensure!(kr.store().find_notice(&s.id)?.is_some());
    }

    // Past the maximum age, a notice is refused as EXPIRED and leaves the
    // outbox as a failed delivery: never retried. (GB, down since the
    // start, is the recipient that comes back a month later.)
    let old = filmco.send(referral(&[GB], Tlp::Amber)).await?;
    const DAYS_31: i64 = 31 * 86_400_000;
    // (FilmCo's clock stays where it was, or FilmCo would give the
    // notice up itself, as too old for any receiver.)
    fed.member(GB)?.config.clock.set_offset(HOURS_2 + DAYS_31);
    let gb = fed.start(GB).await?;
    filmco.kick();
    filmco
        .wait_until("GB's answer", STEP, |n| {
            matches!(status_of(n, old.index, GB), DeliveryStatus::Rejected { .. })
        })
        .await?;
    ensure!(filmco.store().outbox()?.is_empty(), "not retried");
    ensure!(gb.store().find_notice(&old.id)?.is_none());
    for n in [kr, gb, filmco] {
        n.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_cuts_off_open_connections_and_reaches_a_node_that_was_down() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let as_filmco = raw_client(&fed, FILMCO, None, None)?;
    let open = as_filmco.connect(kr.local_addr()?, &org(KR)).await?;
    let sync = pb::frame::Kind::Sync(pb::Sync {
        cursor: 0,
        limit: 10,
    });
    let request = |kind: pb::frame::Kind| pb::Frame {
        kind: Some(kind),
        roster_version: 0,
    };
    ensure!(matches!(
        open.request(&request(sync.clone())).await?.kind,
        Some(pb::frame::Kind::SyncBatch(_))
    ));

    // The authority revokes FilmCo; KR takes the roster up while GB is
    // down (it has never run).
    let t = now();
    let v2 = RosterBuilder::from_pb(fed.roster.clone())
        .version(2, t)
        .revoke_member(&org(FILMCO), UnixMillis(t.0 - 1_000))?
        .build()?;
    kr.update_roster(&fed.sign(&v2)?)?;

    // FilmCo's open connection is closed at once, with the reason; it can
    // no longer sync (labelled fields included) over it.
    let closed = tokio::time::timeout(STEP, open.closed()).await?;
    ensure!(closed.to_string().contains("revoked"), "{closed}");
    ensure!(open.request(&request(sync.clone())).await.is_err());

    // KR's pushes to the members that are down (the hub, GB, SportsNet)
    // fail. GB then starts from its configured roster, version 1, asks
    // its peers, and takes up version 2 before FilmCo's next request.
    kr.wait_until("the pushes to members that are down failed", STEP, |n| {
        n.roster_push_failures() >= 3
    })
    .await?;
    let gb = fed.start(GB).await?;
    gb.wait_until("roster version 2", STEP, |n| n.roster().version() == 2)
        .await?;
    let refused = match as_filmco.connect(gb.local_addr()?, &org(GB)).await {
        Err(e) => e.to_string(),
        Ok(conn) => match conn.request(&request(sync)).await {
            // The close reason says why.
            Err(_) => conn.closed().await.to_string(),
            Ok(answer) => bail!("GB served the revoked FilmCo: {answer:?}"),
        },
    };
    ensure!(refused.contains("revoked"), "{refused}");
    for n in [kr, gb] {
        n.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cosignature_cannot_plant_a_line_under_another_name_or_use_a_key_not_valid_now()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let gb_signer = signer(&fed, GB)?;
    let hub_signer = signer(&fed, HUB)?;
    let as_gb = connect_as(&fed, GB, &kr).await?;
    let cosign = |note: &SignedNote| pb::Frame {
        kind: Some(pb::frame::Kind::SubmitCosignature(pb::SubmitCosignature {
            note: note.to_bytes().into(),
        })),
        roster_version: 0,
    };

    // GB cosigns KR's checkpoint and adds a line under the hub's name and
    // key hash that does not verify.
    let mut note = kr.store().sign_checkpoint(&kr.signer())?;
    note.add_signature(&gb_signer);
    let name = hub_signer.id().to_string();
    let line = format!(
        "\u{2014} {name} {}\n",
        base64::engine::general_purpose::STANDARD
            .encode([&key_hash(&name, &hub_signer.public())[..], &[7u8; 64]].concat())
    );
    let mut bytes = note.to_bytes();
    bytes.extend_from_slice(line.as_bytes());
    let planted = SignedNote::parse(&bytes)?;
    ensure!(planted.signatures().len() == 3);
    let answer = as_gb.request(&cosign(&planted)).await?;
    ensure!(
        matches!(answer.kind, Some(pb::frame::Kind::Ack(_))),
        "{answer:?}"
    );

    // Only GB's verified line is merged: KR's export audits clean.
    let stored = kr.store().latest_checkpoint()?.context("a checkpoint")?;
    let names: Vec<&str> = stored
        .signatures()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["KR-KNPA/k1", "GB-PIPCU/k1"]);
    assert_eq!(audit_findings(&kr, &fed)?, []);

    // A cosignature by a key that is not valid now is refused by name.
    let t = now();
    let gone = Signer::new("GB-PIPCU/gone".parse()?, stranger_key());
    let v2 = RosterBuilder::from_pb(fed.roster.clone())
        .version(2, t)
        .key(
            &org(GB),
            &"gone".parse()?,
            &gone.public(),
            UnixMillis(t.0 - 86_400_000),
            UnixMillis(t.0 + 86_400_000),
        )?
        .revoke_key(
            &org(GB),
            &"gone".parse()?,
            UnixMillis(t.0 - 60_000),
            "key leaked",
        )?
        .build()?;
    kr.update_roster(&fed.sign(&v2)?)?;
    let mut note = kr.store().sign_checkpoint(&kr.signer())?;
    note.add_signature(&gone);
    let size = kr.store().size();
    match as_gb.request(&cosign(&note)).await {
        Err(isop_net::Error::Remote { code, message }) => {
            assert_eq!(code, pb::ErrorCode::Forbidden);
            ensure!(message.contains("revoked"), "{message}");
        }
        other => bail!("a revoked key's cosignature was not refused: {other:?}"),
    }
    assert_eq!(kr.store().size(), size, "nothing logged");
    kr.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_cannot_amplify_into_the_receivers_log() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = signer(&fed, FILMCO)?;
    let as_filmco = connect_as(&fed, FILMCO, &kr).await?;

    // A 2 MB frame: a valid envelope with a million empty disclosures.
    let sealed = seal(referral(&[KR], Tlp::Amber), &filmco)?;
    let size = kr.store().size();
    let started = std::time::Instant::now();
    let r = deliver(
        &as_filmco,
        sealed.envelope().clone(),
        vec![Bytes::new(); 1_000_000],
    )
    .await?;
    let took = started.elapsed();
    rejected(
        &r,
        pb::RejectReason::Malformed,
        "1000000 disclosures; at most 256",
    )?;
    assert!(
        r.disclosure_digests.is_empty(),
        "no digest list past the limit"
    );
    assert_eq!(r.notice_digest.as_ref(), sha256(&sealed.envelope().payload));
    assert_eq!(kr.store().size(), size + 1);
    let logged = kr.store().entry(LogIndex(size))?.context("the rejection")?;
    ensure!(
        logged.len() < 4096,
        "a logged rejection of {} bytes",
        logged.len()
    );
    println!(
        "a million-disclosure frame: refused in {took:?}, logged in {} bytes",
        logged.len()
    );

    // A flood of bad deliveries: 120 logged one by one, one summary, the
    // rest only counted.
    let garbage = |i: u32| {
        (
            sign_envelope(
                &filmco,
                NOTICE_PAYLOAD_TYPE,
                Bytes::from(format!("not a notice {i}")),
            ),
            vec![],
        )
    };
    let size = kr.store().size();
    let mut answered = 0;
    for round in 0..2u32 {
        let batch = (0..100).map(|i| garbage(round * 100 + i)).collect();
        let receipts = deliver_batch(&as_filmco, batch)
            .await?
            .map_err(anyhow::Error::msg)?;
        for r in &receipts {
            rejected(r, pb::RejectReason::Malformed, "cannot decode notice")?;
        }
        answered += receipts.len();
    }
    assert_eq!(answered, 200, "every delivery is still answered");
    // 1 logged above, 119 more, then the summary.
    assert_eq!(kr.store().size(), size + 119 + 1);
    let summary = kr
        .store()
        .log_entry(LogIndex(size + 119))?
        .context("the summary")?;
    let Some(pb::log_entry::Record::Envelope(env)) = summary.record else {
        bail!("not an envelope")
    };
    let summary = pb::Receipt::decode(pb::Envelope::decode(env)?.payload)?;
    ensure!(
        summary.reason.contains("more than 120"),
        "{}",
        summary.reason
    );
    // 201 rejections: 120 logged, the 81 past the limit counted.
    let unlogged = metric(
        &kr,
        &fed,
        "isop_rejections_unlogged_total{peer=\"RH-FILMCO\"}",
    )
    .await?;
    ensure!(unlogged == 81.0, "{unlogged} counted");

    // Another member's budget is its own, and its deliveries go through.
    let sports = signer(&fed, SPORTS)?;
    let as_sports = connect_as(&fed, SPORTS, &kr).await?;
    let size = kr.store().size();
    let r = deliver(&as_sports, garbage(999).0, vec![]).await?;
    rejected(&r, pb::RejectReason::Malformed, "cannot decode")?;
    let ok = seal(referral(&[KR], Tlp::Amber), &sports)?;
    let (env, ds) = delivery(&kr, &ok, KR)?;
    accepted(&deliver(&as_sports, env, ds).await?)?;
    assert_eq!(kr.store().size(), size + 2);
    kr.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auditor_finds_a_retraction_by_another_than_the_author() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = signer(&fed, FILMCO)?;
    let sports = signer(&fed, SPORTS)?;
    let as_filmco = connect_as(&fed, FILMCO, &kr).await?;
    let target = seal(referral(&[KR], Tlp::Amber), &filmco)?;
    let (env, ds) = delivery(&kr, &target, KR)?;
    accepted(&deliver(&as_filmco, env, ds).await?)?;
    // FilmCo's own retraction: fine.
    let retract = |by: &Signer| {
        seal(
            NoticeDraft::new(
                Tlp::Amber,
                RetractionBuilder::new(target.notice().id(), pb::RetractionScope::Withdraw, "x")
                    .build(),
            )
            .to_org(&org(KR)),
            by,
        )
    };
    accepted(&deliver(&as_filmco, retract(&filmco)?.envelope().clone(), vec![]).await?)?;
    // SportsNet's retraction of it, as a node that did not check the rule
    // would have logged it.
    let at = forge(&kr, &retract(&sports)?, Some(SPORTS), &[])?;
    assert_eq!(
        audit_findings(&kr, &fed)?,
        [(isop_audit::FindingKind::RetractionNotByAuthor, Some(at.0))]
    );
    kr.shutdown().await?;
    Ok(())
}

/// The disclosures a delivery of `sealed` to `to` carries whose paths are `paths`.
fn fields_of(node: &Node, sealed: &SealedNotice, to: &str, paths: &[&str]) -> Result<Vec<Bytes>> {
    let (_, ds) = delivery(node, sealed, to)?;
    Ok(ds
        .into_iter()
        .filter(|d| {
            pb::Disclosure::decode(d.clone()).is_ok_and(|d| paths.contains(&d.path.as_str()))
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_copy_adds_the_fields_a_relay_left_out_and_the_auditor_checks_them() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = signer(&fed, FILMCO)?;
    let genuine = seal(referral(&[KR], Tlp::Amber), &filmco)?;
    let id = genuine.notice().id();
    let (env, all) = delivery(&kr, &genuine, KR)?;
    let contact = fields_of(&kr, &genuine, KR, &["referral.contact"])?;
    ensure!(all.len() == 2 && contact.len() == 1, "{} fields", all.len());

    // The hub relays the notice first, with the contact field alone.
    let as_hub = connect_as(&fed, HUB, &kr).await?;
    let first = deliver(&as_hub, env.clone(), contact.clone()).await?;
    accepted(&first)?;
    let held_at = LogIndex(first.log_index);
    let digests = |ds: &[Bytes]| ds.iter().map(|d| sha256(d).to_vec()).collect::<Vec<_>>();

    // A copy with a field beyond KR's clearance adds nothing: refused whole.
    let beyond = fields_of(&kr, &genuine, HUB, &["referral.internal_ref"])?;
    ensure!(beyond.len() == 1, "the hub's field");
    let size = kr.store().size();
    let r = deliver(&as_hub, env.clone(), beyond).await?;
    rejected(&r, pb::RejectReason::Disclosure, "referral.internal_ref")?;
    assert_eq!(kr.store().size(), size + 1, "only the rejection is logged");

    // The author's own copy carries both fields the recipient may see:
    // DUPLICATE at the original index, and the receipt names what KR holds
    // afterwards: the evidence location is added beside the entry.
    let as_filmco = connect_as(&fed, FILMCO, &kr).await?;
    let r = deliver(&as_filmco, env.clone(), all.clone()).await?;
    ensure!(
        r.status == pb::ReceiptStatus::Duplicate as i32 && r.log_index == held_at.0,
        "{r:?}"
    );
    let mut held: Vec<_> = r.disclosure_digests.iter().map(|d| d.to_vec()).collect();
    let mut want = digests(&all);
    held.sort();
    want.sort();
    assert_eq!(held, want, "the receipt lists every field held afterwards");
    let added_at = LogIndex(kr.store().size() - 1);
    let added = kr.store().log_entry(added_at)?.context("the addition")?;
    assert_eq!(added.peer, FILMCO);
    assert_eq!(added.disclosure_digests.len(), 1);
    match &added.record {
        Some(pb::log_entry::Record::DisclosuresAdded(a)) => {
            assert_eq!(a.notice_index, held_at.0)
        }
        other => bail!("not an addition: {other:?}"),
    }
    let mut now_held: Vec<_> = kr
        .store()
        .disclosures_of(held_at)?
        .iter()
        .map(|d| d.digest.to_vec())
        .collect();
    now_held.sort();
    assert_eq!(now_held, want);
    assert_eq!(kr.store().find_notice(&id)?, Some(held_at), "logged once");

    // Sent again: nothing to add, nothing appended, the same receipt.
    let size = kr.store().size();
    let again = deliver(&as_filmco, env.clone(), all.clone()).await?;
    assert_eq!(again.disclosure_digests, r.disclosure_digests);
    assert_eq!(kr.store().size(), size);

    // The auditor checks what was added like any delivery: clean as it is;
    // an addition naming another entry, or a field beyond the clearance,
    // is a finding at its index.
    let forged = |notice: LogIndex, disclosures: Vec<Bytes>| -> Result<LogIndex> {
        let mut e = isop_store::NewEntry::new(
            now(),
            isop_store::Direction::Inbound,
            isop_store::Record::DisclosuresAdded {
                notice,
                envelope: env.encode_to_vec().into(),
            },
        );
        e.peer = Some(org(FILMCO));
        e.disclosures = disclosures;
        Ok(kr.store().append(e)?.index())
    };
    assert_eq!(audit_findings(&kr, &fed)?, [], "the real log audits clean");
    let wrong_entry = forged(LogIndex(0), contact)?;
    let beyond = forged(
        held_at,
        fields_of(&kr, &genuine, HUB, &["referral.internal_ref"])?,
    )?;
    assert_eq!(
        audit_findings(&kr, &fed)?,
        [
            (
                isop_audit::FindingKind::DisclosureMismatch,
                Some(wrong_entry.0)
            ),
            (
                isop_audit::FindingKind::DisclosureBeyondClearance,
                Some(beyond.0)
            ),
        ]
    );
    kr.shutdown().await?;
    Ok(())
}
