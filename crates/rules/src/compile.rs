//! Config to compiled rule set: every expression parsed, every query and projection checked,
//! once. The result is immutable and shared behind an `Arc`.

use std::collections::BTreeMap;
use std::sync::Arc;

use bson::{Bson, Document};
use serde_json::Value;

use crate::config::{
    AppConfig, CollectionConfig, CollectionRulesFile, DataSourceConfig, DefaultRuleFile,
    FieldConfig, FilterConfig, RoleConfig, COLLECTION_RULES_SHAPE, DEFAULT_RULE_SHAPE,
};
use crate::error::{ConfigError, ConfigErrors, Documents, JsonPath, Origin, Problems};
use crate::expr::{parse_expression, parse_operand, Expression, Operand, RequestScope, Slots};
use crate::function::FunctionSet;
use crate::schema::Schema;
use crate::shape::parse_all;

/// An app's rules, compiled: evaluate many requests against it, share it behind an `Arc`, and
/// build a new one to reload.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    data_sources: BTreeMap<String, CompiledDataSource>,
    values: Option<Bson>,
    environment: Option<Bson>,
    functions: Option<Arc<FunctionSet>>,
    empty: Arc<NamespaceRules>,
}

#[derive(Debug, Clone, Default)]
struct CompiledDataSource {
    default: Arc<NamespaceRules>,
    collections: BTreeMap<(String, String), Arc<NamespaceRules>>,
}

/// Where a namespace's roles come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoleSource {
    /// The collection's `rules.json`.
    Collection,
    /// The data source's `default_rule.json` (the collection has no roles of its own).
    Default,
    /// Neither has roles: every document is denied.
    #[default]
    None,
}

/// The compiled rules of one collection: roles (collection roles, else default roles),
/// filters and schema.
#[derive(Debug, Clone, Default)]
pub struct NamespaceRules {
    pub(crate) roles: Vec<Role>,
    pub(crate) role_source: RoleSource,
    pub(crate) filters: Vec<QueryFilter>,
    pub(crate) schema: Option<Schema>,
    /// How many tests are prepared once per request (the size of a request's `Slots`).
    pub(crate) slots: usize,
}

impl NamespaceRules {
    /// Numbers the tests prepared once per request, from 0 (every namespace has its own copy
    /// of its expressions, default roles included).
    fn number_slots(mut self) -> Self {
        let mut next = 0;
        for role in &mut self.roles {
            role.number_slots(&mut next);
        }
        for filter in &mut self.filters {
            filter.apply_when.number_slots(&mut next);
        }
        if let Some(schema) = &mut self.schema {
            schema.number_slots(&mut next);
        }
        self.slots = next;
        self
    }

    /// Where the roles come from.
    pub fn role_source(&self) -> RoleSource {
        self.role_source
    }

    /// Role names in evaluation order.
    pub fn role_names(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().map(|role| &*role.name)
    }
}

/// A compiled role.
#[derive(Debug, Clone)]
pub(crate) struct Role {
    pub(crate) name: Arc<str>,
    pub(crate) apply_when: Expression,
    pub(crate) document_filters: Option<Permission>,
    pub(crate) read: Option<Expression>,
    pub(crate) write: Option<Expression>,
    pub(crate) insert: Option<Expression>,
    pub(crate) delete: Option<Expression>,
    /// Kept for `$search`, which Rampart does not serve yet.
    #[allow(dead_code)]
    pub(crate) search: Option<Expression>,
    pub(crate) fields: Option<FieldRules>,
    pub(crate) additional_fields: Option<Permission>,
}

impl Role {
    fn number_slots(&mut self, next: &mut usize) {
        self.apply_when.number_slots(next);
        let expressions = [
            &mut self.read,
            &mut self.write,
            &mut self.insert,
            &mut self.delete,
            &mut self.search,
        ];
        for expression in expressions.into_iter().flatten() {
            expression.number_slots(next);
        }
        for permission in [&mut self.document_filters, &mut self.additional_fields]
            .into_iter()
            .flatten()
        {
            permission.number_slots(next);
        }
        if let Some(fields) = &mut self.fields {
            number_fields(fields, next);
        }
    }
}

