//! The node's Prometheus metrics, counted by every part of the node and
//! served by the local API.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// The node's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) received: Family<Labels, Counter>,
    pub(crate) sent: Family<Labels, Counter>,
    pub(crate) rejected: Family<Labels, Counter>,
    pub(crate) outbox_depth: Family<Labels, Gauge>,
    pub(crate) delivery_latency: Histogram,
    pub(crate) split_views: Counter,
    pub(crate) roster_push_failures: Counter,
    pub(crate) rejections_unlogged: Family<Labels, Counter>,
    peer_up: Family<Labels, Gauge>,
    peer_last_seen: Family<Labels, Gauge>,
    pub(crate) roster_version: Gauge,
    pub(crate) notify_queue_depth: Family<Labels, Gauge>,
    pub(crate) checkpoint_lag: Gauge,
    pub(crate) peer_clock_offset: Family<Labels, Gauge>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("isop");
        let m = Self {
            received: Family::default(),
            sent: Family::default(),
            rejected: Family::default(),
            outbox_depth: Family::default(),
            delivery_latency: Histogram::new(exponential_buckets(0.000_5, 2.0, 18)),
            split_views: Counter::default(),
            roster_push_failures: Counter::default(),
            rejections_unlogged: Family::default(),
            peer_up: Family::default(),
            peer_last_seen: Family::default(),
            roster_version: Gauge::default(),
            notify_queue_depth: Family::default(),
            checkpoint_lag: Gauge::default(),
            peer_clock_offset: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "notices_received",
            "Notices accepted from peers, by kind",
            m.received.clone(),
        );
        registry.register("notices_sent", "Notices sent, by kind", m.sent.clone());
        registry.register(
            "rejections",
            "Deliveries this node rejected, by reason",
            m.rejected.clone(),
        );
        registry.register(
            "outbox_depth",
            "Notices waiting for delivery, by recipient",
            m.outbox_depth.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "From queueing a notice to logging its receipt",
            m.delivery_latency.clone(),
        );
        registry.register(
            "split_views",
            "Inconsistent checkpoints seen while witnessing",
            m.split_views.clone(),
        );
        registry.register(
            "rejections_unlogged",
            "Rejections counted but not logged one by one (over the per-peer limit), by peer",
            m.rejections_unlogged.clone(),
        );
        registry.register(
            "roster_push_failures",
            "Roster pushes a peer did not take (it is down, or already newer)",
            m.roster_push_failures.clone(),
        );
        registry.register(
            "peer_up",
            "Whether the last exchange with a peer worked (1) or failed (0), by peer",
            m.peer_up.clone(),
        );
        registry.register(
            "peer_last_seen_unix_seconds",
            "When a peer last answered or connected, by peer",
            m.peer_last_seen.clone(),
        );
        registry.register(
            "roster_version",
            "The version of the roster in force",
            m.roster_version.clone(),
        );
        registry.register(
            "checkpoint_lag_seconds",
            "How long the oldest entry no signed checkpoint covers has waited (0: the latest checkpoint covers the log)",
            m.checkpoint_lag.clone(),
        );
        registry.register(
            "notify_queue_depth",
            "Log entries a webhook has yet to be told of, by webhook",
            m.notify_queue_depth.clone(),
        );
        registry.register(
            "peer_clock_offset_seconds",
            "How far a peer's clock was ahead of this node's (negative: behind) when it last signed receipts, by peer",
            m.peer_clock_offset.clone(),
        );
        Self { registry, ..m }
    }

    /// What this node saw of `peer`: whether it answered, and when it
    /// last did.
    pub(crate) fn peer_seen(&self, peer: &isop_core::OrgId, up: bool, last: isop_core::UnixMillis) {
        let label = Self::label("peer", peer.to_string());
        self.peer_up.get_or_create(&label).set(i64::from(up));
        if last.0 > 0 {
            self.peer_last_seen
                .get_or_create(&label)
                .set(i64::try_from(last.0 / 1000).unwrap_or(i64::MAX));
        }
    }

    /// What the `/metrics` endpoint encodes.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn label(name: &str, value: impl ToString) -> Labels {
        vec![(name.to_owned(), value.to_string())]
    }
}
