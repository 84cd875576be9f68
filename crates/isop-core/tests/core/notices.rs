//! Table tests: each notice kind refuses incomplete or inconsistent notices
//! with an error naming the field.

use bytes::Bytes;
use isop_core::pb::notice::Body;
use isop_core::*;
use prost::Message;

use crate::fixture::*;

fn id_bytes(seed: u64) -> Bytes {
    Bytes::copy_from_slice(NoticeId::new_v7(NOW, &mut rng(seed)).as_bytes())
}

fn base(body: Body) -> pb::Notice {
    let kind = match &body {
        Body::Referral(_) => NoticeKind::Referral,
        Body::StatusUpdate(_) => NoticeKind::StatusUpdate,
        Body::IntelReport(_) => NoticeKind::IntelReport,
        Body::TakedownRequest(_) => NoticeKind::TakedownRequest,
        Body::CaseMessage(_) => NoticeKind::CaseMessage,
        Body::Retraction(_) => NoticeKind::Retraction,
    };
    let mut n = pb::Notice {
        id: id_bytes(1),
        author: KR.into(),
        created_at: NOW.0,
        kind: kind.to_pb() as i32,
        tlp: pb::Tlp::Amber as i32,
        to_orgs: vec![GB.into()],
        case_ref: "CASE-2026-7".into(),
        body: Some(body),
        ..Default::default()
    };
    if let Some(Body::Retraction(r)) = &n.body {
        n.in_reply_to = r.notice_id.clone();
    }
    n
}

fn valid_bodies() -> Vec<Body> {
    let id = NoticeId::from_slice(&id_bytes(9)).unwrap();
    vec![
        referral_body(),
        StatusUpdateBuilder::new(id, pb::ReferralStatus::Accepted).build(),
        IntelReportBuilder::new(
            "Payment network",
            pb::SourceReliability::B,
            pb::InformationCredibility::ProbablyTrue,
        )
        .indicator(pb::IndicatorKind::Domain, "streamz.example", "front")
        .link_notice(id)
        .build(),
        TakedownRequestBuilder::new(target(), pb::RequestedAction::Takedown)
            .legal_basis("Copyright Act art. 104")
            .deadline(UnixMillis(NOW.0 + DAY))
            .build(),
        CaseMessageBuilder::new(pb::CaseAction::Open)
            .subject("Streamz")
            .participant(&org(GB))
            .build(),
        RetractionBuilder::new(id, pb::RetractionScope::Withdraw, "sent in error").build(),
    ]
}

#[test]
fn valid_notices_of_every_kind_pass() {
    for body in valid_bodies() {
        let n = base(body);
        let decoded = Notice::decode(&n.encode_to_vec()).unwrap();
        assert_eq!(decoded.author(), &org(KR));
    }
}

/// `check(mutation, field)`: applying `mutation` to a valid notice of the
/// body's kind must fail naming `field`.
#[track_caller]
fn check(body: Body, mutate: impl FnOnce(&mut pb::Notice), field: &str) {
    let mut n = base(body);
    mutate(&mut n);
    match Notice::try_from(n) {
        Err(Error::InvalidNotice { what, why }) => assert_eq!(what, field, "({why})"),
        other => panic!("expected an error on {field}, got {other:?}"),
    }
}

fn referral(n: &mut pb::Notice) -> &mut pb::Referral {
    match n.body.as_mut().unwrap() {
        Body::Referral(r) => r,
        _ => unreachable!(),
    }
}

