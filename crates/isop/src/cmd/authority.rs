//! The federation authority's commands: `isop ca`, `keys`, `roster` and
//! `certs example`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use isop_authority::Authority;
use isop_core::text::printable;
use serde_json::{Value, json};

use super::{NodeArg, client};
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
    /// Revoke a member's signing key, from now on, in the next version.
    RevokeKey {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// Org id.
        #[arg(long)]
        org: String,
        /// The key's name.
        #[arg(long, default_value = "k1")]
        key_name: String,
    },
    /// Remove a member (revoked from now on; kept listed for auditors) in the next version.
    Remove {
        /// The authority's directory.
        #[arg(long)]
        authority: PathBuf,
        /// Org id.
        #[arg(long)]
        org: String,
    },
    /// Named groups of members (working groups, operations such as
    /// `op:sop-2026`) in the next version: notices sent to a group go to
    /// its members, and its id is a clearance token of each.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
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
    /// Verify and print the roster in force.
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

fn orgs(members: &[String]) -> Result<Vec<isop_core::OrgId>> {
    members
        .iter()
        .map(|m| m.parse().with_context(|| format!("--member {m:?}")))
        .collect()
}

pub(crate) async fn roster(command: RosterCommand) -> Result<()> {
    let show_draft = |r: &isop_core::pb::Roster| {
        println!(
            "next version pending: {} members, {} groups (sign it with `isop roster sign`)",
            r.members.len(),
            r.groups.len()
        )
    };
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
            // Values in any case: `Agency`, `KR` or `kr`.
            let role = match role.to_lowercase().as_str() {
                "agency" => isop_core::Role::Agency,
                "hub" => isop_core::Role::Hub,
                "partner" => isop_core::Role::Partner,
                "auditor" => isop_core::Role::Auditor,
                other => anyhow::bail!("role {other:?} is not agency, hub, partner or auditor"),
            };
            let cert = std::fs::read_to_string(&tls_cert)
                .with_context(|| format!("reading {}", tls_cert.display()))?;
            let public_key = match std::fs::read_to_string(&public_key) {
                Ok(file) => file.trim().to_owned(),
                Err(_) => public_key,
            };
            let r = Authority::open(&authority)?.add_member(&isop_authority::NewMember {
                org: &org.parse()?,
                display_name: &name,
                role,
                country: &country.to_uppercase(),
                key_name: &key_name.parse()?,
                public_key_hex: &public_key,
                // An hour back: a member's clock may run a little behind.
                key_valid_from: isop_core::UnixMillis(isop_node::now().0.saturating_sub(3_600_000)),
                tls_cert_pem: &cert,
                endpoint: &endpoint,
                clearances: &clearance,
            })?;
            show_draft(&r);
        }
        RosterCommand::RevokeKey {
            authority,
            org,
            key_name,
        } => {
            show_draft(&Authority::open(&authority)?.revoke_key(&org.parse()?, &key_name.parse()?)?)
        }
        RosterCommand::Remove { authority, org } => {
            show_draft(&Authority::open(&authority)?.remove_member(&org.parse()?)?)
        }
        RosterCommand::Push { authority, node } => {
            let bytes = std::fs::read(authority.join("roster.bin"))
                .with_context(|| format!("reading {}", authority.join("roster.bin").display()))?;
            let v = client(&node)?.push_roster(bytes).await?;
            print(node.json, &v, |v| {
                println!("the node now holds roster v{}", v.version)
            })?;
        }
        RosterCommand::Group { command } => match command {
            GroupCommand::Add {
                authority,
                id,
                description,
                members,
            } => {
                let r = Authority::open(&authority)?.group_add(
                    &id,
                    description.as_deref(),
                    &orgs(&members)?,
                )?;
                show_draft(&r);
            }
            GroupCommand::Remove {
                authority,
                id,
                members,
            } => show_draft(&Authority::open(&authority)?.group_remove(&id, &orgs(&members)?)?),
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
            let r = Authority::open(&authority)?.roster()?.roster;
            let members: Vec<Value> = r
                .members()
                .map(|m| {
                    json!({
                        "org": m.org_id.to_string(), "name": m.display_name, "role": m.role.as_str(), "country": m.country,
                        "endpoints": m.endpoints, "revoked_at": m.revoked_at.map(|t| t.0),
                        "keys": m.keys.iter().map(|k| json!({ "name": k.name.to_string(), "public_key": hex::encode(k.public.as_bytes()), "not_after": k.not_after.0, "revoked_at": k.revoked_at.map(|t| t.0) })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({ "federation": r.federation(), "version": r.version(), "members": members })
                    )?
                );
            } else {
                println!(
                    "roster v{} of {:?}, signature verified",
                    r.version(),
                    r.federation()
                );
                for m in r.members() {
                    let state = if m.revoked_at.is_some() {
                        "REVOKED"
                    } else {
                        ""
                    };
                    println!(
                        "  {:<13} {:<8} {}  {:<36} {:<22} keys {} {state}",
                        m.org_id.as_str(),
                        m.role.as_str(),
                        m.country,
                        printable(&m.display_name),
                        printable(&m.endpoints.join(",")),
                        m.keys
                            .iter()
                            .map(|k| k.name.to_string()
                                + if k.revoked_at.is_some() {
                                    "(revoked)"
                                } else {
                                    ""
                                })
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                }
            }
        }
    }
    Ok(())
}
