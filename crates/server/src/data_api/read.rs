//! Reads: `find`, `findOne`, `aggregate`. The filters' query (with the client's) is pushed
//! down to the store with the sort; each returned document gets its role and redaction from
//! the rules; then the filters' and the client's projections; `skip` and `limit` count only
//! the documents the user may see (docs/rules-semantics.md, "Reads").

use bson::{Bson, Document};
use rampart_mql::{NoCollections, Pipeline, Projection, Variables};
use rampart_rules::QueryPlan;
use rampart_store::FindOptions;

use super::error::ApiError;
use super::exec::{Execution, Failure, Success, Verdict};

/// Stages App Services refuses in a pipeline run as a user (reference §6). `$lookup` and the
/// other cross-collection stages would read collections outside this request's rules; they
/// are refused rather than run unchecked (fail closed).
const FORBIDDEN_STAGES: &[&str] = &[
    "$collStats",
    "$facet",
    "$geoNear",
    "$graphLookup",
    "$indexStats",
    "$lookup",
    "$merge",
    "$out",
    "$unionWith",
    "$search",
    "$searchMeta",
    "$currentOp",
    "$listSessions",
    "$changeStream",
];

/// Operators App Services refuses anywhere in a user's pipeline.
const FORBIDDEN_OPERATORS: &[&str] = &["$function", "$setIsSubset", "$accumulator", "$where"];

/// The largest batch `find` asks the store for at once.
const MAX_BATCH: usize = 1000;

/// Query operators App Services does not make available to users (reference §6): with them a
/// caller could probe fields the rules do not let them read (`{salary: {$gt: ...}}` answers by
/// which documents come back; `$regex` and `$expr` probe by pattern and computation).
const FORBIDDEN_QUERY_OPERATORS: &[&str] = &[
    "$expr",
    "$jsonSchema",
    "$regex",
    "$text",
    "$where",
    "$near",
    "$nearSphere",
    "$geoWithin",
    "$geoIntersects",
    "$within",
    "$bitsAllSet",
    "$bitsAnySet",
    "$bitsAllClear",
    "$bitsAnyClear",
];

/// How many documents are read between two deadline checks.
const DEADLINE_EVERY: usize = 64;

/// `find` and `findOne`.
pub(crate) fn find(ex: &Execution<'_>) -> Result<Success, Failure> {
    let body = ex.body;
    let one = ex.action == super::body::Action::FindOne;
    let client_projection = match &body.projection {
        None => None,
        Some(spec) => Some(
            Projection::compile(spec)
                .map_err(|error| Failure::error(ApiError::invalid(error.message().to_owned())))?,
        ),
    };
    let plan = plan(ex)?;
    let skip = usize::try_from(body.skip).unwrap_or(usize::MAX);
    let wanted = match (one, body.limit) {
        (true, _) => 1,
        (false, None | Some(0)) => ex.max_documents,
        (false, Some(limit)) => usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(ex.max_documents),
    };
    let mut page = Vec::new();
    // Ask the store for about one page at a time: its default batch would read (and decode)
    // far more documents than a small `limit` needs. Withheld documents only mean another batch.
    let batch = skip.saturating_add(wanted).clamp(1, MAX_BATCH);
    let visible = Visible {
        sort: body.sort.clone(),
        batch_size: Some(batch),
        skip,
    };
    visit_visible(ex, &plan, visible, &mut |document| {
        let document = match &client_projection {
            None => document,
            Some(projection) => projection
                .apply(&document, None)
                .map_err(|error| Failure::error(ApiError::invalid(error.message().to_owned())))?,
        };
        page.push(document);
        Ok(page.len() < wanted)
    })?;
    let body = if one {
        let first = page.into_iter().next().map_or(Bson::Null, Bson::Document);
        bson::doc! {"document": first}
    } else {
        let documents: Vec<Bson> = page.into_iter().map(Bson::Document).collect();
        bson::doc! {"documents": documents}
    };
    Ok(Success {
        body,
        verdict: Verdict::allowed(None),
    })
}

/// `aggregate`: the pipeline runs over the visible, redacted documents of the collection.
pub(crate) fn aggregate(ex: &Execution<'_>) -> Result<Success, Failure> {
    check_pipeline(&ex.body.pipeline).map_err(Failure::error)?;
    let pipeline = Pipeline::compile(&ex.body.pipeline)
        .map_err(|error| Failure::error(ApiError::invalid(error.message().to_owned())))?;
    let plan = plan(ex)?;
    let mut input = Vec::new();
    let mut over = false;
    visit_visible(ex, &plan, Visible::default(), &mut |document| {
        if input.len() >= ex.max_documents {
            over = true;
            return Ok(false);
        }
        input.push(document);
        Ok(true)
    })?;
    if over {
        // Running on a truncated input would give wrong groups and counts: refuse instead.
        return Err(Failure::error(ApiError::invalid(format!(
            "the pipeline would read more than {} documents (`data_api.max_documents`)",
            ex.max_documents
        ))));
    }
    ex.check_deadline()?;
    let mut output = pipeline
        .run(input, &NoCollections, &Variables::new())
        .map_err(|error| Failure::error(ApiError::invalid(error.message().to_owned())))?;
    output.truncate(ex.max_documents);
    let documents: Vec<Bson> = output.into_iter().map(Bson::Document).collect();
    Ok(Success {
        body: bson::doc! {"documents": documents},
        verdict: Verdict::allowed(None),
    })
}

