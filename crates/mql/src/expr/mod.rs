//! Aggregation expressions: field paths, variables, operators.
//!
//! An expression compiles once into a tree of [`Node`]s with operator names, arities, field
//! paths and variable slots resolved; evaluation walks the tree without looking at strings.

mod arith;
mod array;
mod compile;
mod convert;
mod date;
mod multi;
mod object;
mod quantile;
mod string;

use std::collections::BTreeMap;

use bson::{Bson, Document};

use crate::error::{MqlError, Result};
use crate::random::Random;

pub(crate) use arith::{add_numbers, extreme_of, integral, Num, Total};
pub(crate) use array::ValueSet;

pub(crate) use compile::Compiler;
pub(crate) use date::{add_in_utc, is_time_unit};
pub(crate) use multi::{validate_n, Pick, PickN};
pub(crate) use object::merge_into;
pub(crate) use quantile::{accumulator_input, sample, Quantiles};

/// A compiled aggregation expression.
#[derive(Debug, Clone)]
pub struct Expr {
    node: Node,
}

/// User variables (`let`) and system values visible to an expression (`$$NOW`); `$$ROOT` and
/// `$$CURRENT` come from the document being evaluated. Also the source of random numbers for
/// `$rand`, `$sampleRate` and `$sample`.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    /// `None`: defined, with a missing value (a `let` of a field path to nothing).
    values: BTreeMap<String, Option<Bson>>,
    now: Option<bson::DateTime>,
    /// The generator of random numbers, shared by clones (see [`Variables::with_seed`]);
    /// `None`: each random number comes from fresh randomness, until [`Variables::pinned`]
    /// starts a generator for a run.
    random: Option<Random>,
}

impl Variables {
    /// No user variables; `$$NOW` is the time of the first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the user variable `name` (without `$$`).
    pub fn with(self, name: impl Into<String>, value: Bson) -> Self {
        self.with_optional(name, Some(value))
    }

    /// [`Variables::with`] for a value that may be missing (`None`), which `$$name` then is,
    /// as a `let` of a field path to nothing makes it: missing differs from `null`.
    pub fn with_optional(mut self, name: impl Into<String>, value: Option<Bson>) -> Self {
        self.values.insert(name.into(), value);
        self
    }

    /// Fixes `$$NOW` (and `$currentDate`) to `now`.
    pub fn with_now(mut self, now: bson::DateTime) -> Self {
        self.now = Some(now);
        self
    }

    /// The user variable `name`, if set to a value (not missing).
    pub fn get(&self, name: &str) -> Option<&Bson> {
        self.values.get(name)?.as_ref()
    }

    /// `$$NOW`: the fixed time if one was set, else the current time.
    pub fn now(&self) -> bson::DateTime {
        self.now.unwrap_or_else(bson::DateTime::now)
    }

    /// Fixes the random numbers `$rand`, `$sampleRate` and `$sample` draw: one generator,
    /// started from `seed` and shared by these variables and their clones, so that the same
    /// seed given to the same calls in the same order gives the same numbers. Without a seed
    /// they are unpredictable.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.random = Some(Random::seeded(seed));
        self
    }

    /// The variables of one run: `$$NOW` fixed, so that every document sees the same time,
    /// and one generator of random numbers for the whole run (the seeded one, if any, else
    /// a new one). Pinning pinned variables changes nothing, so that a run's sub-pipelines
    /// share its time and its sequence of random numbers.
    pub fn pinned(&self) -> Variables {
        let mut pinned = self.clone();
        pinned.now = Some(self.now());
        pinned.random.get_or_insert_with(Random::from_entropy);
        pinned
    }

    /// A random double in [0, 1).
    pub(crate) fn random_f64(&self) -> f64 {
        match &self.random {
            Some(random) => random.next_f64(),
            None => crate::random::fresh_f64(),
        }
    }

    /// An integer uniform in `0..bound`.
    pub(crate) fn random_below(&self, bound: u64) -> u64 {
        match &self.random {
            Some(random) => random.below(bound),
            None => Random::from_entropy().below(bound),
        }
    }
}

impl Expr {
    /// Compiles an expression; unknown operators are errors.
    pub fn compile(value: &Bson) -> Result<Expr> {
        Ok(Expr {
            node: Compiler::new().compile(value)?,
        })
    }

    /// Evaluates against `root` (`$$ROOT` and `$$CURRENT`). `Ok(None)` means the result is
    /// missing (a field path to nothing), which differs from `null`.
    pub fn evaluate(&self, root: &Document, variables: &Variables) -> Result<Option<Bson>> {
        let mut cx = Cx::new(root, root, variables);
        self.node.eval(&mut cx)
    }

