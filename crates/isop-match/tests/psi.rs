//! Private matching: the OPRF is RFC 9497's (its own vectors), isop's
//! bytes are fixed (known answers with fixed secrets, in
//! `tests/vectors/match-v1.txt`, for other implementations), the
//! intersection is exact, and nothing sent holds an item in the clear or
//! an unblinded hash.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use isop_core::indicator::IndicatorKind as K;
use isop_match::{Answerer, Asker, ELEMENT_LEN, Item, Sources, TAG_LEN, query_commitment};
use proptest::prelude::*;
use rand_core::{CryptoRng, RngCore};
use voprf::{OprfClient, OprfServer, Ristretto255};

/// Yields `scalar` (32 bytes, little-endian, below the group order)
/// padded to the 64 bytes a random scalar is reduced from, again and
/// again: every blind is `scalar`.
struct Fixed([u8; 32]);

impl RngCore for Fixed {
    fn next_u32(&mut self) -> u32 {
        unreachable!("scalars are drawn with fill_bytes")
    }
    fn next_u64(&mut self) -> u64 {
        unreachable!("scalars are drawn with fill_bytes")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
        dest[..32].copy_from_slice(&self.0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Fixed {}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn arr(s: &str) -> [u8; 32] {
    h(s).try_into().unwrap()
}

/// RFC 9497 appendix A.1.1, OPRF mode, ristretto255-SHA512, test vector 1:
/// the suite isop's matching runs on.
#[test]
fn the_oprf_is_rfc_9497s() {
    let server = OprfServer::<Ristretto255>::new_from_seed(&[0xa3; 32], b"test key").unwrap();
    assert_eq!(
        server.serialize().as_slice(),
        h("5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e")
    );
    let blind = arr("64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706");
    let blinded = OprfClient::<Ristretto255>::blind(&[0], &mut Fixed(blind)).unwrap();
    assert_eq!(
        blinded.message.serialize().as_slice(),
        h("609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c")
    );
    let evaluated = server.blind_evaluate(&blinded.message);
    assert_eq!(
        evaluated.serialize().as_slice(),
        h("7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e")
    );
    let output = h(
        "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6",
    );
    assert_eq!(
        blinded.state.finalize(&[0], &evaluated).unwrap().as_slice(),
        output
    );
    assert_eq!(server.evaluate(&[0]).unwrap().as_slice(), output);
}

/// The known-answer vectors: for each item, with the RFC's key and blind,
/// its input, blinded and evaluated elements, and held record (tag and
/// masked sources), and the commitment to the query of all of them.
fn vectors() -> String {
    let key = h("5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e");
    let blind = arr("64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706");
    let items = [
        Item::parse_line("Live.Streamz.Example").unwrap(),
        Item::parse_line("https://streamz.example/live?ch=1").unwrap(),
        Item::parse_line("203.0.113.7").unwrap(),
        Item::parse_line("2001:DB8::1").unwrap(),
        Item::parse_line("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq").unwrap(),
        Item::parse_line("DE89 3704 0044 0532 0130 00").unwrap(),
    ];
    let sources = Sources::notice(1).with(Sources::LIST);
    let held: Vec<(Item, Sources)> = items.iter().map(|i| (i.clone(), sources)).collect();
    let answerer = Answerer::with_key(&key, held, true).unwrap();
    let (mut asker, blinded) = Asker::new(items.clone(), &mut Fixed(blind));
    let evaluated = answerer.evaluate(&blinded).unwrap();
    let records = answerer.records(0, items.len());
    asker.evaluations(&evaluated).unwrap();
    asker
        .records(&records, answerer.record_len(), answerer.held_len())
        .unwrap();
    let outcome = asker.finish(true).unwrap();
    assert_eq!(
        outcome.matched.len(),
        items.len(),
        "each item matches itself"
    );

    let mut out = String::new();
    writeln!(out, "# isop private matching, version 1: known answers.").unwrap();
    writeln!(
        out,
        "# Suite ristretto255-SHA512 (RFC 9497, OPRF mode); docs/MATCHING.md."
    )
    .unwrap();
    writeln!(
        out,
        "# The answerer's key (skS) and every blind are RFC 9497 A.1.1's."
    )
    .unwrap();
    writeln!(
        out,
        "# Sources = {:02x} (the operator's list and referrals).",
        sources.0
    )
    .unwrap();
    writeln!(out, "skS = {}", hex::encode(&key)).unwrap();
    writeln!(out, "Blind = {}", hex::encode(blind)).unwrap();
    let r = answerer.record_len();
    for (i, item) in items.iter().enumerate() {
        let e = i * ELEMENT_LEN..(i + 1) * ELEMENT_LEN;
        writeln!(out, "\nItem = {item}").unwrap();
        writeln!(out, "Input = {}", hex::encode(item.input())).unwrap();
        writeln!(out, "BlindedElement = {}", hex::encode(&blinded[e.clone()])).unwrap();
        writeln!(out, "EvaluationElement = {}", hex::encode(&evaluated[e])).unwrap();
        writeln!(
            out,
            "Tag = {}",
            hex::encode(&records[i * r..i * r + TAG_LEN])
        )
        .unwrap();
        writeln!(out, "MaskedSources = {:02x}", records[i * r + TAG_LEN]).unwrap();
    }
    let salt = [0x5a; 32];
    writeln!(out, "\nSalt = {}", hex::encode(salt)).unwrap();
    writeln!(
        out,
        "QueryCommitment = {}",
        hex::encode(query_commitment(&items, &salt))
    )
    .unwrap();
    out
}

#[test]
fn isops_bytes_match_the_known_answers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/match-v1.txt");
    let now = vectors();
    if std::env::var_os("ISOP_WRITE_VECTORS").is_some() && !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &now).unwrap();
    }
    let known = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (write it once with ISOP_WRITE_VECTORS=1)",
            path.display()
        )
    });
    assert_eq!(
        now, known,
        "isop's matching bytes changed: that is a new protocol version"
    );
}

