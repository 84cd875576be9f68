//! An isop node: the core, the log and the transport put together.
//!
//! A node loads its config ([`NodeConfig`]), verifies the roster against
//! the roster key, opens its log, and listens on QUIC with mutual TLS,
//! admitting only roster members with pinned keys. It sends notices
//! ([`Node::send`]: policy-checked, logged OUTBOUND, queued per recipient),
//! delivers them from the durable outbox with retries, receives deliveries
//! (signature, sender, policy, labels and TLP checked in that order, then
//! appended once and answered with a signed receipt), answers sync, proof
//! and checkpoint requests, takes newer rosters and passes them on, and
//! witnesses its peers' logs.
//!
//! It knows no sled, quinn or rustls: those stay in isop-store and
//! isop-net.

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod api;
mod audit;
pub mod config;
mod console;
mod correlate;
mod erase;
mod error;
mod identity;
mod matching;
mod metrics;
mod node;
mod notify;
mod peer;
mod run;
mod send;
mod state;
pub mod submit;
mod users;

pub use config::{Clock, NodeConfig, now};
pub use error::{Error, Fault};
pub use identity::Identity;
pub use matching::MatchReport;
pub use node::Node;
pub use peer::Witnessed;
pub use run::{RunEvent, run};
pub use send::Sent;
pub use state::{Held, LoggedNotice};
