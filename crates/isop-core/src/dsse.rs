//! DSSE v1 envelopes: the pre-authentication encoding, signing, and the
//! checks every signature must pass.

use bytes::Bytes;
use isop_proto::v1 as pb;

use crate::keys::{SigCheck, Signature, signature_from_slice, verify_strict};
use crate::{Error, KeyId, PublicKey, Signer};

/// Payload type of a notice envelope.
pub const NOTICE_PAYLOAD_TYPE: &str = "application/vnd.isop.notice.v1+protobuf";
/// Payload type of a receipt envelope.
pub const RECEIPT_PAYLOAD_TYPE: &str = "application/vnd.isop.receipt.v1+protobuf";
/// Payload type of a receipt-list envelope (receipts for a batch of
/// deliveries under one signature; an isop addition).
pub const RECEIPTS_PAYLOAD_TYPE: &str = "application/vnd.isop.receipts.v1+protobuf";
/// Payload type of a roster envelope.
pub const ROSTER_PAYLOAD_TYPE: &str = "application/vnd.isop.roster.v1+protobuf";

/// The most signatures an envelope may carry; more is refused unread.
pub const MAX_SIGNATURES: usize = 8;

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let tlen = payload_type.len().to_string();
    let plen = payload.len().to_string();
    let mut out =
        Vec::with_capacity(6 + 4 + tlen.len() + plen.len() + payload_type.len() + payload.len());
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(tlen.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(plen.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Signs `payload` as a DSSE envelope of `payload_type` with one signature.
pub fn sign_envelope(signer: &Signer, payload_type: &str, payload: Bytes) -> pb::Envelope {
    let sig = signer.sign(&pae(payload_type, &payload));
    pb::Envelope {
        payload_type: payload_type.to_owned(),
        payload,
        signatures: vec![pb::Signature {
            keyid: signer.id().to_string(),
            sig: Bytes::copy_from_slice(&sig.to_bytes()),
        }],
    }
}

/// Checks an envelope's payload type and signature count.
/// Checks an envelope's shape: its payload type is `payload_type`, and it
/// carries 1 to [`MAX_SIGNATURES`] signatures.
pub fn check_shape(env: &pb::Envelope, payload_type: &'static str) -> Result<(), Error> {
    if env.payload_type != payload_type {
        return Err(Error::WrongPayloadType {
            expected: payload_type,
            found: env.payload_type.clone(),
        });
    }
    if env.signatures.is_empty() {
        return Err(Error::Unsigned);
    }
    if env.signatures.len() > MAX_SIGNATURES {
        return Err(Error::TooManySignatures(env.signatures.len()));
    }
    Ok(())
}

/// A signature whose key has been resolved against a roster, waiting to be
/// checked, alone or in a batch ([`crate::verify_batch`]). Get one from
/// [`crate::Roster::resolve_signature`].
#[derive(Clone, Debug)]
pub struct PendingSignature {
    pub(crate) pae: Vec<u8>,
    pub(crate) sig: Signature,
    pub(crate) key: PublicKey,
    pub(crate) key_id: KeyId,
}

impl PendingSignature {
    pub(crate) fn new(
        env: &pb::Envelope,
        index: usize,
        key: PublicKey,
        key_id: KeyId,
    ) -> Result<Self, Error> {
        let sig = signature_from_slice(&env.signatures[index].sig)?;
        Ok(Self {
            pae: pae(&env.payload_type, &env.payload),
            sig,
            key,
            key_id,
        })
    }

    /// The key that must have made the signature.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Checks the signature alone with `verify_strict`.
    pub fn verify(&self) -> bool {
        verify_strict(&self.key, &self.pae, &self.sig)
    }

    /// The check to run: message (the DSSE PAE), signature and key.
    pub fn check(&self) -> SigCheck<'_> {
        SigCheck {
            msg: &self.pae,
            sig: &self.sig,
            key: &self.key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known-answer vector of ../shared/test-vectors/dsse-pae.txt (vendored; see tests/vectors.rs).
    #[test]
    fn pae_matches_shared_vector() {
        let text = include_str!("../test-vectors/dsse-pae.txt");
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim_start)
                .unwrap_or_else(|| panic!("vector lacks {name}"))
        };
        let (ty, body, expected) = (field("type:"), field("body:"), field("pae:"));
        assert_eq!(pae(ty, body.as_bytes()), expected.as_bytes());
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }
}
