//! The demo: a federation of real nodes on loopback, talking mutual-TLS
//! QUIC, each with its own log, playing the referral cycle.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use isop_authority::{LocalFederation, MemberSpec, Ports};
use isop_core::pb::field_value::Value;
use isop_core::*;
use isop_node::{Node, Sent, now};
use isop_store::DeliveryStatus;

const HUB: &str = "INTERPOL-GS";
const KR: &str = "KR-KNPA";
const GB: &str = "GB-PIPCU";
const FILMCO: &str = "RH-FILMCO";
const SPORTS: &str = "RH-SPORTSNET";
const AUDIT: &str = "EU-AUDIT";

/// How long any step may take before the demo gives up.
const STEP: Duration = Duration::from_secs(30);

fn section(title: &str) {
    println!("\n== {title}");
}

fn org(s: &str) -> OrgId {
    s.parse().expect("the demo's org ids are valid")
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        Value::Binary(b) => format!("<{} bytes>", b.len()),
        Value::Indicator(i) => format!("{} ({})", i.value, i.context),
        Value::Contact(c) => [c.name.as_str(), c.email.as_str(), c.phone.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Value::Person(p) => format!("{} (born {}, {})", p.name, p.date_of_birth, p.nationality),
    }
}

/// The notice `id` as `node` holds it, verified again as any auditor could.
fn view(node: &Node, id: &NoticeId) -> Result<(LogIndex, VerifiedDelivery)> {
    let at = node
        .store()
        .find_notice(id)?
        .with_context(|| format!("{} does not hold {id}", node.org()))?;
    let held = node
        .held(at)?
        .with_context(|| format!("entry {at} is not a notice"))?;
    Ok((at, held.verified?))
}

/// What one copy of a notice shows its holder: a row of the summary.
struct View {
    kind: String,
    org: OrgId,
    revealed: usize,
    withheld: usize,
}

/// Prints what each of `nodes` holds of notice `id`. Returns summary rows.
fn show_views(nodes: &[&Node], id: &NoticeId) -> Result<Vec<View>> {
    let mut rows = Vec::new();
    for node in nodes {
        let (at, v) = view(node, id)?;
        let roster = node.roster();
        let m = roster.member(node.org())?;
        println!(
            "\n  {} ({}, {}) logged it at #{at}; signature by {} verified",
            node.org(),
            m.role,
            m.country,
            v.signed_by()
        );
        for f in v.revealed() {
            println!(
                "    sees      {:<32} [{}] {}",
                f.path,
                f.label,
                show_value(&f.value)
            );
        }
        for w in v.withheld() {
            println!("    withheld  {:<32} [{}]", w.path, w.label);
        }
        rows.push(View {
            kind: v.notice().kind().to_string(),
            org: node.org().clone(),
            revealed: v.revealed().len(),
            withheld: v.withheld().len(),
        });
    }
    Ok(rows)
}

fn delivered_to_all(node: &Node, index: LogIndex) -> bool {
    node.delivery_status(index).is_ok_and(|v| {
        !v.is_empty()
            && v.iter()
                .all(|(_, s)| matches!(s, DeliveryStatus::Delivered { .. }))
    })
}

fn referral(domain: &str, rights_owner: &str, contact: &str) -> NoticeDraft {
    let body = ReferralBuilder::new(pb::Target {
        url: format!("https://{domain}/live/cup-final"),
        domain: domain.into(),
        ip: "203.0.113.7".into(),
        hosting_asn: 64500,
        hosting_provider: "Example Bulletproof Hosting".into(),
        registrar: "Example Registrar Inc.".into(),
        hosting_country: "KR".into(),
    })
    .category(pb::ContentCategory::LiveSport)
    .work(
        "Cup Final 2026",
        rights_owner,
        &[(
            pb::IdentifierScheme::Isan,
            "0000-0003-A1B2-0000-7-0000-0000-Q",
        )],
    )
    .evidence(
        sha256(b"capture.mkv"),
        UnixMillis(now().0 - 3_600_000),
        pb::CaptureMethod::StreamRecording,
        "45 min recording of the stream",
    )
    .action(pb::RequestedAction::Takedown)
    .jurisdiction("KR")
    .summary("Unlicensed live stream")
    .affirm_statements()
    .build();
    NoticeDraft::new(Tlp::Amber, body)
        .to_org(&org(HUB))
        .to_org(&org(KR))
        .to_org(&org(GB))
        .case_ref("SOP-2026-0042")
        .labelled(
            "referral.contact",
            "role:agency|role:hub",
            Value::Text(contact.into()),
        )
        .labelled(
            "referral.internal_ref",
            &format!("org:{FILMCO}|role:hub"),
            Value::Text("FC-2026-0042".into()),
        )
        .labelled(
            "referral.evidence[0].location",
            "role:agency&country:KR",
            Value::Text("s3://evidence/2026/0042.mkv".into()),
        )
}

