//! The protocol's decisions, table-driven: the receive decision for each
//! check and each attack of the trust review, the settling of receipts
//! once the log placed a notice, whole-batch faults, the sender's
//! recipients and its matching of receipts.

use std::collections::HashMap;

use isop_core::protocol::*;
use isop_core::*;

use crate::fixture::*;

/// The receiver's log, as the decision reads it: notices by id, and the
/// disclosure digests held for each entry.
#[derive(Default)]
struct Log {
    notices: HashMap<NoticeId, HeldNotice>,
    disclosures: HashMap<LogIndex, Vec<[u8; 32]>>,
}

impl Log {
    fn holding(mut self, at: u64, sealed: &SealedNotice) -> Self {
        let n = sealed.notice();
        self.notices.insert(
            n.id(),
            HeldNotice {
                index: LogIndex(at),
                digest: *sealed.digest(),
                author: n.author().clone(),
                kind: n.kind(),
            },
        );
        self
    }
}

impl NoticeLog for Log {
    type Error = std::convert::Infallible;

    fn find(&self, id: &NoticeId) -> Result<Option<HeldNotice>, Self::Error> {
        Ok(self.notices.get(id).cloned())
    }

    fn disclosure_digests(&self, index: LogIndex) -> Result<Vec<[u8; 32]>, Self::Error> {
        Ok(self.disclosures.get(&index).cloned().unwrap_or_default())
    }
}

fn seal(draft: NoticeDraft, signer: &Signer, at: UnixMillis, seed: u64) -> SealedNotice {
    draft.seal(signer, at, &mut rng(seed)).unwrap()
}

/// A referral by `author` to KR-KNPA, without labelled fields (so the
/// notice id is the seed's first draw: two authors can share one).
fn plain_referral(fed: &Fed, author: &str, seed: u64) -> SealedNotice {
    seal(
        NoticeDraft::new(Tlp::Amber, referral_body()).to_org(&org(KR)),
        fed.signer(author),
        NOW,
        seed,
    )
}

fn case_reply(fed: &Fed, author: &str, to: &SealedNotice, seed: u64) -> SealedNotice {
    seal(
        NoticeDraft::new(
            Tlp::Amber,
            CaseMessageBuilder::new(pb::CaseAction::Message)
                .text("more evidence follows")
                .build(),
        )
        .to_org(&org(KR))
        .case_ref("KR-2026-0042")
        .in_reply_to(to.notice().id()),
        fed.signer(author),
        NOW,
        seed,
    )
}

fn intel(signer: &Signer, tlp: Tlp, to: &str, at: UnixMillis) -> SealedNotice {
    seal(
        NoticeDraft::new(
            tlp,
            IntelReportBuilder::new(
                "Payment flows of streamz.example",
                pb::SourceReliability::B,
                pb::InformationCredibility::ProbablyTrue,
            )
            .indicator(
                pb::IndicatorKind::Domain,
                "streamz.example",
                "the storefront",
            )
            .build(),
        )
        .to_org(&org(to)),
        signer,
        at,
        11,
    )
}

/// The delivery of `sealed` with every disclosure `to`'s clearance shows.
fn to(fed: &Fed, sealed: &SealedNotice, receiver: &str) -> Delivery {
    sealed.delivery_for(&fed.roster.clearance(&org(receiver)).unwrap())
}

/// What a case expects of each item.
#[derive(Debug, PartialEq)]
enum Want {
    /// Taken; requiring the notice of this earlier item of the batch.
    Take(Option<usize>),
    Refuse(pb::RejectReason),
}

use Want::*;
use pb::RejectReason as R;

struct Case {
    name: &'static str,
    sender: &'static str,
    receiver: &'static str,
    log: Log,
    batch: Vec<Delivery>,
    want: Vec<Want>,
}

