//! The demo scenario, played in one process with real keys and signatures.
//!
//! It grows with the project: today it exercises the core (roster, sealing,
//! redaction, verification, policy, TLP); the federation over QUIC and the
//! log join it as they land.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use isop_core::pb::field_value::Value;
use isop_core::*;
use rand::rngs::OsRng;

const HUB: &str = "INTERPOL-GS";
const KR: &str = "KR-KNPA";
const GB: &str = "GB-PIPCU";
const FILMCO: &str = "RH-FILMCO";
const SPORTS: &str = "RH-SPORTSNET";
const AUDIT: &str = "EU-AUDIT";

struct Org {
    id: OrgId,
    name: &'static str,
    role: Role,
    country: &'static str,
    signer: Signer,
}

fn now() -> Result<UnixMillis> {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock is before 1970")?;
    Ok(UnixMillis(
        u64::try_from(d.as_millis()).context("system clock out of range")?,
    ))
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        Value::Binary(b) => format!("<{} bytes>", b.len()),
        Value::Indicator(i) => format!("{} ({})", i.value, i.context),
        Value::Contact(c) => [
            c.name.as_str(),
            c.email.as_str(),
            c.phone.as_str(),
            c.organisation.as_str(),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", "),
        Value::Person(p) => format!("{} (born {}, {})", p.name, p.date_of_birth, p.nationality),
    }
}

