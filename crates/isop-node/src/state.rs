//! What every task of a node shares: its identity and keys, the store,
//! the roster in force, connections, queues, metrics; and what they do
//! with it that is not one protocol exchange (the roster's taking up and
//! push, a peer's standing, checkpoints, notices as held).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use isop_core::protocol::{HeldNotice, NoticeLog};
use isop_core::{
    Delivery, Judgement, LogIndex, NoticeId, OrgId, ReceiptDraft, Roster, RosterKey, SignedNote,
    Signer, UnixMillis, VerifiedDelivery, pb,
};
use isop_net::{Endpoint, Gate, PeerConnection, PeerIdentity, Refusal};
use isop_store::{DisclosureState, Store};
use prost::Message;
use tokio::sync::{Notify, watch};

use crate::{Error, NodeConfig};

/// A notice as its log entry holds it: the entry, the signed envelope,
/// and the notice decoded from it (not verified again: see [`Held`]).
#[derive(Clone, Debug)]
pub struct LoggedNotice {
    /// Its log entry.
    pub entry: pb::LogEntry,
    /// The signed envelope, as received or sent.
    pub envelope: pb::Envelope,
    /// The notice.
    pub notice: isop_core::Notice,
}

/// A notice as this node holds it (see `Inner::held`).
#[derive(Debug)]
pub struct Held {
    /// Its log entry.
    pub entry: pb::LogEntry,
    /// The notice.
    pub notice: isop_core::Notice,
    /// It verified again, with the fields this node holds revealed and the
    /// rest withheld; or why it no longer verifies.
    pub verified: Result<VerifiedDelivery, isop_core::Error>,
    /// The fields erased from this node's log: digest, and the erasure.
    pub erased: Vec<([u8; 32], pb::ErasedDisclosure)>,
}

/// The roster in force and its signed envelope.
pub(crate) struct RosterState {
    pub(crate) roster: Arc<Roster>,
    pub(crate) envelope: pb::Envelope,
}

/// What every task of a node shares.
pub(crate) struct Inner {
    pub(crate) org: OrgId,
    /// The notice-signing key; replaced by [`Inner::reload`].
    pub(crate) signer: RwLock<Arc<Signer>>,
    /// What it signs and shows as; replaced with `signer`.
    pub(crate) identity: RwLock<crate::Identity>,
    pub(crate) store: Store,
    pub(crate) roster: Arc<RwLock<RosterState>>,
    pub(crate) roster_key: RosterKey,
    pub(crate) endpoint: Endpoint,
    /// One slot per peer: dialling one peer never holds up another.
    pub(crate) conns:
        std::sync::Mutex<HashMap<OrgId, Arc<tokio::sync::Mutex<Option<PeerConnection>>>>>,
    pub(crate) outbox_wake: Notify,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) config: NodeConfig,
    /// Split views detected while witnessing.
    pub(crate) inconsistencies: std::sync::atomic::AtomicU64,
    /// Fired after each delivery attempt, each delivery received, each
    /// roster change and each erasure: what `Node::wait_until` waits on.
    pub(crate) progress: Notify,
    /// Prometheus metrics.
    pub(crate) metrics: crate::metrics::Metrics,
    /// Single deliveries, to be received together (`peer::collect_deliveries`).
    /// Bounded: when full, requests wait, and QUIC pushes back on their peers.
    pub(crate) deliveries: tokio::sync::mpsc::Sender<Queued>,
    /// The version of each roster taken up: connections re-check their
    /// peer when it changes.
    pub(crate) roster_changed: watch::Sender<u64>,
    /// The highest roster version each peer claimed that was fetched from it.
    pub(crate) roster_asked: std::sync::Mutex<HashMap<OrgId, u64>>,
    /// Per peer, the rejections logged in the current minute.
    pub(crate) rejections_logged: std::sync::Mutex<HashMap<OrgId, RejectionWindow>>,
    /// Per peer, its open inbound connections, oldest first (at most
    /// `peer::MAX_CONNECTIONS_PER_PEER`).
    pub(crate) inbound:
        std::sync::Mutex<HashMap<OrgId, std::collections::VecDeque<(u64, PeerConnection)>>>,
    /// Numbers inbound connections.
    pub(crate) next_connection: std::sync::atomic::AtomicU64,
    /// Per peer, one sync scan at a time.
    pub(crate) sync_slots: std::sync::Mutex<HashMap<OrgId, Arc<tokio::sync::Semaphore>>>,
    /// Per peer, what this node last saw of it.
    pub(crate) seen: std::sync::Mutex<HashMap<OrgId, PeerSeen>>,
    /// Where each webhook stands.
    pub(crate) notify: crate::notify::Standing,
    /// The matching runs this node answers.
    pub(crate) matching: crate::matching::Matching,
}

