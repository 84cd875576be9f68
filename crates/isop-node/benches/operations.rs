//! The operator's and analyst's reads over a full log, on a real agency
//! node (loopback QUIC from two partner nodes, a sled log, its local API
//! over HTTP), in a release build:
//!
//! ```sh
//! cargo bench -p isop-node --bench operations
//! ISOP_BENCH_NOTICES=50000 cargo bench -p isop-node --bench operations
//! ```
//!
//! Two partners refer `ISOP_BENCH_NOTICES` sites (default 20,000) to the
//! agency; one site in ten is referred by both, so a tenth of the second
//! partner's referrals make overlaps. Then, against the agency's API:
//!
//! - `GET /v1/correlations` (a scan of the log) and `GET /v1/retention`
//!   with one rule (a scan of the log): the time of one answer;
//! - `GET /v1/notices/{id}`, each read recorded as a LOCAL `Access` entry
//!   before it is answered, against `GET /v1/notices/{id}/track` (a read
//!   of the same notice and its thread, recording nothing): p50 and p99
//!   over 500 reads each, and their ratio, in the same run;
//! - `POST /v1/node/reload` (the key and certificate files read and
//!   checked, the TLS configuration rebuilt): p50 over 20;
//! - the inbox's first page (`GET /v1/inbox`, with the count of referrals
//!   awaiting an answer, a scan of the inbox) and one narrowed by text
//!   (`contains=`); the web console's inbox and notice pages, signed in
//!   (`GET /ui/inbox`, `GET /ui/notices/{id}`: the API's answers and a
//!   template), p50 over 20 and 500;
//! - TAXII 2.1 (`GET /taxii2/isop/collections/{all}/objects/`, each
//!   notice read recorded): a page of 100 objects from the start and from
//!   the log's middle, p50 over 20, against ten `GET /v1/notices/{id}`
//!   (a page holds about ten referrals); and the whole collection at 1,000
//!   a page, as `isop export stix` reads it;
//! - `POST /v1/audit` (the log exported and verified over a pipe): the
//!   time of one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use isop_authority::{LocalFederation, MemberSpec};
use isop_core::*;
use isop_node::config::{RetentionFrom, RetentionRule};
use isop_node::now;

/// The allocator the `isop` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KR: &str = "KR-KNPA";

