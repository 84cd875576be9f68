//! Private matching over the federation (docs/MATCHING.md): asking a
//! member which of this node's indicators it also holds ([`ask`]), and
//! answering a member that asks ([`open`], [`evaluate`], [`records`],
//! [`close`]). Only `isop-match` knows the cryptography; this file holds
//! the roster's limits, the runs in progress and the log entries.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use isop_core::pb::frame::Kind;
use isop_core::pb::{self, field_value::Value};
use isop_core::{LogIndex, Notice, OrgId};
use isop_match::{Answerer, Asker, ELEMENT_LEN, Item, Sources, held_forms, query_commitment};
use isop_store::DisclosureState;
use prost::Message;
use rand::RngCore;

use crate::error::Error;
use crate::state::Inner;

/// The most items one message carries either way.
pub(crate) const CHUNK_ITEMS: usize = 65_536;
/// A run the asker leaves idle this long is given up and logged as
/// abandoned.
const IDLE: Duration = Duration::from_secs(600);
/// The most runs a node answers at once (each holds its held list).
const MAX_OPEN: usize = 4;
/// The window `runs_per_day` counts in.
const DAY_MS: u64 = 24 * 3600 * 1000;

/// The runs a node answers, and when each asker last started one.
#[derive(Default)]
pub(crate) struct Matching {
    open: Mutex<HashMap<[u8; 16], Run>>,
    /// Start times of the runs each member asked in the last day, filled
    /// from the log on first use.
    started: Mutex<Option<HashMap<OrgId, VecDeque<u64>>>>,
}

struct Run {
    peer: OrgId,
    answerer: Arc<Answerer>,
    query_items: u64,
    evaluated: u64,
    commitment: Bytes,
    both_learn: bool,
    last: Instant,
}

/// What an asker learnt from one run.
#[derive(Clone, Debug)]
pub struct MatchReport {
    /// The run's id.
    pub run: [u8; 16],
    /// The answerer.
    pub with: OrgId,
    /// The distinct items asked.
    pub asked: u64,
    /// The items the answerer matched against.
    pub held: u64,
    /// The asked items the answerer holds, with the kinds of notice it
    /// holds each from where the policy reveals them.
    pub matched: Vec<(Item, Option<Sources>)>,
    /// The log entry recording the run.
    pub logged_at: LogIndex,
    /// Bytes sent and received.
    pub bytes: (u64, u64),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn run_id(bytes: &[u8]) -> Result<[u8; 16], Error> {
    bytes
        .try_into()
        .map_err(|_| Error::Invalid(format!("a run id of {} bytes, not 16", bytes.len())))
}

/// The rule that lets `asker` ask `answerer`, or why none does.
fn rule(inner: &Inner, asker: &OrgId, answerer: &OrgId) -> Result<isop_core::MatchRule, Error> {
    let roster = inner.roster();
    let now = inner.now();
    let (a, b) = (
        roster.active_member(asker, now)?.role,
        roster.active_member(answerer, now)?.role,
    );
    roster.policy().match_rule(a, b).cloned().ok_or_else(|| {
        Error::Refused(format!(
            "the roster's policy lets no {} ask {} to match ({asker} asking {answerer})",
            a.as_str(),
            with_article(b)
        ))
    })
}

/// "an agency", "a hub".
fn with_article(role: isop_core::Role) -> String {
    let name = role.as_str();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

fn check_query(rule: &isop_core::MatchRule, items: u64) -> Result<(), Error> {
    if items == 0 {
        return Err(Error::Invalid(
            "a matching must ask at least one item".into(),
        ));
    }
    if items > rule.max_query_items {
        return Err(Error::Refused(format!(
            "{items} items asked, over the policy's max_query_items of {} for {} asking {}",
            rule.max_query_items,
            with_article(rule.asker),
            with_article(rule.answerer)
        )));
    }
    Ok(())
}

/// A LOCAL entry recording a run's stage.
fn entry(inner: &Inner, peer: &OrgId, run: pb::MatchRun) -> isop_store::NewEntry {
    let mut e = isop_store::NewEntry::new(
        inner.now(),
        isop_store::Direction::Local,
        isop_store::Record::MatchRun(run),
    );
    e.peer = Some(peer.clone());
    e
}

/// The items this node matches against, each with where it holds it
/// from: every indicator its log's notices name (in their bodies, and in
/// disclosures it holds the values of), with their parent domains, and
/// the operator's `match_list`.
pub(crate) fn held_items(inner: &Inner) -> Result<Vec<(Item, Sources)>, Error> {
    let mut held = Vec::new();
    if let Some(path) = &inner.config.match_list {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.display().to_string(),
            why: format!("match_list: {e}"),
        })?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let item = Item::parse_line(line).map_err(|e| Error::Config {
                path: path.display().to_string(),
                why: format!("match_list line {}: {e}", n + 1),
            })?;
            held.extend(
                held_forms(item.kind(), item.value())
                    .into_iter()
                    .map(|i| (i, Sources::LIST)),
            );
        }
    }
    let store = &inner.store;
    for e in store.entries(LogIndex(0), LogIndex(store.size())) {
        let (index, bytes) = e?;
        if let Ok(entry) = pb::LogEntry::decode(bytes)
            && let Some((from, named)) = indicators_of(inner, index, &entry)?
        {
            for (kind, value) in named {
                held.extend(held_forms(kind, &value).into_iter().map(|i| (i, from)));
            }
        }
    }
    Ok(held)
}

