//! `isop submit --bulk` and `isop respond --bulk`: a file of referrals or
//! answers, every row checked by the node (as it would send it) before
//! anything is sent; then sent one by one, with a progress bar and one
//! result per row.
//!
//! Referrals come as CSV with a header (the columns of [`ReferralRow`]) or
//! as JSON Lines, one `POST /v1/notices` body a line. Rows of a CSV file
//! that share a `group` make one referral: the first row gives its target
//! and shared fields, and every row adds its work and evidence. Answers
//! come as CSV (`id,status,reason,action,details`) or JSON Lines of the
//! same fields.

use std::path::Path;

use anyhow::{Context, Result};
use isop_api::{ApiClient, Checked, Respond, Sent, SubmitNotice};
use serde::{Deserialize, Serialize};

use super::send::{ReferralArgs, SendKind, send_notice};
use crate::output::{esc, print};

/// One row of a referrals CSV file. Lists within a cell (`to`) are
/// separated by `;`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReferralRow {
    /// Recipient orgs, `;`-separated.
    to: String,
    /// Rows with the same group make one referral.
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    tlp: Option<String>,
    #[serde(default)]
    case_ref: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    hosting_country: Option<String>,
    category: String,
    /// The infringed work's title.
    work: String,
    #[serde(default)]
    rights_owner: Option<String>,
    /// The evidence's SHA-256, hex; or give `evidence_file`.
    #[serde(default)]
    evidence_sha256: Option<String>,
    /// A file to hash (its size and media type go with it).
    #[serde(default)]
    evidence_file: Option<String>,
    evidence_method: String,
    #[serde(default)]
    evidence_description: Option<String>,
    /// When the evidence was captured (RFC 3339 or Unix ms; default now,
    /// or the file's modification time).
    #[serde(default)]
    captured_at: Option<String>,
    #[serde(default)]
    requested_action: Option<String>,
    jurisdiction: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    contact: Option<String>,
    #[serde(default)]
    contact_label: Option<String>,
    /// `yes` or `true`: the good-faith and accuracy statements affirmed.
    affirm: String,
}

/// One answer of a respond file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RespondRow {
    id: String,
    status: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    details: Option<String>,
}

/// The items of a bulk file, each with the rows it came from, or why the
/// rows do not make one.
type Items<T> = Vec<(Vec<usize>, Result<T, String>)>;

/// The outcome of one notice of the file, and the rows it came from.
#[derive(Debug, Serialize)]
struct Outcome {
    rows: Vec<usize>,
    #[serde(flatten)]
    sent: Option<Sent>,
    error: Option<String>,
}

fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// The rows of a CSV file (numbered from 2: row 1 is the header) or a
/// JSON Lines file (numbered by line, blank lines skipped), each read as
/// `T` or why not.
fn rows<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<(usize, Result<T, String>)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if is_csv(path) {
        let mut r = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        Ok(r.deserialize()
            .enumerate()
            .map(|(i, row)| (i + 2, row.map_err(|e| e.to_string())))
            .collect())
    } else {
        Ok(text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, serde_json::from_str(l).map_err(|e| e.to_string())))
            .collect())
    }
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

impl ReferralRow {
    /// What the row adds to a referral's flags: a work, an evidence item.
    fn add_to(self, args: &mut ReferralArgs) {
        args.works.push(match nonempty(self.rights_owner) {
            Some(owner) => format!("{}={owner}", self.work),
            None => self.work,
        });
        let description = self.evidence_description.unwrap_or_default();
        if let Some(file) = nonempty(self.evidence_file) {
            args.evidence_files
                .push(format!("{file},{},{description}", self.evidence_method));
        }
        if let Some(sha) = nonempty(self.evidence_sha256) {
            args.evidence
                .push(format!("{sha},{},{description}", self.evidence_method));
        }
    }

    /// The notice the rows of one referral make, the first giving its
    /// target and shared fields.
    fn notice(mut group: Vec<Self>) -> Result<SubmitNotice> {
        let rest = group.split_off(1);
        let first = group.pop().context("an empty group")?;
        let affirm = matches!(
            first.affirm.to_ascii_lowercase().as_str(),
            "yes" | "true" | "y" | "1"
        );
        let to = first
            .to
            .split(';')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
        let tlp = nonempty(first.tlp.clone()).unwrap_or_else(|| "amber".into());
        let case = nonempty(first.case_ref.clone());
        let mut args = ReferralArgs {
            domain: nonempty(first.domain.clone()),
            url: nonempty(first.url.clone()),
            ip: nonempty(first.ip.clone()),
            hosting_country: first.hosting_country.clone().unwrap_or_default(),
            category: first.category.clone(),
            works: Vec::new(),
            evidence: Vec::new(),
            evidence_files: Vec::new(),
            captured_at: nonempty(first.captured_at.clone()),
            action: nonempty(first.requested_action.clone()).unwrap_or_else(|| "takedown".into()),
            jurisdiction: first.jurisdiction.clone(),
            summary: first.summary.clone().unwrap_or_default(),
            contact: nonempty(first.contact.clone()),
            contact_label: nonempty(first.contact_label.clone())
                .unwrap_or_else(|| "role:agency|role:hub".into()),
            affirm,
        };
        first.add_to(&mut args);
        for row in rest {
            row.add_to(&mut args);
        }
        send_notice(to, Vec::new(), &tlp, case, SendKind::Referral(args))
    }
}

