//! Sealing: a notice being written ([`NoticeDraft`]) is validated, its
//! labelled fields sealed into disclosures and committed to, and signed;
//! its author holds the result ([`SealedNotice`]).

use bytes::Bytes;
use isop_proto::v1 as pb;
use pb::notice::Body;
use prost::Message;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use crate::disclosure::{Delivery, Redaction, SealedDisclosure};
use crate::dsse::{NOTICE_PAYLOAD_TYPE, sign_envelope};
use crate::notice::{check_path, check_value};
use crate::{
    Clearance, Error, Label, Notice, NoticeId, NoticeKind, OrgId, Signer, Tlp, UnixMillis,
};

/// A notice being written: header, body, and labelled fields. [`seal`]
/// validates it, commits to its fields and signs it.
///
/// [`seal`]: NoticeDraft::seal
#[derive(Clone, Debug)]
pub struct NoticeDraft {
    tlp: Tlp,
    body: Body,
    to_orgs: Vec<String>,
    to_groups: Vec<String>,
    case_ref: String,
    in_reply_to: Option<NoticeId>,
    labelled: Vec<(String, String, pb::FieldValue)>,
}

impl NoticeDraft {
    /// Starts a notice with a TLP marking and a body from one of the builders.
    pub fn new(tlp: Tlp, body: Body) -> Self {
        let in_reply_to = match &body {
            Body::Retraction(r) => NoticeId::from_slice(&r.notice_id).ok(),
            _ => None,
        };
        Self {
            tlp,
            body,
            to_orgs: Vec::new(),
            to_groups: Vec::new(),
            case_ref: String::new(),
            in_reply_to,
            labelled: Vec::new(),
        }
    }
    /// The kind of notice its body makes.
    pub fn kind(&self) -> NoticeKind {
        NoticeKind::of_body(&self.body)
    }
    /// The notice it answers, if set.
    pub fn replies_to(&self) -> Option<NoticeId> {
        self.in_reply_to
    }
    /// Whether it names `org` as a recipient.
    pub fn names(&self, org: &OrgId) -> bool {
        self.to_orgs.iter().any(|o| o == org.as_str())
    }
    /// Adds a recipient org.
    pub fn to_org(mut self, org: &OrgId) -> Self {
        self.to_orgs.push(org.to_string());
        self
    }
    /// Adds a recipient group.
    pub fn to_group(mut self, group: &str) -> Self {
        self.to_groups.push(group.into());
        self
    }
    /// Sets the case reference.
    pub fn case_ref(mut self, case_ref: &str) -> Self {
        self.case_ref = case_ref.into();
        self
    }
    /// Sets the notice this answers.
    pub fn in_reply_to(mut self, id: NoticeId) -> Self {
        self.in_reply_to = Some(id);
        self
    }
    /// Adds a labelled field: `path` names it (it must start with the kind's
    /// name, as in `referral.contact`), `label` is an access expression.
    pub fn labelled(mut self, path: &str, label: &str, value: pb::field_value::Value) -> Self {
        self.labelled.push((
            path.into(),
            label.into(),
            pb::FieldValue { value: Some(value) },
        ));
        self
    }

    /// Validates the notice, seals each labelled field into a disclosure
    /// with a random salt, commits to them, and signs the notice as
    /// `signer`'s org, created at `now`.
    pub fn seal(
        self,
        signer: &Signer,
        now: UnixMillis,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SealedNotice, Error> {
        let kind = NoticeKind::of_body(&self.body);
        let mut disclosures = Vec::with_capacity(self.labelled.len());
        for (path, label, value) in self.labelled {
            check_path(&path, kind)?;
            if let Some(v) = &value.value {
                check_value(&path, v)?;
            }
            disclosures.push(SealedDisclosure::create(
                &path,
                Label::parse(&label)?,
                value,
                rng,
            ));
        }
        let pb = pb::Notice {
            id: Bytes::copy_from_slice(NoticeId::new_v7(now, rng).as_bytes()),
            author: signer.id().org.to_string(),
            created_at: now.0,
            kind: kind.to_pb() as i32,
            tlp: self.tlp.to_pb() as i32,
            to_orgs: self.to_orgs,
            to_groups: self.to_groups,
            case_ref: self.case_ref,
            in_reply_to: self
                .in_reply_to
                .map(|id| Bytes::copy_from_slice(id.as_bytes()))
                .unwrap_or_default(),
            body: Some(self.body),
            fields: disclosures
                .iter()
                .map(SealedDisclosure::commitment)
                .collect(),
        };
        let payload = Bytes::from(pb.encode_to_vec());
        let notice = Notice::decode(&payload)?;
        let digest = Sha256::digest(&payload).into();
        Ok(SealedNotice {
            envelope: sign_envelope(signer, NOTICE_PAYLOAD_TYPE, payload),
            notice,
            digest,
            disclosures,
        })
    }
}

/// A signed notice with all its disclosures, as held by its author.
#[derive(Clone, Debug)]
pub struct SealedNotice {
    envelope: pb::Envelope,
    notice: Notice,
    digest: [u8; 32],
    disclosures: Vec<SealedDisclosure>,
}

impl SealedNotice {
    /// The signed envelope.
    pub fn envelope(&self) -> &pb::Envelope {
        &self.envelope
    }
    /// The notice.
    pub fn notice(&self) -> &Notice {
        &self.notice
    }
    /// SHA-256 of the notice payload.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
    /// Every disclosure.
    pub fn disclosures(&self) -> &[SealedDisclosure] {
        &self.disclosures
    }

    /// The delivery for a recipient with `clearance`: the envelope plus only
    /// the disclosures its [`Redaction`] shows.
    pub fn delivery_for(&self, clearance: &Clearance) -> Delivery {
        let redaction = Redaction::new(self.notice.commitments(), clearance);
        Delivery {
            envelope: self.envelope.clone(),
            disclosures: self
                .disclosures
                .iter()
                .filter(|d| redaction.shows_digest(d.digest()))
                .map(|d| d.bytes().clone())
                .collect(),
        }
    }
}
