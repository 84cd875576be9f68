//! The example referral that tests and benchmarks start from (feature
//! `testing`): one fixture, so every suite sends the same kind of notice,
//! and a change to what a referral holds is made once.

use isop_proto::v1 as pb;
use pb::field_value::Value;

use crate::{NoticeDraft, OrgId, ReferralBuilder, Tlp, UnixMillis};

/// The example referral's target: the live stream at
/// `https://{site}/live`, hosted in KR.
pub fn target(site: &str) -> pb::Target {
    pb::Target {
        url: format!("https://{site}/live"),
        domain: site.into(),
        hosting_country: "KR".into(),
        ..Default::default()
    }
}

/// The example referral's body, of `target`, ready to extend: a live
/// stream of the Cup Final (with its ISAN), one recording captured at
/// `captured_at` as evidence, a takedown asked of KR, both statements
/// affirmed.
pub fn referral_builder(target: pb::Target, captured_at: UnixMillis) -> ReferralBuilder {
    ReferralBuilder::new(target)
        .category(pb::ContentCategory::LiveSport)
        .work(
            "Cup Final",
            "SportsNet Rights",
            &[(
                pb::IdentifierScheme::Isan,
                "0000-0001-8CFA-0000-I-0000-0000-K",
            )],
        )
        .evidence(
            [7; 32],
            captured_at,
            pb::CaptureMethod::StreamRecording,
            "recording",
        )
        .action(pb::RequestedAction::Takedown)
        .jurisdiction("KR")
        .affirm_statements()
}

/// `body` as the example referral sends it, to `to` under `tlp`: case
/// `SOP-1`, and three labelled fields: a contact for agencies and the hub,
/// the evidence's location for agencies in KR, and FilmCo's internal
/// reference for FilmCo and the hub.
pub fn referral_draft(body: pb::notice::Body, to: &[&OrgId], tlp: Tlp) -> NoticeDraft {
    let mut d = NoticeDraft::new(tlp, body)
        .case_ref("SOP-1")
        .labelled(
            "referral.contact",
            "role:agency|role:hub",
            Value::Text("desk@filmco.example".into()),
        )
        .labelled(
            "referral.evidence[0].location",
            "role:agency&country:KR",
            Value::Text("s3://evidence/1".into()),
        )
        .labelled(
            "referral.internal_ref",
            "org:RH-FILMCO|role:hub",
            Value::Text("FC-1".into()),
        );
    for o in to {
        d = d.to_org(o);
    }
    d
}

/// The example referral of `site`, to `to` under `tlp`.
pub fn referral(site: &str, captured_at: UnixMillis, to: &[&OrgId], tlp: Tlp) -> NoticeDraft {
    referral_draft(referral_builder(target(site), captured_at).build(), to, tlp)
}
