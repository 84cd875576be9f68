//! A member's daily work through its node's local API: status, submit,
//! inbox and sent, show and read, track, respond, query, and the log's
//! export. Every answer is a type of `isop_api`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use isop_api::{ExportQuery, ListQuery, NoticeView, QueryParams, SubmitNotice};
use serde_json::json;

use super::{NodeArg, client, send, time_arg};
use crate::output::{
    bytes_spinner, esc, kind_words, opt, outline, print, print_page, print_summaries, short,
    tlp_words, value_words, words,
};

/// A node's state: roster, log, checkpoints, and each peer.
/// The key a node signs with and the certificate it shows, in one line.
pub(crate) fn identity_line(id: &isop_api::NodeIdentity) -> String {
    format!(
        "  signs with {} (valid until {}); TLS certificate pinned {} (expires {})",
        esc(&id.signing_key),
        id.key_not_after,
        esc(&id.tls_pin),
        id.tls_not_after
    )
}

pub(crate) async fn status(node: NodeArg) -> Result<()> {
    let v = client(&node)?.status().await?;
    print(node.json, &v, |v| {
        println!(
            "{} — roster v{}, log of {} entries, last checkpoint at {}, {} notices waiting, {} split views",
            esc(&v.org),
            v.roster_version,
            v.log_size,
            opt(v.last_checkpoint_size),
            v.outbox_depth,
            v.split_views
        );
        println!("{}", identity_line(&v.identity));
        println!(
            "  {:<13} {:<8} {:<3} {:<22} {:<6} {:<11} {:<20} {:<6} last error",
            "peer", "role", "cty", "endpoint", "outbox", "reachable", "last seen", "roster"
        );
        for p in &v.peers {
            let reachable = match p.reachable {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "not tried",
            };
            println!(
                "  {:<13} {:<8} {:<3} {:<22} {:<6} {:<11} {:<20} {:<6} {}",
                esc(&p.org),
                words("isop.v1.Role", p.role.as_str_name()),
                esc(&p.country),
                opt(p.endpoint.as_deref()),
                p.outbox_depth,
                reachable,
                opt(p.last_seen),
                opt(p.roster_version.map(|v| format!("v{v}"))),
                opt(p.last_error.as_deref())
            );
        }
        for h in &v.notify {
            println!(
                "  webhook {} at {}: {} entries to look at, last told {}{}",
                esc(&h.name),
                esc(&h.url),
                h.pending,
                opt(h.last_delivered),
                match &h.last_error {
                    Some(e) => format!(", {} failed attempts, last: {}", h.attempts, esc(e)),
                    None => String::new(),
                }
            );
        }
    })
}

/// The arguments of `isop submit`.
#[derive(Debug, Args)]
pub(crate) struct Submit {
    #[command(flatten)]
    node: NodeArg,
    /// The file is a bulk file: referrals as CSV (by its `.csv` extension,
    /// with a header row; see the README) or JSON Lines (one notice a
    /// line). Every row is checked by the node before any is sent.
    #[arg(long)]
    bulk: bool,
    /// The notice file: JSON, or TOML by its `.toml` extension, in the
    /// form of `POST /v1/notices` (see examples/referral.toml).
    file: PathBuf,
}

impl Submit {
    pub(crate) async fn run(self) -> Result<()> {
        let Self { node, bulk, file } = self;
        if bulk {
            return super::bulk::submit(&client(&node)?, &file, node.json).await;
        }
        send(&node, &read_notice(&file)?).await
    }
}

/// A notice file: JSON, or TOML by its `.toml` extension, in the form of
/// `POST /v1/notices`.
pub(crate) fn read_notice(file: &std::path::Path) -> Result<SubmitNotice> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    if file.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).with_context(|| format!("{} is not a notice (TOML)", file.display()))
    } else {
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a notice (JSON)", file.display()))
    }
}

/// Which list.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Box {
    /// What was delivered to the node.
    Inbox,
    /// What the node sent.
    Sent,
}

