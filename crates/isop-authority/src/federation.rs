//! A whole federation on this machine: a CA, keys and certificates, a
//! signed roster with each member's pinned TLS key and loopback endpoint,
//! and a config per node. For the demo, the example federation and tests;
//! marked not for production (every secret sits in one directory).

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use isop_core::{OrgId, Role, RosterKey, Signer, UnixMillis, pb};
use isop_net::pki::CertifiedKey;
use isop_node::config::{ApiConfig, DeliveryConfig, WitnessConfig};
use isop_node::{Error, Node, NodeConfig, now};
use prost::Message;

use crate::authority::{Authority, DAY, NewMember, keys_gen, write_new};

/// One member to create.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    /// Org id.
    pub org: OrgId,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Country.
    pub country: String,
}

impl MemberSpec {
    /// A member.
    pub fn new(org: &str, name: &str, role: Role, country: &str) -> Result<Self, Error> {
        Ok(Self {
            org: org.parse()?,
            name: name.into(),
            role,
            country: country.into(),
        })
    }
}

/// Which ports a local federation's nodes use on 127.0.0.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// Ports the system picks, bound at creation (tests, the demo).
    Ephemeral,
    /// Member `i` listens on `quic + i` and serves its API on `api + i`.
    Fixed {
        /// The first QUIC port.
        quic: u16,
        /// The first API port.
        api: u16,
    },
}

/// A member of a local federation.
#[derive(Debug)]
pub struct LocalMember {
    /// What it is.
    pub spec: MemberSpec,
    /// Its node's config (also written to `<dir>/<org>/node.toml`).
    pub config: NodeConfig,
    /// Its QUIC address on loopback.
    pub addr: SocketAddr,
    socket: Option<UdpSocket>,
}

/// A federation on this machine.
#[derive(Debug)]
pub struct LocalFederation {
    /// Where everything lives.
    pub dir: PathBuf,
    /// The federation CA (with its key).
    pub ca: CertifiedKey,
    /// The roster key.
    pub roster_signer: Signer,
    /// The roster as signed, to make the next version from.
    pub roster: pb::Roster,
    /// The members.
    pub members: Vec<LocalMember>,
    /// The in-memory network its nodes run on, if they do not use QUIC.
    #[cfg(feature = "memory")]
    network: Option<isop_net::MemoryNetwork>,
}

impl LocalFederation {
    /// Creates the federation in `dir`, with `groups` (id, members), and
    /// binds each member's UDP port on 127.0.0.1 so the roster can name it.
    pub fn create(
        dir: &Path,
        federation: &str,
        specs: &[MemberSpec],
        groups: &[(&str, &[&str])],
    ) -> Result<Self, Error> {
        Self::create_with(dir, federation, specs, groups, Ports::Ephemeral)
    }

    /// As [`create`](Self::create), for nodes on the in-memory `network`
    /// (each at an address reserved there, without a local API): for
    /// deterministic tests of what nodes do, without sockets.
    #[cfg(feature = "memory")]
    pub fn create_in_memory(
        dir: &Path,
        federation: &str,
        specs: &[MemberSpec],
        groups: &[(&str, &[&str])],
        network: &isop_net::MemoryNetwork,
    ) -> Result<Self, Error> {
        let mut fed = Self::create_at(dir, federation, specs, groups, Ports::Ephemeral, &|| {
            Ok((None, network.reserve()))
        })?;
        for m in &mut fed.members {
            m.config.api = None;
        }
        fed.network = Some(network.clone());
        Ok(fed)
    }

    /// As [`create`](Self::create), with a choice of ports.
    pub fn create_with(
        dir: &Path,
        federation: &str,
        specs: &[MemberSpec],
        groups: &[(&str, &[&str])],
        ports: Ports,
    ) -> Result<Self, Error> {
        Self::create_at(dir, federation, specs, groups, ports, &|| {
            let bind_err = |e: std::io::Error| Error::Config {
                path: "listen".into(),
                why: e.to_string(),
            };
            let socket = UdpSocket::bind("127.0.0.1:0").map_err(bind_err)?;
            let addr = socket.local_addr().map_err(bind_err)?;
            Ok((Some(socket), addr))
        })
    }

