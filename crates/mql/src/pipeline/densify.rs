//! `$densify`: documents added where a sequence of numbers or dates has gaps.
//!
//! A port of MongoDB's `document_source_densify.cpp`: the stage sorts its input (by the
//! partition fields, then the densified field; by the field alone with `bounds: "full"`),
//! then runs the server's `$_internalDensify` state machine over it. The server pulls one
//! document at a time and drains a generator of new documents before it pulls the next; this
//! port pushes each input document through the same states and drains each generator at once,
//! which gives the same documents in the same order. The server keeps its partitions in a hash
//! table, so the order in which partitions are finished after the last input document is
//! unspecified there; here it is the order in which they were first seen.

use bson::{Bson, Document};

use super::lookup::set_path;
use crate::error::{MqlError, Result};
use crate::expr::ValueSet;
use crate::expr::{add_in_utc, arithmetic, is_time_unit, Expr, Variables};
use crate::sort::SortSpec;
use crate::value::{compare_values, number, Number};

/// Most documents one `$densify` may generate, the server's default for
/// `internalQueryMaxAllowedDensifyDocs`.
pub const MAX_DENSIFY_DOCS: usize = 500_000;

const OP: &str = "$densify";

/// A compiled `$densify`.
#[derive(Debug, Clone)]
pub(crate) struct Densify {
    field: Vec<String>,
    /// `{a: "$a", x: {y: "$x.y"}}` for `partitionByFields: ["a", "x.y"]`: evaluated on a
    /// document, its partition key and the fields every document generated for it carries.
    partition: Option<Expr>,
    range: Range,
    sort: SortSpec,
}

#[derive(Debug, Clone)]
struct Range {
    step: Bson,
    /// A time unit: the field holds dates.
    unit: Option<String>,
    bounds: Bounds,
}

#[derive(Debug, Clone)]
enum Bounds {
    Full,
    Partition,
    Explicit(Box<(Value, Value)>),
}

/// A densified value: a number (any numeric type, kept) or a date in milliseconds.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Number(Bson),
    Date(i64),
}

impl Value {
    fn to_bson(&self) -> Bson {
        match self {
            Value::Number(value) => value.clone(),
            Value::Date(millis) => Bson::DateTime(bson::DateTime::from_millis(*millis)),
        }
    }

    fn compare(&self, other: &Value) -> std::cmp::Ordering {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => compare_values(a, b),
            (Value::Date(a), Value::Date(b)) => a.cmp(b),
            // Numbers sort before dates; the stage never compares the two.
            (Value::Number(_), Value::Date(_)) => std::cmp::Ordering::Less,
            (Value::Date(_), Value::Number(_)) => std::cmp::Ordering::Greater,
        }
    }

    fn lt(&self, other: &Value) -> bool {
        self.compare(other).is_lt()
    }

    fn same(&self, other: &Value) -> bool {
        self.compare(other).is_eq()
    }
}

impl Range {
    fn step_long(&self) -> i64 {
        number(&self.step).map_or(0, Number::saturating_long)
    }

    fn shift(&self, value: &Value, forward: bool) -> Result<Value> {
        match value {
            Value::Number(n) => {
                let op = if forward { "$add" } else { "$subtract" };
                match arithmetic(op, n.clone(), self.step.clone())? {
                    Some(result) => Ok(Value::Number(result)),
                    None => Err(MqlError::bad_value("`$densify` could not step its value")),
                }
            }
            Value::Date(millis) => {
                let unit = self.unit.as_deref().unwrap_or("millisecond");
                let step = self.step_long();
                let amount = if forward { step } else { step.saturating_neg() };
                Ok(Value::Date(add_in_utc(OP, *millis, unit, amount)?))
            }
        }
    }

    fn increment(&self, value: &Value) -> Result<Value> {
        self.shift(value, true)
    }

    fn decrement(&self, value: &Value) -> Result<Value> {
        self.shift(value, false)
    }

