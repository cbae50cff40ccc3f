//! Running one case.

use bson::{Bson, Document};
use rampart_mql::{
    from_json_value, to_json_value, ExtJsonMode, Filter, FindOptions, NoCollections, Projection,
    Update, UpdateContext, Variables,
};
use serde_json::{json, Map, Value};

use super::CaseError;
use crate::config::{
    AppConfig, CollectionConfig, CollectionRulesFile, DataSourceConfig, DefaultRuleFile,
    COLLECTION_RULES_SHAPE, DEFAULT_RULE_SHAPE,
};
use crate::error::{Documents, Problems};
use crate::explain::DocumentExplain;
use crate::shape::parse_all;
use crate::{
    Authorizer, RuleSet, UpdateStep, User, WriteCheck, WriteDecision, WriteKind, WriteOutcome,
};

const SERVICE: &str = "mongodb-atlas";

/// The operation of a case, with Extended JSON already parsed.
struct Operation {
    op: String,
    database: String,
    collection: String,
    body: Map<String, Value>,
    request: Option<Document>,
}

/// What the operation produced.
enum Outcome {
    Result(Value),
    Refused {
        outcome: &'static str,
        error: String,
    },
}

/// Runs a case and returns `{"result"}` or `{"outcome","error"}`, with `documents_after` and
/// `explain`. `expected` is ignored.
pub fn simulate(case: &Value) -> Result<Value, CaseError> {
    let case = case
        .as_object()
        .ok_or_else(|| malformed("a case must be a JSON object"))?;
    let operation = operation(case)?;
    let rules = rule_set(case, &operation)?;
    let user = user(case.get("user"))?;
    let mut documents = documents(case.get("documents_before"), "documents_before")?;
    let authorizer = rules.authorizer(
        SERVICE,
        &operation.database,
        &operation.collection,
        user.as_ref(),
        operation.request.clone(),
    );
    let mut explain = Explain::default();
    let outcome = execute(&authorizer, &operation, &mut documents, &mut explain)?;
    let mut output = match outcome {
        Outcome::Result(result) => json!({"result": result}),
        Outcome::Refused { outcome, error } => json!({"outcome": outcome, "error": error}),
    };
    if let Value::Object(map) = &mut output {
        let after: Vec<Value> = documents
            .iter()
            .map(|doc| to_json_value(&Bson::Document(doc.clone()), ExtJsonMode::Canonical))
            .collect();
        map.insert("documents_after".to_owned(), Value::Array(after));
        map.insert("explain".to_owned(), explain.to_json());
    }
    Ok(output)
}

#[derive(Default)]
struct Explain {
    filters: Vec<crate::FilterExplain>,
    documents: Vec<DocumentExplain>,
}

impl Explain {
    fn to_json(&self) -> Value {
        json!({
            "filters": serde_json::to_value(&self.filters).unwrap_or(Value::Null),
            "documents": serde_json::to_value(&self.documents).unwrap_or(Value::Null),
        })
    }
}

fn malformed(message: impl Into<String>) -> CaseError {
    CaseError::Malformed(message.into())
}

fn operation(case: &Map<String, Value>) -> Result<Operation, CaseError> {
    let raw = case
        .get("operation")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("`operation` must be an object"))?;
    let op = raw
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("`operation.op` must be a string"))?
        .to_owned();
    // Data API cases carry the request body; SDK cases carry the fields directly.
    let body = match raw.get("body") {
        Some(Value::Object(body)) => body.clone(),
        Some(_) => return Err(malformed("`operation.body` must be an object")),
        None => raw.clone(),
    };
    let name = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| malformed(format!("`operation.{key}` must be a string")))
    };
    let request = match raw.get("request") {
        None | Some(Value::Null) => None,
        Some(value) => Some(document(value, "operation.request")?),
    };
    Ok(Operation {
        database: name("database")?,
        collection: name("collection")?,
        op,
        body,
        request,
    })
}

