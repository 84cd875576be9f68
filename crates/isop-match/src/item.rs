//! What is matched: indicators in one canonical form, so that two members
//! who hold the same site, server, wallet or account derive the same bytes.

use std::fmt;

use isop_core::indicator::{self, IndicatorKind};

/// The kinds of indicator that are matched. E-mail addresses and persons
/// are personal data and never matched.
pub const MATCHED_KINDS: [IndicatorKind; 5] = [
    IndicatorKind::Domain,
    IndicatorKind::Url,
    IndicatorKind::Ip,
    IndicatorKind::CryptoWallet,
    IndicatorKind::PaymentAccount,
];

/// The prefix of every item's OPRF input, which separates isop's matching
/// from any other use of the same OPRF (the OPRF's own hash-to-group tag
/// separates the suite).
pub const INPUT_TAG: &[u8] = b"isop-match-v1";

/// An indicator in the form it is matched under: the kind, and the value
/// as [`indicator::match_form`] writes it (lower-case IDNA domains, IPs
/// in their canonical text, URLs as the WHATWG serialiser writes them,
/// lower-case hex and bech32 wallets, IBANs in electronic form).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Item {
    kind: IndicatorKind,
    value: String,
}

/// Why a value cannot be matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    /// Its kind is not one that is matched.
    #[error(
        "{0} indicators are not matched (only domains, URLs, IPs, wallets and payment accounts)"
    )]
    KindNotMatched(&'static str),
    /// Its kind could not be told from the value.
    #[error(
        "{0:?}: cannot tell its kind; write it as \"KIND VALUE\" (KIND one of domain, url, ip, wallet, account)"
    )]
    UnknownKind(String),
    /// The kind written is not one of the known names.
    #[error("{0:?} is not a kind (one of domain, url, ip, wallet, account)")]
    BadKind(String),
    /// The value is not a valid indicator of its kind.
    #[error("{kind} {why}")]
    Invalid {
        /// The kind's name.
        kind: &'static str,
        /// What is wrong, from the indicator's check.
        why: String,
    },
}

/// The name a kind is written as in lists and messages.
pub fn kind_name(kind: IndicatorKind) -> &'static str {
    match kind {
        IndicatorKind::Domain => "domain",
        IndicatorKind::Url => "url",
        IndicatorKind::Ip => "ip",
        IndicatorKind::CryptoWallet => "wallet",
        IndicatorKind::PaymentAccount => "account",
        IndicatorKind::Email => "email",
        IndicatorKind::Person => "person",
        IndicatorKind::Unspecified => "unspecified",
    }
}

impl Item {
    /// `raw` as an indicator of `kind`, rewritten to its match form and
    /// checked.
    pub fn new(kind: IndicatorKind, raw: &str) -> Result<Self, ItemError> {
        if !MATCHED_KINDS.contains(&kind) {
            return Err(ItemError::KindNotMatched(kind_name(kind)));
        }
        let invalid = |why| ItemError::Invalid {
            kind: kind_name(kind),
            why,
        };
        // A wallet's case is its checksum: check it as written.
        if kind == IndicatorKind::CryptoWallet {
            indicator::check(kind, raw.trim()).map_err(invalid)?;
        }
        let value = indicator::match_form(kind, raw);
        indicator::check(kind, &value).map_err(invalid)?;
        Ok(Self { kind, value })
    }

    /// One line of an indicator list: `KIND VALUE`, or a bare value whose
    /// kind is told from its form ([`indicator::infer_kind`]).
    pub fn parse_line(line: &str) -> Result<Self, ItemError> {
        let line = line.trim();
        if let Some((word, value)) = line.split_once(char::is_whitespace) {
            let kind = match word.to_ascii_lowercase().as_str() {
                "domain" => Some(IndicatorKind::Domain),
                "url" => Some(IndicatorKind::Url),
                "ip" => Some(IndicatorKind::Ip),
                "wallet" => Some(IndicatorKind::CryptoWallet),
                "account" => Some(IndicatorKind::PaymentAccount),
                "email" => Some(IndicatorKind::Email),
                "person" => Some(IndicatorKind::Person),
                _ => None,
            };
            match kind {
                Some(kind) => return Self::new(kind, value),
                // An IBAN is written with spaces; anything else with a
                // space names a kind.
                None if indicator::infer_kind(line) != Some(IndicatorKind::PaymentAccount) => {
                    return Err(ItemError::BadKind(word.to_owned()));
                }
                None => {}
            }
        }
        match indicator::infer_kind(line) {
            Some(kind) => Self::new(kind, line),
            None => Err(ItemError::UnknownKind(line.to_owned())),
        }
    }

