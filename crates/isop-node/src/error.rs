//! The node's error type.

/// Everything that can go wrong in a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file cannot be read or is invalid.
    #[error("config {path}: {why}")]
    Config {
        /// The config file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// A key file is missing, malformed, or readable by others.
    #[error("key file {path}: {why}")]
    KeyFile {
        /// The key file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// A core check failed.
    #[error(transparent)]
    Core(#[from] isop_core::Error),
    /// The log failed.
    #[error(transparent)]
    Store(#[from] isop_store::Error),
    /// The transport failed.
    #[error(transparent)]
    Net(#[from] isop_net::Error),
    /// The roster does not allow something.
    #[error("roster: {0}")]
    Roster(String),
    /// A peer cannot be reached.
    #[error("peer {org}: {why}")]
    Peer {
        /// The peer.
        org: isop_core::OrgId,
        /// Why.
        why: String,
    },
    /// A request is invalid.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
}
