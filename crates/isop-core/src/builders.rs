//! Builders of notice bodies, one per kind: what [`NoticeDraft`] seals.
//!
//! [`NoticeDraft`]: crate::NoticeDraft

use bytes::Bytes;
use isop_proto::v1 as pb;
use pb::notice::Body;

use crate::{Error, NoticeId, OrgId, UnixMillis};

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $field:ident = $t:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, v: $t) -> Self {
            self.0.$field = v.into();
            self
        }
    };
}

/// Builds a [`pb::Referral`] body.
#[derive(Clone, Debug, Default)]
pub struct ReferralBuilder(pb::Referral);

impl ReferralBuilder {
    /// Starts a referral of `target`.
    pub fn new(target: pb::Target) -> Self {
        Self(pb::Referral {
            target: Some(target),
            ..Default::default()
        })
    }
    /// Sets the content category.
    pub fn category(mut self, c: pb::ContentCategory) -> Self {
        self.0.category = c as i32;
        self
    }
    /// Adds an infringed work.
    pub fn work(
        mut self,
        title: &str,
        rights_owner: &str,
        ids: &[(pb::IdentifierScheme, &str)],
    ) -> Self {
        self.0.works.push(pb::Work {
            title: title.into(),
            rights_owner: rights_owner.into(),
            identifiers: ids
                .iter()
                .map(|(s, v)| pb::WorkIdentifier {
                    scheme: *s as i32,
                    value: (*v).into(),
                })
                .collect(),
        });
        self
    }
    /// Adds an evidence item.
    pub fn evidence(
        mut self,
        sha256: [u8; 32],
        captured_at: UnixMillis,
        method: pb::CaptureMethod,
        description: &str,
    ) -> Self {
        self.0.evidence.push(pb::Evidence {
            sha256: Bytes::copy_from_slice(&sha256),
            captured_at: captured_at.0,
            method: method as i32,
            description: description.into(),
            ..Default::default()
        });
        self
    }
    /// Gives the last evidence item's file size and media type.
    pub fn evidence_file(mut self, size_bytes: u64, media_type: &str) -> Self {
        if let Some(e) = self.0.evidence.last_mut() {
            e.size_bytes = size_bytes;
            e.media_type = media_type.into();
        }
        self
    }
    /// Sets the requested action.
    pub fn action(mut self, a: pb::RequestedAction) -> Self {
        self.0.requested_action = a as i32;
        self
    }
    setter!(/// Sets the jurisdiction (ISO 3166-1 alpha-2).
        jurisdiction: jurisdiction = &str);
    setter!(/// Sets a short summary.
        summary: summary = &str);
    /// Affirms the good-faith and accuracy statements.
    pub fn affirm_statements(mut self) -> Self {
        self.0.good_faith_statement = true;
        self.0.accuracy_statement = true;
        self
    }
    /// Finishes the body.
    pub fn build(self) -> Body {
        Body::Referral(self.0)
    }
}

/// Builds a [`pb::StatusUpdate`] body.
#[derive(Clone, Debug, Default)]
pub struct StatusUpdateBuilder(pb::StatusUpdate);

impl StatusUpdateBuilder {
    /// Starts a status update on `referral`.
    pub fn new(referral: NoticeId, status: pb::ReferralStatus) -> Self {
        Self(pb::StatusUpdate {
            referral_id: Bytes::copy_from_slice(referral.as_bytes()),
            status: status as i32,
            ..Default::default()
        })
    }
    setter!(/// Sets the reason (required for REJECTED and NEEDS_INFO).
        reason: reason = &str);
    /// Records the action taken (required for ACTION_TAKEN).
    pub fn action_taken(
        mut self,
        action: pb::ActionType,
        taken_at: UnixMillis,
        details: &str,
    ) -> Self {
        self.0.action = Some(pb::ActionTaken {
            action: action as i32,
            taken_at: taken_at.0,
            details: details.into(),
        });
        self
    }
    /// Finishes the body.
    pub fn build(self) -> Body {
        Body::StatusUpdate(self.0)
    }
}

/// Builds a [`pb::IntelReport`] body.
#[derive(Clone, Debug, Default)]
pub struct IntelReportBuilder(pb::IntelReport);