/// What this node last saw of a peer: when it last answered (or dialled
/// in), and why the last exchange with it failed, if it did.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerSeen {
    /// When it last answered, or connected here.
    pub(crate) last_seen: Option<UnixMillis>,
    /// The roster version it last said it holds.
    pub(crate) roster_version: Option<u64>,
    /// Why the last exchange this node began failed; `None` once one
    /// worked.
    pub(crate) last_error: Option<String>,
}

/// The rejections of one peer's deliveries logged in a one-minute window.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RejectionWindow {
    start: u64,
    logged: u32,
    unlogged: u64,
}

/// Whether a rejection is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RejectionLogging {
    /// As its own entry.
    Logged,
    /// Over the limit: counted, and this one is the window's summary entry.
    Summary,
    /// Over the limit: counted only.
    Counted,
}

impl Inner {
    /// The key this node signs with now.
    pub(crate) fn signer(&self) -> Arc<Signer> {
        self.signer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The latest checkpoint, signed anew if the log has grown since.
    pub(crate) fn checkpoint(&self) -> Result<SignedNote, Error> {
        let size = self.store.size();
        if let Some(note) = self.store.checkpoint(size)? {
            return Ok(note);
        }
        match self.store.sign_checkpoint(&self.signer()) {
            // Proofs and exports go on while the disk is full: the
            // checkpoint is handed out unstored (signing it again later
            // gives the same note).
            Err(isop_store::Error::DiskFull { .. }) => {
                Ok(self.store.checkpoint_now(&self.signer())?.1)
            }
            r => Ok(r?),
        }
    }

    /// Writes the log as one export file, with the disclosures `clearance`
    /// allows, up to a checkpoint of this node's (signed now, unless one
    /// is held at the log's size): every entry of an export is attested.
    pub(crate) fn export(
        &self,
        w: impl std::io::Write,
        clearance: &isop_core::Clearance,
    ) -> Result<isop_store::ExportSummary, Error> {
        let note = self.checkpoint()?;
        let size = isop_core::Checkpoint::parse(note.text())?.size;
        Ok(self
            .store
            .export_to(w, &self.org, clearance, self.now(), size)?)
    }

    /// The roster in force.
    pub(crate) fn roster(&self) -> Arc<Roster> {
        match self.roster.read() {
            Ok(r) => r.roster.clone(),
            // A poisoned lock still holds a verified roster.
            Err(p) => p.into_inner().roster.clone(),
        }
    }

    /// The roster in force, as its signed envelope.
    pub(crate) fn roster_envelope(&self) -> pb::Envelope {
        self.roster
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .envelope
            .clone()
    }

    /// The time by this node's clock.
    pub(crate) fn now(&self) -> UnixMillis {
        self.config.clock.now()
    }

    /// Whether the next rejection of `peer`'s deliveries is logged: at most
    /// `max_logged_rejections_per_minute` a minute, then one summary entry,
    /// then only a count, so no peer can grow this log by what it sends.
    pub(crate) fn rejection_logging(&self, peer: &OrgId) -> RejectionLogging {
        let now = self.now().0;
        let limit = self.config.max_logged_rejections_per_minute;
        let mut windows = self
            .rejections_logged
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let w = windows.entry(peer.clone()).or_default();
        if now.saturating_sub(w.start) >= 60_000 {
            *w = RejectionWindow {
                start: now,
                ..Default::default()
            };
        }
        if w.logged < limit {
            w.logged += 1;
            return RejectionLogging::Logged;
        }
        w.unlogged += 1;
        self.metrics
            .rejections_unlogged
            .get_or_create(&crate::metrics::Metrics::label("peer", peer))
            .inc();
        if w.unlogged == 1 {
            RejectionLogging::Summary
        } else {
            RejectionLogging::Counted
        }
    }

    /// The judgement for a new delivery, now.
    pub(crate) fn live(&self) -> Judgement {
        Judgement::Live {
            now: self.now(),
            max_skew_ms: self.config.max_clock_skew_ms,
            max_age_ms: self.config.max_notice_age_ms,
        }
    }

    /// The notice logged at `at`, with its entry and envelope; `None` if
    /// the entry does not hold a notice.
    pub(crate) fn notice_at(&self, at: LogIndex) -> Result<Option<LoggedNotice>, Error> {
        let Some(entry) = self.store.log_entry(at)? else {
            return Ok(None);
        };
        let Some(pb::log_entry::Record::Envelope(bytes)) = &entry.record else {
            return Ok(None);
        };
        let Ok(envelope) = pb::Envelope::decode(bytes.clone()) else {
            return Ok(None);
        };
        if envelope.payload_type != isop_core::NOTICE_PAYLOAD_TYPE {
            return Ok(None);
        }
        Ok(isop_core::Notice::decode(&envelope.payload)
            .ok()
            .map(|notice| LoggedNotice {
                entry,
                envelope,
                notice,
            }))
    }

    /// The notice logged at `at` as this node holds it, verified again as
    /// any auditor could: its signature judged when it was made, and the
    /// held disclosures against its commitments (and, for a notice another
    /// org wrote, against this node's clearance; its author holds every
    /// field). `None` if the entry does not hold a notice.
    pub(crate) fn held(&self, at: LogIndex) -> Result<Option<Held>, Error> {
        let Some(LoggedNotice {
            entry,
            envelope,
            notice,
        }) = self.notice_at(at)?
        else {
            return Ok(None);
        };
        let mut disclosures = Vec::new();
        let mut erased = Vec::new();
        for d in self.store.disclosures_of(at)? {
            match d.state {
                Some(DisclosureState::Held(b)) => disclosures.push(b),
                Some(DisclosureState::Erased(e)) => erased.push((d.digest, e)),
                None => {}
            }
        }
        let delivery = Delivery {
            envelope,
            disclosures,
        };
        let roster = self.roster();
        let verified = Delivery::verify_signatures(
            std::slice::from_ref(&delivery),
            &roster,
            Judgement::AtCreation,
        )
        .pop()
        .unwrap_or(Err(isop_core::Error::Unsigned))
        .and_then(|s| {
            if notice.author() == &self.org {
                s.check_disclosures_unscoped()
            } else {
                s.check_disclosures(&roster, &self.org)
            }
        });
        Ok(Some(Held {
            entry,
            notice,
            verified,
            erased,
        }))
    }

    /// `org` connected here: seen, though that says nothing of whether
    /// this node can reach it.
    pub(crate) fn peer_connected(&self, org: &OrgId) {
        let now = self.now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let s = seen.entry(org.clone()).or_default();
        s.last_seen = Some(now);
        self.metrics.peer_seen(org, s.last_error.is_none(), now);
    }

    /// `org` answered this node.
    pub(crate) fn peer_answered(&self, org: &OrgId) {
        let now = self.now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let s = seen.entry(org.clone()).or_default();
        s.last_seen = Some(now);
        s.last_error = None;
        self.metrics.peer_seen(org, true, now);
    }

    /// An exchange with `org` failed.
    pub(crate) fn peer_failed(&self, org: &OrgId, why: &Error) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let s = seen.entry(org.clone()).or_default();
        s.last_error = Some(why.to_string());
        self.metrics
            .peer_seen(org, false, s.last_seen.unwrap_or_default());
    }