fn rule_set(case: &Map<String, Value>, operation: &Operation) -> Result<RuleSet, CaseError> {
    let rules = case
        .get("rules")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("`rules` must be an object"))?;
    let mut problems = Problems::default();
    let mut source = DataSourceConfig {
        default_rule_source: "case.rules.default".to_owned(),
        ..DataSourceConfig::default()
    };
    if let Some(value) = rules.get("default").filter(|value| !value.is_null()) {
        source.default_rule = parse_all::<DefaultRuleFile>(
            "case.rules.default",
            value,
            &DEFAULT_RULE_SHAPE,
            &mut problems,
        );
    }
    let mut collection = CollectionConfig {
        rules_source: "case.rules.collection".to_owned(),
        schema_source: "case.rules.schema".to_owned(),
        ..CollectionConfig::default()
    };
    if let Some(value) = rules.get("collection").filter(|value| !value.is_null()) {
        let file = parse_all::<CollectionRulesFile>(
            "case.rules.collection",
            value,
            &COLLECTION_RULES_SHAPE,
            &mut problems,
        );
        if let Some(mut file) = file {
            collection.schema = file.schema.take();
            collection.rules = Some(file);
        }
    }
    if let Some(schema) = rules.get("schema").filter(|value| !value.is_null()) {
        collection.schema = Some(schema.clone());
    }
    source.collections.insert(
        (operation.database.clone(), operation.collection.clone()),
        collection,
    );
    let mut config = AppConfig::default();
    config.data_sources.insert(SERVICE.to_owned(), source);
    if let Some(Value::Object(values)) = rules.get("values") {
        config.values = values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    config.environment = rules
        .get("environment")
        .filter(|value| !value.is_null())
        .cloned();
    if let Some(Value::Object(functions)) = rules.get("functions") {
        for (name, module) in functions {
            let module = module.as_str().ok_or_else(|| {
                malformed(format!("`rules.functions.{name}` must be a Rego module"))
            })?;
            config.functions.insert(name.clone(), module.to_owned());
        }
    }
    let rule_set = RuleSet::compile_all(&config, &mut problems);
    problems.finish(&Documents::new())?;
    Ok(rule_set)
}

fn user(value: Option<&Value>) -> Result<Option<User>, CaseError> {
    let Some(value) = value.filter(|value| !value.is_null()) else {
        return Ok(None);
    };
    let doc = document(value, "user")?;
    let text = |key: &str| doc.get_str(key).map(str::to_owned).unwrap_or_default();
    let sub = |key: &str| doc.get_document(key).cloned().unwrap_or_default();
    let identities = doc
        .get_array("identities")
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_document().cloned())
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(User {
        id: text("id"),
        user_type: if doc.contains_key("type") {
            text("type")
        } else {
            "normal".to_owned()
        },
        data: sub("data"),
        custom_data: sub("custom_data"),
        identities,
    }))
}

fn document(value: &Value, what: &str) -> Result<Document, CaseError> {
    match from_json_value(value) {
        Ok(Bson::Document(doc)) => Ok(doc),
        Ok(_) => Err(malformed(format!("`{what}` must be an object"))),
        Err(error) => Err(malformed(format!("`{what}`: {error}"))),
    }
}

fn documents(value: Option<&Value>, what: &str) -> Result<Vec<Document>, CaseError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| document(item, &format!("{what}[{index}]")))
            .collect(),
        Some(_) => Err(malformed(format!("`{what}` must be an array"))),
    }
}

fn optional_document(body: &Map<String, Value>, key: &str) -> Result<Option<Document>, CaseError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => document(value, &format!("operation.{key}")).map(Some),
    }
}

fn count(body: &Map<String, Value>, key: &str) -> Result<u64, CaseError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(value) => match from_json_value(value) {
            Ok(value) => rampart_mql::number(&value)
                .map(|n| n.as_f64())
                .filter(|n| *n >= 0.0)
                .map(|n| n as u64)
                .ok_or_else(|| {
                    malformed(format!("`operation.{key}` must be a non-negative number"))
                }),
            Err(error) => Err(malformed(format!("`operation.{key}`: {error}"))),
        },
    }
}

fn canonical(doc: &Document) -> Value {
    to_json_value(&Bson::Document(doc.clone()), ExtJsonMode::Canonical)
}

