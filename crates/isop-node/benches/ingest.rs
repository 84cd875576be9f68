//! Ingest and fan-out benchmarks against real nodes on loopback (real
//! QUIC, mutual TLS with CA-issued certificates, sled logs), in a release
//! build:
//!
//! ```sh
//! cargo bench -p isop-node --bench ingest
//! ISOP_BENCH_NOTICES=20000 ISOP_BENCH_FANOUT=20 cargo bench -p isop-node --bench ingest
//! ```
//!
//! - **Ingest**: two partners' load generators send pre-signed referrals
//!   (about 1 KiB, three labelled fields) to one agency node, which runs the
//!   whole receive path for each: TLS, batch signature verification, TLP
//!   and policy, disclosures against its clearance, a durable group-committed
//!   append, and a signed receipt back. One notice per `Deliver` request at
//!   1, 16 and 256 in flight (notices/s and p50/p99/p999 latency), then
//!   `DeliverBatch` frames of 256 as the nodes send them, each answered by
//!   one signed list of receipts.
//! - **Latency at half load**: 16 in flight, paced at half the best
//!   single-`Deliver` rate.
//! - **Fan-out**: one referral to `ISOP_BENCH_FANOUT` agencies (default
//!   50; 0 skips it), each its own node; the time until every receipt is
//!   logged.
//!
//! - **Node to node**: two partner nodes send referrals with `Node::send`
//!   (sealed, signed and logged as they are sent) to one agency node; their
//!   delivery workers drain the outboxes in `DeliverBatch` frames; timed
//!   until every receipt is logged (at most 20,000 notices).
//!
//! The load generators sign everything before the clock starts.
//! `ISOP_BENCH_ONLY=batch` runs only the `DeliverBatch` scenario, and
//! `ISOP_BENCH_ONLY=nodes` only the node-to-node one (for profiling).

use std::sync::Arc;
use std::time::{Duration, Instant};

use isop_authority::{LocalFederation, MemberSpec};
use isop_core::*;
use isop_net::PeerConnection;
use isop_node::now;

mod common;
use common::{agency_and_two_partners, org, referral};

/// The allocator the `isop` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn deliver_frame(d: &Delivery) -> pb::Frame {
    pb::Frame {
        roster_version: 0,
        kind: Some(pb::frame::Kind::Deliver(pb::Deliver {
            envelope: Some(d.envelope.clone()),
            disclosures: d.disclosures.clone(),
        })),
    }
}

/// Sends every delivery as its own request, `window` at a time over the
/// connections; returns notices/s and the sorted latencies.
async fn one_by_one(
    conns: &[PeerConnection],
    work: Vec<Vec<Delivery>>,
    window: usize,
    pace: Option<Duration>,
) -> (f64, Vec<Duration>) {
    let total: usize = work.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_conn = window.div_ceil(conns.len()).max(1);
    let lanes = (per_conn * conns.len()) as u32;
    for (conn, items) in conns.iter().zip(work) {
        let items = Arc::new(items);
        for lane in 0..per_conn {
            let (conn, items) = (conn.clone(), items.clone());
            tasks.spawn(async move {
                let mut lat = Vec::new();
                let mut next = Instant::now();
                for d in items.iter().skip(lane).step_by(per_conn) {
                    if let Some(gap) = pace {
                        tokio::time::sleep_until(next.into()).await;
                        next += gap * lanes;
                    }
                    let t = Instant::now();
                    let answer = conn.request(&deliver_frame(d)).await.expect("a receipt");
                    assert!(matches!(answer.kind, Some(pb::frame::Kind::Receipt(_))));
                    lat.push(t.elapsed());
                }
                lat
            });
        }
    }
    let mut lat = Vec::with_capacity(total);
    while let Some(r) = tasks.join_next().await {
        lat.extend(r.expect("a lane"));
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    lat.sort_unstable();
    (rate, lat)
}

/// Sends the deliveries as `DeliverBatch` frames of `batch`, one batch in
/// flight per connection, as the nodes do.
async fn batched(
    conns: &[PeerConnection],
    work: Vec<Vec<Delivery>>,
    batch: usize,
) -> (f64, Vec<Duration>) {
    let total: usize = work.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (conn, items) in conns.iter().zip(work) {
        let conn = conn.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            for chunk in items.chunks(batch) {
                let frame = pb::Frame {
                    roster_version: 0,
                    kind: Some(pb::frame::Kind::DeliverBatch(pb::DeliverBatch {
                        items: chunk
                            .iter()
                            .map(|d| pb::Deliver {
                                envelope: Some(d.envelope.clone()),
                                disclosures: d.disclosures.clone(),
                            })
                            .collect(),
                    })),
                };
                let t = Instant::now();
                let answer = conn.request(&frame).await.expect("receipts");
                let Some(pb::frame::Kind::ReceiptBatch(pb::ReceiptBatch {
                    receipts: Some(env),
                })) = answer.kind
                else {
                    panic!("no receipts")
                };
                let list = SignedReceipts::open(&env).expect("a receipt list");
                assert_eq!(list.receipts().len(), chunk.len());
                lat.push(t.elapsed());
            }
            lat
        });
    }
    let mut lat = Vec::new();
    while let Some(r) = tasks.join_next().await {
        lat.extend(r.expect("a sender"));
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    lat.sort_unstable();
    (rate, lat)
}

