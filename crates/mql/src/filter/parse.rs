//! Filter documents into [`Node`] trees, with MongoDB's parse rules and errors.

use bson::{Bson, Document};

use super::{BitsOp, CmpOp, Cond, InList, Leaf, Node, Path, Pred, RegexPred, MAX_SAME};
use crate::error::{ErrorKind, MqlError, Result};
use crate::expr::Expr;
use crate::limits::{compile_regex, MAX_DEPTH, MAX_INPUT_DEPTH};
use crate::value::{compare_values, number, type_number_for_alias, values_equal, Number};

/// Where a filter document is parsed: the top level allows `$expr`; `$elemMatch` does not.
///
/// `level` counts as MongoDB's parser does: each `$and`, `$or` or `$nor` clause and each
/// object-form `$elemMatch` is one level deeper, and past [`MAX_DEPTH`] (100) the filter is
/// refused. Operator documents (`{$gt: 1}`), `$not` and value-form `$elemMatch` are not levels
/// there; `nesting` counts every step, so that a document built in memory rather than read
/// from text (where [`MAX_INPUT_DEPTH`] already holds) cannot recurse without bound either.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope {
    level: usize,
    nesting: usize,
    top_level: bool,
}

impl Scope {
    pub(crate) fn top() -> Scope {
        Scope {
            level: 0,
            nesting: 0,
            top_level: true,
        }
    }

