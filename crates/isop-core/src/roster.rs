//! The federation roster: members, their keys and pins, groups, clearances
//! and the sending policy. A roster is only ever built by verifying the
//! roster key's signature ([`Roster::verify`]) or from a trusted local
//! message ([`Roster::try_from`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use isop_proto::v1 as pb;
use prost::Message;

use crate::dsse::{self, PendingSignature, ROSTER_PAYLOAD_TYPE};
use crate::ids::check_country;
use crate::keys::{public_key_from_slice, verify_strict};
use crate::label::is_token;
use crate::{Clearance, Error, KeyId, KeyName, NoticeKind, OrgId, PublicKey, Signer, UnixMillis};

/// The role of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A police or enforcement agency.
    Agency,
    /// The coordinating hub.
    Hub,
    /// An industry partner.
    Partner,
    /// An auditor; it receives no notices.
    Auditor,
}

impl Role {
    /// The role's clearance token suffix: `agency`, `hub`, `partner` or `auditor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agency => "agency",
            Self::Hub => "hub",
            Self::Partner => "partner",
            Self::Auditor => "auditor",
        }
    }

    fn from_pb(v: i32) -> Result<Self, Error> {
        match pb::Role::try_from(v) {
            Ok(pb::Role::Agency) => Ok(Self::Agency),
            Ok(pb::Role::Hub) => Ok(Self::Hub),
            Ok(pb::Role::Partner) => Ok(Self::Partner),
            Ok(pb::Role::Auditor) => Ok(Self::Auditor),
            _ => Err(Error::InvalidRoster(format!(
                "role {v} is not a known role"
            ))),
        }
    }

    /// The wire enum.
    pub fn to_pb(self) -> pb::Role {
        match self {
            Self::Agency => pb::Role::Agency,
            Self::Hub => pb::Role::Hub,
            Self::Partner => pb::Role::Partner,
            Self::Auditor => pb::Role::Auditor,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The roster's trust anchor: the federation authority's ed25519 roster key.
#[derive(Clone, Debug)]
pub struct RosterKey {
    /// The keyid the roster key signs under.
    pub name: String,
    /// The public key.
    pub key: PublicKey,
}

impl RosterKey {
    /// The roster key that `signer` signs rosters with.
    pub fn of(signer: &Signer) -> Self {
        Self {
            name: signer.id().to_string(),
            key: signer.public(),
        }
    }
}

/// How a signature is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// History, as an auditor judges it: the key must have been valid, and
    /// not revoked, at the payload's `created_at`.
    AtCreation,
    /// A new delivery: as [`Judgement::AtCreation`], and also the key must not
    /// be revoked at `now`, `created_at` must not be ahead of `now` by more
    /// than `max_skew_ms` (else [`Error::ClockSkew`]), and not older than
    /// `max_age_ms` (else [`Error::Expired`]). A notice that waited in an
    /// outbox through an outage is in the past, and still arrives.
    Live {
        /// The receiver's clock.
        now: UnixMillis,
        /// How far `created_at` may be ahead of `now`.
        max_skew_ms: u64,
        /// How far `created_at` may be behind `now`.
        max_age_ms: u64,
    },
}

impl Judgement {
    /// The default allowed clock skew for new deliveries: 10 minutes.
    pub const DEFAULT_MAX_SKEW_MS: u64 = 10 * 60 * 1000;
    /// The default maximum age of a new delivery: 30 days.
    pub const DEFAULT_MAX_AGE_MS: u64 = 30 * 86_400_000;

    /// A live judgement at `now` with the default skew and maximum age.
    pub fn live(now: UnixMillis) -> Self {
        Self::Live {
            now,
            max_skew_ms: Self::DEFAULT_MAX_SKEW_MS,
            max_age_ms: Self::DEFAULT_MAX_AGE_MS,
        }
    }

    /// Whether `created_at` is acceptable now: not too far ahead, not
    /// expired. [`Judgement::AtCreation`] accepts any time.
    pub fn check_time(self, created_at: UnixMillis) -> Result<(), Error> {
        let Self::Live {
            now,
            max_skew_ms,
            max_age_ms,
        } = self
        else {
            return Ok(());
        };
        if created_at.0 > now.0.saturating_add(max_skew_ms) {
            return Err(Error::ClockSkew {
                created_at,
                now,
                max_skew_ms,
            });
        }
        if created_at.0.saturating_add(max_age_ms) < now.0 {
            return Err(Error::Expired {
                created_at,
                now,
                max_age_ms,
            });
        }
        Ok(())
    }
}

/// One notice-signing key of a member.
#[derive(Clone, Debug)]
pub struct MemberKey {
    /// The key's name.
    pub name: KeyName,
    /// The public key.
    pub public: PublicKey,
    /// Start of validity (inclusive).
    pub not_before: UnixMillis,
    /// End of validity (exclusive).
    pub not_after: UnixMillis,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixMillis>,
    /// Why it was revoked (empty if it was not, or no reason was given).
    pub revocation_reason: String,
}

impl MemberKey {
    fn revoked_by(&self, t: UnixMillis) -> bool {
        self.revoked_at.is_some_and(|r| r <= t)
    }
}

/// A member organisation.
#[derive(Clone, Debug)]
pub struct Member {
    /// Org id.
    pub org_id: OrgId,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// Notice-signing keys.
    pub keys: Vec<MemberKey>,
    /// SHA-256 pins of accepted TLS SubjectPublicKeyInfo.
    pub tls_pins: Vec<[u8; 32]>,
    /// Endpoints, `host:port`.
    pub endpoints: Vec<String>,
    /// Extra clearance tokens.
    pub clearances: Vec<String>,
    /// When the member was revoked, if it was.
    pub revoked_at: Option<UnixMillis>,
}

impl Member {
    /// Whether the member is revoked at `t`.
    pub fn revoked_by(&self, t: UnixMillis) -> bool {
        self.revoked_at.is_some_and(|r| r <= t)
    }

    /// Whether `spki_sha256` is one of the member's TLS pins.
    pub fn pins(&self, spki_sha256: &[u8; 32]) -> bool {
        self.tls_pins.iter().any(|p| p == spki_sha256)
    }
}

/// A permission of the sending policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRule {
    /// Sender role.
    pub from: Role,
    /// Recipient role.
    pub to: Role,
    /// Permitted kinds.
    pub kinds: Vec<NoticeKind>,
    /// Whether the notice must reply to a referral the sender authored.
    pub reply_to_own_referral: bool,
}

