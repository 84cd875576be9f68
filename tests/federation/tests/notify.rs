//! Notifications: real nodes (on the in-memory network) tell a webhook
//! receiver on loopback HTTP of what their logs record, signed with
//! HMAC-SHA256, retried while the receiver fails, and resumed after a
//! restart from where they stood: the log is the queue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use isop_api::{EventKind, NotifyEvent};
use isop_core::*;
use isop_federation_tests::*;
use isop_net::MemoryNetwork;
use isop_node::config::NotifyConfig;
use isop_node::{Clock, Node};
use sha2::Sha256;

const SECRET: &[u8] = b"a webhook secret of some length";
/// A bound on failure, never a wait: every step waits on an event.
const WAIT: Duration = Duration::from_secs(20);

/// What the receiver saw: each POST's event, and whether its signature
/// was right; and how many POSTs it will still refuse.
#[derive(Default)]
struct Seen {
    posts: Vec<(NotifyEvent, bool)>,
    refuse: usize,
}

/// A webhook receiver on loopback: it answers 503 while told to refuse,
/// 200 otherwise, and wakes `changed` at each POST.
async fn receiver(
    seen: Arc<Mutex<Seen>>,
    changed: Arc<tokio::sync::Notify>,
) -> Result<std::net::SocketAddr> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (seen, changed) = (seen.clone(), changed.clone());
            async move {
                let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("a key");
                mac.update(&body);
                let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                let signed = headers
                    .get("x-isop-signature")
                    .is_some_and(|v| v.as_bytes() == want.as_bytes());
                let event: NotifyEvent = serde_json::from_slice(&body).expect("a NotifyEvent");
                let named = headers
                    .get("x-isop-id")
                    .is_some_and(|v| v.as_bytes() == event.id.as_bytes());
                let status = {
                    let mut s = seen.lock().expect("lock");
                    s.posts.push((event, signed && named));
                    if s.refuse > 0 {
                        s.refuse -= 1;
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                };
                changed.notify_waiters();
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Waits until `ok` holds of what the receiver saw.
async fn until(
    seen: &Mutex<Seen>,
    changed: &tokio::sync::Notify,
    what: &str,
    ok: impl Fn(&Seen) -> bool,
) -> Result<()> {
    tokio::time::timeout(WAIT, async {
        loop {
            let wake = changed.notified();
            if ok(&seen.lock().expect("lock")) {
                return;
            }
            wake.await;
        }
    })
    .await
    .with_context(|| format!("the receiver never saw {what}"))
}

/// The events of `kind` the receiver took (answered 200 to the last POST
/// of each id).
fn taken(seen: &Seen, kind: EventKind) -> Vec<NotifyEvent> {
    let mut ids: Vec<&str> = Vec::new();
    for (e, _) in &seen.posts {
        if e.event == kind && !ids.contains(&e.id.as_str()) {
            ids.push(&e.id);
        }
    }
    ids.iter()
        .filter_map(|id| seen.posts.iter().rev().find(|(e, _)| e.id == *id))
        .map(|(e, _)| e.clone())
        .collect()
}

/// A federation on the in-memory network with one manual clock, a
/// webhook receiver, and a webhook secret file.
struct Setup {
    _dir: tempfile::TempDir,
    _network: MemoryNetwork,
    clock: Clock,
    fed: isop_authority::LocalFederation,
    seen: Arc<Mutex<Seen>>,
    changed: Arc<tokio::sync::Notify>,
    addr: std::net::SocketAddr,
    secret: std::path::PathBuf,
}

async fn setup() -> Result<Setup> {
    let dir = tempfile::tempdir()?;
    let network = MemoryNetwork::new();
    let clock = Clock::manual(now());
    let fed = federation_in_memory(dir.path(), &network, &clock)?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let changed = Arc::new(tokio::sync::Notify::new());
    let addr = receiver(seen.clone(), changed.clone()).await?;
    let secret = dir.path().join("hook.secret");
    isop_node::config::write_private(&secret, SECRET)?;
    Ok(Setup {
        _dir: dir,
        _network: network,
        clock,
        fed,
        seen,
        changed,
        addr,
        secret,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_told_signed_retried_and_resumed_after_a_restart() -> Result<()> {
    let Setup {
        _dir,
        _network,
        mut fed,
        seen,
        changed,
        addr,
        secret,
        ..
    } = setup().await?;
    let hook = |events: &[&str]| NotifyConfig {
        name: "siem".into(),
        url: format!("http://{addr}/hook"),
        secret_file: secret.clone(),
        events: events.iter().map(|e| e.to_string()).collect(),
        kinds: vec![],
        ca_file: None,
    };
    fed.member_mut(KR)?.config.notify = vec![hook(&[])];
    fed.member_mut(FILMCO)?.config.notify = vec![hook(&["status_changed"])];
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;

    // The receiver fails twice: the event comes a third time, same id.
    seen.lock().expect("lock").refuse = 2;
    let sent = filmco.send(referral(&[KR], Tlp::Amber)).await?;
    until(&seen, &changed, "the referral taken", |s| {
        s.posts.len() >= 3 && s.refuse == 0
    })
    .await?;
    let new = taken(&seen.lock().expect("lock"), EventKind::NewNotice);
    ensure!(new.len() == 1, "one new notice");
    let notice = new[0].notice.as_ref().context("the notice")?;
    ensure!(notice.id == sent.id.to_string() && notice.subject == "streamz.example");
    {
        let s = seen.lock().expect("lock");
        ensure!(
            s.posts.iter().all(|(_, ok)| *ok),
            "every POST signed and named"
        );
        ensure!(
            s.posts.iter().filter(|(e, _)| e.id == new[0].id).count() == 3,
            "retried under one id"
        );
    }

    // The agency answers; FilmCo's webhook, which asks only for status
    // changes, is told of that and of nothing else.
    let answer = NoticeDraft::new(
        Tlp::Amber,
        StatusUpdateBuilder::new(sent.id, pb::ReferralStatus::Accepted).build(),
    )
    .to_org(&org(FILMCO))
    .in_reply_to(sent.id);
    kr.send(answer).await?;
    until(&seen, &changed, "the status change", |s| {
        !taken(s, EventKind::StatusChanged).is_empty()
    })
    .await?;
    let changed_events = taken(&seen.lock().expect("lock"), EventKind::StatusChanged);
    ensure!(changed_events[0].org == FILMCO);
    ensure!(changed_events[0].referral.as_deref() == Some(sent.id.to_string().as_str()));
    ensure!(changed_events[0].status == Some(pb::ReferralStatus::Accepted));
    ensure!(
        taken(&seen.lock().expect("lock"), EventKind::NewNotice)
            .iter()
            .all(|e| e.org == KR),
        "FilmCo's webhook asked for status changes only"
    );
    // An agency the referral was not sent to answers it too: that is no
    // status change. KR's next answer is.
    let gb = fed.start(GB).await?;
    let stranger = NoticeDraft::new(
        Tlp::Amber,
        StatusUpdateBuilder::new(sent.id, pb::ReferralStatus::Triaged).build(),
    )
    .to_org(&org(FILMCO))
    .in_reply_to(sent.id);
    let stranger = gb.send(stranger).await?;
    filmco
        .wait_until("the stranger's answer", WAIT, |n| {
            n.store()
                .find_notice(&stranger.id)
                .is_ok_and(|f| f.is_some())
        })
        .await?;
    let again = NoticeDraft::new(
        Tlp::Amber,
        StatusUpdateBuilder::new(sent.id, pb::ReferralStatus::Closed).build(),
    )
    .to_org(&org(FILMCO))
    .in_reply_to(sent.id);
    kr.send(again).await?;
    until(&seen, &changed, "the second status change", |s| {
        taken(s, EventKind::StatusChanged).len() >= 2
    })
    .await?;
    let statuses: Vec<_> = taken(&seen.lock().expect("lock"), EventKind::StatusChanged)
        .iter()
        .map(|e| e.status)
        .collect();
    ensure!(
        statuses
            == [
                Some(pb::ReferralStatus::Accepted),
                Some(pb::ReferralStatus::Closed)
            ],
        "{statuses:?}"
    );
    gb.shutdown().await?;

    // The receiver is down while KR logs a second referral, and KR stops:
    // after the restart, its webhook resumes where it stood.
    seen.lock().expect("lock").refuse = usize::MAX;
    let second = filmco.send(referral(&[KR], Tlp::Amber)).await?;
    filmco
        .wait_until("delivered", WAIT, |n| delivered(n, second.index, KR))
        .await?;
    until(&seen, &changed, "a refused attempt", |s| {
        s.posts.iter().any(|(e, _)| {
            e.notice
                .as_ref()
                .is_some_and(|n| n.id == second.id.to_string())
        })
    })
    .await?;
    kr.shutdown().await?;
    seen.lock().expect("lock").refuse = 0;
    let kr: Node = fed.start(KR).await?;
    until(
        &seen,
        &changed,
        "the second referral after the restart",
        |s| {
            taken(s, EventKind::NewNotice).iter().any(|e| {
                e.notice
                    .as_ref()
                    .is_some_and(|n| n.id == second.id.to_string())
            }) && s.refuse == 0
                && s.posts.last().is_some_and(|(e, _)| {
                    e.notice
                        .as_ref()
                        .is_some_and(|n| n.id == second.id.to_string())
                })
        },
    )
    .await?;
    ensure!(
        taken(&seen.lock().expect("lock"), EventKind::NewNotice).len() == 2,
        "each referral told once taken"
    );
    kr.shutdown().await?;
    filmco.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_given_up_is_told() -> Result<()> {
    let Setup {
        _dir,
        _network,
        clock,
        mut fed,
        seen,
        changed,
        addr,
        secret,
    } = setup().await?;
    fed.member_mut(FILMCO)?.config.notify = vec![NotifyConfig {
        name: "ops".into(),
        url: format!("http://user:pass@{addr}/hook?key=sesame"),
        secret_file: secret.clone(),
        events: vec!["delivery_failed".into()],
        kinds: vec![],
        ca_file: None,
    }];
    let filmco = fed.start(FILMCO).await?;
    // KR-KNPA stays down longer than any receiver takes a notice.
    let sent = filmco.send(referral(&[KR], Tlp::Amber)).await?;
    filmco
        .wait_until("a failed attempt", WAIT, |n| {
            matches!(
                status_of(n, sent.index, KR),
                isop_store::DeliveryStatus::Pending { attempts: 1.., .. }
            )
        })
        .await?;
    clock.advance(Judgement::DEFAULT_MAX_AGE_MS + 1);
    filmco.kick();
    until(&seen, &changed, "the delivery given up", |s| {
        !taken(s, EventKind::DeliveryFailed).is_empty()
    })
    .await?;
    let failed = taken(&seen.lock().expect("lock"), EventKind::DeliveryFailed);
    ensure!(failed.len() == 1, "{failed:?}");
    ensure!(failed[0].peer.as_deref() == Some(KR));
    ensure!(failed[0].referral.as_deref() == Some(sent.id.to_string().as_str()));
    ensure!(
        failed[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("days old"))
    );
    ensure!(
        seen.lock()
            .expect("lock")
            .posts
            .iter()
            .all(|(e, ok)| *ok && e.event == EventKind::DeliveryFailed),
        "only what it asked for, signed"
    );
    filmco.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_webhook_misconfigured_stops_the_node_naming_it() -> Result<()> {
    let Setup {
        _dir,
        _network,
        mut fed,
        secret,
        ..
    } = setup().await?;
    let mut bad = NotifyConfig {
        name: "siem".into(),
        url: "http://127.0.0.1:9/hook".into(),
        secret_file: secret.clone(),
        events: vec!["new_notices".into()],
        kinds: vec![],
        ca_file: None,
    };
    fed.member_mut(KR)?.config.notify = vec![bad.clone()];
    let e = fed.start(KR).await.err().context("refused")?.to_string();
    ensure!(
        e.contains("\"new_notices\" is not one of new_notice"),
        "{e}"
    );
    bad.events.clear();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    fed.member_mut(KR)?.config.notify = vec![bad];
    let e = fed.start(KR).await.err().context("refused")?.to_string();
    ensure!(e.contains("hook.secret"), "{e}");
    Ok(())
}

/// The hub's view: copied on status answers to the referrals it was sent,
/// it sees the whole thread; targets that two partners refer, or two
/// agencies report, are overlaps, listed with each notice's status and
/// told to its webhook as they form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_sees_answers_and_overlaps_as_they_form() -> Result<()> {
    let Setup {
        _dir,
        _network,
        mut fed,
        seen,
        changed,
        addr,
        secret,
        ..
    } = setup().await?;
    fed.member_mut(HUB)?.config.notify = vec![NotifyConfig {
        name: "analysts".into(),
        url: format!("http://{addr}/hook"),
        secret_file: secret.clone(),
        events: vec!["new_overlap".into()],
        kinds: vec![],
        ca_file: None,
    }];
    let token_file = secret.with_file_name("hub.token");
    with_api(&mut fed, HUB, &token_file)?;
    let hub = fed.start(HUB).await?;
    let kr = fed.start(KR).await?;
    let gb = fed.start(GB).await?;
    let filmco = fed.start(FILMCO).await?;
    let sports = fed.start(SPORTS).await?;
    let to = [org(KR), org(HUB)];
    let to: Vec<&OrgId> = to.iter().collect();
    let refer = |domain: &str| testing::referral(domain, now(), &to, Tlp::Amber);

    // One partner refers a site: no overlap yet. A second refers a
    // subdomain of it: the site is an overlap, and the hub is told.
    let first = filmco.send(refer("streamz.example")).await?;
    let other = sports.send(refer("other.example")).await?;
    for id in [first.id, other.id] {
        hub.wait_until("the first referrals", WAIT, |n| {
            n.store().find_notice(&id).is_ok_and(|f| f.is_some())
        })
        .await?;
    }
    let second = sports.send(refer("live.streamz.example")).await?;
    until(&seen, &changed, "the overlap told", |s| {
        !taken(s, EventKind::NewOverlap).is_empty()
    })
    .await?;
    let told = taken(&seen.lock().expect("lock"), EventKind::NewOverlap);
    ensure!(told.len() == 1, "{told:?}");
    let overlap = told[0].overlap.as_ref().context("the overlap")?;
    ensure!(overlap.target == "streamz.example", "{overlap:?}");
    ensure!(overlap.kind == pb::IndicatorKind::Domain);
    ensure!(overlap.referred_by == [FILMCO, SPORTS], "{overlap:?}");
    ensure!(
        told[0]
            .notice
            .as_ref()
            .is_some_and(|n| n.id == second.id.to_string())
    );

    // KR accepts FilmCo's referral, answering FilmCo: the hub, which was
    // sent the referral, gets a copy.
    let answer = NoticeDraft::new(
        Tlp::Amber,
        StatusUpdateBuilder::new(first.id, pb::ReferralStatus::Accepted).build(),
    )
    .to_org(&org(FILMCO))
    .in_reply_to(first.id);
    let answered = kr.send(answer).await?;
    ensure!(
        answered.recipients == [org(HUB), org(FILMCO)]
            || answered.recipients == [org(FILMCO), org(HUB)],
        "{:?}",
        answered.recipients
    );
    hub.wait_until("the copy", WAIT, |n| {
        n.store()
            .find_notice(&answered.id)
            .is_ok_and(|f| f.is_some())
    })
    .await?;

    // Two agencies report the same site: the other side of an overlap.
    kr.send(intel_to(HUB)).await?;
    gb.send(intel_to(HUB)).await?;
    hub.wait_until("both reports", WAIT, |n| {
        n.store().inbox(false).is_ok_and(|i| i.len() == 6)
    })
    .await?;

    let api = api_client(&hub, &token_file)?;
    let all = api
        .correlations(&isop_api::CorrelationQuery::default())
        .await?;
    ensure!(all.overlaps.len() == 1 && all.more == 0, "{all:?}");
    let o = &all.overlaps[0];
    ensure!(
        o.referred_by == [FILMCO, SPORTS] && o.reported_by == [GB, KR],
        "{o:?}"
    );
    let statuses: Vec<_> = o.notices.iter().map(|n| (n.id.clone(), n.status)).collect();
    ensure!(
        statuses.contains(&(first.id.to_string(), Some(pb::ReferralStatus::Accepted)))
            && statuses.contains(&(second.id.to_string(), None))
            && o.notices.len() == 4,
        "{statuses:?}"
    );
    ensure!(!o.notices.iter().any(|n| n.id == other.id.to_string()));
    // Found by any of its forms; a target no one shares is no overlap.
    for (target, n) in [("https://www.streamz.example/x", 1), ("other.example", 0)] {
        let q = isop_api::CorrelationQuery {
            target: Some(target.into()),
            ..Default::default()
        };
        ensure!(api.correlations(&q).await?.overlaps.len() == n, "{target}");
    }
    ensure!(
        taken(&seen.lock().expect("lock"), EventKind::NewOverlap).len() == 1,
        "the agencies' side of a target already an overlap is no new overlap"
    );
    for n in [hub, kr, gb, filmco, sports] {
        n.shutdown().await?;
    }
    Ok(())
}
