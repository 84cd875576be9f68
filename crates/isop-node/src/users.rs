//! The people who use a node's local API: each a name, a role and a
//! token, kept hashed (SHA-256 of 32 random bytes) in `users.json` in the
//! node's private data directory, written 0600. The API token file's
//! token is the first admin's, `admin`. A role permits a set of actions
//! ([`Permission`]); every access an auditor must see is a LOCAL `Access`
//! entry in the log (see `api/mod.rs`).

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::config::write_private;

/// The first admin: the holder of the API token file's token.
pub(crate) const FIRST_ADMIN: &str = "admin";

/// What a user may do, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    /// Everything: users, the roster, reloads, erasure, exports.
    Admin,
    /// Reads what came in and what went out, sends and answers.
    Analyst,
    /// Sends and follows what it sent; reads nothing that came in.
    Submitter,
    /// Reads; sends nothing.
    Viewer,
}

impl Role {
    /// Its name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Analyst => "analyst",
            Self::Submitter => "submitter",
            Self::Viewer => "viewer",
        }
    }

    /// The role named `s`, or an error naming the roles.
    pub(crate) fn parse(s: &str) -> Result<Self, Error> {
        match s.trim().to_lowercase().as_str() {
            "admin" => Ok(Self::Admin),
            "analyst" => Ok(Self::Analyst),
            "submitter" => Ok(Self::Submitter),
            "viewer" => Ok(Self::Viewer),
            other => Err(Error::Invalid(format!(
                "role {other:?} is not one of admin, analyst, submitter, viewer"
            ))),
        }
    }

    /// Whether the role permits `p`.
    pub(crate) fn permits(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            Self::Admin => true,
            Self::Analyst => matches!(
                p,
                P::Status | P::ReadReceived | P::ReadSent | P::Send | P::Match
            ),
            Self::Submitter => matches!(p, P::Status | P::ReadSent | P::Send),
            Self::Viewer => matches!(p, P::Status | P::ReadReceived | P::ReadSent),
        }
    }
}

/// What a route does, as roles permit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Permission {
    /// The node's state: status, checkpoint, metrics.
    Status,
    /// What came in: the inbox, a notice's fields, search, overlaps.
    ReadReceived,
    /// What went out: sent, track.
    ReadSent,
    /// Send, submit, answer (and their checks).
    Send,
    /// Run a private matching with another member.
    Match,
    /// Erase values, see and apply the retention policy.
    Erase,
    /// Export the whole log.
    Export,
    /// Push a roster, reload keys and certificates.
    Operate,
    /// Manage users.
    Users,
}

impl Permission {
    /// Every permission.
    pub(crate) const ALL: [Self; 9] = [
        Self::Status,
        Self::ReadReceived,
        Self::ReadSent,
        Self::Send,
        Self::Match,
        Self::Erase,
        Self::Export,
        Self::Operate,
        Self::Users,
    ];

    /// Its name, as `GET /v1/me` gives it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::ReadReceived => "read_received",
            Self::ReadSent => "read_sent",
            Self::Send => "send",
            Self::Match => "match",
            Self::Erase => "erase",
            Self::Export => "export",
            Self::Operate => "operate",
            Self::Users => "users",
        }
    }

    /// In words, for a refusal.
    pub(crate) fn words(self) -> &'static str {
        match self {
            Self::Status => "see the node's status",
            Self::ReadReceived => "read what came in",
            Self::ReadSent => "read what was sent",
            Self::Send => "send notices",
            Self::Match => "match with other members",
            Self::Erase => "erase values",
            Self::Export => "export the log",
            Self::Operate => "operate the node",
            Self::Users => "manage users",
        }
    }
}

/// A user of the local API.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct User {
    /// The name.
    pub(crate) name: String,
    /// The role.
    pub(crate) role: Role,
    /// SHA-256 of the token, hex.
    token_sha256: String,
    /// When the user was added, Unix milliseconds.
    pub(crate) added_at: u64,
}

/// The users, as `users.json` holds them.
pub(crate) struct Users {
    path: PathBuf,
    list: RwLock<Vec<User>>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// Compares in constant time.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    hex::encode(raw)
}

/// A user name: 1 to 64 of a-z, 0-9, `.`, `_`, `-`.
fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "user name {name:?}: use 1 to 64 of a-z, 0-9, '.', '_', '-'"
        )))
    }
}

