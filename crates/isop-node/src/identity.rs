//! What a node signs and shows as: its notice-signing key and its TLS
//! certificate, read from the files its config names, and taken up again
//! without a restart (SIGHUP, `POST /v1/node/reload`) when they change.

use std::sync::Arc;

use isop_core::{Judgement, KeyId, OrgId, PublicKey, Roster, Signer, UnixMillis};
use isop_net::{PeerIdentity, TlsIdentity};

use crate::state::Inner;
use crate::{Error, NodeConfig};

/// The key and certificate a node uses now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The notice-signing key's id, `<ORG-ID>/<name>`.
    pub signing_key: KeyId,
    /// Its public half.
    pub public_key: PublicKey,
    /// Until when the roster holds it valid (exclusive).
    pub key_not_after: UnixMillis,
    /// The pin (SPKI SHA-256) of the TLS certificate it shows.
    pub tls_pin: [u8; 32],
    /// When that certificate expires.
    pub tls_not_after: UnixMillis,
}

/// A signing key and a TLS identity, read and checked against the roster.
pub(crate) struct Loaded {
    pub(crate) signer: Signer,
    pub(crate) tls: TlsIdentity,
    pub(crate) identity: Identity,
}

fn read(path: &std::path::Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::Config {
        path: path.display().to_string(),
        why: e.to_string(),
    })
}

/// Reads `config`'s signing key and TLS certificate and key (the key
/// files must be private): the certificate must name `org`, and `roster`
/// must list the signing key for it.
pub(crate) fn load(config: &NodeConfig, org: &OrgId, roster: &Roster) -> Result<Loaded, Error> {
    let signer = config.signer()?;
    crate::config::check_private(&config.tls_key)?;
    // The key's PEM is wiped from memory once parsed.
    let key_pem = zeroize::Zeroizing::new(read(&config.tls_key)?);
    let tls = TlsIdentity::from_pem(&read(&config.tls_cert)?, &key_pem)?;
    let cert = tls.cert().ok_or_else(|| Error::Config {
        path: config.tls_cert.display().to_string(),
        why: "holds no certificate".into(),
    })?;
    let shown = PeerIdentity::from_cert(cert).map_err(|e| Error::Config {
        path: config.tls_cert.display().to_string(),
        why: e.to_string(),
    })?;
    if &shown.org != org {
        return Err(Error::Config {
            path: config.tls_cert.display().to_string(),
            why: format!("the certificate is {}'s, not {org}'s", shown.org),
        });
    }
    let me = roster.member(org)?;
    let listed = me
        .keys
        .iter()
        .find(|k| k.name == signer.id().name && k.public == signer.public())
        .ok_or_else(|| {
            Error::Roster(format!(
                "roster v{} does not list {}'s signing key {} (its keys: {})",
                roster.version(),
                org,
                signer.id(),
                me.keys
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let identity = Identity {
        signing_key: signer.id().clone(),
        public_key: signer.public(),
        key_not_after: listed.not_after,
        tls_pin: shown.spki_sha256,
        tls_not_after: isop_net::pki::not_after(cert)?,
    };
    Ok(Loaded {
        signer,
        tls,
        identity,
    })
}

/// Whether `loaded` can replace what a running node uses, by `roster` at
/// `now`: the signing key valid and not revoked, the certificate's key
/// pinned (else its peers would refuse it).
fn usable(
    loaded: &Loaded,
    config: &NodeConfig,
    roster: &Roster,
    now: UnixMillis,
) -> Result<(), Error> {
    let id = &loaded.identity;
    roster.signing_key(
        &id.signing_key,
        &id.signing_key.org,
        now,
        Judgement::live(now),
    )?;
    if !roster.member(&id.signing_key.org)?.pins(&id.tls_pin) {
        return Err(Error::Roster(format!(
            "roster v{} does not pin the key of {} ({}): pin it (isop roster add-pin) and push the roster first",
            roster.version(),
            config.tls_cert.display(),
            hex::encode(id.tls_pin)
        )));
    }
    Ok(())
}

impl Inner {
    /// The key and certificate this node uses now.
    pub(crate) fn identity(&self) -> Identity {
        self.identity
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes up the signing key and TLS certificate that the config file
    /// names now (read again from `config.source`, or else from the paths
    /// the node started with), once they pass [`load`]'s checks; until
    /// then, and if they fail, the node keeps what it has. Connections open
    /// now keep their certificate; new ones show the new one.
    pub(crate) fn reload(&self) -> Result<Identity, Error> {
        let config = match &self.config.source {
            Some(path) => NodeConfig::load(path)?,
            None => self.config.clone(),
        };
        if config.org_id()? != self.org {
            return Err(Error::Config {
                path: "org".into(),
                why: format!(
                    "the config now names {}, but this node is {}: restart it to change org",
                    config.org, self.org
                ),
            });
        }
        let roster = self.roster();
        let loaded = load(&config, &self.org, &roster)?;
        usable(&loaded, &config, &roster, self.now())?;
        self.endpoint.set_identity(loaded.tls)?;
        *self.signer.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded.signer);
        *self.identity.write().unwrap_or_else(|p| p.into_inner()) = loaded.identity.clone();
        tracing::info!(
            signing_key = %loaded.identity.signing_key,
            tls_pin = %hex::encode(loaded.identity.tls_pin),
            "took up the signing key and TLS certificate the config names"
        );
        Ok(loaded.identity)
    }
}