fn number_fields(fields: &mut FieldRules, next: &mut usize) {
    for rule in fields.values_mut() {
        rule.own.number_slots(next);
        number_fields(&mut rule.fields, next);
    }
}

impl Permission {
    /// Whether `read` or `write` reads the document (or the field's value).
    pub(crate) fn reads_document(&self) -> bool {
        [&self.read, &self.write]
            .into_iter()
            .flatten()
            .any(Expression::reads_document)
    }

    /// Whether `read` or `write` refers to the field's value (`%%this`, `%%prev`).
    pub(crate) fn reads_value(&self) -> bool {
        [&self.read, &self.write]
            .into_iter()
            .flatten()
            .any(Expression::reads_value)
    }

    fn number_slots(&mut self, next: &mut usize) {
        for expression in [&mut self.read, &mut self.write].into_iter().flatten() {
            expression.number_slots(next);
        }
    }
}

/// A read/write pair (`document_filters`, `additional_fields`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Permission {
    pub(crate) read: Option<Expression>,
    pub(crate) write: Option<Expression>,
}

/// Field permissions by field name.
pub(crate) type FieldRules = BTreeMap<String, FieldRule>;

/// One field's permissions.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldRule {
    pub(crate) own: Permission,
    pub(crate) fields: FieldRules,
}

impl FieldRule {
    /// A field with read or write of its own governs its whole subtree; nested `fields` count
    /// only when it has neither.
    pub(crate) fn has_own(&self) -> bool {
        self.own.read.is_some() || self.own.write.is_some()
    }
}

/// A compiled query filter.
#[derive(Debug, Clone)]
pub(crate) struct QueryFilter {
    pub(crate) name: String,
    pub(crate) apply_when: Expression,
    pub(crate) query: Option<Operand>,
    pub(crate) projection: Option<Document>,
}

/// The user a request runs as: what `%%user` shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct User {
    /// Account id (`%%user.id`).
    pub id: String,
    /// `"normal"`, or `"server"` for API-key users (`%%user.type`).
    pub user_type: String,
    /// Provider metadata (`%%user.data`).
    pub data: Document,
    /// Custom user data (`%%user.custom_data`).
    pub custom_data: Document,
    /// Identities (`%%user.identities`).
    pub identities: Vec<Document>,
}

impl User {
    /// The `%%user` document.
    pub fn to_document(&self) -> Document {
        let identities: Vec<Bson> = self
            .identities
            .iter()
            .cloned()
            .map(Bson::Document)
            .collect();
        bson::doc! {
            "id": &self.id,
            "type": &self.user_type,
            "data": self.data.clone(),
            "custom_data": self.custom_data.clone(),
            "identities": identities,
        }
    }
}

impl RuleSet {
    /// Compiles an app's rules. Fails with every problem found, not only the first.
    pub fn compile(config: &AppConfig) -> Result<RuleSet, ConfigErrors> {
        let mut problems = Problems::default();
        let rules = RuleSet::compile_all(config, &mut problems);
        problems.finish(&Documents::new())?;
        Ok(rules)
    }

    /// Compiles what compiles and records every problem.
    ///
    /// INVARIANT: a rule set compiled with problems leaves out the roles, filters and fields
    /// that had them, so it may grant what the app does not: it is for finding more problems,
    /// and every caller returns it only when `problems` is empty.
    pub(crate) fn compile_all(config: &AppConfig, problems: &mut Problems) -> RuleSet {
        let functions = if config.functions.is_empty() {
            None
        } else {
            Some(Arc::new(FunctionSet::compile(&config.functions, problems)))
        };
        let data_sources = config
            .data_sources
            .iter()
            .map(|(service, source)| (service.clone(), compile_data_source(source, problems)))
            .collect();
        let mut values = Document::new();
        for (name, value) in &config.values {
            match rampart_mql::from_json_value(value) {
                Ok(value) => {
                    values.insert(name.clone(), value);
                }
                Err(error) => problems.push(ConfigError::invalid(
                    &format!("values/{name}.json"),
                    &JsonPath::root().key("value"),
                    error.to_string(),
                )),
            }
        }
        let environment = config.environment.as_ref().and_then(|value| {
            problems.keep(rampart_mql::from_json_value(value).map_err(|error| {
                ConfigError::invalid("environment", &JsonPath::root(), error.to_string())
            }))
        });
        RuleSet {
            data_sources,
            values: Some(Bson::Document(values)),
            environment,
            functions,
            empty: Arc::default(),
        }
    }

