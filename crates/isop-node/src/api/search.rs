//! Search (`GET /v1/query`): the notices the log's indexes pick (by
//! indicator, case, author), or every notice, narrowed by filters; who
//! referred what was found, and who acted on it.

use isop_api::{Acted, QueryAnswer, QueryParams, Time};
use isop_core::json::enum_value;
use isop_core::pb::notice::Body;
use isop_core::{LogIndex, Notice, NoticeKind, OrgId, indicator, pb};

use super::shared::{ApiError, bad_request, kind_filter};
use super::views::{subject, summary_of, thread};
use crate::state::Inner;

/// The most notices one answer holds.
const MAX_FOUND: usize = 500;

/// What a notice must hold to be found, past the indexes; the inbox and
/// sent lists narrow by the same.
pub(super) struct Filters {
    author: Option<OrgId>,
    kind: Option<pb::NoticeKind>,
    status: Option<pb::ReferralStatus>,
    category: Option<pb::ContentCategory>,
    work: Option<String>,
    contains: Option<String>,
    since: Option<Time>,
    until: Option<Time>,
}

impl Filters {
    pub(super) fn of(q: &QueryParams) -> Result<Self, ApiError> {
        let lower = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_lowercase)
        };
        Ok(Self {
            author: q
                .author
                .as_deref()
                .map(|a| a.parse().map_err(|e| bad_request(format!("author: {e}"))))
                .transpose()?,
            kind: kind_filter(q.kind.as_deref())?,
            status: q
                .status
                .as_deref()
                .map(|s| {
                    enum_value(
                        "status",
                        "isop.v1.ReferralStatus",
                        s,
                        pb::ReferralStatus::from_str_name,
                    )
                })
                .transpose()?,
            category: q
                .category
                .as_deref()
                .map(|c| {
                    enum_value(
                        "category",
                        "isop.v1.ContentCategory",
                        c,
                        pb::ContentCategory::from_str_name,
                    )
                })
                .transpose()?,
            work: lower(&q.work),
            contains: lower(&q.contains),
            since: q.since,
            until: q.until,
        })
    }

    /// Whether any filter is set: without one, every notice passes.
    pub(super) fn any(&self) -> bool {
        let Self {
            author,
            kind,
            status,
            category,
            work,
            contains,
            since,
            until,
        } = self;
        author.is_some()
            || kind.is_some()
            || status.is_some()
            || category.is_some()
            || work.is_some()
            || contains.is_some()
            || since.is_some()
            || until.is_some()
    }

    /// Whether `n` passes every filter but the status, which needs its
    /// answers ([`Filters::pass_status`]).
    pub(super) fn pass(&self, n: &Notice) -> bool {
        let made = Time(n.created_at().0);
        let referral = match n.body() {
            Body::Referral(r) => Some(r),
            _ => None,
        };
        self.author.as_ref().is_none_or(|a| n.author() == a)
            && self.kind.is_none_or(|k| n.kind().to_pb() == k)
            && self.since.is_none_or(|t| made >= t)
            && self.until.is_none_or(|t| made < t)
            && self
                .category
                .is_none_or(|c| referral.is_some_and(|r| r.category == c as i32))
            && self.work.as_deref().is_none_or(|w| {
                referral.is_some_and(|r| {
                    r.works.iter().any(|work| {
                        [&work.title, &work.rights_owner]
                            .into_iter()
                            .chain(work.identifiers.iter().map(|i| &i.value))
                            .any(|s| s.to_lowercase().contains(w))
                    })
                })
            })
            && self.contains.as_deref().is_none_or(|c| {
                subject(n).to_lowercase().contains(c)
                    || n.case_ref().is_some_and(|r| r.to_lowercase().contains(c))
                    || indicator::in_body(n.body())
                        .iter()
                        .any(|(_, v)| v.to_lowercase().contains(c))
            })
    }

    /// Whether a status is asked for: only a notice's summary tells it.
    pub(super) fn by_status(&self) -> bool {
        self.status.is_some()
    }

    /// Whether a notice summed up as `s` has the status asked for.
    pub(super) fn pass_status(&self, s: &isop_api::Summary) -> bool {
        self.status.is_none_or(|want| s.status == Some(want))
    }
}

/// The entries the indexes pick, oldest first: those every index given
/// names. `None` when no index is given: every entry.
fn picked(
    inner: &Inner,
    q: &QueryParams,
    filters: &Filters,
) -> Result<Option<Vec<LogIndex>>, ApiError> {
    let store = &inner.store;
    let mut lists = Vec::new();
    if let Some(i) = q.indicator.as_deref().filter(|i| !i.trim().is_empty()) {
        lists.push(store.by_indicator(i)?);
    }
    if let Some(c) = q.case.as_deref().filter(|c| !c.trim().is_empty()) {
        lists.push(store.by_case(c)?);
    }
    if let Some(org) = &filters.author {
        lists.push(store.by_author(org)?);
    }
    let Some(mut all) = lists.pop() else {
        return Ok(None);
    };
    for other in lists {
        all.retain(|at| other.binary_search(at).is_ok());
    }
    Ok(Some(all))
}

/// Who answered the referral `n`, and how, as this node holds it.
fn acted_on(inner: &Inner, n: &Notice) -> Result<Vec<Acted>, ApiError> {
    Ok(thread(inner, &n.id())?
        .into_iter()
        .filter_map(|(_, r)| match r.notice.body() {
            Body::StatusUpdate(u) => Some(Acted {
                org: r.notice.author().to_string(),
                referral: n.id().to_string(),
                status: pb::ReferralStatus::try_from(u.status).ok()?,
                at: Time(r.notice.created_at().0),
            }),
            _ => None,
        })
        .collect())
}

/// The search `q` asks for.
pub(super) fn search(inner: &Inner, q: &QueryParams) -> Result<QueryAnswer, ApiError> {
    let filters = Filters::of(q)?;
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_FOUND);
    let entries: Box<dyn Iterator<Item = LogIndex>> = match picked(inner, q, &filters)? {
        Some(list) => Box::new(list.into_iter().rev()),
        None => Box::new((0..inner.store.size()).rev().map(LogIndex)),
    };
    let mut answer = QueryAnswer {
        notices: Vec::new(),
        more: 0,
        referred_by: Vec::new(),
        acted: Vec::new(),
    };
    for at in entries {
        let Some(logged) = inner.notice_at(at)? else {
            continue;
        };
        let n = &logged.notice;
        if !filters.pass(n) {
            continue;
        }
        let summary = summary_of(inner, at, &logged)?;
        if !filters.pass_status(&summary) {
            continue;
        }
        if n.kind() == NoticeKind::Referral {
            answer.referred_by.push(n.author().to_string());
            answer.acted.extend(acted_on(inner, n)?);
        }
        if answer.notices.len() < limit {
            answer.notices.push(summary);
        } else {
            answer.more += 1;
        }
    }
    answer.referred_by.sort();
    answer.referred_by.dedup();
    Ok(answer)
}
