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
    /// A request the roster's limits refuse (a matching beyond its
    /// policy), or a peer refused for them.
    #[error("{0}")]
    Refused(String),
    /// What a request names does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// A task of the node's own failed (a panic, or the runtime stopping).
    #[error("{what}: the task failed: {why}")]
    Task {
        /// What the task was doing.
        what: &'static str,
        /// How it failed.
        why: String,
    },
    /// A node's local API cannot be reached or refused a request (the
    /// CLI's client).
    #[error("{0}")]
    LocalApi(String),
}

/// What kind of failure an error is, which decides how the node answers
/// it: to a peer (a frame's error code) and over the local API (an HTTP
/// status). Each error's kind is decided once, by [`Error::fault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The request is wrong: it names what to fix.
    Invalid,
    /// The requester may not do this (policy, TLP, roster, key).
    Forbidden,
    /// What was asked for does not exist.
    NotFound,
    /// A peer failed, or cannot be reached.
    Peer,
    /// The node is shutting down: ask again later.
    Unavailable,
    /// The node cannot make anything durable now (its disk is full):
    /// nothing was written; retry later.
    Exhausted,
    /// This node failed: retry later.
    Internal,
}

impl Error {
    /// What kind of failure this is.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Core(e) | Self::Store(isop_store::Error::Core(e)) => core_fault(e),
            Self::Invalid(_) => Fault::Invalid,
            Self::Roster(_) | Self::Refused(_) => Fault::Forbidden,
            Self::NotFound(_) => Fault::NotFound,
            Self::Peer { .. } | Self::Net(_) | Self::LocalApi(_) => Fault::Peer,
            Self::ShuttingDown => Fault::Unavailable,
            Self::Store(isop_store::Error::DiskFull { .. }) => Fault::Exhausted,
            Self::Config { .. } | Self::KeyFile { .. } | Self::Store(_) | Self::Task { .. } => {
                Fault::Internal
            }
        }
    }

    /// The error code a peer's request is answered with.
    pub fn wire_code(&self) -> isop_core::pb::ErrorCode {
        use isop_core::pb::ErrorCode as C;
        match self.fault() {
            // A peer's request the core refuses is not for this peer.
            Fault::Invalid | Fault::Forbidden => C::Forbidden,
            Fault::NotFound => C::NotFound,
            Fault::Exhausted => C::ResourceExhausted,
            Fault::Peer | Fault::Unavailable | Fault::Internal => C::Internal,
        }
    }
}

/// The kind of a core error: a tree size or proof range past the log is
/// not found; what the policy or TLP refuses, a revoked member and a key
/// revoked or expired are forbidden; the rest is a request (or notice)
/// that breaks a rule, an unknown org named in it among them.
fn core_fault(e: &isop_core::Error) -> Fault {
    use isop_core::Error as E;
    match e {
        E::TreeSize { .. } | E::ProofRange(_) => Fault::NotFound,
        // What the roster has revoked or let expire can never be used.
        E::PolicyDenied { .. }
        | E::TlpForbids { .. }
        | E::OrgRevoked(_)
        | E::KeyNotValid { .. } => Fault::Forbidden,
        _ => Fault::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isop_core::pb::ErrorCode as C;

    #[test]
    fn each_error_kind_is_answered_one_way() {
        let org: isop_core::OrgId = "KR-KNPA".parse().unwrap();
        let cases: Vec<(Error, Fault, C)> = vec![
            (
                isop_core::Error::TreeSize {
                    size: 9,
                    available: 3,
                }
                .into(),
                Fault::NotFound,
                C::NotFound,
            ),
            (
                isop_store::Error::Core(isop_core::Error::ProofRange("past the log".into())).into(),
                Fault::NotFound,
                C::NotFound,
            ),
            (
                isop_core::Error::TlpForbids {
                    tlp: isop_core::Tlp::Red,
                    why: "not addressed".into(),
                }
                .into(),
                Fault::Forbidden,
                C::Forbidden,
            ),
            (
                isop_core::Error::UnknownOrg(org.clone()).into(),
                Fault::Invalid,
                C::Forbidden,
            ),
            (
                isop_core::Error::InvalidNotice {
                    what: "notice.to".into(),
                    why: "it reaches no member".into(),
                }
                .into(),
                Fault::Invalid,
                C::Forbidden,
            ),
            (
                Error::Roster("no key".into()),
                Fault::Forbidden,
                C::Forbidden,
            ),
            (
                Error::Peer {
                    org,
                    why: "unreachable".into(),
                },
                Fault::Peer,
                C::Internal,
            ),
            (Error::ShuttingDown, Fault::Unavailable, C::Internal),
            (
                isop_store::Error::DiskFull {
                    path: "/var/lib/isop".into(),
                    available: 4096,
                    reserve: 64 << 20,
                }
                .into(),
                Fault::Exhausted,
                C::ResourceExhausted,
            ),
            (
                Error::Task {
                    what: "checking deliveries",
                    why: "panicked".into(),
                },
                Fault::Internal,
                C::Internal,
            ),
        ];
        for (error, fault, code) in cases {
            assert_eq!((error.fault(), error.wire_code()), (fault, code), "{error}");
        }
    }
}
