//! What the commands print: JSON as the node answered it, or text for
//! people, every value escaped; progress on stderr.

use indicatif::{ProgressBar, ProgressStyle};
use isop_api::{Page, Summary};
use isop_audit::{CrossReport, Finding, VerifyReport};
use isop_core::text::printable;
use serde::Serialize;
use serde_json::Value;

/// Prints `v` as JSON, or with `text` for people.
pub(crate) fn print<T: Serialize>(json: bool, v: &T, text: impl FnOnce(&T)) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        text(v);
    }
    Ok(())
}

/// Text from the API's answer, for people: what other members wrote may
/// hold control or bidi characters, shown escaped so that no value forges
/// a line, a colour or a title (`--json` stays exact).
pub(crate) fn esc(v: &str) -> String {
    printable(v).into_owned()
}

/// An optional value for people: its text, or `-`.
pub(crate) fn opt(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| esc(&v.to_string()))
}

/// A JSON value for people, escaped; `-` for none.
fn s(v: &Value) -> String {
    match v {
        Value::String(s) => esc(s),
        Value::Null => "-".into(),
        other => esc(&other.to_string()),
    }
}

/// An enum value of the schema in words: `NOTICE_KIND_STATUS_UPDATE` is
/// `status update`.
pub(crate) fn words(type_name: &str, name: &str) -> String {
    isop_core::json::enum_words(type_name, name)
}

/// A notice kind in words.
pub(crate) fn kind_words(k: isop_core::pb::NoticeKind) -> String {
    words("isop.v1.NoticeKind", k.as_str_name())
}

/// A TLP marking as people write it: `TLP:AMBER+STRICT`.
pub(crate) fn tlp_words(t: isop_core::pb::Tlp) -> String {
    isop_core::Tlp::from_pb(t as i32).map_or_else(|_| "TLP:unspecified".into(), |t| t.to_string())
}

/// A labelled field's value for people: its text, or an indicator's value
/// with its kind and context; anything else as its JSON on one line, enum
/// values in words. Escaped.
pub(crate) fn value_words(v: &Value) -> String {
    let v = &isop_core::json::in_words(v.clone(), "isop.v1.FieldValue");
    if let Some(text) = v.get("text").and_then(Value::as_str) {
        return esc(text);
    }
    if let Some(i) = v.get("indicator") {
        let kind = s(&i["kind"]);
        return match i["context"].as_str().filter(|c| !c.is_empty()) {
            Some(context) => format!("{} ({kind}; {})", s(&i["value"]), esc(context)),
            None => format!("{} ({kind})", s(&i["value"])),
        };
    }
    s(v)
}

/// A hex digest (64 digits) shortened for people unless `full`:
/// `9f2c1d0b…6050`.
pub(crate) fn short(v: &str, full: bool) -> String {
    if !full && v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("{}…{}", &v[..8], &v[60..])
    } else {
        esc(v)
    }
}

/// A JSON value as an outline for people, `indent` spaces in: a field as
/// `name: value` (its name in words), a list's items as `- `, digests
/// shortened unless `full`, every value escaped.
pub(crate) fn outline(v: &Value, indent: usize, full: bool) {
    let pad = " ".repeat(indent);
    let nested = |x: &Value| matches!(x, Value::Object(_) | Value::Array(_));
    let scalar = |x: &Value| match x {
        Value::String(t) => short(t, full),
        other => s(other),
    };
    match v {
        Value::Object(fields) => {
            for (name, x) in fields {
                let name = name.replace('_', " ");
                if nested(x) {
                    println!("{pad}{name}:");
                    outline(x, indent + 2, full);
                } else {
                    println!("{pad}{name}: {}", scalar(x));
                }
            }
        }
        Value::Array(items) => {
            for x in items {
                if nested(x) {
                    println!("{pad}-");
                    outline(x, indent + 2, full);
                } else {
                    println!("{pad}- {}", scalar(x));
                }
            }
        }
        other => println!("{pad}{}", scalar(other)),
    }
}

/// Lines of notices for people: entry, when logged, id, kind, author,
/// subject, status; `*` marks an unread one.
pub(crate) fn print_summaries(items: &[Summary]) {
    println!(
        "  {:<6} {:<19} {:<36} {:<16} {:<13} {:<28} status",
        "entry", "logged", "id", "kind", "author", "subject"
    );
    for i in items {
        let mark = if i.read == Some(false) { "*" } else { " " };
        let logged = i.logged_at.to_string();
        println!(
            "{mark} {:<6} {:<19} {:<36} {:<16} {:<13} {:<28} {}",
            i.index,
            logged.get(..19).unwrap_or(&logged).replace('T', " "),
            i.id,
            kind_words(i.kind),
            esc(&i.author),
            esc(&i.subject),
            opt(i
                .status
                .map(|s| words("isop.v1.ReferralStatus", s.as_str_name())))
        );
    }
}

