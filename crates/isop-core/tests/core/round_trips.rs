//! Property tests: seal then verify; any flipped byte fails; redaction for
//! any clearance verifies and reveals exactly what the clearance allows.

use bytes::Bytes;
use isop_core::pb::field_value::Value;
use isop_core::*;
use proptest::prelude::*;
use prost::Message;

use crate::fixture::*;

const LABELS: [&str; 8] = [
    "",
    "role:agency",
    "role:hub",
    "role:agency|role:hub",
    "role:agency&country:KR",
    "org:RH-FILMCO|(role:hub&op:sop-2026)",
    "pii:handler",
    "(country:GB|country:KR)&role:agency",
];
const ORGS: [&str; 5] = [HUB, KR, GB, FILMCO, SPORTS];

fn sealed(fed: &Fed, labels: &[usize], text: &str, seed: u64) -> SealedNotice {
    let mut d = NoticeDraft::new(Tlp::Green, referral_body())
        .to_group("op:sop-2026")
        .to_org(&org(SPORTS))
        .to_org(&org(FILMCO));
    for (i, l) in labels.iter().enumerate() {
        d = d.labelled(
            &format!("referral.field_{i}"),
            LABELS[*l],
            Value::Text(format!("{text}-{i}")),
        );
    }
    d.seal(fed.signer(GB), NOW, &mut rng(seed)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn seal_then_verify_and_any_flipped_byte_fails(
        labels in prop::collection::vec(0..LABELS.len(), 0..5),
        text in "\\PC{0,40}",
        seed in any::<u64>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let fed = fed();
        let s = sealed(&fed, &labels, &text, seed);
        let hub = org(HUB);
        let clearance = fed.roster.clearance(&hub).unwrap();
        let d = s.delivery_for(&clearance);
        let v = d.verify(&fed.roster, &hub, Judgement::live(NOW)).unwrap();
        prop_assert_eq!(v.notice().id(), s.notice().id());
        prop_assert_eq!(v.notice_digest(), s.digest());
        prop_assert_eq!(v.signed_by(), fed.signer(GB).id());

        // Flip one bit anywhere in the payload, the signature, or a disclosure.
        let mut payload = d.envelope.payload.to_vec();
        let i = flip.index(payload.len());
        payload[i] ^= 1 << bit;
        let mut bad = d.clone();
        bad.envelope.payload = Bytes::from(payload);
        prop_assert!(bad.verify(&fed.roster, &hub, Judgement::live(NOW)).is_err());

        let mut bad = d.clone();
        let mut sig = bad.envelope.signatures[0].sig.to_vec();
        let i = flip.index(sig.len());
        sig[i] ^= 1 << bit;
        bad.envelope.signatures[0].sig = Bytes::from(sig);
        prop_assert!(bad.verify(&fed.roster, &hub, Judgement::live(NOW)).is_err());

        if !d.disclosures.is_empty() {
            let mut bad = d.clone();
            let k = flip.index(bad.disclosures.len());
            let mut bytes = bad.disclosures[k].to_vec();
            let i = flip.index(bytes.len());
            bytes[i] ^= 1 << bit;
            bad.disclosures[k] = Bytes::from(bytes);
            prop_assert!(bad.verify(&fed.roster, &hub, Judgement::live(NOW)).is_err());
        }
    }

    #[test]
    fn redact_for_any_clearance_then_verify(
        labels in prop::collection::vec(0..LABELS.len(), 0..8),
        who in 0..ORGS.len(),
        seed in any::<u64>(),
    ) {
        let fed = fed();
        let s = sealed(&fed, &labels, "v", seed);
        let receiver = org(ORGS[who]);
        let clearance = fed.roster.clearance(&receiver).unwrap();
        let v = s.delivery_for(&clearance).verify(&fed.roster, &receiver, Judgement::live(NOW)).unwrap();
        prop_assert_eq!(v.revealed().len() + v.withheld().len(), labels.len());
        for (i, l) in labels.iter().enumerate() {
            let label = Label::parse(LABELS[*l]).unwrap();
            let path = format!("referral.field_{i}");
            if label.allows(&clearance) {
                let f = v.revealed().iter().find(|f| f.path == path).unwrap();
                prop_assert_eq!(&f.value, &Value::Text(format!("v-{i}")));
            } else {
                prop_assert!(v.withheld().iter().any(|w| w.path == path && w.label == label));
            }
        }
    }
}

#[test]
fn each_recipient_sees_what_its_clearance_allows() {
    let fed = fed();
    let s = referral(&fed, 11);
    let seen = |o: &str| {
        let receiver = org(o);
        let d = s.delivery_for(&fed.roster.clearance(&receiver).unwrap());
        let v = d
            .verify(&fed.roster, &receiver, Judgement::live(NOW))
            .unwrap();
        let mut paths: Vec<String> = v.revealed().iter().map(|f| f.path.clone()).collect();
        paths.sort();
        paths
    };
    assert_eq!(seen(HUB), ["referral.contact", "referral.internal_ref"]);
    assert_eq!(
        seen(KR),
        ["referral.contact", "referral.evidence[0].location"]
    );
    assert_eq!(seen(GB), ["referral.contact"]);
}

#[test]
fn receipts_sign_and_verify() {
    let fed = fed();
    let s = referral(&fed, 12);
    let draft = ReceiptDraft {
        notice_id: Some(s.notice().id()),
        notice_digest: Some(*s.digest()),
        disclosure_digests: s.disclosures().iter().map(|d| *d.digest()).collect(),
        received_at: NOW,
        outcome: ReceiptOutcome::Accepted(LogIndex(41)),
    };
    let env = draft.sign(fed.signer(KR)).unwrap();
    let verify = |env: &pb::Envelope, judgement| {
        SignedReceipts::verify(env, &fed.roster, judgement).map(|list| {
            let [r] = list.receipts() else {
                panic!("{} receipts", list.receipts().len())
            };
            r.clone()
        })
    };
    let r = verify(&env, Judgement::AtCreation).unwrap();
    assert_eq!(r.receiver(), &org(KR));
    assert_eq!(r.outcome(), &ReceiptOutcome::Accepted(LogIndex(41)));
    assert_eq!(r.notice_digest(), Some(s.digest()));
    assert_eq!(r.disclosure_digests().len(), 3);

    let mut forged = env.clone();
    let mut p = forged.payload.to_vec();
    let last = p.len() - 1;
    p[last] ^= 1;
    forged.payload = p.into();
    assert!(verify(&forged, Judgement::AtCreation).is_err());
    // A receipt signed by a key of another org than the receiver it names fails.
    let mut other = env.clone();
    other.signatures = draft.sign(fed.signer(GB)).unwrap().signatures;
    assert!(verify(&other, Judgement::AtCreation).is_err());

    let rejected = ReceiptDraft {
        notice_id: None,
        notice_digest: None,
        disclosure_digests: vec![],
        received_at: NOW,
        outcome: ReceiptOutcome::Rejected {
            code: pb::RejectReason::Malformed,
            reason: "cannot decode notice".into(),
            logged: Some(LogIndex(7)),
        },
    };
    let r = verify(
        &rejected.sign(fed.signer(KR)).unwrap(),
        Judgement::live(NOW),
    )
    .unwrap();
    assert!(matches!(
        r.outcome(),
        ReceiptOutcome::Rejected {
            code: pb::RejectReason::Malformed,
            logged: Some(LogIndex(7)),
            ..
        }
    ));
    let accepted_without_id = ReceiptDraft {
        outcome: ReceiptOutcome::Accepted(LogIndex(1)),
        ..rejected
    };
    assert!(matches!(
        accepted_without_id.sign(fed.signer(KR)),
        Err(Error::InvalidReceipt(_))
    ));
}

#[test]
fn receipt_lists_sign_and_verify_under_one_signature() {
    let fed = fed();
    let drafts: Vec<ReceiptDraft> = (0..3)
        .map(|i| {
            let s = referral(&fed, 20 + i);
            ReceiptDraft {
                notice_id: Some(s.notice().id()),
                notice_digest: Some(*s.digest()),
                disclosure_digests: s.disclosures().iter().map(|d| *d.digest()).collect(),
                received_at: NOW,
                outcome: ReceiptOutcome::Accepted(LogIndex(40 + i)),
            }
        })
        .collect();
    let env = ReceiptDraft::sign_list(&drafts, fed.signer(KR)).unwrap();
    assert_eq!(env.payload_type, RECEIPTS_PAYLOAD_TYPE);
    assert_eq!(env.signatures.len(), 1);
    let list = SignedReceipts::verify(&env, &fed.roster, Judgement::AtCreation).unwrap();
    assert_eq!(list.receiver(), &org(KR));
    assert_eq!(list.received_at(), NOW);
    let got: Vec<_> = list
        .receipts()
        .iter()
        .map(|r| r.outcome().clone())
        .collect();
    let want: Vec<_> = (40..43)
        .map(|i| ReceiptOutcome::Accepted(LogIndex(i)))
        .collect();
    assert_eq!(got, want);
    for (r, d) in list.receipts().iter().zip(&drafts) {
        assert_eq!(r.notice_id(), d.notice_id);
        assert_eq!(r.signed_by(), Some(&format!("{KR}/k1").parse().unwrap()));
    }

    // A single receipt reads as a list of one.
    let one = drafts[0].sign(fed.signer(KR)).unwrap();
    let single = SignedReceipts::verify(&one, &fed.roster, Judgement::AtCreation).unwrap();
    assert_eq!(single.receipts().len(), 1);

    // An altered list, or one signed by another org than the receiver it
    // names, fails.
    let mut altered = env.clone();
    let mut p = altered.payload.to_vec();
    let last = p.len() - 1;
    p[last] ^= 1;
    altered.payload = p.into();
    assert!(SignedReceipts::verify(&altered, &fed.roster, Judgement::AtCreation).is_err());
    let mut foreign = env.clone();
    foreign.signatures = ReceiptDraft::sign_list(&drafts, fed.signer(GB))
        .unwrap()
        .signatures;
    assert!(SignedReceipts::verify(&foreign, &fed.roster, Judgement::AtCreation).is_err());
    // A list under the single-receipt payload type is refused.
    let mut mistyped = env.clone();
    mistyped.payload_type = RECEIPT_PAYLOAD_TYPE.into();
    assert!(SignedReceipts::verify(&mistyped, &fed.roster, Judgement::AtCreation).is_err());

    // Every receipt of a list names the same receiver and time; a list is
    // 1 to MAX_RECEIPTS long.
    let mut later = drafts.clone();
    later[2].received_at = UnixMillis(NOW.0 + 1);
    let err = ReceiptDraft::sign_list(&later, fed.signer(KR)).unwrap_err();
    assert!(err.to_string().contains("receipt 2 of the list"), "{err}");
    let mut mixed = pb::ReceiptList::decode(env.payload.as_ref()).unwrap();
    mixed.receipts[1].receiver = GB.into();
    let forged = sign_envelope(
        fed.signer(KR),
        RECEIPTS_PAYLOAD_TYPE,
        mixed.encode_to_vec().into(),
    );
    assert!(matches!(
        SignedReceipts::open(&forged),
        Err(Error::InvalidReceipt(_))
    ));
    assert!(matches!(
        ReceiptDraft::sign_list(&[], fed.signer(KR)),
        Err(Error::InvalidReceipt(_))
    ));
    let too_many = vec![drafts[0].clone(); MAX_RECEIPTS + 1];
    assert!(matches!(
        ReceiptDraft::sign_list(&too_many, fed.signer(KR)),
        Err(Error::InvalidReceipt(_))
    ));
}

/// One redaction rule, whatever holds the notice: from a sealed notice's
/// commitments and from its envelope as a node holds it, each clearance
/// sees the same fields, and `delivery_for` gives exactly those. A
/// disclosure is judged by the label its notice commits to, and one that
/// no commitment names is never shown.
#[test]
fn redaction_is_one_rule_whatever_holds_the_notice() {
    let fed = fed();
    let s = referral(&fed, 7);
    let paths = |shown: &dyn Fn(&SealedDisclosure) -> bool| -> Vec<&str> {
        s.disclosures()
            .iter()
            .filter(|d| shown(d))
            .map(SealedDisclosure::path)
            .collect()
    };
    for (who, expected) in [
        (
            KR,
            &["referral.contact", "referral.evidence[0].location"][..],
        ),
        (GB, &["referral.contact"][..]),
        (HUB, &["referral.contact", "referral.internal_ref"][..]),
        (FILMCO, &["referral.internal_ref"][..]),
        (AUDIT, &[][..]),
    ] {
        let clearance = fed.roster.clearance(&org(who)).unwrap();
        let held = Redaction::of_envelope(s.envelope(), &clearance).unwrap();
        let sealed = Redaction::new(s.notice().commitments(), &clearance);
        assert_eq!(paths(&|d| held.shows(d.bytes())), expected, "{who}");
        assert_eq!(
            paths(&|d| sealed.shows_digest(d.digest())),
            expected,
            "{who}"
        );
        assert_eq!(s.delivery_for(&clearance).disclosures.len(), expected.len());
    }

    // A disclosure carrying a laxer label than its commitment's.
    let text = |t: &str| pb::FieldValue {
        value: Some(Value::Text(t.into())),
    };
    let lax = SealedDisclosure::create(
        "referral.contact",
        Label::parse("").unwrap(),
        text("desk"),
        &mut rng(1),
    );
    let mut n = pb::Notice::decode(s.envelope().payload.as_ref()).unwrap();
    n.fields = vec![pb::FieldCommitment {
        label: "role:hub".into(),
        ..lax.commitment()
    }];
    let env = sign_envelope(
        fed.signer(FILMCO),
        NOTICE_PAYLOAD_TYPE,
        n.encode_to_vec().into(),
    );
    let sees = |who: &str, d: &SealedDisclosure, env: &pb::Envelope| {
        let clearance = fed.roster.clearance(&org(who)).unwrap();
        Redaction::of_envelope(env, &clearance)
            .unwrap()
            .shows(d.bytes())
    };
    assert!(!sees(KR, &lax, &env), "judged by the label it carries");
    assert!(sees(HUB, &lax, &env));
    // A disclosure no commitment names.
    let stray = SealedDisclosure::create(
        "referral.contact",
        Label::parse("").unwrap(),
        text("x"),
        &mut rng(2),
    );
    assert!(!sees(HUB, &stray, s.envelope()));
}