    /// Compiles the rules of one collection given as JSON, for callers with no app directory
    /// (tools, tests, fuzzing): `rules` is the collection's `rules.json`, `default_rule` the
    /// data source's `default_rule.json`, `schema` its `schema.json`. Errors name those files.
    pub fn from_collection_json(
        namespace: (&str, &str, &str),
        rules: Option<&Value>,
        default_rule: Option<&Value>,
        schema: Option<&Value>,
    ) -> Result<RuleSet, ConfigErrors> {
        let (service, database, collection) = namespace;
        let mut problems = Problems::default();
        let mut source = DataSourceConfig {
            default_rule: default_rule.and_then(|value| {
                parse_all::<DefaultRuleFile>(
                    "default_rule.json",
                    value,
                    &DEFAULT_RULE_SHAPE,
                    &mut problems,
                )
            }),
            default_rule_source: "default_rule.json".to_owned(),
            ..DataSourceConfig::default()
        };
        let mut rules_file = rules.and_then(|value| {
            parse_all::<CollectionRulesFile>(
                "rules.json",
                value,
                &COLLECTION_RULES_SHAPE,
                &mut problems,
            )
        });
        // The inline schema of the advanced-mode editor, unless `schema.json` is given.
        let inline_schema = rules_file.as_mut().and_then(|file| file.schema.take());
        source.collections.insert(
            (database.to_owned(), collection.to_owned()),
            CollectionConfig {
                rules: rules_file,
                rules_source: "rules.json".to_owned(),
                schema: schema.cloned().or(inline_schema),
                schema_source: "schema.json".to_owned(),
            },
        );
        let mut config = AppConfig::default();
        config.data_sources.insert(service.to_owned(), source);
        let rule_set = RuleSet::compile_all(&config, &mut problems);
        let mut documents = Documents::new();
        if problems.count() > 0 {
            // Only to sort the errors by their place in each file.
            let files = [
                ("rules.json", rules),
                ("default_rule.json", default_rule),
                ("schema.json", schema),
            ];
            for (file, value) in files {
                if let Some(value) = value {
                    documents.insert(file.to_owned(), value.clone());
                }
            }
        }
        problems.finish(&documents)?;
        Ok(rule_set)
    }

    /// The rules of `database.collection` in `service`: its own roles, else the data source's
    /// default roles, else none (every document denied).
    pub fn namespace(
        &self,
        service: &str,
        database: &str,
        collection: &str,
    ) -> Arc<NamespaceRules> {
        let Some(source) = self.data_sources.get(service) else {
            return Arc::clone(&self.empty);
        };
        source
            .collections
            .get(&(database.to_owned(), collection.to_owned()))
            .unwrap_or(&source.default)
            .clone()
    }

    /// Service names that have rules.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.data_sources.keys().map(String::as_str)
    }

    /// The expansions fixed for one request.
    pub(crate) fn request_scope(
        &self,
        user: Option<&User>,
        request: Option<Document>,
    ) -> RequestScope {
        RequestScope {
            user: user.map(|user| Bson::Document(user.to_document())),
            values: self.values.clone(),
            environment: self.environment.clone(),
            request: request.map(Bson::Document),
            functions: self.functions.clone(),
            prepared: Slots::default(),
        }
    }
}

fn compile_data_source(source: &DataSourceConfig, problems: &mut Problems) -> CompiledDataSource {
    let file = source.default_rule_source.as_str();
    let (default_roles, default_filters) = match &source.default_rule {
        None => (Vec::new(), Vec::new()),
        Some(rule) => (
            compile_roles(&rule.roles, file, problems),
            compile_filters(&rule.filters, file, problems),
        ),
    };
    let default = NamespaceRules {
        role_source: if default_roles.is_empty() {
            RoleSource::None
        } else {
            RoleSource::Default
        },
        roles: default_roles,
        filters: default_filters,
        schema: None,
        slots: 0,
    }
    .number_slots();
    let collections = source
        .collections
        .iter()
        .map(|(key, collection)| {
            let compiled = compile_collection(collection, &default, problems).number_slots();
            (key.clone(), Arc::new(compiled))
        })
        .collect();
    CompiledDataSource {
        default: Arc::new(default),
        collections,
    }
}