/// Indicators by kind, as a notice names them.
type Named = Vec<(pb::IndicatorKind, String)>;

/// The indicators the notice logged at `index` names, in its body and in
/// the disclosures this node holds the values of, and the notice's kind as
/// a source; `None` for an entry that logs no notice.
fn indicators_of(
    inner: &Inner,
    index: LogIndex,
    entry: &pb::LogEntry,
) -> Result<Option<(Sources, Named)>, Error> {
    let Some(pb::log_entry::Record::Envelope(env)) = &entry.record else {
        return Ok(None);
    };
    let Ok(env) = pb::Envelope::decode(env.as_ref()) else {
        return Ok(None);
    };
    if env.payload_type != isop_core::NOTICE_PAYLOAD_TYPE {
        return Ok(None);
    }
    let Ok(notice) = Notice::decode(&env.payload) else {
        return Ok(None);
    };
    let mut named: Named = isop_core::indicator::in_body(notice.body())
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    for d in inner.store.disclosures_of(index)? {
        let Some(DisclosureState::Held(bytes)) = d.state else {
            continue;
        };
        if let Ok(pb::Disclosure {
            value:
                Some(pb::FieldValue {
                    value: Some(Value::Indicator(i)),
                }),
            ..
        }) = pb::Disclosure::decode(bytes)
            && let Ok(kind) = pb::IndicatorKind::try_from(i.kind)
        {
            named.push((kind, i.value));
        }
    }
    Ok(Some((Sources::notice(notice.kind().to_pb() as i32), named)))
}

/// The indicators of the notices in this node's inbox (`inbox`) and of
/// case `case`, as items to ask (those of kinds that are not matched
/// left out).
pub(crate) fn from_log(inner: &Inner, inbox: bool, case: Option<&str>) -> Result<Vec<Item>, Error> {
    let mut indexes: Vec<LogIndex> = Vec::new();
    if inbox {
        indexes.extend(inner.store.inbox(false)?.into_iter().map(|(i, _)| i));
    }
    if let Some(case) = case {
        indexes.extend(inner.store.by_case(case)?);
    }
    let mut items = Vec::new();
    for index in indexes {
        let Some(entry) = inner.store.log_entry(index)? else {
            continue;
        };
        if let Some((_, named)) = indicators_of(inner, index, &entry)? {
            items.extend(named.iter().filter_map(|(k, v)| Item::new(*k, v).ok()));
        }
    }
    Ok(items)
}