    /// `org` said it holds roster `version` (every frame says so; 0 for
    /// none said).
    pub(crate) fn peer_roster(&self, org: &OrgId, version: u64) {
        if version == 0 {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.entry(org.clone()).or_default().roster_version = Some(version);
    }

    /// What this node last saw of `org`.
    pub(crate) fn peer_seen(&self, org: &OrgId) -> PeerSeen {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(org).cloned().unwrap_or_default()
    }

    fn slot(&self, org: &OrgId) -> Arc<tokio::sync::Mutex<Option<PeerConnection>>> {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.entry(org.clone()).or_default().clone()
    }

    /// A connection to `org`, reused if one is open. Only one dial to a
    /// peer runs at a time, and it gives up after the connect timeout.
    pub(crate) async fn connection(&self, org: &OrgId) -> Result<PeerConnection, Error> {
        let slot = self.slot(org);
        let mut guard = slot.lock().await;
        if let Some(c) = guard.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let roster = self.roster();
        let member = roster.active_member(org, self.now())?;
        let endpoint = member.endpoints.first().ok_or_else(|| Error::Peer {
            org: org.clone(),
            why: "has no endpoint in the roster".into(),
        })?;
        let addr = tokio::net::lookup_host(endpoint)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| Error::Peer {
                org: org.clone(),
                why: format!("cannot resolve {endpoint}"),
            })?;
        let timeout = std::time::Duration::from_millis(self.config.delivery.connect_timeout_ms);
        let conn = tokio::time::timeout(timeout, self.endpoint.connect(addr, org))
            .await
            .map_err(|_| Error::Peer {
                org: org.clone(),
                why: format!("no answer from {addr} within {timeout:?}"),
            })??;
        *guard = Some(conn.clone());
        Ok(conn)
    }