fn cases(fed: &Fed) -> Vec<Case> {
    let r = referral(fed, 1);
    let sports_ref = plain_referral(fed, SPORTS, 7);
    // FilmCo's decoy: another referral under the id of SportsNet's.
    let decoy = plain_referral(fed, FILMCO, 7);
    assert_eq!(decoy.notice().id(), sports_ref.notice().id());
    assert_ne!(decoy.digest(), sports_ref.digest());
    let mut bad_sig = to(fed, &r, KR);
    let mut sig = bad_sig.envelope.signatures[0].sig.to_vec();
    sig[0] ^= 1;
    bad_sig.envelope.signatures[0].sig = sig.into();
    let mut bad_disclosure = to(fed, &r, KR);
    let mut d = bad_disclosure.disclosures[0].to_vec();
    let last = d.len() - 1;
    d[last] ^= 1;
    bad_disclosure.disclosures[0] = d.into();
    let garbage = Delivery {
        envelope: pb::Envelope {
            payload: bytes::Bytes::from_static(b"not a notice"),
            payload_type: NOTICE_PAYLOAD_TYPE.into(),
            signatures: Vec::new(),
        },
        disclosures: Vec::new(),
    };
    let kr_intel = |signer: &Signer, at| intel(signer, Tlp::Amber, GB, at);
    let retract_by_kr = seal(
        NoticeDraft::new(
            Tlp::Amber,
            RetractionBuilder::new(r.notice().id(), pb::RetractionScope::Withdraw, "mistaken")
                .build(),
        )
        .to_org(&org(GB))
        .in_reply_to(r.notice().id()),
        fed.signer(KR),
        NOW,
        12,
    );
    vec![
        Case {
            name: "an author's referral to an addressee",
            sender: FILMCO,
            receiver: KR,
            log: Log::default(),
            batch: vec![to(fed, &r, KR)],
            want: vec![Take(None)],
        },
        Case {
            name: "the hub relays an amber notice to an addressee",
            sender: HUB,
            receiver: GB,
            log: Log::default(),
            batch: vec![to(fed, &r, GB)],
            want: vec![Take(None)],
        },
        Case {
            name: "the author sends to an org it did not address",
            sender: FILMCO,
            receiver: SPORTS,
            log: Log::default(),
            batch: vec![to(fed, &r, SPORTS)],
            want: vec![Refuse(R::NotAddressed)],
        },
        Case {
            name: "another member passes on an amber notice (a forged sender)",
            sender: SPORTS,
            receiver: KR,
            log: Log::default(),
            batch: vec![to(fed, &r, KR)],
            want: vec![Refuse(R::Tlp)],
        },
        Case {
            name: "a green notice forwarded to an active member",
            sender: GB,
            receiver: HUB,
            log: Log::default(),
            batch: vec![to(fed, &intel(fed.signer(KR), Tlp::Green, GB, NOW), HUB)],
            want: vec![Take(None)],
        },
        Case {
            name: "a signature altered",
            sender: FILMCO,
            receiver: KR,
            log: Log::default(),
            batch: vec![bad_sig],
            want: vec![Refuse(R::BadSignature)],
        },
        Case {
            name: "signed with a revoked key, with an expired one, and with one valid when it signed",
            sender: KR,
            receiver: GB,
            log: Log::default(),
            batch: vec![
                to(fed, &kr_intel(&fed.kr_revoked, NOW), GB),
                to(fed, &kr_intel(&fed.kr_old, NOW), GB),
                // Waited in an outbox past its key's expiry: still arrives.
                to(fed, &kr_intel(&fed.kr_old, UnixMillis(NOW.0 - 2 * DAY)), GB),
            ],
            want: vec![Refuse(R::KeyInvalid), Refuse(R::KeyInvalid), Take(None)],
        },
        Case {
            name: "created too long ago, and too far ahead",
            sender: KR,
            receiver: GB,
            log: Log::default(),
            batch: vec![
                to(
                    fed,
                    &kr_intel(
                        fed.signer(KR),
                        UnixMillis(NOW.0 - Judgement::DEFAULT_MAX_AGE_MS - DAY),
                    ),
                    GB,
                ),
                to(fed, &kr_intel(fed.signer(KR), UnixMillis(NOW.0 + DAY)), GB),
            ],
            want: vec![Refuse(R::Expired), Refuse(R::ClockSkew)],
        },
        Case {
            name: "a payload that is not a notice, between two good ones",
            sender: FILMCO,
            receiver: KR,
            log: Log::default(),
            batch: vec![
                to(fed, &referral(fed, 2), KR),
                garbage,
                to(fed, &referral(fed, 3), KR),
            ],
            want: vec![Take(None), Refuse(R::Malformed), Take(None)],
        },
        Case {
            name: "a partner's intelligence report (no rule permits it)",
            sender: FILMCO,
            receiver: KR,
            log: Log::default(),
            batch: vec![to(fed, &intel(fed.signer(FILMCO), Tlp::Amber, KR, NOW), KR)],
            want: vec![Refuse(R::Policy)],
        },
        Case {
            name: "a partner's reply to its own referral, held in the log",
            sender: FILMCO,
            receiver: KR,
            log: Log::default().holding(5, &r),
            batch: vec![to(fed, &case_reply(fed, FILMCO, &r, 20), KR)],
            want: vec![Take(None)],
        },
        Case {
            name: "a partner's reply to another partner's referral",
            sender: SPORTS,
            receiver: KR,
            log: Log::default().holding(5, &r),
            batch: vec![to(fed, &case_reply(fed, SPORTS, &r, 21), KR)],
            want: vec![Refuse(R::Policy)],
        },
        Case {
            name: "a partner's reply to a referral the receiver does not hold",
            sender: FILMCO,
            receiver: KR,
            log: Log::default(),
            batch: vec![to(fed, &case_reply(fed, FILMCO, &r, 22), KR)],
            want: vec![Refuse(R::Policy)],
        },
        Case {
            name: "a reply to a referral earlier in the same batch",
            sender: FILMCO,
            receiver: KR,
            log: Log::default(),
            batch: vec![
                to(fed, &r, KR),
                to(fed, &case_reply(fed, FILMCO, &r, 23), KR),
            ],
            want: vec![Take(None), Take(Some(0))],
        },
        Case {
            name: "a reply before the referral it answers, in one batch",
            sender: FILMCO,
            receiver: KR,
            log: Log::default(),
            batch: vec![
                to(fed, &case_reply(fed, FILMCO, &r, 24), KR),
                to(fed, &r, KR),
            ],
            want: vec![Refuse(R::Policy), Take(None)],
        },
        Case {
            name: "a decoy under a held id, then a reply resting on the decoy",
            sender: FILMCO,
            receiver: KR,
            log: Log::default().holding(5, &sports_ref),
            batch: vec![
                to(fed, &decoy, KR),
                to(fed, &case_reply(fed, FILMCO, &decoy, 25), KR),
            ],
            // The decoy is taken for the log to refuse (ID_CONFLICT); the
            // reply is judged against SportsNet's referral, which it may
            // not answer.
            want: vec![Take(None), Refuse(R::Policy)],
        },
        Case {
            name: "a copy of a held referral, then a reply to it",
            sender: FILMCO,
            receiver: KR,
            log: Log::default().holding(5, &r),
            batch: vec![
                to(fed, &r, KR),
                to(fed, &case_reply(fed, FILMCO, &r, 26), KR),
            ],
            want: vec![Take(None), Take(None)],
        },
        Case {
            name: "a retraction of another org's notice",
            sender: KR,
            receiver: GB,
            log: Log::default().holding(5, &r),
            batch: vec![to(fed, &retract_by_kr, GB)],
            want: vec![Refuse(R::Policy)],
        },
        Case {
            name: "a field beyond the receiver's clearance",
            sender: FILMCO,
            receiver: GB,
            log: Log::default(),
            // Cut for KR-KNPA: its evidence location is for Korean agencies.
            batch: vec![to(fed, &r, KR)],
            want: vec![Refuse(R::Disclosure)],
        },
        Case {
            name: "a disclosure that does not match its commitment",
            sender: FILMCO,
            receiver: KR,
            log: Log::default(),
            batch: vec![bad_disclosure],
            want: vec![Refuse(R::Disclosure)],
        },
    ]
}

