//! Upgrades and formats: the first entries of a compatibility suite.
//!
//! `fixtures/v1/` holds a store (an agency's sled database) and an export
//! written by the isop of store format 1 and `isop-export/1`, with what
//! they must hold (`manifest.json`). Every later isop must open and verify
//! them: a new format adds its own fixtures beside them, and never
//! rewrites these. They were written by
//!
//! ```sh
//! ISOP_WRITE_FIXTURES=1 cargo test -p isop-federation-tests --test compat -- --ignored
//! ```
//!
//! which refuses to overwrite fixtures that exist. Also here: an export or
//! a config of a newer format is refused by name (a store: the store's own
//! tests); and a roster,
//! a notice or a frame from a newer peer, with fields this isop does not
//! know, is accepted, and what a signature covers is kept byte for byte.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use isop_core::*;
use isop_federation_tests::*;
use isop_net::MemoryNetwork;
use isop_node::Clock;
use isop_store::{Store, StoreConfig};
use prost::Message;

const WAIT: Duration = Duration::from_secs(30);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// What a fixture directory must hold, from its `manifest.json`.
struct Manifest {
    store_format: u32,
    export_format: String,
    size: u64,
    root: String,
    notices: Vec<NoticeId>,
    erased: (NoticeId, String),
    pending: u64,
    roster_key: RosterKey,
}

impl Manifest {
    fn read(dir: &Path) -> Result<Self> {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)?;
        let text = |k: &str| -> Result<String> {
            Ok(m[k]
                .as_str()
                .with_context(|| format!("manifest {k}"))?
                .to_owned())
        };
        let number = |k: &str| m[k].as_u64().with_context(|| format!("manifest {k}"));
        let key = hex::decode(
            m["roster_key"]["public_key"]
                .as_str()
                .context("roster key")?,
        )?;
        Ok(Self {
            store_format: u32::try_from(number("store_format")?)?,
            export_format: text("export_format")?,
            size: number("size")?,
            root: text("root")?,
            notices: m["notices"]
                .as_array()
                .context("manifest notices")?
                .iter()
                .map(|n| Ok(n.as_str().context("a notice id")?.parse()?))
                .collect::<Result<_>>()?,
            erased: (
                m["erased"]["notice"].as_str().context("erased")?.parse()?,
                m["erased"]["field"].as_str().context("erased")?.to_owned(),
            ),
            pending: number("pending")?,
            roster_key: RosterKey {
                name: m["roster_key"]["name"]
                    .as_str()
                    .context("roster key name")?
                    .to_owned(),
                key: public_key_from_slice(&key)?,
            },
        })
    }
}

/// Copies a fixture store where it may be opened (opening writes).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

#[test]
fn the_fixtures_of_every_format_open_and_verify() -> Result<()> {
    let mut formats = 0;
    for dir in std::fs::read_dir(fixtures())? {
        let dir = dir?.path();
        let m = Manifest::read(&dir)?;
        let what = dir.display();
        ensure!(
            m.store_format <= isop_store::STORE_FORMAT,
            "{what}: a fixture of a newer store format"
        );

        // The store opens, verifies whole, and holds what it held.
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("store");
        copy_dir(&dir.join("store"), &path)?;
        let store = Store::open(&StoreConfig::new(&path))?;
        store.verify_all()?;
        ensure!(store.size() == m.size, "{what}: the store's size changed");
        ensure!(
            hex::encode(store.root(m.size)?) == m.root,
            "{what}: the store's root changed"
        );
        for id in &m.notices {
            ensure!(
                store.find_notice(id)?.is_some(),
                "{what}: notice {id} is gone"
            );
        }
        ensure!(
            store.outbox()?.len() as u64 == m.pending,
            "{what}: the outbox changed"
        );
        let (id, field) = &m.erased;
        let at = store.find_notice(id)?.context("the erased notice")?;
        let erased = store
            .disclosures_of(at)?
            .into_iter()
            .filter(|d| matches!(d.state, Some(isop_store::DisclosureState::Erased(_))))
            .count();
        ensure!(erased >= 1, "{what}: {field} of {id} is no longer erased");
        drop(store);

        // The export verifies clean, as the auditor reads it, and imports
        // into a store with the same root.
        let export = std::fs::read(dir.join("export.isop"))?;
        let header = isop_export::ExportReader::new(export.as_slice()).header()?;
        ensure!(header.format == m.export_format);
        let report = isop_audit::verify(
            export.as_slice(),
            &isop_audit::VerifyOptions::new(m.roster_key.clone()),
            None,
        )?;
        ensure!(
            report.is_clean(),
            "{what}: the export audits with {:?}",
            report.findings
        );
        let (imported, _) = Store::import(
            &StoreConfig::new(tmp.path().join("imported")),
            export.as_slice(),
            &m.roster_key,
        )?;
        ensure!(hex::encode(imported.root(m.size)?) == m.root);
        formats += 1;
    }
    ensure!(formats >= 1, "no fixtures under {}", fixtures().display());
    Ok(())
}

