//! Calendar arithmetic: `$dateAdd`, `$dateSubtract`, `$dateDiff`, `$dateTrunc`,
//! `$dateFromParts` and `$dateToParts`, as MongoDB computes them (its `date_time_support.cpp`):
//!
//! - units of a day or more count on the local calendar of the time zone, so adding a day
//!   across a change of daylight saving time keeps the wall-clock time; hours and smaller
//!   units are fixed lengths of time;
//! - adding months keeps the day of the month, or takes the last day of a shorter month;
//! - a difference counts the boundaries of the unit crossed between the two local times
//!   (2021-12-31 to 2022-01-01 is one year), not whole units elapsed;
//! - truncation cuts into bins of `binSize` units counted from 2000-01-01 at midnight in the
//!   zone (for weeks, from the first `startOfWeek` day on or after it).

use bson::{doc, Bson};

use super::super::arith::integral;
use super::super::compile::{named_args, required, Compiler};
use super::super::{is_nullish, type_of, Cx, Node};
use super::{civil_from_days, days_from_civil, days_in_month, instant, parts, Zone, ZoneArg};
use super::{Parts, MILLIS_PER_DAY};
use crate::error::{ErrorKind, MqlError, Result};

const MILLIS_PER_HOUR: i64 = 3_600_000;
const MILLIS_PER_MINUTE: i64 = 60_000;
const MILLIS_PER_SECOND: i64 = 1000;

/// 2000-01-01T00:00:00Z, from which `$dateTrunc` counts its bins.
const TRUNC_REFERENCE_MILLIS: i64 = 946_684_800_000;

/// A unit of `$dateAdd`, `$dateDiff` and `$dateTrunc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
}

impl Unit {
    fn named(name: &str) -> Option<Unit> {
        Some(match name {
            "year" => Unit::Year,
            "quarter" => Unit::Quarter,
            "month" => Unit::Month,
            "week" => Unit::Week,
            "day" => Unit::Day,
            "hour" => Unit::Hour,
            "minute" => Unit::Minute,
            "second" => Unit::Second,
            "millisecond" => Unit::Millisecond,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Year => "year",
            Unit::Quarter => "quarter",
            Unit::Month => "month",
            Unit::Week => "week",
            Unit::Day => "day",
            Unit::Hour => "hour",
            Unit::Minute => "minute",
            Unit::Second => "second",
            Unit::Millisecond => "millisecond",
        }
    }

    /// The length of an hour or a smaller unit; `None` for calendar units.
    fn fixed_millis(self) -> Option<i64> {
        match self {
            Unit::Hour => Some(MILLIS_PER_HOUR),
            Unit::Minute => Some(MILLIS_PER_MINUTE),
            Unit::Second => Some(MILLIS_PER_SECOND),
            Unit::Millisecond => Some(1),
            _ => None,
        }
    }

    /// Months in a year, quarter or month.
    fn months(self) -> Option<i64> {
        match self {
            Unit::Year => Some(12),
            Unit::Quarter => Some(3),
            Unit::Month => Some(1),
            _ => None,
        }
    }

    fn parse(op: &str, value: &Bson) -> Result<Unit> {
        let Bson::String(name) = value else {
            return Err(MqlError::type_mismatch(format!(
                "`{op}` requires `unit` to be a string, found {}",
                crate::value::type_name(value)
            )));
        };
        Unit::named(name).ok_or_else(|| {
            MqlError::parse(format!(
                "`{op}`: unknown time unit `{name}` (expected year, quarter, month, week, day, \
                 hour, minute, second or millisecond)"
            ))
        })
    }
}

/// A `unit` argument: a constant is read once when compiled (an invalid one is an error
/// then, as MongoDB reports it when the pipeline is optimised); anything else per document.
#[derive(Debug, Clone)]
enum UnitArg {
    Known(Unit),
    Evaluated(Node),
}

impl UnitArg {
    fn compile(cc: &mut Compiler, op: &str, argument: &Bson) -> Result<UnitArg> {
        Ok(match cc.compile(argument)? {
            Node::Const(value) if !is_nullish(Some(&value)) => {
                UnitArg::Known(Unit::parse(op, &value)?)
            }
            node => UnitArg::Evaluated(node),
        })
    }

