//! Identifier newtypes: organisations, keys, notices, log positions and time.

use std::fmt;
use std::str::FromStr;

use rand_core::CryptoRngCore;

use crate::Error;

/// A point in time, in milliseconds since the Unix epoch.
///
/// The core never reads a clock: callers pass `UnixMillis` in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// The absolute distance between two times, in milliseconds.
    pub fn abs_diff(self, other: Self) -> u64 {
        self.0.abs_diff(other.0)
    }
}

/// A length of time, for people: `350 ms`, `12.5 s`, `20m 0s`, `3h 5m`,
/// `2d 4h`.
pub fn span(ms: u64) -> String {
    let (s, m, h, d) = (ms / 1000, ms / 60_000, ms / 3_600_000, ms / 86_400_000);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{s}.{} s", ms % 1000 / 100),
        60_000..3_600_000 => format!("{m}m {}s", s % 60),
        3_600_000..86_400_000 => format!("{h}h {}m", m % 60),
        _ => format!("{d}d {}h", h % 24),
    }
}

impl fmt::Display for UnixMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A position in a node's log (zero-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogIndex(pub u64);

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of a member organisation, for example `KR-KNPA` or `INTERPOL-GS`.
///
/// Valid ids are 2 to 64 characters of upper-case ASCII letters and digits,
/// in groups joined by single hyphens.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgId(String);

impl OrgId {
    /// Parses and validates an org id.
    pub fn new(s: &str) -> Result<Self, Error> {
        let ok = (2..=64).contains(&s.len())
            && s.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::InvalidOrgId(s.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of a signing key within its org, for example `2026a`.
///
/// 1 to 64 characters of ASCII letters, digits, `.`, `_` and `-`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyName(String);

impl KeyName {
    /// Parses and validates a key name.
    pub fn new(s: &str) -> Result<Self, Error> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::InvalidKeyName(s.to_owned()))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key's full id, `<ORG-ID>/<key-name>`: the DSSE `keyid` and the C2SP
/// signed-note key name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId {
    /// The org that owns the key.
    pub org: OrgId,
    /// The key's name within the org.
    pub name: KeyName,
}

impl KeyId {
    /// Builds a key id from its parts.
    pub fn new(org: OrgId, name: KeyName) -> Self {
        Self { org, name }
    }
}

impl FromStr for KeyId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (org, name) = s
            .split_once('/')
            .ok_or_else(|| Error::InvalidKeyId(s.to_owned()))?;
        Ok(Self {
            org: OrgId::new(org).map_err(|_| Error::InvalidKeyId(s.to_owned()))?,
            name: KeyName::new(name).map_err(|_| Error::InvalidKeyId(s.to_owned()))?,
        })
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.name)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The id of a notice: a 16-byte UUIDv7 (RFC 9562).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NoticeId([u8; 16]);

impl NoticeId {
    /// Makes a fresh UUIDv7 from a time and 74 random bits drawn from `rng`.
    pub fn new_v7(now: UnixMillis, rng: &mut impl CryptoRngCore) -> Self {
        let mut random = [0u8; 10];
        rng.fill_bytes(&mut random);
        Self(
            uuid::Builder::from_unix_timestamp_millis(now.0, &random)
                .into_uuid()
                .into_bytes(),
        )
    }

    /// Parses 16 bytes that must hold a UUIDv7.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        let arr: [u8; 16] = bytes
            .try_into()
            .map_err(|_| Error::InvalidNoticeId(format!("{} bytes, expected 16", bytes.len())))?;
        let id = uuid::Uuid::from_bytes(arr);
        if id.get_version_num() != 7 || id.get_variant() != uuid::Variant::RFC4122 {
            return Err(Error::InvalidNoticeId(format!("{id} is not a UUIDv7")));
        }
        Ok(Self(arr))
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The creation time encoded in the id.
    pub fn timestamp(&self) -> UnixMillis {
        let mut ms = [0u8; 8];
        ms[2..].copy_from_slice(&self.0[..6]);
        UnixMillis(u64::from_be_bytes(ms))
    }
}

impl FromStr for NoticeId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let id =
            uuid::Uuid::parse_str(s).map_err(|e| Error::InvalidNoticeId(format!("{s:?}: {e}")))?;
        Self::from_slice(id.as_bytes())
    }
}

impl fmt::Display for NoticeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        uuid::Uuid::from_bytes(self.0).hyphenated().fmt(f)
    }
}

impl fmt::Debug for NoticeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoticeId({self})")
    }
}

macro_rules! text_newtype_impls {
    ($($t:ident),*) => {$(
        impl FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "({})"), self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}
text_newtype_impls!(OrgId, KeyName);

/// Checks an ISO 3166-1 alpha-2 country code (two upper-case letters).
pub(crate) fn check_country(s: &str) -> Result<(), Error> {
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Error::InvalidCountry(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids() {
        for ok in ["KR-KNPA", "INTERPOL-GS", "RH-FILMCO", "A1", "BR-PF-2"] {
            assert!(OrgId::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "kr-knpa",
            "KR--KNPA",
            "-KR",
            "KR-",
            "KR KNPA",
            "KR/X",
            &"A".repeat(65),
        ] {
            assert!(
                matches!(OrgId::new(bad), Err(Error::InvalidOrgId(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn key_ids_round_trip() {
        let id: KeyId = "KR-KNPA/2026a".parse().unwrap();
        assert_eq!(id.org.as_str(), "KR-KNPA");
        assert_eq!(id.name.as_str(), "2026a");
        assert_eq!(id.to_string(), "KR-KNPA/2026a");
        for bad in ["KR-KNPA", "KR-KNPA/", "/k", "kr/k", "KR-KNPA/a b"] {
            assert!(bad.parse::<KeyId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn notice_ids_are_v7_and_keep_their_time() {
        let mut rng = rand::thread_rng();
        let id = NoticeId::new_v7(UnixMillis(1_764_000_000_123), &mut rng);
        assert_eq!(id.timestamp(), UnixMillis(1_764_000_000_123));
        let parsed: NoticeId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        assert!(NoticeId::from_slice(&[0u8; 16]).is_err());
        assert!(NoticeId::from_slice(&[0u8; 15]).is_err());
        let v4 = uuid::Uuid::from_u128(0x6f2d_8f3c_1a4b_4c5d_8e9f_0a1b_2c3d_4e5f);
        assert!(NoticeId::from_slice(v4.as_bytes()).is_err());
    }
}
