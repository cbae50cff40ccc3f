//! The decision API: one `Authorizer` per request and namespace. It answers, for reads, the
//! query to push down and, per returned document, the role and the redacted document; for
//! writes, given the before and after images of each touched document, allow or deny with the
//! reason. Decisions are values: evaluation errors are recorded and never grant access.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use bson::{Bson, Document, RawDocument, RawDocumentBuf};
use rampart_mql::{to_json_value, ExtJsonMode, Filter, Projection};

use crate::compile::{NamespaceRules, Permission, Role, RuleSet, User};
use crate::explain::{DocumentExplain, FilterExplain, RoleTrial};
use crate::expr::{Budget, Expression, Image, RawImage, RequestScope, Scope, Slots, Translation};
use crate::lean::LeanPlan;
use crate::static_fields::FieldTable;

/// Decides one request's reads and writes on one namespace.
#[derive(Debug, Clone)]
pub struct Authorizer {
    pub(crate) rules: Arc<NamespaceRules>,
    pub(crate) scope: RequestScope,
    /// Per role, its `apply_when` decided once for the request when it does not read the
    /// document.
    pub(crate) gates: Vec<Gate>,
    /// Whether explanations record the parts that cost per role or per field.
    pub(crate) explanations: bool,
    /// Per role, its field permissions decided once for the request (lean reads only).
    static_fields: Vec<OnceLock<Option<FieldTable>>>,
    /// Lean reads decided with what the request fixes, when its roles allow (built on the
    /// first lean read).
    lean: OnceLock<Option<LeanPlan>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Gate {
    /// With, once the first document needs them, the filters to match the stored document
    /// with when the gate is made of them (see [`Expression::root_filters`]): matching them
    /// per document skips the expression's structure and each test's preparation lookup.
    /// Built on first use, not with the authorizer, so that a request that reads no document
    /// (or stops at an earlier role) prepares nothing for the gate.
    PerDocument(OnceLock<Option<Vec<Filter>>>),
    Decided(bool),
    Failed(String),
}

/// The result of evaluating an optional permission: undefined is not false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tri {
    Undefined,
    True,
    False,
}

/// The documents an expression sees.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Images<'a> {
    pub(crate) root: Option<Image<'a>>,
    pub(crate) prev_root: Option<Image<'a>>,
    pub(crate) this: Option<&'a Bson>,
    pub(crate) prev: Option<&'a Bson>,
}

impl<'a> Images<'a> {
    pub(crate) fn document(root: Option<&'a Document>, prev_root: Option<&'a Document>) -> Self {
        Images {
            root: root.map(Image::Decoded),
            prev_root: prev_root.map(Image::Decoded),
            this: None,
            prev: None,
        }
    }

    /// A stored document being read: it is both `%%root` and `%%prevRoot`.
    pub(crate) fn stored(image: Image<'a>) -> Self {
        Images {
            root: Some(image),
            prev_root: Some(image),
            this: None,
            prev: None,
        }
    }

    pub(crate) fn field(self, this: Option<&'a Bson>, prev: Option<&'a Bson>) -> Self {
        Images { this, prev, ..self }
    }
}

impl RuleSet {
    /// An authorizer for one request by `user` (`None`: no user, only rules that do not read
    /// `%%user` can apply) on `database.collection` of `service`. `request` holds the
    /// `%%request` values.
    pub fn authorizer(
        &self,
        service: &str,
        database: &str,
        collection: &str,
        user: Option<&User>,
        request: Option<Document>,
    ) -> Authorizer {
        let rules = self.namespace(service, database, collection);
        let mut scope = self.request_scope(user, request);
        scope.prepared = Slots::new(rules.slots);
        let gates = rules
            .roles
            .iter()
            .map(|role| request_gate(&role.apply_when, &scope))
            .collect();
        let static_fields = rules.roles.iter().map(|_| OnceLock::new()).collect();
        Authorizer {
            rules,
            scope,
            gates,
            explanations: true,
            static_fields,
            lean: OnceLock::new(),
        }
    }
}