impl Matching {
    /// Whether `peer` may start another run now, counting the runs it
    /// started in the last day (read from the log the first time); if it
    /// may and `start`, counts this one.
    fn admit(&self, inner: &Inner, peer: &OrgId, per_day: u32, start: bool) -> Result<(), Error> {
        let now = inner.now().0;
        let mut started = lock(&self.started);
        let started = match started.as_mut() {
            Some(s) => s,
            None => started.insert(started_from_log(inner, now)?),
        };
        let runs = started.entry(peer.clone()).or_default();
        while runs
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= DAY_MS)
        {
            runs.pop_front();
        }
        if runs.len() >= per_day as usize {
            let next = runs.front().map_or(now, |t| t + DAY_MS);
            return Err(Error::Refused(format!(
                "{peer} has started {} runs with this node in the last 24 hours, the policy's runs_per_day; the next may start at {}",
                runs.len(),
                isop_core::json::rfc3339(next)
            )));
        }
        if start {
            runs.push_back(now);
        }
        Ok(())
    }

    /// Gives up the runs idle for [`IDLE`], logging each as abandoned.
    fn expire(&self, inner: &Inner) {
        let stale: Vec<([u8; 16], Run)> = {
            let mut open = lock(&self.open);
            let ids: Vec<[u8; 16]> = open
                .iter()
                .filter(|(_, r)| r.last.elapsed() >= IDLE)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| open.remove(&id).map(|r| (id, r)))
                .collect()
        };
        for (id, run) in stale {
            let record = answered(
                &id,
                &run,
                pb::MatchStage::Abandoned,
                None,
                "the asker went quiet for 10 minutes",
            );
            if let Err(e) = inner.store.append(entry(inner, &run.peer, record)) {
                tracing::warn!(peer = %run.peer, error = %e, "cannot log an abandoned matching run");
            }
        }
    }
}

/// The start times of the runs each member asked in the last day, from
/// the log's OPENED entries, read backwards until a day back.
fn started_from_log(inner: &Inner, now: u64) -> Result<HashMap<OrgId, VecDeque<u64>>, Error> {
    let mut started: HashMap<OrgId, VecDeque<u64>> = HashMap::new();
    let mut index = inner.store.size();
    while index > 0 {
        index -= 1;
        let Some(e) = inner.store.log_entry(LogIndex(index))? else {
            break;
        };
        if now.saturating_sub(e.appended_at) >= DAY_MS {
            break;
        }
        if let Some(pb::log_entry::Record::MatchRun(m)) = &e.record
            && !m.asked
            && m.stage == pb::MatchStage::Opened as i32
            && let Ok(peer) = OrgId::new(&e.peer)
        {
            started.entry(peer).or_default().push_front(e.appended_at);
        }
    }
    Ok(started)
}

/// The answering side's record of a run.
fn answered(
    id: &[u8; 16],
    run: &Run,
    stage: pb::MatchStage,
    matched: Option<(u64, Vec<String>)>,
    detail: &str,
) -> pb::MatchRun {
    let (matched, matched_items) =
        matched.map_or((None, Vec::new()), |(n, items)| (Some(n), items));
    pb::MatchRun {
        run: Bytes::copy_from_slice(id),
        asked: false,
        stage: stage as i32,
        query_items: run.query_items,
        held_items: run.answerer.held_len(),
        query_commitment: run.commitment.clone(),
        matched,
        reveal_sources: run.answerer.reveals_sources(),
        both_learn: run.both_learn,
        detail: detail.into(),
        matched_items,
        ..Default::default()
    }
}