    /// Creates the federation as an authority onboards it: the authority
    /// in `dir`; for each member, its keys and CSR in `dir/<org>` (as
    /// `isop keys gen` makes them), its certificate issued from the CSR,
    /// its entry in the draft roster, and its node's config; then the
    /// groups, and roster v1 signed. Each member with ephemeral ports
    /// listens where `listen` says (a socket bound there, if any).
    fn create_at(
        dir: &Path,
        federation: &str,
        specs: &[MemberSpec],
        groups: &[(&str, &[&str])],
        ports: Ports,
        listen: &dyn Fn() -> Result<(Option<UdpSocket>, SocketAddr), Error>,
    ) -> Result<Self, Error> {
        let authority = Authority::create(dir, federation)?;
        let roster_key = Authority::roster_key_of(dir)?;
        // Keys valid from a day ago: tests play out outages on a clock
        // set back by hours.
        let key_valid_from = UnixMillis(now().0.saturating_sub(DAY));
        let mut members = Vec::new();
        for spec in specs {
            let home = dir.join(spec.org.as_str());
            let keys = keys_gen(&home, &spec.org)?;
            let cert = authority.issue(&spec.org, &keys.csr_pem, 365)?;
            write_new(&home.join("tls.crt"), cert.as_bytes())?;
            let (socket, addr, api_addr) = match ports {
                Ports::Ephemeral => {
                    let (socket, addr) = listen()?;
                    (socket, addr, SocketAddr::from(([127, 0, 0, 1], 0)))
                }
                Ports::Fixed { quic, api } => {
                    let i = u16::try_from(members.len()).map_err(|_| Error::Config {
                        path: "members".into(),
                        why: "too many for fixed ports".into(),
                    })?;
                    (
                        None,
                        SocketAddr::from(([127, 0, 0, 1], quic + i)),
                        SocketAddr::from(([127, 0, 0, 1], api + i)),
                    )
                }
            };
            authority.add_member(&NewMember {
                org: &spec.org,
                display_name: &spec.name,
                role: spec.role,
                country: &spec.country,
                key_name: &"k1".parse()?,
                public_key_hex: &keys.public_key_hex,
                key_valid_from,
                tls_cert_pem: &cert,
                endpoint: &addr.to_string(),
                clearances: &[],
            })?;
            // The file names paths relative to itself, so the directory can move.
            let mut relative = NodeConfig::new(&spec.org, addr, roster_key.clone());
            relative.ca = "../ca.crt".into();
            relative.roster = "../roster.bin".into();
            relative.api = Some(ApiConfig {
                listen: api_addr,
                token_file: "api.token".into(),
                allow_non_loopback: false,
            });
            if ports == Ports::Ephemeral {
                // Quick retries and on-demand witnessing for a machine-local
                // run; a long-lived example federation keeps the defaults.
                relative.delivery = DeliveryConfig {
                    initial_backoff_ms: 50,
                    max_backoff_ms: 1000,
                    connect_timeout_ms: 1000,
                    ..DeliveryConfig::default()
                };
                relative.witness = WitnessConfig { interval_ms: 0 };
            }
            let toml = toml::to_string_pretty(&relative).map_err(|e| Error::Config {
                path: "node.toml".into(),
                why: e.to_string(),
            })?;
            write_new(&home.join("node.toml"), toml.as_bytes())?;
            members.push(LocalMember {
                spec: spec.clone(),
                config: NodeConfig::load(&home.join("node.toml"))?,
                addr,
                socket,
            });
        }
        for (id, names) in groups {
            let orgs: Vec<OrgId> = names.iter().map(|n| n.parse()).collect::<Result<_, _>>()?;
            authority.add_group(id, id, &orgs)?;
        }
        let roster = pb::Roster::decode(authority.sign()?.envelope.payload)
            .map_err(|e| Error::Roster(format!("the roster just signed does not decode: {e}")))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            ca: authority.ca()?,
            roster_signer: authority.into_signer(),
            roster,
            members,
            #[cfg(feature = "memory")]
            network: None,
        })
    }

    /// Signs a roster with the roster key.
    pub fn sign(&self, roster: &pb::Roster) -> Result<pb::Envelope, Error> {
        Ok(isop_core::Roster::sign(roster, &self.roster_signer)?)
    }

    /// The federation's roster key (the trust anchor nodes and auditors use).
    pub fn roster_key(&self) -> RosterKey {
        RosterKey::of(&self.roster_signer)
    }

    /// The member `org`.
    pub fn member(&self, org: &str) -> Result<&LocalMember, Error> {
        self.members
            .iter()
            .find(|m| m.spec.org.as_str() == org)
            .ok_or_else(|| Error::Roster(format!("{org} is not a member")))
    }

    /// The member `org`, to change its config before it starts.
    pub fn member_mut(&mut self, org: &str) -> Result<&mut LocalMember, Error> {
        self.members
            .iter_mut()
            .find(|m| m.spec.org.as_str() == org)
            .ok_or_else(|| Error::Roster(format!("{org} is not a member")))
    }

    /// Starts `org`'s node on its port (the port bound at creation the
    /// first time, the same address afterwards).
    pub async fn start(&mut self, org: &str) -> Result<Node, Error> {
        let member = self
            .members
            .iter_mut()
            .find(|m| m.spec.org.as_str() == org)
            .ok_or_else(|| Error::Roster(format!("{org} is not a member")))?;
        #[cfg(feature = "memory")]
        if let Some(network) = &self.network {
            return Node::bind_memory(member.config.clone(), network).await;
        }
        let socket = match member.socket.take() {
            Some(s) => s,
            None => rebind(member.addr)?,
        };
        Node::bind_socket(member.config.clone(), socket).await
    }
}

/// Binds `addr` again after a node on it stopped. The QUIC driver of the
/// stopped node releases its socket from a background task a moment after
/// shutdown returns, so this waits (bounded) for the port to be free.
fn rebind(addr: SocketAddr) -> Result<UdpSocket, Error> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match UdpSocket::bind(addr) {
            Ok(s) => return Ok(s),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => {
                return Err(Error::Config {
                    path: "listen".into(),
                    why: format!("rebinding {addr}: {e}"),
                });
            }
        }
    }
}