/// The demo federation: a hub, two agencies in different countries, two
/// rights-holder partners and an auditor (in the roster, without a node).
pub(crate) fn example_federation(dir: &Path, ports: Ports) -> Result<LocalFederation> {
    let specs = [
        MemberSpec::new(HUB, "INTERPOL General Secretariat", Role::Hub, "FR")?,
        MemberSpec::new(KR, "Korean National Police Agency", Role::Agency, "KR")?,
        MemberSpec::new(
            GB,
            "Police Intellectual Property Crime Unit",
            Role::Agency,
            "GB",
        )?,
        MemberSpec::new(FILMCO, "FilmCo Studios", Role::Partner, "US")?,
        MemberSpec::new(SPORTS, "SportsNet Rights", Role::Partner, "GB")?,
        MemberSpec::new(AUDIT, "Federation auditor", Role::Auditor, "BE")?,
    ];
    Ok(LocalFederation::create_with(
        dir,
        "isop-demo",
        &specs,
        &[("op:sop-2026", &[HUB, KR, GB])],
        ports,
    )?)
}

/// The README written into an example federation.
pub(crate) const EXAMPLE_README: &str = "# An example isop federation — NOT FOR PRODUCTION

Every private key of this federation is in this directory: the CA key
(`ca.key`), the roster key (`roster.key`), and each org's signing key
(`<ORG>/signing.key`) and TLS key (`<ORG>/tls.key`). Use it to try isop on one
machine, never for real data.

It was made by

    cargo run --release -- certs example certs-example

which is also how to make it anew (into an empty directory). The
certificates are valid for a year from then.

Run a node (each in its own terminal):

    cargo run --release -- node run --config certs-example/KR-KNPA/node.toml

Git does not keep file modes; a node refuses key files that others can
read, so after a fresh clone run

    chmod 600 certs-example/*.key certs-example/*/*.key

Each node's local API listens on the port in its `node.toml` `[api]`
section; its token is written to `<ORG>/api.token` on first start.
";

/// Runs the scenario in `dir` (a temporary directory unless `--dir` keeps
/// one); with `keep_running`, leaves the nodes serving until Ctrl-C.
pub(crate) async fn run(dir: &Path, keep_running: bool) -> Result<()> {
    let mut fed = example_federation(dir, Ports::Ephemeral)?;
    let nodes = start(&mut fed, dir).await?;
    let (a, b) = refer(&nodes.filmco, &nodes.sports).await?;
    section("3. Each recipient logged its copy, redacted for its clearance");
    let mut rows = show_views(&[&nodes.hub, &nodes.kr, &nodes.gb], &a.id)?;
    correlate(&nodes.hub)?;
    rows.extend(accept_and_share(&nodes, &a).await?);
    rows.extend(take_down(&nodes, &a, &b).await?);
    let nodes = outage(&mut fed, nodes).await?;
    let refused = refuse_bad_input(&nodes.filmco).await?;
    witness(&nodes.hub).await?;
    prove_inclusion(&nodes)?;
    let (audited, findings) = audit(&fed, dir, &nodes)?;
    summary(&nodes, &audited, findings, &rows, refused)?;
    if keep_running {
        serve_consoles(&nodes, dir).await?;
    }
    for node in nodes.into_all() {
        node.shutdown().await?;
    }
    Ok(())
}

/// `--keep-running`: each node's web console and admin token file, and
/// the nodes left serving until Ctrl-C.
async fn serve_consoles(nodes: &Nodes, dir: &Path) -> Result<()> {
    section("The nodes keep running: sign in to each one's web console with its token");
    for node in nodes.all() {
        let org = node.org().as_str();
        let at = node
            .api_addr()
            .context("the demo's nodes serve their API")?;
        println!(
            "  {org:<13} http://{at}/ui/   token: {}",
            dir.join(org).join("api.token").display()
        );
    }
    println!("  Ctrl-C stops them.");
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    Ok(())
}