fn refused(outcome: &'static str, error: impl Into<String>) -> Outcome {
    Outcome::Refused {
        outcome,
        error: error.into(),
    }
}

fn execute(
    authorizer: &Authorizer,
    operation: &Operation,
    documents: &mut Vec<Document>,
    explain: &mut Explain,
) -> Result<Outcome, CaseError> {
    match operation.op.as_str() {
        "find" | "findOne" => read(authorizer, operation, documents, explain),
        "aggregate" => aggregate(authorizer, operation, documents, explain),
        "insertOne" | "insertMany" => insert(authorizer, operation, documents, explain),
        "updateOne" | "updateMany" | "replaceOne" => {
            update(authorizer, operation, documents, explain)
        }
        "deleteOne" | "deleteMany" => delete(authorizer, operation, documents, explain),
        other => Err(malformed(format!("unknown operation `{other}`"))),
    }
}

/// Reads: the planned query runs first (with the sort); roles and redaction follow, and
/// `skip`/`limit` count the documents the user may see.
fn read(
    authorizer: &Authorizer,
    operation: &Operation,
    documents: &[Document],
    explain: &mut Explain,
) -> Result<Outcome, CaseError> {
    let body = &operation.body;
    let filter = optional_document(body, "filter")?.unwrap_or_default();
    let plan = authorizer.plan_read(&filter);
    explain.filters = plan.filters.clone();
    if let Some(error) = plan.error() {
        return Ok(refused("error", error));
    }
    let client_projection = match optional_document(body, "projection")? {
        None => None,
        Some(spec) => match Projection::compile(&spec) {
            Ok(projection) => Some(projection),
            Err(error) => return Ok(refused("error", error.to_string())),
        },
    };
    let find_one = operation.op == "findOne";
    let skip = count(body, "skip")?;
    let limit = if find_one { 1 } else { count(body, "limit")? };
    let candidates = match plan.query() {
        None => Vec::new(),
        Some(query) => {
            let options = FindOptions {
                filter: query.clone(),
                sort: optional_document(body, "sort")?,
                ..FindOptions::default()
            };
            match rampart_mql::find(documents, &options) {
                Ok(found) => found,
                Err(error) => return Ok(refused("error", error.to_string())),
            }
        }
    };
    let mut visible = Vec::new();
    for candidate in candidates {
        let decision = authorizer.read(candidate);
        explain.documents.push(decision.explain);
        let Some(doc) = decision.document else {
            continue;
        };
        let projected = plan.project(doc).and_then(|doc| match &client_projection {
            None => Ok(doc),
            Some(projection) => projection
                .apply(&doc, None)
                .map_err(|error| error.to_string()),
        });
        match projected {
            Ok(doc) => visible.push(doc),
            Err(error) => return Ok(refused("error", error)),
        }
    }
    let skip = usize::try_from(skip).unwrap_or(usize::MAX);
    let limit = if limit == 0 {
        usize::MAX
    } else {
        usize::try_from(limit).unwrap_or(usize::MAX)
    };
    let page: Vec<Value> = visible
        .iter()
        .skip(skip)
        .take(limit)
        .map(canonical)
        .collect();
    if find_one {
        return Ok(Outcome::Result(
            page.into_iter().next().unwrap_or(Value::Null),
        ));
    }
    Ok(Outcome::Result(Value::Array(page)))
}

/// Aggregation runs over the documents the user may read, already redacted.
fn aggregate(
    authorizer: &Authorizer,
    operation: &Operation,
    documents: &[Document],
    explain: &mut Explain,
) -> Result<Outcome, CaseError> {
    let pipeline = documents_of(&operation.body, "pipeline")?;
    let plan = authorizer.plan_read(&Document::new());
    explain.filters = plan.filters.clone();
    if let Some(error) = plan.error() {
        return Ok(refused("error", error));
    }
    let mut visible = Vec::new();
    if let Some(query) = plan.query() {
        let options = FindOptions {
            filter: query.clone(),
            ..FindOptions::default()
        };
        let found = match rampart_mql::find(documents, &options) {
            Ok(found) => found,
            Err(error) => return Ok(refused("error", error.to_string())),
        };
        for candidate in found {
            let decision = authorizer.read(candidate);
            explain.documents.push(decision.explain);
            if let Some(doc) = decision.document {
                match plan.project(doc) {
                    Ok(doc) => visible.push(doc),
                    Err(error) => return Ok(refused("error", error)),
                }
            }
        }
    }
    match rampart_mql::aggregate(&visible, &pipeline, &NoCollections, &Variables::new()) {
        Ok(result) => Ok(Outcome::Result(Value::Array(
            result.iter().map(canonical).collect(),
        ))),
        Err(error) => Ok(refused("error", error.to_string())),
    }
}

