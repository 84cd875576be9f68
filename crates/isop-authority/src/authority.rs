//! Onboarding a federation: the federation authority's directory (CA, roster
//! key, the signed roster and a draft of the next version), an org's keys
//! and CSR, certificates, and a node's first config.
//!
//! The authority's directory holds `ca.crt`, `ca.key` (0600), `roster.key`
//! (0600), `roster.pub`, `roster.bin` (the roster in force, signed) and,
//! while edits are pending, `roster.draft` (the next version, unsigned;
//! before the first roster is signed, version 1).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use isop_core::{
    KeyId, KeyName, OrgId, Role, Roster, RosterBuilder, RosterKey, SecretKey, Signer, UnixMillis,
    pb,
};
use isop_net::pki::{self, CertifiedKey};
use prost::Message;

use isop_node::config::{
    ApiConfig, RosterKeyConfig, check_private, load_roster_key, public_key_hex, read_roster_pub,
    read_signing_key, write_private, write_signing_key,
};
use isop_node::{Error, NodeConfig, now};

pub(crate) const DAY: u64 = 86_400_000;
pub(crate) const YEAR: u64 = 365 * DAY;

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Config {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

pub(crate) fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(io(path))
}

pub(crate) fn write_new(path: &Path, contents: &[u8]) -> Result<(), Error> {
    if path.exists() {
        return Err(Error::Config {
            path: path.display().to_string(),
            why: "exists already; not overwritten".into(),
        });
    }
    std::fs::write(path, contents).map_err(io(path))
}

/// The federation authority's directory.
#[derive(Debug)]
pub struct Authority {
    dir: PathBuf,
    signer: Signer,
}

/// A roster as signed, verified.
#[derive(Debug)]
pub struct SignedRoster {
    /// The roster.
    pub roster: Roster,
    /// Its signed envelope, as nodes take it.
    pub envelope: pb::Envelope,
}

/// A member to add to the next roster.
#[derive(Clone, Debug)]
pub struct NewMember<'a> {
    /// Its org id.
    pub org: &'a OrgId,
    /// Its display name.
    pub display_name: &'a str,
    /// Its role.
    pub role: Role,
    /// Its country (ISO 3166-1 alpha-2).
    pub country: &'a str,
    /// Its signing key's name.
    pub key_name: &'a KeyName,
    /// Its signing key's public half, hex.
    pub public_key_hex: &'a str,
    /// When its signing key becomes valid (it stays valid for a year).
    pub key_valid_from: UnixMillis,
    /// Its TLS certificate, PEM: the roster pins its key.
    pub tls_cert_pem: &'a str,
    /// Its endpoint, `host:port`.
    pub endpoint: &'a str,
    /// Its clearance tokens.
    pub clearances: &'a [String],
}

impl Authority {
    /// Creates the authority: a CA valid for ten years, a roster key, and
    /// a signed, empty roster v1 with the standard policy.
    pub fn init(dir: &Path, federation: &str) -> Result<Self, Error> {
        let authority = Self::create(dir, federation)?;
        authority.sign()?;
        Ok(authority)
    }