/// The demo's running nodes (the auditor runs none).
struct Nodes {
    hub: Node,
    kr: Node,
    gb: Node,
    filmco: Node,
    sports: Node,
}

impl Nodes {
    fn all(&self) -> [&Node; 5] {
        [&self.hub, &self.kr, &self.gb, &self.filmco, &self.sports]
    }

    fn into_all(self) -> [Node; 5] {
        [self.hub, self.kr, self.gb, self.filmco, self.sports]
    }
}

/// Step 1: every member's node started, and the roster shown.
async fn start(fed: &mut LocalFederation, dir: &Path) -> Result<Nodes> {
    section("1. A federation of real nodes on loopback: CA, keys, certificates, a signed roster");
    let nodes = Nodes {
        hub: fed.start(HUB).await?,
        kr: fed.start(KR).await?,
        gb: fed.start(GB).await?,
        filmco: fed.start(FILMCO).await?,
        sports: fed.start(SPORTS).await?,
    };
    let roster = nodes.hub.roster();
    println!(
        "roster v{} of {:?}, signed by {}; files in {}",
        roster.version(),
        roster.federation(),
        fed.roster_signer.id(),
        dir.display()
    );
    for m in roster.members() {
        let at = m
            .endpoints
            .first()
            .map_or("(no node)".to_string(), |e| format!("quic://{e}"));
        println!(
            "  {:<13} {:<8} {}  {:<40} {at}",
            m.org_id,
            m.role.as_str(),
            m.country,
            m.display_name
        );
    }

    Ok(nodes)
}