/// Answers `MatchOpen`: checks the roster's limits, gathers what this
/// node holds, logs the run as opened, and answers with its terms.
pub(crate) async fn open(
    inner: &Arc<Inner>,
    peer: &OrgId,
    m: pb::MatchOpen,
) -> Result<Kind, Error> {
    let id = run_id(&m.run)?;
    if m.query_commitment.len() != 32 {
        return Err(Error::Invalid(
            "a query commitment that is not 32 bytes".into(),
        ));
    }
    let matching = &inner.matching;
    matching.expire(inner);
    let rule = rule(inner, peer, &inner.org)?;
    check_query(&rule, m.query_items)?;
    if lock(&matching.open).contains_key(&id) {
        return Err(Error::Invalid("a run with this id is open already".into()));
    }
    if lock(&matching.open).len() >= MAX_OPEN {
        return Err(Error::Refused(format!(
            "this node answers {MAX_OPEN} runs at once already; ask again later"
        )));
    }
    // Before the log is read for what this node holds: a member over its
    // limit costs no scan.
    matching.admit(inner, peer, rule.runs_per_day, false)?;
    let worker = inner.clone();
    let held = tokio::task::spawn_blocking(move || held_items(&worker))
        .await
        .map_err(|e| Error::Task {
            what: "gathering the held items",
            why: e.to_string(),
        })?
        .map_err(|e| {
            // The operator is told why; the asker, not this node's paths.
            tracing::error!(%peer, error = %e, "cannot gather what this node matches against");
            Error::Refused(
                "this node cannot read what it matches against now; its operator is told why"
                    .into(),
            )
        })?;
    let answerer = Answerer::new(held, rule.reveal_sources, &mut rand::rngs::OsRng);
    if answerer.held_len() < rule.min_held_items {
        return Err(Error::Refused(format!(
            "this node holds {} items, under the policy's min_held_items of {}",
            answerer.held_len(),
            rule.min_held_items
        )));
    }
    matching.admit(inner, peer, rule.runs_per_day, true)?;
    let run = Run {
        peer: peer.clone(),
        answerer: Arc::new(answerer),
        query_items: m.query_items,
        evaluated: 0,
        commitment: m.query_commitment,
        both_learn: rule.both_learn,
        last: Instant::now(),
    };
    // Logged before anything is answered: no run goes unrecorded.
    let record = answered(&id, &run, pb::MatchStage::Opened, None, "");
    inner.store.append_async(entry(inner, peer, record)).await?;
    let opened = pb::MatchOpened {
        run: Bytes::copy_from_slice(&id),
        held_items: run.answerer.held_len(),
        reveal_sources: rule.reveal_sources,
        both_learn: rule.both_learn,
        chunk_items: chunk_items(inner) as u32,
    };
    lock(&matching.open).insert(id, run);
    tracing::info!(%peer, items = m.query_items, held = opened.held_items, "matching run opened");
    Ok(Kind::MatchOpened(opened))
}

/// The most items a message may carry within this node's frame limit.
fn chunk_items(inner: &Inner) -> usize {
    CHUNK_ITEMS
        .min(inner.config.max_frame_bytes.saturating_sub(1024) / ELEMENT_LEN)
        .max(1)
}

const NO_RUN: &str = "no open matching run of yours has this id (it was closed, given up after 10 idle minutes, or lost in a restart)";

/// The open run `id` of `peer`, touched, with `elements` more counted as
/// evaluated (never more in all than the run was opened for: counted
/// before they are evaluated, so that requests sent at once cannot pass
/// the limit together): its answerer.
fn the_run(inner: &Inner, peer: &OrgId, id: &[u8], elements: u64) -> Result<Arc<Answerer>, Error> {
    let id = run_id(id)?;
    let mut open = lock(&inner.matching.open);
    match open.get_mut(&id) {
        Some(run) if &run.peer == peer => {
            run.last = Instant::now();
            if run.evaluated + elements > run.query_items {
                return Err(Error::Refused(format!(
                    "{} elements in all, over the {} items the run was opened for",
                    run.evaluated + elements,
                    run.query_items
                )));
            }
            run.evaluated += elements;
            Ok(run.answerer.clone())
        }
        _ => Err(Error::NotFound(NO_RUN.into())),
    }
}

/// Answers `MatchEvaluate`: evaluates the next blinded elements.
pub(crate) async fn evaluate(
    inner: &Arc<Inner>,
    peer: &OrgId,
    m: pb::MatchElements,
) -> Result<Kind, Error> {
    let n = (m.elements.len() / ELEMENT_LEN) as u64;
    if n as usize > chunk_items(inner) {
        return Err(Error::Invalid(format!(
            "{n} elements in one message, over {}",
            chunk_items(inner)
        )));
    }
    let answerer = the_run(inner, peer, &m.run, n)?;
    let elements = m.elements.clone();
    let out = tokio::task::spawn_blocking(move || answerer.evaluate(&elements))
        .await
        .map_err(|e| Error::Task {
            what: "evaluating blinded elements",
            why: e.to_string(),
        })?
        .map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(Kind::MatchEvaluated(pb::MatchElements {
        run: m.run,
        elements: out.into(),
    }))
}

