//! Labelled fields: sealing values into salted disclosures, and verifying a
//! delivery (envelope plus the disclosures a recipient is cleared for).

use bytes::Bytes;
use isop_proto::v1 as pb;
use prost::Message;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use crate::dsse::{self, NOTICE_PAYLOAD_TYPE, PendingSignature};
use crate::keys::verify_batch;
use crate::{Error, Judgement, KeyId, Label, Notice, OrgId, Roster};

/// The fewest deliveries worth a thread of their own when a batch's
/// signatures are checked on several cores: below it, starting the thread
/// costs more than it saves.
pub(crate) const PARALLEL_MIN: usize = 64;

/// The cores this process may use (1 if unknown), asked once.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Length of a disclosure's salt.
pub const SALT_LEN: usize = 16;
/// SHA-256 of some bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A disclosure in its exact encoded bytes, with its digest, path and label.
#[derive(Clone, Debug)]
pub struct SealedDisclosure {
    bytes: Bytes,
    digest: [u8; 32],
    path: String,
    label: Label,
}

impl SealedDisclosure {
    /// Seals a value under `path` and `label` with a fresh 16-byte salt.
    pub fn create(
        path: &str,
        label: Label,
        value: pb::FieldValue,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let msg = pb::Disclosure {
            salt: Bytes::copy_from_slice(&salt),
            path: path.into(),
            label: label.as_str().into(),
            value: Some(value),
        };
        let bytes = Bytes::from(msg.encode_to_vec());
        Self {
            digest: sha256(&bytes),
            bytes,
            path: path.into(),
            label,
        }
    }

    /// The exact bytes, as committed to and sent.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
    /// SHA-256 of the bytes.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
    /// The field path.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The label.
    pub fn label(&self) -> &Label {
        &self.label
    }
    /// The commitment that goes into the notice.
    pub fn commitment(&self) -> pb::FieldCommitment {
        pb::FieldCommitment {
            path: self.path.clone(),
            label: self.label.as_str().into(),
            digest: Bytes::copy_from_slice(&self.digest),
        }
    }
}

/// Which labelled fields of one notice a clearance may see: the one
/// redaction rule. A node's sender uses it for each recipient, an export
/// for its clearance, and [`SealedNotice::delivery_for`](crate::SealedNotice::delivery_for)
/// for an author's own. A disclosure is judged by the label the signed
/// notice commits to for it (the label it carries must be the same, which
/// every receiver checks); one that no commitment names, or whose label
/// does not parse, is never shown.
#[derive(Clone, Debug, Default)]
pub struct Redaction {
    visible: Vec<[u8; 32]>,
}

impl Redaction {
    /// The fields of a notice with these `commitments` that `clearance`
    /// may see.
    pub fn new(commitments: &[crate::Commitment], clearance: &crate::Clearance) -> Self {
        Self {
            visible: commitments
                .iter()
                .filter(|c| c.label.allows(clearance))
                .map(|c| c.digest)
                .collect(),
        }
    }

    /// The same, for the notice `envelope` signs, as a node holds it: the
    /// notice was validated before it was logged, so only its commitments
    /// are read here.
    pub fn of_envelope(
        envelope: &pb::Envelope,
        clearance: &crate::Clearance,
    ) -> Result<Self, Error> {
        let notice =
            pb::Notice::decode(envelope.payload.as_ref()).map_err(|source| Error::Decode {
                what: "notice",
                source,
            })?;
        Ok(Self {
            visible: notice
                .fields
                .iter()
                .filter(|c| Label::parse(&c.label).is_ok_and(|l| l.allows(clearance)))
                .filter_map(|c| <[u8; 32]>::try_from(c.digest.as_ref()).ok())
                .collect(),
        })
    }

    /// Whether the disclosure with this digest may be shown.
    pub fn shows_digest(&self, digest: &[u8; 32]) -> bool {
        self.visible.contains(digest)
    }

    /// Whether the disclosure with these exact bytes may be shown.
    pub fn shows(&self, disclosure: &[u8]) -> bool {
        self.shows_digest(&sha256(disclosure))
    }
}

/// A delivery as it travels: the notice envelope plus the encoded
/// disclosures the recipient is cleared for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivery {
    /// The signed notice.
    pub envelope: pb::Envelope,
    /// Encoded `Disclosure` messages, exactly as committed to.
    pub disclosures: Vec<Bytes>,
}

impl From<pb::Deliver> for Delivery {
    fn from(d: pb::Deliver) -> Self {
        Self {
            envelope: d.envelope.unwrap_or_default(),
            disclosures: d.disclosures,
        }
    }
}

impl From<Delivery> for pb::Deliver {
    fn from(d: Delivery) -> Self {
        Self {
            envelope: Some(d.envelope),
            disclosures: d.disclosures,
        }
    }
}

/// A field whose value was revealed to the recipient.
#[derive(Clone, Debug, PartialEq)]
pub struct RevealedField {
    /// The field path.
    pub path: String,
    /// The label.
    pub label: Label,
    /// The value.
    pub value: pb::field_value::Value,
    /// SHA-256 of the disclosure bytes.
    pub digest: [u8; 32],
}