    /// Creates the authority with no roster in force yet: a CA valid for
    /// ten years, a roster key, and an empty draft of roster v1 with the
    /// standard policy, for members to be added to before it is signed.
    pub fn create(dir: &Path, federation: &str) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let t = now();
        let ca = pki::generate_ca(
            &format!("{federation} federation CA"),
            UnixMillis(t.0.saturating_sub(86_400_000)),
            UnixMillis(t.0 + 10 * YEAR),
        )?;
        write_new(&dir.join("ca.crt"), ca.cert_pem.as_bytes())?;
        write_private(&dir.join("ca.key"), ca.key_pem.as_bytes())?;
        let key = SecretKey::generate(&mut rand::rngs::OsRng);
        write_signing_key(&dir.join("roster.key"), &key)?;
        let signer = Signer::new(
            KeyId::new(federation.to_uppercase().parse()?, "roster".parse()?),
            key,
        );
        write_new(
            &dir.join("roster.pub"),
            format!(
                "{} {}\n",
                signer.id(),
                hex::encode(signer.public().as_bytes())
            )
            .as_bytes(),
        )?;
        let authority = Self {
            dir: dir.to_path_buf(),
            signer,
        };
        authority.save_draft(RosterBuilder::new(federation, 1, t))?;
        Ok(authority)
    }

    /// Opens an authority's directory.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let name = Self::roster_key_of(dir)?.name;
        let key = read_signing_key(&dir.join("roster.key"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            signer: Signer::new(name.parse()?, key),
        })
    }

    /// The roster key recorded in `<dir>/roster.pub`.
    pub fn roster_key_of(dir: &Path) -> Result<RosterKeyConfig, Error> {
        read_roster_pub(&dir.join("roster.pub"))
    }

    /// The authority's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The roster key's signer, the authority given up for it.
    pub fn into_signer(self) -> Signer {
        self.signer
    }

    /// The roster key.
    pub fn roster_key(&self) -> RosterKey {
        RosterKey::of(&self.signer)
    }

    /// The CA, with its key.
    pub fn ca(&self) -> Result<CertifiedKey, Error> {
        check_private(&self.dir.join("ca.key"))?;
        Ok(CertifiedKey {
            cert_pem: read(&self.dir.join("ca.crt"))?,
            key_pem: read(&self.dir.join("ca.key"))?,
        })
    }

    /// The roster in force, verified.
    pub fn roster(&self) -> Result<SignedRoster, Error> {
        roster_in(&self.dir, &self.roster_key())
    }

    /// The next version being prepared: the draft, or the roster in force.
    pub fn draft(&self) -> Result<pb::Roster, Error> {
        draft_in(&self.dir, &self.roster_key())
    }

    fn save_draft(&self, b: RosterBuilder) -> Result<pb::Roster, Error> {
        let roster = b.build()?;
        let path = self.dir.join("roster.draft");
        std::fs::write(&path, roster.encode_to_vec()).map_err(io(&path))?;
        Ok(roster)
    }

    fn publish(&self, roster: &pb::Roster) -> Result<pb::Envelope, Error> {
        let env = Roster::sign(roster, &self.signer)?;
        let path = self.dir.join("roster.bin");
        std::fs::write(&path, env.encode_to_vec()).map_err(io(&path))?;
        Ok(env)
    }

    /// Issues `org`'s TLS certificate from its CSR, valid for `days`.
    pub fn issue(&self, org: &OrgId, csr_pem: &str, days: u64) -> Result<String, Error> {
        let t = now();
        Ok(pki::issue_from_csr(
            &self.ca()?,
            org,
            csr_pem,
            UnixMillis(t.0.saturating_sub(3_600_000)),
            UnixMillis(t.0 + days * 86_400_000),
        )?)
    }

    /// Adds a member to the draft, with its signing key (valid for a year),
    /// the pin of its TLS certificate and its endpoint.
    pub fn add_member(&self, m: &NewMember<'_>) -> Result<pb::Roster, Error> {
        let draft = self.draft()?;
        if draft.members.iter().any(|d| d.org_id == m.org.as_str()) {
            return Err(Error::Roster(format!("{} is already a member", m.org)));
        }
        let key = public_key_hex(m.public_key_hex)?;
        let pin = cert_pin(m.org, m.tls_cert_pem)?;
        let mut b = RosterBuilder::from_pb(draft)
            .member(m.org, m.display_name, m.role, m.country)
            .key(
                m.org,
                m.key_name,
                &key,
                m.key_valid_from,
                UnixMillis(m.key_valid_from.0 + YEAR),
            )?
            .tls(m.org, pin, m.endpoint)?;
        for c in m.clearances {
            b = b.clearance(m.org, c)?;
        }
        self.save_draft(b)
    }

    /// Adds a group of members to the draft (see [`Self::group_add`]).
    pub fn add_group(&self, id: &str, name: &str, members: &[OrgId]) -> Result<pb::Roster, Error> {
        self.group_add(id, Some(name), members)
    }

    /// Puts `members` in group `id` in the draft, making the group (with
    /// `description`) if it is new; a description given replaces the old.
    /// A member already in it stays once.
    pub fn group_add(
        &self,
        id: &str,
        description: Option<&str>,
        members: &[OrgId],
    ) -> Result<pb::Roster, Error> {
        let mut draft = self.draft()?;
        let at = match draft.groups.iter().position(|g| g.id == id) {
            Some(at) => at,
            None => {
                draft.groups.push(pb::Group {
                    id: id.into(),
                    ..Default::default()
                });
                draft.groups.len() - 1
            }
        };
        let group = &mut draft.groups[at];
        if let Some(d) = description {
            group.description = d.into();
        }
        for m in members {
            if !group.members.iter().any(|g| g == m.as_str()) {
                group.members.push(m.to_string());
            }
        }
        self.save_draft(RosterBuilder::from_pb(draft))
    }

    /// Takes `members` out of group `id` in the draft; with none named,
    /// removes the group. An unknown group, or a member not in it, is an
    /// error naming what there is.
    pub fn group_remove(&self, id: &str, members: &[OrgId]) -> Result<pb::Roster, Error> {
        let mut draft = self.draft()?;
        let Some(at) = draft.groups.iter().position(|g| g.id == id) else {
            return Err(unknown_group(&draft, id));
        };
        if members.is_empty() {
            draft.groups.remove(at);
        } else {
            let group = &mut draft.groups[at];
            for m in members {
                let Some(i) = group.members.iter().position(|g| g == m.as_str()) else {
                    return Err(Error::Roster(format!(
                        "{m} is not in group {id} (its members: {})",
                        group.members.join(", ")
                    )));
                };
                group.members.remove(i);
            }
        }
        self.save_draft(RosterBuilder::from_pb(draft))
    }

    /// Group `id` as the draft has it.
    pub fn group(&self, id: &str) -> Result<pb::Group, Error> {
        let draft = self.draft()?;
        draft
            .groups
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or_else(|| unknown_group(&draft, id))
    }

    /// Adds a signing key to member `org` in the draft, valid from
    /// `not_before` to `not_after`: the next key, beside the one it
    /// replaces until that one retires ([`Self::retire_key`]).
    pub fn add_key(
        &self,
        org: &OrgId,
        key_name: &KeyName,
        public_key: &str,
        not_before: UnixMillis,
        not_after: UnixMillis,
    ) -> Result<pb::Roster, Error> {
        let draft = self.draft()?;
        let key = public_key_hex(public_key)?;
        if let Some(m) = draft.members.iter().find(|m| m.org_id == org.as_str()) {
            if let Some(k) = m.keys.iter().find(|k| k.name == key_name.as_str()) {
                return Err(Error::Roster(format!(
                    "{org} has a key named {} already (its keys: {}); choose a new name",
                    k.name,
                    key_names(m)
                )));
            }
            if let Some(k) = m.keys.iter().find(|k| k.public_key == key.as_bytes()[..]) {
                return Err(Error::Roster(format!(
                    "that public key is {org}/{} already",
                    k.name
                )));
            }
        }
        self.save_draft(
            RosterBuilder::from_pb(draft).key(org, key_name, &key, not_before, not_after)?,
        )
    }

    /// Retires key `key_name` of `org` in the draft: it is valid until
    /// `at` (exclusive), and what it signed before stays valid. It
    /// refuses to leave `org` with no key valid from `at` on: add the
    /// next key first.
    pub fn retire_key(
        &self,
        org: &OrgId,
        key_name: &KeyName,
        at: UnixMillis,
    ) -> Result<pb::Roster, Error> {
        let draft = self.draft()?;
        let m = member_in(&draft, org)?;
        let key = key_in(m, org, key_name)?;
        if at.0 <= key.not_before {
            return Err(Error::Roster(format!(
                "{org}/{key_name} only becomes valid at {}; retire it after that",
                isop_core::json::rfc3339(key.not_before)
            )));
        }
        let next = m.keys.iter().any(|k| {
            k.name != key_name.as_str()
                && k.not_before <= at.0
                && k.not_after > at.0
                && k.revoked_at.is_none()
        });
        if !next {
            return Err(Error::Roster(format!(
                "retiring {org}/{key_name} at {} would leave {org} no key to sign with: add its next key first (isop roster add-key)",
                isop_core::json::rfc3339(at.0)
            )));
        }
        self.save_draft(RosterBuilder::from_pb(draft).retire_key(org, key_name, at)?)
    }

    /// Revokes key `key_name` of `org` in the draft from `compromised_at`
    /// on (when it was, or may have been, compromised; at the latest
    /// now), saying why: signatures on payloads created from then on do
    /// not count, for nodes and auditors alike.
    pub fn revoke_key(
        &self,
        org: &OrgId,
        key_name: &KeyName,
        compromised_at: UnixMillis,
        reason: &str,
    ) -> Result<pb::Roster, Error> {
        isop_core::text::check_line(reason)
            .map_err(|why| Error::Roster(format!("the reason: {why}")))?;
        if reason.trim().is_empty() {
            return Err(Error::Roster(
                "say why the key is revoked (--reason)".into(),
            ));
        }
        let draft = self.draft()?;
        key_in(member_in(&draft, org)?, org, key_name)?;
        let at = UnixMillis(compromised_at.0.min(now().0));
        self.save_draft(RosterBuilder::from_pb(draft).revoke_key(org, key_name, at, reason)?)
    }

    /// Pins the key of `org`'s new TLS certificate (PEM) in the draft,
    /// beside its old pin: both are accepted until the old one is dropped
    /// ([`Self::drop_pin`]), so a renewal needs no downtime. Returns the
    /// pin.
    pub fn add_pin(&self, org: &OrgId, tls_cert_pem: &str) -> Result<[u8; 32], Error> {
        let draft = self.draft()?;
        member_in(&draft, org)?;
        let pin = cert_pin(org, tls_cert_pem)?;
        self.save_draft(RosterBuilder::from_pb(draft).pin(org, pin)?)?;
        Ok(pin)
    }

    /// Drops TLS pin `pin` of `org` in the draft (its last pin is kept).
    pub fn drop_pin(&self, org: &OrgId, pin: [u8; 32]) -> Result<pb::Roster, Error> {
        let draft = self.draft()?;
        member_in(&draft, org)?;
        self.save_draft(RosterBuilder::from_pb(draft).unpin(org, pin)?)
    }

    /// Sets, in the draft, whether status answers to referrals are copied
    /// to the hubs the referrals were sent to.
    pub fn copy_hub_on_status(&self, copy: bool) -> Result<pb::Roster, Error> {
        let mut draft = self.draft()?;
        draft.policy.get_or_insert_default().copy_hub_on_status = copy;
        self.save_draft(RosterBuilder::from_pb(draft))
    }

    /// Sets, in the draft, the matching rule of members of role `asker`
    /// asking members of role `answerer` (replacing the pair's rule), or
    /// with `None` takes the pair's right to match away.
    pub fn match_rule(
        &self,
        asker: isop_core::Role,
        answerer: isop_core::Role,
        rule: Option<isop_core::MatchRule>,
    ) -> Result<pb::Roster, Error> {
        let draft = Roster::try_from(self.draft()?)?;
        let mut policy = draft.policy().clone();
        policy
            .match_rules
            .retain(|r| (r.asker, r.answerer) != (asker, answerer));
        policy.match_rules.extend(rule);
        self.save_draft(RosterBuilder::from_pb(self.draft()?).policy(&policy))
    }

    /// What the pending version changes against the roster in force, one
    /// line each (see [`Roster::changes_from`]); empty with nothing
    /// pending. Before the first version is signed, everything is new.
    pub fn diff(&self) -> Result<Vec<String>, Error> {
        if !self.dir.join("roster.draft").exists() {
            return Ok(Vec::new());
        }
        let draft = Roster::try_from(self.draft()?)?;
        let in_force = if self.dir.join("roster.bin").exists() {
            self.roster()?.roster
        } else {
            Roster::try_from(
                RosterBuilder::new(draft.federation(), 1, now())
                    .policy(draft.policy())
                    .build()?,
            )?
        };
        Ok(draft.changes_from(&in_force))
    }

    /// The pending version, if edits are pending.
    pub fn pending(&self) -> Result<Option<Roster>, Error> {
        if !self.dir.join("roster.draft").exists() {
            return Ok(None);
        }
        Ok(Some(Roster::try_from(self.draft()?)?))
    }

    /// Removes a member from the draft: it is revoked from now on, and kept
    /// listed so that auditors can still judge what it signed before.
    pub fn remove_member(&self, org: &OrgId) -> Result<pb::Roster, Error> {
        self.save_draft(RosterBuilder::from_pb(self.draft()?).revoke_member(org, now())?)
    }

    /// Signs the draft as the next version (the first: version 1) and
    /// puts it in force. With nothing pending (no draft, a roster in
    /// force), it refuses: a new version would change nothing.
    pub fn sign(&self) -> Result<SignedRoster, Error> {
        if self.dir.join("roster.bin").exists() && self.diff()?.is_empty() {
            return Err(Error::Roster(
                "nothing is pending: add, revoke, remove or change a group first".into(),
            ));
        }
        let version = if self.dir.join("roster.bin").exists() {
            self.roster()?.roster.version() + 1
        } else {
            1
        };
        let next = RosterBuilder::from_pb(self.draft()?)
            .version(version, now())
            .build()?;
        let env = self.publish(&next)?;
        let draft = self.dir.join("roster.draft");
        if draft.exists() {
            std::fs::remove_file(&draft).map_err(io(&draft))?;
        }
        Ok(SignedRoster {
            roster: Roster::verify(&env, &self.roster_key())?,
            envelope: env,
        })
    }
}