fn plan(ex: &Execution<'_>) -> Result<QueryPlan, Failure> {
    let filter = if ex.action == super::body::Action::Aggregate {
        Document::new()
    } else {
        ex.body.filter.clone()
    };
    let plan = ex.authorizer.plan_read(&filter);
    match plan.error() {
        Some(message) => Err(Failure::plan(message)),
        None => Ok(plan),
    }
}

/// Which visible documents [`visit_visible`] hands over, and how the store reads them.
#[derive(Default)]
struct Visible {
    sort: Option<Document>,
    batch_size: Option<usize>,
    /// Visible documents passed over first (`skip`): decided but neither decoded nor projected.
    skip: usize,
}

/// Calls `visit` with each document the user may see, redacted and projected by the filters,
/// in query order, after the first `visible.skip` of them, until it returns false.
fn visit_visible(
    ex: &Execution<'_>,
    plan: &QueryPlan,
    visible: Visible,
    visit: &mut dyn FnMut(Document) -> Result<bool, Failure>,
) -> Result<(), Failure> {
    let Visible {
        sort,
        batch_size,
        skip,
    } = visible;
    let Some(query) = plan.query() else {
        return Ok(());
    };
    let options = FindOptions {
        filter: query.clone(),
        sort,
        batch_size,
        ..FindOptions::default()
    };
    // Stored bytes, decided without decoding: only what the user may see is decoded.
    let cursor = ex
        .store
        .find_raw(ex.ns, options)
        .map_err(|error| Failure::store(&error))?;
    let mut skipped = 0;
    // Redacted copies, one at a time: the buffer is reused from document to document.
    let mut copy = Vec::new();
    for (index, stored) in cursor.enumerate() {
        if index % DEADLINE_EVERY == 0 {
            ex.check_deadline()?;
        }
        let stored = stored.map_err(|error| Failure::store(&error))?;
        copy.clear();
        let decision = ex.authorizer.read_raw_into(&stored, &mut copy);
        if let Some(message) = decision.malformed {
            return Err(Failure::internal(message));
        }
        let Some(visible) = decision.visible.document(&stored, &copy) else {
            continue;
        };
        if skipped < skip {
            skipped += 1;
            continue;
        }
        let document = Document::try_from(visible)
            .map_err(|error| Failure::internal(format!("malformed stored document: {error}")))?;
        let document = plan
            .project(document)
            .map_err(|message| Failure::error(ApiError::invalid(message)))?;
        if !visit(document)? {
            break;
        }
    }
    Ok(())
}

/// Refuses the query operators App Services does not make available to users, and regular
/// expression values (which match like `$regex`), anywhere in `filter`.
pub(crate) fn check_query(filter: &Document) -> Result<(), ApiError> {
    check_query_document(filter, 0)
}

fn check_query_document(doc: &Document, depth: usize) -> Result<(), ApiError> {
    if depth > rampart_mql::MAX_INPUT_DEPTH {
        return Err(ApiError::invalid("the filter nests too deeply"));
    }
    doc.iter().try_for_each(|(key, item)| {
        if FORBIDDEN_QUERY_OPERATORS.contains(&key.as_str()) {
            return Err(ApiError::invalid(format!(
                "the `{key}` query operator is not available in a Data API query"
            )));
        }
        check_query_value(item, depth + 1)
    })
}

fn check_query_value(value: &Bson, depth: usize) -> Result<(), ApiError> {
    // The body parser already bounds nesting at 200; this keeps the walk bounded on its own.
    if depth > rampart_mql::MAX_INPUT_DEPTH {
        return Err(ApiError::invalid("the filter nests too deeply"));
    }
    match value {
        Bson::Document(doc) => check_query_document(doc, depth),
        Bson::Array(items) => items
            .iter()
            .try_for_each(|item| check_query_value(item, depth + 1)),
        Bson::RegularExpression(_) => Err(ApiError::invalid(
            "regular expressions are not available in a Data API query",
        )),
        _ => Ok(()),
    }
}

/// Refuses the stages and operators App Services does not run for users, anywhere in the
/// pipeline (sub-pipelines included), and the user-forbidden query operators in `$match`.
pub(crate) fn check_pipeline(stages: &[Document]) -> Result<(), ApiError> {
    for stage in stages {
        if let Some(Bson::Document(filter)) = stage.get("$match") {
            check_query(filter)?;
        }
        for name in stage.keys() {
            if FORBIDDEN_STAGES.contains(&name.as_str()) {
                return Err(ApiError::invalid(format!(
                    "the `{name}` stage is not allowed in a Data API pipeline"
                )));
            }
        }
        check_operators(&Bson::Document(stage.clone()), 0)?;
    }
    Ok(())
}

fn check_operators(value: &Bson, depth: usize) -> Result<(), ApiError> {
    // The body parser already bounds nesting at 200; this keeps the walk bounded on its own.
    if depth > rampart_mql::MAX_INPUT_DEPTH {
        return Err(ApiError::invalid("the pipeline nests too deeply"));
    }
    match value {
        Bson::Document(doc) => {
            for (key, item) in doc {
                if FORBIDDEN_OPERATORS.contains(&key.as_str())
                    || FORBIDDEN_STAGES.contains(&key.as_str())
                {
                    return Err(ApiError::invalid(format!(
                        "`{key}` is not allowed in a Data API pipeline"
                    )));
                }
                check_operators(item, depth + 1)?;
            }
            Ok(())
        }
        Bson::Array(items) => items
            .iter()
            .try_for_each(|item| check_operators(item, depth + 1)),
        _ => Ok(()),
    }
}
