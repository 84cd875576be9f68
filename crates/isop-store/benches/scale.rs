//! Scale benchmark of the store, in a release build:
//!
//! ```sh
//! cargo bench -p isop-store --bench scale
//! ISOP_BENCH_ENTRIES=200000 cargo bench -p isop-store --bench scale   # smaller
//! ```
//!
//! It appends `ISOP_BENCH_ENTRIES` (default 1,000,000) entries of about
//! 1 KiB from concurrent appenders (group commit), then measures root and
//! proof latency at that size, resident memory, bytes on disk per byte of
//! entry, reopen and full verification, and export. A second run appends
//! realistic inbound notices (signed referrals with three disclosures and
//! all their index keys).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use isop_core::merkle;
use isop_core::pb::field_value::Value;
use isop_core::*;
use isop_store::*;
use prost::Message;
use rand::{Rng, SeedableRng};

/// The allocator the `isop` binary uses; sled allocates on every update.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PRODUCERS: u64 = 4;
const WINDOW: u64 = 256;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The store's configuration, with `ISOP_BENCH_CACHE_MB` and
/// `ISOP_BENCH_MAX_BATCH` to try others.
fn config(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.cache_bytes = env_u64("ISOP_BENCH_CACHE_MB", c.cache_bytes >> 20) << 20;
    c.max_batch = env_u64("ISOP_BENCH_MAX_BATCH", c.max_batch as u64) as usize;
    c
}

fn proc_status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "n/a".into())
}