    /// Forgets a connection that failed, so the next use dials again.
    pub(crate) async fn drop_connection(&self, org: &OrgId) {
        self.slot(org).lock().await.take();
    }

    /// Accepts a newer roster: verified against the roster key, persisted in
    /// the log, and passed on to every other member with an endpoint. A
    /// peer's push of the roster in force is acknowledged as held.
    pub(crate) fn accept_roster(
        self: &Arc<Self>,
        envelope: &pb::Envelope,
        from: Option<&OrgId>,
    ) -> Result<u64, Error> {
        // Passed on by every peer that takes it up, the roster in force
        // arrives again from most of them: the same bytes are taken as
        // held, without checking its signature again or passing it on.
        if from.is_some() {
            let guard = self.roster.read().unwrap_or_else(|p| p.into_inner());
            if guard.envelope == *envelope {
                return Ok(guard.roster.version());
            }
        }
        let next = {
            let current = self.roster();
            current.verify_update(envelope, &self.roster_key)?
        };
        let version = next.version();
        self.store
            .record_roster(version, envelope.encode_to_vec().into(), self.now())?;
        {
            let mut guard = self.roster.write().unwrap_or_else(|p| p.into_inner());
            if guard.roster.version() >= version {
                return Ok(guard.roster.version());
            }
            *guard = RosterState {
                roster: Arc::new(next),
                envelope: envelope.clone(),
            };
        }
        tracing::info!(version, "roster updated");
        // Inbound connections re-check their peer on this signal; outbound
        // ones are swept here.
        self.roster_changed.send_replace(version);
        self.close_outbound_refused();
        self.progress.notify_waiters();
        self.propagate_roster(envelope.clone(), from.cloned());
        Ok(version)
    }

    /// Takes a roster an operator hands this node (`POST /v1/roster`): a
    /// newer version is taken up and passed on; a version it already has,
    /// with the same content, changes nothing and is no error. Returns
    /// the version the node holds, and whether the roster was new.
    pub(crate) fn offer_roster(
        self: &Arc<Self>,
        envelope: &pb::Envelope,
    ) -> Result<(u64, bool), Error> {
        let offered = Roster::verify(envelope, &self.roster_key)?;
        let current = self.roster();
        if offered.version() > current.version() {
            return Ok((self.accept_roster(envelope, None)?, true));
        }
        // The same version as held, or an older one this node took before.
        let held = if offered.version() == current.version() {
            Some(self.roster_envelope())
        } else {
            self.store
                .rosters()
                .filter_map(Result::ok)
                .find(|(v, _)| *v == offered.version())
                .and_then(|(_, bytes)| pb::Envelope::decode(bytes).ok())
        };
        let Some(held) = held else {
            return Err(Error::Invalid(format!(
                "roster v{} is older than the v{} this node holds",
                offered.version(),
                current.version()
            )));
        };
        if held.payload == envelope.payload {
            return Ok((current.version(), false));
        }
        let differs = Roster::verify(&held, &self.roster_key)
            .map(|h| offered.changes_from(&h))
            .unwrap_or_default();
        Err(Error::Invalid(format!(
            "the roster v{} offered is not the v{} this node holds: {}",
            offered.version(),
            offered.version(),
            if differs.is_empty() {
                "they differ only in issue time or encoding".to_owned()
            } else {
                differs.join("; ")
            }
        )))
    }

    /// Whether `peer` may be served now: a member of the roster in force,
    /// not revoked, with its TLS key pinned. The gate applies it at the
    /// handshake; connections apply it again on every request and roster
    /// change.
    pub(crate) fn standing(&self, peer: &PeerIdentity) -> Result<(), Refusal> {
        standing(&self.roster(), peer, self.now())
    }