    /// Whether `value` is a whole number of steps above `base` (`isOnStepRelativeTo`).
    fn on_step(&self, value: &Value, base: &Value) -> Result<bool> {
        match (value, base) {
            (Value::Number(v), Value::Number(b)) => {
                let diff = arithmetic("$subtract", v.clone(), b.clone())?.unwrap_or(Bson::Null);
                let remainder = arithmetic("$mod", diff, self.step.clone())?;
                Ok(remainder
                    .as_ref()
                    .and_then(number)
                    .is_some_and(|r| r.as_f64() == 0.0))
            }
            (Value::Date(v), Value::Date(b)) => {
                let unit = self.unit.as_deref().unwrap_or("millisecond");
                let step = self.step_long();
                if matches!(unit, "month" | "quarter" | "year") {
                    // Months have no fixed length: step from the base until reaching the value.
                    let mut stepped = *b;
                    while stepped < *v {
                        stepped = add_in_utc(OP, stepped, unit, step)?;
                    }
                    Ok(stepped == *v)
                } else {
                    let step_millis = add_in_utc(OP, 0, unit, step)?;
                    let diff = v.saturating_sub(*b);
                    Ok(step_millis != 0 && diff % step_millis == 0)
                }
            }
            _ => Ok(false),
        }
    }
}

impl Densify {
    pub(crate) fn compile(spec: &Document) -> Result<Densify> {
        let mut field = None;
        let mut partitions: Vec<String> = Vec::new();
        let mut range = None;
        for (name, value) in spec {
            match name.as_str() {
                "field" => match value {
                    Bson::String(path) => field = Some(field_path(path)?),
                    _ => return Err(wrong_type("field", "string", value)),
                },
                "partitionByFields" => {
                    let Bson::Array(items) = value else {
                        return Err(wrong_type("partitionByFields", "array", value));
                    };
                    for item in items {
                        match item {
                            Bson::String(path) => {
                                field_path(path)?;
                                partitions.push(path.clone());
                            }
                            other => return Err(wrong_type("partitionByFields", "string", other)),
                        }
                    }
                }
                "range" => match value {
                    Bson::Document(spec) => range = Some(parse_range(spec)?),
                    _ => return Err(wrong_type("range", "object", value)),
                },
                other => {
                    return Err(MqlError::parse(format!(
                        "BSON field '$densify.{other}' is an unknown field."
                    )))
                }
            }
        }
        let field = field.ok_or_else(|| missing("field"))?;
        let range = range.ok_or_else(|| missing("range"))?;
        if matches!(range.bounds, Bounds::Partition) && partitions.is_empty() {
            return Err(MqlError::bad_value(
                "One cannot specify the bounds as 'partition' without specifying a non-empty \
                 array of partitionByFields. You may have meant to specify 'full' bounds.",
            ));
        }
        let dotted = field.join(".");
        for partition in &partitions {
            if partition == &dotted || partition.starts_with(&format!("{dotted}.")) {
                return Err(MqlError::bad_value(
                    "BSON field '$densify.partitionByFields' contains the field that is being \
                     densified",
                ));
            }
            if dotted.starts_with(&format!("{partition}.")) {
                return Err(MqlError::bad_value(
                    "The field that is being densified contains the BSON field \
                     '$densify.partitionByFields'",
                ));
            }
        }
        // The sort the server puts before `$_internalDensify`: partitions first, except for
        // full bounds, which densify across partitions in the field's order.
        let mut sort = Document::new();
        if !matches!(range.bounds, Bounds::Full) {
            for partition in &partitions {
                sort.insert(partition.clone(), 1);
            }
        }
        sort.insert(dotted, 1);
        let partition = if partitions.is_empty() {
            None
        } else {
            let mut shape = Document::new();
            for partition in &partitions {
                let parts: Vec<String> = partition.split('.').map(str::to_owned).collect();
                set_path(&mut shape, &parts, Bson::String(format!("${partition}")));
            }
            Some(Expr::compile(&Bson::Document(shape))?)
        };
        Ok(Densify {
            field,
            partition,
            range,
            sort: SortSpec::compile(&sort)?,
        })
    }

