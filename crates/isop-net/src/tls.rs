//! rustls configuration: TLS 1.3 only, ALPN `isop/1`, client certificates
//! required, no 0-RTT, the ring provider.

use std::sync::Arc;

use isop_core::OrgId;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::{Error, PeerIdentity};

/// The ALPN protocol id.
pub const ALPN: &[u8] = b"isop/1";

/// The ring crypto provider, the only one isop uses.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A node's TLS identity: its certificate chain and private key. `Debug`
/// does not show the key.
pub struct TlsIdentity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl TlsIdentity {
    /// Pairs a chain (end entity first) with its key.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self { chain, key }
    }

    /// From PEM texts.
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<Self, Error> {
        Ok(Self::new(
            crate::pki::certs_from_pem(chain_pem)?,
            crate::pki::key_from_pem(key_pem)?,
        ))
    }

    /// The end-entity certificate.
    pub fn cert(&self) -> Option<&CertificateDer<'static>> {
        self.chain.first()
    }
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// The federation's trust anchors.
pub(crate) fn roots(ca: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>, Error> {
    let mut roots = RootCertStore::empty();
    for c in ca {
        roots.add(c.clone())?;
    }
    if roots.is_empty() {
        return Err(Error::Pki("the CA bundle holds no certificate".into()));
    }
    Ok(Arc::new(roots))
}

pub(crate) fn server_config(
    roots: Arc<RootCertStore>,
    id: &TlsIdentity,
) -> Result<rustls::ServerConfig, Error> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| Error::Pki(format!("client verifier: {e}")))?;
    let mut c = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(id.chain.clone(), id.key.clone_key())?;
    c.alpn_protocols = vec![ALPN.to_vec()];
    c.max_early_data_size = 0;
    Ok(c)
}

pub(crate) fn client_config(
    roots: Arc<RootCertStore>,
    id: &TlsIdentity,
    expected: OrgId,
) -> Result<rustls::ClientConfig, Error> {
    let verifier = Arc::new(OrgServerVerifier {
        roots,
        expected,
        provider: provider(),
    });
    let mut c = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(id.chain.clone(), id.key.clone_key())?;
    c.alpn_protocols = vec![ALPN.to_vec()];
    c.enable_early_data = false;
    Ok(c)
}

/// Verifies a server: its chain to the federation CA (as WebPKI does), and
/// that its certificate names the org dialled. Org certificates carry no
/// DNS name, so there is no hostname to check; the org SAN takes its place.
#[derive(Debug)]
struct OrgServerVerifier {
    roots: Arc<RootCertStore>,
    expected: OrgId,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for OrgServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        let peer = PeerIdentity::from_cert(end_entity)
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        if peer.org != self.expected {
            return Err(rustls::Error::General(
                crate::Refusal::WrongOrg {
                    expected: self.expected.clone(),
                    found: peer.org,
                }
                .to_string(),
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
