//! Indicators by kind: what a valid value is, the form values are matched
//! under, and the Unicode form of an internationalised name for people.
//!
//! A value is accepted only in one written form, so that two members who
//! name the same domain, address or account name it with the same bytes and
//! the correlation query finds both: domains in lower-case IDNA A-labels,
//! IPs in their canonical text, URLs as the WHATWG URL serialiser writes
//! them (ASCII, the host in A-labels), IBANs in their electronic form. A
//! value that only needs rewriting is refused with the form to write, so a
//! look-alike (`exаmple` with a Cyrillic `а`) shows itself as `xn--…`.

use std::net::IpAddr;

use iban::{Iban, IbanLike};
use isop_proto::v1 as pb;
use sha3::{Digest, Keccak256};

pub use pb::IndicatorKind;

/// The longest indicator value accepted.
pub const MAX_VALUE_LEN: usize = 2048;

/// Checks `value` as an indicator of `kind`; the error says what is wrong
/// and, where the value only needs rewriting, the form to write.
pub fn check(kind: IndicatorKind, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(format!("is longer than {MAX_VALUE_LEN} bytes"));
    }
    match kind {
        IndicatorKind::Unspecified => Err("has no kind".into()),
        IndicatorKind::Domain => check_domain(value),
        IndicatorKind::Ip => check_ip(value),
        IndicatorKind::Url => check_url(value),
        IndicatorKind::PaymentAccount => check_payment_account(value),
        IndicatorKind::CryptoWallet => check_wallet(value),
        IndicatorKind::Email => check_email(value),
        IndicatorKind::Person => crate::text::check_line(value),
    }
}

/// Whether `s` is a lower-case DNS name of at least two LDH labels (an
/// A-label is an LDH label).
fn is_ldh_domain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').count() >= 2
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// A domain name: lower-case IDNA A-labels, at least two, no trailing dot.
pub fn check_domain(v: &str) -> Result<(), String> {
    if is_ldh_domain(v) {
        // An `xn--` label must be the A-label of a valid U-label, written
        // as IDNA writes it.
        if v.split('.').any(|l| l.starts_with("xn--")) {
            let (unicode, errors) = idna::domain_to_unicode(v);
            if errors.is_err() || idna::domain_to_ascii(&unicode).ok().as_deref() != Some(v) {
                return Err(format!("{v:?} holds an xn-- label that is not valid IDNA"));
            }
        }
        return Ok(());
    }
    match idna::domain_to_ascii(v.strip_suffix('.').unwrap_or(v)) {
        Ok(ascii) if is_ldh_domain(&ascii) => Err(format!(
            "{v:?} is not written as lower-case IDNA A-labels: write it as {ascii:?}"
        )),
        _ => Err(format!(
            "{v:?} is not a domain name (at least two labels of letters, digits and '-')"
        )),
    }
}

/// An IP address in its canonical text form.
pub fn check_ip(v: &str) -> Result<(), String> {
    let ip: IpAddr = v
        .parse()
        .map_err(|_| format!("{v:?} is not an IPv4 or IPv6 address"))?;
    let canonical = ip.to_string();
    if canonical != v {
        return Err(format!(
            "{v:?} is not in canonical form: write it as {canonical:?}"
        ));
    }
    Ok(())
}

/// A URL as the WHATWG serialiser writes it: ASCII, its host (if any) a
/// domain in A-labels or an IP address. `magnet:` and other hostless
/// URLs are accepted.
pub fn check_url(v: &str) -> Result<(), String> {
    let url = url::Url::parse(v).map_err(|e| format!("{v:?} is not a URL: {e}"))?;
    if url.as_str() != v {
        return Err(format!(
            "{v:?} is not in canonical ASCII form: write it as {:?}",
            url.as_str()
        ));
    }
    match url.host() {
        Some(url::Host::Domain(d)) => check_domain(d).map_err(|e| format!("host of {v:?}: {e}")),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => Ok(()),
        None if url.cannot_be_a_base() => Ok(()),
        None => Err(format!("{v:?} has no host")),
    }
}