fn disk_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => disk_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
    format!(
        "p50 {:>6.1} µs  p99 {:>6.1} µs  max {:>7.1} µs",
        us(p(0.5)),
        us(p(0.99)),
        us(p(1.0))
    )
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Appends `n` entries made by `make` from `PRODUCERS` threads, each
/// keeping `WINDOW` appends in flight. Returns appends per second.
fn append_all(store: &Arc<Store>, n: u64, make: Arc<dyn Fn(u64) -> NewEntry + Send + Sync>) -> f64 {
    let start = Instant::now();
    let threads: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let store = store.clone();
            let make = make.clone();
            std::thread::spawn(move || {
                let mut i = p;
                while i < n {
                    let batch: Vec<NewEntry> = (0..WINDOW)
                        .map(|k| i + k * PRODUCERS)
                        .take_while(|j| *j < n)
                        .map(|j| make(j))
                        .collect();
                    let len = batch.len() as u64;
                    for r in store.append_many(batch) {
                        r.expect("append");
                    }
                    i += len * PRODUCERS;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("producer");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn measure_proofs(store: &Store, rng: &mut impl Rng) {
    let size = store.size();
    let root = store.root(size).expect("root");
    let t = Instant::now();
    for _ in 0..1000 {
        std::hint::black_box(store.root(size).expect("root"));
    }
    println!(
        "  root at {size}:            {:>6.1} µs each (1000 calls)",
        us(t.elapsed()) / 1000.0
    );
    let mut inc = Vec::with_capacity(10_000);
    let mut con = Vec::with_capacity(10_000);
    for k in 0..10_000 {
        let i = rng.gen_range(0..size);
        let t = Instant::now();
        let p = store.inclusion_proof(LogIndex(i), size).expect("proof");
        inc.push(t.elapsed());
        let old = rng.gen_range(1..size);
        let t = Instant::now();
        let c = store.consistency_proof(old, size).expect("proof");
        con.push(t.elapsed());
        if k % 500 == 0 {
            let leaf = merkle::leaf_hash(&store.entry(LogIndex(i)).expect("read").expect("entry"));
            merkle::verify_inclusion(&leaf, i, size, &p, &root).expect("inclusion verifies");
            merkle::verify_consistency(old, size, &store.root(old).expect("root"), &root, &c)
                .expect("consistency verifies");
        }
    }
    println!("  inclusion proof:           {}", percentiles(inc));
    println!("  consistency proof:         {}", percentiles(con));
}

fn filler_run(n: u64, entry_bytes: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(&config(dir.path())).expect("open"));
    let payload: Bytes = {
        let mut v = vec![0u8; entry_bytes];
        rand::rngs::StdRng::seed_from_u64(1).fill(&mut v[..]);
        v.into()
    };
    println!("\n== {n} entries of ~{entry_bytes} B (entry + tree nodes only)");
    let rate = append_all(
        &store,
        n,
        Arc::new(move |i| {
            NewEntry::new(
                UnixMillis(i),
                Direction::Local,
                Record::CosignedCheckpoint(payload.clone()),
            )
        }),
    );
    println!(
        "  append, group commit:      {rate:>9.0} appends/s ({PRODUCERS} producers x {WINDOW} in flight)"
    );
    measure_proofs(&store, &mut rand::rngs::StdRng::seed_from_u64(2));
    let entry_total: u64 = store
        .entries(LogIndex(0), LogIndex(n))
        .map(|r| r.expect("entry").1.len() as u64)
        .sum();
    println!(
        "  resident memory:           VmRSS {}, peak VmHWM {}",
        proc_status("VmRSS:"),
        proc_status("VmHWM:")
    );
    store.flush().expect("flush");
    let disk = disk_bytes(dir.path());
    println!(
        "  disk:                      {:.1} MiB for {:.1} MiB of entries = {:.2} bytes per entry byte",
        disk as f64 / 1048576.0,
        entry_total as f64 / 1048576.0,
        disk as f64 / entry_total as f64
    );

    let store = Arc::into_inner(store).expect("sole owner");
    store.close().expect("close");
    let t = Instant::now();
    let store = Store::open(&config(dir.path())).expect("reopen");
    println!(
        "  reopen (tail check 4096):  {:>6.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let report = store.verify_all().expect("verify");
    let dt = t.elapsed().as_secs_f64();
    println!(
        "  verify_all:                {:>6.2} s = {:.0} entries/s",
        dt,
        report.entries as f64 / dt
    );
    let t = Instant::now();
    let s = store
        .export(
            std::io::sink(),
            &"KR-KNPA".parse().expect("org"),
            &Clearance::default(),
            UnixMillis(0),
        )
        .expect("export");
    let dt = t.elapsed().as_secs_f64();
    println!(
        "  export:                    {:>6.2} s, {:.0} MiB, {:.0} entries/s; VmHWM now {}",
        dt,
        s.bytes as f64 / 1048576.0,
        s.entries as f64 / dt,
        proc_status("VmHWM:")
    );
}

fn notice_run(n: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(&config(dir.path())).expect("open"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let signer = Signer::new(
        "RH-FILMCO/k1".parse().expect("key id"),
        SecretKey::generate(&mut rng),
    );
    // 4096 distinct signed referrals, reused cyclically (a repeat is indexed, not deduplicated).
    let notices: Vec<(Bytes, Vec<Bytes>)> = (0..4096)
        .map(|i| {
            // The shared example referral, its server's address and a
            // summary added.
            let target = pb::Target {
                ip: format!("203.0.113.{}", i % 250),
                ..testing::target(&format!("site{i}.example"))
            };
            let body = testing::referral_builder(target, UnixMillis(1))
                .summary(
                    "unlicensed streaming of a first-run film, reported by our monitoring team",
                )
                .build();
            let s = NoticeDraft::new(Tlp::Amber, body)
                .to_org(&"KR-KNPA".parse().expect("org"))
                .case_ref(&format!("CASE-{}", i % 64))
                .labelled(
                    "referral.contact",
                    "role:agency",
                    Value::Text("anti-piracy desk, desk@filmco.example, +1 555 0100".into()),
                )
                .labelled(
                    "referral.internal_ref",
                    "role:hub",
                    Value::Text(format!("FC-2026-{i:05}")),
                )
                .labelled(
                    "referral.payment",
                    "role:agency",
                    Value::Indicator(pb::Indicator {
                        kind: pb::IndicatorKind::CryptoWallet as i32,
                        value: format!("0x{i:040x}"),
                        context: "donations".into(),
                    }),
                )
                .seal(&signer, UnixMillis(1_780_000_000_000), &mut rng)
                .expect("seal");
            (
                Bytes::from(s.envelope().encode_to_vec()),
                s.disclosures().iter().map(|d| d.bytes().clone()).collect(),
            )
        })
        .collect();
    let notices = Arc::new(notices);
    let bytes: usize = notices
        .iter()
        .map(|(e, d)| e.len() + d.iter().map(Bytes::len).sum::<usize>())
        .sum::<usize>()
        / notices.len();
    println!(
        "\n== {n} inbound notices (~{bytes} B with 3 disclosures; author, case and 3 indicator keys each)"
    );
    let rate = append_all(
        &store,
        n,
        Arc::new(move |i| {
            let (env, ds) = &notices[(i % 4096) as usize];
            let mut e = NewEntry::new(
                UnixMillis(i),
                Direction::Inbound,
                Record::Envelope(env.clone()),
            );
            e.peer = Some("RH-FILMCO".parse().expect("org"));
            e.disclosures = ds.clone();
            e.inbox = true;
            e
        }),
    );
    println!("  append, group commit:      {rate:>9.0} appends/s");
    measure_proofs(&store, &mut rand::rngs::StdRng::seed_from_u64(4));
    // Lookups as the index stands after the appends (its runs merged as
    // they grew), then after a reopen (pending postings rebuilt, merged).
    let lookups = |store: &Store| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut times = Vec::with_capacity(1000);
        let mut hits = 0;
        for _ in 0..1000 {
            let site = format!("site{}.example", rng.gen_range(0..4096));
            let t = Instant::now();
            hits += store.by_indicator(&site).expect("lookup").len();
            times.push(t.elapsed());
        }
        let (first, end) = store.index_runs();
        println!(
            "  indicator lookup:          {}  ({} hits a site on average; {} live index runs)",
            percentiles(times),
            hits / 1000,
            end - first
        );
    };
    lookups(&store);
    println!(
        "  resident memory:           VmRSS {}, peak VmHWM {}",
        proc_status("VmRSS:"),
        proc_status("VmHWM:")
    );
    let path = store.path().to_path_buf();
    let store = Arc::into_inner(store).expect("the only handle");
    store.close().expect("close");
    let t = Instant::now();
    let store = Store::open(&config(&path)).expect("reopen");
    println!(
        "  reopen:                    {:>6.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    lookups(&store);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // As the `isop` binary does: no transparent huge pages.
    rustix::thread::disable_transparent_huge_pages(true).expect("prctl(PR_SET_THP_DISABLE)");
    let n = env_u64("ISOP_BENCH_ENTRIES", 1_000_000);
    let entry_bytes = env_u64("ISOP_BENCH_ENTRY_BYTES", 1000) as usize;
    println!(
        "isop-store scale benchmark ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    filler_run(n, entry_bytes);
    notice_run(env_u64("ISOP_BENCH_NOTICES", n / 4));
}
