//! Compiling expression values into [`Node`] trees: operator lookup, arity checks, field
//! paths and variable scoping.

use bson::{Bson, Document};

use super::{arith, array, convert, date, multi, object, quantile, string};
use super::{CmpOp, Let, Node, Op, Special, Switch, Var};
use crate::error::{MqlError, Result};
use crate::limits::MAX_DEPTH;

/// How many arguments an operator takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arity {
    Exact(usize),
    Range(usize, usize),
    AtLeast(usize),
    Any,
}

/// Compile-time state: the variables in scope (innermost last; a variable's slot is its
/// position) and the nesting depth.
#[derive(Debug, Default)]
pub(crate) struct Compiler {
    scope: Vec<String>,
    depth: usize,
    /// Variables bound to constants for the whole expression.
    constants: Vec<(String, Bson)>,
}

impl Compiler {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn with_constants(constants: &[(&str, Bson)]) -> Self {
        Compiler {
            constants: constants
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
            ..Self::default()
        }
    }

    pub(crate) fn compile(&mut self, value: &Bson) -> Result<Node> {
        if self.depth >= MAX_DEPTH {
            return Err(MqlError::limit(format!(
                "expression nests deeper than {MAX_DEPTH} levels"
            )));
        }
        self.depth += 1;
        let result = self.compile_inner(value);
        self.depth -= 1;
        result
    }

    fn compile_inner(&mut self, value: &Bson) -> Result<Node> {
        match value {
            Bson::String(text) => self.compile_string(text),
            Bson::Document(doc) => self.compile_document(doc),
            Bson::Array(items) => {
                let nodes = items
                    .iter()
                    .map(|item| self.compile(item))
                    .collect::<Result<Vec<_>>>()?;
                if nodes.iter().all(|node| matches!(node, Node::Const(_))) {
                    let values = nodes.into_iter().filter_map(into_const).collect();
                    return Ok(Node::Const(Bson::Array(values)));
                }
                Ok(Node::Array(nodes))
            }
            other => Ok(Node::Const(other.clone())),
        }
    }

    pub(crate) fn compile_opt(&mut self, value: Option<&Bson>) -> Result<Option<Node>> {
        value.map(|value| self.compile(value)).transpose()
    }

    fn compile_string(&mut self, text: &str) -> Result<Node> {
        if let Some(variable) = text.strip_prefix("$$") {
            let mut parts = variable.split('.');
            let name = parts.next().unwrap_or("");
            let path = field_path_parts(parts, text)?;
            let constant = self.constants.iter().find(|(bound, _)| bound == name);
            if let Some((_, value)) = constant {
                return Ok(match super::walk_value(value, &path) {
                    Some(value) => Node::Const(value),
                    None => Node::Var(Var::Remove, path),
                });
            }
            let var = self.resolve_variable(name)?;
            return Ok(Node::Var(var, path));
        }
        if let Some(path) = text.strip_prefix('$') {
            if path.is_empty() {
                return Err(MqlError::parse("`$` by itself is not a valid field path"));
            }
            return Ok(Node::Path(field_path_parts(path.split('.'), text)?));
        }
        Ok(Node::Const(Bson::String(text.to_owned())))
    }

