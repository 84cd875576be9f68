//! TLS for the node's HTTPS clients (its webhooks): ring, the safe
//! protocol versions, and the system's CA certificates or the ones given.

use rustls::RootCertStore;

use crate::Error;

/// A TLS client config for HTTPS, to hand to an HTTP client.
pub type HttpsClientConfig = rustls::ClientConfig;

/// A TLS client config trusting the CA certificates of `ca_pem`, or the
/// system's when none are given.
pub fn https_client_config(ca_pem: Option<&str>) -> Result<HttpsClientConfig, Error> {
    let mut roots = RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            let certs = crate::pki::certs_from_pem(pem)?;
            if certs.is_empty() {
                return Err(Error::Pki("the CA file holds no certificate".into()));
            }
            for cert in certs {
                roots.add(cert)?;
            }
        }
        None => {
            // A system certificate rustls cannot take is left out.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