/// A permission to run a private matching (docs/MATCHING.md): a member
/// of role `asker` may ask one of role `answerer`, within these limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchRule {
    /// The asking role.
    pub asker: Role,
    /// The answering role.
    pub answerer: Role,
    /// The most distinct items one query may hold (at least 1).
    pub max_query_items: u64,
    /// The fewest held items the answerer may match against.
    pub min_held_items: u64,
    /// The most runs one asker may start with one answerer in 24 hours
    /// (at least 1).
    pub runs_per_day: u32,
    /// Whether the answerer reveals each match's sources.
    pub reveal_sources: bool,
    /// Whether the answerer learns the intersection too.
    pub both_learn: bool,
}

/// The sending policy: which role may send which kind to which role, and
/// who may match with whom.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The rules; anything none permits is refused.
    pub rules: Vec<PolicyRule>,
    /// Whether a status update answering a referral also goes to each hub
    /// the referral was addressed to.
    pub copy_hub_on_status: bool,
    /// Who may match with whom; a pair no rule names may not.
    pub match_rules: Vec<MatchRule>,
}

/// What the policy check needs to know about the notice a message replies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyContext {
    /// The notice replies to nothing, or to a notice the checker does not hold.
    Unknown,
    /// The notice replies to a referral with this author.
    ReferralBy(OrgId),
    /// The notice replies to a notice that is not a referral, with this author.
    Other(OrgId),
}

impl ReplyContext {
    /// The author of the notice replied to, if the checker holds it.
    pub fn author(&self) -> Option<&OrgId> {
        match self {
            Self::Unknown => None,
            Self::ReferralBy(a) | Self::Other(a) => Some(a),
        }
    }
}

impl Policy {
    /// The policy DESIGN.md describes: partners may send referrals to
    /// agencies and the hub, and case messages, status updates and
    /// retractions that reply to their own referrals; agencies and the hub
    /// may send anything to agencies, the hub and partners; no one sends to
    /// auditors. The hub is copied on status answers to referrals it was
    /// sent.
    pub fn standard() -> Self {
        use NoticeKind::*;
        let mut rules = Vec::new();
        for to in [Role::Agency, Role::Hub] {
            rules.push(PolicyRule {
                from: Role::Partner,
                to,
                kinds: vec![Referral],
                reply_to_own_referral: false,
            });
            rules.push(PolicyRule {
                from: Role::Partner,
                to,
                kinds: vec![CaseMessage, StatusUpdate, Retraction],
                reply_to_own_referral: true,
            });
        }
        for from in [Role::Agency, Role::Hub] {
            for to in [Role::Agency, Role::Hub, Role::Partner] {
                rules.push(PolicyRule {
                    from,
                    to,
                    kinds: NoticeKind::ALL.to_vec(),
                    reply_to_own_referral: false,
                });
            }
        }
        // Agencies and the hub may match each other's holdings, whatever
        // their size; a partner may ask the hub only (is a site it found
        // known already?), in small queries, learning nothing of where,
        // and only once the hub holds enough that a match says little.
        let mut match_rules = Vec::new();
        for asker in [Role::Agency, Role::Hub] {
            for answerer in [Role::Agency, Role::Hub] {
                match_rules.push(MatchRule {
                    asker,
                    answerer,
                    max_query_items: 100_000,
                    min_held_items: 0,
                    runs_per_day: 24,
                    reveal_sources: true,
                    both_learn: false,
                });
            }
        }
        match_rules.push(MatchRule {
            asker: Role::Partner,
            answerer: Role::Hub,
            max_query_items: 10_000,
            min_held_items: 1_000,
            runs_per_day: 4,
            reveal_sources: false,
            both_learn: false,
        });
        Self {
            rules,
            copy_hub_on_status: true,
            match_rules,
        }
    }

