//! Applying a parsed operator update: walking (and creating) paths, expanding positional
//! parts, and the checks that need the document (`_id`, conflicts between expanded paths).

use bson::{Bson, Document};

use crate::error::{ErrorKind, MqlError, Result};
use crate::path::array_index;
use crate::value::values_equal;

use super::modifiers::{show_field, Action, Outcome};
use super::parse::{compare_paths, is_prefix, ArrayFilter, Modifier, OperatorUpdate, Part};
use super::UpdateContext;

/// MongoDB refuses to pad an array by more than this many nulls in one update.
const MAX_PADDING: usize = 1_500_000;

/// One modifier at work: the operator (for messages), its parts and its action.
struct Target<'a> {
    operator: &'a str,
    dotted: &'a str,
    parts: &'a [Part],
    action: &'a Action,
}

/// State of one application.
struct Walker<'a> {
    filters: &'a [ArrayFilter],
    /// The document before the update (or, in place, the fields the modifiers name, as they
    /// were): array filters match elements as they were, not as an earlier modifier left
    /// them.
    original: &'a Document,
    matched: Option<usize>,
    now: bson::DateTime,
    /// Concrete paths touched, kept only when positional parts could make two overlap.
    touched: Option<Vec<String>>,
    changed: bool,
}

impl OperatorUpdate {
    /// Applies every modifier to a copy of `doc`; returns the copy and whether anything
    /// changed. `doc` itself is never touched.
    pub(super) fn apply(
        &self,
        doc: &Document,
        context: &UpdateContext,
        is_insert: bool,
    ) -> Result<(Document, bool)> {
        let mut copy = doc.clone();
        let changed = self.apply_in_place(&mut copy, context, is_insert)?;
        Ok((copy, changed))
    }

    /// Applies every modifier to `doc` itself; returns whether anything changed. Instead of
    /// copying the whole document first, it keeps a copy of the top-level fields the
    /// modifiers name (where they were and what they held), which array filters match
    /// against, and puts them back on an error, so an error still leaves `doc` as it was.
    pub(super) fn apply_in_place(
        &self,
        doc: &mut Document,
        context: &UpdateContext,
        is_insert: bool,
    ) -> Result<bool> {
        let saved = match self.top_level_names() {
            Some(names) => Saved::of(doc, names),
            // Not met: a path never starts with a positional part (parsing refuses it).
            None => Saved::of(doc, doc.keys().map(String::as_str).collect()),
        };
        self.apply_saving(doc, context, is_insert, saved)
    }

    /// [`Self::apply_in_place`] with `saved` holding (at least) the fields the modifiers name.
    pub(super) fn apply_saving(
        &self,
        doc: &mut Document,
        context: &UpdateContext,
        is_insert: bool,
        saved: Saved,
    ) -> Result<bool> {
        if self.positional && context.matched_position.is_none() {
            return Err(positional_missing());
        }
        if let (Some(dotted), false) = (&self.dollar_top, is_insert) {
            let name = dotted.split('.').next().unwrap_or(dotted);
            return Err(MqlError::new(
                ErrorKind::InvalidFieldName,
                format!(
                    "the dollar ($) prefixed field `{name}` in `{dotted}` is not valid for \
                     storage (only an upsert that inserts may create one)"
                ),
            ));
        }
        let id = doc.get("_id").cloned();
        let mut walker = Walker {
            filters: &self.array_filters,
            original: &saved.values,
            matched: context.matched_position,
            now: context.variables.now(),
            touched: self.dynamic.then(Vec::new),
            changed: false,
        };
        let mut root = Bson::Document(std::mem::take(doc));
        let result = walker.run(&self.modifiers, &mut root, is_insert);
        // The walk changes what a document holds, never the root itself.
        if let Bson::Document(updated) = root {
            *doc = updated;
        }
        let checked = (|| {
            // A conflict between expanded paths explains a failure better than its symptom (a
            // path made non-viable by the other modifier), so it is reported first.
            if let Some(touched) = walker.touched.take() {
                check_expanded_conflicts(touched)?;
            }
            result?;
            if let Some(id) = &id {
                check_id(id, doc, &self.modifiers)?;
            }
            Ok(walker.changed)
        })();
        if checked.is_err() {
            saved.restore(doc);
        }
        checked
    }

