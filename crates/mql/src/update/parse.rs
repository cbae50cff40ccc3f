//! Parsing an operator update: operators, paths, operands, array filters and conflicts.

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::error::{ErrorKind, MqlError, Result};
use crate::filter::Filter;
use crate::limits::MAX_DEPTH;

use super::modifiers::{show, show_field, Action};

/// One component of an update path.
#[derive(Debug, Clone)]
pub(super) enum Part {
    /// A field name, or an array index when the value there is an array.
    Field(String),
    /// `$`: the array position the query matched.
    Positional,
    /// `$[]`: every element.
    All,
    /// `$[<identifier>]`: the elements matching array filter number `.0`.
    Filtered(usize),
}

impl Part {
    pub(super) fn is_array_update(&self) -> bool {
        matches!(self, Part::All | Part::Filtered(_))
    }
}

/// A parsed update path.
#[derive(Debug, Clone)]
pub(super) struct UpdatePath {
    pub(super) dotted: String,
    pub(super) names: Vec<String>,
    pub(super) parts: Vec<Part>,
}

impl UpdatePath {
    fn is_dynamic(&self) -> bool {
        self.parts
            .iter()
            .any(|part| !matches!(part, Part::Field(_)))
    }

    fn has_positional(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, Part::Positional))
    }
}

/// One operator applied to one path.
#[derive(Debug, Clone)]
pub(super) struct Modifier {
    pub(super) operator: &'static str,
    pub(super) path: UpdatePath,
    pub(super) action: Action,
}

/// A compiled array filter: the identifier and the filter over `{identifier: element}`.
#[derive(Debug, Clone)]
pub(super) struct ArrayFilter {
    pub(super) identifier: String,
    pub(super) filter: Filter,
}

/// A parsed operator update.
#[derive(Debug, Clone)]
pub(crate) struct OperatorUpdate {
    pub(super) modifiers: Vec<Modifier>,
    pub(super) array_filters: Vec<ArrayFilter>,
    /// Some path expands at apply time (`$`, `$[]`, `$[x]`), so conflicts between concrete
    /// paths can only be found then.
    pub(super) dynamic: bool,
    pub(super) positional: bool,
    /// A path that writes a top-level field whose name starts with `$` (`$set: {"$hotel": 1}`):
    /// MongoDB stores one only in the document an upsert inserts; updating an existing
    /// document with it is an error. (Such names deeper down, `address.$street`, are fine.)
    pub(super) dollar_top: Option<String>,
}

const OPERATORS: &[&str] = &[
    "$set",
    "$unset",
    "$inc",
    "$mul",
    "$min",
    "$max",
    "$rename",
    "$currentDate",
    "$setOnInsert",
    "$push",
    "$addToSet",
    "$pop",
    "$pull",
    "$pullAll",
    "$bit",
];

impl OperatorUpdate {
    pub(super) fn parse(doc: &Document, array_filters: &[Document]) -> Result<OperatorUpdate> {
        let filters = parse_array_filters(array_filters)?;
        let mut used = vec![false; filters.len()];
        let mut modifiers = Vec::new();
        for (name, operand) in doc {
            let operator = operator_name(name)?;
            let Bson::Document(fields) = operand else {
                return Err(MqlError::parse(format!(
                    "modifiers operate on fields but `{operator}` was given {} instead of a \
                     document such as {{{operator}: {{<field>: ...}}}}",
                    crate::value::type_name(operand)
                )));
            };
            for (path, value) in fields {
                modifiers.push(parse_modifier(operator, path, value, &filters, &mut used)?);
            }
        }
        if let Some(unused) = filters.iter().zip(&used).find(|(_, used)| !**used) {
            return Err(MqlError::new(
                ErrorKind::NoSuchArrayFilter,
                format!(
                    "the array filter for identifier `{}` was not used in the update",
                    unused.0.identifier
                ),
            ));
        }
        modifiers.sort_by(|a, b| compare_paths(&a.path.names, &b.path.names));
        check_conflicts(&modifiers)?;
        let dollar_top = modifiers
            .iter()
            .filter(|m| m.operator != "$unset")
            .find(|m| {
                m.path
                    .names
                    .first()
                    .is_some_and(|name| name.starts_with('$'))
            })
            .map(|m| m.path.dotted.clone());
        Ok(OperatorUpdate {
            dynamic: modifiers.iter().any(|m| m.path.is_dynamic()),
            positional: modifiers.iter().any(|m| m.path.has_positional()),
            dollar_top,
            modifiers,
            array_filters: filters,
        })
    }
}

fn operator_name(name: &str) -> Result<&'static str> {
    OPERATORS
        .iter()
        .find(|known| **known == name)
        .copied()
        .ok_or_else(|| {
            if name.starts_with('$') {
                MqlError::unknown_operator(name, "update operator")
            } else {
                MqlError::parse(format!(
                    "unknown update modifier `{name}`: an update mixes operators and plain \
                     fields; use only update operators or a replacement document"
                ))
            }
        })
}

