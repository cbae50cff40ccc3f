//! Object operators: `$mergeObjects`, `$getField`, `$setField` and `$unsetField`.

use bson::{Bson, Document};

use super::compile::{named_args, required, Compiler};
use super::{is_nullish, type_of, Cx, Node, Var};
use crate::error::{MqlError, Result};

/// Merges documents left to right; null and missing arguments are skipped.
pub(crate) fn merge_objects(args: Vec<Option<Bson>>) -> Result<Bson> {
    let mut out = Document::new();
    for (position, arg) in args.into_iter().enumerate() {
        merge_into(&mut out, arg, position)?;
    }
    Ok(Bson::Document(out))
}

/// Merges one `$mergeObjects` input into `out`.
pub(crate) fn merge_into(out: &mut Document, value: Option<Bson>, position: usize) -> Result<()> {
    match value {
        Some(Bson::Document(doc)) => {
            for (key, value) in doc {
                out.insert(key, value);
            }
            Ok(())
        }
        value if is_nullish(value.as_ref()) => Ok(()),
        other => Err(MqlError::type_mismatch(format!(
            "`$mergeObjects` requires object inputs, but input {position} is of type {}",
            type_of(other.as_ref())
        ))),
    }
}

fn field_name(op: &str, value: Option<Bson>) -> Result<String> {
    match value {
        Some(Bson::String(name)) => Ok(name),
        other => Err(MqlError::type_mismatch(format!(
            "`{op}` requires `field` to evaluate to a string, found {}",
            type_of(other.as_ref())
        ))),
    }
}

/// `$getField`.
#[derive(Debug, Clone)]
pub(crate) struct GetFieldSpec {
    field: Node,
    input: Node,
}

impl GetFieldSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<GetFieldSpec> {
        let is_named = matches!(operand, Bson::Document(doc)
            if doc.keys().next().is_some_and(|key| !key.starts_with('$')));
        if !is_named {
            return Ok(GetFieldSpec {
                field: cc.compile(operand)?,
                input: Node::Var(Var::Current, Box::new([])),
            });
        }
        let args = named_args("$getField", operand, &["field", "input"])?;
        let field = cc.compile(required(
            "$getField",
            "field",
            args.first().copied().flatten(),
        )?)?;
        let input = match args.get(1).copied().flatten() {
            Some(input) => cc.compile(input)?,
            None => Node::Var(Var::Current, Box::new([])),
        };
        Ok(GetFieldSpec { field, input })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let field = field_name("$getField", self.field.eval(cx)?)?;
        match self.input.eval(cx)? {
            Some(Bson::Document(mut doc)) => Ok(doc.remove(&field)),
            value if is_nullish(value.as_ref()) => Ok(Some(Bson::Null)),
            other => Err(MqlError::type_mismatch(format!(
                "`$getField` requires `input` to evaluate to an object, found {}",
                type_of(other.as_ref())
            ))),
        }
    }
}

/// `$setField` and `$unsetField` (a `$setField` to `$$REMOVE`).
#[derive(Debug, Clone)]
pub(crate) struct SetFieldSpec {
    name: &'static str,
    field: Node,
    input: Node,
    value: Node,
}

impl SetFieldSpec {
    pub(crate) fn compile(cc: &mut Compiler, name: &str, operand: &Bson) -> Result<SetFieldSpec> {
        let unset = name == "$unsetField";
        let name = if unset { "$unsetField" } else { "$setField" };
        let names: &[&str] = if unset {
            &["field", "input"]
        } else {
            &["field", "input", "value"]
        };
        let args = named_args(name, operand, names)?;
        let mut args = args.into_iter();
        let field = cc.compile(required(name, "field", args.next().flatten())?)?;
        let input = cc.compile(required(name, "input", args.next().flatten())?)?;
        let value = if unset {
            Node::Var(Var::Remove, Box::new([]))
        } else {
            cc.compile(required(name, "value", args.next().flatten())?)?
        };
        Ok(SetFieldSpec {
            name,
            field,
            input,
            value,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let field = field_name(self.name, self.field.eval(cx)?)?;
        let mut doc = match self.input.eval(cx)? {
            Some(Bson::Document(doc)) => doc,
            value if is_nullish(value.as_ref()) => return Ok(Some(Bson::Null)),
            other => {
                return Err(MqlError::type_mismatch(format!(
                    "`{}` requires `input` to evaluate to an object, found {}",
                    self.name,
                    type_of(other.as_ref())
                )))
            }
        };
        match self.value.eval(cx)? {
            Some(value) => {
                doc.insert(field, value);
            }
            None => {
                doc.remove(&field);
            }
        }
        Ok(Some(Bson::Document(doc)))
    }
}