    /// The top-level field each modifier names (both of a `$rename`), or `None` when one
    /// does not start with a field name.
    fn top_level_names(&self) -> Option<Vec<&str>> {
        let mut names: Vec<&str> = Vec::new();
        for modifier in &self.modifiers {
            let Part::Field(name) = modifier.path.parts.first()? else {
                return None;
            };
            names.push(name);
            if let Action::Rename { from, .. } = &modifier.action {
                names.push(from.first()?);
            }
        }
        names.sort_unstable();
        names.dedup();
        Some(names)
    }
}

/// The top-level fields an in-place update may change, as they were: name, and position and
/// value when present.
pub(super) struct Saved {
    /// The named fields the document had, as they were: also what array filters match
    /// elements against (an element is always under the field its modifier names).
    values: Document,
    /// Per named field: where it was, when present.
    positions: Vec<(String, Option<usize>)>,
}

impl Saved {
    pub(super) fn of(doc: &Document, names: Vec<&str>) -> Saved {
        let mut values = Document::new();
        let positions = names
            .into_iter()
            .map(|name| {
                let at = doc.keys().position(|key| key == name);
                if let (Some(_), Some(value)) = (at, doc.get(name)) {
                    values.insert(name, value.clone());
                }
                (name.to_owned(), at)
            })
            .collect();
        Saved { values, positions }
    }

    /// Puts `doc` back as it was: the other fields kept their order (an update only changes,
    /// removes or appends the fields it names), and the saved ones go back to their places.
    fn restore(mut self, doc: &mut Document) {
        let saved_name = |key: &str| self.positions.iter().any(|(name, _)| name == key);
        let others: Vec<(String, Bson)> = std::mem::take(doc)
            .into_iter()
            .filter(|(key, _)| !saved_name(key))
            .collect();
        let mut placed: Vec<(usize, String, Bson)> = Vec::new();
        for (name, at) in std::mem::take(&mut self.positions) {
            if let (Some(at), Some(value)) = (at, self.values.remove(&name)) {
                placed.push((at, name, value));
            }
        }
        placed.sort_by_key(|(at, _, _)| *at);
        let mut placed = placed.into_iter().peekable();
        let mut others = others.into_iter();
        let mut position = 0;
        loop {
            let next = match placed.peek() {
                Some((at, _, _)) if *at == position => placed.next().map(|(_, k, v)| (k, v)),
                _ => others
                    .next()
                    .or_else(|| placed.next().map(|(_, k, v)| (k, v))),
            };
            let Some((key, value)) = next else {
                break;
            };
            doc.insert(key, value);
            position += 1;
        }
    }
}

fn positional_missing() -> MqlError {
    MqlError::bad_value("the positional operator did not find the match needed from the query")
}

