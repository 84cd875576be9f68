//! The demo scenario, played in one process with real keys, signatures and
//! logs.
//!
//! It grows with the project: today it exercises the core (roster, sealing,
//! redaction, verification, policy, TLP) and each org's log (appends,
//! receipts, the outbox, checkpoints, inclusion proofs); the federation
//! over QUIC joins it as it lands.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use isop_core::pb::field_value::Value;
use isop_core::*;
use isop_store::{Direction, NewEntry, Record, Store, StoreConfig};
use prost::Message;
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
    log: Store,
}

/// A summary row: notice kind, recipient, revealed and withheld counts.
type Row = (NoticeKind, OrgId, usize, usize);

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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Logs `sealed` OUTBOUND in its author's log, queued for each recipient.
fn send(author: &Org, sealed: &SealedNotice, to: &[&Org], now: UnixMillis) -> Result<LogIndex> {
    let recipients: Vec<OrgId> = to.iter().map(|o| o.id.clone()).collect();
    let mut entry = NewEntry::new(
        now,
        Direction::Outbound,
        Record::Envelope(sealed.envelope().encode_to_vec().into()),
    );
    entry.disclosures = sealed
        .disclosures()
        .iter()
        .map(|d| d.bytes().clone())
        .collect();
    entry.recipients = recipients.clone();
    entry.enqueue = recipients;
    Ok(author.log.append(entry)?.index())
}

/// Delivers `sealed` (logged by `author` at `outbound`) to each of `to`:
/// each recipient verifies its redacted delivery, logs it, and signs a
/// receipt, which the author logs, clearing that recipient's outbox item.
/// Prints what each recipient sees and what was withheld.
fn deliver(
    author: &Org,
    sealed: &SealedNotice,
    outbound: LogIndex,
    roster: &Roster,
    to: &[&Org],
    now: UnixMillis,
) -> Result<Vec<Row>> {
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

        let mut inbound = NewEntry::new(
            now,
            Direction::Inbound,
            Record::Envelope(delivery.envelope.encode_to_vec().into()),
        );
        inbound.peer = Some(author.id.clone());
        inbound.disclosures = delivery.disclosures.clone();
        inbound.inbox = true;
        inbound.dedupe = true;
        let at = org.log.append(inbound)?.index();
        let receipt = ReceiptDraft {
            notice_id: Some(v.notice().id()),
            notice_digest: Some(*v.notice_digest()),
            disclosure_digests: delivery.disclosures.iter().map(|d| sha256(d)).collect(),
            received_at: now,
            outcome: ReceiptOutcome::Accepted(at),
        }
        .sign(&org.signer)?;
        Receipt::verify(&receipt, roster, Judgement::live(now))?;
        let mut logged = NewEntry::new(
            now,
            Direction::Inbound,
            Record::Envelope(receipt.encode_to_vec().into()),
        );
        logged.peer = Some(org.id.clone());
        logged.dequeue = vec![(org.id.clone(), outbound)];
        author.log.append(logged)?;
        println!(
            "    logged by {} at #{}; its signed receipt logged by {}",
            org.id, at, author.id
        );
        rows.push((
            v.notice().kind(),
            org.id.clone(),
            v.revealed().len(),
            v.withheld().len(),
        ));
    }
    Ok(rows)
}

/// Each org signs a checkpoint of its log; the checkpoint's signature and
/// an inclusion proof of its first entry are verified against the roster.
/// Returns how many logs were checked.
fn show_logs(orgs: &[Org], roster: &Roster) -> Result<usize> {
    let mut checked = 0;
    for org in orgs.iter().filter(|o| o.log.size() > 0) {
        let note = org.log.sign_checkpoint(&org.signer)?;
        let member = roster.member(&org.id)?;
        let key = member
            .keys
            .iter()
            .find(|k| k.name == org.signer.id().name)
            .context("roster key")?;
        let verifier = NoteVerifier::new(&org.signer.id().to_string(), key.public)?;
        let cp = Checkpoint::open(&note, &Checkpoint::origin_of(&org.id), &verifier)?;
        let first = org.log.entry(LogIndex(0))?.context("entry 0")?;
        let proof = org.log.inclusion_proof(LogIndex(0), cp.size)?;
        merkle::verify_inclusion(&merkle::leaf_hash(&first), 0, cp.size, &proof, &cp.root)?;
        ensure!(
            org.log.outbox()?.is_empty(),
            "{} still has undelivered notices",
            org.id
        );
        println!(
            "\n  {}: log size {}, outbox empty, checkpoint signature verified:",
            org.id, cp.size
        );
        for line in note.to_string().lines() {
            println!("    | {line}");
        }
        println!(
            "    entry 0 is included under that root: a {}-hash proof verified",
            proof.len()
        );
        checked += 1;
    }
    Ok(checked)
}

/// Runs the scenario. The logs live in a temporary directory.
pub(crate) fn run() -> Result<()> {
    let mut rng = OsRng;
    let now = now()?;
    let year = 365 * 86_400_000;
    let dir = tempfile::tempdir().context("cannot create a temporary directory for the logs")?;

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
            let log = Store::open(&StoreConfig::new(dir.path().join(id.as_str())))?;
            Ok(Org {
                id,
                name,
                role: *role,
                country,
                signer,
                log,
            })
        })
        .collect::<Result<_>>()?;
    let by_id: BTreeMap<&str, &Org> = orgs.iter().map(|o| (o.id.as_str(), o)).collect();
    let org = |id: &str| by_id.get(id).copied().context("demo org");
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
    for o in &orgs {
        o.log
            .put_roster(roster.version(), &roster_env.encode_to_vec())?;
    }
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
        "3. Each recipient gets only what its clearance allows, verifies the author's signature, and logs it",
    );
    let to = [org(HUB)?, org(KR)?, org(GB)?];
    for o in to {
        roster.policy().check(
            n.author(),
            Role::Partner,
            o.role,
            n.kind(),
            &ReplyContext::Unknown,
        )?;
    }
    let outbound = send(org(FILMCO)?, &sealed, &to, now)?;
    let mut rows = deliver(org(FILMCO)?, &sealed, outbound, &roster, &to, now)?;

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
    let to = [org(FILMCO)?, org(HUB)?];
    for o in to {
        roster.policy().check(
            &org(KR)?.id,
            Role::Agency,
            o.role,
            NoticeKind::StatusUpdate,
            &ReplyContext::Unknown,
        )?;
    }
    let outbound = send(org(KR)?, &answer, &to, now)?;
    rows.extend(deliver(org(KR)?, &answer, outbound, &roster, &to, now)?);

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
            &ReplyContext::Unknown,
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

    section("6. Each node's log: a signed checkpoint, and an inclusion proof verified against it");
    let logs = show_logs(&orgs, &roster)?;
    let hits: Vec<String> = org(HUB)?
        .log
        .by_indicator("streamz.example")?
        .iter()
        .map(|i| format!("#{i}"))
        .collect();
    println!(
        "\n  INTERPOL-GS asks its log who referred streamz.example: entries {}",
        hits.join(", ")
    );

    section("Summary");
    println!(
        "  {:<9} {:<13} {:>8} {:>9}",
        "notice", "recipient", "revealed", "withheld"
    );
    for (kind, who, revealed, withheld) in &rows {
        println!("  {kind:<9} {who:<13} {revealed:>8} {withheld:>9}");
    }
    println!(
        "  {} deliveries verified and logged, {} receipts, {logs} logs checkpointed and proven, {refused} bad inputs refused",
        rows.len(),
        rows.len()
    );
    Ok(())
}