    /// The rule that lets a member of role `asker` match with one of role
    /// `answerer`, if any.
    pub fn match_rule(&self, asker: Role, answerer: Role) -> Option<&MatchRule> {
        self.match_rules
            .iter()
            .find(|r| r.asker == asker && r.answerer == answerer)
    }

    /// Checks that `sender` (of role `from`) may send a notice of `kind` to
    /// a member of role `to`, replying to `reply`. Whatever the rules, a
    /// retraction is valid only from the author of the notice it retracts.
    pub fn check(
        &self,
        sender: &OrgId,
        from: Role,
        to: Role,
        kind: NoticeKind,
        reply: &ReplyContext,
    ) -> Result<(), Error> {
        if kind == NoticeKind::Retraction && reply.author().is_some_and(|a| a != sender) {
            return Err(Error::PolicyDenied {
                from,
                to,
                kind,
                why: "a retraction must be by the author of the notice it retracts",
            });
        }
        let mut needs_reply = false;
        for rule in self
            .rules
            .iter()
            .filter(|r| r.from == from && r.to == to && r.kinds.contains(&kind))
        {
            if !rule.reply_to_own_referral
                || matches!(reply, ReplyContext::ReferralBy(a) if a == sender)
            {
                return Ok(());
            }
            needs_reply = true;
        }
        Err(Error::PolicyDenied {
            from,
            to,
            kind,
            why: if needs_reply {
                "it must reply to a referral of the sender's own"
            } else {
                "no rule permits it"
            },
        })
    }

