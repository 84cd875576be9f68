//! Private matching between real nodes over QUIC (docs/MATCHING.md): an
//! agency asks another which of its indicators it holds, through its
//! local API; both logs record the run and audit clean; and the roster's
//! limits refuse, by name, a partner without the right, a query over the
//! size limit, an answer set under the smallest allowed, more elements
//! than a run was opened for, and a pair over its daily limit, as the answering node enforces them against a client
//! that skips the asker's own checks.

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use isop_core::*;
use isop_federation_tests::*;
use isop_match::{Item, query_commitment};
use isop_net::PeerConnection;
use isop_node::Node;
use prost::Message;

/// The matching runs `node`'s log records, in order.
fn runs(node: &Node) -> Result<Vec<(String, pb::MatchRun)>> {
    let mut out = Vec::new();
    for e in node
        .store()
        .entries(LogIndex(0), LogIndex(node.store().size()))
    {
        let entry = pb::LogEntry::decode(e?.1)?;
        if let Some(pb::log_entry::Record::MatchRun(m)) = entry.record {
            ensure!(
                entry.direction == pb::Direction::Local as i32,
                "a run not logged LOCAL"
            );
            out.push((entry.peer, m));
        }
    }
    Ok(out)
}

/// Sends one request frame; its answer, or the error frame's message.
async fn ask(
    conn: &PeerConnection,
    kind: pb::frame::Kind,
) -> Result<std::result::Result<pb::frame::Kind, String>> {
    match conn
        .request(&pb::Frame {
            kind: Some(kind),
            roster_version: 0,
        })
        .await
    {
        Ok(f) => Ok(Ok(f.kind.context("an empty answer")?)),
        Err(isop_net::Error::Remote { message, .. }) => Ok(Err(message)),
        Err(e) => Err(e.into()),
    }
}

fn open(run: u8, items: u64) -> pb::frame::Kind {
    pb::frame::Kind::MatchOpen(pb::MatchOpen {
        run: Bytes::from(vec![run; 16]),
        query_items: items,
        query_commitment: Bytes::from(vec![7; 32]),
    })
}

