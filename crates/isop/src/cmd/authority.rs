//! The federation authority's commands: `isop ca`, `keys`, `roster` and
//! `certs example`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use isop_authority::Authority;
use isop_core::text::printable;
use serde_json::{Value, json};

use isop_core::UnixMillis;

use super::{NodeArg, client, time_arg};
use crate::output::print;

#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {
    /// Create the federation CA, the roster key and an empty signed roster in DIR.
    Init {
        /// The authority's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The federation's name.
        #[arg(long)]
        federation: String,
    },
    /// Issue an org's TLS certificate from its CSR (printed as PEM).
    Issue {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// The org the certificate is for (must match the CSR).
        #[arg(long)]
        org: String,
        /// The CSR file.
        #[arg(long)]
        csr: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u64,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Make an org's signing key, TLS key (both 0600) and CSR in DIR.
    Gen {
        /// The org.
        #[arg(long)]
        org: String,
        /// Where to write them.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// A member of the next roster version, in the authority's directory.
#[derive(Debug, Args)]
pub(crate) struct MemberArg {
    /// The authority's directory.
    #[arg(long)]
    authority: PathBuf,
    /// Org id.
    #[arg(long)]
    org: String,
}

impl MemberArg {
    /// The authority, and the org.
    fn open(&self) -> Result<(Authority, isop_core::OrgId)> {
        Ok((Authority::open(&self.authority)?, self.org.parse()?))
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum RosterCommand {
    /// Add a member to the next roster version (a draft until `roster sign`).
    Add {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// Org id.
        #[arg(long)]
        org: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// agency, hub, partner or auditor.
        #[arg(long)]
        role: String,
        /// ISO 3166-1 alpha-2 country.
        #[arg(long)]
        country: String,
        /// The signing key's public half, hex (signing.pub from `keys gen`).
        #[arg(long)]
        public_key: String,
        /// The org's TLS certificate (its key is pinned).
        #[arg(long)]
        tls_cert: PathBuf,
        /// The org's endpoint, host:port.
        #[arg(long)]
        endpoint: String,
        /// The signing key's name.
        #[arg(long, default_value = "k1")]
        key_name: String,
        /// Extra clearance tokens.
        #[arg(long)]
        clearance: Vec<String>,
    },
    /// Add a signing key to a member in the next version, beside the one
    /// it replaces (both valid until the old one retires).
    AddKey {
        #[command(flatten)]
        member: MemberArg,
        /// The new key's name, for example k2.
        #[arg(long)]
        key_name: String,
        /// Its public half, hex, or the signing.pub file holding it.
        #[arg(long)]
        public_key: String,
        /// When it becomes valid: RFC 3339 or Unix milliseconds (default an hour ago).
        #[arg(long)]
        valid_from: Option<String>,
        /// How many days it stays valid.
        #[arg(long, default_value_t = 365)]
        days: u64,
    },
    /// Retire a member's signing key in the next version: valid until
    /// --at (default now); what it signed before stays valid. Add the
    /// next key first.
    RetireKey {
        #[command(flatten)]
        member: MemberArg,
        /// The key's name.
        #[arg(long)]
        key_name: String,
        /// When it stops being valid: RFC 3339 or Unix milliseconds.
        #[arg(long)]
        at: Option<String>,
    },
    /// Revoke a member's signing key in the next version, from the time
    /// it was compromised (default now): what it signed from then on no
    /// longer counts, for auditors too.
    RevokeKey {
        #[command(flatten)]
        member: MemberArg,
        /// The key's name.
        #[arg(long)]
        key_name: String,
        /// Why, for example "laptop stolen".
        #[arg(long)]
        reason: String,
        /// When it was (or may have been) compromised: RFC 3339 or Unix milliseconds.
        #[arg(long)]
        compromised_at: Option<String>,
    },
    /// Pin a member's renewed TLS certificate in the next version, beside
    /// the old pin (a certificate renewed with the same key needs no new pin).
    AddPin {
        #[command(flatten)]
        member: MemberArg,
        /// The new certificate.
        #[arg(long)]
        tls_cert: PathBuf,
    },
    /// Drop a member's old TLS pin in the next version, once its node
    /// serves the new certificate.
    DropPin {
        #[command(flatten)]
        member: MemberArg,
        /// The pin, hex (as `roster show` prints it), or the old certificate's file.
        #[arg(long)]
        pin: String,
    },
    /// Remove a member (revoked from now on; kept listed for auditors) in the next version.
    Remove {
        #[command(flatten)]
        member: MemberArg,
    },
    /// Named groups of members (working groups, operations such as
    /// `op:sop-2026`) in the next version: notices sent to a group go to
    /// its members, and its id is a clearance token of each.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// The policy's options, in the next version: the hub's copies of
    /// status answers, and who may match with whom (docs/MATCHING.md).
    Policy {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// Whether status answers to referrals also go to the hubs the
        /// referrals were sent to (on in the standard policy).
        #[arg(long, action = clap::ArgAction::Set)]
        copy_hub_on_status: Option<bool>,
        /// Let members of one role ask members of another to match, as
        /// ASKER:ANSWERER (agency, hub, partner), within the limits below;
        /// the pair's rule is replaced.
        #[arg(long, value_name = "ASKER:ANSWERER")]
        allow_match: Option<String>,
        /// With --allow-match: the most distinct items one query may hold.
        #[arg(long, default_value_t = 10_000)]
        max_query_items: u64,
        /// With --allow-match: the fewest held items the answerer may match
        /// against.
        #[arg(long, default_value_t = 0)]
        min_held_items: u64,
        /// With --allow-match: the most runs one asker may start with one
        /// answerer in 24 hours.
        #[arg(long, default_value_t = 4)]
        runs_per_day: u32,
        /// With --allow-match: the answerer reveals where it holds each
        /// match from.
        #[arg(long)]
        reveal_sources: bool,
        /// With --allow-match: the answerer learns the intersection too.
        #[arg(long)]
        both_learn: bool,
        /// Take the right to match away from a pair, ASKER:ANSWERER.
        #[arg(long, value_name = "ASKER:ANSWERER")]
        deny_match: Option<String>,
    },
    /// What the next version changes against the roster in force.
    Diff {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
    },
    /// Sign the next version and put it in force (roster.bin); hand it to any node with `roster push`.
    Sign {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
    },
    /// Hand the roster in force to a node, which passes it on to the federation.
    Push {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Verify and print the roster in force (each member's keys, pins and
    /// clearance tokens), and what the pending version changes.
    Show {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CertsCommand {
    /// Write the demo federation (CA, roster key, signed roster, keys,
    /// certificates and a node config per org) into DIR. Not for production.
    Example {
        /// Where to write it (must not exist or be empty).
        dir: PathBuf,
        /// The first QUIC port; org i listens on this + i.
        #[arg(long, default_value_t = 7401)]
        quic_port: u16,
        /// The first local API port; org i serves on this + i.
        #[arg(long, default_value_t = 7481)]
        api_port: u16,
    },
}

pub(crate) fn ca(command: CaCommand) -> Result<()> {
    match command {
        CaCommand::Init { dir, federation } => {
            let a = Authority::init(&dir, &federation)?;
            println!(
                "federation {federation:?}: CA and roster key {} in {}; roster v1 signed (no members yet)",
                a.roster_key().name,
                dir.display()
            );
            Ok(())
        }
        CaCommand::Issue {
            authority,
            org,
            csr,
            days,
        } => {
            let csr = std::fs::read_to_string(&csr)
                .with_context(|| format!("reading {}", csr.display()))?;
            print!(
                "{}",
                Authority::open(&authority)?.issue(&org.parse()?, &csr, days)?
            );
            Ok(())
        }
    }
}

pub(crate) fn keys(command: KeysCommand) -> Result<()> {
    let KeysCommand::Gen { org, dir } = command;

    let keys = isop_authority::keys_gen(&dir, &org.parse()?)?;
    println!(
        "{org}: signing key {} (public {}), TLS key and CSR in {}",
        dir.join("signing.key").display(),
        keys.public_key_hex,
        dir.display()
    );
    Ok(())
}

pub(crate) fn certs(command: CertsCommand) -> Result<()> {
    let CertsCommand::Example {
        dir,
        quic_port,
        api_port,
    } = command;

    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        anyhow::bail!("{} is not empty; choose a new directory", dir.display());
    }
    let fed = crate::demo::example_federation(
        &dir,
        isop_authority::Ports::Fixed {
            quic: quic_port,
            api: api_port,
        },
    )?;
    std::fs::write(dir.join("README.md"), crate::demo::EXAMPLE_README)
        .context("writing the README")?;
    println!(
        "wrote the example federation {:?} to {}:",
        fed.roster.federation,
        dir.display()
    );
    for m in &fed.members {
        println!(
            "  {:<13} quic://{}  api http://{}  config {}",
            m.spec.org.as_str(),
            m.addr,
            m.config
                .api
                .as_ref()
                .map_or("-".into(), |a| a.listen.to_string()),
            dir.join(m.spec.org.as_str()).join("node.toml").display()
        );
    }
    println!("NOT FOR PRODUCTION: every private key is in this directory.");
    Ok(())
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// Put members in a group, making it if it is new.
    Add {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// The group's id, for example op:sop-2026.
        id: String,
        /// What the group is for (replaces the old description).
        #[arg(long)]
        description: Option<String>,
        /// A member to put in it (repeat for more).
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Take members out of a group, or with none named remove the group.
    Remove {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// The group's id.
        id: String,
        /// A member to take out (repeat for more).
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// The members of a group, as the next version has it.
    Members {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// The group's id.
        id: String,
    },
}

/// The contents of file `arg`, trimmed, or else `arg` itself (a key
/// given as hex or as the file holding it).
fn file_or_text(arg: String) -> String {
    match std::fs::read_to_string(&arg) {
        Ok(file) => file.trim().to_owned(),
        Err(_) => arg,
    }
}

fn orgs(members: &[String]) -> Result<Vec<isop_core::OrgId>> {
    members
        .iter()
        .map(|m| m.parse().with_context(|| format!("--member {m:?}")))
        .collect()
}

pub(crate) async fn roster(command: RosterCommand) -> Result<()> {
    match command {
        RosterCommand::Add {
            authority,
            org,
            name,
            role,
            country,
            public_key,
            tls_cert,
            endpoint,
            key_name,
            clearance,
        } => {
            let role = role_named(&role)?;
            let cert = std::fs::read_to_string(&tls_cert)
                .with_context(|| format!("reading {}", tls_cert.display()))?;
            let a = Authority::open(&authority)?;
            a.add_member(&isop_authority::NewMember {
                org: &org.parse()?,
                display_name: &name,
                role,
                country: &country.to_uppercase(),
                key_name: &key_name.parse()?,
                public_key_hex: &file_or_text(public_key),
                key_valid_from: an_hour_ago(),
                tls_cert_pem: &cert,
                endpoint: &endpoint,
                clearances: &clearance,
            })?;
            show_pending(&a)?;
        }
        RosterCommand::AddKey {
            member,
            key_name,
            public_key,
            valid_from,
            days,
        } => {
            let (a, org) = member.open()?;
            let from = time_arg("--valid-from", valid_from)?.unwrap_or_else(an_hour_ago);
            a.add_key(
                &org,
                &key_name.parse()?,
                &file_or_text(public_key),
                from,
                UnixMillis(from.0.saturating_add(days.saturating_mul(86_400_000))),
            )?;
            show_pending(&a)?
        }
        RosterCommand::RetireKey {
            member,
            key_name,
            at,
        } => {
            let (a, org) = member.open()?;
            a.retire_key(
                &org,
                &key_name.parse()?,
                time_arg("--at", at)?.unwrap_or_else(isop_node::now),
            )?;
            show_pending(&a)?
        }
        RosterCommand::RevokeKey {
            member,
            key_name,
            reason,
            compromised_at,
        } => {
            let (a, org) = member.open()?;
            a.revoke_key(
                &org,
                &key_name.parse()?,
                time_arg("--compromised-at", compromised_at)?.unwrap_or_else(isop_node::now),
                &reason,
            )?;
            show_pending(&a)?
        }
        RosterCommand::AddPin { member, tls_cert } => {
            let (a, org) = member.open()?;
            let cert = std::fs::read_to_string(&tls_cert)
                .with_context(|| format!("reading {}", tls_cert.display()))?;
            let pin = a.add_pin(&org, &cert)?;
            println!("{org}: pinned {}", hex::encode(pin));
            show_pending(&a)?;
        }
        RosterCommand::DropPin { member, pin } => {
            let (a, org) = member.open()?;
            let pin = match std::fs::read_to_string(&pin) {
                Ok(cert) => isop_authority::cert_pin(&org, &cert)?,
                Err(_) => hex::decode(&pin)
                    .ok()
                    .and_then(|p| <[u8; 32]>::try_from(p).ok())
                    .with_context(|| {
                        format!("--pin {pin:?} is neither 64 hex digits nor a certificate file")
                    })?,
            };
            a.drop_pin(&org, pin)?;
            show_pending(&a)?
        }
        RosterCommand::Policy {
            authority,
            copy_hub_on_status,
            allow_match,
            max_query_items,
            min_held_items,
            runs_per_day,
            reveal_sources,
            both_learn,
            deny_match,
        } => {
            if copy_hub_on_status.is_none() && allow_match.is_none() && deny_match.is_none() {
                anyhow::bail!(
                    "nothing to change: give --copy-hub-on-status, --allow-match or --deny-match"
                );
            }
            let a = Authority::open(&authority)?;
            if let Some(copy) = copy_hub_on_status {
                a.copy_hub_on_status(copy)?;
            }
            if let Some(pair) = allow_match {
                let (asker, answerer) = role_pair(&pair)?;
                a.match_rule(
                    asker,
                    answerer,
                    Some(isop_core::MatchRule {
                        asker,
                        answerer,
                        max_query_items,
                        min_held_items,
                        runs_per_day,
                        reveal_sources,
                        both_learn,
                    }),
                )?;
            }
            if let Some(pair) = deny_match {
                let (asker, answerer) = role_pair(&pair)?;
                a.match_rule(asker, answerer, None)?;
            }
            show_pending(&a)?
        }
        RosterCommand::Diff { authority } => {
            let changes = Authority::open(&authority)?.diff()?;
            if changes.is_empty() {
                println!("nothing is pending");
            }
            for c in changes {
                println!("  {}", printable(&c));
            }
        }
        RosterCommand::Remove { member } => {
            let (a, org) = member.open()?;
            a.remove_member(&org)?;
            show_pending(&a)?
        }
        RosterCommand::Push { authority, node } => {
            let bytes = std::fs::read(authority.join("roster.bin"))
                .with_context(|| format!("reading {}", authority.join("roster.bin").display()))?;
            let v = client(&node)?.push_roster(bytes).await?;
            print(node.json, &v, |v| {
                if v.new {
                    println!("the node now holds roster v{}", v.version)
                } else {
                    println!(
                        "the node has roster v{} already; nothing changed",
                        v.version
                    )
                }
            })?;
        }
        RosterCommand::Group { command } => match command {
            GroupCommand::Add {
                authority,
                id,
                description,
                members,
            } => {
                let a = Authority::open(&authority)?;
                a.group_add(&id, description.as_deref(), &orgs(&members)?)?;
                show_pending(&a)?;
            }
            GroupCommand::Remove {
                authority,
                id,
                members,
            } => {
                let a = Authority::open(&authority)?;
                a.group_remove(&id, &orgs(&members)?)?;
                show_pending(&a)?
            }
            GroupCommand::Members { authority, id } => {
                let g = Authority::open(&authority)?.group(&id)?;
                println!("{} — {}", g.id, g.description);
                for m in &g.members {
                    println!("  {m}");
                }
            }
        },
        RosterCommand::Sign { authority } => {
            let r = Authority::open(&authority)?.sign()?.roster;
            println!(
                "roster v{} of {:?} signed and in force: {}",
                r.version(),
                r.federation(),
                authority.join("roster.bin").display()
            );
        }
        RosterCommand::Show { authority, json } => {
            let a = Authority::open(&authority)?;
            show_roster(&a.roster()?.roster, &a.diff()?, json)?
        }
    }
    Ok(())
}

/// Prints roster `r` (and what the pending version changes): each
/// member's keys with their validity, TLS pins and clearance tokens, and
/// the groups.
fn show_roster(r: &isop_core::Roster, pending: &[String], json: bool) -> Result<()> {
    let time = |t: UnixMillis| isop_core::json::rfc3339(t.0);
    if json {
        let members: Vec<Value> = r
            .members()
            .map(|m| {
                json!({
                    "org": m.org_id.to_string(), "name": m.display_name, "role": m.role.as_str(),
                    "country": m.country, "endpoints": m.endpoints,
                    "revoked_at": m.revoked_at.map(time),
                    "keys": m.keys.iter().map(|k| json!({
                        "name": k.name.to_string(), "public_key": hex::encode(k.public.as_bytes()),
                        "not_before": time(k.not_before), "not_after": time(k.not_after),
                        "revoked_at": k.revoked_at.map(time),
                        "revocation_reason": (!k.revocation_reason.is_empty()).then_some(&k.revocation_reason),
                    })).collect::<Vec<_>>(),
                    "tls_pins": m.tls_pins.iter().map(hex::encode).collect::<Vec<_>>(),
                    "clearance": r.clearance(&m.org_id).map(|c| c.tokens().map(str::to_owned).collect::<Vec<_>>()).unwrap_or_default(),
                })
            })
            .collect();
        let groups: Vec<Value> = r
            .groups()
            .iter()
            .map(|(id, m)| json!({ "id": id, "members": m.iter().map(|o| o.as_str()).collect::<Vec<_>>() }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "federation": r.federation(), "version": r.version(), "issued_at": time(r.issued_at()),
                "members": members, "groups": groups, "pending": pending,
            }))?
        );
        return Ok(());
    }
    println!(
        "roster v{} of {:?}, issued {}, signature verified",
        r.version(),
        r.federation(),
        time(r.issued_at())
    );
    for m in r.members() {
        println!(
            "  {:<13} {:<8} {}  {}  {}{}",
            m.org_id.as_str(),
            m.role.as_str(),
            m.country,
            printable(&m.display_name),
            printable(&m.endpoints.join(",")),
            m.revoked_at
                .map(|t| format!("  REMOVED from {}", time(t)))
                .unwrap_or_default()
        );
        for k in &m.keys {
            let state = match k.revoked_at {
                Some(t) => format!(
                    "  REVOKED from {} ({})",
                    time(t),
                    printable(&k.revocation_reason)
                ),
                None => String::new(),
            };
            println!(
                "      key {:<6} {}  valid {} to {}{state}",
                k.name.as_str(),
                hex::encode(k.public.as_bytes()),
                time(k.not_before),
                time(k.not_after)
            );
        }
        for p in &m.tls_pins {
            println!("      TLS pin    {}", hex::encode(p));
        }
        if let Ok(c) = r.clearance(&m.org_id) {
            println!(
                "      clearance  {}",
                printable(&c.tokens().collect::<Vec<_>>().join(" "))
            );
        }
    }
    for (id, members) in r.groups() {
        println!(
            "  group {}: {}",
            printable(id),
            members
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !pending.is_empty() {
        println!("pending, not yet signed (`isop roster sign` puts it in force):");
        for c in pending {
            println!("  {}", printable(c));
        }
    }
    Ok(())
}

/// Says what the pending version changes so far.
fn show_pending(a: &Authority) -> Result<()> {
    println!("next version pending (`isop roster sign` puts it in force):");
    for c in a.diff()? {
        println!("  {}", printable(&c));
    }
    Ok(())
}

/// When a new key becomes valid unless told: an hour back, since a
/// member's clock may run a little behind.
fn an_hour_ago() -> UnixMillis {
    UnixMillis(isop_node::now().0.saturating_sub(3_600_000))
}

/// A role by its name, in any case: `Agency` or `agency`.
fn role_named(name: &str) -> Result<isop_core::Role> {
    Ok(match name.to_lowercase().as_str() {
        "agency" => isop_core::Role::Agency,
        "hub" => isop_core::Role::Hub,
        "partner" => isop_core::Role::Partner,
        "auditor" => isop_core::Role::Auditor,
        other => anyhow::bail!("role {other:?} is not agency, hub, partner or auditor"),
    })
}

/// `ASKER:ANSWERER`, two roles.
fn role_pair(pair: &str) -> Result<(isop_core::Role, isop_core::Role)> {
    let (asker, answerer) = pair
        .split_once(':')
        .with_context(|| format!("{pair:?} is not ASKER:ANSWERER (such as agency:hub)"))?;
    Ok((role_named(asker)?, role_named(answerer)?))
}
