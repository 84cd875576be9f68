//! Notifications (`[[notify]]`): each webhook is told, in log order, of
//! what the log records — a notice delivered here, a status answer to a
//! referral this node sent, a delivery given up, a split view — as signed
//! JSON events (`isop_api::NotifyEvent`, HMAC-SHA256).
//!
//! The log is the queue: a webhook's place in it is kept in the store and
//! moves past an entry only when the receiver took every event of it
//! (answered 2xx), so a restart resumes where it was and nothing is lost;
//! an event may come twice (after a retry), under the same id. A failed
//! POST is tried again with backoff, for as long as it takes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use isop_api::{EventKind, HookStatus, NotifyEvent, Time};
use isop_core::pb::notice::Body;
use isop_core::{LogIndex, NoticeKind, SignedNote, pb};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::api::views::{addressee_status, overlap_view, summary_of};
use crate::config::{NotifyConfig, check_private};
use crate::state::Inner;
use crate::{Error, NodeConfig};

/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long one POST may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook, ready to be told.
pub(crate) struct Hook {
    name: String,
    url: String,
    secret: Zeroizing<Vec<u8>>,
    http: reqwest::Client,
    events: Vec<EventKind>,
    kinds: Vec<pb::NoticeKind>,
}

impl Hook {
    /// Whether it asks to be told of `kind` (all kinds, if it names none).
    fn wants(&self, kind: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never shows.
        f.debug_struct("Hook")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Where each webhook stands, for `status` and the metrics.
#[derive(Debug, Default)]
pub(crate) struct Standing(std::sync::Mutex<HashMap<String, HookStatus>>);

impl Standing {
    fn update(&self, name: &str, f: impl FnOnce(&mut HookStatus)) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = all.get_mut(name) {
            f(s);
        }
    }

    /// Each webhook, in the config's order.
    pub(crate) fn all(&self, config: &NodeConfig) -> Vec<HookStatus> {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        config
            .notify
            .iter()
            .filter_map(|n| all.get(&n.name).cloned())
            .collect()
    }
}

fn config_error(hook: &NotifyConfig, why: impl std::fmt::Display) -> Error {
    Error::Config {
        path: format!("notify {:?}", hook.name),
        why: why.to_string(),
    }
}

/// The webhooks `config` names, their secrets read and their clients
/// built; a config error names what is wrong with which.
pub(crate) fn hooks(config: &NodeConfig, standing: &Standing) -> Result<Vec<Hook>, Error> {
    let mut hooks = Vec::new();
    for n in &config.notify {
        if config.notify.iter().filter(|m| m.name == n.name).count() > 1 {
            return Err(config_error(n, "two webhooks have this name"));
        }
        let url = reqwest::Url::parse(&n.url).map_err(|e| config_error(n, format!("url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config_error(n, "url: give an http:// or https:// URL"));
        }
        check_private(&n.secret_file)?;
        let secret = std::fs::read(&n.secret_file).map_err(|e| Error::KeyFile {
            path: n.secret_file.display().to_string(),
            why: e.to_string(),
        })?;
        let secret = Zeroizing::new(secret.trim_ascii_end().to_vec());
        if secret.len() < 16 {
            return Err(config_error(n, "the secret is shorter than 16 bytes"));
        }
        let events = n
            .events
            .iter()
            .map(|e| event_kind(e).map_err(|why| config_error(n, why)))
            .collect::<Result<_, _>>()?;
        let kinds = n
            .kinds
            .iter()
            .map(|k| {
                isop_core::json::enum_value(
                    "kinds",
                    "isop.v1.NoticeKind",
                    k,
                    pb::NoticeKind::from_str_name,
                )
                .map_err(|e| config_error(n, e))
            })
            .collect::<Result<_, _>>()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            // A redirect would turn the POST into a GET that "takes" it.
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(tls(n)?)
            .build()
            .map_err(|e| config_error(n, format!("cannot build its client: {e}")))?;
        // Shown in status and logs: no credentials, query or fragment.
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        shown.set_query(None);
        shown.set_fragment(None);
        standing.0.lock().unwrap_or_else(|p| p.into_inner()).insert(
            n.name.clone(),
            HookStatus {
                name: n.name.clone(),
                url: shown.to_string(),
                pending: 0,
                attempts: 0,
                last_error: None,
                last_delivered: None,
            },
        );
        hooks.push(Hook {
            name: n.name.clone(),
            url: n.url.clone(),
            secret,
            http,
            events,
            kinds,
        });
    }
    Ok(hooks)
}

/// The TLS client config for `https` webhooks: the CAs of `ca_file`, or
/// the system's.
fn tls(n: &NotifyConfig) -> Result<isop_net::HttpsClientConfig, Error> {
    let pem = match &n.ca_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| config_error(n, format!("ca_file {}: {e}", path.display())))?,
        ),
        None => None,
    };
    isop_net::https_client_config(pem.as_deref()).map_err(|e| config_error(n, e))
}

/// The event kind a config names (`new_notice`, in any case).
fn event_kind(name: &str) -> Result<EventKind, String> {
    serde_json::from_value(serde_json::Value::String(name.trim().to_uppercase())).map_err(|_| {
        format!(
            "events: {name:?} is not one of new_notice, status_changed, delivery_failed, split_view, new_overlap"
        )
    })
}

