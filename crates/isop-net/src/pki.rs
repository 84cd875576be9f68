//! The federation PKI: a CA, and per-org TLS certificates that carry
//! `URI:urn:isop:org:<ORG-ID>` in their SubjectAltName.

use isop_core::{OrgId, UnixMillis};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::Error;

/// The SAN URI prefix that names an org.
pub const ORG_URI_PREFIX: &str = "urn:isop:org:";

fn pki(e: impl std::fmt::Display) -> Error {
    Error::Pki(e.to_string())
}

fn time(t: UnixMillis) -> Result<time::OffsetDateTime, Error> {
    let secs = i64::try_from(t.0 / 1000).map_err(pki)?;
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(pki)
}

/// A certificate and its private key, PEM-encoded. The key is secret:
/// `Debug` does not show it.
#[derive(Clone)]
pub struct CertifiedKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// Makes a federation CA valid in `[not_before, not_after)`.
pub fn generate_ca(
    name: &str,
    not_before: UnixMillis,
    not_after: UnixMillis,
) -> Result<CertifiedKey, Error> {
    let key = KeyPair::generate().map_err(pki)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationName, "isop federation");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = time(not_before)?;
    params.not_after = time(not_after)?;
    let cert = params.self_signed(&key).map_err(pki)?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A fresh TLS key pair for an org, PKCS#8 PEM (secret).
pub fn generate_tls_key() -> Result<String, Error> {
    Ok(KeyPair::generate().map_err(pki)?.serialize_pem())
}

/// A certificate signing request for `org` with the key `key_pem`.
pub fn csr(org: &OrgId, key_pem: &str) -> Result<String, Error> {
    let key = KeyPair::from_pem(key_pem).map_err(pki)?;
    org_params(org, UnixMillis(0), UnixMillis(0))?
        .serialize_request(&key)
        .map_err(pki)?
        .pem()
        .map_err(pki)
}

fn org_params(
    org: &OrgId,
    not_before: UnixMillis,
    not_after: UnixMillis,
) -> Result<CertificateParams, Error> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, org.as_str());
    params.distinguished_name = dn;
    let uri = format!("{ORG_URI_PREFIX}{org}");
    params.subject_alt_names = vec![SanType::URI(uri.try_into().map_err(pki)?)];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    if not_after.0 > 0 {
        params.not_before = time(not_before)?;
        params.not_after = time(not_after)?;
    }
    Ok(params)
}

/// Issues `org`'s TLS certificate for the public key of `org_key_pem`,
/// signed by `ca`, valid in `[not_before, not_after)`.
pub fn issue(
    ca: &CertifiedKey,
    org: &OrgId,
    org_key_pem: &str,
    not_before: UnixMillis,
    not_after: UnixMillis,
) -> Result<String, Error> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(pki)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(pki)?;
    let org_key = KeyPair::from_pem(org_key_pem).map_err(pki)?;
    Ok(org_params(org, not_before, not_after)?
        .signed_by(&org_key, &issuer)
        .map_err(pki)?
        .pem())
}

/// Issues a certificate from a CSR. The org comes from the CSR's SAN and
/// must equal `org`; the CA decides the validity.
pub fn issue_from_csr(
    ca: &CertifiedKey,
    org: &OrgId,
    csr_pem: &str,
    not_before: UnixMillis,
    not_after: UnixMillis,
) -> Result<String, Error> {
    let req = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)
        .map_err(|e| Error::Pki(format!("CSR: {e}")))?;
    let named =
        req.params.subject_alt_names.iter().any(
            |s| matches!(s, SanType::URI(u) if u.as_str() == format!("{ORG_URI_PREFIX}{org}")),
        );
    if !named {
        return Err(Error::Pki(format!(
            "the CSR does not name {ORG_URI_PREFIX}{org} in its SubjectAltName"
        )));
    }
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(pki)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(pki)?;
    let params = org_params(org, not_before, not_after)?;
    Ok(params
        .signed_by(&req.public_key, &issuer)
        .map_err(pki)?
        .pem())
}

/// Reads every certificate in a PEM text.
pub fn certs_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Pki(format!("certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Pki("no certificate in the PEM text".into()));
    }
    Ok(certs)
}

/// Reads a private key from PEM.
pub fn key_from_pem(pem: &str) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| Error::Pki(format!("private key PEM: {e}")))
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo: what the roster pins.
pub fn spki_sha256(cert: &CertificateDer<'_>) -> Result<[u8; 32], Error> {
    let (_, c) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| Error::Pki(format!("certificate: {e}")))?;
    Ok(Sha256::digest(c.tbs_certificate.subject_pki.raw).into())
}

/// When a certificate expires.
pub fn not_after(cert: &CertificateDer<'_>) -> Result<UnixMillis, Error> {
    let (_, c) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| Error::Pki(format!("certificate: {e}")))?;
    Ok(UnixMillis(
        u64::try_from(c.validity().not_after.timestamp()).unwrap_or(0) * 1000,
    ))
}
