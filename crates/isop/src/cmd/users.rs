//! `isop user`: the users of a node's local API (the admin's work).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use isop_api::NewUser;

use super::{NodeArg, client};
use crate::output::{esc, print};

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user; its token is written to --token-out (0600), once.
    Add {
        #[command(flatten)]
        node: NodeArg,
        /// The name (a-z, 0-9, '.', '_', '-').
        name: String,
        /// admin (everything), analyst (read, send, answer), submitter
        /// (send, and follow what it sent), viewer (read).
        #[arg(long)]
        role: String,
        /// Where to write the token (must not exist).
        #[arg(long)]
        token_out: PathBuf,
    },
    /// Remove a user: their token stops working.
    Remove {
        #[command(flatten)]
        node: NodeArg,
        /// The name.
        name: String,
    },
    /// The users and their roles.
    List {
        #[command(flatten)]
        node: NodeArg,
    },
    /// Give a user a new token (the old one stops working), written to --token-out.
    Token {
        #[command(flatten)]
        node: NodeArg,
        /// The name.
        name: String,
        /// Where to write the token (must not exist).
        #[arg(long)]
        token_out: PathBuf,
    },
}

pub(crate) async fn run(command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Add {
            node,
            name,
            role,
            token_out,
        } => {
            refuse_existing(&token_out)?;
            let t = client(&node)?.add_user(&NewUser { name, role }).await?;
            isop_node::config::write_private(&token_out, format!("{}\n", t.token).as_bytes())?;
            println!(
                "added {} as {}; token in {} (0600): hand it over, the node keeps only its hash",
                esc(&t.name),
                esc(&t.role),
                token_out.display()
            );
            Ok(())
        }
        UserCommand::Remove { node, name } => {
            let u = client(&node)?.remove_user(&name).await?;
            print(node.json, &u, |u| {
                println!(
                    "removed {} ({}); their token no longer works",
                    esc(&u.name),
                    esc(&u.role)
                )
            })
        }
        UserCommand::List { node } => {
            let v = client(&node)?.users().await?;
            print(node.json, &v, |v| {
                for u in v {
                    println!(
                        "{:<24} {:<10} added {}",
                        esc(&u.name),
                        esc(&u.role),
                        u.added_at
                    );
                }
            })
        }
        UserCommand::Token {
            node,
            name,
            token_out,
        } => {
            refuse_existing(&token_out)?;
            let t = client(&node)?.renew_token(&name).await?;
            isop_node::config::write_private(&token_out, format!("{}\n", t.token).as_bytes())?;
            println!(
                "new token for {} in {} (0600); the old one no longer works",
                esc(&t.name),
                token_out.display()
            );
            Ok(())
        }
    }
}

/// A token is never written over a file: checked before the node is asked,
/// so no token is made that cannot be handed over.
fn refuse_existing(path: &std::path::Path) -> Result<()> {
    if path.exists() {
        anyhow::bail!(
            "{} exists already; choose a new file for the token",
            path.display()
        );
    }
    Ok(())
}
