//! Lossy, slow and broken networks, made in user space: the agency is
//! reached through a UDP fault proxy (`isop_federation_tests::fault`) that
//! drops, delays, reorders, duplicates and corrupts the QUIC datagrams, or
//! black-holes one direction. Whatever it does, every notice two partners
//! send arrives exactly once, in each author's order, and is receipted.
//!
//! CI runs 60 notices from each partner under each condition. The
//! measured run (throughput and p99 under each condition, printed):
//!
//! ```sh
//! ISOP_LOSSY_NOTICES=2500 cargo test --release -p isop-federation-tests --test lossy -- --nocapture
//! ```

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use isop_core::*;
use isop_federation_tests::fault::{FaultProxy, Faults};
use isop_federation_tests::*;
use isop_node::Node;
use isop_store::DeliveryStatus;

const SENDERS: [&str; 2] = [FILMCO, SPORTS];

fn notices() -> u64 {
    std::env::var("ISOP_LOSSY_NOTICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// The agency and two partners, the partners reaching the agency only
/// through a fault proxy (roster v2 names the proxy as its endpoint).
struct Setup {
    _dir: tempfile::TempDir,
    kr: Node,
    senders: Vec<Node>,
    proxy: FaultProxy,
}

async fn setup(seed: u64) -> Result<Setup> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let proxy = FaultProxy::start(fed.member(KR)?.addr, seed).await?;
    // Every node starts from roster v2, which names the proxy as the
    // agency's endpoint (the agency itself listens where it always did).
    let mut roster = fed.roster.clone();
    for m in &mut roster.members {
        if m.org_id == KR {
            m.endpoints = vec![proxy.addr().to_string()];
        }
    }
    let v2 = RosterBuilder::from_pb(roster).version(2, now()).build()?;
    std::fs::write(
        dir.path().join("roster.bin"),
        prost::Message::encode_to_vec(&fed.sign(&v2)?),
    )?;
    let kr = fed.start(KR).await?;
    let mut senders = Vec::new();
    for s in SENDERS {
        senders.push(fed.start(s).await?);
    }
    for node in std::iter::once(&kr).chain(&senders) {
        ensure!(
            node.roster().version() == 2,
            "a node did not start from roster v2"
        );
    }
    Ok(Setup {
        _dir: dir,
        kr,
        senders,
        proxy,
    })
}

/// What one run measured.
struct Run {
    rate: f64,
    p99: Duration,
}

/// Each partner sends `n` referrals (64 at a time); waits until every one
/// is receipted; checks the agency holds each exactly once, in each
/// author's order. Returns notices/s and the p99 of send-to-receipt
/// (seen by polling every 5 ms).
async fn stream(s: &Setup, n: u64) -> Result<Run> {
    let started = Instant::now();
    let mut sent: Vec<Vec<(NoticeId, LogIndex, Instant)>> = Vec::new();
    for node in &s.senders {
        let mut mine = Vec::new();
        for _ in 0..n {
            let out = node.send(referral(&[KR], Tlp::Amber)).await?;
            mine.push((out.id, out.index, Instant::now()));
        }
        sent.push(mine);
    }
    // Receipted: polled, to see when each was.
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    for (node, mine) in s.senders.iter().zip(&sent) {
        let mut waiting: Vec<&(NoticeId, LogIndex, Instant)> = mine.iter().collect();
        while !waiting.is_empty() {
            ensure!(
                Instant::now() < deadline,
                "{} notices still not receipted",
                waiting.len()
            );
            waiting.retain(|(_, index, at)| {
                let done = matches!(
                    status_of(node, *index, KR),
                    DeliveryStatus::Delivered { .. }
                );
                if done {
                    latencies.push(at.elapsed());
                }
                !done
            });
            if !waiting.is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    let elapsed = started.elapsed();
    // Each exactly once, in its author's order.
    for mine in &sent {
        logged_in_order(&s.kr, mine.iter().map(|(id, _, _)| id))?;
    }
    latencies.sort_unstable();
    Ok(Run {
        rate: (2 * n) as f64 / elapsed.as_secs_f64(),
        p99: latencies[(latencies.len() - 1) * 99 / 100],
    })
}

/// The agency's inbox holds exactly `expected` notices, and its log
/// verifies.
fn held_once(kr: &Node, expected: u64) -> Result<()> {
    let inbox = kr.store().inbox(false)?.len() as u64;
    ensure!(
        inbox == expected,
        "the agency holds {inbox} notices, not {expected}"
    );
    kr.store().verify_all()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notice_arrives_once_through_loss_delay_reordering_duplication_and_corruption()
-> Result<()> {
    let n = notices();
    let conditions = [
        (
            "5% loss, 50 ms delay with 20 ms jitter, 5% reordered, 5% duplicated",
            Faults {
                loss: 0.05,
                delay: Duration::from_millis(50),
                jitter: Duration::from_millis(20),
                reorder: 0.05,
                reorder_by: Duration::from_millis(30),
                duplicate: 0.05,
                ..Faults::default()
            },
        ),
        (
            "20% loss",
            Faults {
                loss: 0.20,
                ..Faults::default()
            },
        ),
        (
            "2% corrupted",
            Faults {
                corrupt: 0.02,
                ..Faults::default()
            },
        ),
    ];
    for (seed, (what, faults)) in (1..).zip(conditions) {
        let s = setup(seed).await?;
        let corrupting = faults.corrupt > 0.0;
        s.proxy.set(faults);
        let run = stream(&s, n).await?;
        held_once(&s.kr, 2 * n)?;
        println!(
            "{what}: {} notices in {:.0}/s, p99 send to receipt {:.0} ms; up {} passed, {} dropped, {} duplicated, {} corrupted; down {} passed, {} dropped",
            2 * n,
            run.rate,
            run.p99.as_secs_f64() * 1e3,
            s.proxy.up().passed(),
            s.proxy.up().dropped(),
            s.proxy.up().duplicated(),
            s.proxy.up().corrupted(),
            s.proxy.down().passed(),
            s.proxy.down().dropped(),
        );
        // QUIC's packet protection drops what was corrupted: nothing of it
        // reaches the log, which `held_once` verified.
        if corrupting {
            ensure!(
                s.proxy.up().corrupted() + s.proxy.down().corrupted() > 0,
                "no datagram was corrupted"
            );
        }
    }
    Ok(())
}

/// The agency's answers are lost (one direction black-holed). A notice
/// that fits in QUIC's window reaches the agency's log, and its receipt is
/// lost; the rest wait for acknowledgements that do not come. Nothing is
/// receipted through the black hole; healed, everything is sent again and
/// receipted, what was already held as a duplicate, nothing logged twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_partition_heals_and_nothing_arrives_twice() -> Result<()> {
    let n = notices().min(60);
    let s = setup(7).await?;
    // Connections open first, so the partition meets them established.
    stream(&s, 1).await?;
    s.proxy.set_down(Faults {
        blackhole: true,
        ..Faults::default()
    });
    let mut sent = Vec::new();
    for node in &s.senders {
        sent.push(vec![node.send(referral(&[KR], Tlp::Amber)).await?.index]);
    }
    s.kr.wait_until("a notice from each sender, its receipt lost", STEP, |kr| {
        kr.store().inbox(false).is_ok_and(|i| i.len() == 4)
    })
    .await?;
    for (node, mine) in s.senders.iter().zip(&mut sent) {
        for _ in 1..n {
            mine.push(node.send(referral(&[KR], Tlp::Amber)).await?.index);
        }
    }
    // The agency's answers keep falling into the hole.
    let dropped = s.proxy.down().dropped();
    let deadline = std::time::Instant::now() + STEP;
    while s.proxy.down().dropped() < dropped + 20 {
        ensure!(
            std::time::Instant::now() < deadline,
            "the agency stopped answering"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for node in &s.senders {
        let waiting = node.store().outbox_for(&org(KR))?.len() as u64;
        ensure!(
            waiting == n,
            "{waiting} of {n} waiting: a receipt came through a black hole"
        );
    }
    s.proxy.set_down(Faults::default());
    for (node, mine) in s.senders.iter().zip(&sent) {
        let last = *mine.last().expect("sent");
        node.wait_until(
            "every receipt after the partition",
            Duration::from_secs(120),
            |node| matches!(status_of(node, last, KR), DeliveryStatus::Delivered { .. }),
        )
        .await?;
        for index in mine {
            ensure!(matches!(
                status_of(node, *index, KR),
                DeliveryStatus::Delivered { .. }
            ));
        }
    }
    held_once(&s.kr, 2 + 2 * n)?;
    Ok(())
}

/// The proxy itself, between two UDP sockets: it passes datagrams in
/// order when set to nothing, and does each fault it is set to.
#[tokio::test]
async fn the_fault_proxy_does_what_it_is_set_to() -> Result<()> {
    use tokio::net::UdpSocket;
    let target = UdpSocket::bind("127.0.0.1:0").await?;
    let proxy = FaultProxy::start(target.local_addr()?, 1).await?;
    let client = UdpSocket::bind("127.0.0.1:0").await?;
    client.connect(proxy.addr()).await?;
    let mut buf = [0u8; 64];
    // In order, untouched, and the answer comes back to the client.
    for i in 0..20u8 {
        client.send(&[i; 8]).await?;
    }
    let mut from = None;
    for i in 0..20u8 {
        let (n, addr) = tokio::time::timeout(STEP, target.recv_from(&mut buf)).await??;
        ensure!(buf[..n] == [i; 8], "datagram {i}: {:?}", &buf[..n]);
        from = Some(addr);
    }
    let from = from.expect("a datagram");
    target.send_to(b"answer", from).await?;
    let n = tokio::time::timeout(STEP, client.recv(&mut buf)).await??;
    ensure!(&buf[..n] == b"answer");

    // Duplicated, and corrupted in exactly one byte.
    proxy.set_up(Faults {
        duplicate: 1.0,
        corrupt: 1.0,
        ..Faults::default()
    });
    client.send(&[0u8; 16]).await?;
    for _ in 0..2 {
        let (n, _) = tokio::time::timeout(STEP, target.recv_from(&mut buf)).await??;
        ensure!(n == 16);
        ensure!(
            buf[..n].iter().filter(|b| **b != 0).count() == 1,
            "{:?}",
            &buf[..n]
        );
    }
    ensure!(proxy.up().duplicated() == 1 && proxy.up().corrupted() == 1);

    // One way black-holed: the target still hears the client, the client
    // hears nothing; a marker sent after shows the answer was dropped.
    proxy.set_up(Faults::default());
    proxy.set_down(Faults {
        blackhole: true,
        ..Faults::default()
    });
    client.send(b"ping").await?;
    let (n, _) = tokio::time::timeout(STEP, target.recv_from(&mut buf)).await??;
    ensure!(&buf[..n] == b"ping");
    target.send_to(b"lost", from).await?;
    let before = proxy.down().dropped();
    let deadline = std::time::Instant::now() + STEP;
    while proxy.down().dropped() == before {
        ensure!(
            std::time::Instant::now() < deadline,
            "the answer was not dropped"
        );
        tokio::task::yield_now().await;
    }
    proxy.set_down(Faults::default());
    target.send_to(b"after", from).await?;
    let n = tokio::time::timeout(STEP, client.recv(&mut buf)).await??;
    ensure!(&buf[..n] == b"after", "{:?}", &buf[..n]);

    // All lost.
    proxy.set_up(Faults {
        loss: 1.0,
        ..Faults::default()
    });
    let dropped = proxy.up().dropped();
    for _ in 0..10 {
        client.send(b"gone").await?;
    }
    let deadline = std::time::Instant::now() + STEP;
    while proxy.up().dropped() < dropped + 10 {
        ensure!(std::time::Instant::now() < deadline, "not all were dropped");
        tokio::task::yield_now().await;
    }
    proxy.set_up(Faults::default());
    client.send(b"last").await?;
    let (n, _) = tokio::time::timeout(STEP, target.recv_from(&mut buf)).await??;
    ensure!(
        &buf[..n] == b"last",
        "a lost datagram arrived: {:?}",
        &buf[..n]
    );
    Ok(())
}
