//! The node: binding, the roster, sending, and shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use isop_core::{
    Judgement, LogIndex, NoticeDraft, NoticeId, OrgId, ReplyContext, Role, Roster, RosterKey,
    SealedNotice, Signer, UnixMillis, pb,
};
use isop_net::{
    Endpoint, EndpointConfig, Gate, PeerConnection, PeerIdentity, Refusal, TlsIdentity,
};
use isop_store::{DeliveryStatus, Direction, NewEntry, Record, Store, StoreConfig};
use prost::Message;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::{Error, NodeConfig};

/// The wall clock, as a node reads it.
pub fn now() -> UnixMillis {
    UnixMillis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    )
}

/// The roster in force and its signed envelope.
pub(crate) struct RosterState {
    pub(crate) roster: Arc<Roster>,
    pub(crate) envelope: pb::Envelope,
}

/// What every task of a node shares.
pub(crate) struct Inner {
    pub(crate) org: OrgId,
    pub(crate) signer: Signer,
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
    /// Fired after each delivery attempt, each delivery received and each
    /// roster change: what [`Node::wait_until`] waits on.
    pub(crate) progress: Notify,
    /// Prometheus metrics.
    pub(crate) metrics: crate::api::Metrics,
    /// Single deliveries, to be received together (`serve::collect_deliveries`).
    /// Bounded: when full, requests wait, and QUIC pushes back on their peers.
    pub(crate) deliveries: tokio::sync::mpsc::Sender<crate::serve::Queued>,
    /// The version of each roster taken up: connections re-check their
    /// peer when it changes.
    pub(crate) roster_changed: watch::Sender<u64>,
    /// The highest roster version each peer claimed that was fetched from it.
    roster_asked: std::sync::Mutex<HashMap<OrgId, u64>>,
    /// Per peer, the rejections logged in the current minute.
    pub(crate) rejections_logged: std::sync::Mutex<HashMap<OrgId, RejectionWindow>>,
    /// Per peer, its open inbound connections, oldest first (at most
    /// [`crate::serve::MAX_CONNECTIONS_PER_PEER`]).
    pub(crate) inbound:
        std::sync::Mutex<HashMap<OrgId, std::collections::VecDeque<(u64, PeerConnection)>>>,
    /// Numbers inbound connections.
    pub(crate) next_connection: std::sync::atomic::AtomicU64,
    /// Per peer, one sync scan at a time.
    pub(crate) sync_slots: std::sync::Mutex<HashMap<OrgId, Arc<tokio::sync::Semaphore>>>,
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
    /// Writes the log as one export file, with the disclosures `clearance`
    /// allows, up to a checkpoint of this node's (signed now, unless one
    /// is held at the log's size): every entry of an export is attested.
    pub(crate) fn export(
        &self,
        w: impl std::io::Write,
        clearance: &isop_core::Clearance,
    ) -> Result<isop_store::ExportSummary, Error> {
        let note = crate::serve::checkpoint(self)?;
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
            .get_or_create(&crate::api::Metrics::label("peer", peer))
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
    pub(crate) fn notice_at(
        &self,
        at: LogIndex,
    ) -> Result<Option<(pb::LogEntry, pb::Envelope, isop_core::Notice)>, Error> {
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
            .map(|n| (entry, envelope, n)))
    }