fn request_gate(expression: &Expression, scope: &RequestScope) -> Gate {
    if expression.reads_document() {
        return Gate::PerDocument(OnceLock::new());
    }
    match expression.evaluate(&Scope::request_only(scope), &Budget::default()) {
        Ok(holds) => Gate::Decided(holds),
        Err(error) => Gate::Failed(error.to_string()),
    }
}

/// Where the query of a read or write comes from after filters.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    query: Option<Document>,
    projection: Option<Projection>,
    projection_spec: Option<Document>,
    /// Each filter and whether it applied.
    pub filters: Vec<FilterExplain>,
    /// The roles' condition ANDed into the query ([`Authorizer::plan_read`]); `None` when
    /// none was (see `role_pushdown_skipped`). `{"_id": {"$in": []}}` when no role can grant
    /// this user a read, and the query is then `None`.
    pub role_pushdown: Option<Document>,
    /// Why no role condition was pushed down, when none was.
    pub role_pushdown_skipped: Option<String>,
    error: Option<String>,
}

impl QueryPlan {
    /// The query to run: the client's ANDed with every applied filter's query (and, from
    /// [`Authorizer::plan_read`], the roles' condition). `None` when it can match nothing (an
    /// expansion in a filter query had no value, or no role can grant a read).
    pub fn query(&self) -> Option<&Document> {
        self.query.as_ref()
    }

    /// The merged projection of the applied filters, applied after redaction.
    pub fn projection(&self) -> Option<&Document> {
        self.projection_spec.as_ref()
    }

    /// Why the request must fail (a filter could not be evaluated, projections conflict).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Applies the filters' projection to a (redacted) document.
    pub fn project(&self, document: Document) -> Result<Document, String> {
        match &self.projection {
            None => Ok(document),
            Some(projection) => projection
                .apply(&document, None)
                .map_err(|error| error.to_string()),
        }
    }
}

/// Why a document with no readable field left is withheld.
const NO_READABLE_FIELD: &str = "the role can read no field of this document";

/// Why a document no role applies to is withheld.
pub(crate) const NO_ROLE: &str = "no role applies";

/// A read decision for one document.
#[derive(Debug, Clone)]
pub struct ReadDecision {
    /// The document with unreadable fields removed; `None` when it is withheld.
    pub document: Option<Document>,
    /// Why.
    pub explain: DocumentExplain,
}

impl ReadDecision {
    fn withheld(explain: DocumentExplain) -> Self {
        ReadDecision {
            document: None,
            explain,
        }
    }
}

/// A read decision for one stored document's bytes ([`Authorizer::read_raw`]).
#[derive(Debug, Clone)]
pub struct RawReadDecision<'d> {
    /// The readable part: the stored bytes themselves when nothing was withheld, else a copy
    /// of the readable elements; `None` when the document is withheld.
    pub document: Option<Cow<'d, RawDocument>>,
    /// Why.
    pub explain: DocumentExplain,
    /// Set when the stored bytes are malformed (the document is then withheld): a caller
    /// should report it rather than quietly leave the document out.
    pub malformed: Option<String>,
}

impl RawReadDecision<'_> {
    fn withheld(explain: DocumentExplain) -> Self {
        RawReadDecision {
            document: None,
            explain,
            malformed: None,
        }
    }
}

/// What [`Authorizer::read_raw_into`] shows of a stored document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawVisible {
    /// Nothing: the document is withheld (the explanation says why).
    Withheld,
    /// Every field: the stored bytes are the answer.
    Whole,
    /// A redacted copy, appended to the caller's buffer at this offset (its length prefix
    /// says where it ends: a caller may append several answers to one buffer).
    Copied(usize),
}

/// A read decision for one stored document's bytes, its copy in the caller's buffer
/// ([`Authorizer::read_raw_into`]).
#[derive(Debug, Clone)]
pub struct RawReadInto {
    /// What is shown.
    pub visible: RawVisible,
    /// Why.
    pub explain: DocumentExplain,
    /// Set when the stored bytes are malformed (the document is then withheld): a caller
    /// should report it rather than quietly leave the document out.
    pub malformed: Option<String>,
}