#[test]
fn header_errors() {
    let b = referral_body;
    check(b(), |n| n.id = Bytes::from_static(&[1; 16]), "notice.id");
    check(b(), |n| n.id = Bytes::new(), "notice.id");
    check(b(), |n| n.author = "kr".into(), "notice.author");
    check(b(), |n| n.created_at = 0, "notice.created_at");
    check(b(), |n| n.kind = 0, "notice.kind");
    check(
        b(),
        |n| n.kind = NoticeKind::IntelReport.to_pb() as i32,
        "notice.kind",
    );
    check(b(), |n| n.tlp = 0, "notice.tlp");
    check(b(), |n| n.tlp = 99, "notice.tlp");
    check(b(), |n| n.body = None, "notice.body");
    check(b(), |n| n.to_orgs.clear(), "notice.recipients");
    check(b(), |n| n.to_orgs.push("nope".into()), "notice.to_orgs");
    check(
        b(),
        |n| n.to_groups.push("op sop".into()),
        "notice.to_groups",
    );
    check(
        b(),
        |n| {
            n.tlp = pb::Tlp::Red as i32;
            n.to_groups.push("op:sop-2026".into());
        },
        "notice.to_groups",
    );
    check(
        b(),
        |n| n.to_orgs = vec![GB.into(); MAX_RECIPIENTS + 1],
        "notice.recipients",
    );
    check(b(), |n| n.case_ref = "has space".into(), "notice.case_ref");
    check(
        b(),
        |n| n.in_reply_to = Bytes::from_static(&[0; 3]),
        "notice.in_reply_to",
    );
    let field = |path: &str, digest_len: usize| pb::FieldCommitment {
        path: path.into(),
        label: "role:agency".into(),
        digest: vec![0; digest_len].into(),
    };
    check(
        b(),
        |n| n.fields.push(field("status.reason", 32)),
        "notice.fields",
    );
    check(
        b(),
        |n| n.fields.push(field("referral.Contact", 32)),
        "notice.fields",
    );
    check(
        b(),
        |n| n.fields.push(field("referral.contact", 31)),
        "notice.fields",
    );
    check(
        b(),
        |n| {
            n.fields
                .extend([field("referral.a", 32), field("referral.a", 32)])
        },
        "notice.fields",
    );
}

#[test]
fn bad_labels_in_commitments_name_the_position() {
    let mut n = base(referral_body());
    n.fields.push(pb::FieldCommitment {
        path: "referral.x".into(),
        label: "a|b&c".into(),
        digest: vec![0; 32].into(),
    });
    assert!(matches!(
        Notice::try_from(n),
        Err(Error::InvalidLabel { position: 3, .. })
    ));
}

#[test]
fn referral_errors() {
    let b = referral_body;
    check(b(), |n| referral(n).target = None, "referral.target");
    check(
        b(),
        |n| {
            referral(n).target = Some(pb::Target {
                registrar: "x".into(),
                ..Default::default()
            })
        },
        "referral.target",
    );
    check(
        b(),
        |n| referral(n).target.as_mut().unwrap().url = "ftp://x".into(),
        "referral.target.url",
    );
    check(
        b(),
        |n| referral(n).target.as_mut().unwrap().domain = "Streamz.Example".into(),
        "referral.target.domain",
    );
    check(
        b(),
        |n| referral(n).target.as_mut().unwrap().domain = "localhost".into(),
        "referral.target.domain",
    );
    check(
        b(),
        |n| referral(n).target.as_mut().unwrap().ip = "300.1.1.1".into(),
        "referral.target.ip",
    );
    check(
        b(),
        |n| referral(n).target.as_mut().unwrap().hosting_country = "kr".into(),
        "referral.target.hosting_country",
    );
    check(b(), |n| referral(n).category = 0, "referral.category");
    check(b(), |n| referral(n).works.clear(), "referral.works");
    check(
        b(),
        |n| referral(n).works[0].title.clear(),
        "referral.works[0].title",
    );
    check(
        b(),
        |n| referral(n).works[0].identifiers[0].scheme = 0,
        "referral.works[0].identifiers[0].scheme",
    );
    check(
        b(),
        |n| referral(n).works[0].identifiers[0].value.clear(),
        "referral.works[0].identifiers[0].value",
    );
    check(b(), |n| referral(n).evidence.clear(), "referral.evidence");
    check(
        b(),
        |n| referral(n).evidence[0].sha256 = Bytes::new(),
        "referral.evidence[0].sha256",
    );
    check(
        b(),
        |n| referral(n).evidence[0].sha256 = vec![0; 20].into(),
        "referral.evidence[0].sha256",
    );
    check(
        b(),
        |n| referral(n).evidence[0].captured_at = 0,
        "referral.evidence[0].captured_at",
    );
    check(
        b(),
        |n| referral(n).evidence[0].method = 0,
        "referral.evidence[0].method",
    );
    check(
        b(),
        |n| referral(n).evidence = vec![Default::default(); MAX_ITEMS + 1],
        "referral.evidence",
    );
    check(
        b(),
        |n| referral(n).requested_action = 0,
        "referral.requested_action",
    );
    check(
        b(),
        |n| referral(n).jurisdiction = "Korea".into(),
        "referral.jurisdiction",
    );
    check(
        b(),
        |n| referral(n).good_faith_statement = false,
        "referral.good_faith_statement",
    );
    check(
        b(),
        |n| referral(n).accuracy_statement = false,
        "referral.accuracy_statement",
    );
}