fn verdicts(fed: &Fed, case: &Case) -> Vec<Verdict> {
    let receiver = Receiver {
        org: &org(case.receiver),
        roster: &fed.roster,
        now: NOW,
        judgement: Judgement::live(NOW),
    };
    let Ok(v) = decide(&receiver, &org(case.sender), &case.batch, &case.log);
    v
}

#[test]
fn each_receive_check_decides_in_order() {
    let fed = fed();
    for case in cases(&fed) {
        let got: Vec<Want> = verdicts(&fed, &case)
            .iter()
            .map(|v| match v {
                Verdict::Take(t) => Take(t.requires().map(|(id, digest)| {
                    case.batch
                        .iter()
                        .position(|d| Sent::of(&d.envelope).id == Some(id))
                        .filter(|&i| Sent::of(&case.batch[i].envelope).digest == Some(digest))
                        .expect("requires an item of the batch")
                })),
                Verdict::Refuse(r) => Refuse(r.code),
            })
            .collect();
        assert_eq!(got, case.want, "{}", case.name);
    }
}

#[test]
fn a_refusal_names_what_it_can_of_the_delivery() {
    let fed = fed();
    let r = referral(&fed, 1);
    let mut junk = to(&fed, &r, KR);
    junk.envelope.payload = bytes::Bytes::from_static(b"\xff\xff not protobuf");
    let cut = to(&fed, &r, KR);
    let case = Case {
        name: "names",
        sender: FILMCO,
        receiver: GB,
        log: Log::default(),
        batch: vec![cut.clone(), junk.clone()],
        want: Vec::new(),
    };
    let v = verdicts(&fed, &case);
    let [Verdict::Refuse(beyond), Verdict::Refuse(malformed)] = &v[..] else {
        panic!("both refused: {v:?}");
    };
    // Decodes: its id, its digest, and the disclosures as delivered.
    assert_eq!(beyond.id, Some(r.notice().id()));
    assert_eq!(beyond.digest, Some(*r.digest()));
    assert_eq!(beyond.disclosures.len(), cut.disclosures.len());
    assert!(
        beyond.reason.contains("referral.evidence[0].location"),
        "{}",
        beyond.reason
    );
    // Does not decode: no id, but the digest of what was sent.
    assert_eq!(malformed.id, None);
    assert_eq!(malformed.digest, Some(sha256(&junk.envelope.payload)));
    assert_eq!(malformed.code, pb::RejectReason::Malformed);
    let receipt = malformed.receipt(NOW, Some(LogIndex(9)));
    assert!(matches!(
        receipt.outcome,
        ReceiptOutcome::Rejected {
            logged: Some(LogIndex(9)),
            code: pb::RejectReason::Malformed,
            ..
        }
    ));
}

