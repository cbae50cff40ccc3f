//! `rampart import`: load Extended JSON documents into a collection, all or nothing.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rampart_store::{EmbeddedStore, Namespace, Store};

use crate::serve_cmd::ConfigArgs;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Database to import into.
    #[arg(long, value_name = "NAME")]
    db: String,
    /// Collection to import into (created if missing).
    #[arg(long, value_name = "NAME")]
    collection: String,
    /// Extended JSON documents, one per line or as one array (`-` reads standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn import(args: ImportArgs) -> Result<()> {
    let loaded = args.config.load()?;
    let namespace = Namespace::new(&args.db, &args.collection)?;
    let docs = crate::mql_cmd::read_docs(&args.file)?;
    let store = EmbeddedStore::open(&loaded.data_dir)?;
    let total = docs.len() as u64;
    let progress = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut pending = Some(docs);
    let mut failed_at = None;
    // One transaction: a failure part-way (a duplicate `_id`, an oversized document) leaves
    // the collection exactly as it was.
    store
        .transaction(&mut |transaction| {
            let docs = pending.take().unwrap_or_default();
            for (number, doc) in docs.into_iter().enumerate() {
                failed_at = Some(number + 1);
                transaction.insert(&namespace, doc)?;
                progress.inc(1);
            }
            failed_at = None;
            Ok(())
        })
        .with_context(|| match failed_at {
            Some(number) => format!("document {number}: nothing was imported into `{namespace}`"),
            None => format!("nothing was imported into `{namespace}`"),
        })?;
    progress.finish_and_clear();
    println!("imported {total} documents into `{namespace}`");
    Ok(())
}