impl Users {
    /// Opens `dir/users.json`, made with the first admin (`admin`, whose
    /// token is `admin_token`, the API token file's) if it is new. The
    /// first admin's token follows the token file.
    pub(crate) fn open(dir: &Path, admin_token: &str, now: u64) -> Result<Self, Error> {
        let path = dir.join("users.json");
        let bad = |why: String| Error::Config {
            path: path.display().to_string(),
            why,
        };
        let mut list: Vec<User> = if path.exists() {
            crate::config::check_private(&path)?;
            serde_json::from_slice(&std::fs::read(&path).map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?
        } else {
            Vec::new()
        };
        match list.iter_mut().find(|u| u.name == FIRST_ADMIN) {
            Some(u) => {
                u.role = Role::Admin;
                u.token_sha256 = hash(admin_token);
            }
            None => list.insert(
                0,
                User {
                    name: FIRST_ADMIN.into(),
                    role: Role::Admin,
                    token_sha256: hash(admin_token),
                    added_at: now,
                },
            ),
        }
        let users = Self {
            path,
            list: RwLock::new(list),
        };
        users.save(&users.read())?;
        Ok(users)
    }

    fn read(&self) -> Vec<User> {
        self.list.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn save(&self, list: &[User]) -> Result<(), Error> {
        let text = serde_json::to_vec_pretty(list).map_err(|e| Error::Config {
            path: self.path.display().to_string(),
            why: e.to_string(),
        })?;
        // Written beside, then renamed: never half a file.
        let tmp = self.path.with_extension("json.new");
        let _ = std::fs::remove_file(&tmp);
        write_private(&tmp, &text)?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::Config {
            path: self.path.display().to_string(),
            why: e.to_string(),
        })
    }

    /// The user whose token `token` is.
    pub(crate) fn identify(&self, token: &str) -> Option<User> {
        let h = hash(token);
        let list = self.list.read().unwrap_or_else(|p| p.into_inner());
        // Every entry compared, so the time says nothing of which matched.
        let mut found = None;
        for u in list.iter() {
            if same(&u.token_sha256, &h) {
                found = Some(u.clone());
            }
        }
        found
    }

    /// The users.
    pub(crate) fn list(&self) -> Vec<User> {
        self.read()
    }

    /// Changes the list with `change`, saves it, and only then holds it.
    fn edit<R>(&self, change: impl FnOnce(&mut Vec<User>) -> Result<R, Error>) -> Result<R, Error> {
        let mut list = self.list.write().unwrap_or_else(|p| p.into_inner());
        let mut next = list.clone();
        let r = change(&mut next)?;
        self.save(&next)?;
        *list = next;
        Ok(r)
    }

    /// Adds user `name` with `role`: its token, shown this once.
    pub(crate) fn add(&self, name: &str, role: Role, now: u64) -> Result<String, Error> {
        check_name(name)?;
        self.edit(|list| {
            if list.iter().any(|u| u.name == name) {
                return Err(Error::Invalid(format!("there is a user {name} already")));
            }
            let token = new_token();
            list.push(User {
                name: name.into(),
                role,
                token_sha256: hash(&token),
                added_at: now,
            });
            Ok(token)
        })
    }

    /// Removes user `name`; the first admin stays (its token is the API
    /// token file's).
    pub(crate) fn remove(&self, name: &str) -> Result<User, Error> {
        if name == FIRST_ADMIN {
            return Err(Error::Invalid(format!(
                "{FIRST_ADMIN} holds the API token file's token and stays; replace that file to change it"
            )));
        }
        self.edit(|list| Ok(list.remove(position(list, name)?)))
    }

    /// Gives user `name` a new token (the old one stops working): the
    /// user, and the token, shown this once.
    pub(crate) fn renew(&self, name: &str) -> Result<(User, String), Error> {
        if name == FIRST_ADMIN {
            return Err(Error::Invalid(format!(
                "{FIRST_ADMIN}'s token is the API token file's; replace that file and restart to change it"
            )));
        }
        self.edit(|list| {
            let at = position(list, name)?;
            let token = new_token();
            list[at].token_sha256 = hash(&token);
            Ok((list[at].clone(), token))
        })
    }
}

/// Where user `name` is in `list`, or an error naming the users.
fn position(list: &[User], name: &str) -> Result<usize, Error> {
    list.iter().position(|u| u.name == name).ok_or_else(|| {
        Error::Invalid(format!(
            "there is no user {name:?} (users: {})",
            list.iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_permit_what_they_say() {
        use Permission as P;
        assert!(Role::Viewer.permits(P::ReadReceived) && !Role::Viewer.permits(P::Send));
        assert!(Role::Submitter.permits(P::Send) && !Role::Submitter.permits(P::ReadReceived));
        assert!(Role::Analyst.permits(P::Send) && !Role::Analyst.permits(P::Erase));
        for p in [P::Erase, P::Export, P::Operate, P::Users] {
            assert!(Role::Admin.permits(p));
            assert!(!Role::Analyst.permits(p) && !Role::Viewer.permits(p));
        }
    }

    #[test]
    fn tokens_are_kept_hashed_and_the_file_private() {
        let dir = tempfile::tempdir().unwrap();
        let admin = "a".repeat(64);
        let users = Users::open(dir.path(), &admin, 1).unwrap();
        assert_eq!(users.identify(&admin).unwrap().role, Role::Admin);
        let token = users.add("jane", Role::Viewer, 2).unwrap();
        let file = std::fs::read_to_string(dir.path().join("users.json")).unwrap();
        assert!(!file.contains(&token) && !file.contains(&admin));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("users.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
        assert_eq!(users.identify(&token).unwrap().name, "jane");
        let e = users.add("jane", Role::Admin, 3).unwrap_err();
        assert!(e.to_string().contains("already"), "{e}");
        let e = users.add("Jane Doe", Role::Admin, 3).unwrap_err();
        assert!(e.to_string().contains("user name"), "{e}");
        let (jane, renewed) = users.renew("jane").unwrap();
        assert_eq!(jane.role, Role::Viewer);
        assert!(users.identify(&token).is_none());
        // Reopened, the users are there.
        let users = Users::open(dir.path(), &admin, 4).unwrap();
        assert_eq!(users.identify(&renewed).unwrap().name, "jane");
        assert!(users.remove(FIRST_ADMIN).is_err());
        let e = users.remove("bob").unwrap_err();
        assert!(e.to_string().contains("users: admin, jane"), "{e}");
        users.remove("jane").unwrap();
        assert!(users.identify(&renewed).is_none());
    }
}