/// Answers `GetMatchRecords`: the held records from an offset.
pub(crate) async fn records(
    inner: &Arc<Inner>,
    peer: &OrgId,
    m: pb::GetMatchRecords,
) -> Result<Kind, Error> {
    let answerer = the_run(inner, peer, &m.run, 0)?;
    let count = chunk_items(inner);
    let offset = m.offset;
    let out = tokio::task::spawn_blocking(move || answerer.records(offset, count))
        .await
        .map_err(|e| Error::Task {
            what: "computing held records",
            why: e.to_string(),
        })?;
    Ok(Kind::MatchRecords(pb::MatchRecords {
        run: m.run,
        offset,
        records: out.into(),
    }))
}

/// Answers `MatchClose`: logs what the asker reports, and, when both
/// sides learn the intersection, the matched items.
pub(crate) async fn close(
    inner: &Arc<Inner>,
    peer: &OrgId,
    m: pb::MatchClose,
) -> Result<Kind, Error> {
    let id = run_id(&m.run)?;
    let run = {
        let mut open = lock(&inner.matching.open);
        match open.get(&id) {
            Some(run) if &run.peer == peer => open.remove(&id),
            _ => None,
        }
    }
    .ok_or_else(|| Error::NotFound(NO_RUN.into()))?;
    let (matched, detail) = (
        m.matched,
        if m.matched > run.query_items {
            format!(
                "the asker reported {} matches of {} items asked",
                m.matched, run.query_items
            )
        } else {
            String::new()
        },
    );
    let items = if run.both_learn {
        match run.answerer.at(&m.positions) {
            Ok(items) => items.into_iter().map(|(i, _)| i.to_string()).collect(),
            Err(e) => {
                let record = answered(
                    &id,
                    &run,
                    pb::MatchStage::Closed,
                    Some((matched, Vec::new())),
                    &e.to_string(),
                );
                inner.store.append_async(entry(inner, peer, record)).await?;
                return Err(Error::Invalid(e.to_string()));
            }
        }
    } else {
        Vec::new()
    };
    let record = answered(
        &id,
        &run,
        pb::MatchStage::Closed,
        Some((matched, items)),
        &detail,
    );
    inner.store.append_async(entry(inner, peer, record)).await?;
    tracing::info!(%peer, matched, "matching run closed");
    Ok(Kind::Ack(pb::Ack {}))
}