fn report(what: &str, rate: f64, lat: &[Duration]) {
    println!(
        "  {what:<34} {rate:>9.0} notices/s   p50 {:>8.3} ms  p99 {:>8.3} ms  p999 {:>8.3} ms",
        percentile(lat, 0.50).as_secs_f64() * 1e3,
        percentile(lat, 0.99).as_secs_f64() * 1e3,
        percentile(lat, 0.999).as_secs_f64() * 1e3,
    );
}

/// Each sender's `n / 2` referrals for `run`, sealed and cut for the
/// agency's clearance before the clock starts (a function of its own, so a
/// profile can leave it out: bench/stages.py).
#[inline(never)]
fn presign(
    fed: &LocalFederation,
    senders: &[&str],
    clearance: &Clearance,
    run: u64,
    n: u64,
) -> anyhow::Result<Vec<Vec<Delivery>>> {
    senders
        .iter()
        .map(|s| {
            let signer = fed.member(s)?.config.signer()?;
            (0..n / 2)
                .map(|i| {
                    Ok(referral(run * 10_000_000 + i, &[org("KR-KNPA")])
                        .seal(&signer, now(), &mut rand::rngs::OsRng)?
                        .delivery_for(clearance))
                })
                .collect()
        })
        .collect()
}

async fn ingest(notices: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = agency_and_two_partners(dir.path())?;
    let kr = fed.start("KR-KNPA").await?;
    let clearance = kr.roster().clearance(kr.org())?;
    let senders = ["RH-FILMCO", "RH-SPORTSNET"];
    // Everything is signed before the clock starts: one set per run.
    let sign = |run: u64, n: u64| presign(&fed, &senders, &clearance, run, n);
    let mut conns = Vec::new();
    let mut endpoints = Vec::new();
    for s in senders {
        let m = fed.member(s)?;
        let identity = isop_net::TlsIdentity::from_pem(
            &std::fs::read_to_string(&m.config.tls_cert)?,
            &std::fs::read_to_string(&m.config.tls_key)?,
        )?;
        let ca =
            isop_net::pki::certs_from_pem(&std::fs::read_to_string(dir.path().join("ca.crt"))?)?;
        let ep = isop_net::Endpoint::bind(
            "127.0.0.1:0".parse()?,
            isop_net::EndpointConfig::new(ca, identity),
            Arc::new(|_| Ok(())),
        )?;
        conns.push(ep.connect(kr.local_addr()?, &org("KR-KNPA")).await?);
        endpoints.push(ep);
    }
    println!(
        "ingest: 2 senders -> 1 agency node, {notices} pre-signed referrals per run (~1 KiB, 3 labelled fields)"
    );
    if std::env::var("ISOP_BENCH_ONLY").is_ok_and(|o| o == "batch") {
        let work = sign(4, notices)?;
        let (rate, lat) = batched(&conns, work, 256).await;
        report("DeliverBatch of 256 (latency per batch)", rate, &lat);
        kr.shutdown().await?;
        return Ok(());
    }
    let mut best = 0f64;
    for (run, window) in [(1u64, 1usize), (2, 16), (3, 256)] {
        let n = if window == 1 {
            notices.min(5_000)
        } else {
            notices
        };
        let work = sign(run, n)?;
        let (rate, lat) = one_by_one(&conns, work, window, None).await;
        best = best.max(rate);
        report(&format!("Deliver, {window} in flight"), rate, &lat);
    }
    let work = sign(4, notices)?;
    let (rate, lat) = batched(&conns, work, 256).await;
    report("DeliverBatch of 256 (latency per batch)", rate, &lat);
    let half = best / 2.0;
    let work = sign(5, notices.min(20_000))?;
    let (rate, lat) = one_by_one(&conns, work, 16, Some(Duration::from_secs_f64(1.0 / half))).await;
    report(
        &format!("Deliver at half load ({half:.0}/s offered)"),
        rate,
        &lat,
    );
    println!("  receiver log: {} entries", kr.store().size());
    kr.shutdown().await?;
    Ok(())
}

