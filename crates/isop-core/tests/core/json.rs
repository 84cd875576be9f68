//! Notices as JSON: the canonical mapping with the readable profile, both
//! ways, and the rule held to every field of the schema.

use isop_core::json::{BytesForm, from_json, is_time, to_json};
use isop_core::*;
use prost::Message;
use serde_json::json;

use crate::fixture::*;

/// Every `bytes` field of the schema, with the form it is written in: a
/// new field fails here until it is given one on purpose.
#[test]
fn every_bytes_and_time_field_has_its_form() {
    let expected: &[(&str, BytesForm)] = &[
        ("payload", BytesForm::Base64),
        ("sig", BytesForm::Base64),
        ("entry", BytesForm::Base64),
        ("disclosure", BytesForm::Base64),
        ("disclosures", BytesForm::Base64),
        ("note", BytesForm::Base64),
        ("envelope", BytesForm::Base64),
        ("cosigned_checkpoint", BytesForm::Base64),
        ("binary", BytesForm::Base64),
        ("digest", BytesForm::Hex),
        ("root", BytesForm::Hex),
        ("hashes", BytesForm::Hex),
        ("disclosure_digests", BytesForm::Hex),
        ("notice_digest", BytesForm::Hex),
        ("sha256", BytesForm::Hex),
        ("salt", BytesForm::Hex),
        ("run", BytesForm::Hex),
        ("query_commitment", BytesForm::Hex),
        ("query_salt", BytesForm::Hex),
        ("elements", BytesForm::Base64),
        ("records", BytesForm::Base64),
        ("tls_spki_sha256", BytesForm::Hex),
        ("public_key", BytesForm::Hex),
        ("id", BytesForm::NoticeId),
        ("in_reply_to", BytesForm::NoticeId),
        ("referral_id", BytesForm::NoticeId),
        ("notice_id", BytesForm::NoticeId),
        ("linked_notices", BytesForm::NoticeId),
        ("referrals", BytesForm::NoticeId),
    ];
    let set = prost_types::FileDescriptorSet::decode(isop_proto::DESCRIPTORS).unwrap();
    let mut seen = Vec::new();
    let mut times = Vec::new();
    fn visit(m: &prost_types::DescriptorProto, seen: &mut Vec<String>, times: &mut Vec<String>) {
        use prost_types::field_descriptor_proto::Type;
        for f in &m.field {
            match f.r#type() {
                Type::Bytes => seen.push(f.name().to_owned()),
                Type::Uint64 | Type::Int64 if is_time(f.name()) => times.push(f.name().to_owned()),
                _ => {}
            }
        }
        for n in &m.nested_type {
            visit(n, seen, times);
        }
    }
    for file in &set.file {
        for m in &file.message_type {
            visit(m, &mut seen, &mut times);
        }
    }
    for name in &seen {
        let want = expected
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("bytes field {name:?} has no form in this table"));
        assert_eq!(BytesForm::of(name), want.1, "{name}");
    }
    assert!(seen.len() >= 20, "{seen:?}");
    // The schema's times: each `*_at`, and the deadline.
    for t in [
        "created_at",
        "captured_at",
        "deadline",
        "received_at",
        "appended_at",
    ] {
        assert!(
            times.iter().any(|x| x == t),
            "{t} is not read as a time: {times:?}"
        );
    }
}

#[test]
fn a_notice_reads_as_json_and_comes_back_the_same() {
    let fed = fed();
    let r = referral(&fed, 1);
    let notice = pb::Notice::decode(r.envelope().payload.clone()).unwrap();
    let v = to_json(&notice, "isop.v1.Notice").unwrap();
    assert_eq!(v["id"], json!(r.notice().id().to_string()));
    assert_eq!(v["kind"], "NOTICE_KIND_REFERRAL");
    assert_eq!(v["tlp"], "TLP_AMBER");
    assert_eq!(v["created_at"], json!(json::rfc3339(NOW.0)));
    assert!(
        v["created_at"].as_str().unwrap().ends_with('Z'),
        "{}",
        v["created_at"]
    );
    let referral = &v["referral"];
    assert_eq!(referral["target"]["domain"], "streamz.example");
    assert_eq!(referral["category"], "CONTENT_CATEGORY_LIVE_SPORT");
    assert_eq!(
        referral["evidence"][0]["sha256"],
        json!(hex::encode([7u8; 32]))
    );
    assert_eq!(
        referral["works"][0]["identifiers"][0]["scheme"],
        "IDENTIFIER_SCHEME_ISAN"
    );
    // The commitments: digests in hex.
    assert_eq!(v["fields"].as_array().unwrap().len(), 3);
    assert_eq!(v["fields"][0]["digest"].as_str().unwrap().len(), 64);
    // Back: the same message, to the byte.
    let back: pb::Notice = from_json(v, "isop.v1.Notice").unwrap();
    assert_eq!(back, notice);
    assert_eq!(back.encode_to_vec(), r.envelope().payload.to_vec());
}

