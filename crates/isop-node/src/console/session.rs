//! Console sessions: a user signs in with their API token and gets a
//! session cookie; each request of the session calls the API with that
//! token, so a token renewed or a user removed ends the session at once.
//! Every form carries the session's CSRF token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// The names of a node's cookies: its session's, and the one that
/// carries the sign-in form's CSRF token before a session. Each names the
/// node's org, since browsers keep cookies by host, not port: the
/// consoles of two nodes on one host must not take each other's.
pub(super) fn cookie_names(org: &str) -> (String, String) {
    let short: String = org
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (
        format!("isop_session_{short}"),
        format!("isop_signin_{short}"),
    )
}
/// A session ends after this long without a request…
const IDLE: Duration = Duration::from_secs(30 * 60);
/// …and after this long in any case.
const LONGEST: Duration = Duration::from_secs(12 * 60 * 60);
/// The most sessions held; the one idle longest goes first.
const MAX_SESSIONS: usize = 256;

/// A signed-in user's session.
#[derive(Clone)]
pub(super) struct Session {
    /// The user's API token: what every call of the session carries.
    pub(super) token: Zeroizing<String>,
    /// The user's name, as at sign-in (the API identifies the token and
    /// checks its role anew on every call).
    pub(super) user: String,
    /// What every form of the session must send back.
    pub(super) csrf: String,
    started: Instant,
    last: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for one call with `token`, held nowhere: sign-in asks
    /// the API who the token is.
    pub(super) fn probe(token: &str) -> Self {
        let now = Instant::now();
        Self {
            token: Zeroizing::new(token.to_owned()),
            user: String::new(),
            csrf: String::new(),
            started: now,
            last: now,
        }
    }
}

/// Random bytes as hex: session ids and CSRF tokens.
pub(super) fn random_hex() -> String {
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    hex::encode(raw)
}

/// The sessions this node's console holds, in memory: a restart signs
/// everyone out.
#[derive(Default)]
pub(super) struct Sessions(Mutex<HashMap<String, Session>>);

impl Sessions {
    /// Starts a session for `user`; returns its id (the cookie's value).
    pub(super) fn start(&self, token: &str, user: &str) -> String {
        let id = random_hex();
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| live(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                token: Zeroizing::new(token.to_owned()),
                user: user.to_owned(),
                csrf: random_hex(),
                started: now,
                last: now,
            },
        );
        id
    }

    /// The live session `id` names, its last use now.
    pub(super) fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.get_mut(id)?;
        if !live(s, now) {
            map.remove(id);
            return None;
        }
        s.last = now;
        Some(s.clone())
    }

    /// Ends session `id`.
    pub(super) fn end(&self, id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last) < IDLE && now.duration_since(s.started) < LONGEST
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub(super) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for `/ui`, Secure
/// when the console is reached over TLS; `None` clears the cookie.
pub(super) fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!("{name}={v}; Path=/ui; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_start_end_and_hide_their_token() {
        let sessions = Sessions::default();
        let id = sessions.start("secret-token", "ana");
        let s = sessions.get(&id).unwrap();
        assert_eq!(s.user, "ana");
        assert_ne!(s.csrf, id);
        assert!(!format!("{s:?}").contains("secret-token"));
        assert!(sessions.get("not-a-session").is_none());
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn the_session_cookie_is_strict_and_http_only() {
        let (session, signin) = cookie_names("KR-KNPA");
        assert_eq!(
            (session.as_str(), signin.as_str()),
            ("isop_session_KR-KNPA", "isop_signin_KR-KNPA")
        );
        let c = set_cookie(&session, Some("abc"), true);
        assert_eq!(
            c,
            "isop_session_KR-KNPA=abc; Path=/ui; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie(&session, Some("abc"), false).contains("Secure"));
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; isop_session_KR-KNPA=xyz".parse().unwrap(),
        );
        assert_eq!(cookie(&h, &session), Some("xyz"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