/// Verifies `sealed`'s delivery to each of `to` and prints what each sees.
/// Returns the number of withheld fields per recipient.
fn deliver(
    sealed: &SealedNotice,
    roster: &Roster,
    to: &[&Org],
    now: UnixMillis,
) -> Result<Vec<(NoticeKind, OrgId, usize, usize)>> {
    let mut rows = Vec::new();
    for org in to {
        let clearance = roster.clearance(&org.id)?;
        let delivery = sealed.delivery_for(&clearance);
        let v = delivery
            .verify(roster, &org.id, Judgement::live(now))
            .with_context(|| format!("delivery to {}", org.id))?;
        println!(
            "\n  {} ({}, {}) holds {}",
            org.id,
            org.role,
            org.country,
            clearance.tokens().collect::<Vec<_>>().join(" ")
        );
        println!(
            "    signature by {} verified; notice digest {}",
            v.signed_by(),
            hex(&v.notice_digest()[..8])
        );
        for f in v.revealed() {
            println!(
                "    sees      {:<34} [{}] {}",
                f.path,
                f.label,
                show_value(&f.value)
            );
        }
        for w in v.withheld() {
            println!("    withheld  {:<34} [{}]", w.path, w.label);
        }
        rows.push((
            v.notice().kind(),
            org.id.clone(),
            v.revealed().len(),
            v.withheld().len(),
        ));
    }
    Ok(rows)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs the scenario.
pub(crate) fn run() -> Result<()> {
    let mut rng = OsRng;
    let now = now()?;
    let year = 365 * 86_400_000;

    section("1. A federation of six orgs, with a roster signed by the federation authority");
    let roster_signer = Signer::new("ISOP-DEMO/roster".parse()?, SecretKey::generate(&mut rng));
    let specs = [
        (HUB, "INTERPOL General Secretariat", Role::Hub, "FR"),
        (KR, "Korean National Police Agency", Role::Agency, "KR"),
        (
            GB,
            "Police Intellectual Property Crime Unit",
            Role::Agency,
            "GB",
        ),
        (FILMCO, "FilmCo Studios", Role::Partner, "US"),
        (SPORTS, "SportsNet Rights", Role::Partner, "GB"),
        (AUDIT, "Federation auditor", Role::Auditor, "BE"),
    ];
    let orgs: Vec<Org> = specs
        .iter()
        .map(|(id, name, role, country)| {
            let id: OrgId = id.parse()?;
            let signer = Signer::new(
                KeyId::new(id.clone(), "2026a".parse()?),
                SecretKey::generate(&mut rng),
            );
            Ok(Org {
                id,
                name,
                role: *role,
                country,
                signer,
            })
        })
        .collect::<Result<_>>()?;
    let org = |id: &str| {
        orgs.iter()
            .find(|o| o.id.as_str() == id)
            .context("demo org")
    };
    let mut builder = RosterBuilder::new("isop-demo", 1, now);
    for o in &orgs {
        builder = builder.member(&o.id, o.name, o.role, o.country).key(
            &o.id,
            &o.signer.id().name,
            &o.signer.public(),
            UnixMillis(now.0 - year),
            UnixMillis(now.0 + year),
        )?;
    }
    let ops: Vec<&OrgId> = [HUB, KR, GB]
        .iter()
        .map(|id| org(id).map(|o| &o.id))
        .collect::<Result<_>>()?;
    let roster_env = builder
        .group(
            "op:sop-2026",
            "Operation against live-sport piracy, 2026",
            &ops,
        )
        .clearance(&org(KR)?.id, "pii:handler")?
        .sign(&roster_signer)?;
    let roster = Roster::verify(
        &roster_env,
        &RosterKey {
            name: roster_signer.id().to_string(),
            key: roster_signer.public(),
        },
    )?;
    println!(
        "roster v{} of {:?}, signed by {} and verified",
        roster.version(),
        roster.federation(),
        roster_signer.id()
    );
    for m in roster.members() {
        println!(
            "  {:<13} {:<8} {}  {}",
            m.org_id,
            m.role.as_str(),
            m.country,
            m.display_name
        );
    }

    section("2. RH-FILMCO seals a referral; sensitive fields become salted, labelled disclosures");
    let referral = ReferralBuilder::new(pb::Target {
        url: "https://streamz.example/live/cup-final".into(),
        domain: "streamz.example".into(),
        ip: "203.0.113.7".into(),
        hosting_asn: 64500,
        hosting_provider: "Example Bulletproof Hosting".into(),
        registrar: "Example Registrar Inc.".into(),
        hosting_country: "KR".into(),
    })
    .category(pb::ContentCategory::Film)
    .work(
        "Night Harbour",
        "FilmCo Studios",
        &[(
            pb::IdentifierScheme::Isan,
            "0000-0003-A1B2-0000-7-0000-0000-Q",
        )],
    )
    .evidence(
        sha256(b"capture-2026-11-28.mkv"),
        UnixMillis(now.0 - 3_600_000),
        pb::CaptureMethod::StreamRecording,
        "45 min recording of the stream",
    )
    .action(pb::RequestedAction::Takedown)
    .jurisdiction("KR")
    .summary("Unlicensed streaming of a first-run film")
    .affirm_statements()
    .build();
    let sealed = NoticeDraft::new(Tlp::Amber, referral)
        .to_org(&org(HUB)?.id)
        .to_org(&org(KR)?.id)
        .to_org(&org(GB)?.id)
        .case_ref("SOP-2026-0042")
        .labelled(
            "referral.contact",
            "role:agency|role:hub",
            Value::Contact(pb::Contact {
                name: "Anti-piracy desk".into(),
                email: "desk@filmco.example".into(),
                phone: "+1 555 0100".into(),
                organisation: "FilmCo Studios".into(),
            }),
        )
        .labelled(
            "referral.internal_ref",
            "org:RH-FILMCO|role:hub",
            Value::Text("FC-2026-0042".into()),
        )
        .labelled(
            "referral.evidence[0].location",
            "role:agency&country:KR",
            Value::Text("s3://filmco-evidence/2026/0042.mkv".into()),
        )
        .seal(&org(FILMCO)?.signer, now, &mut rng)?;
    let n = sealed.notice();
    println!(
        "notice {} ({}, {}) by {}, {} bytes signed",
        n.id(),
        n.kind(),
        n.tlp(),
        n.author(),
        sealed.envelope().payload.len()
    );
    for c in n.commitments() {
        println!(
            "  commits to {:<32} label {:<26} digest {}…",
            c.path,
            c.label.to_string(),
            hex(&c.digest[..8])
        );
    }

    section(
        "3. Each recipient gets only what its clearance allows, and verifies the author's signature",
    );
    for to in [HUB, KR, GB] {
        roster.policy().check(
            n.author(),
            Role::Partner,
            org(to)?.role,
            n.kind(),
            ReplyContext::Unknown,
        )?;
    }
    let mut rows = deliver(&sealed, &roster, &[org(HUB)?, org(KR)?, org(GB)?], now)?;

    section("4. KR-KNPA answers ACTION_TAKEN; the partner's copy withholds the police-only fields");
    let answer = NoticeDraft::new(
        Tlp::Amber,
        StatusUpdateBuilder::new(n.id(), pb::ReferralStatus::ActionTaken)
            .action_taken(
                pb::ActionType::Takedown,
                now,
                "server seized at the hosting provider",
            )
            .build(),
    )
    .to_org(&org(FILMCO)?.id)
    .to_org(&org(HUB)?.id)
    .in_reply_to(n.id())
    .case_ref("SOP-2026-0042")
    .labelled(
        "status.officer",
        "role:agency|role:hub",
        Value::Contact(pb::Contact {
            name: "Insp. Kim".into(),
            email: "cyber@knpa.example".into(),
            ..Default::default()
        }),
    )
    .labelled(
        "status.suspect",
        "pii:handler|role:hub",
        Value::Person(pb::Person {
            name: "J. Doe".into(),
            date_of_birth: "1990-01-01".into(),
            nationality: "KR".into(),
            aliases: vec!["streamz_admin".into()],
        }),
    )
    .labelled(
        "status.outcome",
        "",
        Value::Text("streamz.example is offline".into()),
    )
    .seal(&org(KR)?.signer, now, &mut rng)?;
    for to in [FILMCO, HUB] {
        roster.policy().check(
            &org(KR)?.id,
            Role::Agency,
            org(to)?.role,
            NoticeKind::StatusUpdate,
            ReplyContext::Unknown,
        )?;
    }
    rows.extend(deliver(&answer, &roster, &[org(FILMCO)?, org(HUB)?], now)?);

    section("5. Bad input is refused, and says why");
    let mut refused = 0;
    let mut show = |what: &str, r: std::result::Result<(), Error>| match r {
        Err(e) => {
            refused += 1;
            println!("  refused: {what}\n           {e}");
        }
        Ok(()) => println!("  ACCEPTED (unexpected): {what}"),
    };
    let gb = &org(GB)?.id;
    let mut over = sealed.delivery_for(&roster.clearance(gb)?);
    let kr_only = sealed
        .disclosures()
        .iter()
        .find(|d| d.path() == "referral.evidence[0].location")
        .context("the demo referral has an evidence location")?;
    over.disclosures.push(kr_only.bytes().clone());
    show(
        "a sender disclosing the KR-only evidence location to GB-PIPCU",
        over.verify(&roster, gb, Judgement::live(now)).map(drop),
    );
    let mut tampered = sealed.delivery_for(&roster.clearance(gb)?);
    let mut payload = tampered.envelope.payload.to_vec();
    let last = payload.len() - 1;
    payload[last] ^= 1;
    tampered.envelope.payload = payload.into();
    show(
        "a referral altered in transit",
        tampered.verify(&roster, gb, Judgement::live(now)).map(drop),
    );
    show(
        "RH-FILMCO sending an IntelReport",
        roster.policy().check(
            &org(FILMCO)?.id,
            Role::Partner,
            Role::Agency,
            NoticeKind::IntelReport,
            ReplyContext::Unknown,
        ),
    );
    show(
        "GB-PIPCU forwarding the AMBER referral to RH-SPORTSNET",
        check_transmission(n, gb, &org(SPORTS)?.id, &roster, now).map(drop),
    );
    show(
        "a label mixing & and | without parentheses",
        Label::parse("role:agency|role:hub&country:KR").map(drop),
    );
    ensure!(refused == 5, "every bad input must be refused");

    section("Summary");
    println!(
        "  {:<9} {:<13} {:>8} {:>9}",
        "notice", "recipient", "revealed", "withheld"
    );
    for (kind, who, revealed, withheld) in &rows {
        println!("  {kind:<9} {who:<13} {revealed:>8} {withheld:>9}");
    }
    println!(
        "  {} deliveries verified, {refused} bad inputs refused",
        rows.len()
    );
    Ok(())
}