    /// What a notice replies to, as the policy needs it.
    pub(crate) fn reply_context(
        &self,
        in_reply_to: Option<NoticeId>,
    ) -> Result<ReplyContext, Error> {
        let Some(id) = in_reply_to else {
            return Ok(ReplyContext::Unknown);
        };
        let Some(at) = self.store.find_notice(&id)? else {
            return Ok(ReplyContext::Unknown);
        };
        Ok(match self.notice_at(at)? {
            Some((_, _, n)) if n.kind() == isop_core::NoticeKind::Referral => {
                ReplyContext::ReferralBy(n.author().clone())
            }
            Some((_, _, n)) => ReplyContext::Other(n.author().clone()),
            None => ReplyContext::Unknown,
        })
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
    /// the log, and passed on to every other member with an endpoint.
    pub(crate) fn accept_roster(
        self: &Arc<Self>,
        envelope: &pb::Envelope,
        from: Option<&OrgId>,
    ) -> Result<u64, Error> {
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
    fn refresh_roster(self: &Arc<Self>) {
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

    fn propagate_roster(self: &Arc<Self>, envelope: pb::Envelope, skip: Option<OrgId>) {
        let roster = self.roster();
        let peers: Vec<OrgId> = roster
            .members()
            .filter(|m| {
                m.org_id != self.org
                    && Some(&m.org_id) != skip.as_ref()
                    && !m.endpoints.is_empty()
                    && !m.revoked_by(self.now())
            })
            .map(|m| m.org_id.clone())
            .collect();
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

/// Whether `peer` is in good standing under `roster` at `now`: the roster
/// lists its org, the org is not revoked, and its TLS key is pinned.
fn standing(roster: &Roster, peer: &PeerIdentity, now: UnixMillis) -> Result<(), Refusal> {
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
fn gate(roster: Arc<RwLock<RosterState>>, clock: crate::config::Clock) -> Gate {
    Arc::new(move |peer: &PeerIdentity| {
        let guard = roster.read().unwrap_or_else(|p| p.into_inner());
        standing(&guard.roster, peer, clock.now())
    })
}

/// A notice this node sent.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The notice's id.
    pub id: NoticeId,
    /// Its OUTBOUND entry in this node's log.
    pub index: LogIndex,
    /// The orgs it goes to.
    pub recipients: Vec<OrgId>,
}

/// A running node.
pub struct Node {
    pub(crate) inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
    pub(crate) api_addr: Option<SocketAddr>,
}

/// The recipients of a sealed notice, each checked against the policy.
fn check_recipients(inner: &Inner, sealed: &SealedNotice) -> Result<Vec<OrgId>, Error> {
    let n = sealed.notice();
    let roster = inner.roster();
    let to = roster.expand_recipients(
        &inner.org,
        n.to_orgs(),
        n.to_groups().iter().map(String::as_str),
        inner.now(),
    )?;
    if to.is_empty() {
        return Err(Error::Roster("the notice reaches no member".into()));
    }
    let my_role: Role = roster.member(&inner.org)?.role;
    let reply = inner.reply_context(n.in_reply_to())?;
    for r in &to {
        roster.policy().check(
            &inner.org,
            my_role,
            roster.member(r)?.role,
            n.kind(),
            &reply,
        )?;
    }
    Ok(to.into_iter().collect())
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("org", &self.inner.org)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts a node from its config, listening on `config.listen`.
    pub async fn bind(config: NodeConfig) -> Result<Self, Error> {
        let socket = std::net::UdpSocket::bind(config.listen).map_err(|e| Error::Config {
            path: "listen".into(),
            why: format!("cannot bind {}: {e}", config.listen),
        })?;
        Self::bind_socket(config, socket).await
    }

    /// Starts a node on an already bound UDP socket.
    pub async fn bind_socket(
        config: NodeConfig,
        socket: std::net::UdpSocket,
    ) -> Result<Self, Error> {
        let org = config.org_id()?;
        let signer = config.signer()?;
        crate::config::check_private(&config.tls_key)?;
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|e| Error::Config {
                path: p.display().to_string(),
                why: e.to_string(),
            })
        };
        // The key's PEM is wiped from memory once parsed.
        let key_pem = zeroize::Zeroizing::new(read(&config.tls_key)?);
        let identity = TlsIdentity::from_pem(&read(&config.tls_cert)?, &key_pem)?;
        let ca = isop_net::pki::certs_from_pem(&read(&config.ca)?)?;
        let roster_key = config.roster_key()?;
        // A frame's envelope must fit in one log entry, with room for its
        // disclosures' digests.
        if config.max_frame_bytes > isop_store::MAX_ENTRY_BYTES / 2 {
            return Err(Error::Config {
                path: "max_frame_bytes".into(),
                why: format!(
                    "{} is above the largest frame a log entry can hold ({})",
                    config.max_frame_bytes,
                    isop_store::MAX_ENTRY_BYTES / 2
                ),
            });
        }
        crate::config::ensure_private_dir(&config.data_dir)?;
        let store = Store::open(&StoreConfig::new(&config.data_dir))?;

        // The roster: the configured one, unless the log holds a newer one.
        let bytes = std::fs::read(&config.roster).map_err(|e| Error::Config {
            path: config.roster.display().to_string(),
            why: e.to_string(),
        })?;
        let mut envelope = pb::Envelope::decode(bytes.as_slice()).map_err(|e| Error::Config {
            path: config.roster.display().to_string(),
            why: format!("not a roster envelope: {e}"),
        })?;
        let mut roster = Roster::verify(&envelope, &roster_key)?;
        store.record_roster(roster.version(), envelope.encode_to_vec().into(), now())?;
        if let Some(r) = store.rosters().last() {
            let (version, stored) = r?;
            if version > roster.version() {
                envelope = pb::Envelope::decode(stored)
                    .map_err(|e| Error::Roster(format!("stored roster {version}: {e}")))?;
                roster = Roster::verify(&envelope, &roster_key)?;
            }
        }
        let me = roster.member(&org)?;
        if !me
            .keys
            .iter()
            .any(|k| k.name == signer.id().name && k.public == signer.public())
        {
            return Err(Error::Roster(format!(
                "the roster does not list {}'s signing key {}",
                org,
                signer.id()
            )));
        }
        let roster = Arc::new(RwLock::new(RosterState {
            roster: Arc::new(roster),
            envelope,
        }));

        let mut ep_config = EndpointConfig::new(ca, identity);
        ep_config.max_frame = config.max_frame_bytes;
        let endpoint = Endpoint::from_socket(
            socket,
            ep_config,
            gate(roster.clone(), config.clock.clone()),
        )?;
        let (shutdown, _) = watch::channel(false);
        let (roster_changed, _) = watch::channel(0);
        let (deliveries, queue) = tokio::sync::mpsc::channel(crate::serve::MAX_QUEUED);
        let inner = Arc::new(Inner {
            org,
            signer,
            store,
            roster,
            roster_key,
            endpoint,
            conns: std::sync::Mutex::new(HashMap::new()),
            outbox_wake: Notify::new(),
            shutdown,
            config,
            inconsistencies: std::sync::atomic::AtomicU64::new(0),
            progress: Notify::new(),
            metrics: crate::api::Metrics::new(),
            deliveries,
            roster_changed,
            roster_asked: std::sync::Mutex::new(HashMap::new()),
            rejections_logged: std::sync::Mutex::new(HashMap::new()),
            inbound: std::sync::Mutex::new(HashMap::new()),
            next_connection: std::sync::atomic::AtomicU64::new(0),
            sync_slots: std::sync::Mutex::new(HashMap::new()),
        });
        inner.refresh_roster();
        let mut tasks = vec![
            tokio::spawn(crate::serve::collect_deliveries(inner.clone(), queue)),
            tokio::spawn(crate::serve::accept_loop(inner.clone())),
            tokio::spawn(crate::deliver::delivery_loop(inner.clone())),
        ];
        if inner.config.witness.interval_ms > 0 {
            tasks.push(tokio::spawn(crate::witness::witness_loop(inner.clone())));
        }
        let mut api_addr = None;
        if let Some(api) = &inner.config.api {
            let token = crate::api::token(&api.token_file)?;
            api.check()?;
            let listener = tokio::net::TcpListener::bind(api.listen)
                .await
                .map_err(|e| Error::Config {
                    path: "api.listen".into(),
                    why: format!("cannot bind {}: {e}", api.listen),
                })?;
            api_addr = listener.local_addr().ok();
            tasks.push(tokio::spawn(crate::api::serve(
                inner.clone(),
                listener,
                token,
            )));
        }
        tracing::info!(org = %inner.org, addr = ?inner.endpoint.local_addr().ok(), api = ?api_addr, size = inner.store.size(), "node started");
        Ok(Self {
            inner,
            tasks,
            api_addr,
        })
    }

    /// This node's org.
    pub fn org(&self) -> &OrgId {
        &self.inner.org
    }

    /// The QUIC address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.inner.endpoint.local_addr()?)
    }

    /// The node's log.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Writes the log as one export file for an auditor, with the
    /// disclosures `clearance` allows, ending at a checkpoint this node
    /// signs for it (what `isop log export` writes).
    pub fn export(
        &self,
        w: impl std::io::Write,
        clearance: &isop_core::Clearance,
    ) -> Result<isop_store::ExportSummary, Error> {
        self.inner.export(w, clearance)
    }

    /// The roster in force.
    pub fn roster(&self) -> Arc<Roster> {
        self.inner.roster()
    }

    /// The roster in force, as its signed envelope.
    pub fn roster_envelope(&self) -> pb::Envelope {
        self.inner.roster_envelope()
    }

    /// The clock this node judges and schedules by (see [`crate::config::Clock`]).
    pub fn clock(&self) -> &crate::config::Clock {
        &self.inner.config.clock
    }

    /// The signer (this node's notice-signing key).
    pub fn signer(&self) -> &Signer {
        &self.inner.signer
    }

    /// Seals, checks and queues a notice: its recipients (orgs and expanded
    /// groups) must each be allowed by the policy; it is logged OUTBOUND
    /// with all its disclosures and put in each recipient's outbox. Each
    /// recipient later gets only the disclosures its clearance allows.
    pub async fn send(&self, draft: NoticeDraft) -> Result<Sent, Error> {
        Self::send_on(&self.inner, draft).await
    }

    pub(crate) async fn send_on(inner: &Arc<Inner>, draft: NoticeDraft) -> Result<Sent, Error> {
        let sealed = draft.seal(&inner.signer, inner.now(), &mut rand::rngs::OsRng)?;
        let recipients = check_recipients(inner, &sealed)?;
        let mut entry = NewEntry::new(
            inner.now(),
            Direction::Outbound,
            Record::Envelope(Bytes::from(sealed.envelope().encode_to_vec())),
        );
        entry.disclosures = sealed
            .disclosures()
            .iter()
            .map(|d| d.bytes().clone())
            .collect();
        entry.recipients = recipients.clone();
        entry.enqueue = recipients.clone();
        let index = inner.store.append_async(entry).await?.index();
        inner.outbox_wake.notify_one();
        let kind = sealed.notice().kind();
        inner
            .metrics
            .sent
            .get_or_create(&crate::api::Metrics::label("kind", kind))
            .inc();
        tracing::info!(id = %sealed.notice().id(), %kind, index = %index, to = recipients.len(), "notice queued");
        Ok(Sent {
            id: sealed.notice().id(),
            index,
            recipients,
        })
    }

    /// The notice logged at `index`, with its entry and envelope; `None` if
    /// the entry does not hold a notice.
    pub fn notice_at(
        &self,
        index: LogIndex,
    ) -> Result<Option<(pb::LogEntry, pb::Envelope, isop_core::Notice)>, Error> {
        self.inner.notice_at(index)
    }

    /// Where an outbound notice stands with each recipient.
    pub fn delivery_status(&self, index: LogIndex) -> Result<Vec<(OrgId, DeliveryStatus)>, Error> {
        Ok(self.inner.store.delivery_status(index)?)
    }

    /// Wakes the delivery workers (they also wake on their own).
    pub fn kick(&self) {
        self.inner.outbox_wake.notify_one();
    }

    /// Accepts a newer roster and passes it on to the federation.
    pub fn update_roster(&self, envelope: &pb::Envelope) -> Result<u64, Error> {
        self.inner.accept_roster(envelope, None)
    }

    /// Pulls the notices `peer` holds for this node, from the cursor kept
    /// for it, and takes each in as a delivery. Returns how many were new.
    pub async fn sync_with(&self, peer: &OrgId) -> Result<usize, Error> {
        crate::serve::sync_with(&self.inner, peer).await
    }

    /// Fetches, checks and cosigns `peer`'s latest checkpoint now.
    pub async fn witness(&self, peer: &OrgId) -> Result<crate::witness::Witnessed, Error> {
        crate::witness::witness(&self.inner, peer).await
    }

    /// Waits until `done(self)` holds, re-checking after every delivery
    /// attempt, received delivery and roster change; fails after `timeout`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: std::time::Duration,
        done: impl Fn(&Self) -> bool,
    ) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(self) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Error::Peer {
                    org: self.inner.org.clone(),
                    why: format!("timed out after {timeout:?} waiting for {what}"),
                });
            }
        }
    }

    /// How many roster pushes to peers failed (the peer was down, or
    /// refused a roster that was not newer for it).
    pub fn roster_push_failures(&self) -> u64 {
        self.inner.metrics.roster_push_failures.get()
    }

    /// How many split views witnessing has detected.
    pub fn inconsistencies(&self) -> u64 {
        self.inner
            .inconsistencies
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops: no new connections or requests, in-flight appends finish,
    /// the log is closed.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        let _ = self.inner.shutdown.send(true);
        self.inner.endpoint.close();
        // The tasks stop at the signal; a peer that never answers cannot hold
        // the shutdown beyond this grace period. Appends in flight are finished
        // by the log's writer whatever happens to the tasks.
        let grace = std::time::Duration::from_secs(5);
        for t in self.tasks.drain(..) {
            let abort = t.abort_handle();
            if tokio::time::timeout(grace, t).await.is_err() {
                tracing::warn!("a task did not stop within {grace:?}; aborted");
                abort.abort();
            }
        }
        if tokio::time::timeout(grace, self.inner.endpoint.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!("connections still draining after {grace:?}");
        }
        self.inner.store.flush()?;
        Ok(())
    }
}