/// Step 2: both partners refer streamz.example; every recipient answers.
async fn refer(filmco: &Node, sports: &Node) -> Result<(Sent, Sent)> {
    section("2. Both partners refer the same streaming domain, with evidence");
    let a = filmco
        .send(referral(
            "streamz.example",
            "FilmCo Studios",
            "anti-piracy desk, desk@filmco.example",
        ))
        .await?;
    let b = sports
        .send(referral(
            "streamz.example",
            "SportsNet Rights",
            "rights desk, +44 20 7946 0000",
        ))
        .await?;
    for (node, sent) in [(filmco, &a), (sports, &b)] {
        println!(
            "  {} sent {} to {}",
            node.org(),
            sent.id,
            sent.recipients
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        node.wait_until("every receipt", STEP, |n| delivered_to_all(n, sent.index))
            .await?;
        println!(
            "    every recipient answered with a signed receipt, logged by {}",
            node.org()
        );
    }

    Ok((a, b))
}

/// Step 4: the hub's log correlates the two referrals by their domain.
fn correlate(hub: &Node) -> Result<()> {
    section("4. The hub's log correlates the referrals");
    let hits = hub.store().by_indicator("streamz.example")?;
    let mut referrers = Vec::new();
    for at in &hits {
        if let Some(logged) = hub.notice_at(*at)? {
            referrers.push(logged.notice.author().to_string());
        }
    }
    referrers.sort();
    referrers.dedup();
    println!(
        "  streamz.example: {} referrals (entries {}) by {} partners: {}",
        hits.len(),
        hits.iter()
            .map(|i| format!("#{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        referrers.len(),
        referrers.join(", ")
    );
    ensure!(
        referrers.len() == 2,
        "both partners' referrals should be correlated"
    );

    Ok(())
}

/// Step 5: KR-KNPA accepts FilmCo's referral `a`; GB-PIPCU shares
/// intelligence, its personal data labelled for agencies only.
async fn accept_and_share(nodes: &Nodes, a: &Sent) -> Result<Vec<View>> {
    let Nodes { hub, kr, gb, .. } = nodes;
    section(
        "5. KR-KNPA accepts; GB-PIPCU shares intelligence, its personal data labelled agency-only",
    );
    let accepted = NoticeDraft::new(
        Tlp::Amber,
        StatusUpdateBuilder::new(a.id, pb::ReferralStatus::Accepted).build(),
    )
    .to_org(&org(FILMCO))
    .in_reply_to(a.id)
    .case_ref("SOP-2026-0042");
    let sent = kr.send(accepted).await?;
    kr.wait_until("the receipt", STEP, |n| delivered_to_all(n, sent.index))
        .await?;
    println!("  KR-KNPA told RH-FILMCO: ACCEPTED ({})", sent.id);
    let intel = NoticeDraft::new(
        Tlp::Amber,
        IntelReportBuilder::new("Payment network behind streamz.example", pb::SourceReliability::B, pb::InformationCredibility::ProbablyTrue)
            .indicator(pb::IndicatorKind::Domain, "streamz.example", "front end")
            .indicator(pb::IndicatorKind::Ip, "203.0.113.7", "origin server")
            .link_notice(a.id)
            .link_case("SOP-2026-0042")
            .handling("no action without consulting GB-PIPCU")
            .build(),
    )
    .to_org(&org(KR))
    .to_org(&org(HUB))
    .case_ref("SOP-2026-0042")
    .labelled("intel.indicators[2]", "role:agency", Value::Indicator(pb::Indicator { kind: pb::IndicatorKind::Person as i32, value: "J. Doe, born 1990-01-01".into(), context: "administrator".into() }))
    .labelled("intel.indicators[3]", "role:agency|role:hub", Value::Indicator(pb::Indicator { kind: pb::IndicatorKind::CryptoWallet as i32, value: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(), context: "subscription payments".into() }))
    .labelled("intel.narrative", "role:agency", Value::Text("The operator rents the origin server under a false name and takes payments in bitcoin.".into()));
    let sent = gb.send(intel).await?;
    gb.wait_until("receipts", STEP, |n| delivered_to_all(n, sent.index))
        .await?;
    show_views(&[kr, hub], &sent.id)
}

/// Step 6: the hub asks KR-KNPA for a takedown; KR-KNPA answers both
/// partners' referrals with ACTION_TAKEN.
async fn take_down(nodes: &Nodes, a: &Sent, b: &Sent) -> Result<Vec<View>> {
    let Nodes {
        hub,
        kr,
        filmco,
        sports,
        ..
    } = nodes;
    section(
        "6. A TakedownRequest goes to the agency of the hosting country; ACTION_TAKEN flows back to both partners",
    );
    let takedown = NoticeDraft::new(
        Tlp::Amber,
        TakedownRequestBuilder::new(
            pb::Target {
                domain: "streamz.example".into(),
                ip: "203.0.113.7".into(),
                hosting_country: "KR".into(),
                ..Default::default()
            },
            pb::RequestedAction::Takedown,
        )
        .legal_basis("Copyright Act, art. 104 (KR)")
        .deadline(UnixMillis(now().0 + 7 * 86_400_000))
        .referral(a.id)
        .referral(b.id)
        .build(),
    )
    .to_org(&org(KR))
    .case_ref("SOP-2026-0042");
    let sent = hub.send(takedown).await?;
    hub.wait_until("the receipt", STEP, |n| delivered_to_all(n, sent.index))
        .await?;
    println!(
        "  INTERPOL-GS asked KR-KNPA (hosting country KR) to take streamz.example down ({})",
        sent.id
    );
    let mut answers = Vec::new();
    for (referral, partner) in [(&a, FILMCO), (&b, SPORTS)] {
        let answer = NoticeDraft::new(
            Tlp::Amber,
            StatusUpdateBuilder::new(referral.id, pb::ReferralStatus::ActionTaken)
                .action_taken(
                    pb::ActionType::Takedown,
                    now(),
                    "server seized at the hosting provider",
                )
                .build(),
        )
        .to_org(&org(partner))
        .to_org(&org(HUB))
        .in_reply_to(referral.id)
        .case_ref("SOP-2026-0042")
        .labelled(
            "status.officer",
            "role:agency|role:hub",
            Value::Text("Insp. Kim, cyber@knpa.example".into()),
        )
        .labelled(
            "status.suspect",
            "pii:handler|role:hub",
            Value::Person(pb::Person {
                name: "J. Doe".into(),
                date_of_birth: "1990-01-01".into(),
                nationality: "KR".into(),
                aliases: vec![],
            }),
        )
        .labelled(
            "status.outcome",
            "",
            Value::Text("streamz.example is offline".into()),
        );
        let sent = kr.send(answer).await?;
        kr.wait_until("receipts", STEP, |n| delivered_to_all(n, sent.index))
            .await?;
        answers.push(sent);
    }
    let mut rows = show_views(&[filmco, hub], &answers[0].id)?;
    rows.extend(show_views(&[sports], &answers[1].id)?);
    Ok(rows)
}

/// Step 7: GB-PIPCU goes down; a referral waits in FilmCo's durable
/// outbox, and reaches GB-PIPCU once it is back.
async fn outage(fed: &mut LocalFederation, nodes: Nodes) -> Result<Nodes> {
    section(
        "7. GB-PIPCU goes down; a referral waits in the durable outbox; it comes back and gets it",
    );
    let Nodes {
        hub,
        kr,
        gb,
        filmco,
        sports,
    } = nodes;
    gb.shutdown().await?;
    let late = filmco
        .send(referral(
            "mirror.streamz.example",
            "FilmCo Studios",
            "desk@filmco.example",
        ))
        .await?;
    filmco
        .wait_until("a failed attempt to GB", STEP, |n| {
            n.delivery_status(late.index).is_ok_and(|v| {
                v.iter().any(|(o, s)| {
                    o.as_str() == GB
                        && matches!(s, DeliveryStatus::Pending { attempts, .. } if *attempts > 0)
                })
            })
        })
        .await?;
    for (o, s) in filmco.delivery_status(late.index)? {
        if let DeliveryStatus::Pending {
            attempts,
            last_error,
            ..
        } = s
            && attempts > 0
        {
            println!("  {o}: pending after {attempts} attempt(s): {last_error}");
        }
    }
    let gb = fed.start(GB).await?;
    filmco
        .wait_until("GB delivered", STEP, |n| delivered_to_all(n, late.index))
        .await?;
    println!(
        "  GB-PIPCU restarted; the backlog was delivered: {} is in its log at #{}",
        late.id,
        gb.store().find_notice(&late.id)?.context("late notice")?
    );

    Ok(Nodes {
        hub,
        kr,
        gb,
        filmco,
        sports,
    })
}

/// Step 8: bad input is refused, and says why. Returns how many were.
async fn refuse_bad_input(filmco: &Node) -> Result<usize> {
    section("8. Bad input is refused, and says why");
    let intel = NoticeDraft::new(
        Tlp::Amber,
        IntelReportBuilder::new(
            "a network",
            pb::SourceReliability::B,
            pb::InformationCredibility::ProbablyTrue,
        )
        .indicator(pb::IndicatorKind::Domain, "streamz.example", "front")
        .build(),
    )
    .to_org(&org(KR));
    let mut refused = 0;
    for (what, r) in [
        (
            "RH-FILMCO sending an IntelReport",
            filmco
                .send(intel)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        ),
        (
            "a label mixing & and | without parentheses",
            Label::parse("role:agency|role:hub&country:KR")
                .map(drop)
                .map_err(|e| e.to_string()),
        ),
    ] {
        match r {
            Err(e) => {
                refused += 1;
                println!("  refused: {what}\n           {e}");
            }
            Ok(()) => println!("  ACCEPTED (unexpected): {what}"),
        }
    }
    ensure!(refused == 2, "every bad input must be refused");

    Ok(refused)
}

/// Step 9: the hub checks and cosigns the agencies' logs.
async fn witness(hub: &Node) -> Result<()> {
    section("9. Witnessing: the hub checks and cosigns the agencies' logs");
    for peer in [KR, GB] {
        let w = hub.witness(&org(peer)).await?;
        println!(
            "  {peer}: checkpoint of {} entries, root {}…, cosigned by INTERPOL-GS",
            w.size,
            hex::encode(&w.root[..8])
        );
    }

    Ok(())
}

/// Step 10: each log's signed checkpoint, and an inclusion proof
/// verified against it.
fn prove_inclusion(nodes: &Nodes) -> Result<()> {
    section("10. Each node's log: a signed checkpoint, and an inclusion proof verified against it");
    for node in nodes.all() {
        let note = node.store().latest_checkpoint()?;
        let note = match note {
            Some(n) => n,
            None => node.store().sign_checkpoint(&node.signer())?,
        };
        let roster = node.roster();
        let key = roster
            .member(node.org())?
            .keys
            .first()
            .context("a key")?
            .clone();
        let cp = Checkpoint::open(
            &note,
            &Checkpoint::origin_of(node.org()),
            &NoteVerifier::new(&node.signer().id().to_string(), key.public)?,
        )?;
        let proof = node.store().inclusion_proof(LogIndex(0), cp.size)?;
        merkle::verify_inclusion(
            &merkle::leaf_hash(&node.store().entry(LogIndex(0))?.context("entry 0")?),
            0,
            cp.size,
            &proof,
            &cp.root,
        )?;
        println!(
            "  {:<13} {:>3} entries, root {}…, {} signature(s); entry 0 proven with {} hashes",
            node.org().as_str(),
            cp.size,
            hex::encode(&cp.root[..8]),
            note.signatures().len(),
            proof.len()
        );
    }

    Ok(())
}

/// Step 11: the auditor takes each node's export and verifies it
/// offline, and cross-checks pairs of them. Returns each log's report and
/// the findings in all.
fn audit(
    fed: &LocalFederation,
    dir: &Path,
    nodes: &Nodes,
) -> Result<(Vec<(OrgId, isop_audit::VerifyReport)>, u64)> {
    let roster_key = fed.roster_key();
    section("11. The auditor (EU-AUDIT) takes each node's export and verifies it offline");
    let exports = dir.join("exports");
    std::fs::create_dir_all(&exports).context("creating the exports directory")?;
    let clearance = nodes.hub.roster().clearance(&org(AUDIT))?;
    let mut audited = Vec::new();
    for node in nodes.all() {
        let path = exports.join(format!("{}.isop", node.org()));
        let file = isop_node::config::create_private(&path)?;
        node.export(file, &clearance)?;
        let report = isop_audit::verify(
            std::io::BufReader::new(std::fs::File::open(&path)?),
            &isop_audit::VerifyOptions::new(roster_key.clone()),
            None,
        )?;
        crate::output::print_verify(&report);
        audited.push((node.org().clone(), report));
    }
    println!(
        "\n  Cross-checks: what each sent the other is in the other's log, receipted, and the checkpoints each cosigned match"
    );
    let mut cross_findings = 0;
    for (a, b) in [(FILMCO, KR), (SPORTS, KR), (HUB, KR), (HUB, GB), (KR, GB)] {
        let report = isop_audit::cross_check(
            &exports.join(format!("{a}.isop")),
            &exports.join(format!("{b}.isop")),
            &roster_key,
            None,
        )?;
        cross_findings += report.findings_total;
        crate::output::print_cross(&report);
    }
    let verify_findings: u64 = audited.iter().map(|(_, r)| r.findings_total).sum();
    ensure!(
        verify_findings == 0 && cross_findings == 0,
        "the audit reported {verify_findings} + {cross_findings} findings"
    );
    println!(
        "  (the same from a shell: isop audit verify {}/KR-KNPA.isop --roster-key {}/KR-KNPA/node.toml)",
        exports.display(),
        dir.display()
    );

    Ok((audited, verify_findings + cross_findings))
}

/// The summary: each log, each copy's view, every outbox empty.
fn summary(
    nodes: &Nodes,
    audited: &[(OrgId, isop_audit::VerifyReport)],
    findings: u64,
    rows: &[View],
    refused: usize,
) -> Result<()> {
    section("Summary");
    println!(
        "  {:<13} {:>7} {:>8} {:>8} {:>11} {:>12} {:>8}",
        "log", "entries", "notices", "receipts", "checkpoints", "cosignatures", "findings"
    );
    for (o, r) in audited {
        println!(
            "  {:<13} {:>7} {:>8} {:>8} {:>11} {:>12} {:>8}",
            o.as_str(),
            r.entries,
            r.notices_sent + r.notices_received,
            r.receipts,
            r.checkpoints,
            r.cosignatures,
            r.findings_total
        );
    }
    println!();
    println!(
        "  {:<9} {:<13} {:>8} {:>9}",
        "notice", "recipient", "revealed", "withheld"
    );
    for View {
        kind,
        org,
        revealed,
        withheld,
    } in rows
    {
        println!("  {kind:<9} {org:<13} {revealed:>8} {withheld:>9}");
    }
    let receipts: usize = nodes
        .all()
        .iter()
        .map(|n| n.store().outbox().map_or(0, |o| o.len()))
        .sum();
    ensure!(receipts == 0, "every outbox is empty");
    println!(
        "  5 nodes, every outbox empty, {} deliveries verified from the logs, {refused} bad inputs refused",
        rows.len()
    );
    println!(
        "  audit: {} exports verified, 5 cross-checks, {findings} findings",
        audited.len()
    );

    Ok(())
}
