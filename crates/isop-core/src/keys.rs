//! Ed25519 signing keys. Secret keys zeroize on drop and never print.

use std::fmt;

use ed25519_dalek::Signer as _;
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::{Error, KeyId};

pub use ed25519_dalek::{Signature, VerifyingKey as PublicKey};

/// An ed25519 secret key. It zeroizes on drop; `Debug` shows only the public key.
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    /// Generates a new key from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(ed25519_dalek::SigningKey::generate(rng))
    }

    /// Loads a key from its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// Loads a key from a seed slice, which must be 32 bytes.
    pub fn from_slice(seed: &[u8]) -> Result<Self, Error> {
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(seed.try_into().map_err(|_| {
            Error::InvalidKey(format!("secret key of {} bytes, expected 32", seed.len()))
        })?);
        Ok(Self::from_seed(&seed))
    }

    /// The 32-byte seed, in a buffer that zeroizes on drop.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        self.0.verifying_key()
    }

    /// Signs a message.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.0.sign(msg)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("public", &hex_short(self.public().as_bytes()))
            .finish_non_exhaustive()
    }
}

/// A secret key together with the id it signs under (`<ORG-ID>/<key-name>`).
#[derive(Debug)]
pub struct Signer {
    id: KeyId,
    key: SecretKey,
}

impl Signer {
    /// Pairs a key with its id.
    pub fn new(id: KeyId, key: SecretKey) -> Self {
        Self { id, key }
    }

    /// The key id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        self.key.public()
    }

    /// Signs a message.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.key.sign(msg)
    }
}

/// Parses a 32-byte ed25519 public key, refusing weak (small-order) keys.
pub fn public_key_from_slice(bytes: &[u8]) -> Result<PublicKey, Error> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| {
        Error::InvalidKey(format!("public key of {} bytes, expected 32", bytes.len()))
    })?;
    let key = PublicKey::from_bytes(&arr)
        .map_err(|_| Error::InvalidKey("public key is not a valid curve point".into()))?;
    if key.is_weak() {
        return Err(Error::InvalidKey("public key has small order".into()));
    }
    Ok(key)
}

/// Parses a 64-byte ed25519 signature.
pub(crate) fn signature_from_slice(bytes: &[u8]) -> Result<Signature, Error> {
    Signature::from_slice(bytes).map_err(|_| Error::MalformedSignature(bytes.len()))
}

/// Verifies one signature with `verify_strict`.
pub(crate) fn verify_strict(key: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
    key.verify_strict(msg, sig).is_ok()
}

/// One signature to check: message, signature and key.
#[derive(Clone, Copy, Debug)]
pub struct SigCheck<'a> {
    /// The signed message.
    pub msg: &'a [u8],
    /// The signature.
    pub sig: &'a Signature,
    /// The key.
    pub key: &'a PublicKey,
}

/// Verifies many signatures at once and returns the positions of the bad ones
/// (empty when all verify).
///
/// The fast path is ed25519 batch verification. It is taken only when every
/// key and every signature's `R` has large order, the conditions
/// `verify_strict` adds; if the batch fails, each signature is checked with
/// `verify_strict` to find which are bad.
pub fn verify_batch(checks: &[SigCheck<'_>]) -> Vec<usize> {
    if checks.len() > 1 && checks.iter().all(|c| strict_preconditions(c)) {
        let msgs: Vec<&[u8]> = checks.iter().map(|c| c.msg).collect();
        let sigs: Vec<Signature> = checks.iter().map(|c| *c.sig).collect();
        let keys: Vec<PublicKey> = checks.iter().map(|c| *c.key).collect();
        if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
            return Vec::new();
        }
    }
    checks
        .iter()
        .enumerate()
        .filter(|(_, c)| !verify_strict(c.key, c.msg, c.sig))
        .map(|(i, _)| i)
        .collect()
}

/// What `verify_strict` refuses and a batch check might not: a weak key,
/// or an `R` of small order. `R` is compared with the encodings of small
/// order rather than decompressed, which the batch check does anyway (an
/// `R` that does not decompress fails the batch, and each signature is
/// then checked alone).
fn strict_preconditions(c: &SigCheck<'_>) -> bool {
    !c.key.is_weak() && !small_order_encodings().contains(c.sig.r_bytes())
}

