//! The web console in a real browser: Debian's Chromium, headless, driven
//! through WebDriver (`chromedriver`), against real `isop node run`
//! processes of an example federation.
//!
//! `.ci/run` installs Chromium and sets `ISOP_REQUIRE_BROWSER=1`; on a
//! machine without them this test says so and passes. With
//! `ISOP_CONSOLE_SCREENSHOTS=docs/console` it writes the screenshots the
//! README shows.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{eventually, example_federation, run, start_nodes};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any one thing the test waits for may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// Whether Chromium and its driver are here; without them the test is
/// skipped, unless `ISOP_REQUIRE_BROWSER` says they must be.
fn browser_here() -> bool {
    let here = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !here {
        assert!(
            std::env::var_os("ISOP_REQUIRE_BROWSER").is_none(),
            "ISOP_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing \
             (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "SKIPPED: the console's browser test needs {CHROMIUM} and {CHROMEDRIVER} \
             (apt-get install chromium chromium-driver; .ci/run installs them)"
        );
    }
    here
}

/// A `chromedriver` on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(log: &Path) -> Self {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .args([
                format!("--port={port}"),
                "--allowed-ips=127.0.0.1".into(),
                format!("--log-path={}", log.display()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            std::thread::yield_now();
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A new headless Chromium with its own empty profile in `profile`.
    async fn browser(&self, profile: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a WebDriver session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where screenshots go: `ISOP_CONSOLE_SCREENSHOTS`, or the test's own
/// temporary directory.
fn shots_dir(tmp: &Path) -> PathBuf {
    let dir = std::env::var_os("ISOP_CONSOLE_SCREENSHOTS").map_or_else(
        || tmp.join("screenshots"),
        |d| {
            let d = PathBuf::from(d);
            if d.is_relative() {
                // Relative to the workspace, as the README runs it.
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(d)
            } else {
                d
            }
        },
    );
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A browser of one user, with what it takes to check pages.
struct Page {
    c: Client,
    base: String,
    shots: PathBuf,
}

impl Page {
    async fn goto(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .c
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!(
                "no {css} on the page: {e}\n{}",
                self.c.source().await.unwrap_or_default()
            ),
        }
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    async fn has(&self, css: &str) -> bool {
        !self.c.find_all(Locator::Css(css)).await.unwrap().is_empty()
    }

    /// Waits until the text of `css` holds `want`: what the page shows
    /// after the node acts.
    async fn wait_text(&self, css: &str, want: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(e) = self.c.find(Locator::Css(css)).await
                && let Ok(t) = e.text().await
                && t.contains(want)
            {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never held {want:?}: {}",
                self.c.source().await.unwrap_or_default()
            );
            tokio::task::yield_now().await;
        }
    }

    async fn fill(&self, css: &str, value: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    async fn fill_form(&self, fields: &[(&str, &str)]) {
        for (css, value) in fields {
            self.fill(css, value).await;
        }
    }

    async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Waits until the value of input `css` is `want`: what the page's
    /// script puts there.
    async fn wait_value(&self, css: &str, want: &str) {
        let deadline = Instant::now() + PATIENCE;
        while self.value(css).await != want {
            assert!(Instant::now() < deadline, "{css} never held {want:?}");
            tokio::task::yield_now().await;
        }
    }

    async fn choose(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.unwrap();
    }

    /// Clicks `css` and waits for the page it leads to.
    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Saves what the window shows as `name.png`, scrolled to `css`.
    async fn shot_at(&self, name: &str, css: &str) {
        self.find(css).await;
        self.c
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'start'});",
                vec![css.into()],
            )
            .await
            .unwrap();
        self.shot(name).await;
    }

    /// Checks the page at `path` for what a person using a keyboard, a
    /// screen reader or 200% zoom needs: a label on every control, and
    /// nothing wider than a window half as wide (1280 px at 200%).
    async fn check_accessible(&self, path: &str) {
        self.goto(path).await;
        self.find("main").await;
        let unlabelled = self
            .c
            .execute(
                "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                   .filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label'))
                   .map((e) => e.id || e.name);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            unlabelled,
            serde_json::json!([]),
            "controls without a label on {path}"
        );
        self.c.set_window_size(640, 1000).await.unwrap();
        let wide = self
            .c
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        self.c.set_window_size(1280, 1000).await.unwrap();
        assert!(
            wide[0].as_u64() <= wide[1].as_u64(),
            "{path} is wider than the window at 200% zoom: {wide}"
        );
    }

    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn sign_in(&self, token: &str) {
        self.goto("/ui/").await;
        self.fill("#token", token).await;
        self.click("form[action='/ui/signin'] button").await;
        self.find("form.signout").await;
    }
}