fn documents_of(body: &Map<String, Value>, key: &str) -> Result<Vec<Document>, CaseError> {
    documents(body.get(key), &format!("operation.{key}"))
}

fn refusal(decision: &WriteDecision) -> Option<Outcome> {
    if decision.allowed {
        return None;
    }
    let outcome = match decision.outcome {
        Some(WriteOutcome::Invalid) => "error",
        _ => "denied",
    };
    Some(refused(outcome, decision.error.unwrap_or("not permitted")))
}

fn insert(
    authorizer: &Authorizer,
    operation: &Operation,
    documents: &mut Vec<Document>,
    explain: &mut Explain,
) -> Result<Outcome, CaseError> {
    let many = operation.op == "insertMany";
    let new: Vec<Document> = if many {
        documents_of(&operation.body, "documents")?
    } else {
        vec![optional_document(&operation.body, "document")?
            .ok_or_else(|| malformed("`operation.document` is required"))?]
    };
    let new: Vec<Document> = new.into_iter().map(rampart_mql::with_id_first).collect();
    let checks: Vec<WriteCheck> = new
        .iter()
        .map(|doc| authorizer.authorize_insert(doc))
        .collect();
    let decision = WriteDecision::combine(WriteKind::Insert, checks);
    explain.documents = decision.documents.clone();
    if let Some(refused) = refusal(&decision) {
        return Ok(refused);
    }
    for doc in &new {
        let id = doc.get("_id");
        if documents.iter().any(|stored| stored.get("_id") == id) {
            return Ok(refused("error", "duplicate key error on `_id`"));
        }
    }
    let ids: Vec<Value> = new
        .iter()
        .filter_map(|doc| doc.get("_id"))
        .map(|id| to_json_value(id, ExtJsonMode::Canonical))
        .collect();
    documents.extend(new);
    if many {
        return Ok(Outcome::Result(json!({"insertedIds": ids})));
    }
    Ok(Outcome::Result(
        json!({"insertedId": ids.into_iter().next().unwrap_or(Value::Null)}),
    ))
}

fn update(
    authorizer: &Authorizer,
    operation: &Operation,
    documents: &mut Vec<Document>,
    explain: &mut Explain,
) -> Result<Outcome, CaseError> {
    let body = &operation.body;
    let many = operation.op == "updateMany";
    let client_filter = optional_document(body, "filter")?.unwrap_or_default();
    let raw_update = if operation.op == "replaceOne" {
        body.get("replacement")
    } else {
        body.get("update")
    };
    let raw_update = raw_update.ok_or_else(|| malformed("the update or replacement is missing"))?;
    let update_value =
        from_json_value(raw_update).map_err(|error| malformed(format!("update: {error}")))?;
    let upsert = body.get("upsert").and_then(Value::as_bool).unwrap_or(false);
    let plan = authorizer.plan_query(&client_filter);
    explain.filters = plan.filters.clone();
    if let Some(error) = plan.error() {
        return Ok(refused("error", error));
    }
    let compiled = match Update::parse(&update_value, &[]) {
        Ok(compiled) => compiled,
        Err(error) => return Ok(refused("error", error.to_string())),
    };
    let mut changes: Vec<(usize, Document)> = Vec::new();
    let mut checks = Vec::new();
    let mut matched = 0u64;
    if let Some(query) = plan.query() {
        let filter = match Filter::compile(query) {
            Ok(filter) => filter,
            Err(error) => return Ok(refused("error", error.to_string())),
        };
        for (index, before) in documents.iter().enumerate() {
            let hit = match filter.evaluate(before) {
                Ok(hit) => hit,
                Err(error) => return Ok(refused("error", error.to_string())),
            };
            if !hit.matched {
                continue;
            }
            let context = UpdateContext {
                matched_position: hit.array_position,
                ..UpdateContext::default()
            };
            let step = match authorizer.apply_update(before, &compiled, &context) {
                Ok(step) => step,
                Err(error) => return Ok(refused("error", error.to_string())),
            };
            match step {
                UpdateStep::NotMatched(check) => {
                    explain.documents.push(check.explain);
                    continue;
                }
                UpdateStep::Matched {
                    after,
                    changed,
                    check,
                } => {
                    matched += 1;
                    checks.push(check);
                    if changed {
                        changes.push((index, after));
                    }
                }
            }
            if !many {
                break;
            }
        }
    }
    let decision = WriteDecision::combine(WriteKind::Update, checks);
    explain.documents.extend(decision.documents.clone());
    if let Some(refused) = refusal(&decision) {
        return Ok(refused);
    }
    if matched == 0 && upsert {
        return upsert_insert(authorizer, &compiled, &client_filter, documents, explain);
    }
    let modified = changes.len();
    for (index, after) in changes {
        if let Some(slot) = documents.get_mut(index) {
            *slot = after;
        }
    }
    Ok(Outcome::Result(
        json!({"matchedCount": matched, "modifiedCount": modified}),
    ))
}

