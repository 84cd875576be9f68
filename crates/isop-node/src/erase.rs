//! Erasure: the values of a notice's labelled fields erased from this
//! node's log, on request (`isop erase`, `POST /v1/notices/{id}/erase`) or
//! by the retention policy (`[retention]`), each as one LOCAL entry that
//! names the entry, the field, who and why. The digests stay, so the log
//! and every signature still verify.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use isop_core::json::enum_value;
use isop_core::pb::notice::Body;
use isop_core::{Label, LogIndex, Notice, NoticeId, UnixMillis, pb};
use isop_store::DisclosureState;

use crate::config::{RetentionFrom, RetentionRule};
use crate::state::Inner;
use crate::{Error, NodeConfig};

const DAY_MS: u64 = 86_400_000;

/// Who the retention policy's erasures are by.
pub(crate) const RETENTION: &str = "retention";

/// A value erased, or due to be.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    /// The notice's entry.
    pub(crate) entry: LogIndex,
    /// The notice.
    pub(crate) id: NoticeId,
    /// The field's path.
    pub(crate) path: String,
    /// Its label.
    pub(crate) label: Label,
    /// Its digest.
    pub(crate) digest: [u8; 32],
}

/// A notice's labelled fields as this node has them.
struct Fields {
    /// Those whose values it holds.
    held: Vec<Field>,
    /// Those it erased: each path, and the erasure.
    erased: Vec<(String, pb::ErasedDisclosure)>,
}

/// The labelled fields of the notice at `at`, as this node has them.
fn fields_of(inner: &Inner, at: LogIndex, n: &Notice) -> Result<Fields, Error> {
    let state: HashMap<[u8; 32], Option<DisclosureState>> = inner
        .store
        .disclosures_of(at)?
        .into_iter()
        .map(|d| (d.digest, d.state))
        .collect();
    let mut held = Vec::new();
    let mut erased = Vec::new();
    for c in n.commitments() {
        match state.get(&c.digest) {
            Some(Some(DisclosureState::Held(_))) => held.push(Field {
                entry: at,
                id: n.id(),
                path: c.path.clone(),
                label: c.label.clone(),
                digest: c.digest,
            }),
            Some(Some(DisclosureState::Erased(e))) => erased.push((c.path.clone(), e.clone())),
            _ => {}
        }
    }
    Ok(Fields { held, erased })
}

impl Inner {
    /// Erases the values this node holds of the notice at `at`: every
    /// labelled field's, or the one at `path`; for `reason`, as `by`
    /// asks. A field it never held, or erased already, is an error
    /// naming what there is.
    pub(crate) fn erase(
        &self,
        at: LogIndex,
        path: Option<&str>,
        reason: &str,
        by: &str,
    ) -> Result<Vec<Field>, Error> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::Invalid(
                "say why the values are erased (reason)".into(),
            ));
        }
        isop_core::text::check_line(reason)
            .map_err(|why| Error::Invalid(format!("reason: {why}")))?;
        let n = self
            .notice_at(at)?
            .ok_or_else(|| Error::Invalid(format!("entry {at} is not a notice")))?
            .notice;
        let Fields { held, erased } = fields_of(self, at, &n)?;
        let chosen: Vec<Field> = match path {
            None => held,
            Some(p) => held.into_iter().filter(|f| f.path == p).collect(),
        };
        if chosen.is_empty() {
            let gone = match path {
                Some(p) => erased.iter().find(|(e, _)| e == p),
                None => erased.first(),
            };
            let why = match gone {
                Some((p, e)) => format!(
                    "{p} was erased already, at {} ({})",
                    isop_core::json::rfc3339(e.erased_at),
                    e.reason
                ),
                None => {
                    let paths: Vec<&str> =
                        n.commitments().iter().map(|c| c.path.as_str()).collect();
                    match path {
                        Some(p) => format!(
                            "notice {} holds no value at {p} here (its labelled fields: {})",
                            n.id(),
                            if paths.is_empty() {
                                "none".into()
                            } else {
                                paths.join(", ")
                            }
                        ),
                        None => format!("this node holds no labelled value of notice {}", n.id()),
                    }
                }
            };
            return Err(Error::Invalid(why));
        }
        let now = self.now();
        for f in &chosen {
            self.store
                .erase_disclosure(f.entry, &f.digest, reason, by, now)?;
        }
        tracing::info!(notice = %n.id(), fields = chosen.len(), by, reason, "erased");
        self.progress.notify_waiters();
        Ok(chosen)
    }
}

/// A retention rule, checked.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    config: RetentionRule,
    kind: Option<pb::NoticeKind>,
}

