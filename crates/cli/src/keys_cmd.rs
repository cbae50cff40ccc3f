//! `rampart keys create|revoke|list`: API keys in the embedded store.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use rampart_identity::{ApiKeyInfo, NewApiKey};
use rampart_store::{EmbeddedStore, StoreError};

use crate::serve_cmd::ConfigArgs;

const LOCK_NOTE: &str = "These commands open the data directory's embedded store directly, so \
they fail while `rampart serve` runs on the same directory (the store is locked by one \
process at a time): stop the server first. Managing keys through a running server will come \
with the admin API.";

/// API keys for programs calling the Data API (`apiKey` header or `Authorization: Bearer`).
#[derive(Debug, Subcommand)]
#[command(after_help = LOCK_NOTE)]
pub enum KeysCommand {
    /// Create a key for a user (created as a `server` user if it has no record yet). The key
    /// is printed once, alone on the last line of stdout; only its hash is stored.
    #[command(after_help = LOCK_NOTE)]
    Create(CreateArgs),
    /// Revoke a key by id or name; it stops authenticating at once.
    #[command(after_help = LOCK_NOTE)]
    Revoke(RevokeArgs),
    /// List keys: id, name, user, creation and revocation times (never the key).
    #[command(after_help = LOCK_NOTE)]
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The user the key authenticates as (`%%user.id`).
    #[arg(long, value_name = "ID")]
    user: String,
    /// A name, unique across all keys (1-64 of `A-Z a-z 0-9 . _ -`); default: the key id.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The key's id or name.
    #[arg(value_name = "ID-OR-NAME")]
    key: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Only the keys of this user.
    #[arg(long, value_name = "ID")]
    user: Option<String>,
}

pub fn run(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create(args) => create(args),
        KeysCommand::Revoke(args) => revoke(args),
        KeysCommand::List(args) => list(args),
    }
}

fn open_store(config: &ConfigArgs) -> Result<EmbeddedStore> {
    let loaded = config.load()?;
    let dir = &loaded.data_dir;
    EmbeddedStore::open(dir).map_err(|error| match error {
        StoreError::Locked(_) => anyhow::anyhow!(
            "the data directory `{}` is in use by another process (is `rampart serve` running?): \
             stop it and retry",
            dir.display()
        ),
        other => anyhow::Error::new(other)
            .context(format!("cannot open the store in `{}`", dir.display())),
    })
}

fn create(args: CreateArgs) -> Result<()> {
    let store = open_store(&args.config)?;
    let key: NewApiKey = rampart_identity::create_api_key(&store, &args.user, args.name.as_deref())
        .context("cannot create the api key")?;
    println!(
        "created api key `{}` (id {}) for user `{}`",
        key.name, key.id, key.user_id
    );
    println!("it is shown only this once; send it in the `apiKey` header:");
    // INVARIANT: the key alone on the last line, so scripts can take it with `tail -n 1`.
    println!("{}", key.secret);
    Ok(())
}

fn revoke(args: RevokeArgs) -> Result<()> {
    let store = open_store(&args.config)?;
    let before = rampart_identity::find_api_key(&store, &args.key)?.and_then(|key| key.revoked_at);
    let key = rampart_identity::revoke_api_key(&store, &args.key)?;
    match before {
        Some(at) => println!(
            "api key `{}` (id {}) of user `{}` was already revoked at {}",
            key.name,
            key.id,
            key.user_id,
            timestamp(at)
        ),
        None => println!(
            "revoked api key `{}` (id {}) of user `{}`",
            key.name, key.id, key.user_id
        ),
    }
    Ok(())
}

fn list(args: ListArgs) -> Result<()> {
    let store = open_store(&args.config)?;
    let keys = rampart_identity::list_api_keys(&store, args.user.as_deref())?;
    print!("{}", table(&keys));
    Ok(())
}

/// Aligned columns: ID, NAME, USER, CREATED, REVOKED (`-` when active).
fn table(keys: &[ApiKeyInfo]) -> String {
    let header = ["ID", "NAME", "USER", "CREATED", "REVOKED"].map(str::to_owned);
    let rows: Vec<[String; 5]> = std::iter::once(header)
        .chain(keys.iter().map(|key| {
            [
                key.id.clone(),
                key.name.clone(),
                key.user_id.clone(),
                timestamp(key.created_at),
                key.revoked_at.map_or_else(|| "-".to_owned(), timestamp),
            ]
        }))
        .collect();
    let mut widths = [0_usize; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn timestamp(at: bson::DateTime) -> String {
    at.try_to_rfc3339_string()
        .unwrap_or_else(|_| at.timestamp_millis().to_string())
}