fn compile_collection(
    collection: &CollectionConfig,
    default: &NamespaceRules,
    problems: &mut Problems,
) -> NamespaceRules {
    let file = collection.rules_source.as_str();
    let (roles, filters) = match &collection.rules {
        None => (Vec::new(), Vec::new()),
        Some(rules) => (
            compile_roles(&rules.roles, file, problems),
            compile_filters(&rules.filters, file, problems),
        ),
    };
    let schema = collection.schema.as_ref().map(|schema| {
        Schema::compile(
            schema,
            &Origin::new(&collection.schema_source, JsonPath::root()),
            problems,
        )
    });
    // No fallback: collection roles, if any, are the only roles. Without them the collection
    // uses the default roles and its filters add to the default filters.
    if roles.is_empty() {
        NamespaceRules {
            roles: default.roles.clone(),
            role_source: default.role_source,
            filters: filters
                .into_iter()
                .chain(default.filters.iter().cloned())
                .collect(),
            schema,
            slots: 0,
        }
    } else {
        NamespaceRules {
            roles,
            role_source: RoleSource::Collection,
            filters,
            schema,
            slots: 0,
        }
    }
}

/// The roles that compile; every problem of every role is recorded.
fn compile_roles(roles: &[RoleConfig], file: &str, problems: &mut Problems) -> Vec<Role> {
    let mut compiled: Vec<Role> = Vec::with_capacity(roles.len());
    for (index, role) in roles.iter().enumerate() {
        let at = Origin::new(file, JsonPath::root().key("roles").index(index));
        let found = problems.count();
        if role.name.is_empty() || role.name.chars().count() > 100 {
            problems.push(
                at.key("name")
                    .error("a role name must have 1 to 100 characters"),
            );
        } else if roles
            .iter()
            .take(index)
            .any(|other| other.name == role.name)
        {
            problems.push(
                at.key("name")
                    .error(format!("duplicate role name `{}`", role.name)),
            );
        }
        let role = compile_role(role, &at, problems);
        if problems.count() == found {
            compiled.extend(role);
        }
    }
    compiled
}

/// An optional expression; `None` when absent or when it does not parse (recorded).
fn optional(value: Option<&Value>, at: &Origin<'_>, problems: &mut Problems) -> Option<Expression> {
    value.and_then(|value| problems.keep(parse_expression(value, at)))
}

/// The role, unless part of it does not compile (every such part recorded).
fn compile_role(role: &RoleConfig, at: &Origin<'_>, problems: &mut Problems) -> Option<Role> {
    let found = problems.count();
    let apply_when = match &role.apply_when {
        None => Some(Expression::always()),
        Some(value) => problems.keep(parse_expression(value, &at.key("apply_when"))),
    };
    let document_filters = role.document_filters.as_ref().map(|filters| {
        let at = at.key("document_filters");
        Permission {
            read: optional(filters.read.as_ref(), &at.key("read"), problems),
            write: optional(filters.write.as_ref(), &at.key("write"), problems),
        }
    });
    let read = optional(role.read.as_ref(), &at.key("read"), problems);
    let write = optional(role.write.as_ref(), &at.key("write"), problems);
    let insert = optional(role.insert.as_ref(), &at.key("insert"), problems);
    let delete = optional(role.delete.as_ref(), &at.key("delete"), problems);
    let search = optional(role.search.as_ref(), &at.key("search"), problems);
    let fields = role
        .fields
        .as_ref()
        .map(|fields| compile_fields(fields, &at.key("fields"), problems));
    let additional_fields = role.additional_fields.as_ref().map(|additional| {
        let at = at.key("additional_fields");
        Permission {
            read: optional(additional.read.as_ref(), &at.key("read"), problems),
            write: optional(additional.write.as_ref(), &at.key("write"), problems),
        }
    });
    if problems.count() > found {
        return None;
    }
    Some(Role {
        name: role.name.as_str().into(),
        apply_when: apply_when?,
        document_filters,
        read,
        write,
        insert,
        delete,
        search,
        fields,
        additional_fields,
    })
}

