//! Full disks: a node's log on a small tmpfs that the test mounts and
//! fills. Short of its reserve (`min_free_disk_bytes`) the node writes
//! nothing: it refuses deliveries with `RESOURCE_EXHAUSTED`, so senders
//! keep them in their outbox, and local submits with a message naming the
//! disk; it still serves reads (on the access record, written from the
//! lower half of the reserve), proofs and exports. Freed, it resumes by
//! itself: every notice arrives exactly once and the log audits clean.
//!
//! Mounting needs root (CAP_SYS_ADMIN), as CI has; without it these tests
//! fail saying so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use isop_api::ErrorCode;
use isop_core::*;
use isop_federation_tests::*;
use isop_node::Node;
use isop_store::DeliveryStatus;

const WAIT: Duration = Duration::from_secs(60);
const MIB: u64 = 1 << 20;
/// The tmpfs each full disk is, and the reserve its node keeps.
const DISK: u64 = 48 * MIB;
const RESERVE: u64 = 16 * MIB;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    at: PathBuf,
    fillers: usize,
}

impl Tmpfs {
    fn mount(at: &Path, bytes: u64) -> Result<Self> {
        std::fs::create_dir_all(at)?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "isop-test"])
            .arg(at)
            .output()
            .context("running mount")?;
        if !out.status.success() {
            bail!(
                "cannot mount a tmpfs at {} ({}): the full-disk tests need root \
                 (CAP_SYS_ADMIN), as CI has; they do not pass without it",
                at.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(Self {
            at: at.to_path_buf(),
            fillers: 0,
        })
    }

    fn available(&self) -> Result<u64> {
        let stat = rustix::fs::statvfs(&self.at)?;
        Ok(stat.f_bavail * stat.f_frsize)
    }

    /// Writes a file until `leave` bytes are left free (0: until the
    /// filesystem refuses more).
    fn fill(&mut self, leave: u64) -> Result<()> {
        use std::io::Write;
        self.fillers += 1;
        let mut f = std::fs::File::create(self.at.join(format!("filler-{}", self.fillers)))?;
        let chunk = vec![0xA5u8; MIB as usize];
        loop {
            let free = self.available()?;
            if free <= leave {
                break;
            }
            let n = (free - leave).min(MIB) as usize;
            match f.write_all(&chunk[..n]).and_then(|()| f.sync_data()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) && leave == 0 => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Removes what [`fill`](Self::fill) wrote.
    fn free(&mut self) -> Result<()> {
        for i in 1..=self.fillers {
            std::fs::remove_file(self.at.join(format!("filler-{i}")))?;
        }
        self.fillers = 0;
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Puts `org`'s log on a fresh tmpfs, with the test's reserve.
fn on_tmpfs(fed: &mut isop_authority::LocalFederation, org_id: &str) -> Result<Tmpfs> {
    let disk = Tmpfs::mount(&fed.dir.join(format!("{org_id}-disk")), DISK)?;
    let config = &mut fed.member_mut(org_id)?.config;
    config.data_dir = disk.at.join("data");
    config.min_free_disk_bytes = RESERVE;
    Ok(disk)
}

/// Each partner sends `n` referrals to the agency; their entries.
async fn send(partners: &[&Node], n: usize) -> Result<Vec<Vec<(NoticeId, LogIndex)>>> {
    let mut sent = Vec::new();
    for p in partners {
        sent.push(refer(p, n).await?);
    }
    Ok(sent)
}

async fn all_delivered(partners: &[&Node], sent: &[Vec<(NoticeId, LogIndex)>]) -> Result<()> {
    for (p, mine) in partners.iter().zip(sent) {
        receipted(p, mine, WAIT).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_at_the_receiver_refuses_writes_serves_reads_and_resumes_when_freed()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let token = dir.path().join("kr.token");
    with_api(&mut fed, KR, &token)?;
    let mut disk = on_tmpfs(&mut fed, KR)?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let sports = fed.start(SPORTS).await?;
    let partners = [&filmco, &sports];
    let api = api_client(&kr, &token)?;

    let before = send(&partners, 20).await?;
    all_delivered(&partners, &before).await?;

    // Short of the reserve, above half of it: notices keep coming.
    disk.fill(RESERVE * 3 / 4)?;
    let during = send(&partners, 20).await?;
    for (p, mine) in partners.iter().zip(&during) {
        let first = mine[0].1;
        p.wait_until("the agency to refuse for its full disk", WAIT, |n| {
            matches!(status_of(n, first, KR),
                DeliveryStatus::Pending { ref last_error, .. } if last_error.contains("ResourceExhausted"))
        })
        .await?;
    }
    let DeliveryStatus::Pending { last_error, .. } = status_of(&filmco, during[0][0].1, KR) else {
        bail!("not pending");
    };
    ensure!(
        last_error.contains("disk full") && last_error.contains("bytes free"),
        "the refusal does not say the disk is full: {last_error}"
    );
    let size = kr.store().size();

    // A local submit is refused, naming the disk; over the API, 507.
    let e = kr
        .send(intel_to(HUB))
        .await
        .expect_err("a submit on a full disk");
    ensure!(
        e.to_string().contains("disk full")
            && e.to_string().contains(&disk.at.display().to_string()),
        "{e}"
    );
    let form = isop_api::SubmitNotice {
        tlp: "amber".into(),
        to_orgs: vec![HUB.into()],
        to_groups: Vec::new(),
        case_ref: None,
        in_reply_to: None,
        labelled: Vec::new(),
        body: serde_json::json!({ "intel_report": {
            "title": "a network",
            "source_reliability": "b",
            "information_credibility": "probably_true",
            "indicators": [{ "kind": "domain", "value": "streamz.example" }],
        } }),
    };
    match api.submit(&form).await {
        Err(isop_api::Error::Refused {
            status: 507,
            code: ErrorCode::ResourceExhausted,
            message,
        }) if message.contains("disk full") => {}
        other => bail!("an API submit on a full disk was answered {other:?}"),
    }

    // Reads (each on the access record), proofs and exports go on.
    let (id, _) = before[0][0];
    let id = id.to_string();
    ensure!(api.show(&id).await?.id == id);
    ensure!(api.proof(&id).await?.checkpoint_size.is_some());
    let held = kr.store().inbox(false)?.len();
    ensure!(held == 40, "the agency holds {held} notices, not 40");
    let mut export = Vec::new();
    kr.export(&mut export, &kr.roster().clearance(kr.org())?)?;
    ensure!(!export.is_empty());
    let peer = raw_client(&fed, FILMCO, None, None)?;
    let conn = peer.connect(kr.local_addr()?, &org(KR)).await?;
    let proof = conn
        .request(&pb::Frame {
            roster_version: 0,
            kind: Some(pb::frame::Kind::GetInclusionProof(pb::GetInclusionProof {
                index: 1,
                size: 2,
            })),
        })
        .await?;
    ensure!(
        matches!(proof.kind, Some(pb::frame::Kind::InclusionProof(_))),
        "no inclusion proof on a full disk: {proof:?}"
    );

    // Full to the last byte: a read whose access record cannot be
    // written is refused; the log is still read.
    disk.fill(0)?;
    match api.show(&id).await {
        Err(isop_api::Error::Refused { status: 507, .. }) => {}
        other => bail!("a read on a disk with no room for its access record: {other:?}"),
    }
    ensure!(kr.store().inbox(false)?.len() == 40);

    // While full, the log took the access records of the reads and nothing else.
    for i in size..kr.store().size() {
        let entry = kr.store().log_entry(LogIndex(i))?.context("an entry")?;
        ensure!(
            matches!(entry.record, Some(pb::log_entry::Record::Access(_))),
            "entry {i}, written on a full disk, is not an access record: {entry:?}"
        );
    }

    // Freed: the node resumes by itself, and the senders' outboxes drain.
    disk.free()?;
    all_delivered(&partners, &during).await?;
    for (before, during) in before.iter().zip(&during) {
        logged_in_order(&kr, before.iter().chain(during).map(|(id, _)| id))?;
    }
    let held = kr.store().inbox(false)?.len();
    ensure!(
        held == 80,
        "the agency holds {held} notices, not 80: one twice or lost"
    );
    kr.send(intel_to(HUB)).await?;
    kr.store().verify_all()?;
    let findings = audit_findings(&kr, &fed)?;
    ensure!(
        findings.is_empty(),
        "the agency's log audits with {findings:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_at_the_sender_refuses_submits_whole_and_resumes_when_freed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let mut disk = on_tmpfs(&mut fed, FILMCO)?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;

    let before = send(&[&filmco], 10).await?;
    all_delivered(&[&filmco], &before).await?;
    disk.fill(RESERVE / 4)?;
    let size = filmco.store().size();
    let outbox = filmco.store().outbox()?.len();
    for _ in 0..5 {
        let e = filmco
            .send(referral(&[KR], Tlp::Amber))
            .await
            .expect_err("a submit on a full disk");
        ensure!(e.to_string().contains("disk full"), "{e}");
    }
    // Nothing half-logged: no entry, nothing queued.
    ensure!(
        filmco.store().size() == size,
        "a refused submit left an entry"
    );
    ensure!(
        filmco.store().outbox()?.len() == outbox,
        "a refused submit left an outbox item"
    );

    disk.free()?;
    let after = send(&[&filmco], 10).await?;
    all_delivered(&[&filmco], &after).await?;
    let held = kr.store().inbox(false)?.len();
    ensure!(held == 20, "the agency holds {held} notices, not 20");
    filmco.store().verify_all()?;
    let findings = audit_findings(&filmco, &fed)?;
    ensure!(
        findings.is_empty(),
        "the partner's log audits with {findings:?}"
    );
    Ok(())
}

/// The race the reserve narrows: a group commit finds the reserve free,
/// and its write is larger than what is left. sled takes no writes after
/// a failed one, so the log stops taking writes; `isop_node::run` (what
/// `isop node run` is) stops the node, waits for the reserve to be free,
/// and starts it again. The batch that failed was never answered, so its
/// sender delivers it again, and it is logged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_overruns_the_disk_stops_the_node_which_starts_again_once_freed() -> Result<()>
{
    const SMALL_RESERVE: u64 = 64 * 1024;
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let mut disk = on_tmpfs(&mut fed, KR)?;
    fed.member_mut(KR)?.config.min_free_disk_bytes = SMALL_RESERVE;
    // Started once and stopped, to free the port the federation holds for it.
    fed.start(KR).await?.shutdown().await?;
    let config = fed.member(KR)?.config.clone();
    let data = config.data_dir.clone();
    // (starts, stops) of the node, as `run` tells them.
    let (told, mut seen) = tokio::sync::watch::channel((0usize, 0usize));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn(async move {
        let reload = tokio::sync::Notify::new();
        isop_node::run(config, stopped, &reload, |e| {
            told.send_modify(|(starts, stops)| match e {
                isop_node::RunEvent::Started(_) => *starts += 1,
                _ => *stops += 1,
            });
        })
        .await
    });
    let filmco = fed.start(FILMCO).await?;
    let first = send(&[&filmco], 5).await?;
    all_delivered(&[&filmco], &first).await?;

    // Just over the reserve free; then a batch larger than that.
    disk.fill(SMALL_RESERVE + 8 * 1024)?;
    let signer = signer(&fed, FILMCO)?;
    let clearance = filmco.roster().clearance(&org(KR))?;
    let mut batch = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..250 {
        let sealed = referral(&[KR], Tlp::Amber).seal(&signer, now(), &mut rand::rngs::OsRng)?;
        let d = sealed.delivery_for(&clearance);
        ids.push(sealed.notice().id());
        batch.push((d.envelope, d.disclosures));
    }
    let conn = raw_client(&fed, FILMCO, None, None)?
        .connect(fed.member(KR)?.addr, &org(KR))
        .await?;
    match deliver_batch(&conn, batch.clone()).await? {
        Err(e) if e.contains("No space left on device") => {}
        other => bail!("a batch past the disk's end was answered {other:?}"),
    }

    // The node stops for its log; freed, it starts again by itself.
    tokio::time::timeout(WAIT, seen.wait_for(|(_, stops)| *stops == 1)).await??;
    disk.free()?;
    tokio::time::timeout(WAIT, seen.wait_for(|(starts, _)| *starts == 2)).await??;

    // Delivered again: each once.
    let conn = raw_client(&fed, FILMCO, None, None)?
        .connect(fed.member(KR)?.addr, &org(KR))
        .await?;
    let receipts = match deliver_batch(&conn, batch).await? {
        Ok(r) => r,
        Err(e) => bail!("the batch delivered again: {e}"),
    };
    ensure!(
        receipts
            .iter()
            .all(|r| r.status != pb::ReceiptStatus::Rejected as i32),
        "{receipts:?}"
    );
    let _ = stop.send(());
    runner.await??.context("the stop signal")?;
    filmco.shutdown().await?;
    let store = isop_store::Store::open(&isop_store::StoreConfig::new(&data))?;
    store.verify_all()?;
    ensure!(store.inbox(false)?.len() == 255, "not each notice once");
    for id in first[0].iter().map(|(id, _)| id).chain(&ids) {
        ensure!(
            store.find_notice(id)?.is_some(),
            "notice {id} is not logged"
        );
    }
    Ok(())
}