fn org(s: &str) -> OrgId {
    s.parse().expect("an org id")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Times `n` calls of `call`, sorted.
async fn timed<F, Fut, T>(n: usize, mut call: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, isop_api::Error>>,
{
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        call(i).await?;
        lat.push(t.elapsed());
    }
    lat.sort_unstable();
    Ok(lat)
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    rustix::thread::disable_transparent_huge_pages(true)?;
    let notices = std::env::var("ISOP_BENCH_NOTICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000u64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(notices))
}

async fn run(notices: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let specs = [
        MemberSpec::new(KR, "Korean National Police Agency", Role::Agency, "KR")?,
        MemberSpec::new("RH-FILMCO", "FilmCo", Role::Partner, "US")?,
        MemberSpec::new("RH-SPORTSNET", "SportsNet", Role::Partner, "GB")?,
    ];
    let mut fed = LocalFederation::create(dir.path(), "isop-bench", &specs, &[])?;
    fed.member_mut(KR)?.config.retention.rules = vec![RetentionRule {
        name: "contacts".into(),
        label: None,
        path: Some("referral.contact".into()),
        kind: Some("referral".into()),
        after_days: 365,
        from: RetentionFrom::Logged,
    }];
    let kr = fed.start(KR).await?;
    let partners = [
        Arc::new(fed.start("RH-FILMCO").await?),
        Arc::new(fed.start("RH-SPORTSNET").await?),
    ];

    // The log: each partner refers half the sites; the second partner's
    // every tenth site is one the first referred.
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for (p, node) in partners.iter().enumerate() {
        let node = node.clone();
        senders.spawn(async move {
            let half = notices / 2;
            let mut i = 0;
            while i < half {
                let mut wave = tokio::task::JoinSet::new();
                for j in i..(i + 64).min(half) {
                    let site = if p == 0 || j % 10 == 0 { j } else { half + j };
                    let body = testing::referral_builder(
                        testing::target(&format!("site{site}.example")),
                        now(),
                    )
                    .build();
                    let draft = testing::referral_draft(body, &[&org(KR)], Tlp::Amber);
                    let node = node.clone();
                    wave.spawn(async move { node.send(draft).await.map(|_| ()) });
                }
                while let Some(sent) = wave.join_next().await {
                    sent??;
                }
                i += 64;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = senders.join_next().await {
        done??;
    }
    let expected = notices / 2 * 2;
    kr.wait_until("every referral", Duration::from_secs(900), |n| {
        n.store()
            .inbox(false)
            .is_ok_and(|i| i.len() as u64 == expected)
    })
    .await?;
    println!(
        "operations over an agency's log of {expected} referrals from 2 partners (filled in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let api = fed.member(KR)?.config.api.clone().expect("an API");
    let api = isop_api::ApiClient::new(
        &kr.api_addr().expect("an API address").to_string(),
        &std::fs::read_to_string(&api.token_file)?,
    )?;

    let t = Instant::now();
    let found = api
        .correlations(&isop_api::CorrelationQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await?;
    let correlations = t.elapsed();
    let overlaps = found.overlaps.len() as u64 + found.more;
    assert_eq!(
        overlaps,
        (notices / 2).div_ceil(10),
        "one site in ten is shared"
    );
    println!(
        "  GET /v1/correlations: {:.0} ms ({overlaps} overlaps; {:.2} µs per log entry)",
        ms(correlations),
        correlations.as_secs_f64() * 1e6 / kr.store().size() as f64
    );
    let t = Instant::now();
    let due = api.retention_due().await?;
    let retention = t.elapsed();
    assert!(due.fields.is_empty(), "nothing is a year old");
    println!(
        "  GET /v1/retention (1 rule, dry run): {:.0} ms ({:.2} µs per log entry)",
        ms(retention),
        retention.as_secs_f64() * 1e6 / kr.store().size() as f64
    );

    let ids: Vec<String> = kr
        .store()
        .inbox(false)?
        .iter()
        .step_by((expected as usize / 500).max(1))
        .take(500)
        .map(|(at, _)| {
            kr.notice_at(*at)
                .ok()
                .flatten()
                .map(|l| l.notice.id().to_string())
                .expect("a notice")
        })
        .collect();
    let size = kr.store().size();
    let show = timed(ids.len(), |i| api.show(&ids[i])).await?;
    assert_eq!(
        kr.store().size(),
        size + ids.len() as u64,
        "one Access entry a read"
    );
    let track = timed(ids.len(), |i| api.track(&ids[i])).await?;
    println!(
        "  GET /v1/notices/{{id}} (read recorded): p50 {:.2} ms, p99 {:.2} ms; GET .../track (nothing recorded): p50 {:.2} ms, p99 {:.2} ms; ratio p50 {:.2}",
        ms(percentile(&show, 0.5)),
        ms(percentile(&show, 0.99)),
        ms(percentile(&track, 0.5)),
        ms(percentile(&track, 0.99)),
        ms(percentile(&show, 0.5)) / ms(percentile(&track, 0.5))
    );
    let reload = timed(20, |_| api.reload()).await?;
    println!(
        "  POST /v1/node/reload: p50 {:.2} ms, max {:.2} ms",
        ms(percentile(&reload, 0.5)),
        ms(percentile(&reload, 1.0))
    );

    let everything = isop_api::ListQuery::default();
    let first_page = timed(20, |_| api.inbox(&everything)).await?;
    let by_text = isop_api::ListQuery {
        contains: Some("site7.".into()),
        ..Default::default()
    };
    let narrowed = timed(20, |_| api.inbox(&by_text)).await?;
    println!(
        "  GET /v1/inbox (first page, with the unanswered count): p50 {:.0} ms; narrowed by text: p50 {:.0} ms",
        ms(percentile(&first_page, 0.5)),
        ms(percentile(&narrowed, 0.5)),
    );
    let console = Console::sign_in(
        &kr,
        &std::fs::read_to_string(
            &fed.member(KR)?
                .config
                .api
                .clone()
                .expect("an API")
                .token_file,
        )?,
    )
    .await?;
    let inbox_page = console.timed(20, |_| "/ui/inbox".to_owned()).await?;
    let notice_page = console
        .timed(ids.len(), |i| format!("/ui/notices/{}", ids[i]))
        .await?;
    println!(
        "  console GET /ui/inbox: p50 {:.0} ms; GET /ui/notices/{{id}}: p50 {:.2} ms, p99 {:.2} ms ({:.2}x the API's read)",
        ms(percentile(&inbox_page, 0.5)),
        ms(percentile(&notice_page, 0.5)),
        ms(percentile(&notice_page, 0.99)),
        ms(percentile(&notice_page, 0.5)) / ms(percentile(&show, 0.5))
    );
    // TAXII: pages of the collection of everything, each notice's read
    // recorded; then the whole collection at 1,000 a page, as `isop
    // export stix` reads it.
    let collections = api.taxii("/taxii2/isop/collections/", &[]).await?;
    let all = collections["collections"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["alias"] == "all"))
        .and_then(|c| c["id"].as_str())
        .expect("the collection of everything")
        .to_owned();
    let objects = format!("/taxii2/isop/collections/{all}/objects/");
    let limit = |n: usize| ("limit", n.to_string());
    let from_start = [limit(100)];
    let first = timed(20, |_| api.taxii(&objects, &from_start)).await?;
    let from_middle = [limit(100), ("next", format!("{}-0", notices / 2))];
    let middle = api.taxii(&objects, &from_middle).await?;
    assert!(middle["objects"].as_array().is_some_and(|o| o.len() == 100));
    let deep = timed(20, |_| api.taxii(&objects, &from_middle)).await?;
    let t = Instant::now();
    let (mut pages, mut count, mut next) = (0, 0, None::<String>);
    loop {
        let mut query = vec![limit(1000)];
        query.extend(next.take().map(|n| ("next", n)));
        let page = api.taxii(&objects, &query).await?;
        pages += 1;
        count += page["objects"].as_array().map_or(0, Vec::len);
        match page["next"].as_str() {
            Some(n) if page["more"] == true => next = Some(n.to_owned()),
            _ => break,
        }
    }
    let whole = t.elapsed();
    println!(
        "  TAXII objects, 100 a page: p50 {:.1} ms from the start, {:.1} ms from the log's middle ({:.2}x 10 GET /v1/notices/{{id}}); the whole collection: {count} objects in {pages} pages in {:.1} s ({:.0} objects/s)",
        ms(percentile(&first, 0.5)),
        ms(percentile(&deep, 0.5)),
        ms(percentile(&deep, 0.5)) / (10.0 * ms(percentile(&show, 0.5))),
        whole.as_secs_f64(),
        count as f64 / whole.as_secs_f64()
    );

    let t = Instant::now();
    let report = api.audit().await?;
    assert_eq!(report.findings_total, 0, "{:?}", report.findings);
    println!(
        "  POST /v1/audit: {:.0} ms ({} entries, {:.2} µs per entry)",
        ms(t.elapsed()),
        report.entries,
        t.elapsed().as_secs_f64() * 1e6 / report.entries as f64
    );

    for node in partners {
        Arc::into_inner(node)
            .expect("the senders are done")
            .shutdown()
            .await?;
    }
    kr.shutdown().await?;
    Ok(())
}

/// A signed-in session of a node's web console, over HTTP.
struct Console {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Console {
    /// Signs in to `node`'s console with `token`, as a browser does: the
    /// form's CSRF token and its cookie, then the session cookie.
    async fn sign_in(node: &isop_node::Node, token: &str) -> anyhow::Result<Self> {
        // Redirects not followed: the session cookie comes with one.
        let http = isop_api::http_client_builder()?
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let base = format!("http://{}", node.api_addr().expect("an API address"));
        let form = http.get(format!("{base}/ui/signin")).send().await?;
        let cookie = |r: &reqwest::Response| -> Option<String> {
            r.headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| !v.contains("Max-Age=0"))
                .and_then(|v| v.split(';').next())
                .map(str::to_owned)
        };
        let signin = cookie(&form).expect("the sign-in cookie");
        let html = form.text().await?;
        let csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("the form's CSRF token")
            .to_owned();
        let signed = http
            .post(format!("{base}/ui/signin"))
            .header("cookie", signin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}&token={}", token.trim()))
            .send()
            .await?;
        let cookie = cookie(&signed).expect("the session cookie");
        Ok(Self { http, base, cookie })
    }

    /// Times `n` page loads, the `i`th of `path(i)`, sorted.
    async fn timed(
        &self,
        n: usize,
        path: impl Fn(usize) -> String,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut lat = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            let page = self
                .http
                .get(format!("{}{}", self.base, path(i)))
                .header("cookie", &self.cookie)
                .send()
                .await?;
            anyhow::ensure!(
                page.status().is_success(),
                "{} answered {}",
                path(i),
                page.status()
            );
            page.bytes().await?;
            lat.push(t.elapsed());
        }
        lat.sort_unstable();
        Ok(lat)
    }
}