/// An upsert that matched nothing follows the insert path.
fn upsert_insert(
    authorizer: &Authorizer,
    compiled: &Update,
    client_filter: &Document,
    documents: &mut Vec<Document>,
    explain: &mut Explain,
) -> Result<Outcome, CaseError> {
    let seed_filter = match Filter::compile(client_filter) {
        Ok(filter) => filter,
        Err(error) => return Ok(refused("error", error.to_string())),
    };
    let (new, decision) = match authorizer.upsert_insert(compiled, &seed_filter) {
        Ok(upsert) => upsert,
        Err(error) => return Ok(refused("error", error.to_string())),
    };
    explain.documents.extend(decision.documents.clone());
    if let Some(refused) = refusal(&decision) {
        return Ok(refused);
    }
    let id = new
        .get("_id")
        .map(|id| to_json_value(id, ExtJsonMode::Canonical))
        .unwrap_or(Value::Null);
    documents.push(new);
    Ok(Outcome::Result(
        json!({"matchedCount": 0, "modifiedCount": 0, "upsertedId": id}),
    ))
}

fn delete(
    authorizer: &Authorizer,
    operation: &Operation,
    documents: &mut Vec<Document>,
    explain: &mut Explain,
) -> Result<Outcome, CaseError> {
    let many = operation.op == "deleteMany";
    let client_filter = optional_document(&operation.body, "filter")?.unwrap_or_default();
    let plan = authorizer.plan_query(&client_filter);
    explain.filters = plan.filters.clone();
    if let Some(error) = plan.error() {
        return Ok(refused("error", error));
    }
    let mut doomed = Vec::new();
    let mut checks = Vec::new();
    if let Some(query) = plan.query() {
        let filter = match Filter::compile(query) {
            Ok(filter) => filter,
            Err(error) => return Ok(refused("error", error.to_string())),
        };
        for (index, before) in documents.iter().enumerate() {
            match filter.matches(before) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => return Ok(refused("error", error.to_string())),
            }
            let check = authorizer.authorize_delete(before);
            if check.outcome == WriteOutcome::NotMatched {
                explain.documents.push(check.explain);
                continue;
            }
            doomed.push(index);
            checks.push(check);
            if !many {
                break;
            }
        }
    }
    let decision = WriteDecision::combine(WriteKind::Delete, checks);
    explain.documents.extend(decision.documents.clone());
    if let Some(refused) = refusal(&decision) {
        return Ok(refused);
    }
    let deleted = doomed.len();
    let mut position = 0;
    documents.retain(|_| {
        let keep = !doomed.contains(&position);
        position += 1;
        keep
    });
    Ok(Outcome::Result(json!({"deletedCount": deleted})))
}
