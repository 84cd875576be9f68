//! The fault suite, with real `isop node run` processes on loopback: nodes
//! killed with SIGKILL at random moments while notices stream, restarted,
//! and then proven to have lost nothing, duplicated nothing, and logged a
//! matching receipt for every delivery, with `isop audit` clean on every
//! log.
//!
//! CI runs a short version. The long one:
//!
//! ```sh
//! ISOP_FAULT_NOTICES=10000 ISOP_FAULT_KILLS=20 cargo test --release -p isop --test faults -- --nocapture
//! ```

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use isop_core::pb::export_record::Record as Rec;
use isop_core::{NOTICE_PAYLOAD_TYPE, Notice, ReceiptOutcome, SignedReceipts, pb};
use prost::Message;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const RECEIVER: &str = "KR-KNPA";
const SENDERS: [&str; 2] = ["GB-PIPCU", "INTERPOL-GS"];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An example federation on free ports, whose nodes are started and
/// killed as processes.
struct Federation {
    dir: tempfile::TempDir,
    api: Api,
    procs: HashMap<&'static str, Child>,
}

/// The nodes' local APIs.
#[derive(Clone)]
struct Api {
    root: PathBuf,
    api_base: u16,
    http: reqwest::Client,
}

/// The org's position in the example federation (its port offset).
fn slot(org: &str) -> u16 {
    [
        "INTERPOL-GS",
        "KR-KNPA",
        "GB-PIPCU",
        "RH-FILMCO",
        "RH-SPORTSNET",
    ]
    .iter()
    .position(|o| *o == org)
    .expect("an example org") as u16
}