/// The events entry `at` records for `hook`.
fn events_at(inner: &Inner, hook: &Hook, at: LogIndex) -> Result<Vec<NotifyEvent>, Error> {
    let Some(entry) = inner.store.log_entry(at)? else {
        return Ok(Vec::new());
    };
    let event = |kind: EventKind| NotifyEvent {
        event: kind,
        id: format!(
            "{}/{}/{}",
            inner.org,
            at.0,
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_lowercase))
                .unwrap_or_default()
        ),
        org: inner.org.to_string(),
        index: at.0,
        at: Time(entry.appended_at),
        notice: None,
        referral: None,
        status: None,
        peer: None,
        reason: None,
        overlap: None,
    };
    let direction = pb::Direction::try_from(entry.direction).ok();
    let mut out = Vec::new();
    match &entry.record {
        Some(pb::log_entry::Record::Envelope(_)) if direction == Some(pb::Direction::Inbound) => {
            let Some(logged) = inner.notice_at(at)? else {
                return Ok(out);
            };
            let n = &logged.notice;
            let summary = summary_of(inner, at, &logged)?;
            if hook.kinds.is_empty() || hook.kinds.contains(&n.kind().to_pb()) {
                out.push(NotifyEvent {
                    notice: Some(summary.clone()),
                    ..event(EventKind::NewNotice)
                });
            }
            // Finding new overlaps reads the log's index: only for a hook
            // that asks for them.
            let overlaps = if hook.wants(EventKind::NewOverlap) {
                crate::correlate::made_by(inner, at, n)?
            } else {
                Vec::new()
            };
            for found in overlaps {
                out.push(NotifyEvent {
                    notice: Some(summary.clone()),
                    overlap: Some(overlap_view(inner, &found, false)?),
                    ..event(EventKind::NewOverlap)
                });
            }
            if let Body::StatusUpdate(u) = n.body()
                && let Ok(referral) = isop_core::NoticeId::from_slice(&u.referral_id)
                && let Some(ours) = inner.store.find_notice(&referral)?
                && let Some(r) = inner.notice_at(ours)?
                && r.notice.author() == &inner.org
                && r.notice.kind() == NoticeKind::Referral
                && let Some(status) = addressee_status(&r.notice, n, &inner.roster())
            {
                out.push(NotifyEvent {
                    referral: Some(referral.to_string()),
                    status: Some(status),
                    notice: Some(summary),
                    ..event(EventKind::StatusChanged)
                });
            }
        }
        Some(pb::log_entry::Record::DeliveryFailed(f)) => {
            let referral = inner
                .notice_at(LogIndex(f.notice_index))?
                .map(|n| n.notice.id().to_string());
            out.push(NotifyEvent {
                referral,
                peer: Some(f.recipient.clone()),
                reason: Some(f.reason.clone()),
                ..event(EventKind::DeliveryFailed)
            });
        }
        // A peer's checkpoint kept as evidence of a split view is the one
        // logged here that this node did not cosign: no line of it verifies
        // under any of this node's keys (a line merely named after one
        // proves nothing).
        Some(pb::log_entry::Record::CosignedCheckpoint(note))
            if direction == Some(pb::Direction::Local) =>
        {
            let roster = inner.roster();
            let ours = roster
                .member(&inner.org)?
                .keys
                .iter()
                .filter_map(|k| {
                    isop_core::NoteVerifier::new(&format!("{}/{}", inner.org, k.name), k.public)
                        .ok()
                })
                .collect::<Vec<_>>();
            let cosigned =
                SignedNote::parse(note).is_ok_and(|n| ours.iter().any(|v| n.verify(v).is_ok()));
            if !cosigned {
                out.push(NotifyEvent {
                    peer: Some(entry.peer.clone()),
                    reason: Some(format!(
                        "{}'s checkpoints are inconsistent; both are kept as evidence in this log",
                        entry.peer
                    )),
                    ..event(EventKind::SplitView)
                });
            }
        }
        _ => {}
    }
    out.retain(|e| hook.wants(e.event));
    Ok(out)
}

/// POSTs one event, signed.
async fn post(hook: &Hook, e: &NotifyEvent) -> Result<(), String> {
    let body = serde_json::to_vec(e).map_err(|e| e.to_string())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&hook.secret).map_err(|e| e.to_string())?;
    mac.update(&body);
    let signature = hex::encode(mac.finalize().into_bytes());
    let answer = hook
        .http
        .post(&hook.url)
        .header("content-type", "application/json")
        .header(
            "x-isop-event",
            serde_json::to_value(e.event)
                .unwrap_or_default()
                .as_str()
                .unwrap_or_default(),
        )
        .header("x-isop-id", &e.id)
        .header("x-isop-signature", format!("sha256={signature}"))
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cannot reach it: {}", e.without_url()))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!("it answered {}", answer.status()))
    }
}