#[test]
fn other_kind_errors() {
    let [_, status, intel, takedown, case, retraction] =
        <[Body; 6]>::try_from(valid_bodies()).unwrap();
    macro_rules! body {
        ($n:ident, $variant:ident) => {
            match $n.body.as_mut().unwrap() {
                Body::$variant(x) => x,
                _ => unreachable!(),
            }
        };
    }
    check(
        status.clone(),
        |n| body!(n, StatusUpdate).referral_id = Bytes::new(),
        "status.referral_id",
    );
    check(
        status.clone(),
        |n| body!(n, StatusUpdate).status = 0,
        "status.status",
    );
    check(
        status.clone(),
        |n| body!(n, StatusUpdate).status = pb::ReferralStatus::Rejected as i32,
        "status.reason",
    );
    check(
        status.clone(),
        |n| body!(n, StatusUpdate).status = pb::ReferralStatus::NeedsInfo as i32,
        "status.reason",
    );
    check(
        status.clone(),
        |n| body!(n, StatusUpdate).status = pb::ReferralStatus::ActionTaken as i32,
        "status.action",
    );
    check(
        status,
        |n| {
            let s = body!(n, StatusUpdate);
            s.status = pb::ReferralStatus::ActionTaken as i32;
            s.action = Some(pb::ActionTaken {
                action: pb::ActionType::Takedown as i32,
                taken_at: 0,
                details: String::new(),
            });
        },
        "status.action.taken_at",
    );

    check(
        intel.clone(),
        |n| body!(n, IntelReport).title.clear(),
        "intel.title",
    );
    check(
        intel.clone(),
        |n| body!(n, IntelReport).indicators.clear(),
        "intel.indicators",
    );
    check(
        intel.clone(),
        |n| body!(n, IntelReport).indicators[0].kind = pb::IndicatorKind::Person as i32,
        "intel.indicators[0]",
    );
    check(
        intel.clone(),
        |n| body!(n, IntelReport).indicators[0].kind = pb::IndicatorKind::CryptoWallet as i32,
        "intel.indicators[0]",
    );
    check(
        intel.clone(),
        |n| body!(n, IntelReport).indicators[0].value.clear(),
        "intel.indicators[0].value",
    );
    check(
        intel.clone(),
        |n| {
            body!(n, IntelReport)
                .linked_notices
                .push(Bytes::from_static(b"x"))
        },
        "intel.linked_notices",
    );
    check(
        intel.clone(),
        |n| body!(n, IntelReport).source_reliability = 0,
        "intel.source_reliability",
    );
    check(
        intel,
        |n| body!(n, IntelReport).information_credibility = 0,
        "intel.information_credibility",
    );

    check(
        takedown.clone(),
        |n| body!(n, TakedownRequest).target = None,
        "takedown.target",
    );
    check(
        takedown.clone(),
        |n| {
            body!(n, TakedownRequest)
                .target
                .as_mut()
                .unwrap()
                .hosting_country
                .clear()
        },
        "takedown.target.hosting_country",
    );
    check(
        takedown.clone(),
        |n| body!(n, TakedownRequest).legal_basis.clear(),
        "takedown.legal_basis",
    );
    check(
        takedown.clone(),
        |n| body!(n, TakedownRequest).deadline = NOW.0,
        "takedown.deadline",
    );
    check(
        takedown,
        |n| body!(n, TakedownRequest).requested_action = 0,
        "takedown.requested_action",
    );

    check(case.clone(), |n| n.case_ref.clear(), "notice.case_ref");
    check(
        case.clone(),
        |n| body!(n, CaseMessage).action = 0,
        "case.action",
    );
    check(
        case.clone(),
        |n| body!(n, CaseMessage).subject.clear(),
        "case.subject",
    );
    check(
        case.clone(),
        |n| body!(n, CaseMessage).participants.clear(),
        "case.participants",
    );
    check(
        case.clone(),
        |n| body!(n, CaseMessage).participants.push("x".into()),
        "case.participants",
    );
    check(
        case,
        |n| body!(n, CaseMessage).action = pb::CaseAction::Message as i32,
        "case.text",
    );

    check(
        retraction.clone(),
        |n| n.in_reply_to = id_bytes(3),
        "notice.in_reply_to",
    );
    check(
        retraction.clone(),
        |n| body!(n, Retraction).scope = 0,
        "retraction.scope",
    );
    check(
        retraction.clone(),
        |n| body!(n, Retraction).scope = pb::RetractionScope::Narrow as i32,
        "retraction.paths",
    );
    check(
        retraction,
        |n| body!(n, Retraction).reason.clear(),
        "retraction.reason",
    );
}