/// The retention rules of `config`, each checked: a bad one is named.
pub(crate) fn rules(config: &NodeConfig) -> Result<Vec<Rule>, Error> {
    config
        .retention
        .rules
        .iter()
        .map(|r| {
            let bad = |why: String| Error::Config {
                path: format!("retention.rule {:?}", r.name),
                why,
            };
            if r.name.trim().is_empty() {
                return Err(bad("give the rule a name".into()));
            }
            if r.label.is_none() && r.path.is_none() && r.kind.is_none() {
                return Err(bad(
                    "select fields by label, path or kind: a rule for every value is not a retention policy".into(),
                ));
            }
            if let Some(l) = &r.label {
                let token = l.strip_suffix('*').unwrap_or(l);
                if token.is_empty() || Label::parse(token.trim_end_matches(':')).is_err() {
                    return Err(bad(format!("label {l:?} is not a token, or a token's start followed by *")));
                }
            }
            let kind = r
                .kind
                .as_deref()
                .map(|k| {
                    enum_value("kind", "isop.v1.NoticeKind", k, pb::NoticeKind::from_str_name)
                        .map_err(|e| bad(e.to_string()))
                })
                .transpose()?;
            Ok(Rule {
                config: r.clone(),
                kind,
            })
        })
        .collect()
}

impl Rule {
    /// Whether the rule selects field `f` of `n`.
    fn selects(&self, n: &Notice, f: &Field) -> bool {
        self.kind.is_none_or(|k| n.kind().to_pb() == k)
            && self.config.path.as_deref().is_none_or(|p| f.path == p)
            && self
                .config
                .label
                .as_deref()
                .is_none_or(|l| f.label.names(l))
    }

    /// Why its erasures are made.
    fn reason(&self) -> String {
        format!(
            "retention rule {}: {} days after {}",
            self.config.name,
            self.config.after_days,
            match self.config.from {
                RetentionFrom::Logged => "it was logged",
                RetentionFrom::CaseClosed => "its case closed",
            }
        )
    }
}

/// A value the retention policy erases.
#[derive(Clone, Debug)]
pub(crate) struct Due {
    pub(crate) field: Field,
    /// The rule's name.
    pub(crate) rule: String,
    pub(crate) reason: String,
    /// When it is due.
    pub(crate) due_at: UnixMillis,
}

/// When each case this node holds a closing message for was closed.
fn closed_cases(inner: &Inner) -> Result<HashMap<String, UnixMillis>, Error> {
    let mut closed = HashMap::new();
    for at in (0..inner.store.size()).map(LogIndex) {
        let Some(logged) = inner.notice_at(at)? else {
            continue;
        };
        let n = &logged.notice;
        if let (Body::CaseMessage(m), Some(case)) = (n.body(), n.case_ref())
            && m.action == pb::CaseAction::Close as i32
        {
            closed.entry(case.to_owned()).or_insert(n.created_at());
        }
    }
    Ok(closed)
}

/// The values `rules` erase by `now`: a scan of the log. A value two
/// rules select is due by the first that makes it due.
pub(crate) fn due(inner: &Inner, rules: &[Rule], now: UnixMillis) -> Result<Vec<Due>, Error> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let closed = if rules
        .iter()
        .any(|r| r.config.from == RetentionFrom::CaseClosed)
    {
        closed_cases(inner)?
    } else {
        HashMap::new()
    };
    let mut out = Vec::new();
    for at in (0..inner.store.size()).map(LogIndex) {
        let Some(logged) = inner.notice_at(at)? else {
            continue;
        };
        let n = &logged.notice;
        if n.commitments().is_empty() {
            continue;
        }
        for f in fields_of(inner, at, n)?.held {
            let first = rules
                .iter()
                .filter(|r| r.selects(n, &f))
                .filter_map(|r| {
                    let start = match r.config.from {
                        RetentionFrom::Logged => Some(UnixMillis(logged.entry.appended_at)),
                        RetentionFrom::CaseClosed => {
                            n.case_ref().and_then(|c| closed.get(c).copied())
                        }
                    }?;
                    let due_at = UnixMillis(
                        start
                            .0
                            .saturating_add(r.config.after_days.saturating_mul(DAY_MS)),
                    );
                    (due_at <= now).then_some((due_at, r))
                })
                .min_by_key(|(due_at, _)| *due_at);
            if let Some((due_at, r)) = first {
                out.push(Due {
                    field: f,
                    rule: r.config.name.clone(),
                    reason: r.reason(),
                    due_at,
                });
            }
        }
    }
    Ok(out)
}

/// Erases what `rules` make due now; what was erased.
pub(crate) fn apply(inner: &Inner, rules: &[Rule]) -> Result<Vec<Due>, Error> {
    let now = inner.now();
    let due = due(inner, rules, now)?;
    for d in &due {
        inner
            .store
            .erase_disclosure(d.field.entry, &d.field.digest, &d.reason, RETENTION, now)?;
    }
    if !due.is_empty() {
        tracing::info!(erased = due.len(), "retention policy applied");
        inner.progress.notify_waiters();
    }
    Ok(due)
}

/// Applies the retention policy at start and every `interval_ms`.
pub(crate) async fn retention_loop(inner: Arc<Inner>, rules: Vec<Rule>) {
    let mut stop = inner.shutdown.subscribe();
    let period = Duration::from_millis(inner.config.retention.interval_ms.max(1000));
    loop {
        let worker = inner.clone();
        let rules = rules.clone();
        // A scan of the log: off the async workers.
        match tokio::task::spawn_blocking(move || apply(&worker, &rules)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the retention policy could not be applied"),
            Err(e) => tracing::error!(error = %e, "the retention task failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
    }
}
