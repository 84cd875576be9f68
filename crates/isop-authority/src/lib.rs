//! The federation authority and local federations.
//!
//! [`Authority`] is the federation authority's side of onboarding: the CA,
//! the roster key, the roster's editing and signing, an org's keys and CSR
//! ([`keys_gen`]) and a node's first config ([`node_init`]), as the `isop`
//! CLI's `ca`, `roster`, `keys`, `certs` and `node init` commands use them.
//! [`LocalFederation`] is a whole federation on this machine, onboarded by
//! the same steps, for the demo and tests: not for production (every
//! secret sits in one directory).

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod authority;
mod federation;

pub use authority::{Authority, NewMember, OrgKeys, SignedRoster, cert_pin, keys_gen, node_init};
pub use federation::{LocalFederation, LocalMember, MemberSpec, Ports};