impl RawVisible {
    /// The document shown: `stored` itself, or the copy in `out` (the buffer given to
    /// [`Authorizer::read_raw_into`]); `None` when withheld.
    pub fn document<'a>(self, stored: &'a RawDocument, out: &'a [u8]) -> Option<&'a RawDocument> {
        match self {
            RawVisible::Withheld => None,
            RawVisible::Whole => Some(stored),
            RawVisible::Copied(start) => {
                let prefix: [u8; 4] = out.get(start..start + 4)?.try_into().ok()?;
                let length = usize::try_from(i32::from_le_bytes(prefix)).ok()?;
                RawDocument::from_bytes(out.get(start..start + length)?).ok()
            }
        }
    }
}

impl RawReadInto {
    pub(crate) fn withheld(explain: DocumentExplain) -> Self {
        RawReadInto {
            visible: RawVisible::Withheld,
            explain,
            malformed: None,
        }
    }
}

impl Authorizer {
    /// Leaves out of each document's explanation the parts that cost an allocation per role
    /// or per field: `id`, `roles_tried` and `withheld_fields`. Decisions do not change, and
    /// `role`, `access`, `failed_check` and `diagnostics` are still recorded. For callers
    /// that do not show per-document explanations (the Data API unless asked to explain).
    pub fn without_explanations(mut self) -> Self {
        self.explanations = false;
        self
    }

    /// The compiled rules this authorizer applies.
    pub fn rules(&self) -> &NamespaceRules {
        &self.rules
    }

    /// Applies the filters to the client's query (reads, updates and deletes alike). Role
    /// conditions are not pushed down: an update or delete must also meet the documents a role
    /// may write or delete but not read (and a denied one fails the whole request), so only
    /// [`Authorizer::plan_read`] narrows by role.
    pub fn plan_query(&self, client_query: &Document) -> QueryPlan {
        let mut plan = self.plan_filters(client_query, Vec::new());
        plan.role_pushdown_skipped =
            Some("role conditions are pushed down for reads only".to_owned());
        plan
    }

    /// [`Authorizer::plan_query`] for a read (`find`, `findOne`, `aggregate`, `count`): the
    /// query also carries the roles' condition, so the store returns only documents some role
    /// may let this user read (a superset: every document [`Authorizer::read`] would return
    /// is still matched). When it cannot be expressed as a query, `role_pushdown_skipped`
    /// says why and the read scans as with `plan_query`.
    pub fn plan_read(&self, client_query: &Document) -> QueryPlan {
        let condition =
            crate::pushdown::read_condition(&self.rules.roles, &self.gates, &self.scope);
        let (clauses, pushdown, skipped, nothing) = match condition {
            Translation::Query(query) => (
                vec![Bson::Document(query.clone())],
                Some(query),
                None,
                false,
            ),
            Translation::Nothing => (
                Vec::new(),
                Some(bson::doc! {"_id": {"$in": []}}),
                None,
                true,
            ),
            Translation::Everything(reason) => (
                Vec::new(),
                None,
                Some(reason.unwrap_or_else(|| "no role condition restricts the read".to_owned())),
                false,
            ),
        };
        let mut plan = self.plan_filters(client_query, clauses);
        plan.role_pushdown = pushdown;
        plan.role_pushdown_skipped = skipped;
        if nothing {
            plan.query = None;
        }
        plan
    }

