//! Overlaps, the hub's view (`GET /v1/correlations`, `isop correlate`,
//! the `NEW_OVERLAP` webhook event): targets that two or more partners
//! referred, or that intelligence reports from two or more agencies name.
//! A target is what [`indicator::correlation_key`] makes of a notice's
//! indicators: a registrable domain (its subdomains and URLs count for
//! it), an IP address, a wallet or a payment account. Only what this node
//! holds revealed counts.

use std::collections::{BTreeMap, BTreeSet};

use isop_core::pb::IndicatorKind;
use isop_core::{LogIndex, Notice, NoticeKind, OrgId, Role, Roster, UnixMillis, indicator};

use crate::Error;
use crate::state::Inner;

/// Which side of an overlap a notice counts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// A partner's referral.
    Referred,
    /// An agency's intelligence report.
    Reported,
}

/// The side `n` counts for, by its author's role in `roster`.
fn side(n: &Notice, roster: &Roster) -> Option<Side> {
    match (n.kind(), roster.member(n.author()).ok()?.role) {
        (NoticeKind::Referral, Role::Partner) => Some(Side::Referred),
        (NoticeKind::IntelReport, Role::Agency) => Some(Side::Reported),
        _ => None,
    }
}

/// The targets `n` names, each once.
fn targets(n: &Notice) -> BTreeSet<(IndicatorKind, String)> {
    indicator::in_body(n.body())
        .into_iter()
        .filter_map(|(k, v)| indicator::correlation_key(k, v))
        .collect()
}

/// One target, and who named it.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub(crate) kind: IndicatorKind,
    pub(crate) target: String,
    pub(crate) referred_by: BTreeSet<OrgId>,
    pub(crate) reported_by: BTreeSet<OrgId>,
    /// When a second partner or agency named it, if one did: then it is
    /// an overlap.
    pub(crate) since: Option<UnixMillis>,
    /// The entries of the notices naming it, oldest first.
    pub(crate) notices: Vec<LogIndex>,
}

impl Found {
    fn new(kind: IndicatorKind, target: String) -> Self {
        Self {
            kind,
            target,
            referred_by: BTreeSet::new(),
            reported_by: BTreeSet::new(),
            since: None,
            notices: Vec::new(),
        }
    }

    fn add(&mut self, side: Side, n: &Notice, at: LogIndex) {
        let orgs = match side {
            Side::Referred => &mut self.referred_by,
            Side::Reported => &mut self.reported_by,
        };
        if orgs.insert(n.author().clone()) && orgs.len() == 2 && self.since.is_none() {
            self.since = Some(n.created_at());
        }
        self.notices.push(at);
    }

    /// Whether `value` (a domain, URL, IP, wallet or account, as a person
    /// would type it) names this target.
    pub(crate) fn named_by(&self, value: &str) -> bool {
        [
            IndicatorKind::Domain,
            IndicatorKind::Url,
            IndicatorKind::Ip,
            IndicatorKind::CryptoWallet,
            IndicatorKind::PaymentAccount,
        ]
        .into_iter()
        .filter_map(|k| indicator::correlation_key(k, value))
        .any(|(k, t)| k == self.kind && t == self.target)
    }
}

/// Every overlap the log shows: a scan of its notices, oldest first.
pub(crate) fn overlaps(inner: &Inner) -> Result<Vec<Found>, Error> {
    let roster = inner.roster();
    let mut found: BTreeMap<(IndicatorKind, String), Found> = BTreeMap::new();
    for at in (0..inner.store.size()).map(LogIndex) {
        let Some(logged) = inner.notice_at(at)? else {
            continue;
        };
        let n = &logged.notice;
        let Some(side) = side(n, &roster) else {
            continue;
        };
        for (kind, target) in targets(n) {
            found
                .entry((kind, target.clone()))
                .or_insert_with(|| Found::new(kind, target))
                .add(side, n, at);
        }
    }
    Ok(found.into_values().filter(|f| f.since.is_some()).collect())
}

/// The overlaps that `n`, logged at `at`, made: each target it names that
/// became an overlap with it (the second partner, or agency, to name it),
/// found through the log's indicator index.
pub(crate) fn made_by(inner: &Inner, at: LogIndex, n: &Notice) -> Result<Vec<Found>, Error> {
    let roster = inner.roster();
    let Some(own) = side(n, &roster) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (kind, target) in targets(n) {
        let mut found = Found::new(kind, target.clone());
        for earlier in inner.store.by_indicator(&target)? {
            if earlier >= at {
                break;
            }
            let Some(o) = inner.notice_at(earlier)? else {
                continue;
            };
            if let Some(s) = side(&o.notice, &roster)
                && targets(&o.notice).contains(&(kind, target.clone()))
            {
                found.add(s, &o.notice, earlier);
            }
        }
        if found.since.is_some() {
            continue;
        }
        found.add(own, n, at);
        if found.since.is_some() {
            out.push(found);
        }
    }
    Ok(out)
}