/// Member `org` of `roster`, or an error naming the members there are.
fn member_in<'a>(roster: &'a pb::Roster, org: &OrgId) -> Result<&'a pb::Member, Error> {
    roster
        .members
        .iter()
        .find(|m| m.org_id == org.as_str())
        .ok_or_else(|| {
            Error::Roster(format!(
                "{org} is not a member (members: {})",
                roster
                    .members
                    .iter()
                    .map(|m| m.org_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// Key `name` of member `m`, or an error naming its keys.
fn key_in<'a>(m: &'a pb::Member, org: &OrgId, name: &KeyName) -> Result<&'a pb::SigningKey, Error> {
    m.keys
        .iter()
        .find(|k| k.name == name.as_str())
        .ok_or_else(|| {
            Error::Roster(format!(
                "{org} has no key named {name} (its keys: {})",
                key_names(m)
            ))
        })
}

fn key_names(m: &pb::Member) -> String {
    m.keys
        .iter()
        .map(|k| k.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pin (SPKI SHA-256) of `org`'s certificate `tls_cert_pem`, which
/// must name `org`.
pub fn cert_pin(org: &OrgId, tls_cert_pem: &str) -> Result<[u8; 32], Error> {
    let certs = pki::certs_from_pem(tls_cert_pem)?;
    let cert = certs
        .first()
        .ok_or_else(|| Error::Roster("no certificate".into()))?;
    let named = isop_net::PeerIdentity::from_cert(cert)
        .map_err(|e| Error::Roster(format!("the certificate: {e}")))?;
    if &named.org != org {
        return Err(Error::Roster(format!(
            "the certificate is {}'s, not {org}'s",
            named.org
        )));
    }
    Ok(pki::spki_sha256(cert)?)
}

/// An unknown group, named with the ones there are.
fn unknown_group(roster: &pb::Roster, id: &str) -> Error {
    let ids: Vec<&str> = roster.groups.iter().map(|g| g.id.as_str()).collect();
    Error::Roster(format!(
        "there is no group {id:?} (groups: {})",
        if ids.is_empty() {
            "none yet".to_owned()
        } else {
            ids.join(", ")
        }
    ))
}

/// The roster in force in the authority's directory `dir`, verified with
/// `key`.
fn roster_in(dir: &Path, key: &RosterKey) -> Result<SignedRoster, Error> {
    let path = dir.join("roster.bin");
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let envelope = pb::Envelope::decode(bytes.as_slice()).map_err(|e| Error::Config {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    Ok(SignedRoster {
        roster: Roster::verify(&envelope, key)?,
        envelope,
    })
}

/// The next version being prepared in the authority's directory `dir`:
/// the draft, or the roster in force (verified with `key`).
fn draft_in(dir: &Path, key: &RosterKey) -> Result<pb::Roster, Error> {
    let path = dir.join("roster.draft");
    if path.exists() {
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        return pb::Roster::decode(bytes.as_slice()).map_err(|e| Error::Config {
            path: path.display().to_string(),
            why: e.to_string(),
        });
    }
    let envelope = roster_in(dir, key)?.envelope;
    pb::Roster::decode(envelope.payload).map_err(|e| Error::Roster(e.to_string()))
}

/// What `keys gen` made.
#[derive(Debug)]
pub struct OrgKeys {
    /// The signing key's public half, hex.
    pub public_key_hex: String,
    /// The CSR, PEM.
    pub csr_pem: String,
}

/// Makes an org's ed25519 signing key and TLS key (both 0600) and a CSR
/// in `dir`: `signing.key`, `signing.pub`, `tls.key`, `tls.csr`.
pub fn keys_gen(dir: &Path, org: &OrgId) -> Result<OrgKeys, Error> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let key = SecretKey::generate(&mut rand::rngs::OsRng);
    write_signing_key(&dir.join("signing.key"), &key)?;
    let public_key_hex = hex::encode(key.public().as_bytes());
    write_new(
        &dir.join("signing.pub"),
        format!("{public_key_hex}\n").as_bytes(),
    )?;
    let tls_key = pki::generate_tls_key()?;
    write_private(&dir.join("tls.key"), tls_key.as_bytes())?;
    let csr_pem = pki::csr(org, &tls_key)?;
    write_new(&dir.join("tls.csr"), csr_pem.as_bytes())?;
    Ok(OrgKeys {
        public_key_hex,
        csr_pem,
    })
}

/// Writes `dir/node.toml` for `org`, with the files `keys gen` and the
/// authority made (the CA and roster are copied into `dir`). The node
/// listens at `listen`, or else where the authority's roster lists its
/// endpoint (its port on all interfaces when the endpoint names a host).
pub fn node_init(
    dir: &Path,
    org: &OrgId,
    authority_dir: &Path,
    listen: Option<SocketAddr>,
    api: Option<SocketAddr>,
) -> Result<PathBuf, Error> {
    let listen = match listen {
        Some(listen) => listen,
        None => {
            // From the authority's public files: no secret key is read.
            let key = load_roster_key(&authority_dir.join("roster.pub"))?;
            let endpoint = draft_in(authority_dir, &key)?
                .members
                .into_iter()
                .find(|m| m.org_id == org.as_str())
                .and_then(|m| m.endpoints.into_iter().next())
                .ok_or_else(|| Error::Config {
                    path: "listen".into(),
                    why: format!(
                        "the roster lists no endpoint for {org}: add the member with --endpoint, or give --listen"
                    ),
                })?;
            listen_at(&endpoint)?
        }
    };
    for f in ["ca.crt", "roster.bin"] {
        std::fs::copy(authority_dir.join(f), dir.join(f)).map_err(io(&authority_dir.join(f)))?;
    }
    let mut config = NodeConfig::new(org, listen, Authority::roster_key_of(authority_dir)?);
    config.api = api.map(|listen| ApiConfig {
        listen,
        token_file: "api.token".into(),
        allow_non_loopback: false,
    });
    let path = dir.join("node.toml");
    let text = toml::to_string_pretty(&config).map_err(|e| Error::Config {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    write_new(&path, text.as_bytes())?;
    Ok(path)
}

/// Where a node whose roster endpoint is `endpoint` (`host:port`)
/// listens: that address if the host is an IP address, else its port on
/// all interfaces.
fn listen_at(endpoint: &str) -> Result<SocketAddr, Error> {
    if let Ok(addr) = endpoint.parse() {
        return Ok(addr);
    }
    let port = endpoint
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .ok_or_else(|| Error::Config {
            path: "listen".into(),
            why: format!("the roster's endpoint {endpoint:?} is not host:port"),
        })?;
    Ok(SocketAddr::from(([0, 0, 0, 0], port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_is_onboarded_into_the_next_signed_version() {
        let dir = tempfile::tempdir().unwrap();
        let authority = Authority::create(&dir.path().join("authority"), "isop-test").unwrap();
        // Nothing is in force until the first roster is signed: version 1.
        assert!(authority.roster().is_err());
        let org: OrgId = "KR-KNPA".parse().unwrap();
        let keys = keys_gen(&dir.path().join("KR-KNPA"), &org).unwrap();
        let cert = authority.issue(&org, &keys.csr_pem, 30).unwrap();
        let member = NewMember {
            org: &org,
            display_name: "Korean National Police Agency",
            role: Role::Agency,
            country: "KR",
            key_name: &"k1".parse().unwrap(),
            public_key_hex: &keys.public_key_hex,
            key_valid_from: now(),
            tls_cert_pem: &cert,
            endpoint: "127.0.0.1:4433",
            clearances: &["pii:handler".into()],
        };
        authority.add_member(&member).unwrap();
        let e = authority.add_member(&member).unwrap_err();
        assert!(e.to_string().contains("already a member"), "{e}");
        let v1 = authority.sign().unwrap().roster;
        assert_eq!(v1.version(), 1);
        let m = v1.member(&org).unwrap();
        assert_eq!(
            hex::encode(m.keys[0].public.as_bytes()),
            keys.public_key_hex
        );
        assert_eq!(
            m.tls_pins[0],
            pki::spki_sha256(&pki::certs_from_pem(&cert).unwrap()[0]).unwrap()
        );
        // The next edit goes into version 2, signed by the same key.
        authority
            .revoke_key(&org, &"k1".parse().unwrap(), now(), "laptop stolen")
            .unwrap();
        assert_eq!(authority.sign().unwrap().roster.version(), 2);
        let reopened = Authority::open(authority.dir()).unwrap();
        assert_eq!(reopened.roster().unwrap().roster.version(), 2);
        assert!(!authority.dir().join("roster.draft").exists());
    }

    #[test]
    fn keys_and_pins_rotate_in_the_draft_and_bad_edits_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let authority = Authority::create(&dir.path().join("authority"), "isop-test").unwrap();
        let mut certs = Vec::new();
        for org in ["KR-KNPA", "GB-PIPCU"] {
            let org: OrgId = org.parse().unwrap();
            let keys = keys_gen(&dir.path().join(org.as_str()), &org).unwrap();
            let cert = authority.issue(&org, &keys.csr_pem, 30).unwrap();
            authority
                .add_member(&NewMember {
                    org: &org,
                    display_name: org.as_str(),
                    role: Role::Agency,
                    country: "KR",
                    key_name: &"k1".parse().unwrap(),
                    public_key_hex: &keys.public_key_hex,
                    key_valid_from: UnixMillis(now().0 - DAY),
                    tls_cert_pem: &cert,
                    endpoint: "127.0.0.1:4433",
                    clearances: &[],
                })
                .unwrap();
            certs.push(cert);
        }
        authority.sign().unwrap();
        let kr: OrgId = "KR-KNPA".parse().unwrap();
        let k = |n: &str| -> KeyName { n.parse().unwrap() };
        assert!(authority.diff().unwrap().is_empty(), "nothing pending");

        // A retirement that would leave no key is refused; with the next
        // key beside it, the old one retires.
        let e = authority.retire_key(&kr, &k("k1"), now()).unwrap_err();
        assert!(e.to_string().contains("no key to sign with"), "{e}");
        let next = SecretKey::generate(&mut rand::rngs::OsRng);
        let next_hex = hex::encode(next.public().as_bytes());
        let t = now();
        authority
            .add_key(
                &kr,
                &k("k2"),
                &next_hex,
                UnixMillis(t.0 - 1),
                UnixMillis(t.0 + YEAR),
            )
            .unwrap();
        let e = authority
            .add_key(&kr, &k("k3"), &next_hex, t, UnixMillis(t.0 + YEAR))
            .unwrap_err();
        assert!(e.to_string().contains("is KR-KNPA/k2 already"), "{e}");
        authority.retire_key(&kr, &k("k1"), t).unwrap();
        let e = authority.retire_key(&kr, &k("k9"), t).unwrap_err();
        assert!(
            e.to_string().contains("no key named k9 (its keys: k1, k2)"),
            "{e}"
        );

        // A revocation needs a reason; a compromise time ahead is now.
        let e = authority
            .revoke_key(&kr, &k("k2"), UnixMillis(t.0 + YEAR), " ")
            .unwrap_err();
        assert!(e.to_string().contains("say why"), "{e}");

        // Pins: another org's certificate is refused; the last pin stays.
        let e = authority.add_pin(&kr, &certs[1]).unwrap_err();
        assert!(e.to_string().contains("GB-PIPCU's, not KR-KNPA's"), "{e}");
        let old_pin = cert_pin(&kr, &certs[0]).unwrap();
        let e = authority.drop_pin(&kr, old_pin).unwrap_err();
        assert!(e.to_string().contains("only TLS pin"), "{e}");
        let renewed = authority
            .issue(
                &kr,
                &pki::csr(&kr, &pki::generate_tls_key().unwrap()).unwrap(),
                30,
            )
            .unwrap();
        let new_pin = authority.add_pin(&kr, &renewed).unwrap();
        authority.drop_pin(&kr, old_pin).unwrap();

        let diff = authority.diff().unwrap();
        let has = |needle: &str| diff.iter().any(|d| d.contains(needle));
        assert!(has(&format!("KR-KNPA/k2: new key {next_hex}")), "{diff:?}");
        assert!(has("KR-KNPA/k1: valid"), "{diff:?}");
        assert!(
            has(&format!("new TLS pin {}", hex::encode(new_pin))),
            "{diff:?}"
        );
        assert!(
            has(&format!("TLS pin {} dropped", hex::encode(old_pin))),
            "{diff:?}"
        );
        assert_eq!(diff.len(), 4, "{diff:?}");

        let v2 = authority.sign().unwrap().roster;
        let m = v2.member(&kr).unwrap();
        assert_eq!(m.tls_pins, vec![new_pin]);
        assert_eq!(m.keys[0].not_after, t);
        // k1 signed before t still counts; at t it no longer does.
        let id = KeyId::new(kr.clone(), k("k1"));
        let judge = isop_core::Judgement::AtCreation;
        assert!(v2.signing_key(&id, &kr, UnixMillis(t.0 - 1), judge).is_ok());
        assert!(v2.signing_key(&id, &kr, t, judge).is_err());

        authority
            .revoke_key(&kr, &k("k2"), UnixMillis(t.0 + YEAR), "laptop stolen")
            .unwrap();
        let v3 = authority.sign().unwrap().roster;
        let k2 = &v3.member(&kr).unwrap().keys[1];
        assert!(k2.revoked_at.is_some_and(|r| r <= now()), "{k2:?}");
        assert_eq!(k2.revocation_reason, "laptop stolen");
    }

    #[test]
    fn a_node_listens_where_the_roster_lists_it() {
        assert_eq!(
            listen_at("127.0.0.1:7401").unwrap(),
            "127.0.0.1:7401".parse().unwrap()
        );
        assert_eq!(
            listen_at("[::1]:7401").unwrap(),
            "[::1]:7401".parse().unwrap()
        );
        assert_eq!(
            listen_at("kr.isop.example:7401").unwrap(),
            "0.0.0.0:7401".parse().unwrap()
        );
        let e = listen_at("kr.isop.example").unwrap_err();
        assert!(e.to_string().contains("not host:port"), "{e}");
    }
}