/// An http(s) URL, as [`check_url`] accepts it.
pub fn check_web_url(v: &str) -> Result<(), String> {
    if !(v.starts_with("https://") || v.starts_with("http://")) {
        return Err(format!("{v:?} is not an http(s) URL"));
    }
    check_url(v)
}

/// An e-mail address: a local part without spaces or controls, `@`, and a
/// domain as [`check_domain`] accepts it.
pub fn check_email(v: &str) -> Result<(), String> {
    let (local, domain) = v
        .rsplit_once('@')
        .ok_or_else(|| format!("{v:?} is not an e-mail address: it has no '@'"))?;
    if local.is_empty()
        || local.len() > 64
        || local
            .chars()
            .any(|c| c == '@' || c.is_whitespace() || crate::text::is_unsafe_char(c))
    {
        return Err(format!(
            "{v:?} is not an e-mail address: its local part must be 1 to 64 bytes without '@', spaces or controls"
        ));
    }
    check_domain(domain).map_err(|e| format!("domain of {v:?}: {e}"))
}

/// The parts of what looks like an IBAN: country letters, check digits and
/// at most 30 more letters or digits, spaces between them ignored.
fn iban_like(v: &str) -> Option<String> {
    let compact: String = v.chars().filter(|c| *c != ' ').collect();
    let b = compact.as_bytes();
    let like = (15..=34).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_alphabetic)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b.iter().all(u8::is_ascii_alphanumeric);
    like.then(|| compact.to_ascii_uppercase())
}

/// A payment account: an IBAN (checked, in its electronic form) or any
/// other one-line identifier (a card acquirer id, a PSP merchant id).
pub fn check_payment_account(v: &str) -> Result<(), String> {
    if let Some(compact) = iban_like(v) {
        let iban: Iban = compact
            .parse()
            .map_err(|e| format!("{v:?} is not a valid IBAN: {e}"))?;
        if iban.electronic_str() != v {
            return Err(format!(
                "{v:?} is an IBAN not in its electronic form: write it as {:?}",
                iban.electronic_str()
            ));
        }
        return Ok(());
    }
    if v.trim() != v {
        return Err(format!("{v:?} has spaces around it"));
    }
    crate::text::check_line(v)
}

/// A cryptocurrency wallet address. Where the form names the chain, its
/// checksum is checked: segwit addresses (bech32 or bech32m, `bc1…`,
/// `ltc1…`), Bitcoin legacy addresses (`1…`, `3…`) and Tron (`T…`) by
/// Base58Check, Ethereum-style `0x…` by EIP-55 when mixed case. Any other
/// address must be 16 to 128 letters and digits, with a chain prefix
/// (`bitcoincash:`) allowed.
pub fn check_wallet(v: &str) -> Result<(), String> {
    if is_segwit(v) {
        return bech32::segwit::decode(v)
            .map(drop)
            .map_err(|e| format!("{v:?} is not a valid segwit address: {e}"));
    }
    if let Some(hex) = v.strip_prefix("0x") {
        if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{v:?} is not an address: 0x and 40 hex digits"));
        }
        let mixed = hex.bytes().any(|b| b.is_ascii_lowercase())
            && hex.bytes().any(|b| b.is_ascii_uppercase());
        if mixed && eip55(hex) != hex {
            return Err(format!("{v:?} fails its EIP-55 checksum"));
        }
        return Ok(());
    }
    let base58check = (v.starts_with('1') || v.starts_with('3')) && (26..=34).contains(&v.len())
        || v.starts_with('T') && v.len() == 34;
    if base58check {
        return bs58::decode(v)
            .with_check(None)
            .into_vec()
            .map(drop)
            .map_err(|e| format!("{v:?} fails its Base58Check checksum: {e}"));
    }
    let address = v.rsplit_once(':').map_or(v, |(_, a)| a);
    if !(16..=128).contains(&v.len())
        || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b':')
        || address.is_empty()
    {
        return Err(format!(
            "{v:?} is not a wallet address: 16 to 128 letters and digits (a chain prefix with ':' allowed)"
        ));
    }
    Ok(())
}

