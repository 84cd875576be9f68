//! The field's standards (`docs/STIX.md`): what a node holds, as a STIX
//! 2.1 bundle read through its TAXII 2.1 server (so the export is the
//! server's objects, and its reads are recorded like any other).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use isop_api::SubmitNotice;
use isop_core::{NoticeKind, pb};
use isop_stix::bundle::{bundle, extension, select};
use isop_stix::common::Member;
use isop_stix::import::{Plan, Target, Template, plan, read_bundle};
use serde_json::Value;

use super::{NodeArg, client, time_arg};
use crate::output::esc;

/// What `isop export` writes.
#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// What the node holds as a STIX 2.1 bundle, on stdout: referrals,
    /// reports and takedowns as reports with their observables and
    /// indicators, answers, case messages and retractions as notes, TLP
    /// as OASIS's TLP 2.0 markings (docs/STIX.md).
    Stix(ExportStix),
    /// What the node holds as a MISP feed a MISP instance can add (Sync
    /// Actions, Feeds): one event per notice (or case), TLP and isop's
    /// labels as tags, the notice id as an internal reference.
    Misp(ExportMisp),
}

/// What of a node's holdings to export.
#[derive(Debug, Args)]
pub(crate) struct Selection {
    #[command(flatten)]
    node: NodeArg,
    /// Only what the node logged after this time (RFC 3339 or Unix ms):
    /// new notices, and new versions (a retraction's) of older ones.
    #[arg(long)]
    since: Option<String>,
    /// Only notices of this kind (referral, status_update, intel_report,
    /// takedown_request, case_message, retraction).
    #[arg(long)]
    kind: Option<String>,
    /// Only the notices of this case.
    #[arg(long)]
    case: Option<String>,
}

/// `isop export stix`.
#[derive(Debug, Args)]
pub(crate) struct ExportStix {
    #[command(flatten)]
    selection: Selection,
}

/// How a MISP feed groups notices into events.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Per {
    /// One event per notice.
    Notice,
    /// One event per case (a notice of no case is an event of its own).
    Case,
}

/// `isop export misp`.
#[derive(Debug, Args)]
pub(crate) struct ExportMisp {
    #[command(flatten)]
    selection: Selection,
    /// The feed's directory (made if missing): manifest.json, one
    /// UUID.json per event, hashes.csv.
    #[arg(long)]
    out: PathBuf,
    /// One event per notice, or per case.
    #[arg(long, value_enum, default_value_t = Per::Notice)]
    per: Per,
}

/// The TAXII API root a node serves.
const ROOT: &str = "/taxii2/isop/";

/// A kind given on the command line.
fn kind_arg(given: &str) -> Result<NoticeKind> {
    let pb = isop_core::json::enum_value(
        "--kind",
        "isop.v1.NoticeKind",
        given,
        pb::NoticeKind::from_str_name,
    )?;
    NoticeKind::ALL
        .into_iter()
        .find(|k| k.to_pb() == pb)
        .with_context(|| format!("--kind {given:?} is not a kind of notice"))
}

/// What `isop import` reads.
#[derive(Debug, Subcommand)]
pub(crate) enum ImportCommand {
    /// A STIX 2.1 bundle from a partner's or an agency's platform as
    /// notices: each report (or grouping) becomes one, and the indicators
    /// and observables no report holds one more. The bundle is checked
    /// whole first; every object left out is named, with why; nothing is
    /// sent until you agree (or --yes).
    Stix(ImportStix),
}

/// What the notices are.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum As {
    /// Intelligence reports (an agency's, the hub's).
    Intel,
    /// Referrals (a partner's): what STIX does not say (works, category,
    /// jurisdiction, the statements) comes from --template.
    Referral,
}

/// `isop import stix`.
#[derive(Debug, Args)]
pub(crate) struct ImportStix {
    #[command(flatten)]
    node: NodeArg,
    /// The bundle (JSON).
    bundle: PathBuf,
    /// What the notices are; by default intelligence reports for an
    /// agency or the hub, referrals for a partner.
    #[arg(long = "as", value_enum)]
    as_: Option<As>,
    /// Send to this org (again for more); replaces the template's.
    #[arg(long)]
    to: Vec<String>,
    /// Send to this roster group (again for more); replaces the template's.
    #[arg(long)]
    to_group: Vec<String>,
    /// The TLP of what the bundle marks with none.
    #[arg(long)]
    tlp: Option<String>,
    /// The access label of the values isop sends only as labelled fields
    /// (wallets, e-mail addresses, a report's description); without it,
    /// the bundle's isop extension must name one (`""` for anyone the
    /// notice reaches).
    #[arg(long)]
    label: Option<String>,
    /// The case the notices belong to.
    #[arg(long)]
    case: Option<String>,
    /// A notice file (as `isop submit` takes) whose recipients, labelled
    /// fields and body fields the bundle's reports fill in.
    #[arg(long)]
    template: Option<PathBuf>,
    /// Send without asking.
    #[arg(long)]
    yes: bool,
}