/// The API listener of the node whose config is `cfg`.
fn api_base(cfg: &Path) -> String {
    let t: toml::Table = std::fs::read_to_string(cfg).unwrap().parse().unwrap();
    format!("http://{}", t["api"]["listen"].as_str().unwrap())
}

fn token(org_dir: &Path) -> String {
    std::fs::read_to_string(org_dir.join("api.token"))
        .unwrap()
        .trim()
        .to_owned()
}

/// How many notices the node whose config is `cfg` has sent.
fn sent_count(cfg: &str) -> usize {
    let out = run(&["sent", "--node", cfg, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    page["items"].as_array().unwrap().len()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// The daily work of an agency, a partner and the hub, in the browser.
#[test]
fn the_console_in_a_real_browser() {
    if !browser_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fed = example_federation(dir.path());
    let (_nodes, configs) = start_nodes(
        &fed,
        dir.path(),
        &["KR-KNPA", "INTERPOL-GS", "RH-FILMCO", "RH-SPORTSNET"],
    );
    let [kr, hub, filmco, sportsnet] =
        [&configs[0], &configs[1], &configs[2], &configs[3]].map(String::clone);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/referral.toml");
    let sent = run(&["submit", "--node", &filmco, example]);
    assert!(sent.status.success(), "{sent:?}");
    let inbox = eventually(&["inbox", "--node", &kr, "--json"], |o| {
        o.contains("NOTICE_KIND_REFERRAL")
    });
    let inbox: serde_json::Value = serde_json::from_str(&inbox).unwrap();
    let id = inbox["items"][0]["id"].as_str().unwrap().to_owned();
    eventually(&["inbox", "--node", &hub, "--json"], |o| o.contains(&id));
    let viewer_token = dir.path().join("viewer.token");
    run(&[
        "user",
        "add",
        "--node",
        &kr,
        "vic",
        "--role",
        "viewer",
        "--token-out",
        viewer_token.to_str().unwrap(),
    ]);
    let viewer_token = std::fs::read_to_string(&viewer_token)
        .unwrap()
        .trim()
        .to_owned();

    let driver = Driver::start(&dir.path().join("chromedriver.log"));
    let shots = shots_dir(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let page = |name: &str, cfg: &str| {
            let profile = dir.path().join(format!("profile-{name}"));
            let base = api_base(Path::new(cfg));
            let shots = shots.clone();
            let driver = &driver;
            async move {
                Page {
                    c: driver.browser(&profile).await,
                    base,
                    shots,
                }
            }
        };
        let agency = page("kr", &kr).await;
        let partner = page("filmco", &filmco).await;
        let hub_page = page("hub", &hub).await;

        // Signing in: a wrong token is refused beside the field.
        agency.goto("/ui/inbox").await;
        assert!(agency.has("#token").await, "the inbox asks to sign in first");
        agency.shot("signin").await;
        agency.fill("#token", "not-a-token-of-this-node").await;
        agency.click("form[action='/ui/signin'] button").await;
        assert!(
            agency
                .text("#token-problem")
                .await
                .contains("not a user's of this node")
        );
        agency.sign_in(&token(&fed.join("KR-KNPA"))).await;

        // Triage: the new referral, unread, and counted as needing an answer.
        assert_eq!(
            agency.text("#unanswered").await,
            "1 referral needs an answer"
        );
        assert!(agency.has("tr.unread .badge.new").await);
        assert!(agency.text("table.lines").await.contains("streamz.example"));
        agency.shot("inbox").await;
        // Filters and search go through the API's.
        agency.fill("#q", "streamz").await;
        agency.click("form.filters button").await;
        agency.wait_text("table.lines", "SOP-2026-0042").await;
        agency.fill("#q", "no-such-site.example").await;
        agency.click("form.filters button").await;
        agency.wait_text("main", "Nothing here.").await;
        agency.goto("/ui/inbox?author=RH-FILMCO&kind=NOTICE_KIND_REFERRAL").await;
        agency.wait_text("table.lines", "streamz.example").await;
        agency.goto("/ui/inbox?author=GB-PIPCU").await;
        agency.wait_text("main", "Nothing here.").await;
        agency.goto("/ui/inbox?author=not%20an%20org").await;
        assert!(agency.text("#filter-problem").await.contains("author"));
        agency.goto("/ui/inbox?kind=NOTICE_KIND_REFERRAL").await;

        // The partner follows what it sent, live.
        partner.sign_in(&token(&fed.join("RH-FILMCO"))).await;
        partner.goto("/ui/sent").await;
        partner.wait_text("#sent-rows", "KR-KNPA: delivered").await;
        partner
            .c
            .execute("window.isopNotReloaded = true;", vec![])
            .await
            .unwrap();

        // A referral, opened: its fields, its signature, its place in the log.
        agency.click("tr.unread a").await;
        agency.wait_text("#in-log", "Verified in the log").await;
        assert!(agency.text("#signature").await.contains("verifies, by key"));
        assert!(
            agency
                .text("#revealed")
                .await
                .contains("referral.evidence[0].location")
        );
        assert!(agency.text(".outline").await.contains("streamz.example"));
        agency.shot("notice").await;

        // A bad answer is refused beside the form, and nothing is sent.
        agency.choose("#status", "REFERRAL_STATUS_REJECTED").await;
        agency.click("#respond button").await;
        let problem = agency.text("#respond-problem").await;
        assert!(problem.contains("reason"), "{problem}");
        assert!(agency.text("main").await.contains("No answers yet."));

        // The answer: action taken.
        agency
            .choose("#status", "REFERRAL_STATUS_ACTION_TAKEN")
            .await;
        agency.choose("#action", "ACTION_TYPE_TAKEDOWN").await;
        agency.fill("#details", "Stream taken down at the host").await;
        agency.click("#respond button").await;
        agency.wait_text("#outcome", "answered action taken").await;
        agency.wait_text("#thread", "action taken").await;
        agency.shot_at("answered", "#thread").await;

        // The agency reports intelligence to the hub: an indicator of no
        // known kind is named beside its field; the preview shows the
        // narrative withheld from the hub.
        agency.goto("/ui/compose?kind=intel").await;
        agency
            .fill_form(&[
                ("#title", "Who runs streamz.example"),
                ("#indicators", "domain streamz.example\nplanet mars"),
                ("#narrative_value", "The operator rents the origin under a false name."),
            ])
            .await;
        agency.click("#to-INTERPOL-GS").await;
        agency.click("#send").await;
        let problem = agency.text(".problem[data-for='intel.indicators']").await;
        assert!(problem.contains("line 2"), "{problem}");
        agency
            .fill(
                "#indicators",
                "domain streamz.example\nip 203.0.113.7 ; the origin server",
            )
            .await;
        agency.click("button.secondary").await;
        let hub_view = agency
            .text("#preview article[data-org='INTERPOL-GS']")
            .await;
        assert!(
            hub_view.contains("Withheld:") && hub_view.contains("intel.narrative"),
            "{hub_view}"
        );
        agency.click("#send").await;
        agency
            .wait_text("#sent-rows", "Who runs streamz.example")
            .await;

        // The partner's sent item turns to ACTION_TAKEN without a reload.
        partner.wait_text("#sent-rows td.status", "action taken").await;
        let same_page = partner
            .c
            .execute("return window.isopNotReloaded === true;", vec![])
            .await
            .unwrap();
        assert_eq!(same_page, serde_json::Value::Bool(true), "the page reloaded");
        partner.shot("sent").await;

        // A partner is offered the kinds the policy lets it send: no
        // intelligence report, and one asked for anyway is refused so.
        partner.goto("/ui/compose?kind=intel").await;
        assert!(!partner.has("nav.kinds a[href='/ui/compose?kind=intel']").await);
        assert!(partner.text("#compose-problem").await.contains("lets no partner send"));

        // Composing a referral: required fields left empty are named beside
        // them, and nothing is sent.
        let sent_before = sent_count(&filmco);
        partner.goto("/ui/compose").await;
        partner.click("#send").await;
        for path in ["to_orgs", "referral.target", "referral.summary", "referral.evidence"] {
            partner.find(&format!(".problem[data-for='{path}']")).await;
        }
        // The evidence file is hashed in the browser; the file has no name
        // in the form, so it cannot be sent.
        let evidence = dir.path().join("capture.mkv");
        std::fs::write(&evidence, b"forty-five minutes of a live stream").unwrap();
        partner.fill_form(&[
            ("#domain", "Bad Domain!"),
            ("#summary", "Unlicensed live stream of the Cup Final"),
            ("#work_title", "Cup Final 2026"),
            ("#work_owner", "SportsNet Rights"),
            ("#hosting_country", "KR"),
            ("#jurisdiction", "KR"),
            ("#contact_value", "desk@filmco.example"),
            ("#location_value", "s3://filmco-evidence/0042.mkv"),
            ("#location_label", "role:agency&country:KR"),
        ])
        .await;
        for box_ in ["#to-KR-KNPA", "#to-INTERPOL-GS", "#good_faith", "#accuracy"] {
            partner.click(box_).await;
        }
        partner
            .find("#evidence_file")
            .await
            .send_keys(evidence.to_str().unwrap())
            .await
            .unwrap();
        let digest = sha256_hex(b"forty-five minutes of a live stream");
        partner.wait_value("#sha256", &digest).await;
        let named = partner
            .c
            .execute("return document.getElementById('evidence_file').name;", vec![])
            .await
            .unwrap();
        assert_eq!(named, "", "the file input must have no name");
        // A malformed domain: named beside the field, nothing sent.
        partner.click("#send").await;
        let problem = partner
            .text(".problem[data-for='referral.target.domain']")
            .await;
        assert!(problem.contains("Bad Domain!"), "{problem}");
        assert_eq!(partner.value("#summary").await, "Unlicensed live stream of the Cup Final");
        // A label mixing & and |: named beside it, nothing sent.
        partner.fill("#domain", "streamz2.example").await;
        partner
            .fill("#location_label", "role:agency&country:KR|role:hub")
            .await;
        partner.click("#send").await;
        let problem = partner
            .text(".problem[data-for='referral.evidence[0].location']")
            .await;
        assert!(problem.contains("mixed"), "{problem}");
        assert_eq!(sent_count(&filmco), sent_before, "a refused form sent something");
        // The preview: what each recipient of different clearance will see.
        partner.fill("#location_label", "role:agency&country:KR").await;
        partner.click("button.secondary").await;
        let kr_view = partner.text("#preview article[data-org='KR-KNPA']").await;
        let hub_view = partner
            .text("#preview article[data-org='INTERPOL-GS']")
            .await;
        assert!(
            kr_view.contains("referral.evidence[0].location") && !kr_view.contains("Withheld"),
            "{kr_view}"
        );
        assert!(hub_view.contains("role:hub"), "{hub_view}");
        let withheld = hub_view.split("Withheld:").nth(1).unwrap_or_default();
        assert!(
            withheld.contains("referral.evidence[0].location")
                && withheld.contains("INTERPOL-GS is"),
            "{hub_view}"
        );
        assert!(!withheld.contains("referral.contact"), "{hub_view}");
        partner.shot_at("compose", "#preview").await;
        partner.click("#send").await;
        partner.wait_text("#sent-rows", "streamz2.example").await;
        assert_eq!(sent_count(&filmco), sent_before + 1);
        let sent = eventually(&["sent", "--node", &filmco, "--json"], |o| {
            o.contains("streamz2.example")
        });
        assert!(sent.contains("streamz2.example"), "{sent}");

        // The hub sees the same referral, the evidence's location withheld
        // and why.
        hub_page.sign_in(&token(&fed.join("INTERPOL-GS"))).await;
        hub_page.goto(&format!("/ui/notices/{id}")).await;
        let withheld = hub_page.text("#withheld").await;
        assert!(
            withheld.contains("referral.evidence[0].location")
                && withheld.contains("role:agency&country:KR")
                && withheld.contains("this node is"),
            "{withheld}"
        );
        hub_page.wait_text("#in-log", "Verified in the log").await;
        hub_page.shot_at("withheld", "#withheld").await;

        // A second partner refers the same site: the hub sees the overlap.
        let second = run(&["submit", "--node", &sportsnet, example]);
        assert!(second.status.success(), "{second:?}");
        hub_page.goto("/ui/correlations").await;
        let deadline = Instant::now() + PATIENCE;
        while !hub_page.text("main").await.contains("RH-SPORTSNET") {
            assert!(Instant::now() < deadline, "the hub never saw the overlap");
            hub_page.c.refresh().await.unwrap();
        }
        let overlaps = hub_page.text("#overlaps").await;
        assert!(
            overlaps.contains("streamz.example") && overlaps.contains("RH-FILMCO, RH-SPORTSNET"),
            "{overlaps}"
        );
        hub_page.shot("correlations").await;

        // The federation as the hub sees it: members, keys, clearance,
        // health, checkpoints; no split view.
        hub_page.goto("/ui/federation").await;
        let members = hub_page.text("#members").await;
        for want in ["KR-KNPA", "RH-FILMCO", "INTERPOL-GS/k1: valid", "reachable"] {
            assert!(members.contains(want), "{want:?} in {members}");
        }
        assert!(hub_page.text("#clearance").await.contains("role:hub"));
        assert!(hub_page.text("#sends").await.contains("takedown request"));
        assert!(hub_page.text("#split-view").await.contains("No split view"));
        assert!(hub_page.text("#checkpoints").await.contains("INTERPOL-GS"));
        hub_page.shot("federation").await;

        // The hub verifies its own log, and downloads an export.
        hub_page.goto("/ui/audit").await;
        hub_page.click("#verify button").await;
        let verdict = hub_page.text("#verdict").await;
        assert!(verdict.contains("Verified") && verdict.contains("no finding"), "{verdict}");
        hub_page.shot("audit").await;
        let download = hub_page
            .c
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   fetch("/ui/audit/export?clearance=role:auditor")
                     .then(async (r) => done([r.status,
                        r.headers.get("content-disposition"),
                        (await r.arrayBuffer()).byteLength]));"#,
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(download[0], 200, "{download}");
        assert_eq!(download[1], "attachment; filename=\"INTERPOL-GS.isop\"", "{download}");
        assert!(download[2].as_u64().unwrap() > 1000, "{download}");

        // The hub asks an agency which of two sites it holds: the one
        // referred to it, from a referral.
        hub_page.goto("/ui/match").await;
        hub_page.choose("#with", "KR-KNPA").await;
        hub_page.fill("#indicators", "streamz.example\nelsewhere.example").await;
        hub_page.click("#match button").await;
        let verdict = hub_page.text("#verdict").await;
        assert!(verdict.contains("1 of 2 asked are held by KR-KNPA"), "{verdict}");
        let matched = hub_page.text("#matched").await;
        assert!(
            matched.contains("streamz.example") && matched.contains("NOTICE_KIND_REFERRAL"),
            "{matched}"
        );
        hub_page.shot("matching").await;

        // A viewer reads, and may not answer: no form, and the API refuses
        // a post made anyway.
        agency.click("form.signout button").await;
        agency.find("#token").await;
        agency.sign_in(&viewer_token).await;
        agency.goto(&format!("/ui/notices/{id}")).await;
        agency.find("#in-log").await;
        assert!(!agency.has("#respond").await, "a viewer got the answer form");
        let refused = agency
            .c
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   const csrf = document.querySelector("form.signout input[name=csrf]").value;
                   const body = new URLSearchParams({csrf, status: "REFERRAL_STATUS_ACCEPTED"});
                   fetch(location.pathname + "/respond", {method: "POST", body})
                     .then(async (r) => done([r.status, await r.text()]));"#,
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(refused[0], 403, "{refused}");
        assert!(
            refused[1]
                .as_str()
                .unwrap()
                .contains("viewer vic may not send notices"),
            "{refused}"
        );
        // Without the session's CSRF token, nothing is done at all.
        let forged = agency
            .c
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   const body = new URLSearchParams({csrf: "forged", status: "REFERRAL_STATUS_ACCEPTED"});
                   fetch(location.pathname + "/respond", {method: "POST", body})
                     .then(async (r) => done([r.status, await r.text()]));"#,
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(forged[0], 403, "{forged}");
        assert!(forged[1].as_str().unwrap().contains("CSRF"), "{forged}");
        // The compose form is not in a viewer's menu; sent anyway, the API
        // refuses it, and the page says so.
        assert!(!agency.has("nav a[href='/ui/compose']").await);
        agency.goto("/ui/compose?kind=intel").await;
        agency.fill("#title", "a viewer's try").await;
        agency.click("#to-INTERPOL-GS").await;
        agency.click("#send").await;
        let problem = agency.text("#compose-problem").await;
        assert!(problem.contains("viewer vic may not send notices"), "{problem}");

        // Every page, for keyboard, screen reader and 200% zoom.
        for path in [
            "/ui/inbox".to_owned(),
            format!("/ui/notices/{id}"),
            "/ui/compose".into(),
            "/ui/compose?kind=intel".into(),
            "/ui/compose?kind=takedown".into(),
            "/ui/compose?kind=case".into(),
            "/ui/compose?kind=retraction".into(),
            "/ui/sent".into(),
            "/ui/correlations".into(),
            "/ui/match".into(),
            "/ui/federation".into(),
            "/ui/audit".into(),
        ] {
            hub_page.check_accessible(&path).await;
        }

        for p in [agency, partner, hub_page] {
            p.c.close().await.unwrap();
        }
    });
    // What the console did is in the node's access record, as the CLI's
    // would be: the reads, the answer, the viewer's refusal.
    let export = dir.path().join("kr.export");
    let out = run(&[
        "log",
        "export",
        "--node",
        &kr,
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = run(&[
        "audit",
        "replay",
        "--access",
        export.to_str().unwrap(),
        "--roster-key",
        &kr,
    ]);
    let access = String::from_utf8_lossy(&out.stdout);
    assert!(
        access.contains("vic") && access.contains("REFUSED") && access.contains("read"),
        "{access}"
    );
}
