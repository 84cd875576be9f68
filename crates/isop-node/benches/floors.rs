//! Each stage of the receive path beside its own floor on this machine, in
//! a release build:
//!
//! ```sh
//! cargo bench -p isop-node --bench floors
//! ```
//!
//! - **Signatures**: ed25519-dalek's batch verification of 256 notices'
//!   signatures (each over its DSSE pre-authentication encoding, about
//!   1.2 KB), the floor; isop's batch check (strict preconditions, then the
//!   same batch); and a single `verify_strict`, per signature.
//! - **Checks**: `Delivery::verify_batch` on 256 deliveries (decoding,
//!   key lookup, the signature batch split across the cores, commitments,
//!   labels, clearance); its first stage alone (`verify_signatures`); and
//!   the rest, beside a bare protobuf decode of the notice.
//! - **Store**: 256 inbound notices appended as one group commit (entry,
//!   tree, indexes, disclosures, fsync), per notice; the floor is writing
//!   the same bytes to a file and `fdatasync`ing it once per group.
//!
//! Each is timed over several rounds and the median printed.

use std::io::Write;
use std::time::{Duration, Instant};

use isop_core::*;
use isop_node::now;
use isop_store::{Direction, NewEntry, Record, Store, StoreConfig};
use prost::Message;

mod common;
use common::{agency_and_two_partners, org, referral};

/// The allocator the `isop` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 256;
const ROUNDS: usize = 21;

/// The median of `times`, per item of `items`, in µs.
fn median_per(items: usize, mut times: Vec<Duration>) -> f64 {
    times.sort_unstable();
    times[times.len() / 2].as_secs_f64() * 1e6 / items as f64
}

/// The median of `ROUNDS` runs of `f`, per item of `items`, in µs.
fn per_item(items: usize, mut f: impl FnMut()) -> f64 {
    let times = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    median_per(items, times)
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let fed = agency_and_two_partners(&dir.path().join("fed"))?;
    let signer = fed.member("RH-FILMCO")?.config.signer()?;
    let roster = Roster::verify(&fed.sign(&fed.roster)?, &fed.roster_key())?;
    let kr = org("KR-KNPA");
    let clearance = roster.clearance(&kr)?;
    // Distinct notices for each round of appends: a copy is a duplicate.
    let batch = |round: u64| -> anyhow::Result<Vec<Delivery>> {
        (0..BATCH as u64)
            .map(|i| {
                Ok(referral(round * 10_000 + i, std::slice::from_ref(&kr))
                    .seal(&signer, now(), &mut rand::rngs::OsRng)?
                    .delivery_for(&clearance))
            })
            .collect()
    };
    let deliveries = batch(0)?;
    let public = signer.public();
    let messages: Vec<Vec<u8>> = deliveries
        .iter()
        .map(|d| pae(&d.envelope.payload_type, &d.envelope.payload))
        .collect();
    let signatures: Vec<Signature> = deliveries
        .iter()
        .map(|d| Signature::from_slice(&d.envelope.signatures[0].sig))
        .collect::<Result<_, _>>()?;
    let checks: Vec<SigCheck<'_>> = messages
        .iter()
        .zip(&signatures)
        .map(|(msg, sig)| SigCheck {
            msg,
            sig,
            key: &public,
        })
        .collect();
    let keys = vec![public; BATCH];
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();

    println!(
        "floors: {BATCH} referrals of ~1 KiB with 3 labelled fields; median of {ROUNDS} rounds"
    );
    let floor = per_item(BATCH, || {
        ed25519_dalek::verify_batch(&refs, &signatures, &keys).expect("valid");
    });
    let isop_batch = per_item(BATCH, || assert!(verify_batch(&checks).is_empty()));
    let single = per_item(BATCH, || {
        for c in &checks {
            c.key.verify_strict(c.msg, c.sig).expect("valid");
        }
    });
    println!("  signatures, us each:");
    println!("    ed25519-dalek verify_batch (floor)      {floor:7.2}");
    println!(
        "    isop's batch check                      {isop_batch:7.2}  ({:.2}x the floor)",
        isop_batch / floor
    );
    println!("    verify_strict one by one                {single:7.2}");

    let whole = per_item(BATCH, || {
        let out = Delivery::verify_batch(&deliveries, &roster, &kr, Judgement::live(now()));
        assert!(out.iter().all(Result::is_ok));
    });
    let signed = per_item(BATCH, || {
        let out = Delivery::verify_signatures(&deliveries, &roster, Judgement::live(now()));
        assert!(out.iter().all(Result::is_ok));
    });
    // Parts below the split's threshold run on the calling thread alone.
    let one_core = per_item(BATCH, || {
        for part in deliveries.chunks(63) {
            let out = Delivery::verify_signatures(part, &roster, Judgement::live(now()));
            assert!(out.iter().all(Result::is_ok));
        }
    });
    let decode = per_item(BATCH, || {
        for d in &deliveries {
            std::hint::black_box(
                pb::Notice::decode(d.envelope.payload.as_ref()).expect("a notice"),
            );
        }
    });
    println!("  checks, us each:");
    println!("    Delivery::verify_batch, all checks      {whole:7.2}");
    println!("    decoding and the signature batch        {signed:7.2}  (split across the cores)");
    println!("      the same in parts of 63, on one core  {one_core:7.2}");
    println!(
        "    the rest: commitments, labels, policy   {:7.2}  (a bare notice decode: {decode:.2})",
        whole - signed
    );

    let entry = |d: &Delivery| {
        let mut e = NewEntry::new(
            now(),
            Direction::Inbound,
            Record::Envelope(d.envelope.encode_to_vec().into()),
        );
        e.disclosures = d.disclosures.clone();
        e.inbox = true;
        e.dedupe = true;
        e
    };
    let store = Store::open(&StoreConfig::new(dir.path().join("store")))?;
    let mut times = Vec::new();
    for round in 1..=ROUNDS as u64 {
        let group: Vec<NewEntry> = batch(round)?.iter().map(entry).collect();
        let t = Instant::now();
        for r in store.append_many(group) {
            r?;
        }
        times.push(t.elapsed());
    }
    let store_per = median_per(BATCH, times);
    let bytes: Vec<Vec<u8>> = deliveries
        .iter()
        .map(|d| {
            let mut v = d.envelope.encode_to_vec();
            for x in &d.disclosures {
                v.extend_from_slice(x);
            }
            v
        })
        .collect();
    let mut file = std::fs::File::create(dir.path().join("segment"))?;
    let file_per = per_item(BATCH, || {
        for b in &bytes {
            file.write_all(b).expect("written");
        }
        file.sync_data().expect("synced");
    });
    println!("  store, us per notice in a group of {BATCH}:");
    println!("    isop's group commit (sled)              {store_per:7.2}");
    println!(
        "    append and fdatasync a file (floor)     {file_per:7.2}  (isop {:.1}x the floor)",
        store_per / file_per
    );
    Ok(())
}
