//! `rampart mql`: find, update and aggregate over an Extended JSON file, printing canonical
//! Extended JSON, one document per line.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bson::{Bson, Document};
use clap::{Args, Subcommand};
use rampart_mql::{ExtJsonMode, FindOptions, UpdateOptions, Variables};

#[derive(Debug, Subcommand)]
pub enum MqlCommand {
    /// Print the documents matching a filter, projected, sorted, skipped and limited.
    Find(FindArgs),
    /// Update documents, then print the whole collection and a summary on stderr.
    Update(UpdateArgs),
    /// Run an aggregation pipeline and print its output.
    Aggregate(AggregateArgs),
}

#[derive(Debug, Args)]
pub struct DocsArg {
    /// Extended JSON documents, one per line or as one array (`-` reads standard input).
    #[arg(long, value_name = "FILE")]
    docs: PathBuf,
}

#[derive(Debug, Args)]
pub struct SeedArg {
    /// Seed for `$rand`, `$sampleRate` and `$sample`: the same seed gives the same output
    /// (default: unpredictable).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
}

impl SeedArg {
    fn variables(&self) -> Variables {
        match self.seed {
            Some(seed) => Variables::new().with_seed(seed),
            None => Variables::new(),
        }
    }
}

#[derive(Debug, Args)]
pub struct FindArgs {
    #[command(flatten)]
    docs: DocsArg,
    #[command(flatten)]
    seed: SeedArg,
    /// Query filter (Extended JSON).
    #[arg(long, value_name = "JSON")]
    filter: Option<String>,
    /// Projection (Extended JSON).
    #[arg(long, value_name = "JSON")]
    projection: Option<String>,
    /// Sort specification, e.g. `{"age": -1}`.
    #[arg(long, value_name = "JSON")]
    sort: Option<String>,
    /// Documents to skip.
    #[arg(long, value_name = "N", default_value_t = 0)]
    skip: u64,
    /// Maximum number of documents to print (0: no limit).
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    docs: DocsArg,
    #[command(flatten)]
    seed: SeedArg,
    /// Query filter (Extended JSON).
    #[arg(long, value_name = "JSON")]
    filter: String,
    /// Update operators, a replacement document, or an array of pipeline stages.
    #[arg(long, value_name = "JSON")]
    update: String,
    /// Update every matching document, not only the first.
    #[arg(long)]
    many: bool,
    /// Insert a document when none matches.
    #[arg(long)]
    upsert: bool,
    /// The `arrayFilters` option: an array of filter documents.
    #[arg(long, value_name = "JSON")]
    array_filters: Option<String>,
}

#[derive(Debug, Args)]
pub struct AggregateArgs {
    #[command(flatten)]
    docs: DocsArg,
    #[command(flatten)]
    seed: SeedArg,
    /// The pipeline: an array of stages.
    #[arg(long, value_name = "JSON")]
    pipeline: String,
    /// A foreign collection for `$lookup`, as NAME=FILE (repeatable).
    #[arg(long = "collection", value_name = "NAME=FILE")]
    collections: Vec<String>,
}

pub fn run(command: MqlCommand) -> Result<()> {
    match command {
        MqlCommand::Find(args) => find(args),
        MqlCommand::Update(args) => update(args),
        MqlCommand::Aggregate(args) => aggregate(args),
    }
}

fn find(args: FindArgs) -> Result<()> {
    let docs = read_docs(&args.docs.docs)?;
    let options = FindOptions {
        filter: optional_document("--filter", args.filter.as_deref())?.unwrap_or_default(),
        projection: optional_document("--projection", args.projection.as_deref())?,
        sort: optional_document("--sort", args.sort.as_deref())?,
        skip: args.skip,
        limit: args.limit,
        variables: args.seed.variables(),
    };
    let found = rampart_mql::find(&docs, &options)?;
    print_docs(&found)
}

fn update(args: UpdateArgs) -> Result<()> {
    let mut docs = read_docs(&args.docs.docs)?;
    let filter = document("--filter", &args.filter)?;
    let update = rampart_mql::parse_value(&args.update).context("`--update`")?;
    let array_filters = match args.array_filters.as_deref() {
        None => Vec::new(),
        Some(text) => documents_array("--array-filters", text)?,
    };
    let options = UpdateOptions {
        many: args.many,
        upsert: args.upsert,
        array_filters,
        variables: args.seed.variables(),
    };
    let outcome = rampart_mql::update(&mut docs, &filter, &update, &options)?;
    print_docs(&docs)?;
    let upserted = outcome
        .upserted_id
        .map(|id| rampart_mql::to_json_value(&id, ExtJsonMode::Canonical))
        .unwrap_or(serde_json::Value::Null);
    let summary = serde_json::json!({
        "matchedCount": outcome.matched_count,
        "modifiedCount": outcome.modified_count,
        "upsertedId": upserted,
    });
    eprintln!("{summary}");
    Ok(())
}

fn aggregate(args: AggregateArgs) -> Result<()> {
    let docs = read_docs(&args.docs.docs)?;
    let pipeline = documents_array("--pipeline", &args.pipeline)?;
    let mut collections = Vec::new();
    for spec in &args.collections {
        let Some((name, file)) = spec.split_once('=') else {
            bail!("`--collection` takes NAME=FILE, got `{spec}`");
        };
        collections.push((name.to_owned(), read_docs(Path::new(file))?));
    }
    let source = FileCollections(collections);
    let output = rampart_mql::aggregate(&docs, &pipeline, &source, &args.seed.variables())?;
    print_docs(&output)
}

/// Foreign collections for `$lookup`, loaded from files named on the command line.
struct FileCollections(Vec<(String, Vec<Document>)>);

impl rampart_mql::CollectionSource for FileCollections {
    fn documents(&self, collection: &str) -> rampart_mql::Result<Vec<Document>> {
        match self.0.iter().find(|(name, _)| name == collection) {
            Some((_, docs)) => Ok(docs.clone()),
            None => Err(rampart_mql::MqlError::bad_value(format!(
                "no collection `{collection}`: pass it with `--collection {collection}=FILE`"
            ))),
        }
    }
}

pub fn read_docs(path: &Path) -> Result<Vec<Document>> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
    }
    rampart_mql::parse_documents(&text).with_context(|| format!("`{}`", path.display()))
}

fn document(option: &str, text: &str) -> Result<Document> {
    rampart_mql::parse_document(text).with_context(|| format!("`{option}`"))
}

fn optional_document(option: &str, text: Option<&str>) -> Result<Option<Document>> {
    text.map(|text| document(option, text)).transpose()
}

fn documents_array(option: &str, text: &str) -> Result<Vec<Document>> {
    match rampart_mql::parse_value(text).with_context(|| format!("`{option}`"))? {
        Bson::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| match item {
                Bson::Document(doc) => Ok(doc),
                other => bail!(
                    "`{option}` element {index} must be a document, got {}",
                    rampart_mql::type_name(&other)
                ),
            })
            .collect(),
        other => bail!(
            "`{option}` must be an array, got {}",
            rampart_mql::type_name(&other)
        ),
    }
}

fn print_docs(docs: &[Document]) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for doc in docs {
        let value =
            rampart_mql::to_json_value(&Bson::Document(doc.clone()), ExtJsonMode::Canonical);
        writeln!(out, "{value}")?;
    }
    out.flush()?;
    Ok(())
}