    /// The unit; `Ok(None)` when it evaluated to null or missing.
    fn unit(&self, op: &str, cx: &mut Cx) -> Result<Option<Unit>> {
        match self {
            UnitArg::Known(unit) => Ok(Some(*unit)),
            UnitArg::Evaluated(node) => match node.eval(cx)? {
                value if is_nullish(value.as_ref()) => Ok(None),
                Some(value) => Unit::parse(op, &value).map(Some),
                None => Ok(None),
            },
        }
    }
}

/// The first day of a week, as an ISO weekday number (1 for Monday to 7 for Sunday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WeekStart(i64);

impl WeekStart {
    const SUNDAY: WeekStart = WeekStart(7);

    fn parse(op: &str, value: Option<Bson>) -> Result<Option<WeekStart>> {
        let text = match value {
            value if is_nullish(value.as_ref()) => return Ok(None),
            Some(Bson::String(text)) => text,
            other => {
                return Err(MqlError::type_mismatch(format!(
                    "`{op}` requires `startOfWeek` to be a string, found {}",
                    type_of(other.as_ref())
                )))
            }
        };
        let day = match text.to_ascii_lowercase().as_str() {
            "monday" | "mon" => 1,
            "tuesday" | "tue" => 2,
            "wednesday" | "wed" => 3,
            "thursday" | "thu" => 4,
            "friday" | "fri" => 5,
            "saturday" | "sat" => 6,
            "sunday" | "sun" => 7,
            _ => {
                return Err(MqlError::bad_value(format!(
                    "`{op}`: `startOfWeek` `{text}` is not a day of the week"
                )))
            }
        };
        Ok(Some(WeekStart(day)))
    }

