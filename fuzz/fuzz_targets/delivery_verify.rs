//! Delivery verification, past the signature: the input is a `Deliver`
//! frame body whose envelope payload is re-signed with a roster key, so the
//! fuzzer explores notice validation and the disclosure checks.
#![no_main]

use std::sync::OnceLock;

use isop_core::*;
use libfuzzer_sys::fuzz_target;
use prost::Message;

struct Fixture {
    roster: Roster,
    author: Signer,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let author = Signer::new(
            "RH-FILMCO/k1".parse().expect("a key id"),
            SecretKey::from_seed(&[1; 32]),
        );
        let authority = Signer::new(
            "ISOP-FED/roster".parse().expect("a key id"),
            SecretKey::from_seed(&[2; 32]),
        );
        let k1: KeyName = "k1".parse().expect("a key name");
        let env = RosterBuilder::new("fuzz", 1, UnixMillis(1))
            .member(&"RH-FILMCO".parse().expect("org"), "FilmCo", Role::Partner, "US")
            .key(&"RH-FILMCO".parse().expect("org"), &k1, &author.public(), UnixMillis(0), UnixMillis(u64::MAX))
            .expect("a key")
            .member(&"KR-KNPA".parse().expect("org"), "KNPA", Role::Agency, "KR")
            .sign(&authority)
            .expect("a roster");
        let roster = Roster::verify(
            &env,
            &RosterKey {
                name: authority.id().to_string(),
                key: authority.public(),
            },
        )
        .expect("a roster");
        Fixture { roster, author }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(d) = pb::Deliver::decode(data) else {
        return;
    };
    let f = fixture();
    let envelope = d.envelope.unwrap_or_default();
    let resigned = sign_envelope(&f.author, NOTICE_PAYLOAD_TYPE, envelope.payload.clone());
    let receiver: OrgId = "KR-KNPA".parse().expect("org");
    for env in [envelope, resigned] {
        let delivery = Delivery {
            envelope: env,
            disclosures: d.disclosures.clone(),
        };
        let _ = delivery.verify(&f.roster, &receiver, Judgement::AtCreation);
        if let Ok(n) = Notice::decode(&delivery.envelope.payload) {
            let _ = check_transmission(&n, n.author(), &receiver, &f.roster, n.created_at());
        }
    }
});