#[test]
fn an_export_or_a_config_of_a_newer_format_is_refused_by_name() -> Result<()> {
    // (A store of a newer format: the store's own tests, which may write
    // its database directly.)
    let v1 = fixtures().join("v1");

    // An export whose header names the next format.
    let export = std::fs::read(v1.join("export.isop"))?;
    let mut rd = isop_export::ExportReader::new(export.as_slice());
    let mut w = isop_export::ExportWriter::new(Vec::new());
    while let Some((_, record)) = rd.next_record()? {
        w.put(match record {
            pb::export_record::Record::Header(mut h) => {
                h.format = "isop-export/2".into();
                pb::export_record::Record::Header(h)
            }
            r => r,
        })?;
    }
    let newer = w.into_inner()?;
    let m = Manifest::read(&v1)?;
    let e = isop_audit::verify(
        newer.as_slice(),
        &isop_audit::VerifyOptions::new(m.roster_key),
        None,
    )
    .expect_err("an export of a newer format");
    ensure!(e.to_string().contains("from a newer isop"), "{e}");

    // A config of the next version, with a field this isop does not know.
    let dir = tempfile::tempdir()?;
    let fed = federation(dir.path())?;
    let config = fed.dir.join(KR).join("node.toml");
    let text = std::fs::read_to_string(&config)?;
    ensure!(text.contains("config_version = 1"), "{text}");
    std::fs::write(
        &config,
        text.replace("config_version = 1", "config_version = 2\nshards = 4"),
    )?;
    let e = isop_node::NodeConfig::load(&config).expect_err("a config of a newer version");
    ensure!(
        e.to_string()
            .contains("config_version 2 is for a newer isop"),
        "{e}"
    );
    Ok(())
}

/// `payload` with a length-delimited field 99 (unknown to this isop) appended.
fn with_unknown_field(payload: &[u8]) -> Bytes {
    let mut out = payload.to_vec();
    prost::encoding::bytes::encode(99, &b"from a newer isop".to_vec(), &mut out);
    out.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_from_a_newer_peer_are_accepted_and_kept_under_their_signature() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;

    // A roster with a field this isop does not know, signed over it.
    let mut v2 = fed.roster.clone();
    v2.version = 2;
    let payload = with_unknown_field(&v2.encode_to_vec());
    let env = sign_envelope(&fed.roster_signer, ROSTER_PAYLOAD_TYPE, payload.clone());
    ensure!(kr.update_roster(&env)? == 2);
    ensure!(
        kr.roster_envelope().payload == payload,
        "the agency dropped the field"
    );
    // Passed on, byte for byte, and its signature still verifies.
    filmco
        .wait_until("roster v2", WAIT, |n| n.roster().version() == 2)
        .await?;
    let passed = filmco.roster_envelope();
    ensure!(
        passed.payload == payload,
        "the roster lost its field on the way"
    );
    Roster::verify(&passed, &fed.roster_key())?;

    // A notice with a field this isop does not know: taken, and logged as
    // signed.
    let signer = signer(&fed, FILMCO)?;
    let sealed = referral(&[KR], Tlp::Amber).seal(&signer, now(), &mut rand::rngs::OsRng)?;
    let delivery = sealed.delivery_for(&kr.roster().clearance(&org(KR))?);
    let payload = with_unknown_field(&delivery.envelope.payload);
    let env = sign_envelope(&signer, NOTICE_PAYLOAD_TYPE, payload.clone());
    let conn = raw_client(&fed, FILMCO, None, None)?
        .connect(kr.local_addr()?, &org(KR))
        .await?;
    let receipt = deliver(&conn, env, delivery.disclosures).await?;
    ensure!(
        receipt.status == pb::ReceiptStatus::Accepted as i32,
        "{receipt:?}"
    );
    let at = kr
        .store()
        .find_notice(&sealed.notice().id())?
        .context("logged")?;
    let Some(pb::log_entry::Record::Envelope(logged)) =
        kr.store().log_entry(at)?.context("the entry")?.record
    else {
        bail!("not a notice entry");
    };
    ensure!(
        pb::Envelope::decode(logged)?.payload == payload,
        "the agency's log lost the notice's field"
    );
    kr.store().verify_all()?;
    let findings = audit_findings(&kr, &fed)?;
    ensure!(findings.is_empty(), "{findings:?}");

    // A frame with a field this isop does not know is answered as usual.
    let frame = pb::Frame {
        roster_version: 0,
        kind: Some(pb::frame::Kind::GetCheckpoint(pb::GetCheckpoint {})),
    };
    let body = with_unknown_field(&frame.encode_to_vec());
    let mut framed = u32::try_from(body.len())?.to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    let answer = conn.request_raw(&framed).await?;
    ensure!(
        matches!(answer.kind, Some(pb::frame::Kind::Checkpoint(_))),
        "{answer:?}"
    );
    Ok(())
}