    pub(crate) fn run(&self, mut docs: Vec<Document>, vars: &Variables) -> Result<Vec<Document>> {
        self.sort.sort(&mut docs)?;
        let mut machine = Machine {
            stage: self,
            vars,
            state: State::UninitializedOrBelowRange,
            current: None,
            below: None,
            global_min: None,
            global_max: None,
            partitioned: false,
            keys: ValueSet::default(),
            last_values: Vec::new(),
            generated: 0,
            out: Vec::with_capacity(docs.len()),
        };
        for doc in docs {
            machine.push(doc)?;
        }
        machine.finish()?;
        Ok(machine.out)
    }
}

fn field_path(path: &str) -> Result<Vec<String>> {
    let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
    if path.is_empty() || parts.iter().any(String::is_empty) {
        return Err(MqlError::bad_value(format!(
            "`$densify`: `{path}` is not a valid field path"
        )));
    }
    if parts.iter().any(|part| part.starts_with('$')) {
        return Err(MqlError::bad_value(format!(
            "FieldPath field names may not start with '$'. Consider using $getField or \
             $setField. (`{path}`)"
        )));
    }
    Ok(parts)
}

fn wrong_type(name: &str, wanted: &str, found: &Bson) -> MqlError {
    MqlError::type_mismatch(format!(
        "BSON field '$densify.{name}' is the wrong type '{}', expected type '{wanted}'",
        crate::value::type_name(found)
    ))
}

fn missing(name: &str) -> MqlError {
    MqlError::parse(format!(
        "BSON field '$densify.{name}' is missing but a required field"
    ))
}

/// `range: {step, unit, bounds}`, checked as the server's `RangeStatement::parse`.
fn parse_range(spec: &Document) -> Result<Range> {
    let mut step = None;
    let mut unit = None;
    let mut bounds = None;
    for (name, value) in spec {
        match name.as_str() {
            "step" => step = Some(value.clone()),
            "unit" => match value {
                Bson::String(name) if is_time_unit(name) => unit = Some(name.clone()),
                Bson::String(name) => {
                    return Err(MqlError::bad_value(format!(
                        "unknown time unit value: {name}"
                    )))
                }
                other => return Err(wrong_type("range.unit", "string", other)),
            },
            "bounds" => bounds = Some(value.clone()),
            other => {
                return Err(MqlError::parse(format!(
                    "BSON field '$densify.range.{other}' is an unknown field."
                )))
            }
        }
    }
    let step = step.ok_or_else(|| missing("range.step"))?;
    if number(&step).is_none() {
        return Err(wrong_type("range.step", "number", &step));
    }
    let bounds = bounds.ok_or_else(|| missing("range.bounds"))?;
    let positive = number(&step).is_some_and(|n| n.as_f64() > 0.0);
    if !positive {
        return Err(MqlError::bad_value(
            "The step parameter in a range statement must be a strictly positive numeric value",
        ));
    }
    if unit.is_some() && !whole_long(&step) {
        return Err(MqlError::bad_value(
            "The step parameter in a range statement must be a whole number when densifying a \
             date range",
        ));
    }
    let bounds =
        match bounds {
            Bson::String(text) if text == "full" => Bounds::Full,
            Bson::String(text) if text == "partition" => Bounds::Partition,
            Bson::String(_) => {
                return Err(MqlError::bad_value(
                    "Bounds string must either be 'full' or 'partition'",
                ))
            }
            Bson::Array(items) => explicit_bounds(&items, &step, unit.is_some())?,
            _ => return Err(MqlError::bad_value(
                "The bounds in a range statement must be the string 'full', 'partition', or an \
                 ascending array of two numbers or two dates",
            )),
        };
    Ok(Range { step, unit, bounds })
}

/// A whole number that fits an int64 (`integral64Bit`).
fn whole_long(value: &Bson) -> bool {
    // 2^63, exactly representable.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match value {
        Bson::Int32(_) | Bson::Int64(_) => true,
        Bson::Double(_) | Bson::Decimal128(_) => number(value)
            .map(Number::as_f64)
            .is_some_and(|x| x.fract() == 0.0 && (-LIMIT..LIMIT).contains(&x)),
        _ => false,
    }
}