    fn from_pb(p: &pb::Policy) -> Result<Self, Error> {
        let rules = p
            .rules
            .iter()
            .map(|r| {
                let kinds = r
                    .kinds
                    .iter()
                    .map(|k| NoticeKind::from_pb(*k))
                    .collect::<Result<Vec<_>, _>>()?;
                if kinds.is_empty() {
                    return Err(Error::InvalidRoster("policy rule names no kinds".into()));
                }
                let reply_to_own_referral = match pb::PolicyCondition::try_from(r.condition) {
                    Ok(pb::PolicyCondition::None) => false,
                    Ok(pb::PolicyCondition::ReplyToOwnReferral) => true,
                    Err(_) => {
                        return Err(Error::InvalidRoster(format!(
                            "unknown policy condition {}",
                            r.condition
                        )));
                    }
                };
                Ok(PolicyRule {
                    from: Role::from_pb(r.from)?,
                    to: Role::from_pb(r.to)?,
                    kinds,
                    reply_to_own_referral,
                })
            })
            .collect::<Result<_, _>>()?;
        let match_rules = p
            .match_rules
            .iter()
            .map(|r| {
                let (asker, answerer) = (Role::from_pb(r.asker)?, Role::from_pb(r.answerer)?);
                if r.max_query_items == 0 || r.runs_per_day == 0 {
                    return Err(Error::InvalidRoster(format!(
                        "the match rule for {} asking {} allows no query (max_query_items and runs_per_day must be at least 1)",
                        asker.as_str(),
                        answerer.as_str()
                    )));
                }
                Ok(MatchRule {
                    asker,
                    answerer,
                    max_query_items: r.max_query_items,
                    min_held_items: r.min_held_items,
                    runs_per_day: r.runs_per_day,
                    reveal_sources: r.reveal_sources,
                    both_learn: r.both_learn,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            rules,
            copy_hub_on_status: p.copy_hub_on_status,
            match_rules,
        })
    }

    /// The wire form.
    pub fn to_pb(&self) -> pb::Policy {
        pb::Policy {
            rules: self
                .rules
                .iter()
                .map(|r| pb::PolicyRule {
                    from: r.from.to_pb() as i32,
                    to: r.to.to_pb() as i32,
                    kinds: r.kinds.iter().map(|k| k.to_pb() as i32).collect(),
                    condition: if r.reply_to_own_referral {
                        pb::PolicyCondition::ReplyToOwnReferral
                    } else {
                        pb::PolicyCondition::None
                    } as i32,
                })
                .collect(),
            copy_hub_on_status: self.copy_hub_on_status,
            match_rules: self
                .match_rules
                .iter()
                .map(|r| pb::MatchRule {
                    asker: r.asker.to_pb() as i32,
                    answerer: r.answerer.to_pb() as i32,
                    max_query_items: r.max_query_items,
                    min_held_items: r.min_held_items,
                    runs_per_day: r.runs_per_day,
                    reveal_sources: r.reveal_sources,
                    both_learn: r.both_learn,
                })
                .collect(),
        }
    }
}

/// Token prefixes that only the roster itself may grant through role,
/// country and org; groups and extra clearances may not use them.
pub(crate) const RESERVED_PREFIXES: [&str; 3] = ["org:", "role:", "country:"];

fn check_grantable_token(what: &str, token: &str) -> Result<(), Error> {
    if !is_token(token) {
        return Err(Error::InvalidRoster(format!(
            "{what} {token:?} is not a valid label token"
        )));
    }
    if RESERVED_PREFIXES.iter().any(|p| token.starts_with(p)) {
        return Err(Error::InvalidRoster(format!(
            "{what} {token:?} uses a reserved prefix (org:, role:, country:)"
        )));
    }
    Ok(())
}

/// A verified, validated roster.
#[derive(Clone, Debug)]
pub struct Roster {
    federation: String,
    version: u64,
    issued_at: UnixMillis,
    members: BTreeMap<OrgId, Member>,
    groups: BTreeMap<String, BTreeSet<OrgId>>,
    policy: Policy,
}

impl Roster {
    /// Verifies a roster envelope against the roster key, then decodes and
    /// validates it.
    pub fn verify(env: &pb::Envelope, roster_key: &RosterKey) -> Result<Self, Error> {
        dsse::check_shape(env, ROSTER_PAYLOAD_TYPE)?;
        let msg = dsse::pae(&env.payload_type, &env.payload);
        let signed = env.signatures.iter().any(|s| {
            s.keyid == roster_key.name
                && crate::keys::signature_from_slice(&s.sig)
                    .is_ok_and(|sig| verify_strict(&roster_key.key, &msg, &sig))
        });
        if !signed {
            return Err(Error::BadSignature(format!(
                "roster not signed by roster key {:?}",
                roster_key.name
            )));
        }
        let pb = pb::Roster::decode(env.payload.as_ref()).map_err(|e| Error::Decode {
            what: "roster",
            source: e,
        })?;
        Self::try_from(pb)
    }

    /// Verifies `env` as a successor of this roster: signed by the roster
    /// key, for the same federation, with a higher version.
    pub fn verify_update(&self, env: &pb::Envelope, roster_key: &RosterKey) -> Result<Self, Error> {
        let next = Self::verify(env, roster_key)?;
        if next.federation != self.federation {
            return Err(Error::InvalidRoster(format!(
                "roster for federation {:?}, expected {:?}",
                next.federation, self.federation
            )));
        }
        if next.version <= self.version {
            return Err(Error::StaleRoster {
                current: self.version,
                offered: next.version,
            });
        }
        Ok(next)
    }

    /// The federation's name.
    pub fn federation(&self) -> &str {
        &self.federation
    }

    /// The version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The issue time.
    pub fn issued_at(&self) -> UnixMillis {
        self.issued_at
    }

    /// The sending policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// All members, by org id.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// A member by org id.
    pub fn member(&self, org: &OrgId) -> Result<&Member, Error> {
        self.members
            .get(org)
            .ok_or_else(|| Error::UnknownOrg(org.clone()))
    }

    /// The member, provided it is not revoked at `now`.
    pub fn active_member(&self, org: &OrgId, now: UnixMillis) -> Result<&Member, Error> {
        let m = self.member(org)?;
        if m.revoked_by(now) {
            return Err(Error::OrgRevoked(org.clone()));
        }
        Ok(m)
    }

    /// Resolves the key `key_id` for a payload created at `created_at`, judged
    /// by `judgement`. The key must belong to `author`.
    pub fn signing_key(
        &self,
        key_id: &KeyId,
        author: &OrgId,
        created_at: UnixMillis,
        judgement: Judgement,
    ) -> Result<&PublicKey, Error> {
        if &key_id.org != author {
            return Err(Error::KeyNotAuthors {
                key: key_id.clone(),
                author: author.clone(),
            });
        }
        let member = self.member(author)?;
        let key = member
            .keys
            .iter()
            .find(|k| k.name == key_id.name)
            .ok_or_else(|| Error::UnknownKey(key_id.clone()))?;
        // A new delivery's time first: an expired notice is expired, whatever its key.
        judgement.check_time(created_at)?;
        let invalid = |why: String| Error::KeyNotValid {
            key: key_id.clone(),
            why,
        };
        let t = |m: UnixMillis| crate::json::rfc3339(m.0);
        if created_at < key.not_before {
            return Err(invalid(format!(
                "created_at {} is {} before its validity starts ({})",
                t(created_at),
                crate::ids::span(key.not_before.0 - created_at.0),
                t(key.not_before)
            )));
        }
        if created_at >= key.not_after {
            return Err(invalid(format!(
                "created_at {} is {} after its validity ended ({})",
                t(created_at),
                crate::ids::span(created_at.0 - key.not_after.0),
                t(key.not_after)
            )));
        }
        if key.revoked_by(created_at) || member.revoked_by(created_at) {
            return Err(invalid(format!(
                "revoked before created_at {}",
                created_at.0
            )));
        }
        if let Judgement::Live { now, .. } = judgement
            && (key.revoked_by(now) || member.revoked_by(now))
        {
            return Err(invalid("revoked now".into()));
        }
        Ok(&key.public)
    }

    /// Resolves the first signature of `env` whose key counts for `author`
    /// (see [`Roster::signing_key`]), to be checked alone or in a batch.
    /// Signatures by other keys are skipped; if none counts, the error of
    /// the first is returned.
    pub fn resolve_signature(
        &self,
        env: &pb::Envelope,
        author: &OrgId,
        created_at: UnixMillis,
        judgement: Judgement,
    ) -> Result<PendingSignature, Error> {
        let mut first_err = None;
        for (i, s) in env.signatures.iter().enumerate() {
            let resolved = s.keyid.parse::<KeyId>().and_then(|id| {
                self.signing_key(&id, author, created_at, judgement)
                    .map(|k| (id, *k))
            });
            match resolved {
                Ok((id, key)) => return PendingSignature::new(env, i, key, id),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(Error::Unsigned))
    }

    /// The clearance of `org`: `org:<ID>`, `role:<role>`, `country:<CC>`,
    /// the groups it belongs to, and its extra clearance tokens.
    pub fn clearance(&self, org: &OrgId) -> Result<Clearance, Error> {
        let m = self.member(org)?;
        let mut c = Clearance::from_tokens([
            format!("org:{}", m.org_id),
            format!("role:{}", m.role),
            format!("country:{}", m.country),
        ]);
        for (id, members) in &self.groups {
            if members.contains(org) {
                c.insert(id.clone());
            }
        }
        for t in &m.clearances {
            c.insert(t.clone());
        }
        Ok(c)
    }

    /// The groups: each id with its members.
    pub fn groups(&self) -> &BTreeMap<String, BTreeSet<OrgId>> {
        &self.groups
    }

    /// Whether `id` names a group.
    pub fn has_group(&self, id: &str) -> bool {
        self.groups.contains_key(id)
    }

    /// Whether `org` is a member of group `id`: what addressing a notice
    /// to a group means (a clearance token never counts).
    pub fn in_group(&self, id: &str, org: &OrgId) -> bool {
        self.groups.get(id).is_some_and(|m| m.contains(org))
    }

    /// Expands a notice's recipients into the set of member orgs to deliver
    /// to, as of `now`. Named orgs must be active members. Groups expand to
    /// their active, non-auditor members. The author is never its own recipient.
    pub fn expand_recipients<'a>(
        &self,
        author: &OrgId,
        orgs: impl IntoIterator<Item = &'a OrgId>,
        groups: impl IntoIterator<Item = &'a str>,
        now: UnixMillis,
    ) -> Result<BTreeSet<OrgId>, Error> {
        let mut out = BTreeSet::new();
        for org in orgs {
            self.active_member(org, now)?;
            out.insert(org.clone());
        }
        for g in groups {
            let members = self
                .groups
                .get(g)
                .ok_or_else(|| Error::UnknownGroup(g.to_owned()))?;
            for org in members {
                if self
                    .active_member(org, now)
                    .is_ok_and(|m| m.role != Role::Auditor)
                {
                    out.insert(org.clone());
                }
            }
        }
        out.remove(author);
        Ok(out)
    }

    /// What changes from `old` to this roster, one line each in plain
    /// words: members joined, left or revoked; their keys, TLS pins,
    /// endpoints, clearances; groups; the policy. Empty if nothing does
    /// (version and issue time aside).
    pub fn changes_from(&self, old: &Roster) -> Vec<String> {
        let t = |m: UnixMillis| crate::json::rfc3339(m.0);
        let mut out = Vec::new();
        if self.federation != old.federation {
            out.push(format!(
                "federation {:?} instead of {:?}",
                self.federation, old.federation
            ));
        }
        for (org, m) in &self.members {
            let Some(o) = old.members.get(org) else {
                out.push(format!(
                    "{org} joins as {} ({}, {}) with keys {}",
                    m.role,
                    m.display_name,
                    m.country,
                    m.keys
                        .iter()
                        .map(|k| k.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            };
            if m.revoked_at != o.revoked_at {
                out.push(match m.revoked_at {
                    Some(r) => format!("{org} is removed (revoked from {})", t(r)),
                    None => format!("{org} is no longer revoked"),
                });
            }
            for (what, new, was) in [
                ("display name", &m.display_name, &o.display_name),
                ("country", &m.country, &o.country),
            ] {
                if new != was {
                    out.push(format!("{org}: {what} {new:?} instead of {was:?}"));
                }
            }
            if m.role != o.role {
                out.push(format!("{org}: role {} instead of {}", m.role, o.role));
            }
            for k in &m.keys {
                let id = KeyId::new(org.clone(), k.name.clone());
                let Some(w) = o.keys.iter().find(|w| w.name == k.name) else {
                    out.push(format!(
                        "{id}: new key {}, valid {} to {}",
                        hex::encode(k.public.as_bytes()),
                        t(k.not_before),
                        t(k.not_after)
                    ));
                    continue;
                };
                if k.public != w.public {
                    out.push(format!("{id}: a different public key under the same name"));
                }
                if (k.not_before, k.not_after) != (w.not_before, w.not_after) {
                    out.push(format!(
                        "{id}: valid {} to {} instead of {} to {}",
                        t(k.not_before),
                        t(k.not_after),
                        t(w.not_before),
                        t(w.not_after)
                    ));
                }
                if (k.revoked_at, &k.revocation_reason) != (w.revoked_at, &w.revocation_reason) {
                    out.push(match k.revoked_at {
                        Some(r) => format!(
                            "{id}: revoked from {} ({})",
                            t(r),
                            if k.revocation_reason.is_empty() {
                                "no reason given"
                            } else {
                                &k.revocation_reason
                            }
                        ),
                        None => format!("{id}: no longer revoked"),
                    });
                }
            }
            for w in o
                .keys
                .iter()
                .filter(|w| !m.keys.iter().any(|k| k.name == w.name))
            {
                out.push(format!("{org}/{}: key dropped from the roster", w.name));
            }
            let pins = |a: &Member, b: &Member| -> Vec<String> {
                a.tls_pins
                    .iter()
                    .filter(|p| !b.pins(p))
                    .map(hex::encode)
                    .collect()
            };
            for p in pins(m, o) {
                out.push(format!("{org}: new TLS pin {p}"));
            }
            for p in pins(o, m) {
                out.push(format!("{org}: TLS pin {p} dropped"));
            }
            for (what, new, was) in [
                ("endpoint", &m.endpoints, &o.endpoints),
                ("clearance", &m.clearances, &o.clearances),
            ] {
                for x in new.iter().filter(|x| !was.contains(x)) {
                    out.push(format!("{org}: {what} {x} added"));
                }
                for x in was.iter().filter(|x| !new.contains(x)) {
                    out.push(format!("{org}: {what} {x} removed"));
                }
            }
        }
        for org in old
            .members
            .keys()
            .filter(|o| !self.members.contains_key(*o))
        {
            out.push(format!("{org} is dropped from the roster"));
        }
        for (id, members) in &self.groups {
            let Some(was) = old.groups.get(id) else {
                out.push(format!(
                    "group {id} is new: {}",
                    members
                        .iter()
                        .map(OrgId::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            };
            for m in members.difference(was) {
                out.push(format!("group {id}: {m} joins"));
            }
            for m in was.difference(members) {
                out.push(format!("group {id}: {m} leaves"));
            }
        }
        for id in old.groups.keys().filter(|g| !self.groups.contains_key(*g)) {
            out.push(format!("group {id} is removed"));
        }
        if self.policy.copy_hub_on_status != old.policy.copy_hub_on_status {
            out.push(if self.policy.copy_hub_on_status {
                "status answers to referrals are copied to the hubs they were sent to".into()
            } else {
                "status answers are no longer copied to the hub".into()
            });
        }
        if self.policy.rules != old.policy.rules {
            out.push("the sending policy's rules change".into());
        }
        if self.policy.match_rules != old.policy.match_rules {
            out.push("the matching policy's rules change".into());
        }
        out
    }

    /// Signs a roster message with the roster key (the federation
    /// authority's operation).
    pub fn sign(roster: &pb::Roster, signer: &crate::Signer) -> Result<pb::Envelope, Error> {
        Self::try_from(roster.clone())?;
        Ok(dsse::sign_envelope(
            signer,
            ROSTER_PAYLOAD_TYPE,
            roster.encode_to_vec().into(),
        ))
    }
}

impl TryFrom<pb::Roster> for Roster {
    type Error = Error;

    fn try_from(r: pb::Roster) -> Result<Self, Error> {
        let bad = |s: String| Error::InvalidRoster(s);
        if r.federation.is_empty() {
            return Err(bad("federation name is empty".into()));
        }
        if r.version == 0 {
            return Err(bad("version must be at least 1".into()));
        }
        let mut members = BTreeMap::new();
        for m in r.members {
            let org_id = OrgId::new(&m.org_id)?;
            let ctx = |e: Error| bad(format!("member {org_id}: {e}"));
            check_country(&m.country).map_err(ctx)?;
            let role = Role::from_pb(m.role).map_err(ctx)?;
            let mut keys: Vec<MemberKey> = Vec::with_capacity(m.keys.len());
            for k in &m.keys {
                let name = KeyName::new(&k.name).map_err(ctx)?;
                if keys.iter().any(|o| o.name == name) {
                    return Err(bad(format!(
                        "member {org_id}: key name {name} appears twice"
                    )));
                }
                if k.not_before >= k.not_after {
                    return Err(bad(format!(
                        "member {org_id}: key {name} has not_before >= not_after"
                    )));
                }
                keys.push(MemberKey {
                    public: public_key_from_slice(&k.public_key).map_err(ctx)?,
                    name,
                    not_before: UnixMillis(k.not_before),
                    not_after: UnixMillis(k.not_after),
                    revoked_at: k.revoked_at.map(UnixMillis),
                    revocation_reason: k.revocation_reason.clone(),
                });
            }
            let tls_pins = m
                .tls_spki_sha256
                .iter()
                .map(|p| <[u8; 32]>::try_from(p.as_ref()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| bad(format!("member {org_id}: a TLS pin is not 32 bytes")))?;
            for t in &m.clearances {
                check_grantable_token("clearance", t).map_err(ctx)?;
            }
            let member = Member {
                org_id: org_id.clone(),
                display_name: m.display_name,
                role,
                country: m.country,
                keys,
                tls_pins,
                endpoints: m.endpoints,
                clearances: m.clearances,
                revoked_at: m.revoked_at.map(UnixMillis),
            };
            if members.insert(org_id.clone(), member).is_some() {
                return Err(bad(format!("member {org_id} appears twice")));
            }
        }
        let mut groups = BTreeMap::new();
        for g in r.groups {
            check_grantable_token("group id", &g.id)?;
            let mut set = BTreeSet::new();
            for m in &g.members {
                let org = OrgId::new(m)?;
                if !members.contains_key(&org) {
                    return Err(bad(format!(
                        "group {} names {org}, who is not a member",
                        g.id
                    )));
                }
                set.insert(org);
            }
            if groups.insert(g.id.clone(), set).is_some() {
                return Err(bad(format!("group {} appears twice", g.id)));
            }
        }
        // A token that is also a group's id would read as membership of
        // that group wherever a label names it.
        for m in members.values() {
            if let Some(t) = m.clearances.iter().find(|t| groups.contains_key(*t)) {
                return Err(bad(format!(
                    "member {}: clearance token {t:?} is the id of a group; grant it by adding the member to the group",
                    m.org_id
                )));
            }
        }
        let policy = Policy::from_pb(&r.policy.unwrap_or_default())?;
        Ok(Self {
            federation: r.federation,
            version: r.version,
            issued_at: UnixMillis(r.issued_at),
            members,
            groups,
            policy,
        })
    }
}

/// Builds a roster message: the federation authority's tool, and the
/// fixture of tests and the demo. [`RosterBuilder::build`] validates.
#[derive(Clone, Debug)]
pub struct RosterBuilder(pb::Roster);

impl RosterBuilder {
    /// Starts a roster with the [standard policy](Policy::standard).
    pub fn new(federation: &str, version: u64, issued_at: UnixMillis) -> Self {
        Self(pb::Roster {
            federation: federation.into(),
            version,
            issued_at: issued_at.0,
            members: Vec::new(),
            groups: Vec::new(),
            policy: Some(Policy::standard().to_pb()),
        })
    }

    /// Starts from an existing roster message (to make its next version).
    pub fn from_pb(roster: pb::Roster) -> Self {
        Self(roster)
    }

    fn member_mut(&mut self, org: &OrgId) -> Result<&mut pb::Member, Error> {
        self.0
            .members
            .iter_mut()
            .find(|m| m.org_id == org.as_str())
            .ok_or_else(|| Error::UnknownOrg(org.clone()))
    }

    /// Adds a member.
    pub fn member(mut self, org: &OrgId, display_name: &str, role: Role, country: &str) -> Self {
        self.0.members.push(pb::Member {
            org_id: org.to_string(),
            display_name: display_name.into(),
            role: role.to_pb() as i32,
            country: country.into(),
            ..Default::default()
        });
        self
    }

    /// Adds a signing key to member `org`.
    pub fn key(
        mut self,
        org: &OrgId,
        name: &KeyName,
        key: &PublicKey,
        not_before: UnixMillis,
        not_after: UnixMillis,
    ) -> Result<Self, Error> {
        self.member_mut(org)?.keys.push(pb::SigningKey {
            name: name.to_string(),
            public_key: key.to_bytes().to_vec().into(),
            not_before: not_before.0,
            not_after: not_after.0,
            revoked_at: None,
            revocation_reason: String::new(),
        });
        Ok(self)
    }

    fn key_mut(&mut self, org: &OrgId, name: &KeyName) -> Result<&mut pb::SigningKey, Error> {
        self.member_mut(org)?
            .keys
            .iter_mut()
            .find(|k| k.name == name.as_str())
            .ok_or_else(|| Error::UnknownKey(KeyId::new(org.clone(), name.clone())))
    }

    /// Revokes key `name` of `org` from `at` on (the time it was, or may
    /// have been, compromised: signatures on payloads created from then on
    /// do not count, for auditors too), saying why.
    pub fn revoke_key(
        mut self,
        org: &OrgId,
        name: &KeyName,
        at: UnixMillis,
        reason: &str,
    ) -> Result<Self, Error> {
        let key = self.key_mut(org, name)?;
        key.revoked_at = Some(at.0);
        key.revocation_reason = reason.into();
        Ok(self)
    }

    /// Ends the validity of key `name` of `org` at `at` (exclusive): it
    /// retires, and what it signed before stays valid.
    pub fn retire_key(
        mut self,
        org: &OrgId,
        name: &KeyName,
        at: UnixMillis,
    ) -> Result<Self, Error> {
        self.key_mut(org, name)?.not_after = at.0;
        Ok(self)
    }

    /// Revokes member `org` from `at` on.
    pub fn revoke_member(mut self, org: &OrgId, at: UnixMillis) -> Result<Self, Error> {
        self.member_mut(org)?.revoked_at = Some(at.0);
        Ok(self)
    }

    /// Adds a TLS SPKI pin and an endpoint to member `org`.
    pub fn tls(
        mut self,
        org: &OrgId,
        spki_sha256: [u8; 32],
        endpoint: &str,
    ) -> Result<Self, Error> {
        let m = self.member_mut(org)?;
        m.tls_spki_sha256.push(spki_sha256.to_vec().into());
        m.endpoints.push(endpoint.into());
        Ok(self)
    }

    /// Adds a TLS SPKI pin to member `org` (a renewed certificate's,
    /// beside the old one's); a pin it has already is kept once.
    pub fn pin(mut self, org: &OrgId, spki_sha256: [u8; 32]) -> Result<Self, Error> {
        let m = self.member_mut(org)?;
        if !m.tls_spki_sha256.iter().any(|p| p.as_ref() == spki_sha256) {
            m.tls_spki_sha256.push(spki_sha256.to_vec().into());
        }
        Ok(self)
    }

    /// Drops a TLS SPKI pin of member `org`. The member's last pin is
    /// not dropped: it could no longer connect at all.
    pub fn unpin(mut self, org: &OrgId, spki_sha256: [u8; 32]) -> Result<Self, Error> {
        let m = self.member_mut(org)?;
        let Some(at) = m
            .tls_spki_sha256
            .iter()
            .position(|p| p.as_ref() == spki_sha256)
        else {
            return Err(Error::InvalidRoster(format!(
                "{org} has no TLS pin {}",
                hex::encode(spki_sha256)
            )));
        };
        if m.tls_spki_sha256.len() == 1 {
            return Err(Error::InvalidRoster(format!(
                "{} is {org}'s only TLS pin: pin its new certificate first",
                hex::encode(spki_sha256)
            )));
        }
        m.tls_spki_sha256.remove(at);
        Ok(self)
    }

    /// Grants member `org` an extra clearance token.
    pub fn clearance(mut self, org: &OrgId, token: &str) -> Result<Self, Error> {
        self.member_mut(org)?.clearances.push(token.into());
        Ok(self)
    }

    /// Adds a group.
    pub fn group(mut self, id: &str, description: &str, members: &[&OrgId]) -> Self {
        self.0.groups.push(pb::Group {
            id: id.into(),
            description: description.into(),
            members: members.iter().map(ToString::to_string).collect(),
        });
        self
    }

    /// Replaces the policy.
    pub fn policy(mut self, policy: &Policy) -> Self {
        self.0.policy = Some(policy.to_pb());
        self
    }

    /// Sets the version and issue time (for a successor roster).
    pub fn version(mut self, version: u64, issued_at: UnixMillis) -> Self {
        self.0.version = version;
        self.0.issued_at = issued_at.0;
        self
    }

    /// Validates and returns the roster message.
    pub fn build(self) -> Result<pb::Roster, Error> {
        Roster::try_from(self.0.clone())?;
        Ok(self.0)
    }

    /// Validates and signs the roster with the roster key.
    pub fn sign(self, roster_key: &crate::Signer) -> Result<pb::Envelope, Error> {
        Roster::sign(&self.build()?, roster_key)
    }
}