    fn resolve_variable(&self, name: &str) -> Result<Var> {
        match name {
            "ROOT" => return Ok(Var::Root),
            "CURRENT" => return Ok(Var::Current),
            "NOW" => return Ok(Var::Now),
            "REMOVE" => return Ok(Var::Remove),
            _ => {}
        }
        if let Some(slot) = self.scope.iter().rposition(|bound| bound == name) {
            return Ok(Var::Local(slot));
        }
        if name.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(MqlError::unknown_operator(
                &format!("$${name}"),
                "system variable",
            ));
        }
        validate_variable_name(name)?;
        Ok(Var::User(name.to_owned()))
    }

    /// Brings `name` into scope and returns its slot.
    pub(crate) fn bind(&mut self, name: &str) -> Result<usize> {
        validate_variable_name(name)?;
        self.scope.push(name.to_owned());
        Ok(self.scope.len() - 1)
    }

    /// Ends the scope of the last `count` variables.
    pub(crate) fn unbind(&mut self, count: usize) {
        self.scope.truncate(self.scope.len().saturating_sub(count));
    }

    fn compile_document(&mut self, doc: &Document) -> Result<Node> {
        let mut iter = doc.iter();
        let Some((first, operand)) = iter.next() else {
            return Ok(Node::Const(Bson::Document(Document::new())));
        };
        if first.starts_with('$') {
            if doc.len() != 1 {
                return Err(MqlError::parse(format!(
                    "an expression object with operator `{first}` must have exactly one field, found {}",
                    doc.len()
                )));
            }
            return self.compile_operator(first, operand);
        }
        let mut fields = Vec::with_capacity(doc.len());
        for (name, value) in doc {
            if name.starts_with('$') {
                return Err(MqlError::parse(format!(
                    "field name `{name}` in an expression object may not start with `$`"
                )));
            }
            if name.contains('.') {
                return Err(MqlError::parse(format!(
                    "field name `{name}` in an expression object may not contain `.`"
                )));
            }
            fields.push((name.clone(), self.compile(value)?));
        }
        if fields
            .iter()
            .all(|(_, node)| matches!(node, Node::Const(_)))
        {
            let folded = fields
                .into_iter()
                .filter_map(|(name, node)| into_const(node).map(|value| (name, value)))
                .collect();
            return Ok(Node::Const(Bson::Document(folded)));
        }
        Ok(Node::Object(fields))
    }

    fn compile_operator(&mut self, name: &str, operand: &Bson) -> Result<Node> {
        // One call through a function pointer keeps this frame small: compilation recurses
        // once per nesting level, and a large match here would multiply stack use.
        let builder =
            builder(name).ok_or_else(|| MqlError::unknown_operator(name, "expression operator"))?;
        builder(self, name, operand)
    }

    /// An operand list: an array is the arguments, anything else is one argument.
    pub(crate) fn compile_args(&mut self, operand: &Bson) -> Result<Vec<Node>> {
        match operand {
            Bson::Array(items) => items.iter().map(|item| self.compile(item)).collect(),
            other => Ok(vec![self.compile(other)?]),
        }
    }

    pub(crate) fn compile_cond(&mut self, operand: &Bson) -> Result<Node> {
        let parts = match operand {
            Bson::Array(items) => {
                check_arity("$cond", Arity::Exact(3), items.len())?;
                items.iter().collect::<Vec<_>>()
            }
            Bson::Document(_) => {
                let args = named_args("$cond", operand, &["if", "then", "else"])?;
                let mut parts = Vec::with_capacity(3);
                for (arg, key) in args.into_iter().zip(["if", "then", "else"]) {
                    parts.push(required("$cond", key, arg)?);
                }
                parts
            }
            other => {
                return Err(MqlError::parse(format!(
                    "expression `$cond` takes exactly 3 arguments, got a {}",
                    crate::value::type_name(other)
                )))
            }
        };
        let mut nodes = Vec::with_capacity(3);
        for part in parts {
            nodes.push(self.compile(part)?);
        }
        let [test, then, otherwise]: [Node; 3] = nodes
            .try_into()
            .map_err(|_| MqlError::parse("expression `$cond` takes exactly 3 arguments"))?;
        Ok(Node::Cond(Box::new([test, then, otherwise])))
    }

    pub(crate) fn compile_switch(&mut self, operand: &Bson) -> Result<Node> {
        let args = named_args("$switch", operand, &["branches", "default"])?;
        let mut args = args.into_iter();
        let branches = match args.next().flatten() {
            Some(Bson::Array(items)) if !items.is_empty() => items,
            Some(Bson::Array(_)) | None => {
                return Err(MqlError::parse("`$switch` requires at least one branch"))
            }
            Some(other) => {
                return Err(MqlError::parse(format!(
                    "`$switch` expects an array for `branches`, found {}",
                    crate::value::type_name(other)
                )))
            }
        };
        let mut compiled = Vec::with_capacity(branches.len());
        for branch in branches {
            let parts = named_args("$switch branch", branch, &["case", "then"])?;
            let mut parts = parts.into_iter();
            let case = required("$switch", "case", parts.next().flatten())?;
            let then = required("$switch", "then", parts.next().flatten())?;
            compiled.push((self.compile(case)?, self.compile(then)?));
        }
        let default = self.compile_opt(args.next().flatten())?;
        Ok(Node::Switch(Box::new(Switch {
            branches: compiled,
            default,
        })))
    }

    pub(crate) fn compile_let(&mut self, operand: &Bson) -> Result<Node> {
        let args = named_args("$let", operand, &["vars", "in"])?;
        let mut args = args.into_iter();
        let vars = match required("$let", "vars", args.next().flatten())? {
            Bson::Document(vars) => vars,
            other => {
                return Err(MqlError::parse(format!(
                    "`$let` expects an object for `vars`, found {}",
                    crate::value::type_name(other)
                )))
            }
        };
        let body = required("$let", "in", args.next().flatten())?;
        let mut values = Vec::with_capacity(vars.len());
        for value in vars.values() {
            values.push(self.compile(value)?);
        }
        let first_slot = self.scope.len();
        for name in vars.keys() {
            self.bind(name)?;
        }
        let body = self.compile(body);
        self.unbind(vars.len());
        Ok(Node::Let(Box::new(Let {
            first_slot,
            values,
            body: body?,
        })))
    }
}