impl Federation {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path().join("fed");
        let (quic, api) = free_ports();
        let out = run(&[
            "certs",
            "example",
            root.to_str().expect("utf-8"),
            "--quic-port",
            &quic.to_string(),
            "--api-port",
            &api.to_string(),
        ]);
        assert!(out.status.success(), "{out:?}");
        // Retries fall due quickly, so a restarted peer is found again soon.
        for org in ["INTERPOL-GS", "KR-KNPA", "GB-PIPCU"] {
            let path = root.join(org).join("node.toml");
            let text = std::fs::read_to_string(&path).expect("a config");
            let text = text
                .replace("initial_backoff_ms = 500", "initial_backoff_ms = 20")
                .replace("max_backoff_ms = 60000", "max_backoff_ms = 400")
                .replace("connect_timeout_ms = 5000", "connect_timeout_ms = 1000");
            std::fs::write(&path, text).expect("written");
        }
        Self {
            dir,
            api: Api {
                root,
                api_base: api,
                http: isop_api::http_client().expect("an HTTP client"),
            },
            procs: HashMap::new(),
        }
    }

    fn log(&self, org: &str) -> PathBuf {
        self.dir.path().join(format!("{org}.log"))
    }

    fn start(&mut self, org: &'static str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(org))
            .expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_isop"))
            .args(["node", "run", "--config"])
            .arg(self.api.config(org))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("isop node run");
        self.procs.insert(org, child);
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill(&mut self, org: &str) {
        if let Some(mut c) = self.procs.remove(org) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn up(&self, org: &str) {
        self.until(org, "start", Duration::from_secs(30), |_| true)
            .await;
    }

    /// Polls the node's status until `ok` holds (the node's own answer is
    /// the event waited for), or fails with the node's log after `limit`.
    async fn until(
        &self,
        org: &str,
        what: &str,
        limit: Duration,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.api.status(org).await
                && ok(&s)
            {
                return s;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.log(org)).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                panic!(
                    "{org}: {what} never happened; last status {:?}\n{tail}",
                    self.api.status(org).await
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Exports the node's log through its API and returns the file.
    async fn export(&self, org: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{org}.isop"));
        let bytes = self
            .api
            .http
            .get(format!(
                "{}/v1/export?clearance=role:auditor",
                self.api.base(org)
            ))
            .bearer_auth(self.api.token(org).expect("a token"))
            .send()
            .await
            .expect("an export")
            .bytes()
            .await
            .expect("the export's bytes");
        std::fs::write(&path, &bytes).expect("written");
        path
    }
}

impl Api {
    fn config(&self, org: &str) -> PathBuf {
        self.root.join(org).join("node.toml")
    }

    fn base(&self, org: &str) -> String {
        format!("http://127.0.0.1:{}", self.api_base + slot(org))
    }

    fn token(&self, org: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(org).join("api.token"))
            .ok()
            .map(|t| t.trim().to_owned())
    }

    /// The node's status, if it answers.
    async fn status(&self, org: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}/v1/status", self.base(org)))
            .bearer_auth(self.token(org)?)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    fn roster_key(&self) -> isop_core::RosterKey {
        isop_node::config::load_roster_key(&self.config(RECEIVER)).expect("the roster key")
    }
}

impl Drop for Federation {
    fn drop(&mut self) {
        if std::env::var_os("ISOP_FAULT_KEEP").is_some() {
            eprintln!("kept {}", self.dir.path().display());
            let _ =
                std::mem::replace(&mut self.dir, tempfile::tempdir().expect("a directory")).keep();
        }
        let orgs: Vec<&str> = self.procs.keys().copied().collect();
        for o in orgs {
            self.kill(o);
        }
    }
}

fn notice_json(from: &str, i: u64) -> Value {
    json!({
        "tlp": "TLP_AMBER",
        "to_orgs": [RECEIVER],
        "case_ref": "SOP-FAULTS",
        "labelled": [{ "path": "intel.narrative", "label": "role:agency", "value": { "text": format!("{from} report {i}") } }],
        "body": { "intel_report": {
            "title": format!("{from} network {i}"),
            "source_reliability": "SOURCE_RELIABILITY_B",
            "information_credibility": "INFORMATION_CREDIBILITY_PROBABLY_TRUE",
            "indicators": [{ "kind": "INDICATOR_KIND_DOMAIN", "value": format!("site{i}.{}.example", from.to_lowercase()) }]
        } }
    })
}

/// Submits `n` notices through `org`'s API, `window` at a time; returns the
/// ids the node acknowledged.
async fn stream(api: Api, org: &'static str, n: u64, window: usize) -> Vec<String> {
    let base = api.base(org);
    let token = api.token(org).expect("a token");
    let mut ids = Vec::new();
    let mut next = 0;
    let mut inflight = tokio::task::JoinSet::new();
    while next < n || !inflight.is_empty() {
        while next < n && inflight.len() < window {
            let (http, url, token, body) = (
                api.http.clone(),
                format!("{base}/v1/notices"),
                token.clone(),
                notice_json(org, next),
            );
            inflight.spawn(async move {
                let r = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .ok()?;
                r.status().is_success().then_some(())?;
                r.json::<Value>().await.ok()?["id"]
                    .as_str()
                    .map(str::to_owned)
            });
            next += 1;
        }
        if let Some(Ok(Some(id))) = inflight.join_next().await {
            ids.push(id);
        }
    }
    ids
}

/// What an export says about the notices and receipts it holds.
#[derive(Default)]
struct Log {
    /// INBOUND notices: id to the entries holding it.
    inbound: HashMap<String, Vec<u64>>,
    /// OUTBOUND notice ids, with their payload digests.
    outbound: HashMap<String, [u8; 32]>,
    /// The same ids, in the order of the log.
    sent_order: Vec<String>,
    /// Receipts held: (notice id, receiver's index, digest).
    receipts: Vec<(String, u64, [u8; 32])>,
    /// Entry index to (notice id, digest), for INBOUND notices.
    at: HashMap<u64, (String, [u8; 32])>,
    pending: u64,
}

fn read_log(path: &Path) -> Log {
    let bytes = std::fs::read(path).expect("the export");
    let mut r = isop_export::ExportReader::new(bytes.as_slice());
    let mut log = Log::default();
    while let Some((_, rec)) = r.next_record().expect("a readable export") {
        let e = match rec {
            Rec::Entry(b) => pb::LogEntry::decode(b.as_ref()).expect("an entry"),
            Rec::Pending(_) => {
                log.pending += 1;
                continue;
            }
            _ => continue,
        };
        let Some(pb::log_entry::Record::Envelope(env)) = &e.record else {
            continue;
        };
        let env = pb::Envelope::decode(env.as_ref()).expect("an envelope");
        let digest = isop_core::sha256(&env.payload);
        if env.payload_type == NOTICE_PAYLOAD_TYPE {
            let id = Notice::decode(&env.payload)
                .expect("a notice")
                .id()
                .to_string();
            if e.direction == pb::Direction::Inbound as i32 {
                log.inbound.entry(id.clone()).or_default().push(e.index);
                log.at.insert(e.index, (id, digest));
            } else {
                log.sent_order.push(id.clone());
                log.outbound.insert(id, digest);
            }
        } else if e.direction == pb::Direction::Inbound as i32
            && let Ok(list) = SignedReceipts::open(&env)
        {
            for r in list.receipts() {
                let id = r.notice_id().expect("an id").to_string();
                let index = match r.outcome() {
                    ReceiptOutcome::Accepted(i) | ReceiptOutcome::Duplicate(i) => i.0,
                    ReceiptOutcome::Rejected { code, reason, .. } => {
                        panic!("notice {id} rejected: {code:?} {reason}")
                    }
                };
                let d = *r.notice_digest().expect("a digest");
                log.receipts.push((id, index, d));
            }
        }
    }
    log
}

/// Exports every log and proves: each acknowledged notice is in the
/// receiver's log exactly once, with the digest its sender logged, and in
/// its sender's order; each
/// receipt a sender holds points at the receiver's entry for that notice;
/// no outbox holds anything; `isop audit verify` is clean on every export
/// and `cross-check` clean between each sender and the receiver.
async fn prove(fed: &Federation, senders: &[&str], acknowledged: &[String]) {
    let key = fed.api.roster_key();
    let receiver = fed.export(RECEIVER).await;
    let kr = read_log(&receiver);
    let mut audited = vec![receiver.clone()];
    let mut all_sent = BTreeSet::new();
    for s in senders {
        let path = fed.export(s).await;
        let log = read_log(&path);
        assert_eq!(log.pending, 0, "{s}'s outbox is empty");
        assert_eq!(
            log.receipts.len(),
            log.outbound.len(),
            "{s} holds one receipt per notice"
        );
        for (id, index, digest) in &log.receipts {
            let (held, d) = kr.at.get(index).unwrap_or_else(|| {
                panic!("{s}'s receipt for {id} names entry {index}, which holds no notice")
            });
            assert_eq!(
                (held, d),
                (id, digest),
                "{s}'s receipt matches {RECEIVER}'s entry {index}"
            );
        }
        for (id, digest) in &log.outbound {
            let entries = kr
                .inbound
                .get(id)
                .unwrap_or_else(|| panic!("{id} from {s} is missing at {RECEIVER}"));
            assert_eq!(
                entries.len(),
                1,
                "{id} is in {RECEIVER}'s log exactly once: {entries:?}"
            );
            assert_eq!(&kr.at[&entries[0]].1, digest, "the same bytes");
        }
        // Per-author order: the receiver logged them in the sender's order.
        let at: Vec<u64> = log.sent_order.iter().map(|id| kr.inbound[id][0]).collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "{s}'s notices reached {RECEIVER} out of order"
        );
        all_sent.extend(log.outbound.keys().cloned());
        let cross = isop_audit::cross_check(&path, &receiver, &key, None).expect("exports");
        assert!(
            cross.is_clean(),
            "cross-check {s} / {RECEIVER}: {:#?}",
            cross.findings
        );
        audited.push(path);
    }
    for id in acknowledged {
        assert!(
            all_sent.contains(id),
            "the acknowledged notice {id} is in its sender's log"
        );
    }
    assert_eq!(kr.inbound.len(), all_sent.len(), "nothing else arrived");
    for path in audited {
        let file = std::io::BufReader::new(std::fs::File::open(&path).expect("an export"));
        let report = isop_audit::verify(file, &isop_audit::VerifyOptions::new(key.clone()), None)
            .expect("an export");
        assert!(
            report.is_clean(),
            "{}: {:#?}",
            path.display(),
            report.findings
        );
    }
}

/// Kills `victim` `kills` times, each when the receiver's log has grown by
/// a random share of the stream, restarting it at once.
async fn kill_during(
    fed: &mut Federation,
    victim: &'static str,
    kills: u64,
    notices: u64,
    seed: u64,
) -> u64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut done = 0;
    let step = (notices / (kills + 1)).max(1);
    for k in 0..kills {
        let at = (k * step + rng.gen_range(1..=step)) as i64;
        // Wait until the receiver holds `at` more entries than at the start,
        // or the stream has drained (then the kill lands between deliveries).
        let target = at;
        let start = Instant::now();
        loop {
            let size = fed
                .api
                .status(RECEIVER)
                .await
                .and_then(|s| s["log_size"].as_i64());
            if size.is_some_and(|s| s >= target) || start.elapsed() > Duration::from_secs(60) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let t0 = Instant::now();
        fed.kill(victim);
        fed.start(victim);
        fed.up(victim).await;
        eprintln!(
            "kill {} of {victim} at receiver entry {at}, after {:?}; back up in {:?}",
            k + 1,
            start.elapsed(),
            t0.elapsed()
        );
        done += 1;
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_again_and_again_loses_and_duplicates_nothing() {
    let notices = env_u64("ISOP_FAULT_NOTICES", 1000);
    let kills = env_u64("ISOP_FAULT_KILLS", 3);
    let seed = env_u64("ISOP_FAULT_SEED", rand::random());
    let mut fed = Federation::new();
    for org in [RECEIVER, SENDERS[0], SENDERS[1]] {
        fed.start(org);
    }
    for org in [RECEIVER, SENDERS[0], SENDERS[1]] {
        fed.up(org).await;
    }
    let started = Instant::now();
    // The senders stream from tasks; the test's own task kills the receiver.
    let streams: Vec<_> = SENDERS
        .iter()
        .map(|s| tokio::spawn(stream(fed.api.clone(), s, notices / 2, 16)))
        .collect();
    let done = kill_during(&mut fed, RECEIVER, kills, notices, seed).await;
    let mut acknowledged = Vec::new();
    for s in streams {
        acknowledged.extend(s.await.expect("a stream"));
    }
    for s in SENDERS {
        fed.until(s, "an empty outbox", Duration::from_secs(300), |v| {
            v["outbox_depth"] == 0
        })
        .await;
    }
    prove(&fed, &SENDERS, &acknowledged).await;
    println!(
        "receiver crash: {} notices acknowledged, {done} SIGKILLs of {RECEIVER} (seed {seed}), 0 lost, 0 duplicated, in order, audit clean, in {:.1} s",
        acknowledged.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        acknowledged.len() as u64,
        notices / 2 * 2,
        "every submission was acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_while_its_outbox_drains_loses_and_duplicates_nothing() {
    let notices = env_u64("ISOP_FAULT_NOTICES", 1000);
    let kills = env_u64("ISOP_FAULT_KILLS", 3);
    let seed = env_u64("ISOP_FAULT_SEED", rand::random());
    let sender = SENDERS[0];
    let mut fed = Federation::new();
    // The receiver is down while the sender queues everything.
    fed.start(sender);
    fed.up(sender).await;
    let acknowledged = stream(fed.api.clone(), sender, notices, 32).await;
    assert_eq!(acknowledged.len() as u64, notices);
    fed.start(RECEIVER);
    fed.up(RECEIVER).await;
    let done = kill_during(&mut fed, sender, kills, notices, seed).await;
    fed.until(sender, "an empty outbox", Duration::from_secs(300), |v| {
        v["outbox_depth"] == 0
    })
    .await;
    prove(&fed, &[sender], &acknowledged).await;
    println!(
        "sender crash: {} notices queued, {done} SIGKILLs of {sender} mid-outbox (seed {seed}), 0 lost, 0 duplicated, in order, audit clean",
        acknowledged.len()
    );
}