#[test]
fn labelled_fields_satisfy_requirements_and_paths_are_checked_at_seal() {
    let fed = fed();
    // A NEEDS_INFO whose reason is a labelled field is complete.
    let referral = crate::fixture::referral(&fed, 5);
    NoticeDraft::new(
        Tlp::Amber,
        StatusUpdateBuilder::new(referral.notice().id(), pb::ReferralStatus::NeedsInfo).build(),
    )
    .to_org(&org(FILMCO))
    .in_reply_to(referral.notice().id())
    .labelled(
        "status.reason",
        "org:RH-FILMCO",
        pb::field_value::Value::Text("need the capture logs".into()),
    )
    .seal(fed.signer(KR), NOW, &mut rng(6))
    .unwrap();
    // A path outside the kind's namespace is refused at seal.
    let err = NoticeDraft::new(Tlp::Amber, referral_body())
        .to_org(&org(KR))
        .labelled(
            "intel.narrative",
            "",
            pb::field_value::Value::Text("x".into()),
        )
        .seal(fed.signer(FILMCO), NOW, &mut rng(7))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidNotice { ref what, .. } if what == "notice.fields"),
        "{err}"
    );
    // A bad label is refused at seal with its position.
    let err = NoticeDraft::new(Tlp::Amber, referral_body())
        .to_org(&org(KR))
        .labelled(
            "referral.contact",
            "role:agency|",
            pb::field_value::Value::Text("x".into()),
        )
        .seal(fed.signer(FILMCO), NOW, &mut rng(8))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidLabel { position: 12, .. }),
        "{err}"
    );
}

/// A labelled value is checked by its form when it is sealed (and, by the
/// same rule, when a receiver opens it): the error names the field.
#[test]
fn labelled_values_are_checked_by_their_form_at_seal() {
    use pb::field_value::Value;
    let fed = fed();
    let person = |date_of_birth: &str, nationality: &str, alias: &str| {
        Value::Person(pb::Person {
            name: "J. Doe".into(),
            date_of_birth: date_of_birth.into(),
            nationality: nationality.into(),
            aliases: vec![alias.into()],
        })
    };
    let contact = |email: &str| {
        Value::Contact(pb::Contact {
            name: "Desk".into(),
            email: email.into(),
            ..Default::default()
        })
    };
    let seal = |path: &str, value: Value| {
        NoticeDraft::new(Tlp::Amber, referral_body())
            .to_org(&org(KR))
            .labelled(path, "role:agency", value)
            .seal(fed.signer(FILMCO), NOW, &mut rng(9))
    };
    for (value, what) in [
        (
            person("1990-02-30", "", "jd"),
            "referral.suspect.date_of_birth",
        ),
        (
            person("1990-2-3", "", "jd"),
            "referral.suspect.date_of_birth",
        ),
        (person("", "xx", "jd"), "referral.suspect.nationality"),
        (person("", "", "j\u{1b}d"), "referral.suspect.aliases[0]"),
        (contact("desk at filmco.example"), "referral.suspect.email"),
        (Value::Text("ok\u{202e}".into()), "referral.suspect"),
        (
            Value::Indicator(pb::Indicator {
                kind: pb::IndicatorKind::PaymentAccount as i32,
                value: "DE44500105175407324932".into(),
                context: String::new(),
            }),
            "referral.suspect.value",
        ),
    ] {
        let err = seal("referral.suspect", value).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidNotice { what: w, .. } if w == what),
            "{what}: {err}"
        );
    }
    for value in [
        person("1992-02-29", "GB", "jd"),
        contact("desk@filmco.example"),
        Value::Text("two\nlines".into()),
    ] {
        seal("referral.suspect", value).unwrap();
    }
}
