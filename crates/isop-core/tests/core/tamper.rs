//! Table of bad deliveries: each is refused with an error naming the problem.

use bytes::Bytes;
use isop_core::pb::field_value::Value;
use isop_core::*;
use prost::Message;

use crate::fixture::*;

/// The delivery of FilmCo's referral to KR-KNPA, with everything it may see.
fn good(fed: &Fed, seed: u64) -> (SealedNotice, Delivery) {
    let s = referral(fed, seed);
    let d = s.delivery_for(&fed.roster.clearance(&org(KR)).unwrap());
    (s, d)
}

#[track_caller]
fn refused(fed: &Fed, d: &Delivery, judgement: Judgement, pred: impl Fn(&Error) -> bool) {
    match d.verify(&fed.roster, &org(KR), judgement) {
        Err(e) => assert!(pred(&e), "unexpected error: {e}"),
        Ok(_) => panic!("delivery was accepted"),
    }
}

fn resign(d: &mut Delivery, n: &pb::Notice, signer: &Signer) {
    d.envelope = sign_envelope(signer, NOTICE_PAYLOAD_TYPE, n.encode_to_vec().into());
}

#[test]
fn bad_deliveries() {
    let fed = fed();
    let live = Judgement::live(NOW);
    let (s, d) = good(&fed, 21);
    assert_eq!(d.disclosures.len(), 2);
    d.verify(&fed.roster, &org(KR), live).unwrap();
    let pb_notice = pb::Notice::decode(d.envelope.payload.as_ref()).unwrap();

    // Wrong payload type.
    let mut x = d.clone();
    x.envelope.payload_type = RECEIPT_PAYLOAD_TYPE.into();
    refused(&fed, &x, live, |e| {
        matches!(e, Error::WrongPayloadType { .. })
    });
    // No signature; too many signatures.
    let mut x = d.clone();
    x.envelope.signatures.clear();
    refused(&fed, &x, live, |e| matches!(e, Error::Unsigned));
    let mut x = d.clone();
    x.envelope.signatures = vec![d.envelope.signatures[0].clone(); MAX_SIGNATURES + 1];
    refused(&fed, &x, live, |e| matches!(e, Error::TooManySignatures(_)));
    // Garbage payload.
    let mut x = d.clone();
    x.envelope.payload = Bytes::from_static(b"\xff\xff\xff");
    refused(&fed, &x, live, |e| matches!(e, Error::Decode { .. }));
    // Truncated signature.
    let mut x = d.clone();
    x.envelope.signatures[0].sig = x.envelope.signatures[0].sig.slice(..63);
    refused(&fed, &x, live, |e| {
        matches!(e, Error::MalformedSignature(63))
    });
    // Unknown key of the right org.
    let mut x = d.clone();
    let stranger = Signer::new(
        "RH-FILMCO/k9".parse().unwrap(),
        SecretKey::generate(&mut rng(5)),
    );
    resign(&mut x, &pb_notice, &stranger);
    refused(&fed, &x, live, |e| matches!(e, Error::UnknownKey(_)));
    // A notice claiming another author: signed by SportsNet, author FilmCo.
    let mut x = d.clone();
    resign(&mut x, &pb_notice, fed.signer(SPORTS));
    refused(&fed, &x, live, |e| matches!(e, Error::KeyNotAuthors { .. }));
    // Right key id, wrong key: the signature fails.
    let mut x = d.clone();
    let imposter = Signer::new(
        "RH-FILMCO/k1".parse().unwrap(),
        SecretKey::generate(&mut rng(6)),
    );
    resign(&mut x, &pb_notice, &imposter);
    refused(&fed, &x, live, |e| matches!(e, Error::BadSignature(_)));
    // From the future beyond the skew: refused live (fine for history).
    let mut ahead = pb_notice.clone();
    ahead.created_at = NOW.0 + 20 * 60 * 1000;
    let mut x = d.clone();
    resign(&mut x, &ahead, fed.signer(FILMCO));
    refused(&fed, &x, live, |e| matches!(e, Error::ClockSkew { .. }));
    x.verify(&fed.roster, &org(KR), Judgement::AtCreation)
        .unwrap();
    // Past the skew but within the maximum age (a notice that waited out
    // an outage): accepted.
    let mut waited = pb_notice.clone();
    waited.created_at = NOW.0 - 2 * 3_600_000;
    let mut x = d.clone();
    resign(&mut x, &waited, fed.signer(FILMCO));
    x.verify(&fed.roster, &org(KR), live).unwrap();
    // Older than the maximum age: expired live (fine for history).
    let mut stale = pb_notice.clone();
    stale.created_at = NOW.0 - Judgement::DEFAULT_MAX_AGE_MS - 1;
    let mut x = d.clone();
    resign(&mut x, &stale, fed.signer(FILMCO));
    refused(&fed, &x, live, |e| matches!(e, Error::Expired { .. }));

    // Disclosures: one not committed to.
    let other = referral(&fed, 22);
    let mut x = d.clone();
    x.disclosures[0] = other.disclosures()[0].bytes().clone();
    refused(&fed, &x, live, |e| {
        matches!(e, Error::Disclosure { index: 0, .. })
    });
    // Sent twice.
    let mut x = d.clone();
    x.disclosures[1] = x.disclosures[0].clone();
    refused(&fed, &x, live, |e| {
        matches!(e, Error::Disclosure { index: 1, .. })
    });
    // Beyond the receiver's clearance: the internal ref is for FilmCo and the hub.
    let mut x = d.clone();
    let internal = s
        .disclosures()
        .iter()
        .find(|d| d.path() == "referral.internal_ref")
        .unwrap();
    x.disclosures.push(internal.bytes().clone());
    refused(
        &fed,
        &x,
        live,
        |e| matches!(e, Error::BeyondClearance { path, .. } if path == "referral.internal_ref"),
    );
    // A commitment whose disclosure lies about its path: the author committed
    // to it, but path/label differ from the commitment.
    let liar = SealedDisclosure::create(
        "referral.other",
        Label::anyone(),
        pb::FieldValue {
            value: Some(Value::Text("x".into())),
        },
        &mut rng(7),
    );
    let mut lying = pb_notice.clone();
    lying.fields.push(pb::FieldCommitment {
        path: "referral.claimed".into(),
        label: String::new(),
        digest: Bytes::copy_from_slice(liar.digest()),
    });
    let mut x = d.clone();
    resign(&mut x, &lying, fed.signer(FILMCO));
    x.disclosures.push(liar.bytes().clone());
    refused(
        &fed,
        &x,
        live,
        |e| matches!(e, Error::Disclosure { index: 2, why } if why.contains("differ")),
    );

    // Expired and revoked keys of KR-KNPA, on a notice KR-KNPA authors.
    let mut kr_notice = pb_notice.clone();
    kr_notice.author = KR.into();
    kr_notice.fields.clear();
    kr_notice.to_orgs = vec![GB.into()];
    for signer in [&fed.kr_old, &fed.kr_revoked] {
        let mut x = Delivery::default();
        resign(&mut x, &kr_notice, signer);
        let e = x.verify(&fed.roster, &org(GB), live).unwrap_err();
        assert!(matches!(e, Error::KeyNotValid { .. }), "{e}");
    }
}