fn close(run: u8) -> pb::frame::Kind {
    pb::frame::Kind::MatchClose(pb::MatchClose {
        run: Bytes::from(vec![run; 16]),
        matched: 0,
        positions: Vec::new(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agency_learns_which_of_its_indicators_another_holds_and_the_limits_hold() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    // GB's operator list: 150 sites and an account.
    let list_file = dir.path().join("gb-list.txt");
    let mut text: String = (0..150)
        .map(|i| format!("site{i}.list.example\n"))
        .collect();
    text.push_str("# an account\naccount DE89 3704 0044 0532 0130 00\n");
    std::fs::write(&list_file, &text)?;
    fed.member_mut(GB)?.config.match_list = Some(list_file.clone());
    let token = dir.path().join("kr-token");
    with_api(&mut fed, KR, &token)?;
    let gb_token = dir.path().join("gb-token");
    with_api(&mut fed, GB, &gb_token)?;
    let kr = fed.start(KR).await?;
    let gb = fed.start(GB).await?;
    let filmco = fed.start(FILMCO).await?;
    // GB holds streamz.example from KR's intelligence report.
    let sent = kr.send(intel_to(GB)).await?;
    gb.wait_until("KR's report", STEP, |n| {
        n.store().find_notice(&sent.id).ok().flatten().is_some()
    })
    .await?;

    // KR asks through its API: four of seven are held.
    let asked = [
        "site1.list.example",
        "domain Site2.List.Example",
        "DE89 3704 0044 0532 0130 00",
        "streamz.example",
        "sub.site1.list.example",
        "elsewhere.example",
        "203.0.113.9",
    ];
    let api = api_client(&kr, &token)?;
    let result = api
        .match_with(&isop_api::MatchRequest {
            with: GB.into(),
            indicators: asked.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .await?;
    let mut found: Vec<(String, String, Vec<String>)> = result
        .matched
        .iter()
        .map(|m| {
            (
                m.kind.clone(),
                m.value.clone(),
                m.sources.clone().unwrap_or_default(),
            )
        })
        .collect();
    found.sort();
    let list = vec!["LIST".to_string()];
    assert_eq!(
        found,
        vec![
            (
                "account".into(),
                "DE89370400440532013000".into(),
                list.clone()
            ),
            ("domain".into(), "site1.list.example".into(), list.clone()),
            ("domain".into(), "site2.list.example".into(), list.clone()),
            (
                "domain".into(),
                "streamz.example".into(),
                vec!["NOTICE_KIND_INTEL_REPORT".into()]
            ),
        ]
    );
    assert_eq!((result.asked, result.with.as_str()), (7, GB));
    assert!(result.held >= 151, "{}", result.held);

    // Both logs hold the run; the asker's commitment opens with its salt.
    let items: Vec<Item> = asked
        .iter()
        .map(|s| Item::parse_line(s))
        .collect::<Result<_, _>>()?;
    let mine = runs(&kr)?;
    let [(peer, m)] = mine.as_slice() else {
        bail!("{mine:?}")
    };
    assert_eq!(
        (peer.as_str(), m.asked, m.stage),
        (GB, true, pb::MatchStage::Closed as i32)
    );
    assert_eq!(
        (m.query_items, m.matched, m.held_items),
        (7, Some(4), result.held)
    );
    let salt: [u8; 32] = m.query_salt.as_ref().try_into()?;
    assert_eq!(m.query_commitment.as_ref(), query_commitment(&items, &salt));
    assert_eq!(hex::encode(&m.run), result.run);
    let theirs = runs(&gb)?;
    let stages: Vec<(String, i32, Option<u64>)> = theirs
        .iter()
        .map(|(p, m)| (p.clone(), m.stage, m.matched))
        .collect();
    assert_eq!(
        stages,
        vec![
            (KR.into(), pb::MatchStage::Opened as i32, None),
            (KR.into(), pb::MatchStage::Closed as i32, Some(4))
        ]
    );
    assert!(theirs.iter().all(|(_, t)| t.query_salt.is_empty()
        && t.run == m.run
        && t.query_commitment == m.query_commitment));

    // A list its operator broke: the asker is refused without being told
    // the answerer's paths, and nothing is counted against it.
    std::fs::write(&list_file, "not an indicator\n")?;
    let e = kr
        .match_with(&org(GB), items.clone(), "test")
        .await
        .unwrap_err()
        .to_string();
    ensure!(
        e.contains("cannot read what it matches against") && !e.contains("gb-list"),
        "{e}"
    );
    std::fs::write(&list_file, &text)?;

    // A partner may not ask an agency: refused, whoever checks.
    let ep = raw_client(&fed, FILMCO, None, None)?;
    let conn = ep.connect(kr.local_addr()?, &org(KR)).await?;
    let e = ask(&conn, open(1, 5)).await?.unwrap_err();
    ensure!(e.contains("lets no partner ask an agency"), "{e}");
    let e = filmco
        .match_with(&org(KR), items.clone(), "test")
        .await
        .unwrap_err()
        .to_string();
    ensure!(e.contains("lets no partner ask an agency"), "{e}");

    // A partner may ask the hub, once it holds enough.
    let hub = fed.start(HUB).await?;
    let e = filmco
        .match_with(&org(HUB), items.clone(), "test")
        .await
        .unwrap_err()
        .to_string();
    ensure!(
        e.contains("INTERPOL-GS refused: this node holds")
            && e.contains("under the policy's min_held_items of 1000"),
        "{e}"
    );
    hub.shutdown().await?;

    // KR's own connection, skipping its node's checks: GB enforces them.
    let ep = raw_client(&fed, KR, None, None)?;
    let conn = ep.connect(gb.local_addr()?, &org(GB)).await?;
    let e = ask(&conn, open(2, 100_001)).await?.unwrap_err();
    ensure!(
        e.contains("100001 items asked, over the policy's max_query_items of 100000"),
        "{e}"
    );
    let e = ask(&conn, close(9)).await?.unwrap_err();
    ensure!(e.contains("no open matching run of yours"), "{e}");
    // More elements than the run was opened for.
    let Ok(pb::frame::Kind::MatchOpened(_)) = ask(&conn, open(3, 1)).await? else {
        bail!("not opened")
    };
    let (_, blinded) = isop_match::Asker::new(items[..2].to_vec(), &mut rand::rngs::OsRng);
    let e = ask(
        &conn,
        pb::frame::Kind::MatchEvaluate(pb::MatchElements {
            run: Bytes::from(vec![3; 16]),
            elements: blinded.into(),
        }),
    )
    .await?
    .unwrap_err();
    ensure!(
        e.contains("2 elements in all, over the 1 items the run was opened for"),
        "{e}"
    );
    ask(&conn, close(3)).await?.map_err(anyhow::Error::msg)?;
    // Two requests sent at once cannot pass the limit together.
    let Ok(pb::frame::Kind::MatchOpened(_)) = ask(&conn, open(4, 2)).await? else {
        bail!("not opened")
    };
    let (_, two) = isop_match::Asker::new(items[..2].to_vec(), &mut rand::rngs::OsRng);
    let evaluate = || {
        pb::frame::Kind::MatchEvaluate(pb::MatchElements {
            run: Bytes::from(vec![4; 16]),
            elements: two.clone().into(),
        })
    };
    let (a, b) = tokio::join!(ask(&conn, evaluate()), ask(&conn, evaluate()));
    let answered: Vec<_> = [a?, b?].into_iter().filter(|r| r.is_ok()).collect();
    assert_eq!(answered.len(), 1, "{answered:?}");
    ask(&conn, close(4)).await?.map_err(anyhow::Error::msg)?;
    // Three runs so far today; the policy allows 24 a day.
    for run in 10..31 {
        let Ok(pb::frame::Kind::MatchOpened(_)) = ask(&conn, open(run, 1)).await? else {
            bail!("run {run} not opened")
        };
        ask(&conn, close(run)).await?.map_err(anyhow::Error::msg)?;
    }
    let e = ask(&conn, open(40, 1)).await?.unwrap_err();
    ensure!(
        e.contains("KR-KNPA has started 24 runs with this node in the last 24 hours, the policy's runs_per_day"),
        "{e}"
    );
    let e = api
        .match_with(&isop_api::MatchRequest {
            with: GB.into(),
            indicators: vec!["site1.list.example".into()],
            ..Default::default()
        })
        .await
        .unwrap_err()
        .to_string();
    ensure!(e.contains("refused") && e.contains("runs_per_day"), "{e}");
    // The refused run is on KR's record too.
    let mine = runs(&kr)?;
    assert_eq!(
        mine.last().map(|(_, m)| m.stage),
        Some(pb::MatchStage::Refused as i32)
    );

    // GB asks KR what its inbox names: KR's own report's site.
    let r = api_client(&gb, &gb_token)?
        .match_with(&isop_api::MatchRequest {
            with: KR.into(),
            from_inbox: true,
            ..Default::default()
        })
        .await?;
    assert_eq!((r.asked, r.matched.len()), (1, 1), "{r:?}");
    assert_eq!(r.matched[0].value, "streamz.example");

    // Both logs audit clean, and the auditor's replay lists the runs.
    for n in [&kr, &gb] {
        let findings = audit_findings(n, &fed)?;
        ensure!(findings.is_empty(), "{}: {findings:?}", n.org());
    }
    let mut export = Vec::new();
    gb.export(&mut export, &gb.roster().clearance(gb.org())?)?;
    let story = isop_audit::replay(export.as_slice(), &fed.roster_key(), None)?;
    // Answered: 24 runs, opened and closed; asked: one.
    assert_eq!(story.matches.len(), 2 * 24 + 1);
    assert_eq!(story.matches[1].matched, Some(4));
    for n in [kr, gb, filmco] {
        n.shutdown().await?;
    }
    Ok(())
}

/// The benchmark between real nodes, opt-in: KR asks `ISOP_MATCH_ASKED`
/// (default 100,000) sites of GB, whose operator's list holds
/// `ISOP_MATCH_HELD` (default 1,000,000), 1,000 of them in both. Prints
/// the time, the bytes each way and each node's peak memory (both nodes
/// share this process: the peak is the process's).
///
/// ```sh
/// cargo test --release -p isop-federation-tests --test matching -- --ignored --nocapture
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run it with --ignored, in a release build"]
async fn a_matching_of_100k_against_1m_between_nodes() -> Result<()> {
    let count = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (asked, held) = (
        count("ISOP_MATCH_ASKED", 100_000),
        count("ISOP_MATCH_HELD", 1_000_000),
    );
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let list_file = dir.path().join("gb-list.txt");
    let text: String = (0..held)
        .map(|i| format!("site-{i}.held.example\n"))
        .collect();
    std::fs::write(&list_file, text)?;
    fed.member_mut(GB)?.config.match_list = Some(list_file);
    let kr = fed.start(KR).await?;
    let gb = fed.start(GB).await?;
    let both = 1_000.min(asked).min(held);
    let items: Vec<Item> = (0..asked)
        .map(|i| {
            let n = if i < both { i } else { held + i };
            Item::parse_line(&format!("site-{n}.held.example"))
        })
        .collect::<Result<_, _>>()?;
    let t = std::time::Instant::now();
    let r = kr.match_with(&org(GB), items, "bench").await?;
    let secs = t.elapsed().as_secs_f64();
    ensure!(r.matched.len() == both, "{} matched", r.matched.len());
    let status = std::fs::read_to_string("/proc/self/status")?;
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap_or("?")
        .trim()
        .to_owned();
    println!(
        "{asked} asked against {} held between two nodes: {secs:.1} s; {} bytes sent ({:.1} per asked item), {} received ({:.1} per held item beyond 32 per asked); peak memory of the process holding both nodes {peak}",
        r.held,
        r.bytes.0,
        r.bytes.0 as f64 / asked as f64,
        r.bytes.1,
        (r.bytes.1 as f64 - 32.0 * asked as f64) / r.held as f64,
    );
    for n in [kr, gb] {
        n.shutdown().await?;
    }
    Ok(())
}
