//! What an entry is indexed under: notice id, case, author, the notices
//! it answers and indicators.

use bytes::Bytes;
use isop_core::indicator::{self, match_form};
use isop_core::pb::field_value::Value;
use isop_core::{NOTICE_PAYLOAD_TYPE, Notice, pb, sha256};
use prost::Message;

use crate::keys;

/// What an entry is indexed under: its notice's id and payload digest
/// (what dedupes it), and its postings. Made by the store from the entry's
/// bytes, or by a caller that holds the notice decoded already
/// ([`IndexKeys::of_notice`]), so it is not decoded twice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexKeys {
    pub(crate) notice_id: Option<[u8; 16]>,
    /// SHA-256 of the notice payload: with the id, what dedupes a notice.
    pub(crate) notice_digest: Option<[u8; 32]>,
    pub(crate) multi: Vec<(u8, Vec<u8>)>,
}

impl IndexKeys {
    /// The index keys of an entry logging `envelope` with `disclosures`.
    /// Only a notice that decodes is indexed; the node logs refusals as its
    /// own receipts.
    pub fn of_envelope<'a>(envelope: &[u8], disclosures: impl Iterator<Item = &'a Bytes>) -> Self {
        let Ok(env) = pb::Envelope::decode(envelope) else {
            return Self::default();
        };
        if env.payload_type != NOTICE_PAYLOAD_TYPE {
            return Self::default();
        }
        let Ok(n) = Notice::decode(&env.payload) else {
            return Self::default();
        };
        Self::of_notice(&n, sha256(&env.payload), disclosures)
    }

    /// The index keys of the entry that logs `notice` (whose payload hashes
    /// to `payload_digest`) with `disclosures`: the same as the store finds
    /// in the entry's bytes.
    pub fn of_notice<'a>(
        n: &Notice,
        payload_digest: [u8; 32],
        disclosures: impl Iterator<Item = &'a Bytes>,
    ) -> Self {
        let mut multi = vec![(keys::AUTHOR, n.author().as_str().as_bytes().to_vec())];
        if let Some(c) = n.case_ref() {
            multi.push((keys::CASE, c.as_bytes().to_vec()));
        }
        let mut answers: Vec<Vec<u8>> = n
            .in_reply_to()
            .map(|i| i.as_bytes().to_vec())
            .into_iter()
            .collect();
        match n.body() {
            pb::notice::Body::StatusUpdate(s) => answers.push(s.referral_id.to_vec()),
            pb::notice::Body::Retraction(r) => answers.push(r.notice_id.to_vec()),
            pb::notice::Body::TakedownRequest(t) => {
                answers.extend(t.referrals.iter().map(|r| r.to_vec()))
            }
            _ => {}
        }
        answers.sort();
        answers.dedup();
        multi.extend(answers.into_iter().map(|a| (keys::REPLY, a)));
        let named = indicator::in_body(n.body());
        let mut indicators: Vec<String> = named
            .iter()
            .filter_map(|(kind, v)| indexed(*kind, v))
            .collect();
        indicators.extend(named.iter().flat_map(|(kind, v)| site_keys(*kind, v)));
        for d in disclosures {
            indicators.extend(disclosure_indicator(d));
        }
        indicators.sort();
        indicators.dedup();
        multi.extend(
            indicators
                .into_iter()
                .map(|i| (keys::INDICATOR, i.into_bytes())),
        );
        Self {
            notice_id: Some(*n.id().as_bytes()),
            notice_digest: Some(payload_digest),
            multi,
        }
    }
}

fn disclosure_indicator(d: &[u8]) -> Option<String> {
    match pb::Disclosure::decode(d) {
        Ok(pb::Disclosure {
            value:
                Some(pb::FieldValue {
                    value: Some(Value::Indicator(i)),
                }),
            ..
        }) => indexed(pb::IndicatorKind::try_from(i.kind).ok()?, &i.value),
        _ => None,
    }
}