/// The notices of a referrals file, each with the rows it came from; a
/// row that cannot be read, or a notice that cannot be made, is an error
/// naming its rows.
fn referrals(path: &Path) -> Result<Items<SubmitNotice>> {
    if !is_csv(path) {
        return Ok(rows::<SubmitNotice>(path)?
            .into_iter()
            .map(|(n, r)| (vec![n], r))
            .collect());
    }
    let mut out = Vec::new();
    // Groups in the order their first row comes.
    let mut groups: Vec<(String, Vec<usize>, Vec<ReferralRow>)> = Vec::new();
    for (n, row) in rows::<ReferralRow>(path)? {
        match row {
            Err(e) => out.push((vec![n], Err(e))),
            Ok(row) => match nonempty(row.group.clone()) {
                None => out.push((
                    vec![n],
                    ReferralRow::notice(vec![row]).map_err(|e| format!("{e:#}")),
                )),
                Some(g) => match groups.iter_mut().find(|(name, ..)| *name == g) {
                    Some((_, numbers, members)) => {
                        numbers.push(n);
                        members.push(row);
                    }
                    None => groups.push((g, vec![n], vec![row])),
                },
            },
        }
    }
    for (_, numbers, members) in groups {
        out.push((
            numbers,
            ReferralRow::notice(members).map_err(|e| format!("{e:#}")),
        ));
    }
    out.sort_by_key(|(rows, _)| rows.first().copied());
    Ok(out)
}

/// The answers of a respond file, each with its row.
fn answers(path: &Path) -> Result<Items<(String, Respond)>> {
    Ok(rows::<RespondRow>(path)?
        .into_iter()
        .map(|(n, r)| {
            let answer = r.map(|r| {
                (
                    r.id,
                    Respond {
                        status: r.status,
                        reason: r.reason.unwrap_or_default(),
                        action: nonempty(r.action),
                        details: r.details.unwrap_or_default(),
                    },
                )
            });
            (vec![n], answer)
        })
        .collect())
}

fn rows_text(rows: &[usize]) -> String {
    match rows {
        [one] => format!("row {one}"),
        many => format!(
            "rows {}",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Checks every item of `items` with `check`, and if all pass, sends each
/// with `send`; what each row came to, printed.
async fn check_then_send<T>(
    items: Items<T>,
    json: bool,
    check: impl AsyncFn(&T) -> Result<Checked, isop_api::Error>,
    send: impl AsyncFn(&T) -> Result<Sent, isop_api::Error>,
) -> Result<()> {
    anyhow::ensure!(!items.is_empty(), "the file holds no rows");
    let bar = crate::output::count_bar(items.len() as u64, "checking");
    let mut bad = Vec::new();
    for (rows, item) in &items {
        let why = match item {
            Err(e) => Some(e.clone()),
            Ok(item) => check(item).await.err().map(|e| e.to_string()),
        };
        if let Some(why) = why {
            bad.push((rows.clone(), why));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !bad.is_empty() {
        for (rows, why) in &bad {
            eprintln!("{}: {}", rows_text(rows), esc(why));
        }
        anyhow::bail!(
            "{} of {} failed the checks; nothing was sent",
            bad.len(),
            items.len()
        );
    }
    let bar = crate::output::count_bar(items.len() as u64, "sending");
    let mut outcomes = Vec::new();
    for (rows, item) in items {
        let Ok(item) = item else { continue };
        let (sent, error) = match send(&item).await {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e.to_string())),
        };
        outcomes.push(Outcome { rows, sent, error });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    print(json, &outcomes, |outcomes| {
        for o in outcomes {
            match (&o.sent, &o.error) {
                (Some(s), _) => println!(
                    "{}: sent {} (entry {}) to {}",
                    rows_text(&o.rows),
                    s.id,
                    s.index,
                    s.recipients
                        .iter()
                        .map(|r| esc(r))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                (None, Some(e)) => println!("{}: NOT SENT: {}", rows_text(&o.rows), esc(e)),
                (None, None) => {}
            }
        }
    })?;
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} could not be sent",
        outcomes.len()
    );
    Ok(())
}

/// `isop submit --bulk FILE`.
pub(crate) async fn submit(api: &ApiClient, path: &Path, json: bool) -> Result<()> {
    check_then_send(
        referrals(path)?,
        json,
        async |n| api.check(n).await,
        async |n| api.submit(n).await,
    )
    .await
}

/// `isop respond --bulk FILE`.
pub(crate) async fn respond(api: &ApiClient, path: &Path, json: bool) -> Result<()> {
    check_then_send(
        answers(path)?,
        json,
        async |(id, r)| api.check_respond(id, r).await,
        async |(id, r)| api.respond(id, r).await,
    )
    .await
}