impl Walker<'_> {
    fn run(&mut self, modifiers: &[Modifier], root: &mut Bson, is_insert: bool) -> Result<()> {
        for modifier in modifiers {
            if matches!(modifier.action, Action::SetOnInsert(_)) && !is_insert {
                continue;
            }
            if let Action::Rename { from, from_dotted } = &modifier.action {
                self.rename(modifier, from, from_dotted, root)?;
                continue;
            }
            let target = Target {
                operator: modifier.operator,
                dotted: &modifier.path.dotted,
                parts: &modifier.path.parts,
                action: &modifier.action,
            };
            let mut at = String::new();
            self.descend(&target, root, 0, &mut at)?;
        }
        Ok(())
    }

    /// Resolves `target.parts[index]` inside `container`; `at` is the concrete path of
    /// `container` (empty for the root).
    fn descend(
        &mut self,
        target: &Target<'_>,
        container: &mut Bson,
        index: usize,
        at: &mut String,
    ) -> Result<()> {
        let Some(part) = target.parts.get(index) else {
            return Ok(());
        };
        match part {
            Part::Field(name) => self.descend_field(target, container, name, index, at),
            Part::Positional => {
                let name = self.matched.ok_or_else(positional_missing)?.to_string();
                self.descend_field(target, container, &name, index, at)
            }
            Part::All | Part::Filtered(_) => self.descend_array(target, container, part, index, at),
        }
    }

    fn descend_field(
        &mut self,
        target: &Target<'_>,
        container: &mut Bson,
        name: &str,
        index: usize,
        at: &mut String,
    ) -> Result<()> {
        let mark = at.len();
        push_component(at, name);
        let last = index + 1 == target.parts.len();
        let result = match container {
            Bson::Document(doc) => match doc.get_mut(name) {
                Some(child) if !last => self.descend(target, child, index + 1, at),
                Some(child) => match self.leaf(target, child, at)? {
                    Outcome::Remove => {
                        doc.remove(name);
                        Ok(())
                    }
                    _ => Ok(()),
                },
                None => match self.create(target, index, at)? {
                    Some(value) => {
                        doc.insert(name, value);
                        Ok(())
                    }
                    None => Ok(()),
                },
            },
            Bson::Array(items) => match array_index(name) {
                Some(position) => self.descend_element(target, items, position, index, at),
                None => self.not_viable(target, container, at, mark),
            },
            scalar => self.not_viable(target, scalar, at, mark),
        };
        at.truncate(mark);
        result
    }

    fn descend_element(
        &mut self,
        target: &Target<'_>,
        items: &mut Vec<Bson>,
        position: usize,
        index: usize,
        at: &mut String,
    ) -> Result<()> {
        let last = index + 1 == target.parts.len();
        match items.get_mut(position) {
            Some(child) if !last => self.descend(target, child, index + 1, at),
            Some(child) => {
                self.leaf(target, child, at)?;
                Ok(())
            }
            None => {
                let Some(value) = self.create(target, index, at)? else {
                    return Ok(());
                };
                if position - items.len() > MAX_PADDING {
                    return Err(MqlError::bad_value(format!(
                        "`{}` at `{at}` would pad the array with more than {MAX_PADDING} nulls",
                        target.operator
                    )));
                }
                items.resize(position, Bson::Null);
                items.push(value);
                Ok(())
            }
        }
    }

    fn descend_array(
        &mut self,
        target: &Target<'_>,
        container: &mut Bson,
        part: &Part,
        index: usize,
        at: &mut String,
    ) -> Result<()> {
        let Bson::Array(items) = container else {
            return Err(MqlError::bad_value(format!(
                "cannot apply array updates to non-array element {} (`{}` at `{}`)",
                show_field(last_component(at), container),
                target.operator,
                target.dotted
            )));
        };
        let last = index + 1 == target.parts.len();
        for (position, item) in items.iter_mut().enumerate() {
            let mark = at.len();
            push_component(at, &position.to_string());
            if !self.element_matches(part, item, at)? {
                at.truncate(mark);
                continue;
            }
            let result = if last {
                self.leaf(target, item, at).map(|_| ())
            } else {
                self.descend(target, item, index + 1, at)
            };
            at.truncate(mark);
            result?;
        }
        Ok(())
    }

    fn element_matches(&self, part: &Part, item: &Bson, at: &str) -> Result<bool> {
        let Part::Filtered(number) = part else {
            return Ok(true);
        };
        let Some(array_filter) = self.filters.get(*number) else {
            return Ok(false);
        };
        let before = lookup_dotted(self.original, at).unwrap_or(item);
        let mut wrapped = Document::new();
        wrapped.insert(array_filter.identifier.as_str(), before.clone());
        array_filter.filter.matches(&wrapped)
    }

    /// Applies the action to an existing value. A removal inside an array leaves a null (the
    /// element keeps its position); the caller removes a document field.
    fn leaf(&mut self, target: &Target<'_>, value: &mut Bson, at: &str) -> Result<Outcome> {
        self.touch(at);
        let outcome = target
            .action
            .on_existing(target.operator, value, at, self.now)?;
        match &outcome {
            Outcome::Unchanged => {}
            Outcome::Changed => self.changed = true,
            Outcome::Replace(new) => {
                *value = new.clone();
                self.changed = true;
            }
            Outcome::Remove => {
                *value = Bson::Null;
                self.changed = true;
            }
        }
        Ok(outcome)
    }

    /// The value to store where `target.parts[index]` is missing, with documents created for
    /// the rest of the path; `None` when the action leaves missing paths alone.
    fn create(&mut self, target: &Target<'_>, index: usize, at: &str) -> Result<Option<Bson>> {
        let rest = target.parts.get(index + 1..).unwrap_or(&[]);
        if let Some(array_at) = rest.iter().position(Part::is_array_update) {
            let mut path = at.to_owned();
            for part in rest.iter().take(array_at) {
                push_component(&mut path, &self.part_name(part));
            }
            return Err(MqlError::bad_value(format!(
                "the path `{path}` must exist in the document in order to apply array updates \
                 (`{}` at `{}`)",
                target.operator, target.dotted
            )));
        }
        let Some(mut value) = target.action.on_missing(self.now) else {
            return Ok(None);
        };
        let mut full = at.to_owned();
        for part in rest {
            push_component(&mut full, &self.part_name(part));
        }
        self.touch(&full);
        for part in rest.iter().rev() {
            let mut wrapper = Document::new();
            wrapper.insert(self.part_name(part), value);
            value = Bson::Document(wrapper);
        }
        self.changed = true;
        Ok(Some(value))
    }

    fn part_name(&self, part: &Part) -> String {
        match part {
            Part::Field(name) => name.clone(),
            Part::Positional => self.matched.map(|p| p.to_string()).unwrap_or_default(),
            Part::All => "$[]".to_owned(),
            Part::Filtered(_) => "$[<id>]".to_owned(),
        }
    }

    /// The path runs through a value that cannot hold `at`'s last component. `mark` is where
    /// the parent's path ends in `at`.
    fn not_viable(
        &mut self,
        target: &Target<'_>,
        parent: &Bson,
        at: &str,
        mark: usize,
    ) -> Result<()> {
        if !target.action.creates() {
            return Ok(());
        }
        self.touch(at);
        let parent_name = last_component(at.get(..mark).unwrap_or(""));
        Err(MqlError::new(
            ErrorKind::PathNotViable,
            format!(
                "cannot create field `{}` in element {} (`{}` at `{}`)",
                last_component(at),
                show_field(parent_name, parent),
                target.operator,
                target.dotted
            ),
        ))
    }

    fn touch(&mut self, at: &str) {
        if let Some(touched) = &mut self.touched {
            touched.push(at.to_owned());
        }
    }
}

