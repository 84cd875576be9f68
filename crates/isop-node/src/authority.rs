//! Onboarding a federation: the federation authority's directory (CA, roster
//! key, the signed roster and a draft of the next version), an org's keys
//! and CSR, certificates, and a node's first config.
//!
//! The authority's directory holds `ca.crt`, `ca.key` (0600), `roster.key`
//! (0600), `roster.pub`, `roster.bin` (the roster in force, signed) and,
//! while edits are pending, `roster.draft` (the next version, unsigned).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use isop_core::{
    KeyId, KeyName, OrgId, Role, Roster, RosterBuilder, RosterKey, SecretKey, Signer, UnixMillis,
    pb,
};
use isop_net::pki::{self, CertifiedKey};
use prost::Message;

use crate::config::{
    ApiConfig, DeliveryConfig, RosterKeyConfig, WitnessConfig, now, read_roster_pub,
    read_signing_key, write_private, write_signing_key,
};
use crate::{Error, NodeConfig};

const YEAR: u64 = 365 * 86_400_000;

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Config {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(io(path))
}

fn write_new(path: &Path, contents: &[u8]) -> Result<(), Error> {
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

impl Authority {
    /// Creates the authority: a CA valid for ten years, a roster key, and
    /// a signed, empty roster v1 with the standard policy.
    pub fn init(dir: &Path, federation: &str) -> Result<Self, Error> {
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
        let roster = RosterBuilder::new(federation, 1, t).build()?;
        authority.publish(&roster)?;
        Ok(authority)
    }

    /// Opens an authority's directory.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let (name, _) = Self::roster_key_of(dir)?;
        let key = read_signing_key(&dir.join("roster.key"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            signer: Signer::new(name.parse()?, key),
        })
    }

    /// The roster key recorded in `<dir>/roster.pub`.
    pub fn roster_key_of(dir: &Path) -> Result<(String, String), Error> {
        read_roster_pub(&dir.join("roster.pub"))
    }

    /// The roster key.
    pub fn roster_key(&self) -> RosterKey {
        RosterKey::of(&self.signer)
    }

    fn ca(&self) -> Result<CertifiedKey, Error> {
        crate::config::check_private(&self.dir.join("ca.key"))?;
        Ok(CertifiedKey {
            cert_pem: read(&self.dir.join("ca.crt"))?,
            key_pem: read(&self.dir.join("ca.key"))?,
        })
    }

    /// The roster in force, verified.
    pub fn roster(&self) -> Result<(Roster, pb::Envelope), Error> {
        let path = self.dir.join("roster.bin");
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let env = pb::Envelope::decode(bytes.as_slice()).map_err(|e| Error::Config {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Ok((Roster::verify(&env, &self.roster_key())?, env))
    }

    /// The next version being prepared: the draft, or the roster in force.
    fn draft(&self) -> Result<pb::Roster, Error> {
        let path = self.dir.join("roster.draft");
        if path.exists() {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            return pb::Roster::decode(bytes.as_slice()).map_err(|e| Error::Config {
                path: path.display().to_string(),
                why: e.to_string(),
            });
        }
        let (_, env) = self.roster()?;
        pb::Roster::decode(env.payload).map_err(|e| Error::Roster(e.to_string()))
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
    #[allow(clippy::too_many_arguments)]
    pub fn add_member(
        &self,
        org: &OrgId,
        display_name: &str,
        role: Role,
        country: &str,
        key_name: &KeyName,
        public_key_hex: &str,
        tls_cert_pem: &str,
        endpoint: &str,
        clearances: &[String],
    ) -> Result<pb::Roster, Error> {
        let draft = self.draft()?;
        if draft.members.iter().any(|m| m.org_id == org.as_str()) {
            return Err(Error::Roster(format!("{org} is already a member")));
        }
        let key = crate::config::public_key_hex(public_key_hex)?;
        let pin = pki::spki_sha256(
            pki::certs_from_pem(tls_cert_pem)?
                .first()
                .ok_or_else(|| Error::Roster("no certificate".into()))?,
        )?;
        let t = now();
        let mut b = RosterBuilder::from_pb(draft)
            .member(org, display_name, role, country)
            .key(
                org,
                key_name,
                &key,
                UnixMillis(t.0.saturating_sub(3_600_000)),
                UnixMillis(t.0 + YEAR),
            )?
            .tls(org, pin, endpoint)?;
        for c in clearances {
            b = b.clearance(org, c)?;
        }
        self.save_draft(b)
    }

    /// Revokes a signing key in the draft, from now on.
    pub fn revoke_key(&self, org: &OrgId, key_name: &KeyName) -> Result<pb::Roster, Error> {
        self.save_draft(RosterBuilder::from_pb(self.draft()?).revoke_key(org, key_name, now())?)
    }

    /// Removes a member from the draft: it is revoked from now on, and kept
    /// listed so that auditors can still judge what it signed before.
    pub fn remove_member(&self, org: &OrgId) -> Result<pb::Roster, Error> {
        self.save_draft(RosterBuilder::from_pb(self.draft()?).revoke_member(org, now())?)
    }

    /// Signs the draft as the next version and puts it in force.
    pub fn sign(&self) -> Result<Roster, Error> {
        let (current, _) = self.roster()?;
        let next = RosterBuilder::from_pb(self.draft()?)
            .version(current.version() + 1, now())
            .build()?;
        let env = self.publish(&next)?;
        let draft = self.dir.join("roster.draft");
        if draft.exists() {
            std::fs::remove_file(&draft).map_err(io(&draft))?;
        }
        Ok(Roster::verify(&env, &self.roster_key())?)
    }
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
/// authority made (the CA and roster are copied into `dir`).
pub fn node_init(
    dir: &Path,
    org: &OrgId,
    authority_dir: &Path,
    listen: SocketAddr,
    api: Option<SocketAddr>,
) -> Result<PathBuf, Error> {
    for f in ["ca.crt", "roster.bin"] {
        std::fs::copy(authority_dir.join(f), dir.join(f)).map_err(io(&authority_dir.join(f)))?;
    }
    let (name, public_key) = Authority::roster_key_of(authority_dir)?;
    let config = NodeConfig {
        org: org.to_string(),
        data_dir: "data".into(),
        listen,
        signing_key: "signing.key".into(),
        signing_key_name: "k1".into(),
        tls_cert: "tls.crt".into(),
        tls_key: "tls.key".into(),
        ca: "ca.crt".into(),
        roster: "roster.bin".into(),
        roster_key: RosterKeyConfig { name, public_key },
        max_frame_bytes: isop_net::DEFAULT_MAX_FRAME,
        max_clock_skew_ms: isop_core::Judgement::DEFAULT_MAX_SKEW_MS,
        max_notice_age_ms: isop_core::Judgement::DEFAULT_MAX_AGE_MS,
        max_logged_rejections_per_minute: 120,
        delivery: DeliveryConfig::default(),
        witness: WitnessConfig::default(),
        api: api.map(|listen| ApiConfig {
            listen,
            token_file: "api.token".into(),
            allow_non_loopback: false,
        }),
        clock: Default::default(),
    };
    let path = dir.join("node.toml");
    let text = toml::to_string_pretty(&config).map_err(|e| Error::Config {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    write_new(&path, text.as_bytes())?;
    Ok(path)
}