    /// Evaluates with `$$CURRENT` (and field paths) on `current`, a document inside `root`:
    /// `$redact` descending into embedded documents.
    pub(crate) fn evaluate_in(
        &self,
        current: &Document,
        root: &Document,
        variables: &Variables,
    ) -> Result<Option<Bson>> {
        let mut cx = Cx::new(current, root, variables);
        self.node.eval(&mut cx)
    }

    /// Compiles an expression in which the variables `constants` name are bound to constant
    /// values (`$$KEEP`, `$$PRUNE` and `$$DESCEND` in `$redact`).
    pub(crate) fn compile_with(value: &Bson, constants: &[(&str, Bson)]) -> Result<Expr> {
        Ok(Expr {
            node: Compiler::with_constants(constants).compile(value)?,
        })
    }

    /// The constant this expression always evaluates to, if it is one.
    pub fn as_constant(&self) -> Option<&Bson> {
        match &self.node {
            Node::Const(value) => Some(value),
            _ => None,
        }
    }

    /// The value of an expression that reads no field, no variable and no random number
    /// (`{$multiply: [1, 20]}`), computed once, as MongoDB's `optimize()` folds constants
    /// before checking that an argument is one: `None` when the expression depends on the
    /// document; its evaluation error, if any, otherwise. `$let`, the array iterators and the
    /// operators with named options are not folded.
    pub(crate) fn folded(&self) -> Option<Result<Option<Bson>>> {
        self.node
            .is_constant()
            .then(|| self.evaluate(&Document::new(), &Variables::new()))
    }
}

/// A two-argument arithmetic operator by name (`$subtract`, `$multiply`, `$divide`) with
/// its expression semantics (types, dates, errors).
pub(crate) fn arithmetic(name: &str, a: Bson, b: Bson) -> Result<Option<Bson>> {
    let (op, _) = arith::lookup(name)
        .ok_or_else(|| MqlError::unknown_operator(name, "expression operator"))?;
    arith::apply(op, vec![Some(a), Some(b)])
}

/// Truthiness as `$cond`, `$and` and `$expr` see it: missing, `null`, `undefined`, `false`
/// and numeric zero are false; everything else (empty strings and arrays included) is true.
pub fn truthy(value: Option<&Bson>) -> bool {
    match value {
        None | Some(Bson::Null) | Some(Bson::Undefined) | Some(Bson::Boolean(false)) => false,
        Some(other) => match crate::value::number(other) {
            Some(number) => number.as_f64() != 0.0,
            None => true,
        },
    }
}

/// Evaluation state: the document (`$$CURRENT`, which field paths read, and `$$ROOT`), the
/// caller's variables and the values of the variables bound by `$let`, `$map`, `$filter` and
/// `$reduce` (indexed by slots fixed at compile time).
pub(crate) struct Cx<'a> {
    current: &'a Document,
    root: &'a Document,
    vars: &'a Variables,
    now: bson::DateTime,
    locals: Vec<Option<Bson>>,
}

impl<'a> Cx<'a> {
    fn new(current: &'a Document, root: &'a Document, vars: &'a Variables) -> Self {
        Cx {
            current,
            root,
            vars,
            now: vars.now(),
            locals: Vec::new(),
        }
    }

    /// Binds `value` to `slot`; slots are allocated in lexical order, so a binding at `slot`
    /// discards deeper ones that are no longer in scope.
    fn bind(&mut self, slot: usize, value: Option<Bson>) {
        self.locals.truncate(slot);
        while self.locals.len() < slot {
            self.locals.push(None);
        }
        self.locals.push(value);
    }
}

/// A system or user variable, resolved at compile time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Var {
    Root,
    Current,
    Now,
    Remove,
    Local(usize),
    User(String),
}

/// A compiled expression node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Const(Bson),
    /// A field path from `$$CURRENT`.
    Path(Box<[String]>),
    Var(Var, Box<[String]>),
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    /// An operator whose arguments are all evaluated first.
    Op(Op, Vec<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    Cond(Box<[Node; 3]>),
    IfNull(Vec<Node>),
    Switch(Box<Switch>),
    Let(Box<Let>),
    Map(Box<array::MapSpec>),
    Filter(Box<array::FilterSpec>),
    Reduce(Box<array::ReduceSpec>),
    Special(Box<Special>),
    /// `$rand`: a double uniform in [0, 1), drawn anew for each evaluation.
    Rand,
}