impl IntelReportBuilder {
    /// Starts a report with a title and its Admiralty grade given as
    /// people write it (`B2`: source reliability A–F, information
    /// credibility 1–6).
    pub fn graded(title: &str, grade: &str) -> Result<Self, Error> {
        use pb::InformationCredibility as I;
        use pb::SourceReliability as S;
        let bad = || Error::InvalidNotice {
            what: "intel.grade".into(),
            why: format!("{grade:?} is not an Admiralty grade like B2 (A-F, then 1-6)"),
        };
        let mut chars = grade.trim().chars();
        let (Some(source), Some(info), None) = (chars.next(), chars.next(), chars.next()) else {
            return Err(bad());
        };
        let source = match source.to_ascii_uppercase() {
            'A' => S::A,
            'B' => S::B,
            'C' => S::C,
            'D' => S::D,
            'E' => S::E,
            'F' => S::F,
            _ => return Err(bad()),
        };
        let info = match info {
            '1' => I::Confirmed,
            '2' => I::ProbablyTrue,
            '3' => I::PossiblyTrue,
            '4' => I::Doubtful,
            '5' => I::Improbable,
            '6' => I::CannotBeJudged,
            _ => return Err(bad()),
        };
        Ok(Self::new(title, source, info))
    }

    /// Starts a report with a title and its Admiralty grade.
    pub fn new(
        title: &str,
        source: pb::SourceReliability,
        info: pb::InformationCredibility,
    ) -> Self {
        Self(pb::IntelReport {
            title: title.into(),
            source_reliability: source as i32,
            information_credibility: info as i32,
            ..Default::default()
        })
    }
    /// Adds an indicator in the clear (domain, IP or URL only).
    pub fn indicator(mut self, kind: pb::IndicatorKind, value: &str, context: &str) -> Self {
        self.0.indicators.push(pb::Indicator {
            kind: kind as i32,
            value: value.into(),
            context: context.into(),
        });
        self
    }
    /// Links a notice.
    pub fn link_notice(mut self, id: NoticeId) -> Self {
        self.0
            .linked_notices
            .push(Bytes::copy_from_slice(id.as_bytes()));
        self
    }
    /// Links a case.
    pub fn link_case(mut self, case_ref: &str) -> Self {
        self.0.linked_cases.push(case_ref.into());
        self
    }
    setter!(/// Sets handling conditions.
        handling: handling = &str);
    /// Finishes the body.
    pub fn build(self) -> Body {
        Body::IntelReport(self.0)
    }
}

/// Builds a [`pb::TakedownRequest`] body.
#[derive(Clone, Debug, Default)]
pub struct TakedownRequestBuilder(pb::TakedownRequest);

impl TakedownRequestBuilder {
    /// Starts a request to take down `target` (which must carry its hosting country).
    pub fn new(target: pb::Target, action: pb::RequestedAction) -> Self {
        Self(pb::TakedownRequest {
            target: Some(target),
            requested_action: action as i32,
            ..Default::default()
        })
    }
    setter!(/// Sets the legal basis.
        legal_basis: legal_basis = &str);
    /// Sets the deadline.
    pub fn deadline(mut self, t: UnixMillis) -> Self {
        self.0.deadline = t.0;
        self
    }
    /// Adds a referral this request is based on.
    pub fn referral(mut self, id: NoticeId) -> Self {
        self.0.referrals.push(Bytes::copy_from_slice(id.as_bytes()));
        self
    }
    /// Finishes the body.
    pub fn build(self) -> Body {
        Body::TakedownRequest(self.0)
    }
}

/// Builds a [`pb::CaseMessage`] body. The notice must carry a `case_ref`.
#[derive(Clone, Debug, Default)]
pub struct CaseMessageBuilder(pb::CaseMessage);

impl CaseMessageBuilder {
    /// Starts a case message.
    pub fn new(action: pb::CaseAction) -> Self {
        Self(pb::CaseMessage {
            action: action as i32,
            ..Default::default()
        })
    }
    setter!(/// Sets the subject (required to open a case).
        subject: subject = &str);
    setter!(/// Sets the text.
        text: text = &str);
    /// Adds a participant.
    pub fn participant(mut self, org: &OrgId) -> Self {
        self.0.participants.push(org.to_string());
        self
    }
    /// Finishes the body.
    pub fn build(self) -> Body {
        Body::CaseMessage(self.0)
    }
}

/// Builds a [`pb::Retraction`] body. Sealing sets `in_reply_to` to the
/// retracted notice.
#[derive(Clone, Debug, Default)]
pub struct RetractionBuilder(pb::Retraction);

impl RetractionBuilder {
    /// Starts a retraction of `notice`.
    pub fn new(notice: NoticeId, scope: pb::RetractionScope, reason: &str) -> Self {
        Self(pb::Retraction {
            notice_id: Bytes::copy_from_slice(notice.as_bytes()),
            scope: scope as i32,
            reason: reason.into(),
            paths: Vec::new(),
        })
    }
    /// Adds a withdrawn field path (for NARROW).
    pub fn path(mut self, path: &str) -> Self {
        self.0.paths.push(path.into());
        self
    }
    /// Finishes the body.
    pub fn build(self) -> Body {
        Body::Retraction(self.0)
    }
}