pub(crate) async fn import(command: ImportCommand) -> Result<()> {
    match command {
        ImportCommand::Stix(c) => c.run().await,
    }
}

impl ImportStix {
    async fn run(self) -> Result<()> {
        let text = std::fs::read_to_string(&self.bundle)
            .with_context(|| format!("reading {}", self.bundle.display()))?;
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", self.bundle.display()))?;
        let objects = match read_bundle(&json) {
            Ok(o) => o,
            Err(problems) => {
                for p in &problems {
                    eprintln!("  {}", esc(&p.to_string()));
                }
                bail!(
                    "{} is not a STIX 2.1 bundle isop reads: {} problem{}; nothing was sent",
                    self.bundle.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
            }
        };
        let api = client(&self.node)?;
        let target = match self.as_ {
            Some(As::Intel) => Target::Intel,
            Some(As::Referral) => Target::Referral,
            None => {
                let fed = api.federation().await?;
                let me = fed.members.iter().find(|m| m.org == fed.org);
                match me.map(|m| m.role) {
                    Some(pb::Role::Partner) => Target::Referral,
                    _ => Target::Intel,
                }
            }
        };
        let mut notice = match &self.template {
            Some(f) => super::notices::read_notice(f)?,
            None => SubmitNotice {
                tlp: String::new(),
                to_orgs: Vec::new(),
                to_groups: Vec::new(),
                case_ref: None,
                in_reply_to: None,
                labelled: Vec::new(),
                body: Value::Null,
            },
        };
        if !self.to.is_empty() {
            notice.to_orgs = self.to.clone();
        }
        if !self.to_group.is_empty() {
            notice.to_groups = self.to_group.clone();
        }
        if self.case.is_some() {
            notice.case_ref = self.case.clone();
        }
        if notice.to_orgs.is_empty() && notice.to_groups.is_empty() {
            bail!("say who gets the notices: --to ORG or --to-group GROUP (or a --template)");
        }
        let tlp = match self
            .tlp
            .as_deref()
            .or(Some(notice.tlp.as_str()).filter(|t| !t.is_empty()))
        {
            Some(t) => Some(isop_core::json::enum_value(
                "--tlp",
                "isop.v1.Tlp",
                t,
                pb::Tlp::from_str_name,
            )?),
            None => None,
        };
        let template = Template {
            notice,
            tlp,
            label: self.label.clone(),
        };
        let plan = plan(&objects, target, &template);
        show(&plan);
        if plan.notices.is_empty() {
            bail!("the bundle makes no notice; nothing was sent");
        }
        // Every notice passes the node's checks before any is sent.
        let mut refused = 0;
        for p in &plan.notices {
            if let Err(e) = api.check(&p.notice).await {
                refused += 1;
                eprintln!("  refused: {}: {}", esc(&p.about), esc(&e.to_string()));
            }
        }
        if refused > 0 {
            bail!(
                "{refused} of {} notices would be refused; nothing was sent",
                plan.notices.len()
            );
        }
        if !self.yes && !confirm(plan.notices.len())? {
            println!("nothing was sent");
            return Ok(());
        }
        for p in &plan.notices {
            let sent = api.submit(&p.notice).await?;
            println!(
                "sent {} (entry {}) to {}: {}",
                sent.id,
                sent.index,
                sent.recipients
                    .iter()
                    .map(|r| esc(r))
                    .collect::<Vec<_>>()
                    .join(", "),
                esc(&p.about)
            );
        }
        Ok(())
    }
}

/// The plan, for people.
fn show(plan: &Plan) {
    for p in &plan.notices {
        let to: Vec<&str> = p
            .notice
            .to_orgs
            .iter()
            .chain(&p.notice.to_groups)
            .map(String::as_str)
            .collect();
        println!(
            "  {} ({}) to {}{}",
            esc(&p.about),
            esc(&p.notice.tlp),
            esc(&to.join(", ")),
            p.from
                .as_deref()
                .map(|f| format!(", from {f}"))
                .unwrap_or_default()
        );
        for f in &p.notice.labelled {
            let label = if f.label.is_empty() {
                "anyone it reaches"
            } else {
                f.label.as_str()
            };
            println!("    {} under {}", esc(&f.path), esc(label));
        }
    }
    if !plan.skipped.is_empty() {
        println!("left out ({}):", plan.skipped.len());
        for s in &plan.skipped {
            println!("  {}", esc(&s.to_string()));
        }
    }
}

/// Asks on the terminal whether to send `n` notices.
fn confirm(n: usize) -> Result<bool> {
    print!("send {n} notice{}? [y/N] ", if n == 1 { "" } else { "s" });
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub(crate) async fn export(command: ExportCommand) -> Result<()> {
    match command {
        ExportCommand::Stix(c) => {
            let objects = c.selection.objects().await?;
            println!("{}", serde_json::to_string_pretty(&bundle(objects))?);
            Ok(())
        }
        ExportCommand::Misp(c) => c.run().await,
    }
}

impl Selection {
    /// The objects selected, read through the node's TAXII server.
    async fn objects(self) -> Result<Vec<isop_stix::Object>> {
        let api = client(&self.node)?;
        let kind = self.kind.as_deref().map(kind_arg).transpose()?;
        let since = time_arg("--since", self.since)?;
        // The narrowest collection: the case's, else the kind's, else all.
        let alias = match (&self.case, kind) {
            (Some(c), _) => format!("case-{c}"),
            (None, Some(k)) => format!("kind-{}", k.as_str()),
            (None, None) => "all".to_owned(),
        };
        let listed = api.taxii(&format!("{ROOT}collections/"), &[]).await?;
        let Some(collection) = listed
            .get("collections")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("alias").and_then(Value::as_str) == Some(alias.as_str()))
            .and_then(|c| c.get("id").and_then(Value::as_str))
        else {
            match &self.case {
                Some(c) => bail!("the node holds no notice of case {c:?}"),
                None => bail!("the node serves no collection {alias:?}"),
            }
        };
        // What every bundle carries first (markings, isop's extension, the
        // members), also when --since leaves the collection's out.
        let members = Member::of_federation(&api.federation().await?);
        let mut objects = isop_stix::common::preamble(&members);
        let mut next: Option<String> = None;
        loop {
            let mut query = vec![("limit", "1000".to_owned())];
            if let Some(t) = since {
                query.push(("added_after", isop_stix::timestamp(t.0)));
            }
            if let Some(n) = &next {
                query.push(("next", n.clone()));
            }
            let page = api
                .taxii(&format!("{ROOT}collections/{collection}/objects/"), &query)
                .await?;
            for o in page
                .get("objects")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Value::Object(o) = o {
                    objects.push(o.clone());
                }
            }
            next = page
                .get("next")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .filter(|_| page.get("more").and_then(Value::as_bool) == Some(true));
            if next.is_none() {
                break;
            }
        }
        if let (Some(_), Some(k)) = (&self.case, kind) {
            let want = isop_stix::notice::kind_name(k.to_pb());
            objects = select(objects, |o| {
                extension(o)
                    .and_then(|e| e.get("notice_kind"))
                    .and_then(Value::as_str)
                    == Some(want.as_str())
            });
        }
        Ok(objects)
    }
}

impl ExportMisp {
    async fn run(self) -> Result<()> {
        let objects = self.selection.objects().await?;
        let per = match self.per {
            Per::Notice => isop_stix::misp::Per::Notice,
            Per::Case => isop_stix::misp::Per::Case,
        };
        let feed = isop_stix::misp::feed(&objects, per);
        let dir = &self.out;
        std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
        let write = |name: &str, bytes: &[u8]| -> Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
        };
        for (uuid, event) in &feed.events {
            write(
                &format!("{uuid}.json"),
                serde_json::to_string_pretty(event)?.as_bytes(),
            )?;
        }
        write(
            "manifest.json",
            serde_json::to_string_pretty(&feed.manifest)?.as_bytes(),
        )?;
        let hashes: String = feed
            .hashes
            .iter()
            .map(|(h, uuid)| format!("{h},{uuid}\n"))
            .collect();
        write("hashes.csv", hashes.as_bytes())?;
        println!(
            "wrote a MISP feed of {} event{} to {}",
            feed.events.len(),
            if feed.events.len() == 1 { "" } else { "s" },
            dir.display()
        );
        Ok(())
    }
}