fn parse_modifier(
    operator: &'static str,
    path: &str,
    value: &Bson,
    filters: &[ArrayFilter],
    used: &mut [bool],
) -> Result<Modifier> {
    let parsed = parse_path(operator, path, filters, used)?;
    if operator != "$rename" {
        let action = Action::parse(operator, &parsed, value)?;
        return Ok(Modifier {
            operator,
            path: parsed,
            action,
        });
    }
    reject_dynamic(&parsed, "source")?;
    let Bson::String(target) = value else {
        return Err(MqlError::bad_value(format!(
            "the 'to' field for `$rename` must be a string: {}",
            show_field(path, value)
        )));
    };
    let target = parse_path(operator, target, filters, used)?;
    reject_dynamic(&target, "destination")?;
    if target.names == parsed.names {
        return Err(MqlError::bad_value(format!(
            "the source and target field for `$rename` must differ: `{path}`"
        )));
    }
    if is_prefix(&parsed.names, &target.names) || is_prefix(&target.names, &parsed.names) {
        return Err(MqlError::bad_value(format!(
            "the source and target field for `$rename` must not be on the same path: `{path}` \
             and `{}`",
            target.dotted
        )));
    }
    Ok(Modifier {
        operator,
        path: target,
        action: Action::Rename {
            from: parsed.names,
            from_dotted: parsed.dotted,
        },
    })
}

/// Parses and validates one update path. `Positional`/array parts are allowed unless the
/// caller (`$rename`) rejects dynamic paths afterwards.
pub(super) fn parse_path(
    operator: &str,
    dotted: &str,
    filters: &[ArrayFilter],
    used: &mut [bool],
) -> Result<UpdatePath> {
    let names = split_path(operator, dotted)?;
    let mut parts = Vec::with_capacity(names.len());
    let mut positional = 0;
    for (index, name) in names.iter().enumerate() {
        let part = parse_part(name, dotted, filters, used)?;
        if !matches!(part, Part::Field(_)) && index == 0 {
            return Err(MqlError::bad_value(format!(
                "cannot have a positional element (`$`, `$[]`, `$[<id>]`) in the first position \
                 in path `{dotted}`"
            )));
        }
        if matches!(part, Part::Positional) {
            positional += 1;
        }
        parts.push(part);
    }
    if positional > 1 {
        return Err(MqlError::bad_value(format!(
            "too many positional (i.e. '$') elements found in path `{dotted}`"
        )));
    }
    Ok(UpdatePath {
        dotted: dotted.to_owned(),
        names,
        parts,
    })
}

fn split_path(operator: &str, dotted: &str) -> Result<Vec<String>> {
    if dotted.is_empty() {
        return Err(MqlError::parse(format!(
            "an empty update path is not valid (in `{operator}`)"
        )));
    }
    let names: Vec<String> = dotted.split('.').map(str::to_owned).collect();
    if names.iter().any(String::is_empty) {
        return Err(MqlError::parse(format!(
            "the update path `{dotted}` in `{operator}` contains an empty field name, which is \
             not allowed"
        )));
    }
    // A longer path would build a document deeper than a stored document may be.
    if names.len() > MAX_DEPTH {
        return Err(MqlError::limit(format!(
            "the update path `{dotted}` in `{operator}` has more than {MAX_DEPTH} components"
        )));
    }
    Ok(names)
}

fn parse_part(
    name: &str,
    dotted: &str,
    filters: &[ArrayFilter],
    used: &mut [bool],
) -> Result<Part> {
    if !name.starts_with('$') {
        return Ok(Part::Field(name.to_owned()));
    }
    if name == "$" {
        return Ok(Part::Positional);
    }
    if name == "$[]" {
        return Ok(Part::All);
    }
    if let Some(identifier) = name
        .strip_prefix("$[")
        .and_then(|rest| rest.strip_suffix(']'))
    {
        let found = filters
            .iter()
            .position(|filter| filter.identifier == identifier);
        return match found {
            Some(index) => {
                if let Some(flag) = used.get_mut(index) {
                    *flag = true;
                }
                Ok(Part::Filtered(index))
            }
            None => Err(MqlError::new(
                ErrorKind::NoSuchArrayFilter,
                format!("no array filter found for identifier `{identifier}` in path `{dotted}`"),
            )),
        };
    }
    if name.starts_with("$[") {
        return Err(MqlError::new(
            ErrorKind::BadValue,
            format!(
                "`{name}` in `{dotted}` is not a valid array filter position (`$[<identifier>]`)"
            ),
        ));
    }
    // A field whose name starts with `$` (MongoDB 5.0 and later store them; see `dollar_top`
    // for the one place an update may not write one).
    Ok(Part::Field(name.to_owned()))
}