/// Operators with positional, eagerly evaluated arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Arith(arith::ArithOp),
    Cmp(CmpOp),
    Not,
    Str(string::StrOp),
    Arr(array::ArrOp),
    Conv(convert::ConvOp),
    MergeObjects,
}

/// `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte` and `$cmp`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    Cmp,
}

/// Operators whose argument is a document of named options.
#[derive(Debug, Clone)]
pub(crate) enum Special {
    Trim(string::TrimSpec),
    Regex(string::RegexSpec),
    Replace(string::ReplaceSpec),
    Convert(convert::ConvertSpec),
    DatePart(date::PartSpec),
    DateToString(date::ToStringSpec),
    DateFromString(date::FromStringSpec),
    DateAdd(date::AddSpec),
    DateDiff(date::DiffSpec),
    DateTrunc(date::TruncSpec),
    DateFromParts(date::FromPartsSpec),
    DateToParts(date::ToPartsSpec),
    PickN(multi::NSpec),
    SortArray(multi::SortArraySpec),
    Zip(multi::ZipSpec),
    Quantile(quantile::QuantileSpec),
    GetField(object::GetFieldSpec),
    SetField(object::SetFieldSpec),
}

#[derive(Debug, Clone)]
pub(crate) struct Switch {
    branches: Vec<(Node, Node)>,
    default: Option<Node>,
}

#[derive(Debug, Clone)]
pub(crate) struct Let {
    first_slot: usize,
    values: Vec<Node>,
    body: Node,
}

impl Node {
    /// Whether this node always evaluates to the same value: it holds only constants and
    /// operators over them.
    fn is_constant(&self) -> bool {
        match self {
            Node::Const(_) => true,
            Node::Object(fields) => fields.iter().all(|(_, node)| node.is_constant()),
            Node::Array(items)
            | Node::Op(_, items)
            | Node::And(items)
            | Node::Or(items)
            | Node::IfNull(items) => items.iter().all(Node::is_constant),
            Node::Cond(parts) => parts.iter().all(Node::is_constant),
            Node::Switch(switch) => {
                switch
                    .branches
                    .iter()
                    .all(|(case, then)| case.is_constant() && then.is_constant())
                    && switch.default.as_ref().is_none_or(Node::is_constant)
            }
            Node::Path(_)
            | Node::Var(..)
            | Node::Rand
            | Node::Let(_)
            | Node::Map(_)
            | Node::Filter(_)
            | Node::Reduce(_)
            | Node::Special(_) => false,
        }
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        // Each arm delegates so that this frame stays small: evaluation recurses once per
        // nesting level.
        match self {
            Node::Const(value) => Ok(Some(value.clone())),
            Node::Path(path) => Ok(walk_document(cx.current, path)),
            Node::Var(var, path) => eval_var(var, path, cx),
            Node::Object(fields) => eval_object(fields, cx),
            Node::Array(items) => eval_array(items, cx),
            Node::Op(op, args) => eval_op(*op, args, cx),
            Node::And(args) => eval_logical(args, false, cx),
            Node::Or(args) => eval_logical(args, true, cx),
            Node::Cond(parts) => eval_cond(parts, cx),
            Node::IfNull(args) => eval_if_null(args, cx),
            Node::Switch(switch) => eval_switch(switch, cx),
            Node::Let(spec) => eval_let(spec, cx),
            Node::Map(spec) => spec.eval(cx),
            Node::Filter(spec) => spec.eval(cx),
            Node::Reduce(spec) => spec.eval(cx),
            Node::Special(special) => special.eval(cx),
            Node::Rand => Ok(Some(Bson::Double(cx.vars.random_f64()))),
        }
    }
}

fn eval_array(items: &[Node], cx: &mut Cx) -> Result<Option<Bson>> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        // An array literal keeps its length: missing elements become null.
        out.push(item.eval(cx)?.unwrap_or(Bson::Null));
    }
    Ok(Some(Bson::Array(out)))
}

fn eval_op(op: Op, args: &[Node], cx: &mut Cx) -> Result<Option<Bson>> {
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        values.push(arg.eval(cx)?);
    }
    apply(op, values)
}

/// `$and` (stopping at the first false argument) and `$or` (at the first true one).
fn eval_logical(args: &[Node], stop_at: bool, cx: &mut Cx) -> Result<Option<Bson>> {
    for arg in args {
        if truthy(arg.eval(cx)?.as_ref()) == stop_at {
            return Ok(Some(Bson::Boolean(stop_at)));
        }
    }
    Ok(Some(Bson::Boolean(!stop_at)))
}