    /// Closes this node's outbound connections to peers no longer in good
    /// standing (revoked, removed, or no longer pinned).
    fn close_outbound_refused(self: &Arc<Self>) {
        let slots: Vec<_> = self
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let inner = self.clone();
        tokio::spawn(async move {
            for slot in slots {
                let mut guard = slot.lock().await;
                let refusal = guard.as_ref().and_then(|c| inner.standing(c.peer()).err());
                if let (Some(refusal), Some(conn)) = (refusal, guard.take()) {
                    tracing::warn!(peer = %conn.peer().org, %refusal, "closing the connection to a peer the roster no longer admits");
                    conn.close(&refusal.to_string());
                }
            }
        });
    }

    /// A request frame of `kind`, stamped with this node's roster version.
    pub(crate) fn frame(&self, kind: pb::frame::Kind) -> pb::Frame {
        pb::Frame {
            kind: Some(kind),
            roster_version: self.roster().version(),
        }
    }

    /// Sends a request to the peer of `conn`; if its answer shows a newer
    /// roster than this node's, fetches it (in the background).
    pub(crate) async fn request(
        self: &Arc<Self>,
        conn: &PeerConnection,
        kind: pb::frame::Kind,
    ) -> Result<pb::Frame, Error> {
        let answer = conn.request(&self.frame(kind)).await?;
        self.peer_roster(&conn.peer().org, answer.roster_version);
        if answer.roster_version > self.roster().version() {
            let (inner, peer) = (self.clone(), conn.peer().org.clone());
            let claimed = answer.roster_version;
            tokio::spawn(async move { inner.catch_up(&peer, claimed).await });
        }
        Ok(answer)
    }

    /// Fetches the roster of `peer`, which claims version `claimed`, if
    /// that is newer than this node's and not already fetched from it for
    /// that claim (a peer that overstates its version costs one fetch).
    pub(crate) async fn catch_up(self: &Arc<Self>, peer: &OrgId, claimed: u64) {
        if claimed <= self.roster().version() {
            return;
        }
        {
            let mut asked = self.roster_asked.lock().unwrap_or_else(|p| p.into_inner());
            let last = asked.entry(peer.clone()).or_default();
            if *last >= claimed {
                return;
            }
            *last = claimed;
        }
        match self.fetch_roster(peer).await {
            Ok(version) => {
                tracing::info!(%peer, version, "roster fetched from a peer that was ahead")
            }
            Err(e) => {
                tracing::warn!(%peer, claimed, error = %e, "cannot fetch the newer roster a peer claims")
            }
        }
    }

    /// Asks `peer` for its roster and takes it up if it is newer. Returns
    /// the version in force afterwards.
    pub(crate) async fn fetch_roster(self: &Arc<Self>, peer: &OrgId) -> Result<u64, Error> {
        let conn = self.connection(peer).await?;
        let answer = conn
            .request(&self.frame(pb::frame::Kind::GetRoster(pb::GetRoster {})))
            .await?;
        let Some(pb::frame::Kind::Roster(pb::RosterPush {
            roster: Some(envelope),
        })) = answer.kind
        else {
            return Err(Error::Peer {
                org: peer.clone(),
                why: "answered a roster request with something else".into(),
            });
        };
        if Roster::verify(&envelope, &self.roster_key)?.version() <= self.roster().version() {
            return Ok(self.roster().version());
        }
        self.accept_roster(&envelope, Some(peer))
    }

    /// Asks every peer for its roster (at start: a node that was down
    /// during a roster push learns of it before it admits anyone the push
    /// revoked).
    pub(crate) fn refresh_roster(self: &Arc<Self>) {
        let roster = self.roster();
        for m in roster.members() {
            if m.org_id == self.org || m.endpoints.is_empty() || m.revoked_by(self.now()) {
                continue;
            }
            let (inner, peer) = (self.clone(), m.org_id.clone());
            tokio::spawn(async move {
                if let Err(e) = inner.fetch_roster(&peer).await {
                    tracing::debug!(%peer, error = %e, "roster not checked with this peer");
                }
            });
        }
    }