/// A whole run in this process: what the asker learns, what the
/// answerer is told, and every message sent either way.
struct Run {
    matched: BTreeSet<Item>,
    sources: Vec<Option<Sources>>,
    told: BTreeSet<Item>,
    messages: Vec<Vec<u8>>,
}

fn run(asked: Vec<Item>, held: Vec<(Item, Sources)>, reveal: bool, chunk: usize) -> Run {
    let mut rng = rand::rngs::OsRng;
    let (mut asker, blinded) = Asker::new(asked, &mut rng);
    let answerer = Answerer::new(held, reveal, &mut rng);
    let mut messages = vec![blinded.clone()];
    for part in blinded.chunks(chunk * ELEMENT_LEN) {
        let evaluated = answerer.evaluate(part).unwrap();
        asker.evaluations(&evaluated).unwrap();
        messages.push(evaluated);
    }
    let mut offset = 0;
    while offset < answerer.held_len() {
        let records = answerer.records(offset, chunk);
        asker
            .records(&records, answerer.record_len(), answerer.held_len())
            .unwrap();
        offset += (records.len() / answerer.record_len()) as u64;
        messages.push(records);
    }
    let outcome = asker.finish(reveal).unwrap();
    messages.push(
        outcome
            .positions
            .iter()
            .flat_map(|p| p.to_be_bytes())
            .collect(),
    );
    let told = answerer.at(&outcome.positions).unwrap();
    Run {
        sources: outcome.matched.iter().map(|(_, s)| *s).collect(),
        matched: outcome.matched.into_iter().map(|(i, _)| i).collect(),
        told: told.into_iter().map(|(i, _)| i).collect(),
        messages,
    }
}

fn items(kind: K, names: impl IntoIterator<Item = u32>, host: &str) -> Vec<Item> {
    names
        .into_iter()
        .map(|n| match kind {
            K::Ip => Item::new(
                kind,
                &format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255),
            ),
            _ => Item::new(kind, &format!("s{n}.{host}")),
        })
        .collect::<Result<_, _>>()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random sets with a planted overlap: the asker learns exactly the
    /// overlap, with the sources of each, and the answerer is told the
    /// same items (when both learn it).
    #[test]
    fn the_intersection_is_exact(
        asked in proptest::collection::btree_set(0u32..400, 0..40),
        held in proptest::collection::btree_set(0u32..400, 0..40),
        planted in proptest::collection::btree_set(1000u32..1100, 0..8),
        chunk in 1usize..9,
        reveal: bool,
    ) {
        let q: Vec<Item> = items(K::Domain, asked.iter().chain(&planted).copied(), "a.example");
        let hs: Vec<(Item, Sources)> = items(K::Domain, held.iter().chain(&planted).copied(), "a.example")
            .into_iter()
            .map(|i| (i, Sources::notice(3)))
            .collect();
        let want: BTreeSet<Item> = items(
            K::Domain,
            asked.intersection(&held).chain(&planted).copied(),
            "a.example",
        )
        .into_iter()
        .collect();
        let r = run(q, hs, reveal, chunk);
        prop_assert_eq!(&r.matched, &want);
        prop_assert_eq!(&r.told, &want);
        let s = reveal.then_some(Sources::notice(3));
        prop_assert!(r.sources.iter().all(|x| *x == s));
    }
}

#[test]
fn a_query_for_a_site_finds_its_subdomains_and_urls_and_kinds_never_cross() {
    let held: Vec<(Item, Sources)> = [
        (K::Domain, "live.streamz.example"),
        (K::Url, "https://cdn.tvpirate.example/x"),
        (K::Ip, "203.0.113.7"),
    ]
    .into_iter()
    .flat_map(|(k, v)| isop_match::held_forms(k, v))
    .map(|i| (i, Sources::notice(1)))
    .collect();
    let asked = vec![
        Item::parse_line("streamz.example").unwrap(),
        Item::parse_line("tvpirate.example").unwrap(),
        Item::parse_line("https://cdn.tvpirate.example/x").unwrap(),
        // A name that is written like the address, asked as a domain.
        Item::new(K::Domain, "203.0.113.7").unwrap(),
        Item::parse_line("203.0.113.8").unwrap(),
    ];
    let r = run(asked.clone(), held, false, 2);
    assert_eq!(r.matched, asked[..3].iter().cloned().collect());
}