#[test]
fn batch_verification_locates_the_bad_delivery() {
    let fed = fed();
    // 300 is split across the cores (at least 64 a part), with a
    // bad signature and a withheld disclosure in each part.
    for n in [16u64, 300] {
        let mut batch: Vec<Delivery> = (0..n).map(|i| good(&fed, 100 + i).1).collect();
        let bad = [7, n as usize * 5 / 6];
        for &b in &bad {
            let mut sig = batch[b].envelope.signatures[0].sig.to_vec();
            sig[40] ^= 0x80;
            batch[b].envelope.signatures[0].sig = sig.into();
        }
        let withheld = [12, (n as usize) - 3];
        for &w in &withheld {
            batch[w].disclosures.clear();
        }
        let results = Delivery::verify_batch(&batch, &fed.roster, &org(KR), Judgement::live(NOW));
        assert_eq!(results.len(), batch.len());
        for (i, (r, d)) in results.iter().zip(&batch).enumerate() {
            if bad.contains(&i) {
                assert!(matches!(r, Err(Error::BadSignature(_))), "{n}: {i}: {r:?}");
                continue;
            }
            let v = r.as_ref().unwrap();
            // In the batch's order: each result is its own delivery's.
            assert_eq!(
                v.notice_digest(),
                &isop_core::sha256(&d.envelope.payload),
                "{n}: {i}"
            );
            if withheld.contains(&i) {
                assert_eq!(v.withheld().len(), 3, "{n}: {i}");
            } else {
                assert_eq!(v.revealed().len(), 2, "{n}: {i}");
            }
        }
    }
}