    /// The kind.
    pub fn kind(&self) -> IndicatorKind {
        self.kind
    }

    /// The value, in its match form.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The OPRF input: [`INPUT_TAG`], a zero byte, the kind's number in
    /// `isop.v1.IndicatorKind` as one byte, and the value's UTF-8 bytes.
    pub fn input(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(INPUT_TAG.len() + 2 + self.value.len());
        out.extend_from_slice(INPUT_TAG);
        out.push(0);
        out.push(self.kind as u8);
        out.extend_from_slice(self.value.as_bytes());
        out
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", kind_name(self.kind), self.value)
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The items a member that holds `value` (of `kind`) matches on: the
/// value itself and, for a domain or a URL, each domain from its host
/// name down to the registrable domain (`live.streamz.example` is also
/// held as `streamz.example`), so that a query for a site finds the
/// member's subdomains and URLs of it. Empty for a value that cannot be
/// matched.
pub fn held_forms(kind: IndicatorKind, value: &str) -> Vec<Item> {
    let Ok(item) = Item::new(kind, value) else {
        return Vec::new();
    };
    let mut forms: Vec<Item> = indicator::site_names(kind, item.value())
        .into_iter()
        .filter_map(|d| Item::new(IndicatorKind::Domain, &d).ok())
        .collect();
    if !forms.contains(&item) {
        forms.insert(0, item);
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorKind as K;

    fn item(kind: K, v: &str) -> Item {
        Item::new(kind, v).unwrap()
    }

    #[test]
    fn lines_name_their_kind_or_are_told_it() {
        for (line, kind, value) in [
            ("Live.Streamz.Example", K::Domain, "live.streamz.example"),
            ("domain bücher.example", K::Domain, "xn--bcher-kva.example"),
            (
                "https://Streamz.Example",
                K::Url,
                "https://streamz.example/",
            ),
            ("2001:DB8:0::1", K::Ip, "2001:db8::1"),
            ("ip 203.0.113.7", K::Ip, "203.0.113.7"),
            (
                "DE89 3704 0044 0532 0130 00",
                K::PaymentAccount,
                "DE89370400440532013000",
            ),
            ("account acq:4711-0042", K::PaymentAccount, "acq:4711-0042"),
            (
                "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                K::CryptoWallet,
                "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            ),
        ] {
            let got = Item::parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!((got.kind(), got.value()), (kind, value), "{line}");
        }
        for (line, needle) in [
            ("ops@streamz.example", "cannot tell its kind"),
            ("email ops@streamz.example", "not matched"),
            ("site streamz.example", "not a kind"),
            ("ip 203.0.113.300", "not an IPv4"),
            (
                "wallet 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
                "EIP-55",
            ),
        ] {
            let e = Item::parse_line(line).unwrap_err().to_string();
            assert!(e.contains(needle), "{line}: {e}");
        }
    }

    #[test]
    fn domains_and_urls_are_held_down_to_their_registrable_domain() {
        assert_eq!(
            held_forms(K::Domain, "live.streamz.example"),
            [
                item(K::Domain, "live.streamz.example"),
                item(K::Domain, "streamz.example")
            ]
        );
        assert_eq!(
            held_forms(K::Url, "https://cdn.streamz.co.uk/x"),
            [
                item(K::Url, "https://cdn.streamz.co.uk/x"),
                item(K::Domain, "cdn.streamz.co.uk"),
                item(K::Domain, "streamz.co.uk")
            ]
        );
        assert_eq!(
            held_forms(K::Ip, "203.0.113.7"),
            [item(K::Ip, "203.0.113.7")]
        );
        assert!(held_forms(K::Email, "a@b.example").is_empty());
    }

    #[test]
    fn the_input_separates_kinds() {
        let d = item(K::Domain, "streamz.example").input();
        assert_eq!(&d[..14], b"isop-match-v1\0");
        assert_eq!(d[14], K::Domain as u8);
        assert_eq!(&d[15..], b"streamz.example");
        assert_ne!(d, item(K::Url, "https://streamz.example/").input());
    }
}