#[test]
fn a_long_reason_is_bounded_on_a_character_boundary() {
    let error = Error::InvalidNotice {
        what: "referral.summary".into(),
        why: "é".repeat(MAX_REASON),
    };
    let refusal = Refusal::of(&Delivery::default(), &error);
    assert!(
        refusal.reason.contains("referral.summary"),
        "{}",
        refusal.reason
    );
    assert!(refusal.reason.ends_with('…'), "{}", refusal.reason);
    assert!(refusal.reason.len() <= MAX_REASON + '…'.len_utf8());
    assert_eq!(refusal.code, pb::RejectReason::InvalidNotice);
    // Nothing to name: no payload.
    assert_eq!((refusal.id, refusal.digest), (None, None));
}

#[test]
fn settling_a_taken_delivery_follows_where_the_log_placed_it() {
    let fed = fed();
    let r = referral(&fed, 1);
    let squatter = plain_referral(&fed, SPORTS, 3);
    let delivery = to(&fed, &r, KR);
    let case = Case {
        name: "one",
        sender: FILMCO,
        receiver: KR,
        log: Log::default(),
        batch: vec![delivery.clone()],
        want: Vec::new(),
    };
    let Verdict::Take(take) = verdicts(&fed, &case).remove(0) else {
        panic!("taken");
    };
    let delivered: Vec<[u8; 32]> = delivery.disclosures.iter().map(|d| sha256(d)).collect();

    // New: accepted, naming the disclosures received.
    let mut log = Log::default();
    let Ok(Ok(accepted)) = take.settle(Placed::New(LogIndex(8)), NOW, &log) else {
        panic!("accepted");
    };
    assert_eq!(accepted.outcome, ReceiptOutcome::Accepted(LogIndex(8)));
    assert_eq!(accepted.notice_id, Some(r.notice().id()));
    assert_eq!(accepted.notice_digest, Some(*r.digest()));
    assert_eq!(accepted.disclosure_digests, delivered);

    // Duplicate: what the log holds at the original index, never the copy's.
    log.disclosures.insert(LogIndex(3), vec![[7; 32]]);
    let Ok(Ok(dup)) = take.settle(Placed::Duplicate(LogIndex(3)), NOW, &log) else {
        panic!("duplicate");
    };
    assert_eq!(dup.outcome, ReceiptOutcome::Duplicate(LogIndex(3)));
    assert_eq!(dup.disclosure_digests, vec![[7; 32]]);

    // Conflict: refused, naming the notice that holds the id.
    let mut log = Log::default();
    log.notices.insert(
        r.notice().id(),
        HeldNotice {
            index: LogIndex(4),
            digest: *squatter.digest(),
            author: org(SPORTS),
            kind: NoticeKind::Referral,
        },
    );
    let Ok(Err(conflict)) = take.settle(Placed::Conflict(LogIndex(4)), NOW, &log) else {
        panic!("conflict");
    };
    assert_eq!(conflict.code, pb::RejectReason::IdConflict);
    assert_eq!(conflict.id, Some(r.notice().id()));
    assert_eq!(conflict.digest, Some(*r.digest()));
    for named in [
        SPORTS,
        &hex::encode(squatter.digest()),
        &hex::encode(r.digest()),
    ] {
        assert!(
            conflict.reason.contains(named),
            "{named}: {}",
            conflict.reason
        );
    }
    assert!(matches!(
        conflict.receipt(NOW, None).outcome,
        ReceiptOutcome::Rejected {
            code: pb::RejectReason::IdConflict,
            logged: None,
            ..
        }
    ));

    // Unmet: the reply's judgement rested on a notice the log did not take.
    let Ok(Err(unmet)) = take.settle(Placed::Unmet(LogIndex(4)), NOW, &log) else {
        panic!("unmet");
    };
    assert_eq!(unmet.code, pb::RejectReason::Policy);
}