/// The value at a concrete dotted path (indexes into arrays only).
fn lookup_dotted<'a>(doc: &'a Document, dotted: &str) -> Option<&'a Bson> {
    let mut parts = dotted.split('.');
    let mut current = doc.get(parts.next()?)?;
    for part in parts {
        current = match current {
            Bson::Document(inner) => inner.get(part)?,
            Bson::Array(items) => items.get(array_index(part)?)?,
            _ => return None,
        };
    }
    Some(current)
}

fn push_component(at: &mut String, name: &str) {
    if !at.is_empty() {
        at.push('.');
    }
    at.push_str(name);
}

fn last_component(at: &str) -> &str {
    at.rsplit('.').next().unwrap_or(at)
}

/// Two positional expansions (or one and a plain path) reaching the same element or a prefix
/// of each other conflict, as MongoDB finds when it merges the update tree per element.
fn check_expanded_conflicts(touched: Vec<String>) -> Result<()> {
    let mut paths: Vec<Vec<&str>> = touched.iter().map(|p| p.split('.').collect()).collect();
    paths.sort_by(|a, b| compare_paths(a, b));
    for pair in paths.windows(2) {
        if let [short, long] = pair {
            if is_prefix(short, long) {
                return Err(MqlError::new(
                    ErrorKind::ConflictingUpdateOperators,
                    format!("update created a conflict at `{}`", long.join(".")),
                ));
            }
        }
    }
    Ok(())
}

