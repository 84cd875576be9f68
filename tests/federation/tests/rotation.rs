//! Keys and certificates change while notices flow: a partner's signing
//! key is rotated and an agency's TLS certificate renewed, through the
//! authority's own operations, and the nodes take them up without a
//! restart. Nothing is lost or refused that should pass; what the old key
//! signed still verifies for an auditor; the old key is refused once it
//! has retired, and so is the old certificate once its pin is dropped.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use isop_authority::{Authority, LocalFederation, keys_gen};
use isop_core::{Tlp, UnixMillis, pb};
use isop_federation_tests::*;
use isop_node::{Node, Sent};

/// Points `org`'s node.toml at other key files: `keys` are (setting,
/// value) pairs such as ("signing_key", "2027/signing.key").
fn repoint(fed: &LocalFederation, org: &str, keys: &[(&str, &str)]) -> Result<()> {
    let path = fed.dir.join(org).join("node.toml");
    let mut config: toml::Table = std::fs::read_to_string(&path)?.parse()?;
    for (k, v) in keys {
        config.insert((*k).into(), toml::Value::String((*v).into()));
    }
    std::fs::write(&path, toml::to_string(&config)?)?;
    Ok(())
}

/// Signs the authority's pending roster and hands it to the hub, then
/// waits until every node holds it.
async fn publish(authority: &Authority, hub: &Node, nodes: &[&Node]) -> Result<u64> {
    let signed = authority.sign()?;
    let version = signed.roster.version();
    hub.update_roster(&signed.envelope)?;
    for n in nodes {
        n.wait_until(&format!("roster v{version}"), STEP, |n| {
            n.roster().version() == version
        })
        .await?;
    }
    Ok(version)
}