#[test]
fn a_batch_is_refused_whole_when_too_large_or_an_id_repeats() {
    let fed = fed();
    let r = to(&fed, &referral(&fed, 1), KR);
    let other = to(&fed, &referral(&fed, 2), KR);
    assert_eq!(check_batch(&[r.clone(), other.clone()]), Ok(()));
    let fault = check_batch(&[r.clone(), other, r.clone()]).unwrap_err();
    assert_eq!(fault.code(), pb::ErrorCode::Malformed);
    assert!(fault.to_string().contains("twice"), "{fault}");
    // Items that do not decode name no id, and never repeat one.
    let junk = Delivery::default();
    assert_eq!(check_batch(&[junk.clone(), junk]), Ok(()));
    let many = vec![Delivery::default(); MAX_RECEIPTS + 1];
    let fault = check_batch(&many).unwrap_err();
    assert_eq!(fault, BatchFault::TooLarge(MAX_RECEIPTS + 1));
    assert_eq!(fault.code(), pb::ErrorCode::TooLarge);
    assert_eq!(check_batch(&many[..MAX_RECEIPTS]), Ok(()));
}

#[test]
fn the_sender_reaches_only_whom_the_policy_allows() {
    let fed = fed();
    let unknown = ReplyContext::Unknown;
    let r = referral(&fed, 1);
    let to_all = recipients(&fed.roster, &org(FILMCO), r.notice(), &unknown, NOW).unwrap();
    assert_eq!(to_all, vec![org(GB), org(HUB), org(KR)]);
    // A group expands to its active members, never its auditor or the author.
    let op = seal(
        NoticeDraft::new(Tlp::Amber, referral_body()).to_group("op:sop-2026"),
        fed.signer(KR),
        NOW,
        30,
    );
    let to_op = recipients(&fed.roster, &org(KR), op.notice(), &unknown, NOW).unwrap();
    assert_eq!(to_op, vec![org(GB), org(HUB)]);
    // Only the author itself: no one.
    let alone = seal(
        NoticeDraft::new(Tlp::Amber, referral_body()).to_group("region:asia"),
        fed.signer(KR),
        NOW,
        31,
    );
    let err = recipients(&fed.roster, &org(KR), alone.notice(), &unknown, NOW).unwrap_err();
    assert!(err.to_string().contains("reaches no member"), "{err}");
    // A partner's intelligence report: no rule permits it.
    let report = intel(fed.signer(FILMCO), Tlp::Amber, KR, NOW);
    let err = recipients(&fed.roster, &org(FILMCO), report.notice(), &unknown, NOW).unwrap_err();
    assert_eq!(err.reject_reason(), pb::RejectReason::Policy);
    // A partner's case message: only as a reply to its own referral.
    let reply = case_reply(&fed, FILMCO, &r, 32);
    let own = ReplyContext::ReferralBy(org(FILMCO));
    let others = ReplyContext::ReferralBy(org(SPORTS));
    assert!(recipients(&fed.roster, &org(FILMCO), reply.notice(), &own, NOW).is_ok());
    for reply_to in [&others, &unknown] {
        let err = recipients(&fed.roster, &org(FILMCO), reply.notice(), reply_to, NOW).unwrap_err();
        assert_eq!(
            err.reject_reason(),
            pb::RejectReason::Policy,
            "{reply_to:?}"
        );
    }
}