/// A field that was held back: only its path and label are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WithheldField {
    /// The field path.
    pub path: String,
    /// The label the recipient's clearance does not satisfy (or that the
    /// sender chose not to disclose).
    pub label: Label,
}

/// A delivery whose signature, key, disclosures and labels all checked out.
/// The only way to get one is [`Delivery::verify`] or [`Delivery::verify_batch`].
#[derive(Clone, Debug)]
pub struct VerifiedDelivery {
    notice: Notice,
    notice_digest: [u8; 32],
    signed_by: KeyId,
    revealed: Vec<RevealedField>,
    withheld: Vec<WithheldField>,
}

impl VerifiedDelivery {
    /// The notice.
    pub fn notice(&self) -> &Notice {
        &self.notice
    }
    /// SHA-256 of the notice payload: what receipts name.
    pub fn notice_digest(&self) -> &[u8; 32] {
        &self.notice_digest
    }
    /// The key whose signature verified.
    pub fn signed_by(&self) -> &KeyId {
        &self.signed_by
    }
    /// The revealed fields, in delivery order.
    pub fn revealed(&self) -> &[RevealedField] {
        &self.revealed
    }
    /// The withheld fields, in commitment order.
    pub fn withheld(&self) -> &[WithheldField] {
        &self.withheld
    }
}

/// A delivery after decoding and key resolution, before its signature is checked.
struct Opened {
    notice: Notice,
    notice_digest: [u8; 32],
    sig: PendingSignature,
}

impl Delivery {
    /// Verifies a delivery to `receiver`: the envelope's signature by a key
    /// of the author valid under `judgement`, then every disclosure against
    /// its commitment and against `receiver`'s clearance. A disclosure beyond
    /// the receiver's clearance is the sender's fault and fails the delivery.
    pub fn verify(
        &self,
        roster: &Roster,
        receiver: &OrgId,
        judgement: Judgement,
    ) -> Result<VerifiedDelivery, Error> {
        let mut out = Self::verify_batch(std::slice::from_ref(self), roster, receiver, judgement);
        out.pop().unwrap_or(Err(Error::Unsigned))
    }

    /// Verifies many deliveries to `receiver` with one batch signature
    /// check; on a batch failure each signature is checked alone, so every
    /// result names its own problem.
    pub fn verify_batch(
        deliveries: &[Self],
        roster: &Roster,
        receiver: &OrgId,
        judgement: Judgement,
    ) -> Vec<Result<VerifiedDelivery, Error>> {
        Self::verify_signatures(deliveries, roster, judgement)
            .into_iter()
            .map(|r| r.and_then(|s| s.check_disclosures(roster, receiver)))
            .collect()
    }

    /// The first stage of verification, for many deliveries at once: each
    /// envelope decodes, and is signed by a key of its author valid under
    /// `judgement` (one batch check; on failure each is checked alone).
    /// The disclosures are checked in the second stage,
    /// [`SignedDelivery::check_disclosures`], so a receiver can apply its
    /// own checks (sender, policy) in between.
    ///
    /// A large batch is split across the machine's cores, at least 64
    /// deliveries to each: each part is decoded and
    /// batch-checked on its own thread, and the results come back in order.
    pub fn verify_signatures<'a>(
        deliveries: &'a [Self],
        roster: &Roster,
        judgement: Judgement,
    ) -> Vec<Result<SignedDelivery<'a>, Error>> {
        let parts = (deliveries.len() / PARALLEL_MIN).clamp(1, cores());
        if parts == 1 {
            return Self::verify_part(deliveries, roster, judgement);
        }
        let size = deliveries.len().div_ceil(parts);
        std::thread::scope(|scope| {
            let mut chunks = deliveries.chunks(size);
            let first = chunks.next().unwrap_or_default();
            let others: Vec<_> = chunks
                .map(|part| scope.spawn(move || Self::verify_part(part, roster, judgement)))
                .collect();
            let mut all = Self::verify_part(first, roster, judgement);
            for other in others {
                match other.join() {
                    Ok(results) => all.extend(results),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            all
        })
    }

    fn verify_part<'a>(
        deliveries: &'a [Self],
        roster: &Roster,
        judgement: Judgement,
    ) -> Vec<Result<SignedDelivery<'a>, Error>> {
        let opened: Vec<Result<Opened, Error>> = deliveries
            .iter()
            .map(|d| d.open(roster, judgement))
            .collect();
        let pending: Vec<(usize, &Opened)> = opened
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.as_ref().ok().map(|o| (i, o)))
            .collect();
        let checks: Vec<_> = pending.iter().map(|(_, o)| o.sig.check()).collect();
        let bad: Vec<usize> = verify_batch(&checks)
            .into_iter()
            .map(|j| pending[j].0)
            .collect();
        opened
            .into_iter()
            .zip(deliveries)
            .enumerate()
            .map(|(i, (o, delivery))| {
                let o = o?;
                if bad.contains(&i) {
                    return Err(Error::BadSignature(format!(
                        "notice {} signed by {}",
                        o.notice.id(),
                        o.sig.key_id
                    )));
                }
                Ok(SignedDelivery {
                    delivery,
                    notice: o.notice,
                    notice_digest: o.notice_digest,
                    signed_by: o.sig.key_id,
                })
            })
            .collect()
    }

    fn open(&self, roster: &Roster, judgement: Judgement) -> Result<Opened, Error> {
        // Every count before any work: a delivery discloses at most one
        // value per committed field.
        if self.disclosures.len() > crate::notice::MAX_FIELDS {
            return Err(Error::TooMany {
                what: "disclosures",
                count: self.disclosures.len(),
                max: crate::notice::MAX_FIELDS,
            });
        }
        dsse::check_shape(&self.envelope, NOTICE_PAYLOAD_TYPE)?;
        let notice = Notice::decode(&self.envelope.payload)?;
        let sig = roster.resolve_signature(
            &self.envelope,
            notice.author(),
            notice.created_at(),
            judgement,
        )?;
        Ok(Opened {
            notice_digest: crate::disclosure::sha256(&self.envelope.payload),
            notice,
            sig,
        })
    }
}

