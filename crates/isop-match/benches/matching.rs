//! A matching run's cost, in a release build, each side in its own
//! process (this one asks; a child answers over a pipe), so that each
//! side's peak memory is its own:
//!
//! ```sh
//! cargo bench -p isop-match --bench matching
//! ISOP_BENCH_QUERY=10000 ISOP_BENCH_HELD=100000 cargo bench -p isop-match --bench matching
//! ```
//!
//! The asker asks `ISOP_BENCH_QUERY` (default 100,000) domains of which
//! 1,000 are among the answerer's `ISOP_BENCH_HELD` (default 1,000,000).
//! It prints each step's time, the bytes each way (the packed elements and
//! records, in chunks of 65,536 as a node sends them; each frame adds a
//! few bytes of protobuf), and each side's peak resident memory, with the
//! share of it that is the side's own input list.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use isop_core::indicator::IndicatorKind;
use isop_match::{Answerer, Asker, Item, Sources};

const CHUNK: usize = 65_536;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn domain(i: usize) -> Item {
    Item::new(IndicatorKind::Domain, &format!("site-{i}.streamz.example")).expect("a domain")
}

/// This process's peak and current resident memory, in MB.
fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1e3)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn send(w: &mut impl Write, kind: u8, body: &[u8]) {
    w.write_all(&[kind]).expect("write");
    w.write_all(&(body.len() as u64).to_be_bytes())
        .expect("write");
    w.write_all(body).expect("write");
    w.flush().expect("flush");
}

fn receive(r: &mut impl Read) -> (u8, Vec<u8>) {
    let mut head = [0; 9];
    r.read_exact(&mut head).expect("read");
    let mut body = vec![0; u64::from_be_bytes(head[1..].try_into().expect("8 bytes")) as usize];
    r.read_exact(&mut body).expect("read");
    (head[0], body)
}

/// The answering side: builds its held list, answers until told to stop.
fn answer(held: usize) {
    let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
    let list: Vec<(Item, Sources)> = (0..held).map(|i| (domain(i), Sources::notice(1))).collect();
    let (_, with_list) = memory_mb();
    let answerer = Answerer::new(list, true, &mut rand::rngs::OsRng);
    let mut hello = answerer.held_len().to_be_bytes().to_vec();
    hello.push(answerer.record_len() as u8);
    send(&mut output, b'H', &hello);
    loop {
        match receive(&mut input) {
            (b'E', blinded) => send(
                &mut output,
                b'E',
                &answerer.evaluate(&blinded).expect("valid"),
            ),
            (b'R', offset) => {
                let offset = u64::from_be_bytes(offset.try_into().expect("8 bytes"));
                send(&mut output, b'R', &answerer.records(offset, CHUNK));
            }
            (b'P', positions) => {
                let positions: Vec<u64> = positions
                    .chunks_exact(8)
                    .map(|p| u64::from_be_bytes(p.try_into().expect("8 bytes")))
                    .collect();
                let n = answerer.at(&positions).expect("held").len() as u64;
                send(&mut output, b'P', &n.to_be_bytes());
            }
            _ => {
                let (peak, _) = memory_mb();
                send(
                    &mut output,
                    b'M',
                    format!("{peak:.1} {with_list:.1}").as_bytes(),
                );
                return;
            }
        }
    }
}

fn step<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    println!("  {what:<48} {:>8.2} s", t.elapsed().as_secs_f64());
    out
}

fn main() {
    let (query, held) = (
        env("ISOP_BENCH_QUERY", 100_000),
        env("ISOP_BENCH_HELD", 1_000_000),
    );
    if std::env::var_os("ISOP_BENCH_ANSWERER").is_some() {
        return answer(held);
    }
    let overlap = 1_000.min(query).min(held);
    println!(
        "matching {query} asked against {held} held ({overlap} in both), {} threads",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let total = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("this bench"))
        .env("ISOP_BENCH_ANSWERER", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the answering process");
    let (mut to, mut from) = (
        child.stdin.take().expect("stdin"),
        child.stdout.take().expect("stdout"),
    );
    let (mut sent, mut received) = (0usize, 0usize);

    let asked: Vec<Item> = (0..query)
        .map(|i| domain(if i < overlap { i } else { held + i }))
        .collect();
    let (_, with_list) = memory_mb();
    let (mut asker, blinded) = step("asker: hash to the group and blind", || {
        Asker::new(asked, &mut rand::rngs::OsRng)
    });
    let (hello, held_len, record_len) = step("answerer: its list, a fresh key, shuffle", || {
        let (_, hello) = receive(&mut from);
        let held_len = u64::from_be_bytes(hello[..8].try_into().expect("8 bytes"));
        (hello.len(), held_len, usize::from(hello[8]))
    });
    received += hello;
    step("answerer evaluates, asker unblinds (in turn)", || {
        for part in blinded.chunks(CHUNK * isop_match::ELEMENT_LEN) {
            send(&mut to, b'E', part);
            sent += part.len();
            let (_, evaluated) = receive(&mut from);
            received += evaluated.len();
            asker.evaluations(&evaluated).expect("unblinded");
        }
    });
    drop(blinded);
    step("answerer: held records, asker: look up (in turn)", || {
        let mut offset = 0;
        while offset < held_len {
            send(&mut to, b'R', &offset.to_be_bytes());
            sent += 8;
            let (_, records) = receive(&mut from);
            received += records.len();
            asker
                .records(&records, record_len, held_len)
                .expect("looked up");
            offset += (records.len() / record_len) as u64;
        }
    });
    let outcome = step("asker: finish", || asker.finish(true).expect("finished"));
    let positions: Vec<u8> = outcome
        .positions
        .iter()
        .flat_map(|p| p.to_be_bytes())
        .collect();
    let told = step("answerer: the matched positions", || {
        send(&mut to, b'P', &positions);
        sent += positions.len();
        let (_, n) = receive(&mut from);
        u64::from_be_bytes(n.try_into().expect("8 bytes"))
    });
    let secs = total.elapsed().as_secs_f64();
    println!("  {:<48} {secs:>8.2} s", "total");
    assert_eq!(outcome.matched.len(), overlap, "the intersection is exact");
    assert_eq!(told, overlap as u64);
    assert!(
        outcome
            .matched
            .iter()
            .all(|(_, s)| *s == Some(Sources::notice(1)))
    );

    send(&mut to, b'Q', &[]);
    let (_, answerer_memory) = receive(&mut from);
    child.wait().expect("the answering process");
    let (peak, _) = memory_mb();
    println!(
        "bytes: asker to answerer {sent} ({:.1} per asked item); answerer to asker {received} ({:.1} per held item beyond the {} of the evaluations)",
        sent as f64 / query as f64,
        (received - query * isop_match::ELEMENT_LEN) as f64 / held as f64,
        query * isop_match::ELEMENT_LEN,
    );
    let answerer_memory = String::from_utf8_lossy(&answerer_memory).into_owned();
    let (a_peak, a_list) = answerer_memory.split_once(' ').unwrap_or(("?", "?"));
    println!(
        "peak resident memory: asker {peak:.1} MB ({with_list:.1} MB with its list built); answerer {a_peak} MB ({a_list} MB with its list built)"
    );
}