fn eval_cond(parts: &[Node; 3], cx: &mut Cx) -> Result<Option<Bson>> {
    let [test, then, otherwise] = parts;
    if truthy(test.eval(cx)?.as_ref()) {
        then.eval(cx)
    } else {
        otherwise.eval(cx)
    }
}

fn eval_let(spec: &Let, cx: &mut Cx) -> Result<Option<Bson>> {
    // All values are computed before any is bound: they see only the outer scope.
    let mut values = Vec::with_capacity(spec.values.len());
    for value in &spec.values {
        values.push(value.eval(cx)?);
    }
    for (offset, value) in values.into_iter().enumerate() {
        cx.bind(spec.first_slot + offset, value);
    }
    spec.body.eval(cx)
}

impl Special {
    fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        match self {
            Special::Trim(spec) => spec.eval(cx),
            Special::Regex(spec) => spec.eval(cx),
            Special::Replace(spec) => spec.eval(cx),
            Special::Convert(spec) => spec.eval(cx),
            Special::DatePart(spec) => spec.eval(cx),
            Special::DateToString(spec) => spec.eval(cx),
            Special::DateFromString(spec) => spec.eval(cx),
            Special::DateAdd(spec) => spec.eval(cx),
            Special::DateDiff(spec) => spec.eval(cx),
            Special::DateTrunc(spec) => spec.eval(cx),
            Special::DateFromParts(spec) => spec.eval(cx),
            Special::DateToParts(spec) => spec.eval(cx),
            Special::PickN(spec) => spec.eval(cx),
            Special::SortArray(spec) => spec.eval(cx),
            Special::Zip(spec) => spec.eval(cx),
            Special::Quantile(spec) => spec.eval(cx),
            Special::GetField(spec) => spec.eval(cx),
            Special::SetField(spec) => spec.eval(cx),
        }
    }
}

fn eval_object(fields: &[(String, Node)], cx: &mut Cx) -> Result<Option<Bson>> {
    let mut out = Document::new();
    for (name, node) in fields {
        // Fields that evaluate to missing (`$$REMOVE`, absent paths) are left out.
        if let Some(value) = node.eval(cx)? {
            out.insert(name.clone(), value);
        }
    }
    Ok(Some(Bson::Document(out)))
}

fn eval_if_null(args: &[Node], cx: &mut Cx) -> Result<Option<Bson>> {
    let Some((last, rest)) = args.split_last() else {
        return Ok(None);
    };
    for arg in rest {
        match arg.eval(cx)? {
            None | Some(Bson::Null) | Some(Bson::Undefined) => {}
            value => return Ok(value),
        }
    }
    last.eval(cx)
}

fn eval_switch(switch: &Switch, cx: &mut Cx) -> Result<Option<Bson>> {
    for (case, then) in &switch.branches {
        if truthy(case.eval(cx)?.as_ref()) {
            return then.eval(cx);
        }
    }
    match &switch.default {
        Some(default) => default.eval(cx),
        None => Err(MqlError::bad_value(
            "`$switch` could not find a matching branch for an input, and no default was specified",
        )),
    }
}

fn eval_var(var: &Var, path: &[String], cx: &mut Cx) -> Result<Option<Bson>> {
    match var {
        Var::Root if path.is_empty() => Ok(Some(Bson::Document(cx.root.clone()))),
        Var::Root => Ok(walk_document(cx.root, path)),
        Var::Current if path.is_empty() => Ok(Some(Bson::Document(cx.current.clone()))),
        Var::Current => Ok(walk_document(cx.current, path)),
        Var::Now => Ok(walk_value(&Bson::DateTime(cx.now), path)),
        Var::Remove => Ok(None),
        Var::Local(slot) => Ok(cx
            .locals
            .get(*slot)
            .and_then(Option::as_ref)
            .and_then(|value| walk_value(value, path))),
        Var::User(name) => match cx.vars.values.get(name) {
            Some(value) => Ok(value.as_ref().and_then(|value| walk_value(value, path))),
            None => Err(MqlError::bad_value(format!(
                "use of undefined variable `$${name}`"
            ))),
        },
    }
}

/// The value at `path` below `doc`, walking into every element of arrays on the way (and
/// collecting the results in an array) as aggregation field paths do.
pub(crate) fn walk_document(doc: &Document, path: &[String]) -> Option<Bson> {
    let (first, rest) = path.split_first()?;
    let value = doc.get(first)?;
    if rest.is_empty() {
        return Some(value.clone());
    }
    walk_inner(value, rest)
}