    /// Applies the filters, then ANDs `extra` clauses into the query.
    fn plan_filters(&self, client_query: &Document, extra: Vec<Bson>) -> QueryPlan {
        let mut plan = QueryPlan {
            query: None,
            projection: None,
            projection_spec: None,
            filters: Vec::new(),
            role_pushdown: None,
            role_pushdown_skipped: None,
            error: None,
        };
        let budget = Budget::default();
        let scope = Scope::request_only(&self.scope);
        let mut clauses: Vec<Bson> = Vec::new();
        let mut projections: Vec<&Document> = Vec::new();
        let mut matches_nothing = false;
        for filter in &self.rules.filters {
            let mut explain = FilterExplain {
                name: filter.name.clone(),
                ..FilterExplain::default()
            };
            match filter.apply_when.evaluate(&scope, &budget) {
                Ok(true) => explain.applied = true,
                Ok(false) => {}
                Err(error) => {
                    // A filter restricts: skipping one that errs would widen access.
                    let message =
                        format!("filter `{}` could not be evaluated: {error}", filter.name);
                    explain.error = Some(error.to_string());
                    plan.error.get_or_insert(message);
                }
            }
            if explain.applied {
                if let Some(query) = &filter.query {
                    match query.resolve(&scope, &budget) {
                        Ok(Some(Bson::Document(query))) => clauses.push(Bson::Document(query)),
                        Ok(_) => matches_nothing = true,
                        Err(error) => {
                            plan.error.get_or_insert(format!(
                                "filter `{}` query could not be evaluated: {error}",
                                filter.name
                            ));
                        }
                    }
                }
                if let Some(projection) = &filter.projection {
                    projections.push(projection);
                }
            }
            plan.filters.push(explain);
        }
        if !matches_nothing {
            clauses.extend(extra);
            plan.query = Some(merge_queries(client_query, clauses));
        }
        match merge_projections(&projections) {
            Ok(None) => {}
            Ok(Some((spec, compiled))) => {
                plan.projection = Some(compiled);
                plan.projection_spec = Some(spec);
            }
            Err(message) => {
                plan.error.get_or_insert(message);
            }
        }
        plan
    }

    /// Decides a read of one stored document: its role, then document filters, then
    /// document- and field-level read. Unreadable fields are removed in place; a document
    /// left with no readable field is withheld.
    pub fn read(&self, mut document: Document) -> ReadDecision {
        let budget = Budget::default();
        let mut explain = self.new_explain(&document);
        let removals = {
            let images = Images::document(Some(&document), Some(&document));
            match self.read_role(images, &budget, &mut explain) {
                None => return ReadDecision::withheld(explain),
                Some((_, _, true)) => crate::redact::Removals::default(),
                Some((_, role, false)) => {
                    crate::redact::unreadable_fields(self, role, &document, &budget, &mut explain)
                }
            }
        };
        if !removals.is_empty() {
            crate::redact::remove(&mut document, &removals);
        }
        if document.is_empty() {
            explain.failed_check = Some(NO_READABLE_FIELD.to_owned());
            return ReadDecision::withheld(explain);
        }
        ReadDecision {
            document: Some(document),
            explain,
        }
    }