type Builder = fn(&mut Compiler, &str, &Bson) -> Result<Node>;

fn special(spec: Special) -> Result<Node> {
    Ok(Node::Special(Box::new(spec)))
}

fn builder(name: &str) -> Option<Builder> {
    let builder: Builder = match name {
        "$literal" | "$const" => |_, _, operand| Ok(Node::Const(operand.clone())),
        "$rand" => |_, _, operand| match operand {
            // An empty document or an empty array is the call without arguments.
            Bson::Document(doc) if doc.is_empty() => Ok(Node::Rand),
            Bson::Array(items) if items.is_empty() => Ok(Node::Rand),
            Bson::Document(_) | Bson::Array(_) => {
                Err(MqlError::parse("$rand does not currently accept arguments"))
            }
            _ => Err(MqlError::parse(
                "invalid parameter: expected an object ($rand)",
            )),
        },
        "$and" => |cc, _, operand| Ok(Node::And(cc.compile_args(operand)?)),
        "$or" => |cc, _, operand| Ok(Node::Or(cc.compile_args(operand)?)),
        "$cond" => |cc, _, operand| cc.compile_cond(operand),
        "$ifNull" => |cc, name, operand| {
            let args = cc.compile_args(operand)?;
            check_arity(name, Arity::AtLeast(2), args.len())?;
            Ok(Node::IfNull(args))
        },
        "$switch" => |cc, _, operand| cc.compile_switch(operand),
        "$let" => |cc, _, operand| cc.compile_let(operand),
        "$map" => |cc, _, operand| Ok(Node::Map(Box::new(array::MapSpec::compile(cc, operand)?))),
        "$filter" => |cc, _, operand| {
            Ok(Node::Filter(Box::new(array::FilterSpec::compile(
                cc, operand,
            )?)))
        },
        "$reduce" => |cc, _, operand| {
            Ok(Node::Reduce(Box::new(array::ReduceSpec::compile(
                cc, operand,
            )?)))
        },
        "$trim" | "$ltrim" | "$rtrim" => |cc, name, operand| {
            special(Special::Trim(string::TrimSpec::compile(cc, name, operand)?))
        },
        "$regexMatch" | "$regexFind" | "$regexFindAll" => |cc, name, operand| {
            special(Special::Regex(string::RegexSpec::compile(
                cc, name, operand,
            )?))
        },
        "$replaceAll" | "$replaceOne" => |cc, name, operand| {
            special(Special::Replace(string::ReplaceSpec::compile(
                cc, name, operand,
            )?))
        },
        "$convert" => |cc, _, operand| {
            special(Special::Convert(convert::ConvertSpec::compile(
                cc, operand,
            )?))
        },
        "$dateToString" => |cc, _, operand| {
            special(Special::DateToString(date::ToStringSpec::compile(
                cc, operand,
            )?))
        },
        "$dateFromString" => |cc, _, operand| {
            special(Special::DateFromString(date::FromStringSpec::compile(
                cc, operand,
            )?))
        },
        "$dateAdd" | "$dateSubtract" => |cc, name, operand| {
            special(Special::DateAdd(date::AddSpec::compile(cc, name, operand)?))
        },
        "$dateDiff" => {
            |cc, _, operand| special(Special::DateDiff(date::DiffSpec::compile(cc, operand)?))
        }
        "$dateTrunc" => {
            |cc, _, operand| special(Special::DateTrunc(date::TruncSpec::compile(cc, operand)?))
        }
        "$dateFromParts" => |cc, _, operand| {
            special(Special::DateFromParts(date::FromPartsSpec::compile(
                cc, operand,
            )?))
        },
        "$dateToParts" => |cc, _, operand| {
            special(Special::DateToParts(date::ToPartsSpec::compile(
                cc, operand,
            )?))
        },
        "$firstN" | "$lastN" | "$minN" | "$maxN" => |cc, name, operand| {
            let pick = multi::Pick::named(name).unwrap_or(multi::Pick::First);
            special(Special::PickN(multi::NSpec::compile(cc, pick, operand)?))
        },
        "$percentile" | "$median" => |cc, name, operand| {
            special(Special::Quantile(quantile::QuantileSpec::compile(
                cc, name, operand,
            )?))
        },
        "$zip" => |cc, _, operand| special(Special::Zip(multi::ZipSpec::compile(cc, operand)?)),
        "$sortArray" => |cc, _, operand| {
            special(Special::SortArray(multi::SortArraySpec::compile(
                cc, operand,
            )?))
        },
        "$getField" => |cc, _, operand| {
            special(Special::GetField(object::GetFieldSpec::compile(
                cc, operand,
            )?))
        },
        "$setField" | "$unsetField" => |cc, name, operand| {
            special(Special::SetField(object::SetFieldSpec::compile(
                cc, name, operand,
            )?))
        },
        _ if date::part(name).is_some() => |cc, name, operand| {
            let part = date::part(name).unwrap_or(date::Part::Year);
            special(Special::DatePart(date::PartSpec::compile(
                cc, name, part, operand,
            )?))
        },
        _ if positional(name).is_some() => compile_positional,
        _ => return None,
    };
    Some(builder)
}