fn check_id(original: &Bson, doc: &Document, modifiers: &[Modifier]) -> Result<()> {
    if matches!(doc.get("_id"), Some(now) if values_equal(now, original)) {
        return Ok(());
    }
    let culprit = modifiers
        .iter()
        .find_map(|m| match &m.action {
            Action::Rename { from, from_dotted } if from.first().is_some_and(|h| h == "_id") => {
                Some(from_dotted.as_str())
            }
            _ if m.path.names.first().is_some_and(|h| h == "_id") => Some(m.path.dotted.as_str()),
            _ => None,
        })
        .unwrap_or("_id");
    Err(MqlError::new(
        ErrorKind::ImmutableField,
        format!(
            "performing an update on the path `{culprit}` would modify the immutable field `_id`"
        ),
    ))
}

impl Walker<'_> {
    /// `$rename`: the source must not run through an array; a missing source is a no-op. The
    /// value is then set at the destination like `$set`.
    fn rename(
        &mut self,
        modifier: &Modifier,
        from: &[String],
        from_dotted: &str,
        root: &mut Bson,
    ) -> Result<()> {
        let Bson::Document(doc) = root else {
            return Ok(());
        };
        if !source_exists(doc, from, from_dotted)? {
            return Ok(());
        }
        check_destination(doc, &modifier.path.names, &modifier.path.dotted)?;
        let Some(value) = remove_path(doc, from) else {
            return Ok(());
        };
        self.touch(from_dotted);
        self.changed = true;
        let action = Action::Set(value);
        let target = Target {
            operator: "$rename",
            dotted: &modifier.path.dotted,
            parts: &modifier.path.parts,
            action: &action,
        };
        let mut at = String::new();
        self.descend(&target, root, 0, &mut at)
    }
}

fn source_exists(doc: &Document, from: &[String], from_dotted: &str) -> Result<bool> {
    let Some((last, parents)) = from.split_last() else {
        return Ok(false);
    };
    let mut current = doc;
    let mut walked: Vec<&str> = Vec::new();
    for name in parents {
        walked.push(name);
        match current.get(name) {
            None => return Ok(false),
            Some(Bson::Document(inner)) => current = inner,
            Some(Bson::Array(_)) => {
                return Err(MqlError::bad_value(format!(
                    "the source field for `$rename` cannot be an array element: `{from_dotted}` \
                     has an array field called `{}`",
                    walked.join(".")
                )))
            }
            Some(scalar) => {
                return Err(MqlError::new(
                    ErrorKind::PathNotViable,
                    format!(
                        "`$rename` cannot traverse the element {} to reach `{from_dotted}`",
                        show_field(name, scalar)
                    ),
                ))
            }
        }
    }
    Ok(current.contains_key(last))
}

fn check_destination(doc: &Document, to: &[String], to_dotted: &str) -> Result<()> {
    let mut current = doc;
    let mut walked: Vec<&str> = Vec::new();
    for name in to.iter().take(to.len().saturating_sub(1)) {
        walked.push(name);
        match current.get(name) {
            Some(Bson::Document(inner)) => current = inner,
            Some(Bson::Array(_)) => {
                return Err(MqlError::bad_value(format!(
                    "the destination field for `$rename` cannot be an array element: \
                     `{to_dotted}` has an array field called `{}`",
                    walked.join(".")
                )))
            }
            // Missing parents are created; a scalar fails as for `$set`.
            _ => return Ok(()),
        }
    }
    Ok(())
}

fn remove_path(doc: &mut Document, path: &[String]) -> Option<Bson> {
    let (last, parents) = path.split_last()?;
    let mut current = doc;
    for name in parents {
        current = match current.get_mut(name)? {
            Bson::Document(inner) => inner,
            _ => return None,
        };
    }
    current.remove(last)
}