#[test]
fn an_answer_names_the_referral_it_answers() {
    let fed = fed();
    let r = referral(&fed, 1);
    let status = NoticeDraft::new(
        Tlp::Amber,
        StatusUpdateBuilder::new(r.notice().id(), pb::ReferralStatus::Accepted).build(),
    )
    .to_org(&org(FILMCO))
    .in_reply_to(r.notice().id())
    .seal(fed.signer(KR), NOW, &mut rng(2))
    .unwrap();
    let notice = pb::Notice::decode(status.envelope().payload.clone()).unwrap();
    let v = to_json(&notice, "isop.v1.Notice").unwrap();
    let id = r.notice().id().to_string();
    assert_eq!(v["status_update"]["referral_id"], json!(id));
    assert_eq!(v["in_reply_to"], json!(id));
    assert_eq!(v["status_update"]["status"], "REFERRAL_STATUS_ACCEPTED");
}

#[test]
fn input_may_give_times_as_milliseconds_and_bad_values_are_named() {
    let base = json!({
        "id": "01890a5d-ac96-774b-bcce-b302099a8057",
        "author": "RH-FILMCO",
        "created_at": NOW.0.to_string(),
        "kind": "NOTICE_KIND_REFERRAL",
        "tlp": "TLP_AMBER",
    });
    let n: pb::Notice = from_json(base.clone(), "isop.v1.Notice").unwrap();
    assert_eq!(n.created_at, NOW.0);
    assert_eq!(n.id.len(), 16);
    let mut rfc = base.clone();
    rfc["created_at"] = json!(json::rfc3339(NOW.0));
    let n: pb::Notice = from_json(rfc, "isop.v1.Notice").unwrap();
    assert_eq!(n.created_at, NOW.0);

    let mut bad_id = base.clone();
    bad_id["id"] = json!("not-a-uuid");
    let e = from_json::<pb::Notice>(bad_id, "isop.v1.Notice").unwrap_err();
    assert!(e.to_string().contains("id"), "{e}");
    let mut bad_time = base.clone();
    bad_time["created_at"] = json!("yesterday");
    let e = from_json::<pb::Notice>(bad_time, "isop.v1.Notice").unwrap_err();
    assert!(
        e.to_string().contains("created_at") && e.to_string().contains("RFC 3339"),
        "{e}"
    );
    let mut bad_enum = base;
    bad_enum["tlp"] = json!("TLP_PURPLE");
    let e = from_json::<pb::Notice>(bad_enum, "isop.v1.Notice").unwrap_err();
    assert!(e.to_string().contains("TLP_PURPLE"), "{e}");
}

#[test]
fn enum_values_are_taken_in_any_case_and_written_in_full() {
    use isop_core::json::{enum_names, enum_value, enum_words, parse_enum, rfc3339};
    for given in [
        "TLP_AMBER_STRICT",
        "amber_strict",
        "Amber-Strict",
        "amber strict",
    ] {
        assert_eq!(
            parse_enum("tlp", "isop.v1.Tlp", given).unwrap(),
            "TLP_AMBER_STRICT"
        );
    }
    assert_eq!(
        enum_value(
            "status",
            "isop.v1.ReferralStatus",
            "needs_info",
            pb::ReferralStatus::from_str_name
        )
        .unwrap(),
        pb::ReferralStatus::NeedsInfo
    );
    assert!(!enum_names("isop.v1.Tlp").contains(&"TLP_UNSPECIFIED"));
    let e = parse_enum("kind", "isop.v1.NoticeKind", "referal")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"referal\" is not one of referral, status_update, intel_report"),
        "{e}"
    );
    // Nor is the unspecified value taken.
    assert!(parse_enum("tlp", "isop.v1.Tlp", "unspecified").is_err());
    assert_eq!(
        enum_words("isop.v1.ContentCategory", "CONTENT_CATEGORY_LIVE_SPORT"),
        "live sport"
    );
    // In a message: taken leniently, written in full.
    let body = json!({ "status_update": {
        "referral_id": "0190b5a2-0000-7000-8000-000000000001",
        "status": "accepted"
    } });
    let n: pb::Notice = from_json(body, "isop.v1.Notice").unwrap();
    let back = to_json(&n, "isop.v1.Notice").unwrap();
    assert_eq!(back["status_update"]["status"], "REFERRAL_STATUS_ACCEPTED");
    let bad = json!({ "status_update": { "status": "accepted!" } });
    let e = from_json::<pb::Notice>(bad, "isop.v1.Notice")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("status_update.status") && e.contains("received, triaged"),
        "{e}"
    );
    // Times to the millisecond, always.
    assert_eq!(rfc3339(1_795_000_000_800), "2026-11-18T11:06:40.800Z");
}
