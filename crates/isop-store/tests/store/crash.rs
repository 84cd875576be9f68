//! The crash test: a child process appends with durable acknowledgements
//! and is killed with SIGKILL at random moments; after each kill the store
//! must reopen holding every acknowledged entry, byte for byte, with no
//! gaps and a root that matches a recomputation from the entries.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use isop_core::{LogIndex, UnixMillis, sha256};
use isop_store::*;
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "ISOP_STORE_CRASH_CHILD";
const KILLS: usize = 24;
/// A bound on each child's appends; the parent kills it long before.
const CHILD_MAX_APPENDS: u64 = 200_000;

/// The child: appends from four threads and prints `ack <index> <entry
/// sha256> <disclosure digest>` only after each append has returned.
#[test]
#[ignore = "the crash test's child process, run by appends_survive_kill_9"]
fn crash_child() {
    let dir = std::env::var(CHILD_ENV).expect("run by appends_survive_kill_9");
    let store = Arc::new(Store::open(&StoreConfig::new(&dir)).unwrap());
    println!("ready {}", store.size());
    std::io::stdout().flush().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut rng = rand::thread_rng();
                for i in 0..CHILD_MAX_APPENDS / 4 {
                    let mut payload = vec![0u8; rng.gen_range(16..1500)];
                    rng.fill(&mut payload[..]);
                    let disclosure =
                        Bytes::from(format!("disclosure {t}/{i}/{}", rng.r#gen::<u64>()));
                    let mut e = NewEntry::new(
                        UnixMillis(i),
                        Direction::Local,
                        Record::CosignedCheckpoint(payload.into()),
                    );
                    e.disclosures = vec![disclosure.clone()];
                    let index = store.append(e).unwrap().index();
                    let bytes = store.entry(index).unwrap().unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "ack {} {} {}",
                        index.0,
                        hex::encode(sha256(&bytes)),
                        hex::encode(sha256(&disclosure))
                    )
                    .unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn parse_ack(line: &str) -> Option<(u64, [u8; 32], [u8; 32])> {
    let mut p = line[line.find("ack ")?..].strip_prefix("ack ")?.split(' ');
    let index = p.next()?.parse().ok()?;
    let entry = hex::decode(p.next()?).ok()?.try_into().ok()?;
    let disclosure = hex::decode(p.next()?).ok()?.try_into().ok()?;
    p.next().is_none().then_some((index, entry, disclosure))
}

#[test]
fn appends_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x15_0b);
    let mut acked: BTreeMap<u64, ([u8; 32], [u8; 32])> = BTreeMap::new();
    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash::crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // libtest's "test … " prefix shares the line with "ready".
        let ready = lines
            .by_ref()
            .map(Result::unwrap)
            .find(|l| l.contains("ready "));
        assert!(
            ready.is_some(),
            "round {round}: the child died before opening the store"
        );
        // Kill after a random number of acknowledgements (0 = right after opening).
        let target = rng.gen_range(0..600);
        let mut seen = 0;
        while seen < target {
            let line = lines.next().expect("the child stopped appending").unwrap();
            if let Some((i, e, d)) = parse_ack(&line) {
                acked.insert(i, (e, d));
                seen += 1;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Whatever the child printed before it died was acknowledged too.
        for line in lines.map_while(Result::ok) {
            if let Some((i, e, d)) = parse_ack(&line) {
                acked.insert(i, (e, d));
            }
        }

        let store = Store::open(&StoreConfig::new(dir.path()))
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let report = store
            .verify_all()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(report.entries, store.size(), "no gaps");
        assert_eq!(
            report.root,
            store.root(store.size()).unwrap(),
            "the root is the recomputation from the entries"
        );
        if let Some((&last, _)) = acked.last_key_value() {
            assert!(
                store.size() > last,
                "round {round}: acknowledged entry {last} is missing (size {})",
                store.size()
            );
        }
        for (&i, (entry, disclosure)) in &acked {
            let bytes = store.entry(LogIndex(i)).unwrap().unwrap();
            assert_eq!(&sha256(&bytes), entry, "round {round}: entry {i} changed");
            assert!(
                matches!(
                    store.disclosure(LogIndex(i), disclosure).unwrap(),
                    Some(DisclosureState::Held(_))
                ),
                "round {round}: disclosure of {i} lost"
            );
        }
    }
    assert!(
        acked.len() > 1000,
        "only {} appends were acknowledged in {KILLS} rounds",
        acked.len()
    );
    eprintln!(
        "crash test: {KILLS} SIGKILLs; {} acknowledged appends all present and byte-identical",
        acked.len()
    );
}