#[test]
fn the_sender_takes_receipts_only_when_they_answer_what_it_sent() {
    let fed = fed();
    let sent_notices = [referral(&fed, 1), referral(&fed, 2)];
    let sent: Vec<Sent> = sent_notices
        .iter()
        .map(|n| Sent::of(n.envelope()))
        .collect();
    let draft = |n: &SealedNotice, at| ReceiptDraft {
        notice_id: Some(n.notice().id()),
        notice_digest: Some(*n.digest()),
        disclosure_digests: Vec::new(),
        received_at: NOW,
        outcome: ReceiptOutcome::Accepted(LogIndex(at)),
    };
    let list = |drafts: &[ReceiptDraft], by: &str| {
        let env = ReceiptDraft::sign_list(drafts, fed.signer(by)).unwrap();
        SignedReceipts::verify(&env, &fed.roster, Judgement::live(NOW)).unwrap()
    };
    let good = [draft(&sent_notices[0], 5), draft(&sent_notices[1], 6)];
    let receipts = list(&good, KR).answering(&org(KR), &sent).unwrap();
    assert_eq!(receipts.len(), 2);
    assert_eq!(
        receipts[1].outcome(),
        &ReceiptOutcome::Accepted(LogIndex(6))
    );

    // Signed by another receiver.
    let err = list(&good, GB).answering(&org(KR), &sent).unwrap_err();
    assert!(err.to_string().contains("GB-PIPCU"), "{err}");
    // One receipt short.
    let err = list(&good[..1], KR).answering(&org(KR), &sent).unwrap_err();
    assert!(
        err.to_string().contains("2 deliveries answered with 1"),
        "{err}"
    );
    // In the wrong order, and for another notice (a squatter's) under the id.
    let swapped = [good[1].clone(), good[0].clone()];
    assert!(list(&swapped, KR).answering(&org(KR), &sent).is_err());
    let mut squatted = good.clone();
    squatted[1].notice_digest = Some([9; 32]);
    let err = list(&squatted, KR).answering(&org(KR), &sent).unwrap_err();
    assert!(err.to_string().contains("receipt 1"), "{err}");
}

/// A log that cannot be read.
struct Unreadable;

impl NoticeLog for Unreadable {
    type Error = &'static str;

    fn find(&self, _: &NoticeId) -> Result<Option<HeldNotice>, Self::Error> {
        Err("the log cannot be read")
    }

    fn disclosure_digests(&self, _: LogIndex) -> Result<Vec<[u8; 32]>, Self::Error> {
        Err("the log cannot be read")
    }
}

#[test]
fn a_log_that_cannot_be_read_fails_the_receive_and_refuses_nothing() {
    // Refusing would make the sender drop a notice through no fault of its
    // own; failing the request makes it try again.
    let fed = fed();
    let receiver = Receiver {
        org: &org(KR),
        roster: &fed.roster,
        now: NOW,
        judgement: Judgement::live(NOW),
    };
    let r = referral(&fed, 1);
    let batch = [to(&fed, &r, KR)];
    let decided = decide(&receiver, &org(FILMCO), &batch, &Unreadable);
    assert_eq!(decided.err(), Some("the log cannot be read"));
    // A reply that must look up what it answers fails the same way.
    let reply = [to(&fed, &case_reply(&fed, FILMCO, &r, 40), KR)];
    let decided = decide(&receiver, &org(FILMCO), &reply, &Unreadable);
    assert_eq!(decided.err(), Some("the log cannot be read"));
}
