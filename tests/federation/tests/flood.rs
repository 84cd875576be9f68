//! One member floods a node (many connections, stalled streams, oversized
//! frames, concurrent syncs) while another member's deliveries keep being
//! accepted. The flooding client is built from quinn directly: a node
//! would never behave like this.

use std::sync::Arc;

use anyhow::{Result, bail, ensure};
use isop_core::*;
use isop_federation_tests::*;
use quinn::crypto::rustls::QuicClientConfig;

/// A request frame, length-prefixed, as a raw stream carries it.
fn framed(kind: pb::frame::Kind) -> Vec<u8> {
    isop_net::encode_frame(&pb::Frame {
        kind: Some(kind),
        roster_version: 0,
    })
}

/// Writes `bytes` on a new stream of `conn`, finishes it, and returns the
/// answer frame (or the error code and message).
async fn exchange(conn: &quinn::Connection, bytes: &[u8]) -> Result<pb::Frame> {
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(bytes).await?;
    send.finish()?;
    let answer = recv.read_to_end(8 << 20).await?;
    ensure!(answer.len() >= 4, "a short answer");
    Ok(isop_net::decode_frame(
        bytes::Bytes::from(answer).slice(4..),
    )?)
}

fn error_code(f: &pb::Frame) -> Option<pb::ErrorCode> {
    match &f.kind {
        Some(pb::frame::Kind::Error(e)) => pb::ErrorCode::try_from(e.code).ok(),
        _ => None,
    }
}

/// The peak resident memory of this process (every node of the test and
/// the flooding client), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_flooding_a_node_does_not_starve_another() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let addr = kr.local_addr()?;
    let before = peak_rss_kib();

    // SportsNet's flooding client: its own certificate, ALPN isop/1.
    let m = fed.member(SPORTS)?;
    let cert = std::fs::read_to_string(&m.config.tls_cert)?;
    let key = std::fs::read_to_string(&m.config.tls_key)?;
    let crypto = QuicClientConfig::try_from(rustls_client(isop_net::ALPN, Some((&cert, &key)))?)?;
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));

    // Twelve connections: the node keeps the newest four and closes the
    // rest, saying why.
    let mut conns = Vec::new();
    for _ in 0..12 {
        let conn = ep.connect(addr, "isop.invalid")?.await?;
        // One request each, so the node has admitted it before the next.
        let answer = exchange(
            &conn,
            &framed(pb::frame::Kind::GetCheckpoint(pb::GetCheckpoint {})),
        )
        .await;
        ensure!(
            answer.is_ok() || conn.close_reason().is_some(),
            "{answer:?}"
        );
        conns.push(conn);
    }
    for old in &conns[..8] {
        let why = tokio::time::timeout(STEP, old.closed()).await?.to_string();
        ensure!(why.contains("more than 4 connections"), "{why}");
    }
    let [stalls, big, syncs, _] = &conns[8..] else {
        bail!("four connections kept")
    };

    // Stalled streams: a length prefix and a few bytes, never finished
    // (half of the 32 the connection may have open).
    let mut stalled = Vec::new();
    for _ in 0..16 {
        let (mut send, recv) = stalls.open_bi().await?;
        send.write_all(&1000u32.to_be_bytes()).await?;
        send.write_all(&[0x0a; 10]).await?;
        stalled.push((send, recv));
    }

    // Oversized frames and a burst of concurrent syncs, all at once.
    let oversized = (0..8).map(|_| {
        let big = big.clone();
        tokio::spawn(async move {
            let mut bytes = (6u32 << 20).to_be_bytes().to_vec();
            bytes.extend(std::iter::repeat_n(0u8, 64 << 10));
            exchange(&big, &bytes).await
        })
    });
    let oversized: Vec<_> = oversized.collect();
    let sync_burst: Vec<_> = (0..64)
        .map(|_| {
            let syncs = syncs.clone();
            tokio::spawn(async move {
                exchange(
                    &syncs,
                    &framed(pb::frame::Kind::Sync(pb::Sync {
                        cursor: 0,
                        limit: 256,
                    })),
                )
                .await
            })
        })
        .collect();

    // Meanwhile FilmCo's referrals are delivered and accepted.
    let mut sent = Vec::new();
    for _ in 0..40 {
        sent.push(filmco.send(referral(&[KR], Tlp::Amber)).await?);
    }
    filmco
        .wait_until("FilmCo's referrals delivered", STEP, |n| {
            sent.iter().all(|s| delivered(n, s.index, KR))
        })
        .await?;
    for s in &sent {
        ensure!(kr.store().find_notice(&s.id)?.is_some());
    }

    for o in oversized {
        match o.await? {
            Ok(f) => ensure!(error_code(&f) == Some(pb::ErrorCode::TooLarge), "{f:?}"),
            // The node stopped reading: a reset is an answer too.
            Err(e) => ensure!(
                e.to_string().contains("stopped") || e.to_string().contains("reset"),
                "{e}"
            ),
        }
    }
    for s in sync_burst {
        let f = s.await??;
        ensure!(
            matches!(f.kind, Some(pb::frame::Kind::SyncBatch(_))),
            "{f:?}"
        );
    }
    // Each stalled stream is answered TIMEOUT once the read timeout passes.
    for (_send, mut recv) in stalled {
        let answer = tokio::time::timeout(STEP, recv.read_to_end(1 << 16)).await??;
        let f = isop_net::decode_frame(bytes::Bytes::from(answer).slice(4..))?;
        ensure!(error_code(&f) == Some(pb::ErrorCode::Timeout), "{f:?}");
    }
    // The kept connections still work.
    exchange(
        stalls,
        &framed(pb::frame::Kind::GetCheckpoint(pb::GetCheckpoint {})),
    )
    .await?;
    println!(
        "peak RSS of the test process (two nodes and the flooding client): {} MiB before the flood, {} MiB after",
        before / 1024,
        peak_rss_kib() / 1024
    );
    ep.close(0u32.into(), b"done");
    for n in [kr, filmco] {
        n.shutdown().await?;
    }
    Ok(())
}