/// Where each webhook new to this log starts: the log's end, set before
/// the node starts logging anything.
pub(crate) fn start_new(store: &isop_store::Store, config: &NodeConfig) -> Result<(), Error> {
    for n in &config.notify {
        if store.notify_cursor(&n.name)?.is_none() {
            store.set_notify_cursor(&n.name, store.size())?;
        }
    }
    Ok(())
}

/// Entries looked at between saves of where a webhook stands when none of
/// them holds an event for it.
const SAVE_EVERY: u64 = 256;

/// Tells `hook` of each entry from where it stands, until the node stops.
/// Where it stands is saved after each entry it was told of, every
/// [`SAVE_EVERY`] entries otherwise, and when it catches up: after a crash
/// a few entries with nothing for it may be looked at again.
pub(crate) async fn notify_loop(inner: Arc<Inner>, hook: Hook) {
    let mut stop = inner.shutdown.subscribe();
    let mut attempts: u32 = 0;
    let label = crate::metrics::Metrics::label("hook", hook.name.clone());
    let mut next = None;
    let mut saved = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        let from = match next {
            Some(n) => Ok(n),
            None => inner
                .store
                .notify_cursor(&hook.name)
                .map(Option::unwrap_or_default),
        };
        let failed = |why: String| {
            inner.notify.update(&hook.name, |s| {
                s.attempts = s.attempts.saturating_add(1);
                s.last_error = Some(why);
            });
        };
        let at = match from {
            Ok(n) => {
                if next.is_none() {
                    saved = n;
                }
                n
            }
            Err(e) => {
                tracing::error!(hook = %hook.name, error = %e, "cannot read where a webhook stands");
                failed(format!("cannot read where it stands: {e}"));
                if !pause(&mut stop, Duration::from_secs(5)).await {
                    return;
                }
                continue;
            }
        };
        next = Some(at);
        let size = inner.store.size();
        let pending = size.saturating_sub(at);
        inner.notify.update(&hook.name, |s| s.pending = pending);
        inner
            .metrics
            .notify_queue_depth
            .get_or_create(&label)
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        let save = |to: u64| inner.store.set_notify_cursor(&hook.name, to);
        if pending == 0 {
            if saved != at {
                match save(at) {
                    Ok(()) => saved = at,
                    Err(e) => failed(format!("cannot record where it stands: {e}")),
                }
            }
            tokio::select! {
                _ = inner.progress.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        }
        let outcome = match events_at(&inner, &hook, LogIndex(at)) {
            Ok(events) => {
                let mut r = Ok(());
                for e in &events {
                    r = tokio::select! {
                        r = post(&hook, e) => r,
                        _ = stop.wait_for(|s| *s) => return,
                    };
                    if r.is_err() {
                        break;
                    }
                }
                r.map(|()| !events.is_empty())
            }
            Err(e) => Err(format!("cannot read entry {at}: {e}")),
        };
        match outcome {
            Ok(told) => {
                next = Some(at + 1);
                if told || at + 1 - saved >= SAVE_EVERY {
                    if let Err(e) = save(at + 1) {
                        // Told again after a restart, under the same id.
                        failed(format!("cannot record where it stands: {e}"));
                    } else {
                        saved = at + 1;
                    }
                }
                attempts = 0;
                if told {
                    let now = inner.now();
                    inner.notify.update(&hook.name, |s| {
                        s.attempts = 0;
                        s.last_error = None;
                        s.last_delivered = Some(Time(now.0));
                    });
                    inner.progress.notify_waiters();
                }
                // A long stretch of entries with nothing for it holds up no
                // other task.
                tokio::task::yield_now().await;
            }
            Err(why) => {
                attempts = attempts.saturating_add(1);
                tracing::warn!(hook = %hook.name, entry = at, attempts, error = %why, "webhook not told; it is tried again");
                inner.notify.update(&hook.name, |s| {
                    s.attempts = attempts;
                    s.last_error = Some(why);
                });
                inner.progress.notify_waiters();
                let wait = Duration::from_millis(250u64.saturating_mul(1 << attempts.min(8)))
                    .min(MAX_BACKOFF);
                if !pause(&mut stop, wait).await {
                    return;
                }
            }
        }
    }
}

/// Waits `wait`; false if the node stops meanwhile.
async fn pause(stop: &mut tokio::sync::watch::Receiver<bool>, wait: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhooks_credentials_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("hook.secret");
        crate::config::write_private(&secret, b"a webhook secret of some length").unwrap();
        let mut config = NodeConfig::new(
            &"KR-KNPA".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            crate::config::RosterKeyConfig {
                name: "ISOP-TEST/roster".into(),
                public_key: "00".repeat(32),
            },
        );
        config.notify.push(NotifyConfig {
            name: "siem".into(),
            url: "https://user:pass@siem.example/isop?key=sesame#frag".into(),
            secret_file: secret,
            events: vec![],
            kinds: vec!["referral".into()],
            ca_file: None,
        });
        let standing = Standing::default();
        let hooks = hooks(&config, &standing).unwrap();
        let shown = &standing.all(&config)[0].url;
        assert_eq!(shown, "https://siem.example/isop");
        let debug = format!("{:?}", hooks[0]);
        assert!(!debug.contains("secret of"), "{debug}");
    }
}