    /// Passes a roster just taken up on: one put in force here to every
    /// other member with an endpoint; one received from `from` to at most
    /// [`ROSTER_FANOUT`] others, picked at random among those not known to
    /// hold it. Each peer that takes it up does the same, so it spreads as
    /// gossip (a member the first pushes missed is reached by others, and
    /// any still behind fetch it when they next talk to a peer) without
    /// every member pushing it to every other.
    fn propagate_roster(self: &Arc<Self>, envelope: pb::Envelope, from: Option<OrgId>) {
        let roster = self.roster();
        let version = roster.version();
        let mut peers: Vec<OrgId> = roster
            .members()
            .filter(|m| {
                m.org_id != self.org
                    && Some(&m.org_id) != from.as_ref()
                    && !m.endpoints.is_empty()
                    && !m.revoked_by(self.now())
            })
            .map(|m| m.org_id.clone())
            .collect();
        if from.is_some() {
            {
                let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                peers.retain(|p| seen.get(p).and_then(|s| s.roster_version) < Some(version));
            }
            if peers.len() > ROSTER_FANOUT {
                let (picked, _) = rand::seq::SliceRandom::partial_shuffle(
                    &mut peers[..],
                    &mut rand::thread_rng(),
                    ROSTER_FANOUT,
                );
                peers = picked.to_vec();
            }
        }
        for peer in peers {
            let inner = self.clone();
            let push = pb::frame::Kind::RosterPush(pb::RosterPush {
                roster: Some(envelope.clone()),
            });
            tokio::spawn(async move {
                let pushed = async {
                    let conn = inner.connection(&peer).await?;
                    inner.request(&conn, push).await
                };
                match pushed.await {
                    Ok(_) => tracing::debug!(%peer, "roster passed on"),
                    // A peer with an equal or newer roster refuses it; one
                    // that is down asks its peers when it starts.
                    Err(e) => {
                        inner.metrics.roster_push_failures.inc();
                        inner.progress.notify_waiters();
                        tracing::debug!(%peer, error = %e, "roster not passed on");
                    }
                }
            });
        }
    }
}

/// How many peers a node passes a roster on to when it took it up from
/// another ([`Inner::propagate_roster`]).
pub(crate) const ROSTER_FANOUT: usize = 8;

/// Whether `peer` is in good standing under `roster` at `now`: the roster
/// lists its org, the org is not revoked, and its TLS key is pinned.
pub(crate) fn standing(
    roster: &Roster,
    peer: &PeerIdentity,
    now: UnixMillis,
) -> Result<(), Refusal> {
    let member = roster
        .member(&peer.org)
        .map_err(|_| Refusal::UnknownOrg(peer.org.clone()))?;
    if member.revoked_by(now) {
        return Err(Refusal::RevokedOrg(peer.org.clone()));
    }
    if !member.pins(&peer.spki_sha256) {
        return Err(Refusal::PinMismatch {
            org: peer.org.clone(),
            spki: hex::encode(peer.spki_sha256),
        });
    }
    Ok(())
}

/// The gate: a peer is admitted if it is in good standing ([`standing`]).
pub(crate) fn gate(roster: Arc<RwLock<RosterState>>, clock: crate::config::Clock) -> Gate {
    Arc::new(move |peer: &PeerIdentity| {
        let guard = roster.read().unwrap_or_else(|p| p.into_inner());
        standing(&guard.roster, peer, clock.now())
    })
}

/// A single `Deliver` waiting to be checked with others (see
/// `peer::collect_deliveries`).
pub(crate) struct Queued {
    pub(crate) sender: OrgId,
    pub(crate) delivery: Delivery,
    /// Where its receipt goes, unsigned.
    pub(crate) receipt: tokio::sync::oneshot::Sender<Result<ReceiptDraft, String>>,
}

/// The log, as the core's receive decision reads it.
impl NoticeLog for Inner {
    type Error = Error;

    fn find(&self, id: &NoticeId) -> Result<Option<HeldNotice>, Error> {
        let Some(index) = self.store.find_notice(id)? else {
            return Ok(None);
        };
        let Some(LoggedNotice {
            envelope, notice, ..
        }) = self.notice_at(index)?
        else {
            return Err(isop_store::Error::Corrupt {
                index,
                why: format!("the notice index names this entry for {id}, which holds no notice"),
            }
            .into());
        };
        Ok(Some(HeldNotice {
            index,
            digest: isop_core::sha256(&envelope.payload),
            author: notice.author().clone(),
            kind: notice.kind(),
        }))
    }

    fn disclosure_digests(&self, index: LogIndex) -> Result<Vec<[u8; 32]>, Error> {
        Ok(self
            .store
            .disclosures_of(index)?
            .into_iter()
            .map(|d| d.digest)
            .collect())
    }
}
