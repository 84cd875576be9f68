//! A six-member federation: a hub, two agencies, two partners, an auditor.

use std::collections::BTreeMap;

use isop_core::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

pub const NOW: UnixMillis = UnixMillis(1_780_000_000_000);
pub const DAY: u64 = 86_400_000;

pub const HUB: &str = "INTERPOL-GS";
pub const KR: &str = "KR-KNPA";
pub const GB: &str = "GB-PIPCU";
pub const FILMCO: &str = "RH-FILMCO";
pub const SPORTS: &str = "RH-SPORTSNET";
pub const AUDIT: &str = "EU-AUDIT";
pub const ROSTER_KEY_ID: &str = "ISOP-TEST/roster";

pub fn org(s: &str) -> OrgId {
    s.parse().unwrap()
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub struct Fed {
    pub roster: Roster,
    pub roster_env: pb::Envelope,
    pub roster_key: Signer,
    pub signers: BTreeMap<String, Signer>,
    /// A second key of KR-KNPA, expired before NOW.
    pub kr_old: Signer,
    /// A third key of KR-KNPA, revoked at NOW - 1 day.
    pub kr_revoked: Signer,
}

impl Fed {
    pub fn signer(&self, o: &str) -> &Signer {
        &self.signers[o]
    }

    pub fn roster_key(&self) -> RosterKey {
        RosterKey {
            name: ROSTER_KEY_ID.into(),
            key: self.roster_key.public(),
        }
    }
}

pub fn builder(signers: &BTreeMap<String, Signer>) -> RosterBuilder {
    let mut b = RosterBuilder::new("isop-test", 1, NOW)
        .member(&org(HUB), "INTERPOL General Secretariat", Role::Hub, "FR")
        .member(
            &org(KR),
            "Korean National Police Agency",
            Role::Agency,
            "KR",
        )
        .member(&org(GB), "Police IP Crime Unit", Role::Agency, "GB")
        .member(&org(FILMCO), "FilmCo Studios", Role::Partner, "US")
        .member(&org(SPORTS), "SportsNet Rights", Role::Partner, "GB")
        .member(&org(AUDIT), "Federation auditor", Role::Auditor, "BE")
        .group(
            "op:sop-2026",
            "Operation 2026",
            &[&org(HUB), &org(KR), &org(GB), &org(AUDIT)],
        )
        .group("region:asia", "Asia desk", &[&org(KR)]);
    for (o, s) in signers {
        b = b
            .key(
                &org(o),
                &s.id().name,
                &s.public(),
                UnixMillis(0),
                UnixMillis(NOW.0 + 365 * DAY),
            )
            .unwrap();
    }
    b.clearance(&org(KR), "pii:handler").unwrap()
}

pub fn fed() -> Fed {
    let mut r = rng(1);
    let signers: BTreeMap<String, Signer> = [HUB, KR, GB, FILMCO, SPORTS, AUDIT]
        .into_iter()
        .map(|o| {
            (
                o.to_string(),
                Signer::new(
                    format!("{o}/k1").parse().unwrap(),
                    SecretKey::generate(&mut r),
                ),
            )
        })
        .collect();
    let kr_old = Signer::new(
        format!("{KR}/old").parse().unwrap(),
        SecretKey::generate(&mut r),
    );
    let kr_revoked = Signer::new(
        format!("{KR}/lost").parse().unwrap(),
        SecretKey::generate(&mut r),
    );
    let roster_key = Signer::new(ROSTER_KEY_ID.parse().unwrap(), SecretKey::generate(&mut r));
    let b = builder(&signers)
        .key(
            &org(KR),
            &kr_old.id().name,
            &kr_old.public(),
            UnixMillis(0),
            UnixMillis(NOW.0 - DAY),
        )
        .unwrap()
        .key(
            &org(KR),
            &kr_revoked.id().name,
            &kr_revoked.public(),
            UnixMillis(0),
            UnixMillis(NOW.0 + DAY),
        )
        .unwrap()
        .revoke_key(
            &org(KR),
            &kr_revoked.id().name,
            UnixMillis(NOW.0 - DAY),
            "key leaked",
        )
        .unwrap();
    let env = b.sign(&roster_key).unwrap();
    let roster = Roster::verify(
        &env,
        &RosterKey {
            name: ROSTER_KEY_ID.into(),
            key: roster_key.public(),
        },
    )
    .unwrap();
    Fed {
        roster,
        roster_env: env,
        roster_key,
        signers,
        kr_old,
        kr_revoked,
    }
}

pub fn target() -> pb::Target {
    pb::Target {
        url: "https://streamz.example/live/final".into(),
        domain: "streamz.example".into(),
        ip: "203.0.113.7".into(),
        hosting_asn: 64500,
        hosting_provider: "Bulletproof Hosting Ltd".into(),
        registrar: "Example Registrar".into(),
        hosting_country: "KR".into(),
    }
}

/// The shared example referral's body (`isop_core::testing`), with a summary.
pub fn referral_body() -> pb::notice::Body {
    testing::referral_builder(
        testing::target("streamz.example"),
        UnixMillis(NOW.0 - 3_600_000),
    )
    .summary("Unlicensed live stream of the Cup Final")
    .build()
}

/// The shared example referral from FilmCo to both agencies and the hub,
/// with its three labelled fields.
pub fn referral(fed: &Fed, seed: u64) -> SealedNotice {
    testing::referral_draft(
        referral_body(),
        &[&org(KR), &org(GB), &org(HUB)],
        Tlp::Amber,
    )
    .seal(fed.signer(FILMCO), NOW, &mut rng(seed))
    .unwrap()
}