fn compile_positional(cc: &mut Compiler, name: &str, operand: &Bson) -> Result<Node> {
    let Some((op, arity)) = positional(name) else {
        return Err(MqlError::unknown_operator(name, "expression operator"));
    };
    let args = cc.compile_args(operand)?;
    check_arity(name, arity, args.len())?;
    Ok(Node::Op(op, args))
}

fn positional(name: &str) -> Option<(Op, Arity)> {
    let cmp = |op| Some((Op::Cmp(op), Arity::Exact(2)));
    match name {
        "$eq" => cmp(CmpOp::Eq),
        "$ne" => cmp(CmpOp::Ne),
        "$gt" => cmp(CmpOp::Gt),
        "$gte" => cmp(CmpOp::Gte),
        "$lt" => cmp(CmpOp::Lt),
        "$lte" => cmp(CmpOp::Lte),
        "$cmp" => cmp(CmpOp::Cmp),
        "$not" => Some((Op::Not, Arity::Exact(1))),
        "$mergeObjects" => Some((Op::MergeObjects, Arity::Any)),
        _ => arith::lookup(name)
            .map(|(op, arity)| (Op::Arith(op), arity))
            .or_else(|| string::lookup(name).map(|(op, arity)| (Op::Str(op), arity)))
            .or_else(|| array::lookup(name).map(|(op, arity)| (Op::Arr(op), arity)))
            .or_else(|| convert::lookup(name).map(|(op, arity)| (Op::Conv(op), arity))),
    }
}

/// Fails unless `count` arguments fit `arity`.
pub(crate) fn check_arity(name: &str, arity: Arity, count: usize) -> Result<()> {
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    let message = match arity {
        Arity::Exact(n) if count != n => format!("exactly {n} {}", plural(n)),
        Arity::Range(low, high) if count < low || count > high => {
            format!("between {low} and {high} arguments")
        }
        Arity::AtLeast(n) if count < n => format!("at least {n} {}", plural(n)),
        _ => return Ok(()),
    };
    Err(MqlError::parse(format!(
        "expression `{name}` takes {message}, got {count}"
    )))
}

/// The named arguments of a document-form operator, in the order of `names`; other fields
/// are an error.
pub(crate) fn named_args<'a>(
    op: &str,
    operand: &'a Bson,
    names: &[&str],
) -> Result<Vec<Option<&'a Bson>>> {
    let Bson::Document(doc) = operand else {
        return Err(MqlError::parse(format!(
            "`{op}` requires an object as its argument, found {}",
            crate::value::type_name(operand)
        )));
    };
    if let Some(unknown) = doc.keys().find(|key| !names.contains(&key.as_str())) {
        return Err(MqlError::parse(format!(
            "`{op}` found an unknown argument `{unknown}`"
        )));
    }
    Ok(names.iter().map(|name| doc.get(*name)).collect())
}

/// A required named argument.
pub(crate) fn required<'a>(op: &str, name: &str, value: Option<&'a Bson>) -> Result<&'a Bson> {
    value.ok_or_else(|| MqlError::parse(format!("`{op}` is missing its `{name}` argument")))
}

fn field_path_parts<'a>(parts: impl Iterator<Item = &'a str>, text: &str) -> Result<Box<[String]>> {
    let mut out = Vec::new();
    for part in parts {
        if part.is_empty() {
            return Err(MqlError::parse(format!(
                "field path `{text}` has an empty component"
            )));
        }
        if part.starts_with('$') {
            return Err(MqlError::parse(format!(
                "field path `{text}` has a component starting with `$`"
            )));
        }
        out.push(part.to_owned());
    }
    Ok(out.into_boxed_slice())
}

/// User variable names start with a lowercase letter (or a non-ASCII character) and hold only
/// letters, digits and `_`, as MongoDB requires.
fn validate_variable_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || !c.is_ascii());
    if !valid_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()) {
        return Err(MqlError::parse(format!(
            "`{name}` is not a valid variable name"
        )));
    }
    Ok(())
}

fn into_const(node: Node) -> Option<Bson> {
    match node {
        Node::Const(value) => Some(value),
        _ => None,
    }
}