    /// [`Authorizer::read`] on a stored document's BSON bytes, the same decision without
    /// decoding it: role and permission tests match the bytes, and the answer is the stored
    /// bytes themselves when nothing is withheld, else a copy of the readable elements.
    /// Values are decoded only for an expression that needs them (`%%this`, `%%root` as a
    /// value, `%function` arguments). Malformed bytes withhold the document.
    pub fn read_raw<'d>(&self, document: &'d RawDocument) -> RawReadDecision<'d> {
        let mut copy = Vec::new();
        let RawReadInto {
            visible,
            explain,
            malformed,
        } = self.read_raw_into(document, &mut copy);
        let document = match visible {
            RawVisible::Withheld => None,
            RawVisible::Whole => Some(Cow::Borrowed(document)),
            // The copy is the whole buffer.
            RawVisible::Copied(_) => match RawDocumentBuf::from_bytes(copy) {
                Ok(copy) => Some(Cow::Owned(copy)),
                Err(error) => {
                    let message = format!("redacted copy: {error}");
                    return RawReadDecision {
                        malformed: Some(message),
                        ..RawReadDecision::withheld(explain)
                    };
                }
            },
        };
        RawReadDecision {
            document,
            explain,
            malformed,
        }
    }

    /// [`Authorizer::read_raw`] with the redacted copy appended to `out`, a buffer the caller
    /// reuses from document to document (or fills with a page of answers): no allocation per
    /// document once the buffer has grown. On [`RawVisible::Whole`] and
    /// [`RawVisible::Withheld`], `out` is left as it was.
    pub fn read_raw_into(&self, document: &RawDocument, out: &mut Vec<u8>) -> RawReadInto {
        // Filled in place and returned as is: the answer is large, and moving it from
        // function to function was a copy per document.
        let mut read = RawReadInto::withheld(DocumentExplain::default());
        if let Some(plan) = self.lean_plan() {
            if plan.read(self, document, out, &mut read) {
                return read;
            }
        }
        read.explain = self.new_explain_raw(document);
        let start = out.len();
        let budget = Budget::default();
        let image = RawImage::new(document);
        let images = Images::stored(Image::Raw(&image));
        let explain = &mut read.explain;
        let copied = match self.read_role(images, &budget, explain) {
            None => return read,
            Some((_, _, true)) => Ok(false),
            Some((index, role, false)) => self
                .static_fields(index, role)
                .and_then(|table| {
                    crate::static_fields::visible(table, self, document, &budget, out)
                })
                .map(|copied| copied.map_err(|error| *error))
                .unwrap_or_else(|| {
                    crate::redact::visible_raw(self, role, images, document, &budget, explain, out)
                }),
        };
        finish_raw(copied, start, document, out, &mut read);
        read
    }

    /// The plan of lean reads, built on first use; `None` with explanations on, or when a
    /// role needs the general path (see [`LeanPlan::of`]).
    fn lean_plan(&self) -> Option<&LeanPlan> {
        if self.explanations {
            return None;
        }
        self.lean.get_or_init(|| LeanPlan::of(self)).as_ref()
    }

    /// The role for a read (and its position) and whether it reads the whole document
    /// (`false`: field by field);
    /// `None` when the document is withheld, with the reason in `explain`.
    fn read_role(
        &self,
        images: Images<'_>,
        budget: &Budget,
        explain: &mut DocumentExplain,
    ) -> Option<(usize, &Role, bool)> {
        let Some((index, role)) = self
            .choose_role_index(images, budget, explain)
            .and_then(|index| Some((index, self.rules.roles.get(index)?)))
        else {
            explain.failed_check = Some(NO_ROLE.to_owned());
            return None;
        };
        match self.read_access(role, images, budget, explain) {
            Access::Full => Some((index, role, true)),
            Access::None(reason) => {
                explain.access = Some("none");
                explain.failed_check = Some(reason);
                None
            }
            Access::Fields => {
                explain.access = Some("fields");
                Some((index, role, false))
            }
        }
    }

    /// The field table of the role at `index` for lean reads, built on first use; `None`
    /// with explanations on, or when the role's field permissions depend on the document.
    pub(crate) fn static_fields(&self, index: usize, role: &Role) -> Option<&FieldTable> {
        if self.explanations {
            return None;
        }
        self.static_fields
            .get(index)?
            .get_or_init(|| FieldTable::of(self, role))
            .as_ref()
    }

    fn new_explain_raw(&self, document: &RawDocument) -> DocumentExplain {
        if !self.explanations {
            return DocumentExplain::default();
        }
        DocumentExplain {
            id: document
                .get("_id")
                .ok()
                .flatten()
                .and_then(|id| Bson::try_from(id).ok())
                .map(|id| to_json_value(&id, ExtJsonMode::Canonical)),
            ..DocumentExplain::default()
        }
    }

    pub(crate) fn new_explain(&self, document: &Document) -> DocumentExplain {
        if !self.explanations {
            return DocumentExplain::default();
        }
        DocumentExplain {
            id: document
                .get("_id")
                .map(|id| to_json_value(id, ExtJsonMode::Canonical)),
            ..DocumentExplain::default()
        }
    }

    /// The first role whose `apply_when` holds for `images`; none when no role holds or when a
    /// role's `apply_when` fails to evaluate before one holds.
    pub(crate) fn choose_role(
        &self,
        images: Images<'_>,
        budget: &Budget,
        explain: &mut DocumentExplain,
    ) -> Option<&Role> {
        self.choose_role_index(images, budget, explain)
            .and_then(|index| self.rules.roles.get(index))
    }

    /// [`Authorizer::choose_role`], by the role's position.
    fn choose_role_index(
        &self,
        images: Images<'_>,
        budget: &Budget,
        explain: &mut DocumentExplain,
    ) -> Option<usize> {
        for (index, (role, gate)) in self.rules.roles.iter().zip(&self.gates).enumerate() {
            let (outcome, per_request) = match gate {
                Gate::Decided(holds) => (Ok(*holds), true),
                Gate::Failed(error) => (Err(error.clone()), true),
                Gate::PerDocument(filters) => {
                    // A gate made of filters on the document is matched directly; a failing
                    // match is left to the evaluation, which records the error.
                    let filters = filters.get_or_init(|| role.apply_when.root_filters(&self.scope));
                    let outcome = role
                        .apply_when
                        .evaluate_matching(filters.as_deref(), &self.scope(images), budget)
                        .map_err(|error| error.to_string());
                    (outcome, false)
                }
            };
            if self.explanations {
                explain.roles_tried.push(RoleTrial {
                    role: role.name.to_string(),
                    applied: outcome == Ok(true),
                    per_request,
                    error: outcome.as_ref().err().cloned(),
                });
            }
            match outcome {
                Ok(true) => {
                    explain.role = Some(role.name.clone());
                    return Some(index);
                }
                Ok(false) => {}
                Err(error) => {
                    explain
                        .diagnostics
                        .push(format!("role `{}` apply_when: {error}", role.name));
                    // INVARIANT: an erroring `apply_when` ends the choice with no role. Trying
                    // the next role instead could hand the document to a broader role that the
                    // erroring one was written to shadow: fail closed.
                    return None;
                }
            }
        }
        None
    }

    pub(crate) fn scope<'a>(&'a self, images: Images<'a>) -> Scope<'a> {
        Scope {
            request: &self.scope,
            root: images.root,
            prev_root: images.prev_root,
            this: images.this,
            prev: images.prev,
        }
    }

    /// Evaluates an optional permission; an error counts as false and is recorded.
    pub(crate) fn permission(
        &self,
        expression: Option<&Expression>,
        images: Images<'_>,
        budget: &Budget,
        explain: &mut DocumentExplain,
        what: &dyn Fn() -> String,
    ) -> Tri {
        let Some(expression) = expression else {
            return Tri::Undefined;
        };
        match expression.evaluate(&self.scope(images), budget) {
            Ok(true) => Tri::True,
            Ok(false) => Tri::False,
            Err(error) => {
                explain.diagnostics.push(format!("{}: {error}", what()));
                Tri::False
            }
        }
    }

    /// `document_filters`: whether the role may see the document at all (read, or write
    /// which implies read). `None` when the role has no document filters.
    pub(crate) fn document_visible(
        &self,
        role: &Role,
        images: Images<'_>,
        budget: &Budget,
        explain: &mut DocumentExplain,
    ) -> Option<bool> {
        let filters = role.document_filters.as_ref()?;
        Some(self.either(filters, images, budget, explain, &|| {
            "document_filters".to_owned()
        }))
    }

    /// True when the permission's read or write holds (write implies read).
    pub(crate) fn either(
        &self,
        permission: &Permission,
        images: Images<'_>,
        budget: &Budget,
        explain: &mut DocumentExplain,
        what: &dyn Fn() -> String,
    ) -> bool {
        let read = self.permission(permission.read.as_ref(), images, budget, explain, &|| {
            format!("{}.read", what())
        });
        read == Tri::True
            || self.permission(permission.write.as_ref(), images, budget, explain, &|| {
                format!("{}.write", what())
            }) == Tri::True
    }

    fn read_access(
        &self,
        role: &Role,
        images: Images<'_>,
        budget: &Budget,
        explain: &mut DocumentExplain,
    ) -> Access {
        let access = access(role, |expression, what| {
            Some(self.permission(expression, images, budget, explain, &|| what.to_owned()))
        })
        // The evaluation above always answers; were it not to, nothing is shown.
        .unwrap_or_else(|| Access::None("the role's access could not be decided".to_owned()));
        if matches!(access, Access::Full) {
            explain.access = Some("full");
        }
        access
    }
}