    /// A clause list or an object-form `$elemMatch`: a level deeper.
    fn level_down(self, top_level: bool) -> Result<Scope> {
        if self.level >= MAX_DEPTH {
            return Err(MqlError::limit(format!(
                "filter nests deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Scope {
            level: self.level + 1,
            ..self.nested(top_level)?
        })
    }

    /// Operators inside a path, `$not` or a value-form `$elemMatch`: not a level.
    fn nested(self, top_level: bool) -> Result<Scope> {
        if self.nesting >= MAX_INPUT_DEPTH {
            return Err(MqlError::limit(format!(
                "filter nests deeper than {MAX_INPUT_DEPTH} documents"
            )));
        }
        Ok(Scope {
            nesting: self.nesting + 1,
            top_level,
            ..self
        })
    }
}

/// Path operators MongoDB knows but this engine does not evaluate.
const UNSUPPORTED_PATH_OPERATORS: &[&str] = &[
    "$near",
    "$nearSphere",
    "$geoWithin",
    "$geoIntersects",
    "$within",
    "$maxDistance",
    "$minDistance",
    "$box",
    "$center",
    "$centerSphere",
    "$polygon",
    "$geometry",
];

/// Top-level operators MongoDB knows but this engine does not evaluate.
const UNSUPPORTED_TOP_OPERATORS: &[&str] =
    &["$where", "$text", "$jsonSchema", "$atomic", "$isolated"];

/// Path operators that make a document an operator expression inside `$all`.
const PATH_OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$type",
    "$mod",
    "$regex",
    "$options",
    "$all",
    "$elemMatch",
    "$size",
    "$not",
    "$bitsAllSet",
    "$bitsAllClear",
    "$bitsAnySet",
    "$bitsAnyClear",
];

fn unsupported(op: &str) -> MqlError {
    MqlError::new(
        ErrorKind::UnknownOperator,
        format!("`{op}` is not supported"),
    )
}

/// Parses a whole filter document (the top level, a `$and` clause, an `$elemMatch` object).
pub(crate) fn parse_filter(filter: &Document, scope: Scope) -> Result<Node> {
    let mut children = Vec::with_capacity(filter.len());
    for (key, value) in filter {
        if let Some(node) = parse_entry(key, value, scope)? {
            children.push(node);
        }
    }
    expressions_last(&mut children);
    Ok(match children.len() {
        1 => children.pop().unwrap_or(Node::Const(true)),
        _ => Node::And(children),
    })
}

fn parse_entry(key: &str, value: &Bson, scope: Scope) -> Result<Option<Node>> {
    if !key.starts_with('$') {
        return parse_path(key, value, scope).map(Some);
    }
    match key {
        "$and" => Ok(Some(Node::And(parse_clauses(key, value, scope)?))),
        "$or" => Ok(Some(Node::Or(parse_clauses(key, value, scope)?))),
        "$nor" => Ok(Some(Node::Nor(parse_clauses(key, value, scope)?))),
        "$comment" => Ok(None),
        "$expr" if scope.top_level => Ok(Some(Node::Expr(Box::new(Expr::compile(value)?)))),
        "$expr" => Err(MqlError::bad_value(
            "`$expr` can only be applied to the top-level document",
        )),
        "$sampleRate" if scope.top_level => parse_sample_rate(value).map(Some),
        "$sampleRate" => Err(MqlError::bad_value(
            "`$sampleRate` can only be applied to the top-level document",
        )),
        "$alwaysTrue" | "$alwaysFalse" => parse_always(key, value).map(Some),
        _ if UNSUPPORTED_TOP_OPERATORS.contains(&key) => Err(unsupported(key)),
        _ => Err(MqlError::unknown_operator(key, "top level operator")),
    }
}

/// `$sampleRate: x`: each document matches with probability `x`, as MongoDB desugars it:
/// 0 matches nothing, 1 everything, and anything between is `{$expr: {$lt: [{$rand: {}},
/// x]}}`.
fn parse_sample_rate(value: &Bson) -> Result<Node> {
    let Some(rate) = number(value).map(Number::as_f64) else {
        return Err(MqlError::bad_value(
            "argument to $sampleRate must be a numeric type",
        ));
    };
    // Written so that NaN fails too.
    if !(0.0..=1.0).contains(&rate) {
        return Err(MqlError::bad_value(
            "numeric argument to $sampleRate must be in [0, 1]",
        ));
    }
    if rate == 0.0 || rate == 1.0 {
        return Ok(Node::Const(rate == 1.0));
    }
    let draw = bson::bson!({ "$lt": [{ "$rand": {} }, rate] });
    Ok(Node::Expr(Box::new(Expr::compile(&draw)?)))
}

/// `$alwaysTrue: 1` and `$alwaysFalse: 1`, with the messages of the server's
/// `parseIntegerElementToLong` for what is not an integer.
fn parse_always(op: &str, value: &Bson) -> Result<Node> {
    let integer = match number(value) {
        None => {
            return Err(MqlError::parse(format!(
                "Expected a number in: {op}: {value}"
            )))
        }
        Some(Number::Int(n)) => n,
        Some(Number::Double(x)) if x.is_nan() => {
            return Err(MqlError::parse(format!(
                "Expected an integer, but found NaN in: {op}: {value}"
            )))
        }
        Some(Number::Double(x)) if x.fract() != 0.0 => {
            return Err(MqlError::parse(format!(
                "Expected an integer: {op}: {value}"
            )))
        }
        // Whole, so only out-of-range values change, and they are not 1.
        Some(whole) => whole.saturating_long(),
    };
    if integer != 1 {
        return Err(MqlError::parse(format!(
            "{op} must be an integer value of 1"
        )));
    }
    Ok(Node::Const(op == "$alwaysTrue"))
}

/// Puts the clauses that hold an `$expr` (or a `$sampleRate`) after those that hold none,
/// keeping their order otherwise, as MongoDB's optimizer sorts the clauses of `$and`, `$or`
/// and `$nor` (its expression clauses come after the field tests): an expression then runs
/// only on the documents the field tests do not decide, so one that fails on some documents
/// (`$divide` by a field that is 0 there) fails only if such a document gets that far, and a
/// random draw is spent only where it matters.
fn expressions_last(clauses: &mut [Node]) {
    clauses.sort_by_key(holds_expression);
}

fn holds_expression(node: &Node) -> bool {
    match node {
        Node::Expr(_) => true,
        Node::And(children) | Node::Or(children) | Node::Nor(children) => {
            children.iter().any(holds_expression)
        }
        _ => false,
    }
}

fn parse_clauses(op: &str, value: &Bson, scope: Scope) -> Result<Vec<Node>> {
    let Bson::Array(items) = value else {
        return Err(MqlError::bad_value(format!("`{op}` must be an array")));
    };
    if items.is_empty() {
        return Err(MqlError::bad_value(format!(
            "`{op}` must be a non-empty array"
        )));
    }
    let inner = scope.level_down(scope.top_level)?;
    let mut clauses = items
        .iter()
        .map(|item| match item {
            Bson::Document(clause) => parse_filter(clause, inner),
            _ => Err(MqlError::bad_value(format!(
                "`{op}` entries need to be full objects"
            ))),
        })
        .collect::<Result<Vec<_>>>()?;
    expressions_last(&mut clauses);
    Ok(clauses)
}

/// True when a document is an operator expression (`{$gt: 1}`) rather than a literal: its
/// first field starts with `$` and is not a DBRef field.
fn is_operator_document(doc: &Document) -> bool {
    match doc.keys().next() {
        Some(first) => first.starts_with('$') && !matches!(first.as_str(), "$ref" | "$id" | "$db"),
        None => false,
    }
}

fn parse_path(path: &str, value: &Bson, scope: Scope) -> Result<Node> {
    let conds = match value {
        Bson::Document(doc) if is_operator_document(doc) => {
            parse_operators(path, doc, scope.nested(false)?)?
        }
        Bson::RegularExpression(regex) => vec![Cond::Is(Pred::Regex(regex_pred(
            regex.pattern.as_str(),
            regex.options.as_str(),
        )?))],
        other => vec![Cond::Is(Pred::Cmp(CmpOp::Eq, comparand("$eq", other)?))],
    };
    Ok(conds_to_node(&Path::new(path), conds))
}

/// The conjunction of `conds` on `path`. Consecutive predicates that traverse a leaf array
/// alike become one [`Node::Same`] (read with one walk of the path); the order of the
/// conditions is kept, so errors and array positions come out as from separate leaves.
fn conds_to_node(path: &Path, conds: Vec<Cond>) -> Node {
    let mut nodes: Vec<Node> = Vec::with_capacity(conds.len());
    let mut run: Vec<Leaf> = Vec::new();
    for cond in conds {
        match cond {
            Cond::Is(pred) => {
                let leaf = Leaf {
                    path: path.clone(),
                    pred,
                };
                let joins = run.first().is_some_and(|first| {
                    run.len() < MAX_SAME && first.traverses_leaf() == leaf.traverses_leaf()
                });
                if !joins {
                    flush_run(&mut run, &mut nodes);
                }
                run.push(leaf);
            }
            Cond::Not(inner) => {
                flush_run(&mut run, &mut nodes);
                nodes.push(Node::Not(Box::new(conds_to_node(path, inner))));
            }
        }
    }
    flush_run(&mut run, &mut nodes);
    match nodes.len() {
        1 => nodes.pop().unwrap_or(Node::Const(true)),
        _ => Node::And(nodes),
    }
}

/// Ends a run of predicates on one path: one leaf, or a [`Node::Same`] of several.
fn flush_run(run: &mut Vec<Leaf>, nodes: &mut Vec<Node>) {
    match run.len() {
        0 => {}
        1 => nodes.extend(run.drain(..).map(|leaf| Node::Leaf(Box::new(leaf)))),
        _ => nodes.push(Node::Same(std::mem::take(run).into_boxed_slice())),
    }
}

/// Parses an operator document (`{$gt: 1, $lt: 5}`) into its conditions, all of which must
/// hold. `$regex` and `$options` pair up wherever they appear.
fn parse_operators(path: &str, doc: &Document, scope: Scope) -> Result<Vec<Cond>> {
    let mut conds = Vec::with_capacity(doc.len());
    let options = match doc.get("$options") {
        Some(Bson::String(options)) => Some(options.as_str()),
        Some(_) => return Err(MqlError::bad_value("`$options` has to be a string")),
        None => None,
    };
    if options.is_some() && !doc.contains_key("$regex") {
        return Err(MqlError::bad_value("`$options` needs a `$regex`"));
    }
    for (op, operand) in doc {
        match op.as_str() {
            "$options" => {}
            "$regex" => conds.push(Cond::Is(Pred::Regex(parse_regex(operand, options)?))),
            _ => conds.extend(parse_operator(path, op, operand, scope)?),
        }
    }
    Ok(conds)
}

fn parse_operator(path: &str, op: &str, operand: &Bson, scope: Scope) -> Result<Vec<Cond>> {
    match op {
        "$all" => parse_all(path, operand, scope),
        "$elemMatch" => Ok(vec![Cond::Is(parse_elem_match(path, operand, scope)?)]),
        "$not" => Ok(vec![Cond::Not(parse_not(path, operand, scope)?)]),
        _ => parse_leaf_operator(path, op, operand),
    }
}

/// The operators that hold no filter. Out of line: the frame of this large match is then not
/// on the stack once per nesting level of `$not` and `$elemMatch` (9.5 KB each in a debug
/// build, where 200 levels overflowed a 2 MiB thread).
#[inline(never)]
fn parse_leaf_operator(path: &str, op: &str, operand: &Bson) -> Result<Vec<Cond>> {
    let is = |pred| Ok(vec![Cond::Is(pred)]);
    let not = |pred| Ok(vec![Cond::Not(vec![Cond::Is(pred)])]);
    match op {
        "$eq" => is(Pred::Cmp(CmpOp::Eq, comparand(op, operand)?)),
        "$gt" => is(Pred::Cmp(CmpOp::Gt, comparand(op, operand)?)),
        "$gte" => is(Pred::Cmp(CmpOp::Gte, comparand(op, operand)?)),
        "$lt" => is(Pred::Cmp(CmpOp::Lt, comparand(op, operand)?)),
        "$lte" => is(Pred::Cmp(CmpOp::Lte, comparand(op, operand)?)),
        "$ne" => {
            if matches!(operand, Bson::RegularExpression(_)) {
                return Err(MqlError::bad_value(
                    "can't have a regex as the argument to `$ne`",
                ));
            }
            not(Pred::Cmp(CmpOp::Eq, comparand(op, operand)?))
        }
        "$in" => is(in_pred(parse_in(op, operand)?)),
        "$nin" => not(in_pred(parse_in(op, operand)?)),
        "$exists" if exists_operand(operand) => is(Pred::Exists),
        "$exists" => not(Pred::Exists),
        "$type" => is(Pred::Type(parse_type(path, operand)?)),
        "$mod" => is(parse_mod(operand)?),
        "$size" => is(Pred::Size(parse_size(operand)?)),
        "$bitsAllSet" => is(Pred::Bits(BitsOp::AllSet, parse_bits(op, operand)?)),
        "$bitsAllClear" => is(Pred::Bits(BitsOp::AllClear, parse_bits(op, operand)?)),
        "$bitsAnySet" => is(Pred::Bits(BitsOp::AnySet, parse_bits(op, operand)?)),
        "$bitsAnyClear" => is(Pred::Bits(BitsOp::AnyClear, parse_bits(op, operand)?)),
        _ if UNSUPPORTED_PATH_OPERATORS.contains(&op) => Err(unsupported(op)),
        _ => Err(MqlError::unknown_operator(op, "operator")),
    }
}

/// A comparison operand: anything but `undefined`, which MongoDB refuses to compare with.
fn comparand(op: &str, operand: &Bson) -> Result<Bson> {
    if matches!(operand, Bson::Undefined) {
        return Err(MqlError::bad_value(format!(
            "`{op}` cannot compare to undefined"
        )));
    }
    Ok(operand.clone())
}

/// `$exists` reads its operand as MongoDB's `trueValue()`: false, zero, null and undefined are
/// false, everything else is true.
fn exists_operand(operand: &Bson) -> bool {
    match operand {
        Bson::Boolean(value) => *value,
        Bson::Null | Bson::Undefined => false,
        other => match number(other) {
            Some(Number::Int(value)) => value != 0,
            Some(Number::Double(value)) => value != 0.0,
            None => true,
        },
    }
}

fn regex_pred(pattern: &str, options: &str) -> Result<RegexPred> {
    if pattern.contains('\0') {
        return Err(MqlError::bad_value(
            "`$regex` pattern cannot contain a null byte",
        ));
    }
    Ok(RegexPred {
        regex: compile_regex(pattern, options)?,
        pattern: pattern.to_owned(),
        options: options.to_owned(),
    })
}

fn parse_regex(operand: &Bson, options: Option<&str>) -> Result<RegexPred> {
    match operand {
        Bson::String(pattern) => regex_pred(pattern, options.unwrap_or("")),
        Bson::RegularExpression(regex) => {
            let own = regex.options.as_str();
            match options {
                Some(extra) if !own.is_empty() && !extra.is_empty() => Err(MqlError::bad_value(
                    format!("options set in both `$regex` (`{own}`) and `$options` (`{extra}`)"),
                )),
                Some(extra) if !extra.is_empty() => regex_pred(regex.pattern.as_str(), extra),
                _ => regex_pred(regex.pattern.as_str(), own),
            }
        }
        _ => Err(MqlError::bad_value("`$regex` has to be a string")),
    }
}

/// `$in` over `list`: an empty list matches nothing, whatever the value, as in MongoDB (where
/// `{a: {$in: []}}` finds nothing, not even `{a: []}`).
fn in_pred(list: InList) -> Pred {
    if list.values.is_empty() && list.regexes.is_empty() {
        Pred::Never
    } else {
        Pred::In(list)
    }
}

fn parse_in(op: &str, operand: &Bson) -> Result<InList> {
    let Bson::Array(items) = operand else {
        return Err(MqlError::bad_value(format!("`{op}` needs an array")));
    };
    let mut list = InList {
        values: Vec::with_capacity(items.len()),
        has_null: false,
        regexes: Vec::new(),
    };
    for item in items {
        match item {
            Bson::RegularExpression(regex) => list
                .regexes
                .push(regex_pred(regex.pattern.as_str(), regex.options.as_str())?),
            Bson::Document(doc) if is_operator_document(doc) => {
                return Err(MqlError::bad_value(format!("cannot nest `$` under `{op}`")))
            }
            Bson::Undefined => {
                return Err(MqlError::bad_value(format!(
                    "`{op}` equality cannot be undefined"
                )))
            }
            other => {
                list.has_null |= matches!(other, Bson::Null);
                list.values.push(other.clone());
            }
        }
    }
    list.values.sort_by(compare_values);
    list.values.dedup_by(|a, b| values_equal(a, b));
    Ok(list)
}

/// `$type`: aliases, `"number"`, type numbers, or an array of them, as a bit set over
/// [`super::eval::type_bit`].
fn parse_type(path: &str, operand: &Bson) -> Result<u32> {
    match operand {
        Bson::Array(items) => {
            if items.is_empty() {
                return Err(MqlError::parse(format!(
                    "`{path}` must match at least one type (`$type` is empty)"
                )));
            }
            items
                .iter()
                .try_fold(0, |bits, item| Ok(bits | type_bits(item)?))
        }
        other => type_bits(other),
    }
}

fn type_bits(operand: &Bson) -> Result<u32> {
    const NUMBER_TYPES: [i32; 4] = [1, 16, 18, 19];
    if let Bson::String(alias) = operand {
        if alias == "number" {
            return Ok(NUMBER_TYPES
                .iter()
                .fold(0, |bits, code| bits | super::eval::type_bit(*code)));
        }
        return type_number_for_alias(alias)
            .map(super::eval::type_bit)
            .ok_or_else(|| MqlError::bad_value(format!("unknown `$type` alias `{alias}`")));
    }
    let Some(code) = number(operand) else {
        return Err(MqlError::type_mismatch(
            "`$type` must be represented as a number or a string",
        ));
    };
    let valid = |code: i64| (1..=19).contains(&code) || code == -1 || code == 127;
    let code = match code {
        Number::Int(code) => code,
        Number::Double(code) if code.fract() == 0.0 && code.abs() < 1e9 => code as i64,
        Number::Double(code) => {
            return Err(MqlError::bad_value(format!(
                "invalid numerical type code in `$type`: {code}"
            )))
        }
    };
    if !valid(code) {
        return Err(MqlError::bad_value(format!(
            "invalid numerical type code in `$type`: {code}"
        )));
    }
    Ok(super::eval::type_bit(i32::try_from(code).unwrap_or(0)))
}

fn parse_mod(operand: &Bson) -> Result<Pred> {
    let Bson::Array(items) = operand else {
        return Err(MqlError::bad_value(
            "malformed `$mod`: needs an array of divisor and remainder",
        ));
    };
    let (divisor, remainder) = match items.as_slice() {
        [divisor, remainder] => (divisor, remainder),
        [] | [_] => return Err(MqlError::bad_value("malformed `$mod`: not enough elements")),
        _ => return Err(MqlError::bad_value("malformed `$mod`: too many elements")),
    };
    let divisor = mod_operand("divisor", divisor)?;
    let remainder = mod_operand("remainder", remainder)?;
    if divisor == 0 {
        return Err(MqlError::bad_value("`$mod` divisor cannot be 0"));
    }
    Ok(Pred::Mod { divisor, remainder })
}

fn mod_operand(what: &str, value: &Bson) -> Result<i64> {
    if number(value).is_none() {
        return Err(MqlError::bad_value(format!(
            "malformed `$mod`: {what} is not a number"
        )));
    }
    super::eval::mod_dividend(value).ok_or_else(|| {
        MqlError::bad_value(format!(
            "malformed `$mod`: {what} value is invalid ({value})"
        ))
    })
}

/// A double truncated toward zero, if it is finite and fits an i64.
pub(crate) fn truncate_to_i64(value: f64) -> Option<i64> {
    // 2^63 as f64: the first double past i64::MAX.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let truncated = value.trunc();
    if !(-TWO_63..TWO_63).contains(&truncated) {
        return None;
    }
    Some(truncated as i64)
}

fn parse_size(operand: &Bson) -> Result<usize> {
    let size = match number(operand) {
        Some(Number::Int(size)) => size,
        Some(Number::Double(size)) if size.fract() == 0.0 => {
            truncate_to_i64(size).unwrap_or(i64::MAX)
        }
        Some(Number::Double(_)) => {
            return Err(MqlError::bad_value("`$size` must be a whole number"))
        }
        None => return Err(MqlError::bad_value("`$size` needs a number")),
    };
    if size < 0 {
        return Err(MqlError::bad_value("`$size` may not be negative"));
    }
    Ok(usize::try_from(size).unwrap_or(usize::MAX))
}

fn parse_all(path: &str, operand: &Bson, scope: Scope) -> Result<Vec<Cond>> {
    let Bson::Array(items) = operand else {
        return Err(MqlError::bad_value("`$all` needs an array"));
    };
    if items.is_empty() {
        return Ok(vec![Cond::Is(Pred::Never)]);
    }
    if items.first().is_some_and(is_elem_match_document) {
        return items
            .iter()
            .map(|item| match item {
                Bson::Document(doc) if is_elem_match_document(item) => {
                    let operand = doc.get("$elemMatch").unwrap_or(&Bson::Null);
                    Ok(Cond::Is(parse_elem_match(path, operand, scope)?))
                }
                _ => Err(MqlError::bad_value(
                    "`$all`/`$elemMatch` has to be consistent",
                )),
            })
            .collect();
    }
    items
        .iter()
        .map(|item| match item {
            Bson::RegularExpression(regex) => Ok(Cond::Is(Pred::Regex(regex_pred(
                regex.pattern.as_str(),
                regex.options.as_str(),
            )?))),
            Bson::Document(doc)
                if doc
                    .keys()
                    .next()
                    .is_some_and(|first| PATH_OPERATORS.contains(&first.as_str())) =>
            {
                Err(MqlError::bad_value("no `$` expressions in `$all`"))
            }
            other => Ok(Cond::Is(Pred::Cmp(CmpOp::Eq, comparand("$all", other)?))),
        })
        .collect()
}

fn is_elem_match_document(value: &Bson) -> bool {
    matches!(value, Bson::Document(doc) if doc.keys().next().is_some_and(|key| key == "$elemMatch"))
}

/// `$elemMatch`: the value form (`{$gt: 1}`, conditions on each element) when the operand's
/// first field is a path operator, else the object form (a filter on each element).
fn parse_elem_match(path: &str, operand: &Bson, scope: Scope) -> Result<Pred> {
    let Bson::Document(doc) = operand else {
        return Err(MqlError::bad_value("`$elemMatch` needs an object"));
    };
    let value_form = doc.keys().next().is_some_and(|first| {
        first.starts_with('$')
            && !matches!(
                first.as_str(),
                "$and"
                    | "$or"
                    | "$nor"
                    | "$expr"
                    | "$where"
                    | "$text"
                    | "$comment"
                    | "$jsonSchema"
                    | "$sampleRate"
                    | "$alwaysTrue"
                    | "$alwaysFalse"
            )
    });
    if value_form {
        Ok(Pred::ElemValue(parse_operators(
            path,
            doc,
            scope.nested(false)?,
        )?))
    } else {
        let inner = scope.level_down(false)?;
        Ok(Pred::ElemObject(Box::new(parse_filter(doc, inner)?)))
    }
}

fn parse_not(path: &str, operand: &Bson, scope: Scope) -> Result<Vec<Cond>> {
    match operand {
        Bson::RegularExpression(regex) => Ok(vec![Cond::Is(Pred::Regex(regex_pred(
            regex.pattern.as_str(),
            regex.options.as_str(),
        )?))]),
        Bson::Document(doc) if doc.is_empty() => Err(MqlError::bad_value("`$not` cannot be empty")),
        Bson::Document(doc) => parse_operators(path, doc, scope.nested(false)?),
        _ => Err(MqlError::bad_value("`$not` needs a regex or a document")),
    }
}

/// A bit mask operand: a non-negative integer, an array of bit positions, or BinData; returns
/// the positions of the set bits.
fn parse_bits(op: &str, operand: &Bson) -> Result<Vec<u64>> {
    match operand {
        Bson::Binary(binary) => Ok(binary
            .bytes
            .iter()
            .enumerate()
            .flat_map(|(byte_index, byte)| {
                (0..8u64)
                    .filter(move |bit| byte >> bit & 1 == 1)
                    .map(move |bit| byte_index as u64 * 8 + bit)
            })
            .collect()),
        Bson::Array(items) => items
            .iter()
            .map(|item| {
                let position = whole_number(op, item, "bit positions")?;
                u64::try_from(position).map_err(|_| {
                    MqlError::bad_value(format!("`{op}` bit positions cannot be negative"))
                })
            })
            .collect(),
        other => {
            let mask = whole_number(op, other, "a bit mask")?;
            let mask = u64::try_from(mask).map_err(|_| {
                MqlError::bad_value(format!("`{op}` cannot take a negative number"))
            })?;
            Ok((0..64).filter(|bit| mask >> bit & 1 == 1).collect())
        }
    }
}

fn whole_number(op: &str, value: &Bson, what: &str) -> Result<i64> {
    match number(value) {
        Some(Number::Int(value)) => Ok(value),
        Some(Number::Double(value)) if value.fract() == 0.0 => truncate_to_i64(value)
            .ok_or_else(|| MqlError::bad_value(format!("`{op}` {what} must fit a 64-bit integer"))),
        Some(Number::Double(_)) => Err(MqlError::bad_value(format!(
            "`{op}` {what} must be whole numbers"
        ))),
        None => Err(MqlError::bad_value(format!(
            "`{op}` takes an integer, an array of bit positions or BinData, not {what} of this type"
        ))),
    }
}
