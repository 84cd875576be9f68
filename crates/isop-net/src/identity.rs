//! A peer's identity, read from its TLS certificate.

use isop_core::OrgId;
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;

use crate::Refusal;
use crate::pki::ORG_URI_PREFIX;

/// Who is at the other end: the org its certificate names, and the
/// SHA-256 of the certificate's SubjectPublicKeyInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The org, from `URI:urn:isop:org:<ORG-ID>`.
    pub org: OrgId,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo.
    pub spki_sha256: [u8; 32],
}

impl PeerIdentity {
    /// Reads the identity from an end-entity certificate. It must carry
    /// exactly one `urn:isop:org:` URI in its SubjectAltName.
    pub fn from_cert(cert: &CertificateDer<'_>) -> Result<Self, Refusal> {
        let bad = |why: String| Refusal::BadCertificate(why);
        let (_, c) = x509_parser::parse_x509_certificate(cert.as_ref())
            .map_err(|e| bad(format!("does not parse: {e}")))?;
        let san = c
            .subject_alternative_name()
            .map_err(|e| bad(format!("SubjectAltName: {e}")))?;
        let mut orgs = san
            .iter()
            .flat_map(|s| s.value.general_names.iter())
            .filter_map(|n| match n {
                GeneralName::URI(u) => u.strip_prefix(ORG_URI_PREFIX),
                _ => None,
            });
        let org = orgs
            .next()
            .ok_or_else(|| bad(format!("no {ORG_URI_PREFIX}<ORG-ID> in its SubjectAltName")))?;
        if orgs.next().is_some() {
            return Err(bad("more than one org in its SubjectAltName".into()));
        }
        let org = OrgId::new(org).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            org,
            spki_sha256: Sha256::digest(c.tbs_certificate.subject_pki.raw).into(),
        })
    }
}