fn explicit_bounds(items: &[Bson], step: &Bson, has_unit: bool) -> Result<Bounds> {
    let [lower, upper] = items else {
        return Err(MqlError::bad_value(
            "A bounding array in a range statement must have exactly two elements",
        ));
    };
    if compare_values(lower, upper).is_gt() {
        return Err(MqlError::bad_value(
            "A bounding array must be an ascending array of either two dates or two numbers",
        ));
    }
    let both = "A bounding array must contain either both dates or both numeric types";
    if number(lower).is_some() {
        if has_unit {
            return Err(MqlError::bad_value(
                "Numeric bounds may not have unit parameter",
            ));
        }
        if number(upper).is_none() {
            return Err(MqlError::bad_value(both));
        }
        let same_type = std::mem::discriminant(lower) == std::mem::discriminant(upper)
            && std::mem::discriminant(lower) == std::mem::discriminant(step);
        if !same_type {
            return Err(MqlError::bad_value(
                "Upper bound, lower bound, and step must all have the same type",
            ));
        }
        return Ok(Bounds::Explicit(Box::new((
            Value::Number(lower.clone()),
            Value::Number(upper.clone()),
        ))));
    }
    if let Bson::DateTime(low) = lower {
        let Bson::DateTime(high) = upper else {
            return Err(MqlError::bad_value(both));
        };
        if !has_unit {
            return Err(MqlError::bad_value(
                "A bounding array of dates must specify a unit",
            ));
        }
        return Ok(Bounds::Explicit(Box::new((
            Value::Date(low.timestamp_millis()),
            Value::Date(high.timestamp_millis()),
        ))));
    }
    Err(MqlError::bad_value(
        "Explicit bounds must be numeric or dates",
    ))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    UninitializedOrBelowRange,
    NeedGen,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Position {
    Below,
    RangeMin,
    Inside,
    Above,
}

/// Documents to generate: `min`, `min + step`, ... while below `upper` (`min` always), then
/// `last` (the input document that prompted them), as the server's `DocGenerator`.
struct Generator {
    next: Value,
    upper: Value,
    include: Document,
    last: Option<Document>,
    state: GeneratorState,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum GeneratorState {
    Generating,
    ReturningLast,
    Done,
}

impl Generator {
    fn done(&self) -> bool {
        self.state == GeneratorState::Done
    }
}

struct Machine<'a> {
    stage: &'a Densify,
    vars: &'a Variables,
    state: State,
    /// The last value seen or generated that lies on the step.
    current: Option<Value>,
    /// When `current` stands for "one step below" a bound (the start of an explicit range,
    /// or the smallest value for a new partition with full bounds): that bound. The step
    /// after `current` is then the bound itself, not `current` plus a step, which differ for
    /// months (one month below October 31 is September 30, and one month after that is
    /// October 30).
    below: Option<Value>,
    global_min: Option<Value>,
    global_max: Option<Value>,
    partitioned: bool,
    /// The partition keys (`_partitionTable`'s), in the order they were first seen...
    keys: ValueSet,
    /// ... and, at each key's position, its last value on the step (`None` once the
    /// partition is finished after the last input document).
    last_values: Vec<Option<Value>>,
    generated: usize,
    out: Vec<Document>,
}

impl<'a> Machine<'a> {
    fn range(&self) -> &Range {
        &self.stage.range
    }

    fn explicit(&self) -> Option<&'a (Value, Value)> {
        match &self.stage.range.bounds {
            Bounds::Explicit(bounds) => Some(bounds),
            _ => None,
        }
    }

    /// The value to densify in `doc`, or `None` when it is missing or null (the document
    /// passes through).
    fn value_of(&self, doc: &Document) -> Result<Option<Value>> {
        let mut found = None;
        let mut current = doc;
        for (index, part) in self.stage.field.iter().enumerate() {
            match current.get(part) {
                Some(Bson::Document(inner)) if index + 1 < self.stage.field.len() => {
                    current = inner;
                }
                Some(value) if index + 1 == self.stage.field.len() => found = Some(value),
                _ => return Ok(None),
            }
        }
        let value = match found {
            None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(None),
            Some(value) => value,
        };
        let value = match value {
            Bson::DateTime(date) => Value::Date(date.timestamp_millis()),
            other if number(other).is_some() => Value::Number(other.clone()),
            _ => {
                return Err(MqlError::type_mismatch(
                    "Densify field type must be numeric or a date",
                ))
            }
        };
        match (&value, self.range().unit.is_some()) {
            (Value::Number(_), true) => Err(MqlError::type_mismatch(
                "Encountered numeric densify value in collection when step has a date unit.",
            )),
            (Value::Date(_), false) => Err(MqlError::type_mismatch(
                "Encountered date densify value in collection when step does not have a date \
                 unit.",
            )),
            _ => Ok(Some(value)),
        }
    }

    /// The value of a document known to hold one (generated, or checked on input).
    fn value(&self, doc: &Document) -> Result<Value> {
        self.value_of(doc)?
            .ok_or_else(|| MqlError::bad_value("`$densify` lost the value it densifies"))
    }

    fn partition_key(&self, doc: &Document) -> Result<Bson> {
        match &self.stage.partition {
            Some(expr) => Ok(expr
                .evaluate(doc, self.vars)?
                .unwrap_or_else(|| Bson::Document(Document::new()))),
            None => Ok(Bson::Document(Document::new())),
        }
    }

    fn table_get(&self, key: &Bson) -> Option<Value> {
        let position = self.keys.position(key)?;
        self.last_values.get(position).cloned().flatten()
    }

    fn set_partition_value(&mut self, doc: &Document) -> Result<()> {
        if !self.partitioned {
            return Ok(());
        }
        let key = self.partition_key(doc)?;
        let value = self.value(doc)?;
        let (position, new) = self.keys.insert(key);
        if new {
            self.last_values.push(Some(value));
        } else if let Some(slot) = self.last_values.get_mut(position) {
            *slot = Some(value);
        }
        Ok(())
    }

    fn position(&self, value: &Value) -> Position {
        let Some((low, high)) = self.explicit() else {
            return Position::Inside;
        };
        match value.compare(low) {
            std::cmp::Ordering::Less => Position::Below,
            std::cmp::Ordering::Equal => Position::RangeMin,
            std::cmp::Ordering::Greater if value.lt(high) => Position::Inside,
            std::cmp::Ordering::Greater => Position::Above,
        }
    }

    fn current(&self) -> Result<Value> {
        self.current
            .clone()
            .ok_or_else(|| MqlError::bad_value("`$densify` has no current value"))
    }

    fn set_current(&mut self, value: Value) {
        self.current = Some(value);
        self.below = None;
    }

    /// `current` as one step below `bound`.
    fn set_current_below(&mut self, bound: Value) -> Result<()> {
        self.current = Some(self.range().decrement(&bound)?);
        self.below = Some(bound);
        Ok(())
    }

    /// The value one step after `current`.
    fn next_after_current(&self) -> Result<Value> {
        match &self.below {
            Some(bound) => Ok(bound.clone()),
            None => self.range().increment(&self.current()?),
        }
    }

    /// The value the step is counted from: `current`, or the bound it stands below.
    fn step_base(&self) -> Result<Value> {
        match &self.below {
            Some(bound) => Ok(bound.clone()),
            None => self.current(),
        }
    }

    fn push(&mut self, doc: Document) -> Result<()> {
        if self.state == State::Done {
            self.out.push(doc);
            return Ok(());
        }
        let Some(value) = self.value_of(&doc)? else {
            self.out.push(doc);
            return Ok(());
        };
        if self.state == State::UninitializedOrBelowRange {
            if self.stage.partition.is_some() && !self.partitioned {
                self.partitioned = true;
                self.set_partition_value(&doc)?;
            }
            return match self.range().bounds {
                Bounds::Full => {
                    self.set_current(value.clone());
                    self.global_min = Some(value.clone());
                    self.global_max = Some(value);
                    self.state = State::NeedGen;
                    self.out.push(doc);
                    Ok(())
                }
                Bounds::Partition => {
                    self.state = State::NeedGen;
                    self.out.push(doc);
                    Ok(())
                }
                Bounds::Explicit(..) => self.first_doc_explicit(doc),
            };
        }
        match self.range().bounds {
            Bounds::Full => {
                if self.partitioned {
                    self.global_max = Some(value);
                    let key = self.partition_key(&doc)?;
                    match self.table_get(&key) {
                        None => {
                            let min = self
                                .global_min
                                .clone()
                                .ok_or_else(|| MqlError::bad_value("`$densify` has no minimum"))?;
                            self.set_current_below(min)?;
                            self.set_partition_value(&doc)?;
                        }
                        Some(last) => self.set_current(last),
                    }
                }
                self.need_gen(doc)
            }
            Bounds::Partition => {
                let key = self.partition_key(&doc)?;
                match self.table_get(&key) {
                    None => {
                        self.set_partition_value(&doc)?;
                        self.out.push(doc);
                        Ok(())
                    }
                    Some(last) => {
                        self.set_current(last);
                        self.need_gen(doc)
                    }
                }
            }
            Bounds::Explicit(..) => {
                if self.partitioned {
                    let key = self.partition_key(&doc)?;
                    match self.table_get(&key) {
                        None => {
                            self.set_partition_value(&doc)?;
                            self.current = None;
                            self.below = None;
                            return self.first_doc_explicit(doc);
                        }
                        Some(last) => self.set_current(last),
                    }
                }
                self.need_gen_explicit(doc)
            }
        }
    }

    /// `handleNeedGen`: full and partition bounds.
    fn need_gen(&mut self, doc: Document) -> Result<()> {
        let value = self.value(&doc)?;
        let next = self.next_after_current()?;
        if value.same(&next) {
            self.set_partition_value(&doc)?;
            self.set_current(value.clone());
        }
        if !next.lt(&value) {
            self.out.push(doc);
            return Ok(());
        }
        let include = self.include_fields(&doc)?;
        let mut generator = self.generator(next, value, include, Some(doc))?;
        let first = self.next_document(&mut generator)?;
        if generator.done() {
            self.state = State::NeedGen;
        }
        self.set_current(self.value(&first)?);
        self.set_partition_value(&first)?;
        self.out.push(first);
        self.drain(generator)
    }

    /// `handleNeedGenExplicit`.
    fn need_gen_explicit(&mut self, doc: Document) -> Result<()> {
        let value = self.value(&doc)?;
        let Some((_, high)) = self.explicit() else {
            return self.need_gen(doc);
        };
        match self.position(&value) {
            Position::Inside => {
                let next = self.next_after_current()?;
                if value.same(&next) {
                    self.set_current(value);
                    self.set_partition_value(&doc)?;
                    self.out.push(doc);
                    Ok(())
                } else if value.lt(&next) {
                    self.out.push(doc);
                    Ok(())
                } else {
                    self.above_explicit_min(doc)
                }
            }
            Position::Above => {
                let next = self.next_after_current()?;
                if !next.lt(high) {
                    self.set_current(next);
                    self.set_partition_value(&doc)?;
                    if !self.partitioned {
                        self.state = State::Done;
                    }
                    self.out.push(doc);
                    Ok(())
                } else {
                    self.above_explicit_min(doc)
                }
            }
            Position::RangeMin => {
                self.set_partition_value(&doc)?;
                self.set_current(value);
                self.out.push(doc);
                Ok(())
            }
            Position::Below => {
                self.set_partition_value(&doc)?;
                self.state = State::UninitializedOrBelowRange;
                self.out.push(doc);
                Ok(())
            }
        }
    }

    /// `processFirstDocForExplicitRange`.
    fn first_doc_explicit(&mut self, doc: Document) -> Result<()> {
        let value = self.value(&doc)?;
        if self.current.is_none() {
            if let Some((low, _)) = self.explicit() {
                self.set_current_below(low.clone())?;
            }
        }
        match self.position(&value) {
            Position::Inside | Position::Above => self.above_explicit_min(doc),
            Position::RangeMin => {
                // The server before 8.0 did not record the partition's value here, and
                // generated the range again for the partition's next document.
                self.state = State::NeedGen;
                self.set_partition_value(&doc)?;
                self.set_current(value);
                self.out.push(doc);
                Ok(())
            }
            Position::Below => {
                self.state = State::UninitializedOrBelowRange;
                self.out.push(doc);
                Ok(())
            }
        }
    }

    /// `processDocAboveExplicitMinBound`.
    fn above_explicit_min(&mut self, doc: Document) -> Result<()> {
        let value = self.value(&doc)?;
        let Some((_, high)) = self.explicit() else {
            return self.need_gen(doc);
        };
        let lower = self.next_after_current()?;
        if value.same(&lower) {
            self.set_partition_value(&doc)?;
            self.set_current(lower);
            self.out.push(doc);
            return Ok(());
        }
        let upper = if value.lt(high) { value } else { high.clone() };
        let include = self.include_fields(&doc)?;
        let mut generator = self.generator(lower, upper, include, Some(doc))?;
        let first = self.next_document(&mut generator)?;
        self.set_current(self.value(&first)?);
        self.reset_after(&generator)?;
        self.set_partition_value(&first)?;
        self.out.push(first);
        self.drain(generator)
    }

    /// `resetDocGen`: the state once an explicit-range generator is done.
    fn reset_after(&mut self, generator: &Generator) -> Result<()> {
        if !generator.done() {
            return Ok(());
        }
        let high = self.explicit().map(|(_, high)| high);
        let past = match &high {
            Some(high) => !self.current()?.lt(high),
            None => false,
        };
        self.state = if past && !self.partitioned {
            State::Done
        } else {
            State::NeedGen
        };
        Ok(())
    }

    /// The rest of a generator's documents, through the server's `kHaveGenerator` state.
    fn drain(&mut self, mut generator: Generator) -> Result<()> {
        while !generator.done() {
            let doc = self.next_document(&mut generator)?;
            let value = self.value(&doc)?;
            if self.explicit().is_some() {
                if self.range().on_step(&value, &self.step_base()?)? {
                    self.set_current(value);
                    self.set_partition_value(&doc)?;
                }
                self.reset_after(&generator)?;
            } else {
                if generator.done() {
                    self.state = State::NeedGen;
                }
                // The generator's last document (the input one) may be off the step.
                if value.same(&self.next_after_current()?) {
                    self.set_current(value);
                    self.set_partition_value(&doc)?;
                }
            }
            self.out.push(doc);
        }
        Ok(())
    }

    /// The partition fields a generated document starts from.
    fn include_fields(&self, doc: &Document) -> Result<Document> {
        if !self.partitioned {
            return Ok(Document::new());
        }
        match self.partition_key(doc)? {
            Bson::Document(fields) => Ok(fields),
            _ => Ok(Document::new()),
        }
    }

    fn generator(
        &self,
        min: Value,
        upper: Value,
        include: Document,
        last: Option<Document>,
    ) -> Result<Generator> {
        // The server's checks on the fields it writes through.
        let mut current = &include;
        let path = &self.stage.field;
        for (index, part) in path.iter().enumerate() {
            match current.get(part) {
                Some(Bson::Array(_)) => {
                    return Err(MqlError::bad_value(
                        "$densify cannot generate fields nested inside arrays",
                    ))
                }
                Some(Bson::Document(inner)) => current = inner,
                None => break,
                Some(_) if index + 1 == path.len() => break,
                Some(_) => {
                    return Err(MqlError::bad_value(
                        "$densify cannot overwrite non-object values with objects",
                    ))
                }
            }
        }
        Ok(Generator {
            next: min,
            upper,
            include,
            last,
            state: GeneratorState::Generating,
        })
    }

    /// `DocGenerator::getNextDocument`.
    fn next_document(&mut self, generator: &mut Generator) -> Result<Document> {
        match generator.state {
            GeneratorState::Done => Err(MqlError::bad_value("`$densify` generator is done")),
            GeneratorState::ReturningLast => {
                generator.state = GeneratorState::Done;
                generator
                    .last
                    .take()
                    .ok_or_else(|| MqlError::bad_value("`$densify` generator has no document"))
            }
            GeneratorState::Generating => {
                let value = generator.next.clone();
                let next = self.range().increment(&value)?;
                if !next.lt(&generator.upper) {
                    generator.state = if generator.last.is_some() {
                        GeneratorState::ReturningLast
                    } else {
                        GeneratorState::Done
                    };
                }
                generator.next = next;
                let mut doc = generator.include.clone();
                set_path(&mut doc, &self.stage.field, value.to_bson());
                self.generated += 1;
                if self.generated > MAX_DENSIFY_DOCS {
                    return Err(MqlError::limit(format!(
                        "Generated {} documents in $densify, which is over the limit of \
                         {MAX_DENSIFY_DOCS}",
                        self.generated
                    )));
                }
                Ok(doc)
            }
        }
    }

    /// After the last input document (`handleSourceExhausted`).
    fn finish(&mut self) -> Result<()> {
        if self.state == State::Done {
            return Ok(());
        }
        match self.range().bounds.clone() {
            Bounds::Full if self.partitioned => self.finish_partitions(),
            Bounds::Full | Bounds::Partition => Ok(()),
            Bounds::Explicit(..) if self.partitioned => self.finish_partitions(),
            Bounds::Explicit(bounds) => {
                // `densifyExplicitRangeAfterEOF`: the rest of the range.
                let (low, high) = *bounds;
                let start = match &self.current {
                    None => {
                        self.set_current(low.clone());
                        low
                    }
                    Some(_) => {
                        let next = self.next_after_current()?;
                        if !next.lt(&high) {
                            return Ok(());
                        }
                        next
                    }
                };
                let mut generator = self.generator(start, high, Document::new(), None)?;
                let first = self.next_document(&mut generator)?;
                self.out.push(first);
                self.drain(generator)
            }
        }
    }

    /// `finishDensifyingPartitionedInput`: each partition up to the end of the range (full
    /// bounds: the largest value seen, included when on the step).
    fn finish_partitions(&mut self) -> Result<()> {
        // The server takes the table's first partition until none is left; one that a
        // generator records again after it was taken comes back with a value whose next step
        // is past the end, and generates nothing: one pass in first-seen order is the same.
        for position in 0..self.last_values.len() {
            let Some(last) = self.last_values.get_mut(position).and_then(Option::take) else {
                continue;
            };
            let key = self
                .keys
                .values()
                .get(position)
                .cloned()
                .unwrap_or(Bson::Null);
            let (max, min_override) = match self.range().bounds.clone() {
                Bounds::Explicit(bounds) => (bounds.1, Some(bounds.0)),
                _ => {
                    let global_max = self
                        .global_max
                        .clone()
                        .ok_or_else(|| MqlError::bad_value("`$densify` has no maximum"))?;
                    let max = if self.range().on_step(&global_max, &self.step_base()?)? {
                        self.range().increment(&global_max)?
                    } else {
                        global_max
                    };
                    (max, None)
                }
            };
            let mut start = self.range().increment(&last)?;
            if !start.lt(&max) {
                continue;
            }
            if let Some(low) = min_override {
                if start.lt(&low) {
                    start = low;
                }
            }
            let include = match key {
                Bson::Document(fields) => fields,
                _ => Document::new(),
            };
            let mut generator = self.generator(start, max, include, None)?;
            let first = self.next_document(&mut generator)?;
            self.out.push(first);
            self.drain(generator)?;
        }
        Ok(())
    }
}