/// Sends a round of notices that cross the keys and certificates being
/// changed: FilmCo refers to KR, GB and KR exchange intelligence.
async fn round(
    filmco: &Node,
    kr: &Node,
    gb: &Node,
    sent: &mut Vec<(Sent, &'static str)>,
) -> Result<()> {
    for _ in 0..10 {
        sent.push((filmco.send(referral(&[KR], Tlp::Amber)).await?, KR));
        sent.push((gb.send(intel_to(KR)).await?, KR));
        sent.push((kr.send(intel_to(GB)).await?, GB));
    }
    Ok(())
}

fn new_keys(
    fed: &LocalFederation,
    org: &str,
) -> Result<(isop_authority::OrgKeys, std::path::PathBuf)> {
    let dir = fed.dir.join(org).join("2027");
    Ok((keys_gen(&dir, &isop_core::OrgId::new(org)?)?, dir))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| path.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_certificates_rotate_while_notices_flow() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let hub = fed.start(HUB).await?;
    let kr = fed.start(KR).await?;
    let gb = fed.start(GB).await?;
    let filmco = fed.start(FILMCO).await?;
    let nodes = [&hub, &kr, &gb, &filmco];
    let authority = Authority::open(&fed.dir)?;
    let old_filmco = signer(&fed, FILMCO)?;
    let old_kr_pin = kr.identity().tls_pin;
    let mut sent = Vec::new();
    round(&filmco, &kr, &gb, &mut sent).await?;

    // FilmCo makes its next key. Taken up before the roster lists it, it
    // is refused by name, and the node keeps signing with the old one.
    let (filmco_2027, _) = new_keys(&fed, FILMCO)?;
    repoint(
        &fed,
        FILMCO,
        &[
            ("signing_key", "2027/signing.key"),
            ("signing_key_name", "k2"),
        ],
    )?;
    let early = filmco.reload().expect_err("a key the roster does not list");
    ensure!(early.to_string().contains("RH-FILMCO/k2"), "{early}");
    assert_eq!(filmco.identity().signing_key, *old_filmco.id());
    round(&filmco, &kr, &gb, &mut sent).await?;

    // The authority adds it beside the old one; FilmCo takes it up.
    let t = now();
    authority.add_key(
        &org(FILMCO),
        &"k2".parse()?,
        &filmco_2027.public_key_hex,
        UnixMillis(t.0 - 3_600_000),
        UnixMillis(t.0 + 365 * 86_400_000),
    )?;
    publish(&authority, &hub, &nodes).await?;
    let id = filmco.reload()?;
    assert_eq!(id.signing_key.to_string(), "RH-FILMCO/k2");
    assert_eq!(
        hex::encode(id.public_key.as_bytes()),
        filmco_2027.public_key_hex
    );
    round(&filmco, &kr, &gb, &mut sent).await?;

    // KR's certificate is renewed with a new key: not pinned yet, it is
    // refused and KR keeps showing the old one.
    let (kr_2027, kr_dir) = new_keys(&fed, KR)?;
    let cert = authority.issue(&org(KR), &kr_2027.csr_pem, 365)?;
    std::fs::write(kr_dir.join("tls.crt"), &cert)?;
    repoint(
        &fed,
        KR,
        &[("tls_cert", "2027/tls.crt"), ("tls_key", "2027/tls.key")],
    )?;
    let early = kr
        .reload()
        .expect_err("a certificate the roster does not pin");
    ensure!(early.to_string().contains("does not pin"), "{early}");
    assert_eq!(kr.identity().tls_pin, old_kr_pin);
    // Pinned beside the old one, it is taken up: new connections show it.
    let new_pin = authority.add_pin(&org(KR), &cert)?;
    publish(&authority, &hub, &nodes).await?;
    assert_eq!(kr.reload()?.tls_pin, new_pin);
    round(&filmco, &kr, &gb, &mut sent).await?;

    // The old key retires and the old pin is dropped, with notices in flight.
    round(&filmco, &kr, &gb, &mut sent).await?;
    let retired_at = now();
    authority.retire_key(&org(FILMCO), &"k1".parse()?, retired_at)?;
    authority.drop_pin(&org(KR), old_kr_pin)?;
    let diff = authority.diff()?;
    ensure!(
        diff.iter().any(|d| d.starts_with("RH-FILMCO/k1: valid"))
            && diff
                .iter()
                .any(|d| d.contains("TLS pin") && d.contains("dropped")),
        "{diff:?}"
    );
    publish(&authority, &hub, &nodes).await?;
    round(&filmco, &kr, &gb, &mut sent).await?;

    // Every notice arrives, once, and none is refused.
    for n in [&filmco, &gb, &kr] {
        n.wait_until("its outbox delivered", STEP, |n| {
            n.store().outbox().is_ok_and(|o| o.is_empty())
        })
        .await?;
    }
    for (s, to) in &sent {
        let to_node = if *to == KR { &kr } else { &gb };
        ensure!(
            to_node.store().find_notice(&s.id)?.is_some(),
            "{to} lacks {}",
            s.id
        );
    }
    // Once each: each inbox holds what was sent to it, nothing twice.
    let to = |who: &str| sent.iter().filter(|(_, to)| *to == who).count();
    assert_eq!(kr.store().inbox(false)?.len(), to(KR));
    assert_eq!(gb.store().inbox(false)?.len(), to(GB));

    // What k1 signed before it retired still verifies for an auditor.
    assert_eq!(audit_findings(&kr, &fed)?, vec![], "KR's log verifies");
    assert_eq!(
        audit_findings(&filmco, &fed)?,
        vec![],
        "FilmCo's log verifies"
    );

    // A notice signed with k1 after it retired is refused, naming why.
    let late = referral(&[KR], Tlp::Amber).seal(&old_filmco, now(), &mut rand::rngs::OsRng)?;
    let delivery = late.delivery_for(&kr.roster().clearance(&org(KR))?);
    let conn = raw_client(&fed, FILMCO, None, None)?
        .connect(fed.member(KR)?.addr, &org(KR))
        .await?;
    let receipt = deliver(&conn, delivery.envelope, delivery.disclosures).await?;
    assert_eq!(
        receipt.status,
        pb::ReceiptStatus::Rejected as i32,
        "{receipt:?}"
    );
    assert_eq!(receipt.reason_code, pb::RejectReason::KeyInvalid as i32);
    assert!(
        receipt.reason.contains("after its validity ended"),
        "{}",
        receipt.reason
    );

    // KR's old certificate no longer opens a connection.
    let old_tls = (
        read(&fed.dir.join(KR).join("tls.crt"))?,
        read(&fed.dir.join(KR).join("tls.key"))?,
    );
    let client = raw_client(&fed, KR, Some((&old_tls.0, &old_tls.1)), None)?;
    let refused = match client.connect(gb.local_addr()?, gb.org()).await {
        Err(e) => e.to_string(),
        Ok(conn) => conn.closed().await.to_string(),
    };
    ensure!(refused.contains("pin"), "{refused}");

    for n in [hub, kr, gb, filmco] {
        n.shutdown().await?;
    }
    Ok(())
}
