//! The node: binding, the roster, sending, and shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use isop_core::{LogIndex, NoticeDraft, OrgId, Roster, Signer, pb};
use isop_net::{Endpoint, EndpointConfig};
use isop_store::{DeliveryStatus, Store};
use prost::Message;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::now;
use crate::send::Sent;
use crate::state::{Held, Inner, LoggedNotice, RosterState, gate};
use crate::{Error, NodeConfig};

/// A running node.
pub struct Node {
    pub(crate) inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
    pub(crate) api_addr: Option<SocketAddr>,
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
        let socket = std::net::UdpSocket::bind(config.listen)
            .map_err(|e| listen_error(config.listen, &e))?;
        Self::bind_socket(config, socket).await
    }

    /// Starts a node on an already bound UDP socket.
    pub async fn bind_socket(
        config: NodeConfig,
        socket: std::net::UdpSocket,
    ) -> Result<Self, Error> {
        Self::start(config, |c, gate| Endpoint::from_socket(socket, c, gate)).await
    }

    /// Starts a node on the in-memory `network`, at `config.listen`: for
    /// deterministic tests of what nodes do, without sockets.
    #[cfg(feature = "memory")]
    pub async fn bind_memory(
        config: NodeConfig,
        network: &isop_net::MemoryNetwork,
    ) -> Result<Self, Error> {
        let addr = config.listen;
        Self::start(config, |c, gate| Endpoint::memory(network, addr, c, gate)).await
    }

    /// Starts a node on the endpoint `endpoint` makes.
    async fn start(
        config: NodeConfig,
        endpoint: impl FnOnce(EndpointConfig, isop_net::Gate) -> Result<Endpoint, isop_net::Error>,
    ) -> Result<Self, Error> {
        let org = config.org_id()?;
        // The keys first: a node whose key files others can read does
        // not start at all.
        config.signer()?;
        crate::config::check_private(&config.tls_key)?;
        let ca =
            isop_net::pki::certs_from_pem(&std::fs::read_to_string(&config.ca).map_err(|e| {
                Error::Config {
                    path: config.ca.display().to_string(),
                    why: e.to_string(),
                }
            })?)?;
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
        // The webhooks and the retention rules, checked before anything
        // opens or starts.
        let notify = crate::notify::Standing::default();
        let hooks = crate::notify::hooks(&config, &notify)?;
        let retention = crate::erase::rules(&config)?;
        crate::config::ensure_private_dir(&config.data_dir)?;
        let store = Store::open(&config.store())?;
        crate::notify::start_new(&store, &config)?;

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
        let crate::identity::Loaded {
            signer,
            tls,
            identity,
        } = crate::identity::load(&config, &org, &roster)?;
        let roster = Arc::new(RwLock::new(RosterState {
            roster: Arc::new(roster),
            envelope,
        }));

        let mut ep_config = EndpointConfig::new(ca, tls);
        ep_config.max_frame = config.max_frame_bytes;
        let endpoint = endpoint(ep_config, gate(roster.clone(), config.clock.clone()))?;
        let (shutdown, _) = watch::channel(false);
        let (roster_changed, _) = watch::channel(0);
        let (deliveries, queue) = tokio::sync::mpsc::channel(crate::peer::MAX_QUEUED);
        let inner = Arc::new(Inner {
            org,
            signer: RwLock::new(Arc::new(signer)),
            identity: RwLock::new(identity),
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
            metrics: crate::metrics::Metrics::new(),
            deliveries,
            roster_changed,
            roster_asked: std::sync::Mutex::new(HashMap::new()),
            rejections_logged: std::sync::Mutex::new(HashMap::new()),
            inbound: std::sync::Mutex::new(HashMap::new()),
            next_connection: std::sync::atomic::AtomicU64::new(0),
            sync_slots: std::sync::Mutex::new(HashMap::new()),
            seen: std::sync::Mutex::new(HashMap::new()),
            notify,
            matching: Default::default(),
        });
        // The API's token and socket, before any task starts: a node that
        // cannot serve its API does not start at all.
        let mut api = None;
        if let Some(c) = &inner.config.api {
            let token = crate::api::token(&c.token_file)?;
            let users = crate::users::Users::open(&inner.config.data_dir, &token, now().0)?;
            c.check()?;
            let listener =
                tokio::net::TcpListener::bind(c.listen)
                    .await
                    .map_err(|e| Error::Config {
                        path: "api.listen".into(),
                        why: format!("cannot bind {}: {e}", c.listen),
                    })?;
            api = Some((listener, users));
        }
        inner.refresh_roster();
        let mut tasks = vec![
            tokio::spawn(crate::peer::collect_deliveries(inner.clone(), queue)),
            tokio::spawn(crate::peer::accept_loop(inner.clone())),
            tokio::spawn(crate::peer::delivery_loop(inner.clone())),
        ];
        if inner.config.witness.interval_ms > 0 {
            tasks.push(tokio::spawn(crate::peer::witness_loop(inner.clone())));
        }
        if !retention.is_empty() {
            tasks.push(tokio::spawn(crate::erase::retention_loop(
                inner.clone(),
                retention,
            )));
        }
        for hook in hooks {
            tasks.push(tokio::spawn(crate::notify::notify_loop(
                inner.clone(),
                hook,
            )));
        }
        let mut api_addr = None;
        if let Some((listener, users)) = api {
            api_addr = listener.local_addr().ok();
            tasks.push(tokio::spawn(crate::api::serve(
                inner.clone(),
                listener,
                users,
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

    /// Takes up the signing key and TLS certificate its config file names
    /// now, without a restart (what SIGHUP and `isop node reload` do):
    /// the roster in force must list the key and pin the certificate's
    /// key. If they fail, the node keeps what it has and says why.
    pub fn reload(&self) -> Result<crate::Identity, Error> {
        self.inner.reload()
    }

    /// The key and certificate this node uses now.
    pub fn identity(&self) -> crate::Identity {
        self.inner.identity()
    }

    /// The signer (this node's notice-signing key).
    pub fn signer(&self) -> Arc<Signer> {
        self.inner.signer()
    }

    /// Seals, checks and queues a notice: its recipients (orgs and expanded
    /// groups) must each be allowed by the policy; it is logged OUTBOUND
    /// with all its disclosures and put in each recipient's outbox. Each
    /// recipient later gets only the disclosures its clearance allows.
    pub async fn send(&self, draft: NoticeDraft) -> Result<Sent, Error> {
        crate::send::send(&self.inner, draft).await
    }

    /// Runs a private matching with `with` (docs/MATCHING.md): which of
    /// `items` it also holds. `user` names who asked, in the log entry
    /// that records the run.
    pub async fn match_with(
        &self,
        with: &OrgId,
        items: Vec<isop_match::Item>,
        user: &str,
    ) -> Result<crate::MatchReport, Error> {
        crate::matching::ask(&self.inner, with, items, user).await
    }

    /// The notice logged at `index`, with its entry and envelope; `None` if
    /// the entry does not hold a notice.
    pub fn notice_at(&self, index: LogIndex) -> Result<Option<LoggedNotice>, Error> {
        self.inner.notice_at(index)
    }

    /// The notice logged at `index` as this node holds it, verified again
    /// (see [`Held`]); `None` if the entry does not hold a notice.
    pub fn held(&self, index: LogIndex) -> Result<Option<Held>, Error> {
        self.inner.held(index)
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
        crate::peer::sync_with(&self.inner, peer).await
    }

    /// Fetches, checks and cosigns `peer`'s latest checkpoint now.
    pub async fn witness(&self, peer: &OrgId) -> Result<crate::peer::Witnessed, Error> {
        crate::peer::witness(&self.inner, peer).await
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

impl Node {
    /// The local API's address, if it is enabled.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api_addr
    }
}

/// The error of a listen address that cannot be bound.
pub(crate) fn listen_error(listen: SocketAddr, e: &std::io::Error) -> Error {
    Error::Config {
        path: "listen".into(),
        why: format!("cannot bind {listen}: {e}"),
    }
}