/// The envelope whose notice an entry's disclosures belong to: the notice
/// the entry logs, or the one a `DisclosuresAdded` entry adds to.
pub(crate) fn notice_envelope(entry: &pb::LogEntry) -> Option<&Bytes> {
    match &entry.record {
        Some(pb::log_entry::Record::Envelope(env)) => Some(env),
        Some(pb::log_entry::Record::DisclosuresAdded(a)) => Some(&a.envelope),
        _ => None,
    }
}

/// The entry that the postings of entry `index` point to: itself, or for
/// a `DisclosuresAdded` entry the notice's own entry, so that a lookup
/// finds the notice whichever copy brought the field.
pub(crate) fn posting_target(entry: &pb::LogEntry, index: u64) -> u64 {
    match &entry.record {
        Some(pb::log_entry::Record::DisclosuresAdded(a)) => a.notice_index,
        _ => index,
    }
}

/// The index keys that exist only because of disclosure `d` of the notice
/// in `envelope` (its indicator, unless the notice names it in clear):
/// what erasing `d` removes.
pub(crate) fn disclosure_keys(d: &[u8], envelope: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let Some(form) = disclosure_indicator(d) else {
        return Vec::new();
    };
    let key = (keys::INDICATOR, form.into_bytes());
    if IndexKeys::of_envelope(envelope, std::iter::empty())
        .multi
        .contains(&key)
    {
        Vec::new()
    } else {
        vec![key]
    }
}

/// The index keys of disclosures a later copy added to the notice in
/// `envelope`: the indicators among them that the notice lacks in clear.
pub(crate) fn added_keys<'a>(
    envelope: &[u8],
    disclosures: impl Iterator<Item = &'a Bytes>,
) -> Vec<(u8, Vec<u8>)> {
    let mut keys: Vec<_> = disclosures
        .flat_map(|d| disclosure_keys(d, envelope))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The keys that exist only because of disclosure `d` held by `owner`
/// (an encoded LogEntry at `index`), and the entry they point to.
pub(crate) fn postings_of_disclosure(
    d: &[u8],
    owner: &[u8],
    index: u64,
) -> (u64, Vec<(u8, Vec<u8>)>) {
    match pb::LogEntry::decode(owner) {
        Ok(e) => (
            posting_target(&e, index),
            notice_envelope(&e).map_or_else(Vec::new, |env| disclosure_keys(d, env)),
        ),
        Err(_) => (index, Vec::new()),
    }
}

/// The keys a site search finds a domain or URL under: `*.` and each of
/// its site names (`indicator::site_names`). No indicator's own form
/// starts with `*`, so these never meet one.
fn site_keys(kind: pb::IndicatorKind, v: &str) -> Vec<String> {
    indicator::site_names(kind, v)
        .into_iter()
        .map(|n| format!("{SITE}{n}"))
        .collect()
}

/// What a site's key starts with.
const SITE: &str = "*.";

/// The key a site search for `domain` looks up: every notice naming the
/// domain, a subdomain of it, or a URL on either.
pub(crate) fn site_key(domain: &str) -> String {
    format!(
        "{SITE}{}",
        indicator::match_form(pb::IndicatorKind::Domain, domain)
    )
}

/// The key an indicator is indexed under: domains, IPs, URLs, wallets,
/// payment accounts and e-mail addresses are. Persons are never indexed.
fn indexed(kind: pb::IndicatorKind, v: &str) -> Option<String> {
    use pb::IndicatorKind as K;
    match kind {
        K::Domain | K::Ip | K::Url | K::CryptoWallet | K::PaymentAccount | K::Email
            if !v.trim().is_empty() =>
        {
            Some(match_form(kind, v))
        }
        _ => None,
    }
}

/// The forms a looked-up value may be indexed under, without knowing its
/// kind: as given, and as each kind with its own form would write it.
pub(crate) fn lookup_forms(v: &str) -> Vec<String> {
    use pb::IndicatorKind as K;
    let mut forms: Vec<String> = [
        K::Domain,
        K::Ip,
        K::Url,
        K::Email,
        K::CryptoWallet,
        K::PaymentAccount,
    ]
    .into_iter()
    .map(|k| match_form(k, v))
    .chain([v.trim().to_owned()])
    .collect();
    forms.sort();
    forms.dedup();
    forms
}
