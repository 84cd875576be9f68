//! The durable per-recipient outbox.

use isop_core::{LogIndex, OrgId, UnixMillis};

use isop_core::pb;

use crate::entry::{DELIVERY_ACCEPTED, DELIVERY_FAILED};
use crate::error::Error;
use crate::keys;
use crate::store::Store;
use crate::{Appended, Direction, NewEntry, Record};

/// An outbox item's delivery state, stored as attempts (u32 BE),
/// next attempt (u64 BE) and the last error (UTF-8).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct State {
    attempts: u32,
    next_attempt: u64,
    last_error: String,
}

impl State {
    pub(crate) fn new(attempts: u32, next_attempt: u64, last_error: &str) -> Self {
        Self {
            attempts,
            next_attempt,
            last_error: last_error.into(),
        }
    }

    /// The encoded state of a fresh item: no attempt yet, due at once.
    pub(crate) fn fresh() -> Vec<u8> {
        Self::default().encode()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(12 + self.last_error.len());
        v.extend_from_slice(&self.attempts.to_be_bytes());
        v.extend_from_slice(&self.next_attempt.to_be_bytes());
        v.extend_from_slice(self.last_error.as_bytes());
        v
    }

    fn decode(v: &[u8]) -> Option<Self> {
        Some(Self {
            attempts: u32::from_be_bytes(v.get(..4)?.try_into().ok()?),
            next_attempt: u64::from_be_bytes(v.get(4..12)?.try_into().ok()?),
            last_error: String::from_utf8_lossy(v.get(12..)?).into_owned(),
        })
    }
}

/// A notice waiting for delivery to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxItem {
    /// The recipient.
    pub recipient: OrgId,
    /// The notice's entry.
    pub index: LogIndex,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not to be tried before this time.
    pub next_attempt: UnixMillis,
    /// Why the last attempt failed; empty if none did.
    pub last_error: String,
}

/// Which outbox items are due: those whose next attempt is at or before
/// `now`, and those set further ahead of `now` than any wait the sender
/// sets (`longest_wait_ms`), which only a clock that went back since they
/// were deferred makes: they would otherwise wait out the jump.
#[derive(Clone, Copy, Debug)]
pub struct Due {
    /// The time now.
    pub now: UnixMillis,
    /// The longest wait a deferral sets.
    pub longest_wait_ms: u64,
}

impl Due {
    fn admits(self, next_attempt: UnixMillis) -> bool {
        next_attempt <= self.now || next_attempt.0 > self.now.0.saturating_add(self.longest_wait_ms)
    }
}

/// Due at `now`, however far ahead an item was set.
impl From<UnixMillis> for Due {
    fn from(now: UnixMillis) -> Self {
        Self {
            now,
            longest_wait_ms: u64::MAX,
        }
    }
}

/// Where delivering an outbound notice to one recipient stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Still in the outbox.
    Pending {
        /// Attempts so far.
        attempts: u32,
        /// The next attempt, no sooner than this.
        next_attempt: UnixMillis,
        /// Why the last attempt failed.
        last_error: String,
    },
    /// Accepted (or already held) by the recipient; its receipt is logged here.
    Delivered {
        /// The receipt's entry.
        receipt: LogIndex,
    },
    /// Rejected by the recipient; its signed rejection is logged here.
    Rejected {
        /// The receipt's entry.
        receipt: LogIndex,
    },
    /// Given up on: out of the outbox without a receipt.
    Failed {
        /// The `DeliveryFailed` entry.
        entry: LogIndex,
        /// Why.
        reason: String,
    },
    /// Neither queued nor answered (for example, removed from the outbox by hand).
    Unknown,
}

impl Store {
    /// The status of outbound notice `notice` for each recipient the entry names.
    pub fn delivery_status(&self, notice: LogIndex) -> Result<Vec<(OrgId, DeliveryStatus)>, Error> {
        let Some(entry) = self.log_entry(notice)? else {
            return Ok(Vec::new());
        };
        let pending: Vec<OutboxItem> = self
            .outbox()?
            .into_iter()
            .filter(|i| i.index == notice)
            .collect();
        entry
            .recipients
            .iter()
            .filter_map(|r| OrgId::new(r).ok())
            .map(|r| {
                if let Some(p) = pending.iter().find(|p| p.recipient == r) {
                    let status = DeliveryStatus::Pending {
                        attempts: p.attempts,
                        next_attempt: p.next_attempt,
                        last_error: p.last_error.clone(),
                    };
                    return Ok((r, status));
                }
                // Only a durable receipt counts: a commit's keys are visible
                // a moment before its flush completes.
                let status = match self.get(&keys::delivery(notice.0, &r))? {
                    Some(v)
                        if v.len() == 9 && keys::tail_u64(&v).is_some_and(|i| i < self.size()) =>
                    {
                        let receipt = LogIndex(keys::tail_u64(&v).unwrap_or_default());
                        match v[0] {
                            DELIVERY_ACCEPTED => DeliveryStatus::Delivered { receipt },
                            DELIVERY_FAILED => DeliveryStatus::Failed {
                                entry: receipt,
                                reason: self.failure_reason(receipt)?,
                            },
                            _ => DeliveryStatus::Rejected { receipt },
                        }
                    }
                    _ => DeliveryStatus::Unknown,
                };
                Ok((r, status))
            })
            .collect()
    }

    /// Why the `DeliveryFailed` entry at `at` gave its delivery up.
    fn failure_reason(&self, at: LogIndex) -> Result<String, Error> {
        Ok(match self.log_entry(at)?.and_then(|e| e.record) {
            Some(pb::log_entry::Record::DeliveryFailed(f)) => f.reason,
            _ => format!("entry {at} says it failed, but is not a failed delivery"),
        })
    }