fn walk_value(value: &Bson, path: &[String]) -> Option<Bson> {
    if path.is_empty() {
        return Some(value.clone());
    }
    walk_inner(value, path)
}

fn walk_inner(value: &Bson, path: &[String]) -> Option<Bson> {
    match value {
        Bson::Document(doc) => walk_document(doc, path),
        Bson::Array(items) => Some(Bson::Array(walk_array(items, path))),
        _ => None,
    }
}

fn walk_array(items: &[Bson], path: &[String]) -> Vec<Bson> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Bson::Document(doc) => out.extend(walk_document(doc, path)),
            Bson::Array(inner) => out.push(Bson::Array(walk_array(inner, path))),
            _ => {}
        }
    }
    out
}

fn apply(op: Op, args: Vec<Option<Bson>>) -> Result<Option<Bson>> {
    match op {
        Op::Arith(op) => arith::apply(op, args),
        Op::Cmp(op) => Ok(Some(compare(op, &args))),
        Op::Not => Ok(Some(Bson::Boolean(!truthy(
            args.first().and_then(Option::as_ref),
        )))),
        Op::Str(op) => string::apply(op, args),
        Op::Arr(op) => array::apply(op, args),
        Op::Conv(op) => convert::apply(op, args),
        Op::MergeObjects => object::merge_objects(args).map(Some),
    }
}

fn compare(op: CmpOp, args: &[Option<Bson>]) -> Bson {
    // Missing sorts with undefined, below null, as in the server's canonical type order.
    let missing = Bson::Undefined;
    let left = args.first().and_then(Option::as_ref).unwrap_or(&missing);
    let right = args.get(1).and_then(Option::as_ref).unwrap_or(&missing);
    let order = crate::value::compare_values(left, right);
    let result = match op {
        CmpOp::Eq => order.is_eq(),
        CmpOp::Ne => order.is_ne(),
        CmpOp::Gt => order.is_gt(),
        CmpOp::Gte => order.is_ge(),
        CmpOp::Lt => order.is_lt(),
        CmpOp::Lte => order.is_le(),
        CmpOp::Cmp => return Bson::Int32(order as i32),
    };
    Bson::Boolean(result)
}

/// Most bytes one value built by an expression may take (one document's worth).
pub(crate) const MAX_VALUE_BYTES: usize = crate::limits::MAX_DOCUMENT_BYTES;

/// A cheap estimate of a value's encoded size, for memory limits; stops counting soon after
/// passing `cap`, so it costs at most about `cap` bytes' worth of walking.
pub(crate) fn approximate_size(value: &Bson, cap: usize) -> usize {
    let mut total = 0;
    add_size(value, &mut total, cap);
    total
}

fn add_size(value: &Bson, total: &mut usize, cap: usize) {
    match value {
        Bson::String(text) | Bson::Symbol(text) | Bson::JavaScriptCode(text) => {
            *total += text.len() + 5;
        }
        Bson::Document(doc) => {
            *total += 5;
            for (key, inner) in doc {
                *total += key.len() + 2;
                add_size(inner, total, cap);
                if *total > cap {
                    return;
                }
            }
        }
        Bson::Array(items) => {
            *total += 5;
            for item in items {
                *total += 4;
                add_size(item, total, cap);
                if *total > cap {
                    return;
                }
            }
        }
        Bson::Binary(binary) => *total += binary.bytes.len() + 5,
        _ => *total += 16,
    }
}

/// Fails with `LimitExceeded` when `bytes` passes [`MAX_VALUE_BYTES`].
pub(crate) fn check_budget(op: &str, bytes: usize) -> Result<()> {
    if bytes > MAX_VALUE_BYTES {
        return Err(MqlError::limit(format!(
            "`{op}` would build a value over {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(())
}

/// True for missing, `null` and `undefined`: the values most operators map to `null`.
pub(crate) fn is_nullish(value: Option<&Bson>) -> bool {
    matches!(value, None | Some(Bson::Null) | Some(Bson::Undefined))
}

/// The `$type` name of an argument, `missing` included, for error messages.
pub(crate) fn type_of(value: Option<&Bson>) -> &'static str {
    value.map_or("missing", crate::value::type_name)
}

/// Takes the arguments of an eagerly evaluated operator by position.
pub(crate) fn take<const N: usize>(args: Vec<Option<Bson>>) -> [Option<Bson>; N] {
    let mut iter = args.into_iter();
    std::array::from_fn(|_| iter.next().flatten())
}

#[cfg(test)]
mod tests;
