//! `$redact`: an expression decides, document by document and level by level, whether to keep
//! a document whole (`$$KEEP`), drop it (`$$PRUNE`) or keep its fields after deciding again for
//! each embedded document, in arrays too (`$$DESCEND`). As in MongoDB's
//! `document_source_redact.cpp`, the three variables hold the strings `"keep"`, `"prune"` and
//! `"descend"`, field paths and `$$CURRENT` read the document being decided, and `$$ROOT` the
//! whole one.

use bson::{Bson, Document};

use crate::error::{MqlError, Result};
use crate::expr::{Expr, Variables};
use crate::limits::MAX_DEPTH;

const OP: &str = "$redact";

/// A compiled `$redact`.
#[derive(Debug, Clone)]
pub(crate) struct Redact {
    expr: Expr,
}

enum Decision {
    Keep,
    Prune,
    Descend,
}

impl Redact {
    pub(crate) fn compile(spec: &Bson) -> Result<Redact> {
        let constants = [
            ("KEEP", Bson::String("keep".to_owned())),
            ("PRUNE", Bson::String("prune".to_owned())),
            ("DESCEND", Bson::String("descend".to_owned())),
        ];
        Ok(Redact {
            expr: Expr::compile_with(spec, &constants)?,
        })
    }

    pub(crate) fn run(&self, docs: Vec<Document>, vars: &Variables) -> Result<Vec<Document>> {
        let mut out = Vec::with_capacity(docs.len());
        for doc in docs {
            if let Some(kept) = self.document(&doc, &doc, vars, 0)? {
                out.push(kept);
            }
        }
        Ok(out)
    }

    fn decide(&self, current: &Document, root: &Document, vars: &Variables) -> Result<Decision> {
        match self.expr.evaluate_in(current, root, vars)? {
            Some(Bson::String(word)) if word == "keep" => Ok(Decision::Keep),
            Some(Bson::String(word)) if word == "prune" => Ok(Decision::Prune),
            Some(Bson::String(word)) if word == "descend" => Ok(Decision::Descend),
            other => Err(MqlError::bad_value(format!(
                "`{OP}`'s expression must return $$KEEP, $$DESCEND or $$PRUNE, but returned {}",
                other.map_or_else(|| "a missing value".to_owned(), |value| value.to_string())
            ))),
        }
    }

    /// `current` as redacted, or `None` when it is pruned.
    fn document(
        &self,
        current: &Document,
        root: &Document,
        vars: &Variables,
        depth: usize,
    ) -> Result<Option<Document>> {
        if depth > MAX_DEPTH {
            return Err(MqlError::limit(format!(
                "`{OP}` descends deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(match self.decide(current, root, vars)? {
            Decision::Keep => Some(current.clone()),
            Decision::Prune => None,
            Decision::Descend => {
                let mut out = Document::new();
                for (name, value) in current {
                    if let Some(value) = self.value(value, root, vars, depth + 1)? {
                        out.insert(name.clone(), value);
                    }
                }
                Some(out)
            }
        })
    }

    /// A field's value as redacted: embedded documents are decided in turn (a pruned one
    /// leaves its field or array element out), arrays are walked, other values kept.
    fn value(
        &self,
        value: &Bson,
        root: &Document,
        vars: &Variables,
        depth: usize,
    ) -> Result<Option<Bson>> {
        Ok(match value {
            Bson::Document(doc) => self.document(doc, root, vars, depth)?.map(Bson::Document),
            Bson::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(item) = self.value(item, root, vars, depth + 1)? {
                        out.push(item);
                    }
                }
                Some(Bson::Array(out))
            }
            other => Some(other.clone()),
        })
    }
}