    /// Gives up delivering the OUTBOUND notice at `notice` to `recipient`,
    /// for `reason`: appends a LOCAL `DeliveryFailed` entry, which takes the
    /// delivery out of the outbox in the same commit.
    pub fn fail_delivery(
        &self,
        recipient: &OrgId,
        notice: LogIndex,
        reason: &str,
        now: UnixMillis,
    ) -> Result<LogIndex, Error> {
        let mut entry = NewEntry::new(
            now,
            Direction::Local,
            Record::DeliveryFailed {
                notice,
                recipient: recipient.clone(),
                reason: reason.to_owned(),
            },
        );
        entry.peer = Some(recipient.clone());
        match self.append(entry)? {
            Appended::New(at) => Ok(at),
            other => Err(Error::InvalidEntry(format!(
                "a failed delivery was not appended: {other:?}"
            ))),
        }
    }

    /// Outbox items under `prefix`. Only durable entries count: a commit's
    /// keys are visible a moment before its flush completes.
    pub(crate) fn outbox_scan(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<OutboxItem, Error>> + '_ {
        let size = self.size();
        self.scan(prefix)
            .filter(move |r| {
                r.as_ref()
                    .map_or(true, |(k, _)| keys::tail_u64(k).is_some_and(|i| i < size))
            })
            .map(|r| {
                let (k, v) = r?;
                item(&k, &v)
            })
    }

    /// Every outbox item, by recipient then index.
    pub fn outbox(&self) -> Result<Vec<OutboxItem>, Error> {
        self.outbox_scan(&[keys::OUTBOX]).collect()
    }

    /// The outbox items for one recipient, oldest first.
    pub fn outbox_for(&self, recipient: &OrgId) -> Result<Vec<OutboxItem>, Error> {
        self.outbox_scan(&keys::multi_prefix(
            keys::OUTBOX,
            recipient.as_str().as_bytes(),
        ))
        .collect()
    }

    /// The head of `recipient`'s outbox: its oldest items, in index order,
    /// up to `limit` and up to the first one not yet due (so that
    /// delivering heads in turn keeps the order of the log).
    pub fn outbox_head(
        &self,
        recipient: &OrgId,
        due: impl Into<Due>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, Error> {
        let due = due.into();
        self.outbox_scan(&keys::multi_prefix(
            keys::OUTBOX,
            recipient.as_str().as_bytes(),
        ))
        .take_while(|r| r.as_ref().map_or(true, |i| due.admits(i.next_attempt)))
        .take(limit)
        .collect()
    }

    /// The recipients whose outbox head (their oldest durable item) is
    /// due: one lookup per recipient, however long its outbox.
    pub fn outbox_due_recipients(&self, due: impl Into<Due>) -> Result<Vec<OrgId>, Error> {
        let when = due.into();
        let size = self.size();
        let mut due = Vec::new();
        let mut from = vec![keys::OUTBOX];
        while let Some((k, v)) = self.first_from(&from)? {
            if k.first() != Some(&keys::OUTBOX) {
                break;
            }
            let head = item(&k, &v)?;
            if head.index.0 < size && when.admits(head.next_attempt) {
                due.push(head.recipient.clone());
            }
            // Past every key of this recipient: its name, then 0x01.
            from = keys::multi_prefix(keys::OUTBOX, head.recipient.as_str().as_bytes());
            if let Some(last) = from.last_mut() {
                *last = 1;
            }
        }
        Ok(due)
    }

    /// Records a failed attempt: the item is retried no sooner than `next_attempt`.
    pub fn outbox_defer(
        &self,
        recipient: &OrgId,
        index: LogIndex,
        next_attempt: UnixMillis,
        error: &str,
    ) -> Result<u32, Error> {
        let key = keys::multi(keys::OUTBOX, recipient.as_str().as_bytes(), index.0);
        let old = self.get(&key)?.ok_or_else(|| {
            Error::InvalidEntry(format!("entry {index} is not in {recipient}'s outbox"))
        })?;
        let old = State::decode(&old).ok_or_else(|| Error::Corrupt {
            index,
            why: "outbox state does not decode".into(),
        })?;
        let attempts = old.attempts.saturating_add(1);
        let state = State {
            attempts,
            next_attempt: next_attempt.0,
            last_error: error.chars().take(512).collect(),
        };
        self.write(vec![(key, Some(state.encode()))])?;
        Ok(attempts)
    }

    /// Removes an item without a receipt (for example, the recipient left the federation).
    pub fn outbox_remove(&self, recipient: &OrgId, index: LogIndex) -> Result<(), Error> {
        self.write(vec![(
            keys::multi(keys::OUTBOX, recipient.as_str().as_bytes(), index.0),
            None,
        )])
    }
}

/// An outbox item from its key and value.
fn item(k: &[u8], v: &[u8]) -> Result<OutboxItem, Error> {
    let index = LogIndex(keys::tail_u64(k).unwrap_or_default());
    let corrupt = |why: &str| Error::Corrupt {
        index,
        why: why.into(),
    };
    let name = k
        .get(1..k.len().saturating_sub(9))
        .ok_or_else(|| corrupt("outbox key too short"))?;
    let recipient = std::str::from_utf8(name)
        .ok()
        .and_then(|s| OrgId::new(s).ok())
        .ok_or_else(|| corrupt("outbox key names no org"))?;
    let s = State::decode(v).ok_or_else(|| corrupt("outbox state does not decode"))?;
    Ok(OutboxItem {
        recipient,
        index,
        attempts: s.attempts,
        next_attempt: UnixMillis(s.next_attempt),
        last_error: s.last_error,
    })
}
