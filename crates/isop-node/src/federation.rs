//! A whole federation on this machine: a CA, keys and certificates, a
//! signed roster with each member's pinned TLS key and loopback endpoint,
//! and a config per node. For the demo, the example federation and tests;
//! marked not for production (every secret sits in one directory).

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use isop_core::{KeyId, OrgId, Role, RosterBuilder, RosterKey, SecretKey, Signer, UnixMillis, pb};
use isop_net::pki::{self, CertifiedKey};
use prost::Message;

use crate::config::{
    DeliveryConfig, RosterKeyConfig, WitnessConfig, now, write_private, write_signing_key,
};
use crate::{Error, Node, NodeConfig};

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

const YEAR: u64 = 365 * 86_400_000;

fn write(path: &Path, contents: &[u8]) -> Result<(), Error> {
    std::fs::write(path, contents).map_err(|e| Error::Config {
        path: path.display().to_string(),
        why: e.to_string(),
    })
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

    /// Creates the federation; each member with ephemeral ports listens
    /// where `listen` says (a socket bound there, if any).
    fn create_at(
        dir: &Path,
        federation: &str,
        specs: &[MemberSpec],
        groups: &[(&str, &[&str])],
        ports: Ports,
        listen: &dyn Fn() -> Result<(Option<UdpSocket>, SocketAddr), Error>,
    ) -> Result<Self, Error> {
        let mkdir = |p: &Path| {
            std::fs::create_dir_all(p).map_err(|e| Error::Config {
                path: p.display().to_string(),
                why: e.to_string(),
            })
        };
        mkdir(dir)?;
        let t = now();
        let (from, to) = (
            UnixMillis(t.0.saturating_sub(86_400_000)),
            UnixMillis(t.0 + YEAR),
        );
        let ca = pki::generate_ca(
            &format!("{federation} federation CA"),
            from,
            UnixMillis(t.0 + 10 * YEAR),
        )?;
        write(&dir.join("ca.crt"), ca.cert_pem.as_bytes())?;
        write_private(&dir.join("ca.key"), ca.key_pem.as_bytes())?;
        let mut rng = rand::rngs::OsRng;
        let authority: OrgId = federation.to_uppercase().parse()?;
        // The roster key's seed is kept (0600) so the authority can sign later versions.
        let roster_key = SecretKey::generate(&mut rng);
        write_signing_key(&dir.join("roster.key"), &roster_key)?;
        let roster_signer = Signer::new(KeyId::new(authority, "roster".parse()?), roster_key);

        let mut builder = RosterBuilder::new(federation, 1, t);
        let mut members = Vec::new();
        for spec in specs {
            let home = dir.join(spec.org.as_str());
            mkdir(&home)?;
            let key = SecretKey::generate(&mut rng);
            let key_name = "k1".parse()?;
            builder = builder
                .member(&spec.org, &spec.name, spec.role, &spec.country)
                .key(&spec.org, &key_name, &key.public(), from, to)?;
            write_signing_key(&home.join("signing.key"), &key)?;
            let tls_key = pki::generate_tls_key()?;
            let cert = pki::issue(&ca, &spec.org, &tls_key, from, to)?;
            write_private(&home.join("tls.key"), tls_key.as_bytes())?;
            write(&home.join("tls.crt"), cert.as_bytes())?;
            let (socket, addr, api_addr) = match ports {
                Ports::Ephemeral => {
                    let (socket, addr) = listen()?;
                    (socket, addr, SocketAddr::from(([127, 0, 0, 1], 0)))
                }
                Ports::Fixed { quic, api } => {
                    let i = u16::try_from(members.len())
                        .map_err(|_| Error::Invalid("too many members".into()))?;
                    (
                        None,
                        SocketAddr::from(([127, 0, 0, 1], quic + i)),
                        SocketAddr::from(([127, 0, 0, 1], api + i)),
                    )
                }
            };
            let pin = pki::spki_sha256(&pki::certs_from_pem(&cert)?[0])?;
            builder = builder.tls(&spec.org, pin, &addr.to_string())?;
            let config = NodeConfig {
                org: spec.org.to_string(),
                data_dir: home.join("data"),
                listen: addr,
                signing_key: home.join("signing.key"),
                signing_key_name: "k1".into(),
                tls_cert: home.join("tls.crt"),
                tls_key: home.join("tls.key"),
                ca: dir.join("ca.crt"),
                roster: dir.join("roster.bin"),
                roster_key: RosterKeyConfig {
                    name: roster_signer.id().to_string(),
                    public_key: hex::encode(roster_signer.public().as_bytes()),
                },
                max_frame_bytes: isop_net::DEFAULT_MAX_FRAME,
                max_clock_skew_ms: isop_core::Judgement::DEFAULT_MAX_SKEW_MS,
                max_notice_age_ms: isop_core::Judgement::DEFAULT_MAX_AGE_MS,
                max_logged_rejections_per_minute: 120,
                // Quick retries and on-demand witnessing for a machine-local
                // run; a long-lived example federation keeps the defaults.
                delivery: match ports {
                    Ports::Ephemeral => DeliveryConfig {
                        initial_backoff_ms: 50,
                        max_backoff_ms: 1000,
                        connect_timeout_ms: 1000,
                        ..DeliveryConfig::default()
                    },
                    Ports::Fixed { .. } => DeliveryConfig::default(),
                },
                witness: match ports {
                    Ports::Ephemeral => WitnessConfig { interval_ms: 0 },
                    Ports::Fixed { .. } => WitnessConfig::default(),
                },
                api: Some(crate::config::ApiConfig {
                    listen: api_addr,
                    token_file: home.join("api.token"),
                    allow_non_loopback: false,
                }),
                clock: Default::default(),
            };
            // The file names paths relative to itself, so the directory can move.
            let relative = NodeConfig {
                data_dir: "data".into(),
                signing_key: "signing.key".into(),
                tls_cert: "tls.crt".into(),
                tls_key: "tls.key".into(),
                ca: "../ca.crt".into(),
                roster: "../roster.bin".into(),
                api: config.api.clone().map(|a| crate::config::ApiConfig {
                    token_file: "api.token".into(),
                    ..a
                }),
                ..config.clone()
            };
            let toml = toml::to_string_pretty(&relative).map_err(|e| Error::Config {
                path: "node.toml".into(),
                why: e.to_string(),
            })?;
            write(&home.join("node.toml"), toml.as_bytes())?;
            members.push(LocalMember {
                spec: spec.clone(),
                config,
                addr,
                socket,
            });
        }
        for (id, names) in groups {
            let orgs: Vec<OrgId> = names.iter().map(|n| n.parse()).collect::<Result<_, _>>()?;
            builder = builder.group(id, id, &orgs.iter().collect::<Vec<_>>());
        }
        let roster = builder.build()?;
        let fed = Self {
            dir: dir.to_path_buf(),
            ca,
            roster_signer,
            roster,
            members,
            #[cfg(feature = "memory")]
            network: None,
        };
        write(
            &dir.join("roster.bin"),
            &fed.sign(&fed.roster)?.encode_to_vec(),
        )?;
        Ok(fed)
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