/// Writes `fixtures/v1`: an agency's store and export after partners'
/// referrals, an erasure and a delivery still pending, on the in-memory
/// network with a manual clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the fixtures of a new format: ISOP_WRITE_FIXTURES=1"]
async fn write_fixtures() -> Result<()> {
    if std::env::var_os("ISOP_WRITE_FIXTURES").is_none() {
        bail!("set ISOP_WRITE_FIXTURES=1 to write the fixtures");
    }
    let out = fixtures().join(format!("v{}", isop_store::STORE_FORMAT));
    if out.exists() {
        bail!(
            "{} exists: the fixtures of a format are written once, never rewritten",
            out.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let network = MemoryNetwork::new();
    let clock = Clock::manual(now());
    let mut fed = federation_in_memory(dir.path(), &network, &clock)?;
    let token = dir.path().join("kr.token");
    with_api(&mut fed, KR, &token)?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let sports = fed.start(SPORTS).await?;
    let mut notices = Vec::new();
    for p in [&filmco, &sports] {
        for _ in 0..3 {
            let s = p.send(referral(&[KR], Tlp::Amber)).await?;
            p.wait_until("delivered", WAIT, |n| delivered(n, s.index, KR))
                .await?;
            notices.push(s.id);
        }
    }
    let api = api_client(&kr, &token)?;
    let field = "referral.contact";
    api.erase(
        &notices[0].to_string(),
        &isop_api::EraseRequest {
            field: Some(field.into()),
            reason: "a data subject's request".into(),
        },
    )
    .await?;
    // The hub is down: this one stays in the outbox.
    kr.send(intel_to(HUB)).await?;
    std::fs::create_dir_all(&out)?;
    kr.export(
        std::fs::File::create(out.join("export.isop"))?,
        &kr.roster().clearance(kr.org())?,
    )?;
    let size = kr.store().size();
    let root = hex::encode(kr.store().root(size)?);
    let data = fed.member(KR)?.config.data_dir.clone();
    for n in [kr, filmco, sports] {
        n.shutdown().await?;
    }
    copy_dir(&data, &out.join("store"))?;
    // The API's users, kept beside the log, are not part of the store.
    let _ = std::fs::remove_file(out.join("store").join("users.json"));
    let key = fed.roster_key();
    let manifest = serde_json::json!({
        "written_by": format!("isop {}", env!("CARGO_PKG_VERSION")),
        "store_format": isop_store::STORE_FORMAT,
        "export_format": isop_export::EXPORT_FORMAT,
        "size": size,
        "root": root,
        "notices": notices.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "erased": { "notice": notices[0].to_string(), "field": field },
        "pending": 1,
        "roster_key": { "name": key.name, "public_key": hex::encode(key.key.as_bytes()) },
    });
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(())
}