/// Every byte sent in a run, scanned for each item of both sides: its
/// value, its OPRF input, SHA-256 and SHA-512 of either, and its
/// unblinded hash-to-group element (a blind of 1). None appears; and two
/// runs over the same held list share no record (a fresh key each run).
#[test]
fn no_message_holds_an_item_or_an_unblinded_hash() {
    use sha2::{Digest, Sha256, Sha512};
    let asked = items(K::Domain, 0..60, "streamz.example");
    let held: Vec<(Item, Sources)> = items(K::Domain, 30..120, "streamz.example")
        .into_iter()
        .map(|i| (i, Sources::notice(1)))
        .collect();
    let first = run(asked.clone(), held.clone(), true, 16);
    let second = run(asked.clone(), held.clone(), true, 16);
    assert_eq!(first.matched.len(), 30);

    let everything: Vec<Item> = asked
        .iter()
        .chain(held.iter().map(|(i, _)| i))
        .cloned()
        .collect();
    let mut one = [0u8; 32];
    one[0] = 1;
    let (_, unblinded) = Asker::new(everything.clone(), &mut Fixed(one));
    let mut needles: Vec<Vec<u8>> = unblinded.chunks(ELEMENT_LEN).map(<[u8]>::to_vec).collect();
    for item in &everything {
        for bytes in [item.value().as_bytes().to_vec(), item.input()] {
            needles.push(Sha256::digest(&bytes).to_vec());
            needles.push(Sha512::digest(&bytes)[..32].to_vec());
            needles.push(bytes);
        }
    }
    for message in first.messages.iter().chain(&second.messages) {
        for needle in &needles {
            // A needle's first 12 bytes, anywhere: no alignment assumed.
            let n = &needle[..needle.len().min(12)];
            assert!(
                !message.windows(n.len()).any(|w| w == n),
                "a message holds {needle:02x?}"
            );
        }
    }
    let record_len = TAG_LEN + 1;
    let tags = |r: &Run| -> BTreeSet<Vec<u8>> {
        r.messages[r.messages.len() - 2]
            .chunks(record_len)
            .map(|c| c[..TAG_LEN].to_vec())
            .collect()
    };
    assert!(
        tags(&first).is_disjoint(&tags(&second)),
        "records link across runs"
    );
}

#[test]
fn malformed_messages_are_refused_by_name() {
    let mut rng = rand::rngs::OsRng;
    let answerer = Answerer::new(
        items(K::Domain, 0..3, "x.example")
            .into_iter()
            .map(|i| (i, Sources::LIST)),
        false,
        &mut rng,
    );
    let e = answerer.evaluate(&[0; 33]).unwrap_err().to_string();
    assert!(
        e.contains("blinded elements") && e.contains("33 bytes"),
        "{e}"
    );
    let e = answerer.evaluate(&[0xff; 64]).unwrap_err().to_string();
    assert!(
        e.contains("element 0 is not a valid ristretto255 element"),
        "{e}"
    );
    // The identity (all zeros) is refused too: it would evaluate to itself.
    let e = answerer.evaluate(&[0; 32]).unwrap_err().to_string();
    assert!(e.contains("element 0"), "{e}");

    let (mut asker, blinded) = Asker::new(items(K::Domain, 0..2, "x.example"), &mut rng);
    let e = asker.records(&[0; 16], 16, 3).unwrap_err().to_string();
    assert!(e.contains("0 of 2 evaluations"), "{e}");
    let evaluated = answerer.evaluate(&blinded).unwrap();
    let e = asker
        .evaluations(&[evaluated.clone(), evaluated.clone()].concat())
        .unwrap_err()
        .to_string();
    assert!(e.contains("4 received, 2 expected"), "{e}");
    asker.evaluations(&evaluated).unwrap();
    let e = asker.records(&[0; 64], 16, 3).unwrap_err().to_string();
    assert!(e.contains("4 received, 3 expected"), "{e}");
    assert!(
        answerer
            .at(&[3])
            .unwrap_err()
            .to_string()
            .contains("position 3")
    );
}

#[test]
fn the_commitment_binds_the_set_not_its_order_and_hides_it_without_the_salt() {
    let a = items(K::Domain, 0..5, "x.example");
    let mut b = a.clone();
    b.reverse();
    b.push(a[0].clone());
    let salt = [7; 32];
    assert_eq!(query_commitment(&a, &salt), query_commitment(&b, &salt));
    assert_ne!(
        query_commitment(&a, &salt),
        query_commitment(&a[1..], &salt)
    );
    assert_ne!(query_commitment(&a, &salt), query_commitment(&a, &[8; 32]));
}