/// Every 32-byte string that curve25519-dalek decompresses to a point of
/// small order: each of the eight torsion points' encodings, with either
/// sign bit, and with `y + p` in place of `y` where that fits in 255 bits
/// (`y` < 19: the points with `y` of 0 and 1). Derived from the torsion
/// points and kept only if it does decompress to one, so the list is
/// exactly the set `decompress().is_small_order()` accepts (14 strings,
/// libsodium's blocklist with both signs).
fn small_order_encodings() -> &'static [[u8; 32]] {
    static ENCODINGS: std::sync::OnceLock<Vec<[u8; 32]>> = std::sync::OnceLock::new();
    ENCODINGS.get_or_init(|| {
        let flip = |mut e: [u8; 32]| {
            e[31] ^= 0x80;
            e
        };
        let mut all: Vec<[u8; 32]> = Vec::new();
        for point in curve25519_dalek::constants::EIGHT_TORSION {
            let e = point.compress().to_bytes();
            let mut candidates = vec![e, flip(e)];
            let y_small = e[0] < 19 && e[1..31].iter().all(|b| *b == 0) && e[31] & 0x7f == 0;
            if y_small {
                // y + p: p = 2^255 - 19 is ed ff .. ff 7f, little-endian.
                let mut plus_p = [0xff; 32];
                plus_p[0] = 0xed + e[0];
                plus_p[31] = 0x7f | (e[31] & 0x80);
                candidates.extend([plus_p, flip(plus_p)]);
            }
            for c in candidates {
                let small = curve25519_dalek::edwards::CompressedEdwardsY(c)
                    .decompress()
                    .is_some_and(|p| p.is_small_order());
                if small && !all.contains(&c) {
                    all.push(c);
                }
            }
        }
        all
    })
}

pub(crate) fn hex_short(bytes: &[u8]) -> String {
    hex::encode(&bytes[..bytes.len().min(8)]) + "…"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let key = SecretKey::from_seed(&[7u8; 32]);
        let seed_hex = hex::encode([7u8; 32]);
        let dbg = format!("{key:?}");
        assert!(!dbg.contains(&seed_hex[..16]), "{dbg}");
        assert!(dbg.contains("SecretKey"));
        let signer = Signer::new("KR-KNPA/k1".parse().unwrap(), key);
        assert!(!format!("{signer:?}").contains(&seed_hex[..16]));
    }

    #[test]
    fn batch_finds_the_bad_signature() {
        let mut rng = rand::thread_rng();
        let keys: Vec<SecretKey> = (0..8).map(|_| SecretKey::generate(&mut rng)).collect();
        let msgs: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 40]).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(SecretKey::public).collect();
        let checks = |sigs: &[Signature]| -> Vec<usize> {
            let c: Vec<SigCheck<'_>> = (0..8)
                .map(|i| SigCheck {
                    msg: &msgs[i],
                    sig: &sigs[i],
                    key: &pubs[i],
                })
                .collect();
            verify_batch(&c)
        };
        assert!(checks(&sigs).is_empty());
        sigs[5] = keys[4].sign(&msgs[5]);
        sigs[2] = keys[2].sign(b"other");
        assert_eq!(checks(&sigs), vec![2, 5]);
    }

    #[test]
    fn the_small_order_encodings_are_libsodiums_blocklist_with_both_signs() {
        let list = small_order_encodings();
        assert_eq!(list.len(), 14, "{list:02x?}");
        // libsodium's seven (sign bit clear), each also with it set.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let plus = |k: u8| {
            let mut e = p;
            e[0] = e[0].wrapping_add(k);
            e
        };
        let mut one = [0u8; 32];
        one[0] = 1;
        let order8 = |h: &str| -> [u8; 32] { hex::decode(h).unwrap().try_into().unwrap() };
        let sodium = [
            [0u8; 32],
            one,
            order8("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
            order8("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
            plus(0xff), // p - 1
            p,
            plus(1), // p + 1
        ];
        for e in sodium {
            let mut signed = e;
            signed[31] |= 0x80;
            assert!(list.contains(&e), "{e:02x?}");
            assert!(list.contains(&signed), "{signed:02x?}");
        }
    }

    #[test]
    fn an_r_of_small_order_is_not_batched() {
        let key = SecretKey::from_seed(&[9u8; 32]);
        let msg = b"a notice";
        let good = key.sign(msg);
        let public = key.public();
        fn check<'a>(msg: &'a [u8], sig: &'a Signature, key: &'a PublicKey) -> SigCheck<'a> {
            SigCheck { msg, sig, key }
        }
        assert!(strict_preconditions(&check(msg, &good, &public)));
        for r in small_order_encodings() {
            let mut bytes = good.to_bytes();
            bytes[..32].copy_from_slice(r);
            let sig = Signature::from_bytes(&bytes);
            assert!(
                !strict_preconditions(&check(msg, &sig, &public)),
                "{r:02x?}"
            );
            // And refused in a batch, alone, as verify_strict refuses it.
            let batch = [check(msg, &good, &public), check(msg, &sig, &public)];
            assert_eq!(verify_batch(&batch), vec![1]);
        }
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point encodes as 1 followed by zeros: small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(public_key_from_slice(&identity).is_err());
        assert!(public_key_from_slice(&[1u8; 31]).is_err());
    }
}