    /// How many days into its week (0 to 6) a local date falls.
    fn days_into_week(self, p: &Parts) -> i64 {
        let iso_day = (p.day_of_week + 5) % 7 + 1;
        (iso_day - self.0 + 7) % 7
    }
}

/// The `startOfWeek` of an operation in `unit`: Sunday unless given; `Ok(None)` when it was
/// given for weeks and evaluated to null. Only weeks read it.
fn week_start(op: &str, unit: Unit, node: Option<&Node>, cx: &mut Cx) -> Result<Option<WeekStart>> {
    match node {
        Some(node) if unit == Unit::Week => WeekStart::parse(op, node.eval(cx)?),
        _ => Ok(Some(WeekStart::SUNDAY)),
    }
}

fn overflowed(op: &str) -> MqlError {
    MqlError::new(
        ErrorKind::ExpressionEvaluation,
        format!("`{op}` overflowed: the result is outside the range of dates"),
    )
}

/// Local clock time (milliseconds since 1970-01-01T00:00 on the zone's clock) at `millis`.
fn local_millis_at(op: &str, zone: &Zone, millis: i64) -> Result<i64> {
    zone.offset_at(millis)
        .checked_mul(MILLIS_PER_SECOND)
        .and_then(|offset| millis.checked_add(offset))
        .ok_or_else(|| overflowed(op))
}

/// The largest number of each unit `$dateAdd` accepts, as MongoDB bounds it (roughly the
/// range of dates): beyond it the amount itself is an error, not the result.
fn amount_in_range(unit: Unit, amount: i64) -> bool {
    const MAX_DAYS: i64 = (u64::MAX / 86_400_000) as i64 + 1;
    const MAX_YEARS: i64 = MAX_DAYS / 365 + 1;
    let max = match unit {
        Unit::Year => MAX_YEARS,
        Unit::Quarter => MAX_YEARS * 4,
        Unit::Month => MAX_YEARS * 12,
        Unit::Week => MAX_DAYS / 7,
        Unit::Day => MAX_DAYS,
        Unit::Hour => MAX_DAYS * 24,
        Unit::Minute => MAX_DAYS * 24 * 60,
        Unit::Second => MAX_DAYS * 24 * 60 * 60,
        Unit::Millisecond => return true,
    };
    -max < amount && amount < max
}

/// `millis` plus `amount` units in `zone`.
fn add(op: &str, zone: &Zone, millis: i64, unit: Unit, amount: i64) -> Result<i64> {
    if !amount_in_range(unit, amount) {
        return Err(MqlError::bad_value(format!(
            "`{op}`: invalid `amount` {amount} {}",
            unit.name()
        )));
    }
    if let Some(length) = unit.fixed_millis() {
        return amount
            .checked_mul(length)
            .and_then(|delta| millis.checked_add(delta))
            .ok_or_else(|| overflowed(op));
    }
    let local = local_millis_at(op, zone, millis)?;
    let days = local.div_euclid(MILLIS_PER_DAY);
    let time_of_day = local.rem_euclid(MILLIS_PER_DAY);
    let new_days = match unit.months() {
        // The amounts in range keep all of this far from overflowing.
        Some(per_unit) => {
            let (year, month, day) = civil_from_days(days);
            let months = year * 12 + (month - 1) + amount * per_unit;
            let (new_year, new_month) = (months.div_euclid(12), months.rem_euclid(12) + 1);
            let new_day = day.min(days_in_month(new_year, new_month));
            days_from_civil(new_year, new_month, new_day)
        }
        None if unit == Unit::Week => days + amount * 7,
        None => days + amount,
    };
    let new_local = new_days
        .checked_mul(MILLIS_PER_DAY)
        .and_then(|start| start.checked_add(time_of_day))
        .ok_or_else(|| overflowed(op))?;
    Ok(zone.instant_of(new_local))
}

/// The number of `unit` boundaries between `start` and `end` in `zone` (negative when `end` is
/// earlier).
fn difference(zone: &Zone, start: i64, end: i64, unit: Unit, week_start: WeekStart) -> Result<i64> {
    let op = "$dateDiff";
    if unit == Unit::Millisecond {
        return end.checked_sub(start).ok_or_else(|| overflowed(op));
    }
    let (start_offset, end_offset) = (zone.offset_at(start), zone.offset_at(end));
    let (s, e) = (parts(start, start_offset), parts(end, end_offset));
    let days = local_millis_at(op, zone, end)?.div_euclid(MILLIS_PER_DAY)
        - local_millis_at(op, zone, start)?.div_euclid(MILLIS_PER_DAY);
    let years = e.year - s.year;
    // Hours, minutes and seconds on the local clocks, then corrected by the change of offset
    // between the two instants (which MongoDB divides with truncation).
    let hours = e.hour - s.hour + days * 24;
    let minutes = e.minute - s.minute + hours * 60;
    let offset_change = start_offset - end_offset;
    Ok(match unit {
        Unit::Year => years,
        Unit::Quarter => (e.month - 1) / 3 - (s.month - 1) / 3 + years * 4,
        Unit::Month => e.month - s.month + years * 12,
        Unit::Week => (days + week_start.days_into_week(&s) - week_start.days_into_week(&e)) / 7,
        Unit::Day => days,
        Unit::Hour => hours + offset_change / 3600,
        Unit::Minute => minutes + offset_change / 60,
        Unit::Second => e.second - s.second + minutes * 60 + offset_change,
        Unit::Millisecond => 0,
    })
}

/// The start of the bin of `bin_size` units that holds `millis`, bins counted from
/// 2000-01-01T00:00 in `zone`.
fn truncate(
    zone: &Zone,
    millis: i64,
    unit: Unit,
    bin_size: i64,
    week_start: WeekStart,
) -> Result<i64> {
    let op = "$dateTrunc";
    let mut reference =
        TRUNC_REFERENCE_MILLIS - zone.offset_at(TRUNC_REFERENCE_MILLIS) * MILLIS_PER_SECOND;
    if let Some(length) = unit.fixed_millis() {
        let bin = bin_size.checked_mul(length).ok_or_else(|| overflowed(op))?;
        let shifted = millis
            .checked_sub(reference)
            .ok_or_else(|| overflowed(op))?;
        return millis
            .checked_sub(shifted.rem_euclid(bin))
            .ok_or_else(|| overflowed(op));
    }
    if bin_size > 100_000_000_000 {
        return Err(MqlError::bad_value(format!(
            "`{op}`: `binSize` {bin_size} is too large for unit {}",
            unit.name()
        )));
    }
    let mut reference_day = 1;
    if unit == Unit::Week {
        // 2000-01-01 was a Saturday (ISO day 6): move to the first start of a week from it.
        let forward = (7 - (6 - week_start.0 + 7) % 7) % 7;
        reference += forward * MILLIS_PER_DAY;
        reference_day += forward;
    }
    let p = parts(millis, zone.offset_at(millis));
    let days = local_millis_at(op, zone, millis)?.div_euclid(MILLIS_PER_DAY)
        - days_from_civil(2000, 1, reference_day);
    let distance = match unit {
        Unit::Year => p.year - 2000,
        Unit::Quarter => (p.year - 2000) * 4 + (p.month - 1) / 3,
        Unit::Month => (p.year - 2000) * 12 + p.month - 1,
        // The reference is a first day of the week.
        Unit::Week => (days - week_start.days_into_week(&p)) / 7,
        _ => days,
    };
    let start = distance
        .checked_sub(distance.rem_euclid(bin_size))
        .ok_or_else(|| overflowed(op))?;
    add(op, zone, reference, unit, start)
}

fn date_result(millis: i64) -> Option<Bson> {
    Some(Bson::DateTime(bson::DateTime::from_millis(millis)))
}

/// `$dateAdd` and `$dateSubtract`.
#[derive(Debug, Clone)]
pub(crate) struct AddSpec {
    op: &'static str,
    start_date: Node,
    unit: UnitArg,
    amount: Node,
    timezone: ZoneArg,
}

impl AddSpec {
    pub(crate) fn compile(cc: &mut Compiler, name: &str, operand: &Bson) -> Result<AddSpec> {
        let op = if name == "$dateSubtract" {
            "$dateSubtract"
        } else {
            "$dateAdd"
        };
        let args = named_args(op, operand, &["startDate", "unit", "amount", "timezone"])?;
        let mut args = args.into_iter();
        let start_date = required(op, "startDate", args.next().flatten())?;
        let unit = required(op, "unit", args.next().flatten())?;
        let amount = required(op, "amount", args.next().flatten())?;
        Ok(AddSpec {
            op,
            start_date: cc.compile(start_date)?,
            unit: UnitArg::compile(cc, op, unit)?,
            amount: cc.compile(amount)?,
            timezone: ZoneArg::compile(cc, op, args.next().flatten())?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let op = self.op;
        let start = self.start_date.eval(cx)?;
        if is_nullish(start.as_ref()) {
            return Ok(Some(Bson::Null));
        }
        let Some(unit) = self.unit.unit(op, cx)? else {
            return Ok(Some(Bson::Null));
        };
        let amount = self.amount.eval(cx)?;
        if is_nullish(amount.as_ref()) {
            return Ok(Some(Bson::Null));
        }
        let Some(zone) = self.timezone.zone(op, cx)? else {
            return Ok(Some(Bson::Null));
        };
        let Some(millis) = instant(op, start)? else {
            return Ok(Some(Bson::Null));
        };
        let mut amount = integral(op, "`amount`", amount.as_ref())?;
        if op == "$dateSubtract" {
            amount = amount
                .checked_neg()
                .ok_or_else(|| MqlError::bad_value(format!("`{op}`: invalid `amount` {amount}")))?;
        }
        add(op, &zone, millis, unit, amount).map(date_result)
    }
}

/// The `unit`, `timezone` and `startOfWeek` arguments `$dateDiff` and `$dateTrunc` share.
#[derive(Debug, Clone)]
struct Calendar {
    unit: UnitArg,
    timezone: ZoneArg,
    start_of_week: Option<Node>,
}

impl Calendar {
    fn compile(
        cc: &mut Compiler,
        op: &str,
        unit: &Bson,
        timezone: Option<&Bson>,
        start_of_week: Option<&Bson>,
    ) -> Result<Calendar> {
        Ok(Calendar {
            unit: UnitArg::compile(cc, op, unit)?,
            timezone: ZoneArg::compile(cc, op, timezone)?,
            start_of_week: cc.compile_opt(start_of_week)?,
        })
    }

    /// The unit, the first day of the week and the zone, read in MongoDB's order; `Ok(None)`
    /// when one of them is null (the operator's result is then null).
    fn read(&self, op: &str, cx: &mut Cx) -> Result<Option<(Unit, WeekStart, Zone)>> {
        let Some(unit) = self.unit.unit(op, cx)? else {
            return Ok(None);
        };
        let Some(week_start) = week_start(op, unit, self.start_of_week.as_ref(), cx)? else {
            return Ok(None);
        };
        Ok(self
            .timezone
            .zone(op, cx)?
            .map(|zone| (unit, week_start, zone)))
    }
}

/// `$dateDiff`.
#[derive(Debug, Clone)]
pub(crate) struct DiffSpec {
    start_date: Node,
    end_date: Node,
    calendar: Calendar,
}

impl DiffSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<DiffSpec> {
        let op = "$dateDiff";
        let names = ["startDate", "endDate", "unit", "timezone", "startOfWeek"];
        let mut args = named_args(op, operand, &names)?.into_iter();
        let start_date = required(op, "startDate", args.next().flatten())?;
        let end_date = required(op, "endDate", args.next().flatten())?;
        let unit = required(op, "unit", args.next().flatten())?;
        let (timezone, start_of_week) = (args.next().flatten(), args.next().flatten());
        Ok(DiffSpec {
            start_date: cc.compile(start_date)?,
            end_date: cc.compile(end_date)?,
            calendar: Calendar::compile(cc, op, unit, timezone, start_of_week)?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let op = "$dateDiff";
        let start = self.start_date.eval(cx)?;
        if is_nullish(start.as_ref()) {
            return Ok(Some(Bson::Null));
        }
        let end = self.end_date.eval(cx)?;
        if is_nullish(end.as_ref()) {
            return Ok(Some(Bson::Null));
        }
        let Some((unit, week_start, zone)) = self.calendar.read(op, cx)? else {
            return Ok(Some(Bson::Null));
        };
        let (Some(start), Some(end)) = (
            date_argument(op, "startDate", start)?,
            date_argument(op, "endDate", end)?,
        ) else {
            return Ok(Some(Bson::Null));
        };
        difference(&zone, start, end, unit, week_start).map(|n| Some(Bson::Int64(n)))
    }
}

/// A named date argument of `$dateDiff` or `$dateTrunc`: a date, a timestamp or an ObjectId.
fn date_argument(op: &str, name: &str, value: Option<Bson>) -> Result<Option<i64>> {
    match value {
        Some(Bson::DateTime(_) | Bson::Timestamp(_) | Bson::ObjectId(_)) => instant(op, value),
        value if is_nullish(value.as_ref()) => Ok(None),
        other => Err(MqlError::type_mismatch(format!(
            "`{op}` requires `{name}` to be a date, found {}",
            type_of(other.as_ref())
        ))),
    }
}

/// `$dateTrunc`.
#[derive(Debug, Clone)]
pub(crate) struct TruncSpec {
    date: Node,
    bin_size: Option<Node>,
    calendar: Calendar,
}

impl TruncSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<TruncSpec> {
        let op = "$dateTrunc";
        let names = ["date", "unit", "binSize", "timezone", "startOfWeek"];
        let mut args = named_args(op, operand, &names)?.into_iter();
        let date = required(op, "date", args.next().flatten())?;
        let unit = required(op, "unit", args.next().flatten())?;
        let bin_size = args.next().flatten();
        let (timezone, start_of_week) = (args.next().flatten(), args.next().flatten());
        Ok(TruncSpec {
            date: cc.compile(date)?,
            bin_size: cc.compile_opt(bin_size)?,
            calendar: Calendar::compile(cc, op, unit, timezone, start_of_week)?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let op = "$dateTrunc";
        let date = self.date.eval(cx)?;
        if is_nullish(date.as_ref()) {
            return Ok(Some(Bson::Null));
        }
        let bin_size = match &self.bin_size {
            None => 1,
            Some(node) => {
                let value = node.eval(cx)?;
                if is_nullish(value.as_ref()) {
                    return Ok(Some(Bson::Null));
                }
                let size = integral(op, "`binSize`", value.as_ref())?;
                if size <= 0 {
                    return Err(MqlError::bad_value(format!(
                        "`{op}` requires `binSize` to be greater than 0, found {size}"
                    )));
                }
                size
            }
        };
        let Some((unit, week_start, zone)) = self.calendar.read(op, cx)? else {
            return Ok(Some(Bson::Null));
        };
        let Some(millis) = date_argument(op, "date", date)? else {
            return Ok(Some(Bson::Null));
        };
        truncate(&zone, millis, unit, bin_size, week_start).map(date_result)
    }
}

/// The fields of `$dateFromParts`: a calendar date or an ISO week date, and a time.
const CALENDAR_PARTS: [&str; 3] = ["year", "month", "day"];
const ISO_PARTS: [&str; 3] = ["isoWeekYear", "isoWeek", "isoDayOfWeek"];
const TIME_PARTS: [&str; 4] = ["hour", "minute", "second", "millisecond"];

/// `$dateFromParts`.
#[derive(Debug, Clone)]
pub(crate) struct FromPartsSpec {
    /// An ISO week date (`isoWeekYear`, `isoWeek`, `isoDayOfWeek`) rather than a calendar one.
    iso: bool,
    /// The year (or ISO week-numbering year), then the month and day (or the week and
    /// weekday), then hour, minute, second and millisecond.
    parts: Box<[Option<Node>; 7]>,
    timezone: ZoneArg,
}

impl FromPartsSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<FromPartsSpec> {
        let op = "$dateFromParts";
        let mut names: Vec<&str> = Vec::new();
        names.extend(CALENDAR_PARTS);
        names.extend(ISO_PARTS);
        names.extend(TIME_PARTS);
        names.push("timezone");
        let args = named_args(op, operand, &names)?;
        let given = |index: usize| args.get(index).is_some_and(Option::is_some);
        let (year, iso_year) = (given(0), given(3));
        if !year && !iso_year {
            return Err(MqlError::parse(format!(
                "`{op}` requires either `year` or `isoWeekYear` to be present"
            )));
        }
        if (year && (iso_year || given(4) || given(5))) || (iso_year && (given(1) || given(2))) {
            return Err(MqlError::parse(format!(
                "`{op}` does not allow mixing natural dates with ISO dates"
            )));
        }
        let date_at = if iso_year { 3 } else { 0 };
        let mut parts: Box<[Option<Node>; 7]> = Box::default();
        for (slot, index) in parts.iter_mut().zip((date_at..date_at + 3).chain(6..10)) {
            *slot = cc.compile_opt(args.get(index).copied().flatten())?;
        }
        Ok(FromPartsSpec {
            iso: iso_year,
            parts,
            timezone: ZoneArg::compile(cc, op, args.get(10).copied().flatten())?,
        })
    }

    fn name(&self, index: usize) -> &'static str {
        let names = if self.iso { ISO_PARTS } else { CALENDAR_PARTS };
        names
            .get(index)
            .or_else(|| TIME_PARTS.get(index.wrapping_sub(3)))
            .copied()
            .unwrap_or("?")
    }

    /// Reads part `index` into `values` (left at its default when not given); `Ok(false)`
    /// when it evaluated to null or missing.
    fn read_part(&self, index: usize, values: &mut [i64; 7], cx: &mut Cx) -> Result<bool> {
        let op = "$dateFromParts";
        let (Some(Some(node)), Some(slot)) = (self.parts.get(index), values.get_mut(index)) else {
            return Ok(true);
        };
        let value = node.eval(cx)?;
        if is_nullish(value.as_ref()) {
            return Ok(false);
        }
        let name = self.name(index);
        let number = integral(op, &format!("`{name}`"), value.as_ref())?;
        // Second and millisecond may be any size; the others fit 16 bits, as in MongoDB (whose
        // date library is slow on large values).
        if matches!(index, 1..=4) && i16::try_from(number).is_err() {
            return Err(MqlError::bad_value(format!(
                "`{op}`: `{name}` must be in the range [-32768, 32767], found {number}"
            )));
        }
        if index == 0 && !(1..=9999).contains(&number) {
            return Err(MqlError::bad_value(format!(
                "`{op}`: `{name}` must be in the range 1 to 9999, found {number}"
            )));
        }
        *slot = number;
        Ok(true)
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let op = "$dateFromParts";
        // Defaults: month (or week) and day (or weekday) 1, the time 0; a year is required.
        let mut values = [1970, 1, 1, 0, 0, 0, 0];
        // The time, then the zone, then the date, as MongoDB reads them.
        for index in 3..7 {
            if !self.read_part(index, &mut values, cx)? {
                return Ok(Some(Bson::Null));
            }
        }
        let Some(zone) = self.timezone.zone(op, cx)? else {
            return Ok(Some(Bson::Null));
        };
        for index in 0..3 {
            if !self.read_part(index, &mut values, cx)? {
                return Ok(Some(Bson::Null));
            }
        }
        let [year, month_or_week, day, hour, minute, second, millisecond] = values;
        let days = if self.iso {
            // Week 1 is the week (from Monday) that holds 4 January.
            let january_4 = days_from_civil(year, 1, 4);
            let weekday = (january_4 + 3).rem_euclid(7); // 0 for Monday
            january_4 - weekday + (month_or_week - 1) * 7 + (day - 1)
        } else {
            // Months and days out of range carry into the year and month, as in MongoDB.
            let months = year * 12 + month_or_week - 1;
            days_from_civil(months.div_euclid(12), months.rem_euclid(12) + 1, 1) + day - 1
        };
        let local = days
            .checked_mul(MILLIS_PER_DAY)
            .and_then(|at| at.checked_add(hour * MILLIS_PER_HOUR + minute * MILLIS_PER_MINUTE))
            .and_then(|at| at.checked_add(second.checked_mul(MILLIS_PER_SECOND)?))
            .and_then(|at| at.checked_add(millisecond))
            .ok_or_else(|| overflowed(op))?;
        Ok(date_result(zone.instant_of(local)))
    }
}

/// `$dateToParts`.
#[derive(Debug, Clone)]
pub(crate) struct ToPartsSpec {
    date: Node,
    timezone: ZoneArg,
    iso8601: Option<Node>,
}

impl ToPartsSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<ToPartsSpec> {
        let op = "$dateToParts";
        let mut args = named_args(op, operand, &["date", "timezone", "iso8601"])?.into_iter();
        let date = required(op, "date", args.next().flatten())?;
        Ok(ToPartsSpec {
            date: cc.compile(date)?,
            timezone: ZoneArg::compile(cc, op, args.next().flatten())?,
            iso8601: cc.compile_opt(args.next().flatten())?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let op = "$dateToParts";
        let date = self.date.eval(cx)?;
        let Some(zone) = self.timezone.zone(op, cx)? else {
            return Ok(Some(Bson::Null));
        };
        let iso = match &self.iso8601 {
            None => false,
            Some(node) => match node.eval(cx)? {
                value if is_nullish(value.as_ref()) => return Ok(Some(Bson::Null)),
                Some(Bson::Boolean(flag)) => flag,
                other => {
                    return Err(MqlError::type_mismatch(format!(
                        "`{op}` requires `iso8601` to be a boolean, found {}",
                        type_of(other.as_ref())
                    )))
                }
            },
        };
        let Some(millis) = instant(op, date)? else {
            return Ok(Some(Bson::Null));
        };
        let p = parts(millis, zone.offset_at(millis));
        let int = |value: i64| Bson::Int32(i32::try_from(value).unwrap_or(i32::MAX));
        let time = doc! {
            "hour": int(p.hour),
            "minute": int(p.minute),
            "second": int(p.second),
            "millisecond": int(p.millis),
        };
        let mut out = if iso {
            let (week_year, week) = super::iso_week(&p);
            doc! {
                "isoWeekYear": int(week_year),
                "isoWeek": int(week),
                "isoDayOfWeek": int((p.day_of_week + 5) % 7 + 1),
            }
        } else {
            doc! { "year": int(p.year), "month": int(p.month), "day": int(p.day) }
        };
        out.extend(time);
        Ok(Some(Bson::Document(out)))
    }
}

/// `millis` plus `amount` of the unit named `unit` (`"day"`, `"month"`...) in UTC, as
/// `$dateAdd` computes it; for the range windows of `$setWindowFields`.
pub(crate) fn add_in_utc(op: &str, millis: i64, unit: &str, amount: i64) -> Result<i64> {
    let unit = Unit::named(unit)
        .ok_or_else(|| MqlError::parse(format!("`{op}`: unknown time unit `{unit}`")))?;
    add(op, &Zone::UTC, millis, unit, amount)
}

/// Whether `unit` names a time unit (`"hour"`, `"week"`...).
pub(crate) fn is_time_unit(unit: &str) -> bool {
    Unit::named(unit).is_some()
}