/// The fields that compile; every problem of every field is recorded.
fn compile_fields(
    fields: &BTreeMap<String, FieldConfig>,
    at: &Origin<'_>,
    problems: &mut Problems,
) -> FieldRules {
    let mut compiled = FieldRules::new();
    for (name, field) in fields {
        let here = at.key(name);
        let found = problems.count();
        if name.is_empty() || name.contains('.') || name.starts_with('$') {
            problems.push(here.error(format!(
                "field name `{name}` must be one plain name (nest embedded fields under `fields`)"
            )));
        }
        let nested = match &field.fields {
            None => FieldRules::new(),
            Some(nested) => compile_fields(nested, &here.key("fields"), problems),
        };
        let own = Permission {
            read: optional(field.read.as_ref(), &here.key("read"), problems),
            write: optional(field.write.as_ref(), &here.key("write"), problems),
        };
        if problems.count() == found {
            compiled.insert(
                name.clone(),
                FieldRule {
                    own,
                    fields: nested,
                },
            );
        }
    }
    compiled
}

/// The filters that compile; every problem of every filter is recorded.
fn compile_filters(
    filters: &[FilterConfig],
    file: &str,
    problems: &mut Problems,
) -> Vec<QueryFilter> {
    filters
        .iter()
        .enumerate()
        .filter_map(|(index, filter)| {
            compile_filter(
                filter,
                &Origin::new(file, JsonPath::root().key("filters").index(index)),
                problems,
            )
        })
        .collect()
}

fn compile_filter(
    filter: &FilterConfig,
    at: &Origin<'_>,
    problems: &mut Problems,
) -> Option<QueryFilter> {
    let found = problems.count();
    let apply_when = match &filter.apply_when {
        None => Some(Expression::always()),
        Some(value) => problems.keep(parse_expression(value, &at.key("apply_when"))),
    };
    if apply_when
        .as_ref()
        .is_some_and(|apply_when| apply_when.reads_document())
    {
        // Filters run before any document is read.
        problems.push(at.key("apply_when").error(
            "a filter's `apply_when` cannot use `%%root`, `%%prevRoot`, `%%this`, `%%prev` or field names",
        ));
    }
    let query = problems.keep(compile_query(filter.query.as_ref(), &at.key("query")));
    let projection = match &filter.projection {
        None => None,
        Some(Value::Object(map)) if map.is_empty() => None,
        Some(value) => problems.keep(compile_projection(value, &at.key("projection"))),
    };
    if problems.count() > found {
        return None;
    }
    Some(QueryFilter {
        name: filter.name.clone(),
        apply_when: apply_when?,
        query: query?,
        projection,
    })
}

fn compile_query(query: Option<&Value>, at: &Origin<'_>) -> Result<Option<Operand>, ConfigError> {
    match query {
        None => Ok(None),
        Some(Value::Object(map)) if map.is_empty() => Ok(None),
        Some(value @ Value::Object(_)) => {
            let operand = parse_operand(value, at)?;
            if operand_reads_document(&operand) {
                return Err(at.error("a filter's query cannot refer to the document"));
            }
            Ok(Some(operand))
        }
        Some(_) => Err(at.error("a filter's query must be an object")),
    }
}

fn operand_reads_document(operand: &Operand) -> bool {
    operand.reads_document()
}

fn compile_projection(value: &Value, at: &Origin<'_>) -> Result<Document, ConfigError> {
    let Value::Object(map) = value else {
        return Err(at.error("a projection must be an object"));
    };
    let mut projection = Document::new();
    for (key, item) in map {
        let include = match item {
            Value::Bool(flag) => *flag,
            Value::Number(number) if number.as_f64() == Some(1.0) => true,
            Value::Number(number) if number.as_f64() == Some(0.0) => false,
            _ => {
                return Err(at
                    .key(key)
                    .error("projection values must be 0, 1, true or false"))
            }
        };
        projection.insert(key.clone(), i32::from(include));
    }
    rampart_mql::Projection::compile(&projection).map_err(|error| at.error(error.to_string()))?;
    Ok(projection)
}