/// A delivery whose envelope is signed by a key of its author; its
/// disclosures are not checked yet. Get one from
/// [`Delivery::verify_signatures`].
#[derive(Debug)]
pub struct SignedDelivery<'a> {
    delivery: &'a Delivery,
    notice: Notice,
    notice_digest: [u8; 32],
    signed_by: KeyId,
}

impl SignedDelivery<'_> {
    /// The notice.
    pub fn notice(&self) -> &Notice {
        &self.notice
    }
    /// SHA-256 of the notice payload.
    pub fn notice_digest(&self) -> &[u8; 32] {
        &self.notice_digest
    }
    /// The key whose signature verified.
    pub fn signed_by(&self) -> &KeyId {
        &self.signed_by
    }

    /// The second stage: every disclosure against its commitment and
    /// against `receiver`'s clearance. A disclosure beyond the receiver's
    /// clearance is the sender's fault and fails the delivery.
    pub fn check_disclosures(
        self,
        roster: &Roster,
        receiver: &OrgId,
    ) -> Result<VerifiedDelivery, Error> {
        let clearance = roster.clearance(receiver)?;
        self.check_with(Some(&clearance))
    }

    /// The second stage without a clearance: every disclosure against its
    /// commitment only. For the author's own view of what it sent (it holds
    /// every field) and for an auditor reading a log.
    pub fn check_disclosures_unscoped(self) -> Result<VerifiedDelivery, Error> {
        self.check_with(None)
    }

    fn check_with(self, clearance: Option<&crate::Clearance>) -> Result<VerifiedDelivery, Error> {
        let commitments = self.notice.commitments();
        if self.delivery.disclosures.len() > commitments.len() {
            return Err(Error::Disclosure {
                index: commitments.len(),
                why: format!(
                    "{} disclosures for {} commitments",
                    self.delivery.disclosures.len(),
                    commitments.len()
                ),
            });
        }
        let mut used = vec![false; commitments.len()];
        let mut revealed = Vec::with_capacity(self.delivery.disclosures.len());
        for (index, bytes) in self.delivery.disclosures.iter().enumerate() {
            let fail = |why: String| Error::Disclosure { index, why };
            let digest = sha256(bytes);
            let pos = commitments
                .iter()
                .position(|c| c.digest == digest)
                .ok_or_else(|| fail("digest matches no commitment".into()))?;
            if std::mem::replace(&mut used[pos], true) {
                return Err(fail("sent twice".into()));
            }
            let c = &commitments[pos];
            let d = pb::Disclosure::decode(bytes.as_ref())
                .map_err(|e| fail(format!("cannot be decoded: {e}")))?;
            if d.salt.len() != SALT_LEN {
                return Err(fail(format!(
                    "salt is {} bytes, expected {SALT_LEN}",
                    d.salt.len()
                )));
            }
            if d.path != c.path || d.label != c.label.as_str() {
                return Err(fail(format!(
                    "path/label {:?}/{:?} differ from the commitment's {:?}/{:?}",
                    d.path,
                    d.label,
                    c.path,
                    c.label.as_str()
                )));
            }
            if clearance.is_some_and(|cl| !c.label.allows(cl)) {
                return Err(Error::BeyondClearance {
                    path: c.path.clone(),
                    label: c.label.to_string(),
                });
            }
            let value = d
                .value
                .and_then(|v| v.value)
                .ok_or_else(|| fail("has no value".into()))?;
            crate::notice::check_value(&c.path, &value)?;
            revealed.push(RevealedField {
                path: c.path.clone(),
                label: c.label.clone(),
                value,
                digest,
            });
        }
        let withheld = commitments
            .iter()
            .zip(&used)
            .filter(|(_, used)| !**used)
            .map(|(c, _)| WithheldField {
                path: c.path.clone(),
                label: c.label.clone(),
            })
            .collect();
        Ok(VerifiedDelivery {
            notice: self.notice,
            notice_digest: self.notice_digest,
            signed_by: self.signed_by,
            revealed,
            withheld,
        })
    }
}
