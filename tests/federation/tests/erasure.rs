//! Erasure and retention, on real nodes (the in-memory network, one
//! manual clock): values erased on request and by the retention policy (by
//! age, and once a case closes; at start and on demand) leave a log that
//! still verifies, whose export holds no erased value, and whose LOCAL
//! entries say who erased what and why. Bad requests are refused by name.

use std::time::Duration;

use anyhow::{Result, ensure};
use isop_api::EraseRequest;
use isop_core::*;
use isop_federation_tests::*;
use isop_net::MemoryNetwork;
use isop_node::Clock;
use isop_node::config::{RetentionFrom, RetentionRule};

const WAIT: Duration = Duration::from_secs(10);
const DAY: u64 = 86_400_000;
const CONTACT: &str = "desk@filmco.example";
const EVIDENCE: &str = "s3://evidence/1";

fn rule(name: &str, path: &str, after_days: u64, from: RetentionFrom) -> RetentionRule {
    RetentionRule {
        name: name.into(),
        label: None,
        path: Some(path.into()),
        kind: Some("referral".into()),
        after_days,
        from,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erased_values_are_gone_and_the_log_still_verifies() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let network = MemoryNetwork::new();
    let clock = Clock::manual(now());
    let mut fed = federation_in_memory(dir.path(), &network, &clock)?;
    let token = dir.path().join("kr.token");
    with_api(&mut fed, KR, &token)?;
    {
        let kr = &mut fed.member_mut(KR)?.config;
        // A rule must select something: one for every value is refused,
        // naming the rule, before the node starts.
        kr.retention.rules = vec![RetentionRule {
            name: "everything".into(),
            label: None,
            path: None,
            kind: None,
            after_days: 1,
            from: RetentionFrom::Logged,
        }];
    }
    let e = fed
        .start(KR)
        .await
        .expect_err("a rule that selects every value");
    ensure!(e.to_string().contains("\"everything\""), "{e}");
    fed.member_mut(KR)?.config.retention.rules = vec![
        rule("contact", "referral.contact", 180, RetentionFrom::Logged),
        rule(
            "evidence",
            "referral.evidence[0].location",
            0,
            RetentionFrom::CaseClosed,
        ),
    ];
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let t = clock.now();
    let refer = |case: &str| {
        testing::referral("streamz.example", t, &[&org(KR)], Tlp::Amber).case_ref(case)
    };
    let first = filmco.send(refer("SOP-9")).await?;
    let second = filmco.send(refer("SOP-10")).await?;
    for s in [&first, &second] {
        filmco
            .wait_until("delivered", WAIT, |n| delivered(n, s.index, KR))
            .await?;
    }
    let api = api_client(&kr, &token)?;
    let erase = |field: Option<&str>, reason: &str| EraseRequest {
        field: field.map(Into::into),
        reason: reason.into(),
    };

    // Bad requests, each named.
    for (id, req, says) in [
        (
            "0190a5e2-0000-7000-8000-000000000000".to_owned(),
            erase(None, "order"),
            "404",
        ),
        (
            first.id.to_string(),
            erase(Some("referral.nothing"), "order"),
            "its labelled fields: referral.contact",
        ),
        (
            first.id.to_string(),
            erase(Some("referral.internal_ref"), "order"),
            "holds no value at referral.internal_ref",
        ),
        (first.id.to_string(), erase(None, " "), "say why"),
    ] {
        let e = api.erase(&id, &req).await.expect_err(says);
        ensure!(e.to_string().contains(says), "{says:?} not in {e}");
    }

    // An order erases one value of the first referral; again, it is
    // said to be gone already.
    let done = api
        .erase(
            &first.id.to_string(),
            &erase(
                Some("referral.evidence[0].location"),
                "lawful order 2026/17",
            ),
        )
        .await?;
    ensure!(done.fields.len() == 1 && done.fields[0].path == "referral.evidence[0].location");
    let e = api
        .erase(
            &first.id.to_string(),
            &erase(Some("referral.evidence[0].location"), "again"),
        )
        .await
        .expect_err("erased already");
    ensure!(e.to_string().contains("erased already"), "{e}");

    // Nothing is due yet. KR closes the second referral's case: its
    // evidence is due at once; the contacts, 180 days on.
    ensure!(api.retention_due().await?.fields.is_empty());
    let close = NoticeDraft::new(
        Tlp::Amber,
        CaseMessageBuilder::new(pb::CaseAction::Close).build(),
    )
    .to_org(&org(FILMCO))
    .case_ref("SOP-10");
    kr.send(close).await?;
    let due = api.retention_due().await?;
    ensure!(
        due.fields.len() == 1
            && due.fields[0].id == second.id.to_string()
            && due.fields[0].rule.as_deref() == Some("evidence"),
        "{due:?}"
    );
    let applied = api.retention_apply().await?;
    ensure!(applied.fields.len() == 1, "{applied:?}");
    ensure!(api.retention_due().await?.fields.is_empty());

    // 181 days on, KR restarts: the policy applies at start and erases
    // both contacts.
    clock.advance(181 * DAY);
    kr.shutdown().await?;
    let kr = fed.start(KR).await?;
    kr.wait_until("the contacts erased at start", WAIT, |n| {
        [&first, &second].iter().all(|s| {
            n.store()
                .find_notice(&s.id)
                .ok()
                .flatten()
                .and_then(|at| n.held(at).ok().flatten())
                .is_some_and(|h| h.erased.iter().any(|(_, e)| e.path == "referral.contact"))
        })
    })
    .await?;
    let api = api_client(&kr, &token)?;

    // `show` says what was erased, when, by whom and why.
    let shown = api.show(&first.id.to_string()).await?;
    let by: Vec<(&str, &str)> = shown
        .erased
        .iter()
        .map(|e| (e.path.as_str(), e.erased_by.as_str()))
        .collect();
    ensure!(
        by.contains(&("referral.evidence[0].location", "admin"))
            && by.contains(&("referral.contact", "retention")),
        "{by:?}"
    );
    ensure!(
        shown
            .erased
            .iter()
            .any(|e| e.reason == "lawful order 2026/17"),
        "{:?}",
        shown.erased
    );

    // The export holds no erased value; it verifies, and lists the erasures.
    let mut export = Vec::new();
    kr.export(&mut export, &kr.roster().clearance(&org(KR))?)?;
    let text = String::from_utf8_lossy(&export);
    ensure!(
        !text.contains(CONTACT) && !text.contains(EVIDENCE),
        "an erased value was exported"
    );
    let report = isop_audit::verify(
        export.as_slice(),
        &isop_audit::VerifyOptions::new(fed.roster_key()),
        None,
    )?;
    ensure!(report.findings.is_empty(), "{:?}", report.findings);
    ensure!(report.erasures.len() == 4, "{:?}", report.erasures);
    ensure!(
        report
            .erasures
            .iter()
            .filter(|e| e.erased_by == "retention" && e.reason.starts_with("retention rule contact"))
            .count()
            == 2,
        "{:?}",
        report.erasures
    );
    kr.shutdown().await?;
    filmco.shutdown().await?;
    Ok(())
}