/// Node to node: two partner nodes send referrals through `Node::send`
/// (each sealed, signed and logged OUTBOUND, 64 at a time per node); their
/// delivery workers drain the outboxes to one agency node in `DeliverBatch`
/// frames, and log its lists of receipts. Timed from the first send until
/// every receipt is logged: everything on both sides, on the same cores.
async fn node_to_node(notices: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = agency_and_two_partners(dir.path())?;
    let kr = fed.start("KR-KNPA").await?;
    let partners = [
        Arc::new(fed.start("RH-FILMCO").await?),
        Arc::new(fed.start("RH-SPORTSNET").await?),
    ];
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for (p, node) in partners.iter().enumerate() {
        let node = node.clone();
        senders.spawn(async move {
            let mut last = None;
            let mut i = 0;
            while i < notices / 2 {
                let mut wave = tokio::task::JoinSet::new();
                for j in i..(i + 64).min(notices / 2) {
                    let node = node.clone();
                    let draft = referral(p as u64 * 10_000_000 + j, &[org("KR-KNPA")]);
                    wave.spawn(async move { node.send(draft).await.map(|s| s.index) });
                }
                while let Some(sent) = wave.join_next().await {
                    last = last.max(Some(sent??));
                }
                i += 64;
            }
            anyhow::Ok((p, last))
        });
    }
    let mut lasts = Vec::new();
    while let Some(last) = senders.join_next().await {
        lasts.push(last??);
    }
    let queued = started.elapsed();
    // Each recipient gets a sender's notices in its log order: the last
    // one logged, receipted, means all were.
    for (p, last) in lasts {
        let Some(last) = last else { continue };
        let node = &partners[p];
        node.wait_until("every receipt", Duration::from_secs(600), |n| {
            n.delivery_status(last).is_ok_and(|v| {
                v.iter()
                    .all(|(_, s)| matches!(s, isop_store::DeliveryStatus::Delivered { .. }))
            })
        })
        .await?;
    }
    let all = started.elapsed();
    println!(
        "node to node: 2 partner nodes -> 1 agency node, {notices} referrals sent with Node::send"
    );
    println!(
        "  all sent (sealed, signed, logged) in {:.2} s; every receipt logged in {:.2} s: {:.0} notices/s end to end",
        queued.as_secs_f64(),
        all.as_secs_f64(),
        notices as f64 / all.as_secs_f64()
    );
    assert_eq!(kr.store().inbox(false)?.len() as u64, notices / 2 * 2);
    for node in partners {
        Arc::into_inner(node)
            .ok_or_else(|| anyhow::anyhow!("a partner node still in use"))?
            .shutdown()
            .await?;
    }
    kr.shutdown().await?;
    Ok(())
}

async fn fanout(agencies: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut specs = vec![MemberSpec::new("RH-FILMCO", "FilmCo", Role::Partner, "US")?];
    let names: Vec<String> = (0..agencies).map(|i| format!("AG-{i:03}")).collect();
    for n in &names {
        specs.push(MemberSpec::new(n, "An agency", Role::Agency, "KR")?);
    }
    let setup = Instant::now();
    let mut fed = LocalFederation::create(dir.path(), "isop-bench", &specs, &[])?;
    let mut nodes = Vec::new();
    for n in &names {
        nodes.push(fed.start(n).await?);
    }
    let filmco = fed.start("RH-FILMCO").await?;
    println!(
        "fan-out: {agencies} agency nodes and a partner started in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let to: Vec<OrgId> = names.iter().map(|n| org(n)).collect();
    // A first referral opens every connection; the second is the one timed.
    for run in 0..2u64 {
        let started = Instant::now();
        let sent = filmco.send(referral(run, &to)).await?;
        filmco
            .wait_until("every receipt", Duration::from_secs(120), |n| {
                n.delivery_status(sent.index).is_ok_and(|v| {
                    v.len() == agencies
                        && v.iter()
                            .all(|(_, s)| matches!(s, isop_store::DeliveryStatus::Delivered { .. }))
                })
            })
            .await?;
        println!(
            "  one referral to {agencies} agencies ({}): every receipt logged in {:.1} ms",
            if run == 0 {
                "cold, dialling each"
            } else {
                "connections open"
            },
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    filmco.shutdown().await?;
    for n in nodes {
        n.shutdown().await?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    // As the `isop` binary does: no transparent huge pages.
    rustix::thread::disable_transparent_huge_pages(true)?;
    let notices = env_u64("ISOP_BENCH_NOTICES", 50_000);
    let agencies = env_u64("ISOP_BENCH_FANOUT", 50) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        if std::env::var("ISOP_BENCH_ONLY").is_ok_and(|o| o == "nodes") {
            return node_to_node(notices).await;
        }
        ingest(notices).await?;
        if std::env::var("ISOP_BENCH_ONLY").is_ok_and(|o| o == "batch") {
            return Ok(());
        }
        node_to_node(notices.min(20_000)).await?;
        if agencies > 0 {
            fanout(agencies).await?;
        }
        Ok(())
    })
}