/// A page for people: its lines, and how to get the next.
pub(crate) fn print_page(page: &Page, what: &str) {
    if page.items.is_empty() {
        println!("no {what}");
        return;
    }
    print_summaries(&page.items);
    if let Some(before) = page.next_before {
        println!(
            "  … {} more: the same command with --before {before} gives the next page",
            page.more
        );
    }
}

/// A spinner counting bytes of unknown total, drawn on stderr when it is a terminal.
pub(crate) fn bytes_spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {bytes} ({bytes_per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A progress bar over `total` items, drawn on stderr when it is a terminal.
pub(crate) fn count_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A progress bar over `total` bytes, drawn on stderr when it is a terminal.
pub(crate) fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

fn findings_text(findings: &[Finding], total: u64) {
    for f in findings {
        println!("  {f}");
    }
    if total > findings.len() as u64 {
        println!("  … and {} more", total - findings.len() as u64);
    }
}

pub(crate) fn print_verify(r: &VerifyReport) {
    println!(
        "{}'s log: {} entries{}, root {}",
        r.origin,
        r.entries,
        if r.complete { "" } else { " (incomplete file)" },
        &r.root[..16.min(r.root.len())]
    );
    println!(
        "  {} notices sent, {} received, {} receipts; {} signatures checked",
        r.notices_sent, r.notices_received, r.receipts, r.signatures
    );
    println!(
        "  {} checkpoints with {} cosignatures; {} peer checkpoints witnessed; {} roster versions",
        r.checkpoints, r.cosignatures, r.witnessed, r.rosters
    );
    println!(
        "  {} disclosures checked, {} withheld from clearance [{}], {} erased; {} deliveries pending, {} given up",
        r.disclosures,
        r.withheld,
        r.clearance.join(","),
        r.erased,
        r.pending,
        r.failed
    );
    // Erasures are no finding: the log says who erased what, and why.
    for e in &r.erasures {
        println!(
            "  erasure at entry {}: {} of entry {} erased {} by {}: {}",
            e.index,
            esc(&e.path),
            e.entry_index,
            isop_core::json::rfc3339(e.erased_at),
            esc(&e.erased_by),
            esc(&e.reason)
        );
    }
    if r.is_clean() {
        println!("  verified: no findings");
    } else {
        println!("  {} finding(s):", r.findings_total);
        findings_text(&r.findings, r.findings_total);
        // Where a tampered log first parts from what was signed: what
        // follows often only repeats it.
        if let Some(first) = r
            .findings
            .iter()
            .filter(|f| f.index.is_some())
            .min_by_key(|f| f.index)
        {
            println!(
                "  first divergence: entry {} ({}); later findings may follow from it",
                first.index.unwrap_or_default(),
                first.kind
            );
        }
    }
}

pub(crate) fn print_cross(r: &CrossReport) {
    println!(
        "{} ↔ {}: {} notices {}→{}, {} {}→{}; {} found with the same digest, {} receipts matched, {} pending; {} witnessed checkpoints compared ({} taken after the other export)",
        r.a,
        r.b,
        r.sent_a_to_b,
        r.a,
        r.b,
        r.sent_b_to_a,
        r.b,
        r.a,
        r.matched,
        r.receipts_matched,
        r.pending,
        r.witnessed_checked,
        r.witnessed_later
    );
    if r.is_clean() {
        println!("  consistent: no findings");
    } else {
        println!("  {} finding(s):", r.findings_total);
        findings_text(&r.findings, r.findings_total);
    }
}

/// The access record of a replayed log: one line per access.
pub(crate) fn print_accesses(story: &isop_audit::Story) {
    println!(
        "{}'s access record: {} accesses through its local API",
        esc(&story.origin),
        story.accesses.len()
    );
    for a in &story.accesses {
        println!(
            "  {} entry {:<6} {:<16} {:<9} {}{:<14} {} {}",
            isop_core::json::rfc3339(a.at),
            a.index,
            esc(&a.user),
            esc(&a.role),
            if a.refused { "REFUSED " } else { "" },
            esc(&a.action),
            a.notice.as_deref().unwrap_or("-"),
            esc(&a.detail)
        );
    }
}