/// The arguments of `isop inbox` and `isop sent`.
#[derive(Debug, Args)]
pub(crate) struct List {
    #[command(flatten)]
    node: NodeArg,
    /// Only unread ones (inbox only).
    #[arg(long)]
    unread: bool,
    /// Only this kind: referral, status_update, intel_report,
    /// takedown_request, case_message or retraction.
    #[arg(long)]
    kind: Option<String>,
    /// Only entries before this one: the next page.
    #[arg(long)]
    before: Option<u64>,
    /// Only entries after this one: what came since.
    #[arg(long)]
    since: Option<u64>,
    /// At most this many (at most 500).
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

impl List {
    pub(crate) async fn run(self, which: Box) -> Result<()> {
        let Self {
            node,
            unread,
            kind,
            before,
            since,
            limit,
        } = self;
        let q = ListQuery {
            unread,
            kind,
            before,
            since,
            limit: Some(limit),
            ..ListQuery::default()
        };
        let api = client(&node)?;
        let (page, what) = match which {
            Box::Inbox => (api.inbox(&q).await?, "notices in the inbox"),
            Box::Sent => (api.sent(&q).await?, "notices sent"),
        };
        print(node.json, &page, |p| print_page(p, what))
    }
}

/// The arguments of `isop show`.
#[derive(Debug, Args)]
pub(crate) struct Show {
    #[command(flatten)]
    node: NodeArg,
    /// The notice id.
    id: String,
    /// Leave it unread.
    #[arg(long)]
    keep_unread: bool,
    /// Digests in full, not shortened.
    #[arg(long)]
    full: bool,
}

impl Show {
    pub(crate) async fn run(self) -> Result<()> {
        let Self {
            node,
            id,
            keep_unread,
            full,
        } = self;
        let api = client(&node)?;
        let mut v = api.show(&id).await?;
        if v.read == Some(false) && !keep_unread {
            // Shown either way; said if it could not be marked.
            match api.mark_read(&id).await {
                Ok(_) => v.read = Some(true),
                Err(e) => eprintln!("warning: not marked read: {e}"),
            }
        }
        print(node.json, &v, |v| show_text(v, full))
    }
}

/// A notice for people.
fn show_text(v: &NoticeView, full: bool) {
    println!("{} {} ({})", kind_words(v.kind), v.id, tlp_words(v.tlp));
    println!(
        "  by {}, made {}; entry {} ({}{}), logged {}",
        esc(&v.author),
        v.created_at,
        v.index,
        words("isop.v1.Direction", v.direction.as_str_name()),
        if v.peer.is_empty() {
            String::new()
        } else {
            format!(" from {}", esc(&v.peer))
        },
        v.logged_at
    );
    let mut to: Vec<String> = v.to_orgs.iter().map(|o| esc(o)).collect();
    to.extend(v.to_groups.iter().map(|g| format!("group {}", esc(g))));
    println!(
        "  to {}",
        if to.is_empty() {
            "-".into()
        } else {
            to.join(", ")
        }
    );
    if let Some(c) = &v.case_ref {
        println!("  case {}", esc(c));
    }
    if let Some(r) = &v.in_reply_to {
        match (r.kind, &r.subject) {
            (Some(k), Some(s)) => {
                println!("  in reply to {} ({} of {})", r.id, kind_words(k), esc(s))
            }
            _ => println!("  in reply to {} (not held here)", r.id),
        }
    }
    if !v.verified {
        println!(
            "  DOES NOT VERIFY NOW: {}; its fields are withheld",
            opt(v.verification_error.as_deref())
        );
    }
    for f in &v.revealed {
        println!(
            "  sees      {:<32} [{}] {}",
            esc(&f.path),
            esc(&f.label),
            value_words(&f.value)
        );
    }
    for f in &v.withheld {
        println!(
            "  withheld  {:<32} [{}] {}",
            esc(&f.path),
            esc(&f.label),
            esc(&f.reason)
        );
    }
    for e in &v.erased {
        println!(
            "  erased    {:<32} at {} by {}: {} (digest {})",
            esc(&e.path),
            e.erased_at,
            esc(&e.erased_by),
            esc(&e.reason),
            short(&e.digest, full)
        );
    }
    // A name with an IDNA A-label, beside its Unicode form: a look-alike
    // shows for what it is.
    for f in &v.idna {
        println!("  idna      {} is {}", esc(&f.ascii), esc(&f.unicode));
    }
    // The body as an outline, field names and enum values as words, each
    // value escaped.
    outline(
        &isop_core::json::in_words(v.body.clone(), "isop.v1.Notice"),
        2,
        full,
    );
}

/// The arguments of `isop read`.
#[derive(Debug, Args)]
pub(crate) struct Read {
    #[command(flatten)]
    node: NodeArg,
    /// The notice ids.
    #[arg(required = true)]
    ids: Vec<String>,
}

impl Read {
    pub(crate) async fn run(self) -> Result<()> {
        let api = client(&self.node)?;
        let mut done = Vec::new();
        for id in &self.ids {
            done.push(api.mark_read(id).await?);
        }
        print(self.node.json, &done, |done| {
            for r in done {
                println!("entry {} read", r.index);
            }
        })
    }
}

/// `isop erase`: the values of a notice's labelled fields erased here.
#[derive(Debug, Args)]
pub(crate) struct Erase {
    #[command(flatten)]
    node: NodeArg,
    /// The notice id.
    id: String,
    /// Only the field at this path (for example referral.contact).
    #[arg(long)]
    field: Option<String>,
    /// Why: a lawful order, the retention period, a data subject's request.
    #[arg(long)]
    reason: String,
}

impl Erase {
    pub(crate) async fn run(self) -> Result<()> {
        let v = client(&self.node)?
            .erase(
                &self.id,
                &isop_api::EraseRequest {
                    field: self.field,
                    reason: self.reason,
                },
            )
            .await?;
        print(self.node.json, &v, |v| print_erased(v, "erased"))
    }
}

/// `isop retention`: what the retention policy erases.
#[derive(Debug, Args)]
pub(crate) struct Retention {
    #[command(flatten)]
    node: NodeArg,
    /// Erase what is due now, instead of listing it.
    #[arg(long)]
    apply: bool,
}

impl Retention {
    pub(crate) async fn run(self) -> Result<()> {
        let api = client(&self.node)?;
        let (v, done) = if self.apply {
            (api.retention_apply().await?, "erased")
        } else {
            (api.retention_due().await?, "due")
        };
        print(self.node.json, &v, |v| print_erased(v, done))
    }
}

fn print_erased(v: &isop_api::ErasedFields, what: &str) {
    if v.fields.is_empty() {
        println!("nothing {what}");
    }
    for f in &v.fields {
        println!(
            "{what:<6} {} of {} (entry {}, label {}){}",
            esc(&f.path),
            f.id,
            f.index,
            esc(&f.label),
            f.rule
                .as_ref()
                .map(|r| format!(" by rule {}, due {}", esc(r), opt(f.due_at)))
                .unwrap_or_default()
        );
    }
}

/// The arguments of `isop track`.
#[derive(Debug, Args)]
pub(crate) struct Track {
    #[command(flatten)]
    node: NodeArg,
    /// The notice id.
    id: String,
}

impl Track {
    pub(crate) async fn run(self) -> Result<()> {
        let t = client(&self.node)?.track(&self.id).await?;
        print(self.node.json, &t, |t| {
            println!("{} (entry {})", t.id, t.index);
            for d in &t.recipients {
                let state = format!("{:?}", d.state).to_lowercase();
                let detail = match (d.receipt_index, d.receipt_at) {
                    (Some(i), Some(at)) => format!("receipt entry {i}, {at}"),
                    (Some(i), None) => format!("receipt entry {i}"),
                    _ if d.attempts > 0 => {
                        format!("{} attempts, next {}", d.attempts, opt(d.next_attempt))
                    }
                    _ => String::new(),
                };
                println!("  {:<13} {:<10} {detail}", esc(&d.recipient), state);
                if let Some(e) = &d.last_error {
                    println!("  {:<13} {:<10} {}", "", "", esc(e));
                }
            }
            if t.thread.is_empty() {
                println!("nothing came back yet");
            } else {
                println!("what came back:");
                print_summaries(&t.thread);
            }
        })
    }
}

/// The arguments of `isop respond`.
#[derive(Debug, Args)]
pub(crate) struct Respond {
    #[command(flatten)]
    node: NodeArg,
    /// The referral's id.
    #[arg(required_unless_present = "bulk")]
    id: Option<String>,
    /// received, triaged, accepted, rejected, needs_info, action_taken or closed.
    #[arg(long, required_unless_present = "bulk")]
    status: Option<String>,
    /// Why (required for rejected and needs_info).
    #[arg(long, default_value = "")]
    reason: String,
    /// For action_taken: takedown, domain_seizure, blocking, payment_disruption, arrest or other.
    #[arg(long)]
    action: Option<String>,
    /// Details of the action.
    #[arg(long, default_value = "")]
    details: String,
    /// Answers from a file instead: CSV with the header
    /// `id,status,reason,action,details`, or JSON Lines of those fields.
    /// Every answer is checked by the node before any is sent.
    #[arg(long, conflicts_with_all = ["id", "status", "action"])]
    bulk: Option<PathBuf>,
}

impl Respond {
    pub(crate) async fn run(self) -> Result<()> {
        let Self {
            node,
            id,
            status,
            reason,
            action,
            details,
            bulk,
        } = self;
        let api = client(&node)?;
        if let Some(file) = bulk {
            return super::bulk::respond(&api, &file, node.json).await;
        }
        let (Some(id), Some(status)) = (id, status) else {
            anyhow::bail!("give the referral's id and --status, or --bulk FILE");
        };
        let answer = isop_api::Respond {
            status,
            reason,
            action,
            details,
        };
        let v = api.respond(&id, &answer).await?;
        print(node.json, &v, |v| {
            println!("answered with {} (entry {})", v.id, v.index)
        })
    }
}

/// The arguments of `isop query`.
#[derive(Debug, Args)]
pub(crate) struct Query {
    #[command(flatten)]
    node: NodeArg,
    /// A domain (with its subdomains and URLs on them), IP, URL, wallet,
    /// payment account or e-mail.
    #[arg(long, alias = "domain", alias = "ip", alias = "url", alias = "wallet")]
    indicator: Option<String>,
    /// A case reference.
    #[arg(long)]
    case: Option<String>,
    /// The author's org.
    #[arg(long)]
    author: Option<String>,
    /// Only this kind: referral, status_update, intel_report,
    /// takedown_request, case_message or retraction.
    #[arg(long)]
    kind: Option<String>,
    /// Only this status: a referral's latest, or the one an answer gives.
    #[arg(long)]
    status: Option<String>,
    /// Only referrals of this category.
    #[arg(long)]
    category: Option<String>,
    /// Only referrals with a work whose title, owner or identifier holds this.
    #[arg(long)]
    work: Option<String>,
    /// Only notices whose indicators or subject hold this.
    #[arg(long)]
    contains: Option<String>,
    /// Made at or after this time (RFC 3339 or Unix ms).
    #[arg(long)]
    since: Option<String>,
    /// Made before this time (RFC 3339 or Unix ms).
    #[arg(long)]
    until: Option<String>,
    /// At most this many notices (at most 500).
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

impl Query {
    pub(crate) async fn run(self) -> Result<()> {
        let Self {
            node,
            indicator,
            case,
            author,
            kind,
            status,
            category,
            work,
            contains,
            since,
            until,
            limit,
        } = self;
        let q = QueryParams {
            indicator,
            case,
            author,
            kind,
            status,
            category,
            work,
            contains,
            since: time_arg("--since", since)?.map(|t| isop_api::Time(t.0)),
            until: time_arg("--until", until)?.map(|t| isop_api::Time(t.0)),
            limit: Some(limit),
        };
        let v = client(&node)?.query(&q).await?;
        print(node.json, &v, |v| {
            let by: Vec<String> = v.referred_by.iter().map(|o| esc(o)).collect();
            println!(
                "referred by: {}",
                if by.is_empty() {
                    "-".into()
                } else {
                    by.join(", ")
                }
            );
            for a in &v.acted {
                println!(
                    "acted:       {} answered {} with {} at {}",
                    esc(&a.org),
                    a.referral,
                    words("isop.v1.ReferralStatus", a.status.as_str_name()),
                    a.at
                );
            }
            print_summaries(&v.notices);
            if v.more > 0 {
                println!("  … {} more: narrow the search, or raise --limit", v.more);
            }
        })
    }
}

/// `isop correlate`: targets several members name.
#[derive(Debug, Args)]
pub(crate) struct Correlate {
    #[command(flatten)]
    node: NodeArg,
    /// Only overlaps naming this domain (and its subdomains), URL, IP, wallet or account.
    #[arg(long)]
    target: Option<String>,
    /// Only overlaps that formed at or after this time (RFC 3339 or Unix milliseconds).
    #[arg(long)]
    since: Option<String>,
    /// At most this many overlaps (at most 500).
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

impl Correlate {
    pub(crate) async fn run(self) -> Result<()> {
        let q = isop_api::CorrelationQuery {
            target: self.target,
            since: time_arg("--since", self.since)?.map(|t| isop_api::Time(t.0)),
            limit: Some(self.limit),
        };
        let v = client(&self.node)?.correlations(&q).await?;
        print(self.node.json, &v, |v| {
            if v.overlaps.is_empty() {
                println!("no target is named by two partners or two agencies");
            }
            for o in &v.overlaps {
                let orgs = |o: &[String]| o.iter().map(|s| esc(s)).collect::<Vec<_>>().join(", ");
                println!(
                    "{} ({}) since {}",
                    esc(&o.target),
                    words("isop.v1.IndicatorKind", o.kind.as_str_name()),
                    o.since
                );
                if !o.referred_by.is_empty() {
                    println!("  referred by {}", orgs(&o.referred_by));
                }
                if !o.reported_by.is_empty() {
                    println!("  reported by {}", orgs(&o.reported_by));
                }
                print_summaries(&o.notices);
            }
            if v.more > 0 {
                println!(
                    "… {} more: narrow with --target or --since, or raise --limit",
                    v.more
                );
            }
        })
    }
}

/// `isop match`: which of these indicators another member also holds
/// (docs/MATCHING.md).
#[derive(Debug, Args)]
pub(crate) struct Match {
    #[command(flatten)]
    node: NodeArg,
    /// The member to match with.
    #[arg(long)]
    with: String,
    /// A file of indicators, one a line (`KIND VALUE`, or a bare value
    /// whose kind is told from its form); `-` reads standard input. Blank
    /// lines and lines starting with `#` are skipped.
    #[arg(long)]
    indicators: Option<PathBuf>,
    /// Also ask every indicator of the notices in this node's inbox.
    #[arg(long)]
    from_inbox: bool,
    /// Also ask every indicator of the notices of this case.
    #[arg(long)]
    from_case: Option<String>,
}

impl Match {
    pub(crate) async fn run(self) -> Result<()> {
        let text = match &self.indicators {
            None => String::new(),
            Some(p) if p.as_os_str() == "-" => std::io::read_to_string(std::io::stdin())
                .context("reading indicators from standard input")?,
            Some(p) => {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
            }
        };
        let mut indicators = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Checked here too, so that a bad line is named by its line.
            isop_match::Item::parse_line(line).with_context(|| {
                format!(
                    "{} line {}",
                    self.indicators
                        .as_deref()
                        .unwrap_or(std::path::Path::new("-"))
                        .display(),
                    n + 1
                )
            })?;
            indicators.push(line.to_owned());
        }
        let request = isop_api::MatchRequest {
            with: self.with,
            indicators,
            from_inbox: self.from_inbox,
            from_case: self.from_case,
        };
        let v = client(&self.node)?.match_with(&request).await?;
        print(self.node.json, &v, |v| {
            println!(
                "{} of {} asked are held by {} (it matched against {} items; run {}, logged here at entry {})",
                v.matched.len(),
                v.asked,
                esc(&v.with),
                v.held,
                &v.run[..8],
                v.logged_at
            );
            for m in &v.matched {
                let from = m.sources.as_ref().map_or_else(String::new, |s| {
                    let names: Vec<String> = s
                        .iter()
                        .map(|k| match k.as_str() {
                            "LIST" => "its list".to_owned(),
                            k => words("isop.v1.NoticeKind", k),
                        })
                        .collect();
                    format!("  (from {})", names.join(", "))
                });
                println!("  {:<8} {}{from}", m.kind, esc(&m.value));
            }
            println!("{} bytes sent, {} received", v.bytes_sent, v.bytes_received);
        })
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum LogCommand {
    /// Export the whole log as one file, with the disclosures a clearance allows.
    Export {
        #[command(flatten)]
        node: NodeArg,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// Comma-separated clearance tokens (for example role:auditor); none gives no disclosures.
        #[arg(long, default_value = "")]
        clearance: String,
    },
}

pub(crate) async fn log(command: LogCommand) -> Result<()> {
    let LogCommand::Export {
        node,
        out,
        clearance,
    } = command;

    // An export holds notices in clear: readable by its owner only.
    let mut file = tokio::fs::File::from_std(isop_node::config::create_private(&out)?);
    let bar = bytes_spinner("exporting");
    let n = client(&node)?
        .export(&ExportQuery { clearance }, &mut file, |n| {
            bar.set_position(n)
        })
        .await?;
    bar.finish_and_clear();
    let v = json!({ "file": out.display().to_string(), "bytes": n });
    print(node.json, &v, |_| {
        println!("wrote {n} bytes to {}", out.display())
    })
}
