//! A small federation and helpers to make realistic entries.

use bytes::Bytes;
use isop_core::pb::field_value::Value;
use isop_core::*;
use isop_store::{Direction, NewEntry, Record, Store, StoreConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub const NOW: UnixMillis = UnixMillis(1_780_000_000_000);

/// The wallet the fixture's intelligence names.
pub const WALLET: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";

pub fn org(s: &str) -> OrgId {
    s.parse().unwrap()
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub struct Fed {
    pub roster_env: pb::Envelope,
    pub roster: Roster,
    pub roster_signer: Signer,
    pub partner: Signer,
    pub agency: Signer,
    pub hub: Signer,
}

impl Fed {
    pub fn roster_key(&self) -> RosterKey {
        RosterKey::of(&self.roster_signer)
    }
}

pub fn fed() -> Fed {
    let mut r = rng(7);
    let signer =
        |id: &str, r: &mut StdRng| Signer::new(id.parse().unwrap(), SecretKey::generate(r));
    let partner = signer("RH-FILMCO/k1", &mut r);
    let agency = signer("KR-KNPA/k1", &mut r);
    let hub = signer("INTERPOL-GS/k1", &mut r);
    let roster_signer = signer("ISOP-TEST/roster", &mut r);
    let mut b = RosterBuilder::new("isop-test", 1, NOW)
        .member(&org("RH-FILMCO"), "FilmCo", Role::Partner, "US")
        .member(&org("KR-KNPA"), "KNPA", Role::Agency, "KR")
        .member(&org("INTERPOL-GS"), "IPSG", Role::Hub, "FR");
    for s in [&partner, &agency, &hub] {
        b = b
            .key(
                &s.id().org,
                &s.id().name,
                &s.public(),
                UnixMillis(0),
                UnixMillis(u64::MAX),
            )
            .unwrap();
    }
    let roster_env = b.sign(&roster_signer).unwrap();
    let roster = Roster::verify(
        &roster_env,
        &RosterKey {
            name: roster_signer.id().to_string(),
            key: roster_signer.public(),
        },
    )
    .unwrap();
    Fed {
        roster_env,
        roster,
        roster_signer,
        partner,
        agency,
        hub,
    }
}

/// A referral of `domain` with two labelled fields (one an indicator).
pub fn referral(fed: &Fed, domain: &str, case: &str, seed: u64) -> SealedNotice {
    // The shared example referral's body, its server's address added.
    let target = pb::Target {
        ip: "203.0.113.9".into(),
        ..testing::target(domain)
    };
    let body = testing::referral_builder(target, NOW).build();
    NoticeDraft::new(Tlp::Amber, body)
        .to_org(&org("KR-KNPA"))
        .case_ref(case)
        .labelled(
            "referral.contact",
            "role:agency",
            Value::Text("desk@filmco.example".into()),
        )
        .labelled(
            "referral.payment",
            "role:hub",
            Value::Indicator(pb::Indicator {
                kind: pb::IndicatorKind::CryptoWallet as i32,
                value: WALLET.into(),
                context: "donations".into(),
            }),
        )
        .seal(&fed.partner, NOW, &mut rng(seed))
        .unwrap()
}

/// The inbound entry of `sealed` as KR-KNPA receives it, with every disclosure.
pub fn inbound(sealed: &SealedNotice) -> NewEntry {
    let mut e = NewEntry::new(
        NOW,
        Direction::Inbound,
        Record::Envelope(envelope_bytes(sealed)),
    );
    e.peer = Some(sealed.notice().author().clone());
    e.disclosures = sealed
        .disclosures()
        .iter()
        .map(|d| d.bytes().clone())
        .collect();
    e.inbox = true;
    e.dedupe = true;
    e
}

pub fn envelope_bytes(sealed: &SealedNotice) -> Bytes {
    use prost::Message;
    sealed.envelope().encode_to_vec().into()
}

/// A filler entry of `len` bytes of payload.
pub fn filler(i: u64, len: usize) -> NewEntry {
    let mut body = format!("entry {i} ").into_bytes();
    body.resize(len, b'x');
    NewEntry::new(
        UnixMillis(NOW.0 + i),
        Direction::Local,
        Record::CosignedCheckpoint(body.into()),
    )
}

pub fn open(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig::new(dir)).unwrap()
}

/// Edits the raw database of a closed store (sled may still be releasing
/// its lock: wait for it as the store does).
pub(crate) fn tamper(dir: &std::path::Path, f: impl FnOnce(&sled::Tree)) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let db = loop {
        match sled::Config::new().path(dir).flush_every_ms(None).open() {
            Ok(db) => break db,
            Err(e)
                if std::time::Instant::now() < deadline
                    && e.to_string().contains("could not acquire lock") =>
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
    };
    let tree = db.open_tree("log").unwrap();
    f(&tree);
    db.flush().unwrap();
}
