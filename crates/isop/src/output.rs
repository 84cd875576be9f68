//! What the commands print: JSON as the node answered it, or text for
//! people, every value escaped; progress on stderr.

use indicatif::{ProgressBar, ProgressStyle};
use isop_audit::{CrossReport, Finding, VerifyReport};
use isop_core::text::printable;
use serde_json::Value;

/// Prints `v` as JSON, or with `text` for people.
pub(crate) fn print(json: bool, v: &Value, text: impl FnOnce(&Value)) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        text(v);
    }
    Ok(())
}

/// A value of the API's answer, for people: what other members wrote may
/// hold control or bidi characters, shown escaped so that no value forges
/// a line, a colour or a title (`--json` stays exact).
pub(crate) fn s(v: &Value) -> String {
    match v {
        Value::String(s) => printable(s).into_owned(),
        Value::Null => "-".into(),
        other => printable(&other.to_string()).into_owned(),
    }
}

/// A labelled field's value for people: its text, or an indicator's value
/// with its kind and context; anything else as its JSON. Escaped.
pub(crate) fn value_words(v: &Value) -> String {
    if let Some(text) = v.get("text").and_then(Value::as_str) {
        return printable(text).into_owned();
    }
    if let Some(i) = v.get("indicator") {
        let kind = i["kind"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("INDICATOR_KIND_")
            .to_lowercase()
            .replace('_', " ");
        return match i["context"].as_str().filter(|c| !c.is_empty()) {
            Some(context) => format!("{} ({kind}; {})", s(&i["value"]), printable(context)),
            None => format!("{} ({kind})", s(&i["value"])),
        };
    }
    s(v)
}

/// A JSON value as an outline for people, `indent` spaces in: a field as
/// `name: value` (its name in words), a list's items as `- `, every value
/// escaped.
pub(crate) fn outline(v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    let nested = |x: &Value| matches!(x, Value::Object(_) | Value::Array(_));
    match v {
        Value::Object(fields) => {
            for (name, x) in fields {
                let name = name.replace('_', " ");
                if nested(x) {
                    println!("{pad}{name}:");
                    outline(x, indent + 2);
                } else {
                    println!("{pad}{name}: {}", s(x));
                }
            }
        }
        Value::Array(items) => {
            for x in items {
                if nested(x) {
                    println!("{pad}-");
                    outline(x, indent + 2);
                } else {
                    println!("{pad}- {}", s(x));
                }
            }
        }
        other => println!("{pad}{}", s(other)),
    }
}

pub(crate) fn print_summaries(items: &Value) {
    println!(
        "{:<6} {:<36} {:<10} {:<13} {:<16} case",
        "entry", "id", "kind", "author", "tlp"
    );
    for i in items.as_array().into_iter().flatten() {
        println!(
            "{:<6} {:<36} {:<10} {:<13} {:<16} {}",
            s(&i["index"]),
            s(&i["id"]),
            s(&i["kind"]),
            s(&i["author"]),
            s(&i["tlp"]),
            s(&i["case_ref"])
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
        "  {} disclosures checked, {} withheld from clearance [{}], {} erased; {} deliveries pending",
        r.disclosures,
        r.withheld,
        r.clearance.join(","),
        r.erased,
        r.pending
    );
    if r.is_clean() {
        println!("  verified: no findings");
    } else {
        println!("  {} finding(s):", r.findings_total);
        findings_text(&r.findings, r.findings_total);
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