/// Runs a matching of `items` with `with` as the asker, on behalf of the
/// API user `user`; the run is logged here when it ends, refused or not.
pub(crate) async fn ask(
    inner: &Arc<Inner>,
    with: &OrgId,
    items: Vec<Item>,
    user: &str,
) -> Result<MatchReport, Error> {
    if with == &inner.org {
        return Err(Error::Invalid("a node cannot match with itself".into()));
    }
    let mut distinct = items;
    distinct.sort();
    distinct.dedup();
    let rule = rule(inner, &inner.org, with)?;
    check_query(&rule, distinct.len() as u64)?;
    let mut id = [0; 16];
    let mut salt = [0; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let commitment = query_commitment(&distinct, &salt);
    let mut record = pb::MatchRun {
        run: Bytes::copy_from_slice(&id),
        asked: true,
        query_items: distinct.len() as u64,
        query_commitment: Bytes::copy_from_slice(&commitment),
        query_salt: Bytes::copy_from_slice(&salt),
        user: user.into(),
        ..Default::default()
    };
    let result = exchange(inner, with, &id, &commitment, distinct, &mut record).await;
    record.stage = match &result {
        Ok(_) => pb::MatchStage::Closed,
        Err(_) if record.held_items == 0 => pb::MatchStage::Refused,
        Err(_) => pb::MatchStage::Abandoned,
    } as i32;
    if let Err(e) = &result {
        record.detail = e.to_string();
    }
    let logged = inner.store.append_async(entry(inner, with, record)).await?;
    let mut report = result?;
    report.logged_at = logged.index();
    Ok(report)
}

/// The asker's side of the exchange; fills in `record` as it learns.
async fn exchange(
    inner: &Arc<Inner>,
    with: &OrgId,
    id: &[u8; 16],
    commitment: &[u8; 32],
    items: Vec<Item>,
    record: &mut pb::MatchRun,
) -> Result<MatchReport, Error> {
    let refused = |e: Error| match e {
        Error::Net(isop_net::Error::Remote { message, .. }) => {
            Error::Refused(format!("{with} refused: {message}"))
        }
        other => other,
    };
    let conn = inner.connection(with).await?;
    let asked = items.len() as u64;
    let run = Bytes::copy_from_slice(id);
    let (mut sent, mut received) = (0u64, 0u64);
    let answer = inner
        .request(
            &conn,
            Kind::MatchOpen(pb::MatchOpen {
                run: run.clone(),
                query_items: asked,
                query_commitment: Bytes::copy_from_slice(commitment),
            }),
        )
        .await
        .map_err(refused)?;
    let Some(Kind::MatchOpened(opened)) = answer.kind else {
        return Err(unexpected(with, "a matching run's opening"));
    };
    record.held_items = opened.held_items;
    record.reveal_sources = opened.reveal_sources;
    record.both_learn = opened.both_learn;
    let chunk = (opened.chunk_items as usize).clamp(1, chunk_items(inner));
    let (mut asker, blinded) =
        tokio::task::spawn_blocking(move || Asker::new(items, &mut rand::rngs::OsRng))
            .await
            .map_err(|e| Error::Task {
                what: "blinding the query",
                why: e.to_string(),
            })?;
    for part in blinded.chunks(chunk * ELEMENT_LEN) {
        sent += part.len() as u64;
        let answer = inner
            .request(
                &conn,
                Kind::MatchEvaluate(pb::MatchElements {
                    run: run.clone(),
                    elements: Bytes::copy_from_slice(part),
                }),
            )
            .await
            .map_err(refused)?;
        let Some(Kind::MatchEvaluated(e)) = answer.kind else {
            return Err(unexpected(with, "blinded elements"));
        };
        received += e.elements.len() as u64;
        asker = tokio::task::spawn_blocking(move || asker.evaluations(&e.elements).map(|()| asker))
            .await
            .map_err(|e| Error::Task {
                what: "unblinding",
                why: e.to_string(),
            })?
            .map_err(|e| peer_error(with, e))?;
    }
    let record_len = isop_match::TAG_LEN + usize::from(opened.reveal_sources);
    let mut offset = 0;
    while offset < opened.held_items {
        let answer = inner
            .request(
                &conn,
                Kind::GetMatchRecords(pb::GetMatchRecords {
                    run: run.clone(),
                    offset,
                }),
            )
            .await
            .map_err(refused)?;
        let Some(Kind::MatchRecords(r)) = answer.kind else {
            return Err(unexpected(with, "a request for held records"));
        };
        if r.offset != offset || r.records.is_empty() {
            return Err(peer_error(
                with,
                format!(
                    "sent records from {} when asked from {offset}, {} bytes",
                    r.offset,
                    r.records.len()
                ),
            ));
        }
        received += r.records.len() as u64;
        asker
            .records(&r.records, record_len, opened.held_items)
            .map_err(|e| peer_error(with, e))?;
        offset += (r.records.len() / record_len) as u64;
    }
    let outcome = asker
        .finish(opened.reveal_sources)
        .map_err(|e| peer_error(with, e))?;
    let matched = outcome.matched.len() as u64;
    record.matched = Some(matched);
    let positions = if opened.both_learn {
        outcome.positions
    } else {
        Vec::new()
    };
    sent += 8 * positions.len() as u64;
    inner
        .request(
            &conn,
            Kind::MatchClose(pb::MatchClose {
                run,
                matched,
                positions,
            }),
        )
        .await
        .map_err(refused)?;
    Ok(MatchReport {
        run: *id,
        with: with.clone(),
        asked,
        held: opened.held_items,
        matched: outcome.matched,
        logged_at: LogIndex(0),
        bytes: (sent, received),
    })
}

fn unexpected(with: &OrgId, what: &str) -> Error {
    Error::Peer {
        org: with.clone(),
        why: format!("answered {what} with something else"),
    }
}

fn peer_error(with: &OrgId, e: impl std::fmt::Display) -> Error {
    Error::Peer {
        org: with.clone(),
        why: format!("a matching answer that does not hold: {e}"),
    }
}
