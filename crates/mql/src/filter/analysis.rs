//! What a compiled filter says about paths: index constraints and the upsert seed.

use bson::{Bson, Document};

use super::{CmpOp, Leaf, Node, Part, Path, PathConstraint, Pred};
use crate::error::{MqlError, Result};
use crate::path::FieldPath;

/// The conjuncts of the top level: `$and` flattened, a one-clause `$or` read as its clause
/// (MongoDB's optimizer does the same).
fn conjuncts<'a>(node: &'a Node, out: &mut Vec<&'a Leaf>) {
    match node {
        Node::And(children) => children.iter().for_each(|child| conjuncts(child, out)),
        Node::Or(children) if children.len() == 1 => {
            children.iter().for_each(|child| conjuncts(child, out))
        }
        Node::Leaf(leaf) => out.push(leaf),
        Node::Same(leaves) => out.extend(leaves.iter()),
        _ => {}
    }
}

pub(crate) fn constraints(root: &Node) -> Vec<(FieldPath, PathConstraint)> {
    let mut leaves = Vec::new();
    conjuncts(root, &mut leaves);
    leaves
        .into_iter()
        .filter_map(|leaf| {
            let constraint = leaf_constraint(&leaf.pred)?;
            let path = FieldPath::parse(&leaf.path.dotted).ok()?;
            Some((path, constraint))
        })
        .collect()
}

fn leaf_constraint(pred: &Pred) -> Option<PathConstraint> {
    match pred {
        Pred::Cmp(CmpOp::Eq, value) if indexable(value) => {
            Some(PathConstraint::AnyOf(vec![value.clone()]))
        }
        // Matches nothing: an index answers it without reading a document.
        Pred::Never => Some(PathConstraint::AnyOf(Vec::new())),
        Pred::In(list)
            if list.regexes.is_empty() && !list.has_null && list.values.iter().all(indexable) =>
        {
            Some(PathConstraint::AnyOf(list.values.clone()))
        }
        Pred::Cmp(op, value)
            if indexable(value) && !matches!(value, Bson::RegularExpression(_)) =>
        {
            let bound = Some((value.clone(), matches!(op, CmpOp::Gte | CmpOp::Lte)));
            Some(match op {
                CmpOp::Gt | CmpOp::Gte => PathConstraint::Range {
                    lower: bound,
                    upper: None,
                },
                _ => PathConstraint::Range {
                    lower: None,
                    upper: bound,
                },
            })
        }
        _ => None,
    }
}

/// Values whose equality or range a multikey index can answer soundly: not null (it matches
/// missing fields), not arrays (equality to an array also matches the array as a whole, which
/// a multikey index does not store), not documents, not MinKey/MaxKey (they compare across
/// type brackets).
fn indexable(value: &Bson) -> bool {
    !matches!(
        value,
        Bson::Null
            | Bson::Undefined
            | Bson::Array(_)
            | Bson::Document(_)
            | Bson::MinKey
            | Bson::MaxKey
    )
}

pub(crate) fn upsert_seed(root: &Node) -> Result<Document> {
    let mut leaves = Vec::new();
    conjuncts(root, &mut leaves);
    let equalities: Vec<(&Path, &Bson)> = leaves
        .into_iter()
        .filter_map(|leaf| match &leaf.pred {
            Pred::Cmp(CmpOp::Eq, value) => Some((&leaf.path, value)),
            Pred::In(list) if list.regexes.is_empty() && list.values.len() == 1 => {
                list.values.first().map(|value| (&leaf.path, value))
            }
            _ => None,
        })
        .collect();
    for (index, (path, _)) in equalities.iter().enumerate() {
        for (other, _) in equalities.iter().skip(index + 1) {
            check_conflict(path, other)?;
        }
    }
    let mut seed = Document::new();
    for (path, value) in equalities {
        set_path(&mut seed, &path.parts, path, value.clone())?;
    }
    Ok(seed)
}

fn check_conflict(a: &Path, b: &Path) -> Result<()> {
    let shared = a
        .parts
        .iter()
        .zip(&b.parts)
        .take_while(|(x, y)| x.name == y.name)
        .count();
    if shared < a.parts.len().min(b.parts.len()) {
        return Ok(());
    }
    if a.parts.len() == b.parts.len() {
        return Err(MqlError::bad_value(format!(
            "cannot infer query fields to set, path `{}` is matched twice",
            a.dotted
        )));
    }
    let (short, long) = if a.parts.len() < b.parts.len() {
        (a, b)
    } else {
        (b, a)
    };
    Err(MqlError::bad_value(format!(
        "cannot infer query fields to set, both paths `{}` and `{}` are matched",
        short.dotted, long.dotted
    )))
}

fn set_path(doc: &mut Document, parts: &[Part], path: &Path, value: Bson) -> Result<()> {
    let Some((first, rest)) = parts.split_first() else {
        return Ok(());
    };
    if rest.is_empty() {
        doc.insert(first.name.clone(), value);
        return Ok(());
    }
    if !doc.contains_key(&first.name) {
        doc.insert(first.name.clone(), Document::new());
    }
    match doc.get_mut(&first.name) {
        Some(Bson::Document(inner)) => set_path(inner, rest, path, value),
        _ => Err(MqlError::bad_value(format!(
            "cannot infer query fields to set, path `{}` runs through a value",
            path.dotted
        ))),
    }
}