/// Whether `v` names a segwit chain by its human-readable part.
fn is_segwit(v: &str) -> bool {
    v.to_ascii_lowercase()
        .split_once('1')
        .is_some_and(|(hrp, _)| matches!(hrp, "bc" | "tb" | "bcrt" | "ltc" | "tltc"))
}

/// `hex` (40 hex digits) in EIP-55 mixed-case form.
fn eip55(hex: &str) -> String {
    let lower = hex.to_ascii_lowercase();
    let hash = Keccak256::digest(lower.as_bytes());
    lower
        .char_indices()
        .map(|(i, c)| {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// The kind a bare value most likely is, for lists of indicators written
/// one a line without kinds: an IP address; a URL (it has a scheme and
/// `:`); a valid IBAN (a payment account); a checksummed or otherwise
/// well-formed wallet address without a dot; else a domain name. `None`
/// for what is none of these (an e-mail address, an account identifier
/// that is not an IBAN: those need their kind written).
pub fn infer_kind(v: &str) -> Option<IndicatorKind> {
    let v = v.trim();
    if v.parse::<IpAddr>().is_ok() {
        return Some(IndicatorKind::Ip);
    }
    if v.contains('@') {
        return None;
    }
    if v.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
            && url::Url::parse(v).is_ok()
            && check_wallet(v).is_err()
    }) {
        return Some(IndicatorKind::Url);
    }
    if iban_like(v).is_some_and(|c| c.parse::<Iban>().is_ok()) {
        return Some(IndicatorKind::PaymentAccount);
    }
    let wallet = match_form(IndicatorKind::CryptoWallet, v);
    if !v.contains('.') && check_wallet(&wallet).is_ok() {
        return Some(IndicatorKind::CryptoWallet);
    }
    check_domain(&match_form(IndicatorKind::Domain, v))
        .is_ok()
        .then_some(IndicatorKind::Domain)
}

/// The name a referral's or takedown's target is known by: its domain, or
/// else its URL, or else its IP; empty for none.
pub fn target_name(t: Option<&pb::Target>) -> &str {
    t.and_then(|t| {
        [&t.domain, &t.url, &t.ip]
            .into_iter()
            .find(|s| !s.is_empty())
    })
    .map_or("", String::as_str)
}

/// The indicators a notice body names in the clear, with their kinds: a
/// referral's or takedown request's target (its URL, domain and IP) and an
/// intelligence report's indicators. Empty values and unknown kinds are
/// left out.
pub fn in_body(body: &pb::notice::Body) -> Vec<(IndicatorKind, &str)> {
    use pb::notice::Body;
    let mut found = Vec::new();
    match body {
        Body::Referral(pb::Referral {
            target: Some(t), ..
        })
        | Body::TakedownRequest(pb::TakedownRequest {
            target: Some(t), ..
        }) => found.extend([
            (IndicatorKind::Url, t.url.as_str()),
            (IndicatorKind::Domain, &t.domain),
            (IndicatorKind::Ip, &t.ip),
        ]),
        Body::IntelReport(r) => found.extend(
            r.indicators
                .iter()
                .filter_map(|i| Some((IndicatorKind::try_from(i.kind).ok()?, i.value.as_str()))),
        ),
        _ => {}
    }
    found.retain(|(_, v)| !v.is_empty());
    found
}

/// The form a value of `kind` is indexed and looked up under: what
/// [`check`] accepts maps to itself, except where the kind ignores case
/// (domains, e-mail addresses, hex and bech32 wallets, IBANs); user input
/// that only needs rewriting (a Unicode domain, upper case, a URL without
/// its trailing slash, an IBAN in print form) maps to the form [`check`]
/// accepts.
pub fn match_form(kind: IndicatorKind, v: &str) -> String {
    let v = v.trim();
    let domain = |d: &str| {
        idna::domain_to_ascii(d.trim_end_matches('.')).unwrap_or_else(|_| d.to_lowercase())
    };
    match kind {
        IndicatorKind::Domain => domain(v),
        IndicatorKind::Email => match v.rsplit_once('@') {
            Some((local, d)) => format!("{}@{}", local.to_lowercase(), domain(d)),
            None => v.to_lowercase(),
        },
        IndicatorKind::Ip => v
            .parse::<IpAddr>()
            .map_or_else(|_| v.to_owned(), |ip| ip.to_string()),
        IndicatorKind::Url => url::Url::parse(v).map_or_else(|_| v.to_owned(), Into::into),
        IndicatorKind::CryptoWallet if v.starts_with("0x") || is_segwit(v) => {
            v.to_ascii_lowercase()
        }
        IndicatorKind::PaymentAccount => iban_like(v).unwrap_or_else(|| v.to_owned()),
        _ => v.to_owned(),
    }
}

/// The domains a site search for a value of `kind` should reach it from:
/// for a domain, or a URL's host name, the name itself and each parent
/// down to its registrable domain (by the Public Suffix List:
/// `live.streamz.example`, `streamz.example`), so that a search for a site
/// finds its subdomains and its URLs. None for other kinds, for IP hosts,
/// and for names under no known suffix but their own.
pub fn site_names(kind: IndicatorKind, v: &str) -> Vec<String> {
    let host = match kind {
        IndicatorKind::Domain => match_form(kind, v),
        IndicatorKind::Url => match url::Url::parse(v.trim()) {
            Ok(u) => match u.host() {
                Some(url::Host::Domain(d)) => d.to_owned(),
                _ => return Vec::new(),
            },
            Err(_) => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    let Some(registrable) = psl::domain_str(&host) else {
        return Vec::new();
    };
    let mut names = vec![host.clone()];
    let mut rest = host.as_str();
    while rest.len() > registrable.len() {
        match rest.split_once('.') {
            Some((_, parent)) => {
                names.push(parent.to_owned());
                rest = parent;
            }
            None => break,
        }
    }
    names
}

/// The target a value of `kind` is correlated under, across members: a
/// domain or a URL's host as its registrable domain (`live.streamz.example`
/// and `https://streamz.example/x` are both `streamz.example`), an IP, a
/// wallet or a payment account in its match form. `None` for other kinds
/// (persons and e-mail addresses are never correlated) and for what has
/// no such form.
pub fn correlation_key(kind: IndicatorKind, v: &str) -> Option<(IndicatorKind, String)> {
    match kind {
        IndicatorKind::Domain | IndicatorKind::Url => site_names(kind, v)
            .pop()
            .map(|site| (IndicatorKind::Domain, site)),
        IndicatorKind::Ip | IndicatorKind::CryptoWallet | IndicatorKind::PaymentAccount
            if !v.trim().is_empty() =>
        {
            Some((kind, match_form(kind, v)))
        }
        _ => None,
    }
}

/// The Unicode form of a domain, URL or e-mail address whose name holds an
/// IDNA A-label (`xn--`), to show beside it; `None` when it holds none.
pub fn unicode_form(v: &str) -> Option<String> {
    if !v.contains("xn--") {
        return None;
    }
    let host = match url::Url::parse(v) {
        Ok(u) if u.host_str().is_some() => u.host_str()?.to_owned(),
        _ => v.rsplit_once('@').map_or(v, |(_, d)| d).to_owned(),
    };
    let (unicode, errors) = idna::domain_to_unicode(&host);
    if errors.is_err() || unicode == host {
        return None;
    }
    Some(v.replacen(&host, &unicode, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorKind as K;

    #[test]
    fn domains_are_lower_case_a_labels() {
        assert_eq!(check(K::Domain, "streamz.example"), Ok(()));
        assert_eq!(check(K::Domain, "xn--bcher-kva.example"), Ok(()));
        let e = check(K::Domain, "streamz.exаmple").unwrap_err();
        assert!(e.contains("write it as \"streamz.xn--exmple-4nf\""), "{e}");
        let e = check(K::Domain, "Streamz.Example").unwrap_err();
        assert!(e.contains("write it as \"streamz.example\""), "{e}");
        for bad in [
            "streamz",
            "a..b",
            "-a.b",
            "a_b.example",
            "xn--zz.example",
            "a.b.",
        ] {
            assert!(check(K::Domain, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_correlate_under_their_site_or_match_form() {
        let key = correlation_key;
        for (kind, v) in [
            (K::Domain, "live.streamz.example"),
            (K::Domain, "Streamz.Example"),
            (K::Url, "https://cdn.streamz.example/live?x=1"),
        ] {
            assert_eq!(
                key(kind, v),
                Some((K::Domain, "streamz.example".into())),
                "{v}"
            );
        }
        assert_eq!(
            key(K::Domain, "streamz.co.uk"),
            Some((K::Domain, "streamz.co.uk".into()))
        );
        assert_eq!(
            key(K::Ip, " 2001:DB8:0::1"),
            Some((K::Ip, "2001:db8::1".into()))
        );
        assert_eq!(
            key(
                K::CryptoWallet,
                "0xABCDEF0123456789abcdef0123456789ABCDEF01"
            ),
            Some((
                K::CryptoWallet,
                "0xabcdef0123456789abcdef0123456789abcdef01".into()
            ))
        );
        assert_eq!(key(K::Email, "a@streamz.example"), None);
        assert_eq!(key(K::Person, "Jane Roe"), None);
        assert_eq!(key(K::Url, "http://203.0.113.7/live"), None);
        assert_eq!(key(K::Ip, " "), None);
    }

    #[test]
    fn ips_are_parsed_and_canonical() {
        assert_eq!(check(K::Ip, "203.0.113.7"), Ok(()));
        assert_eq!(check(K::Ip, "2001:db8::1"), Ok(()));
        assert!(check(K::Ip, "not-an-ip а").is_err());
        assert!(check(K::Ip, "203.0.113.007").is_err());
        let e = check(K::Ip, "2001:DB8:0::1").unwrap_err();
        assert!(e.contains("write it as \"2001:db8::1\""), "{e}");
    }

    #[test]
    fn urls_are_ascii_with_valid_hosts() {
        assert_eq!(check(K::Url, "https://streamz.example/live/1"), Ok(()));
        assert_eq!(
            check(
                K::Url,
                "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
            ),
            Ok(())
        );
        let e = check(K::Url, "https://streamz.example/live\u{202e}4pm.exe").unwrap_err();
        assert!(e.contains("%E2%80%AE"), "{e}");
        let e = check(K::Url, "https://strеamz.example/").unwrap_err();
        assert!(e.contains("xn--"), "{e}");
        assert!(
            check(K::Url, "https://streamz.example").is_err(),
            "no path slash"
        );
        assert!(check(K::Url, "https://single/").is_err());
        assert!(check(K::Url, "not a url").is_err());
        assert_eq!(
            check_web_url("ftp://streamz.example/"),
            Err("\"ftp://streamz.example/\" is not an http(s) URL".into())
        );
    }

    #[test]
    fn emails_have_a_valid_domain() {
        assert_eq!(check(K::Email, "abuse@streamz.example"), Ok(()));
        assert!(check(K::Email, "abuse streamz.example").is_err());
        assert!(check(K::Email, "a b@streamz.example").is_err());
        assert!(check(K::Email, "abuse@streamz").is_err());
        assert!(check(K::Email, "abuse@STREAMZ.example").is_err());
    }

    #[test]
    fn wallets_are_checked_by_chain_where_a_check_exists() {
        for ok in [
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ",
            "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7",
            "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
        ] {
            assert_eq!(check(K::CryptoWallet, ok), Ok(()), "{ok}");
        }
        for bad in [
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx",
            "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
            "0x5aaeb605",
            "wallet",
            "abcdefghijklmnop qrs",
        ] {
            assert!(check(K::CryptoWallet, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ibans_are_checked_and_electronic() {
        assert_eq!(check(K::PaymentAccount, "DE44500105175407324931"), Ok(()));
        assert!(check(K::PaymentAccount, "DE44500105175407324932").is_err());
        let e = check(K::PaymentAccount, "DE44 5001 0517 5407 3249 31").unwrap_err();
        assert!(e.contains("write it as \"DE44500105175407324931\""), "{e}");
        assert_eq!(check(K::PaymentAccount, "stripe:acct_1Hh1XYZ"), Ok(()));
        assert!(check(K::PaymentAccount, "acct\u{1b}[31m").is_err());
    }

    #[test]
    fn lookups_find_what_was_accepted() {
        assert_eq!(
            match_form(K::Domain, "Streamz.exаmple."),
            "streamz.xn--exmple-4nf"
        );
        assert_eq!(match_form(K::Ip, "2001:DB8::1"), "2001:db8::1");
        assert_eq!(
            match_form(K::Url, "https://STREAMZ.example"),
            "https://streamz.example/"
        );
        assert_eq!(
            match_form(K::PaymentAccount, "de44 5001 0517 5407 3249 31"),
            "DE44500105175407324931"
        );
        for (k, v) in [
            (K::Domain, "xn--bcher-kva.example"),
            (K::Url, "https://streamz.example/live"),
            (K::Ip, "203.0.113.7"),
        ] {
            assert_eq!(check(k, v), Ok(()));
            assert_eq!(match_form(k, v), v);
        }
    }

    #[test]
    fn unicode_forms_show_beside_a_labels() {
        assert_eq!(unicode_form("streamz.example"), None);
        assert_eq!(
            unicode_form("streamz.xn--exmple-4nf").as_deref(),
            Some("streamz.exаmple")
        );
        assert_eq!(
            unicode_form("https://xn--bcher-kva.example/a").as_deref(),
            Some("https://bücher.example/a")
        );
        assert_eq!(
            unicode_form("info@xn--bcher-kva.example").as_deref(),
            Some("info@bücher.example")
        );
    }

    #[test]
    fn bare_values_are_given_the_kind_they_are_written_as() {
        for (v, kind) in [
            ("203.0.113.7", Some(K::Ip)),
            ("2001:db8::1", Some(K::Ip)),
            ("https://streamz.example/live", Some(K::Url)),
            (
                "magnet:?xt=urn:btih:c9e15763f722f23e98a29decdfae341b98d53056",
                Some(K::Url),
            ),
            ("DE89 3704 0044 0532 0130 00", Some(K::PaymentAccount)),
            (
                "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                Some(K::CryptoWallet),
            ),
            (
                "0xabcdef0123456789abcdef0123456789abcdef01",
                Some(K::CryptoWallet),
            ),
            ("TJRabPrwbZy45sbavfcjinPJC18kjpRTv8", Some(K::CryptoWallet)),
            (
                "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
                Some(K::CryptoWallet),
            ),
            ("Live.Streamz.Example", Some(K::Domain)),
            ("bücher.example", Some(K::Domain)),
            ("ops@streamz.example", None),
            ("streamz", None),
            ("", None),
        ] {
            assert_eq!(infer_kind(v), kind, "{v:?}");
        }
    }
}