/// Completes `read`, the answer of a read of `document` whose redaction gave `copied` (a copy
/// appended to `out` from `start`, or nothing withheld): withheld when the bytes are
/// malformed or no field is left.
pub(crate) fn finish_raw(
    copied: Result<bool, rampart_mql::MqlError>,
    start: usize,
    document: &RawDocument,
    out: &mut Vec<u8>,
    read: &mut RawReadInto,
) {
    let visible = match copied {
        Ok(false) => RawVisible::Whole,
        Ok(true) => RawVisible::Copied(start),
        Err(error) => {
            out.truncate(start);
            let message = format!("malformed stored document: {error}");
            read.explain.failed_check = Some(message.clone());
            read.malformed = Some(message);
            return;
        }
    };
    // A length prefix and a terminator: no element.
    let empty = match visible {
        RawVisible::Copied(start) => out.len() - start <= 5,
        _ => document.as_bytes().len() <= 5,
    };
    if empty {
        out.truncate(start);
        read.explain.failed_check = Some(NO_READABLE_FIELD.to_owned());
        return;
    }
    read.visible = visible;
}

/// The access `role` gives to a document, from `evaluate` (a permission's outcome, given
/// the permission's name for its diagnostics); `None` when `evaluate` gives none.
pub(crate) fn access(
    role: &Role,
    mut evaluate: impl FnMut(Option<&Expression>, &'static str) -> Option<Tri>,
) -> Option<Access> {
    if let Some(filters) = &role.document_filters {
        // Write implies read.
        let visible = evaluate(filters.read.as_ref(), "document_filters.read")? == Tri::True
            || evaluate(filters.write.as_ref(), "document_filters.write")? == Tri::True;
        if !visible {
            return Some(Access::None(
                "document_filters: neither read nor write holds".to_owned(),
            ));
        }
    }
    let read = evaluate(role.read.as_ref(), "read")?;
    if read == Tri::True || evaluate(role.write.as_ref(), "write")? == Tri::True {
        return Some(Access::Full);
    }
    if read == Tri::False {
        return Some(Access::None(
            "read is false and write does not hold".to_owned(),
        ));
    }
    if role.fields.is_none() && role.additional_fields.is_none() {
        return Some(Access::None(
            "the role grants no read (no read, write, fields or additional_fields)".to_owned(),
        ));
    }
    Some(Access::Fields)
}

pub(crate) enum Access {
    Full,
    Fields,
    None(String),
}

fn merge_queries(client: &Document, clauses: Vec<Bson>) -> Document {
    if clauses.is_empty() {
        return client.clone();
    }
    if client.is_empty() && clauses.len() == 1 {
        if let Some(Bson::Document(only)) = clauses.first() {
            return only.clone();
        }
    }
    let mut all = Vec::with_capacity(clauses.len() + 1);
    if !client.is_empty() {
        all.push(Bson::Document(client.clone()));
    }
    all.extend(clauses);
    bson::doc! {"$and": all}
}

/// Merges the applied filters' projections; they must all include or all exclude.
fn merge_projections(projections: &[&Document]) -> Result<Option<(Document, Projection)>, String> {
    if projections.is_empty() {
        return Ok(None);
    }
    let mut inclusion: Option<bool> = None;
    let mut merged = Document::new();
    for projection in projections {
        let compiled = Projection::compile(projection).map_err(|error| error.to_string())?;
        let kind = compiled.is_inclusion();
        if inclusion.is_some_and(|previous| previous != kind) {
            return Err("inclusive and exclusive filter projections cannot be combined".to_owned());
        }
        inclusion = Some(kind);
        for (key, value) in projection.iter() {
            merged.insert(key.clone(), value.clone());
        }
    }
    let compiled = Projection::compile(&merged).map_err(|error| error.to_string())?;
    Ok(Some((merged, compiled)))
}
