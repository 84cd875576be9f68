//! What the node benchmarks share: the example federation and referral.

use isop_authority::{LocalFederation, MemberSpec};
use isop_core::*;
use isop_node::now;

pub(crate) fn org(s: &str) -> OrgId {
    s.parse().expect("an org id")
}

/// The shared example referral of `site{i}.example`, to `to`, its summary
/// padding it to about 1 KiB.
pub(crate) fn referral(i: u64, to: &[OrgId]) -> NoticeDraft {
    let body = testing::referral_builder(testing::target(&format!("site{i}.example")), now())
        .summary(&"recording of the live stream; ".repeat(12))
        .build();
    testing::referral_draft(body, &to.iter().collect::<Vec<_>>(), Tlp::Amber)
}

/// A federation of one agency (KR-KNPA) and two partners (RH-FILMCO,
/// RH-SPORTSNET), in `dir`.
pub(crate) fn agency_and_two_partners(dir: &std::path::Path) -> anyhow::Result<LocalFederation> {
    let specs = [
        MemberSpec::new(
            "KR-KNPA",
            "Korean National Police Agency",
            Role::Agency,
            "KR",
        )?,
        MemberSpec::new("RH-FILMCO", "FilmCo", Role::Partner, "US")?,
        MemberSpec::new("RH-SPORTSNET", "SportsNet", Role::Partner, "GB")?,
    ];
    Ok(LocalFederation::create(dir, "isop-bench", &specs, &[])?)
}