/// Field names compare as MongoDB 5.0+ orders update children: numeric names numerically,
/// others bytewise. Numeric names sort before the rest so that the order stays total.
pub(super) fn compare_components(a: &str, b: &str) -> Ordering {
    // Positional parts go first so that an expansion is applied before a literal index it
    // might overlap, which lets the overlap be reported as a conflict.
    match (a.starts_with('$'), b.starts_with('$')) {
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    match (array_index_text(a), array_index_text(b)) {
        (Some(x), Some(y)) => x
            .len()
            .cmp(&y.len())
            .then_with(|| x.cmp(y))
            .then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.as_bytes().cmp(b.as_bytes()),
    }
}

/// The digits of a numeric field name without leading zeros.
fn array_index_text(name: &str) -> Option<&str> {
    if name.is_empty() || !name.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let trimmed = name.trim_start_matches('0');
    Some(if trimmed.is_empty() { "0" } else { trimmed })
}

pub(super) fn compare_paths<S: AsRef<str>>(a: &[S], b: &[S]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = compare_components(x.as_ref(), y.as_ref());
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

pub(super) fn is_prefix<S: AsRef<str>>(prefix: &[S], path: &[S]) -> bool {
    prefix.len() <= path.len()
        && prefix
            .iter()
            .zip(path)
            .all(|(a, b)| a.as_ref() == b.as_ref())
}

/// Two modifiers conflict when one path equals or is a prefix of another (the `$rename`
/// source counts too). After sorting, every path that has another as a prefix directly follows
/// a path with that prefix, so comparing neighbours finds every conflict.
fn check_conflicts(modifiers: &[Modifier]) -> Result<()> {
    let mut paths: Vec<(&[String], &str)> = Vec::with_capacity(modifiers.len());
    for modifier in modifiers {
        paths.push((&modifier.path.names, &modifier.path.dotted));
        if let Action::Rename { from, from_dotted } = &modifier.action {
            paths.push((from, from_dotted));
        }
    }
    paths.sort_by(|a, b| compare_paths(a.0, b.0));
    for pair in paths.windows(2) {
        if let [(short, short_dotted), (long, long_dotted)] = pair {
            if is_prefix(short, long) {
                return Err(MqlError::new(
                    ErrorKind::ConflictingUpdateOperators,
                    format!(
                        "updating the path `{long_dotted}` would create a conflict at \
                         `{short_dotted}`"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn parse_array_filters(docs: &[Document]) -> Result<Vec<ArrayFilter>> {
    let mut filters: Vec<ArrayFilter> = Vec::with_capacity(docs.len());
    for doc in docs {
        let identifier = filter_identifier(doc)?;
        if filters.iter().any(|filter| filter.identifier == identifier) {
            return Err(MqlError::parse(format!(
                "found multiple array filters with the same top-level field name `{identifier}`"
            )));
        }
        let valid = identifier
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
            && identifier.chars().all(|c| c.is_ascii_alphanumeric());
        if !valid {
            return Err(MqlError::bad_value(format!(
                "the top-level field name of an array filter must be an alphanumeric string \
                 beginning with a lowercase letter, found `{identifier}`"
            )));
        }
        filters.push(ArrayFilter {
            filter: Filter::compile(doc)?,
            identifier,
        });
    }
    Ok(filters)
}

/// The single top-level field name an array filter constrains (looking inside `$and`, `$or`
/// and `$nor`).
fn filter_identifier(doc: &Document) -> Result<String> {
    let mut found: Option<String> = None;
    collect_identifiers(doc, &mut found)?;
    found.ok_or_else(|| {
        MqlError::parse(format!(
            "cannot use an expression without a top-level field name in arrayFilters: {}",
            show(&Bson::Document(doc.clone()))
        ))
    })
}

fn collect_identifiers(doc: &Document, found: &mut Option<String>) -> Result<()> {
    for (key, value) in doc {
        if matches!(key.as_str(), "$and" | "$or" | "$nor") {
            let Bson::Array(clauses) = value else {
                return Err(MqlError::bad_value(format!("`{key}` must be an array")));
            };
            for clause in clauses {
                let Bson::Document(clause) = clause else {
                    return Err(MqlError::bad_value(format!(
                        "`{key}` entries must be documents"
                    )));
                };
                collect_identifiers(clause, found)?;
            }
            continue;
        }
        if key.starts_with('$') {
            return Err(MqlError::bad_value(format!(
                "`{key}` cannot be used at the top level of an array filter"
            )));
        }
        let head = key.split('.').next().unwrap_or(key.as_str());
        match found {
            Some(existing) if existing != head => {
                return Err(MqlError::parse(format!(
                    "an array filter must use a single top-level field name, found `{existing}` \
                     and `{head}`"
                )))
            }
            Some(_) => {}
            None => *found = Some(head.to_owned()),
        }
    }
    Ok(())
}

/// Rejects `$rename` paths with positional parts; MongoDB calls them dynamic.
pub(super) fn reject_dynamic(path: &UpdatePath, role: &str) -> Result<()> {
    if path.is_dynamic() {
        return Err(MqlError::bad_value(format!(
            "the {role} field for `$rename` may not be dynamic: `{}`",
            path.dotted
        )));
    }
    Ok(())
}
