//! Date operators over the proleptic Gregorian calendar, in UTC, a fixed offset, or a zone of
//! the IANA time zone database (`America/New_York`), which is built into the binary so that
//! every machine answers alike.

use bson::Bson;

mod math;

pub(crate) use math::{
    add_in_utc, is_time_unit, AddSpec, DiffSpec, FromPartsSpec, ToPartsSpec, TruncSpec,
};

use super::compile::{check_arity, named_args, required, Arity, Compiler};
use super::{is_nullish, type_of, Cx, Node};
use crate::error::{MqlError, Result};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// A calendar breakdown of an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Parts {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
    /// 1 (Sunday) to 7 (Saturday).
    day_of_week: i64,
    /// 1 to 366.
    day_of_year: i64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn parts(millis: i64, offset_seconds: i64) -> Parts {
    let local = millis.saturating_add(offset_seconds.saturating_mul(1000));
    let days = local.div_euclid(MILLIS_PER_DAY);
    let in_day = local.rem_euclid(MILLIS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: in_day / 3_600_000,
        minute: in_day / 60_000 % 60,
        second: in_day / 1000 % 60,
        millis: in_day % 1000,
        // 1970-01-01 was a Thursday (5 with Sunday as 1).
        day_of_week: (days + 4).rem_euclid(7) + 1,
        day_of_year: days - days_from_civil(year, 1, 1) + 1,
    }
}

/// ISO 8601 week-numbering year and week of a date.
fn iso_week(p: &Parts) -> (i64, i64) {
    let iso_dow = (p.day_of_week + 5) % 7 + 1;
    let week = (p.day_of_year - iso_dow + 10) / 7;
    if week < 1 {
        let previous = p.year - 1;
        (previous, weeks_in_year(previous))
    } else if week > weeks_in_year(p.year) {
        (p.year + 1, 1)
    } else {
        (p.year, week)
    }
}

fn weeks_in_year(year: i64) -> i64 {
    let jan1 = (days_from_civil(year, 1, 1) + 4).rem_euclid(7);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    // A year has 53 ISO weeks when it starts on a Thursday, or a Wednesday in a leap year.
    if jan1 == 4 || (leap && jan1 == 3) {
        53
    } else {
        52
    }
}

/// `%Y-%m-%dT%H:%M:%S.%LZ` of an instant, the format dates take when made strings; an error
/// for a year outside 0-9999, as MongoDB's (error 18537).
pub(crate) fn iso_string(millis: i64) -> Result<String> {
    let p = parts(millis, 0);
    four_digit_year(p.year)?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.millis
    ))
}

/// A year as `%Y` and `%G` print it: four digits, 0 to 9999, else an error.
fn four_digit_year(year: i64) -> Result<String> {
    if !(0..=9999).contains(&year) {
        return Err(MqlError::bad_value(
            "could not convert date to string: date component was outside the supported range \
             of 0-9999",
        ));
    }
    Ok(format!("{year:04}"))
}

/// Month names as `%b` and `%B` print them: title case (the manual's table lists them in
/// lower case; the server's change that added them, SERVER-73402, and its documentation
/// ticket, DOCS-15905, say title case).
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A `timezone` argument: a fixed offset from UTC (`UTC` and `GMT` are offset zero), or a zone
/// of the IANA database, whose offset depends on the instant.
#[derive(Debug, Clone)]
enum Zone {
    /// Seconds east of UTC.
    Fixed(i64),
    Named(jiff::tz::TimeZone),
}

/// 400 Gregorian years, after which calendars and the rules of time zones repeat.
const CYCLE_MILLIS: i64 = 146_097 * MILLIS_PER_DAY;

impl Zone {
    const UTC: Zone = Zone::Fixed(0);

    /// As MongoDB reads a time zone: `UTC`, `GMT`, an offset (`+hh:mm`, `+hhmm`, `+hh`), or an
    /// identifier of the time zone database, spelt exactly (`America/New_York`, `Etc/GMT+5`).
    fn parse(op: &str, text: &str) -> Result<Zone> {
        if matches!(text, "UTC" | "GMT") {
            return Ok(Zone::UTC);
        }
        if let Some(minutes) = parse_offset(text) {
            return Ok(Zone::Fixed(minutes * 60));
        }
        match jiff::tz::TimeZone::get(text) {
            // The database answers whatever the case; MongoDB's lookup is exact.
            Ok(zone) if zone.iana_name() == Some(text) => Ok(Zone::Named(zone)),
            _ => Err(MqlError::bad_value(format!(
                "`{op}`: unrecognized time zone identifier `{text}`"
            ))),
        }
    }

    /// MongoDB's "UTC zone": no database zone and no offset. Only then does `$dateToString`
    /// end its default format with `Z`, and may a date string carry its own offset beside a
    /// `timezone` argument.
    fn is_utc(&self) -> bool {
        matches!(self, Zone::Fixed(0))
    }

    /// The offset from UTC at the instant `millis`, in seconds.
    fn offset_at(&self, millis: i64) -> i64 {
        match self {
            Zone::Fixed(seconds) => *seconds,
            Zone::Named(zone) => {
                let timestamp = jiff::Timestamp::from_millisecond(into_range(millis))
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                i64::from(zone.to_offset(timestamp).seconds())
            }
        }
    }

    /// The instant whose time in this zone is `local` (milliseconds since 1970-01-01T00:00 on
    /// the local clock). A time skipped when clocks go forward is read with the offset before
    /// the change, and a time repeated when they go back is its first occurrence.
    fn instant_of(&self, local: i64) -> i64 {
        match self {
            Zone::Fixed(seconds) => local.saturating_sub(seconds.saturating_mul(1000)),
            Zone::Named(zone) => {
                let shifted = into_range(local);
                let instant = jiff::Timestamp::from_millisecond(shifted)
                    .map(|clock| clock.to_zoned(jiff::tz::TimeZone::UTC).datetime())
                    .and_then(|civil| zone.to_ambiguous_timestamp(civil).compatible())
                    .map(|timestamp| timestamp.as_millisecond());
                match instant {
                    Ok(instant) => instant.saturating_add(local.saturating_sub(shifted)),
                    // Only at the very ends of the database's range; a fixed guess beats none.
                    Err(_) => local.saturating_sub(self.offset_at(local).saturating_mul(1000)),
                }
            }
        }
    }
}

/// `millis` moved by whole 400-year cycles into the years the time zone database covers
/// (-9999 to 9999), a day short of either end: before them a zone keeps its first offset, after
/// them the rule of its last, and both repeat with the calendar.
fn into_range(millis: i64) -> i64 {
    let low = jiff::Timestamp::MIN.as_millisecond() + MILLIS_PER_DAY;
    let high = jiff::Timestamp::MAX.as_millisecond() - MILLIS_PER_DAY;
    if millis < low {
        let cycles = (low - millis).div_euclid(CYCLE_MILLIS) + 1;
        millis.saturating_add(cycles.saturating_mul(CYCLE_MILLIS))
    } else if millis > high {
        let cycles = (millis - high).div_euclid(CYCLE_MILLIS) + 1;
        millis.saturating_sub(cycles.saturating_mul(CYCLE_MILLIS))
    } else {
        millis
    }
}

fn parse_offset(text: &str) -> Option<i64> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, text.get(1..)?),
        b'-' => (-1, text.get(1..)?),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || rest.matches(':').count() > 1 {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (
            digits.get(..2)?.parse::<i64>().ok()?,
            digits.get(2..)?.parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    if minutes >= 60 || hours > 23 {
        return None;
    }
    Some(sign * (hours * 60 + minutes))
}

/// The optional `format` argument: `Ok(None)` when it evaluates to null or missing (the whole
/// expression is then null), `Ok(Some(None))` when it was not given.
fn format_operand(op: &str, node: Option<&Node>, cx: &mut Cx) -> Result<Option<Option<String>>> {
    let Some(node) = node else {
        return Ok(Some(None));
    };
    match node.eval(cx)? {
        value if is_nullish(value.as_ref()) => Ok(None),
        Some(Bson::String(format)) => Ok(Some(Some(format))),
        other => Err(MqlError::type_mismatch(format!(
            "`{op}` requires `format` to be a string, found {}",
            type_of(other.as_ref())
        ))),
    }
}

/// A compiled `timezone` argument. A constant that names a zone is looked up once, here,
/// rather than for every document; anything else (an invalid constant included, so that its
/// error still comes at evaluation) is read when evaluated.
#[derive(Debug, Clone)]
enum ZoneArg {
    /// Not given: UTC.
    Absent,
    Known(Zone),
    Evaluated(Node),
}

impl ZoneArg {
    fn compile(cc: &mut Compiler, op: &str, argument: Option<&Bson>) -> Result<ZoneArg> {
        Ok(match cc.compile_opt(argument)? {
            None => ZoneArg::Absent,
            Some(Node::Const(Bson::String(text))) => match Zone::parse(op, &text) {
                Ok(zone) => ZoneArg::Known(zone),
                Err(_) => ZoneArg::Evaluated(Node::Const(Bson::String(text))),
            },
            Some(node) => ZoneArg::Evaluated(node),
        })
    }

    /// The zone; `Ok(None)` when the argument evaluated to null.
    fn zone(&self, op: &str, cx: &mut Cx) -> Result<Option<Zone>> {
        let node = match self {
            ZoneArg::Absent => return Ok(Some(Zone::UTC)),
            ZoneArg::Known(zone) => return Ok(Some(zone.clone())),
            ZoneArg::Evaluated(node) => node,
        };
        match node.eval(cx)? {
            value if is_nullish(value.as_ref()) => Ok(None),
            Some(Bson::String(text)) => Zone::parse(op, &text).map(Some),
            other => Err(MqlError::type_mismatch(format!(
                "`{op}` requires `timezone` to be a string, found {}",
                type_of(other.as_ref())
            ))),
        }
    }
}

/// The instant of a date-like value; `Ok(None)` for null and missing.
fn instant(op: &str, value: Option<Bson>) -> Result<Option<i64>> {
    match value {
        Some(Bson::DateTime(when)) => Ok(Some(when.timestamp_millis())),
        Some(Bson::Timestamp(ts)) => Ok(Some(i64::from(ts.time) * 1000)),
        Some(Bson::ObjectId(id)) => Ok(Some(id.timestamp().timestamp_millis())),
        value if is_nullish(value.as_ref()) => Ok(None),
        other => Err(MqlError::type_mismatch(format!(
            "`{op}` can't convert from BSON type {} to date",
            type_of(other.as_ref())
        ))),
    }
}

/// A date part operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Part {
    Year,
    Month,
    DayOfMonth,
    Hour,
    Minute,
    Second,
    Millisecond,
    DayOfWeek,
    DayOfYear,
    Week,
    IsoWeek,
    IsoWeekYear,
    IsoDayOfWeek,
}

pub(crate) fn part(name: &str) -> Option<Part> {
    Some(match name {
        "$year" => Part::Year,
        "$month" => Part::Month,
        "$dayOfMonth" => Part::DayOfMonth,
        "$hour" => Part::Hour,
        "$minute" => Part::Minute,
        "$second" => Part::Second,
        "$millisecond" => Part::Millisecond,
        "$dayOfWeek" => Part::DayOfWeek,
        "$dayOfYear" => Part::DayOfYear,
        "$week" => Part::Week,
        "$isoWeek" => Part::IsoWeek,
        "$isoWeekYear" => Part::IsoWeekYear,
        "$isoDayOfWeek" => Part::IsoDayOfWeek,
        _ => return None,
    })
}

fn part_value(part: Part, p: &Parts) -> i64 {
    match part {
        Part::Year => p.year,
        Part::Month => p.month,
        Part::DayOfMonth => p.day,
        Part::Hour => p.hour,
        Part::Minute => p.minute,
        Part::Second => p.second,
        Part::Millisecond => p.millis,
        Part::DayOfWeek => p.day_of_week,
        Part::DayOfYear => p.day_of_year,
        Part::Week => (p.day_of_year - 1 + 7 - (p.day_of_week - 1)) / 7,
        Part::IsoWeek => iso_week(p).1,
        Part::IsoWeekYear => iso_week(p).0,
        Part::IsoDayOfWeek => (p.day_of_week + 5) % 7 + 1,
    }
}

/// `$year`, `$month` and the other date parts, with an optional time zone.
#[derive(Debug, Clone)]
pub(crate) struct PartSpec {
    name: String,
    part: Part,
    date: Node,
    timezone: ZoneArg,
}

impl PartSpec {
    pub(crate) fn compile(
        cc: &mut Compiler,
        name: &str,
        part: Part,
        operand: &Bson,
    ) -> Result<PartSpec> {
        let named_form = match operand {
            Bson::Document(doc) => doc.keys().next().is_some_and(|k| !k.starts_with('$')),
            _ => false,
        };
        let (date, timezone) = if named_form {
            let args = named_args(name, operand, &["date", "timezone"])?;
            let date = required(name, "date", args.first().copied().flatten())?;
            (
                cc.compile(date)?,
                ZoneArg::compile(cc, name, args.get(1).copied().flatten())?,
            )
        } else {
            let date = match operand {
                Bson::Array(items) => {
                    check_arity(name, Arity::Exact(1), items.len())?;
                    items.first().unwrap_or(&Bson::Null)
                }
                other => other,
            };
            (cc.compile(date)?, ZoneArg::Absent)
        };
        Ok(PartSpec {
            name: name.to_owned(),
            part,
            date,
            timezone,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let date = self.date.eval(cx)?;
        let Some(zone) = self.timezone.zone(&self.name, cx)? else {
            return Ok(Some(Bson::Null));
        };
        let Some(millis) = instant(&self.name, date)? else {
            return Ok(Some(Bson::Null));
        };
        let value = part_value(self.part, &parts(millis, zone.offset_at(millis)));
        Ok(Some(Bson::Int32(i32::try_from(value).unwrap_or(i32::MAX))))
    }
}

/// `$dateToString`.
#[derive(Debug, Clone)]
pub(crate) struct ToStringSpec {
    date: Node,
    format: Option<Node>,
    timezone: ZoneArg,
    on_null: Option<Node>,
}

impl ToStringSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<ToStringSpec> {
        let op = "$dateToString";
        let args = named_args(op, operand, &["date", "format", "timezone", "onNull"])?;
        let mut args = args.into_iter();
        let date = cc.compile(required(op, "date", args.next().flatten())?)?;
        let format = cc.compile_opt(args.next().flatten())?;
        if let Some(Node::Const(Bson::String(format))) = &format {
            format_date(format, &parts(0, 0), 0)?;
        }
        Ok(ToStringSpec {
            date,
            format,
            timezone: ZoneArg::compile(cc, op, args.next().flatten())?,
            on_null: cc.compile_opt(args.next().flatten())?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let op = "$dateToString";
        let date = self.date.eval(cx)?;
        let Some(format) = format_operand(op, self.format.as_ref(), cx)? else {
            return Ok(Some(Bson::Null));
        };
        let Some(zone) = self.timezone.zone(op, cx)? else {
            return Ok(Some(Bson::Null));
        };
        let Some(millis) = instant(op, date)? else {
            return match &self.on_null {
                Some(node) => node.eval(cx),
                None => Ok(Some(Bson::Null)),
            };
        };
        let default = if zone.is_utc() {
            "%Y-%m-%dT%H:%M:%S.%LZ"
        } else {
            "%Y-%m-%dT%H:%M:%S.%L"
        };
        let format = format.as_deref().unwrap_or(default);
        let offset = zone.offset_at(millis);
        format_date(format, &parts(millis, offset), offset).map(|s| Some(Bson::String(s)))
    }
}

/// `offset` is the zone's offset at the date, in seconds.
fn format_date(format: &str, p: &Parts, offset: i64) -> Result<String> {
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err(MqlError::bad_value(
                "`$dateToString`: unmatched `%` at the end of the format string",
            ));
        };
        let piece = match spec {
            'Y' => four_digit_year(p.year)?,
            'm' => format!("{:02}", p.month),
            'b' | 'B' => {
                let name = usize::try_from(p.month - 1)
                    .ok()
                    .and_then(|index| MONTHS.get(index))
                    .copied()
                    .unwrap_or_default();
                if spec == 'b' {
                    name.chars().take(3).collect()
                } else {
                    name.to_owned()
                }
            }
            'd' => format!("{:02}", p.day),
            'H' => format!("{:02}", p.hour),
            'M' => format!("{:02}", p.minute),
            'S' => format!("{:02}", p.second),
            'L' => format!("{:03}", p.millis),
            'j' => format!("{:03}", p.day_of_year),
            'w' => p.day_of_week.to_string(),
            'u' => part_value(Part::IsoDayOfWeek, p).to_string(),
            'U' => format!("{:02}", part_value(Part::Week, p)),
            'V' => format!("{:02}", iso_week(p).1),
            'G' => four_digit_year(iso_week(p).0)?,
            'z' => {
                let sign = if offset < 0 { '-' } else { '+' };
                let minutes = offset.abs() / 60;
                format!("{sign}{:02}{:02}", minutes / 60, minutes % 60)
            }
            'Z' => format!("{:+}", offset / 60),
            '%' => "%".to_owned(),
            other => {
                return Err(MqlError::bad_value(format!(
                    "`$dateToString`: invalid format character `%{other}` in the format string"
                )))
            }
        };
        out.push_str(&piece);
    }
    Ok(out)
}

/// Parses an ISO 8601 date (`2024-01-31`, `2024-01-31T10:20:30.123Z`, `…+02:00`, a space for
/// `T`) into milliseconds since the epoch.
pub(crate) fn parse_iso(text: &str) -> Option<i64> {
    let (millis, offset) = parse_iso_parts(text)?;
    Some(millis - offset.unwrap_or(0) * 60_000)
}

/// Local milliseconds and the offset written in the string, if any.
fn parse_iso_parts(text: &str) -> Option<(i64, Option<i64>)> {
    let mut scanner = Scanner { text, at: 0 };
    let year = scanner.digits(4)?;
    scanner.expect('-')?;
    let month = scanner.digits(2)?;
    scanner.expect('-')?;
    let day = scanner.digits(2)?;
    let (mut hour, mut minute, mut second, mut millis) = (0, 0, 0, 0);
    if scanner.peek() == Some('T') || scanner.peek() == Some(' ') {
        scanner.at += 1;
        hour = scanner.digits(2)?;
        scanner.expect(':')?;
        minute = scanner.digits(2)?;
        if scanner.peek() == Some(':') {
            scanner.at += 1;
            second = scanner.digits(2)?;
            if scanner.peek() == Some('.') {
                scanner.at += 1;
                millis = scanner.fraction_millis()?;
            }
        }
    }
    let rest = scanner.rest();
    let offset = match rest {
        "" => None,
        "Z" => Some(0),
        other => Some(parse_offset(other)?),
    };
    let local = local_millis(year, month, day, hour, minute, second, millis)?;
    Some((local, offset))
}

fn local_millis(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
) -> Option<i64> {
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour < 24
        && minute < 60
        && second < 60
        && millis < 1000;
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * MILLIS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    days_from_civil(year + i64::from(month == 12), month % 12 + 1, 1)
        - days_from_civil(year, month, 1)
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.text.get(self.at..)?.chars().next()
    }

    fn expect(&mut self, wanted: char) -> Option<()> {
        (self.peek()? == wanted).then(|| self.at += wanted.len_utf8())
    }

    fn digits(&mut self, count: usize) -> Option<i64> {
        let piece = self.text.get(self.at..self.at + count)?;
        if !piece.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.at += count;
        piece.parse().ok()
    }

    /// One to nine fraction digits, as whole milliseconds (truncated).
    fn fraction_millis(&mut self) -> Option<i64> {
        let rest = self.text.get(self.at..)?;
        let len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 9 {
            return None;
        }
        let piece = rest.get(..len)?;
        self.at += len;
        let padded = format!("{piece:0<3}");
        padded.get(..3)?.parse().ok()
    }

    fn rest(&self) -> &str {
        self.text.get(self.at..).unwrap_or("")
    }
}

/// `$dateFromString`.
#[derive(Debug, Clone)]
pub(crate) struct FromStringSpec {
    date_string: Node,
    format: Option<Node>,
    timezone: ZoneArg,
    on_error: Option<Node>,
    on_null: Option<Node>,
}

impl FromStringSpec {
    pub(crate) fn compile(cc: &mut Compiler, operand: &Bson) -> Result<FromStringSpec> {
        let op = "$dateFromString";
        let names = ["dateString", "format", "timezone", "onError", "onNull"];
        let args = named_args(op, operand, &names)?;
        let mut args = args.into_iter();
        let date_string = cc.compile(required(op, "dateString", args.next().flatten())?)?;
        Ok(FromStringSpec {
            date_string,
            format: cc.compile_opt(args.next().flatten())?,
            timezone: ZoneArg::compile(cc, op, args.next().flatten())?,
            on_error: cc.compile_opt(args.next().flatten())?,
            on_null: cc.compile_opt(args.next().flatten())?,
        })
    }

    pub(crate) fn eval(&self, cx: &mut Cx) -> Result<Option<Bson>> {
        let op = "$dateFromString";
        let input = self.date_string.eval(cx)?;
        let Some(format) = format_operand(op, self.format.as_ref(), cx)? else {
            return Ok(Some(Bson::Null));
        };
        let Some(zone) = self.timezone.zone(op, cx)? else {
            return Ok(Some(Bson::Null));
        };
        let text = match input {
            Some(Bson::String(text)) => text,
            value if is_nullish(value.as_ref()) => {
                return match &self.on_null {
                    Some(node) => node.eval(cx),
                    None => Ok(Some(Bson::Null)),
                }
            }
            other => {
                let error = MqlError::type_mismatch(format!(
                    "`{op}` requires `dateString` to be a string, found {}",
                    type_of(other.as_ref())
                ));
                return self.fail(error, cx);
            }
        };
        let parsed = match &format {
            Some(format) => parse_with_format(format, &text),
            None => parse_iso_parts(&text),
        };
        match parsed {
            Some((_, Some(_))) if !zone.is_utc() => {
                let error = MqlError::bad_value(format!(
                    "`{op}`: the string '{text}' has a time zone and a `timezone` argument was also given"
                ));
                self.fail(error, cx)
            }
            Some((local, offset)) => {
                let millis = match offset {
                    Some(minutes) => local - minutes * 60_000,
                    None => zone.instant_of(local),
                };
                Ok(Some(Bson::DateTime(bson::DateTime::from_millis(millis))))
            }
            None => {
                let error =
                    MqlError::bad_value(format!("`{op}` could not parse the date string '{text}'"));
                self.fail(error, cx)
            }
        }
    }

    fn fail(&self, error: MqlError, cx: &mut Cx) -> Result<Option<Bson>> {
        match &self.on_error {
            Some(node) => node.eval(cx),
            None => Err(error),
        }
    }
}

/// Parses `text` with a `$dateFromString` format (`%Y %m %d %H %M %S %L %z %j %%` and
/// literal characters).
fn parse_with_format(format: &str, text: &str) -> Option<(i64, Option<i64>)> {
    let mut scanner = Scanner { text, at: 0 };
    let (mut year, mut month, mut day) = (1970, 1, 1);
    let (mut hour, mut minute, mut second, mut millis) = (0, 0, 0, 0);
    let mut offset = None;
    let mut day_of_year = None;
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            scanner.expect(c)?;
            continue;
        }
        match chars.next()? {
            'Y' => year = scanner.digits(4)?,
            'm' => month = scanner.digits(2)?,
            'd' => day = scanner.digits(2)?,
            'H' => hour = scanner.digits(2)?,
            'M' => minute = scanner.digits(2)?,
            'S' => second = scanner.digits(2)?,
            'L' => millis = scanner.fraction_millis()?,
            'j' => day_of_year = Some(scanner.digits(3)?),
            'z' => {
                let start = scanner.at;
                let sign_and_digits = scanner.text.get(start..start + 5)?;
                offset = Some(parse_offset(sign_and_digits)?);
                scanner.at += 5;
            }
            '%' => scanner.expect('%')?,
            _ => return None,
        }
    }
    if !scanner.rest().is_empty() {
        return None;
    }
    let local = match day_of_year {
        Some(doy) => {
            let base = local_millis(year, 1, 1, hour, minute, second, millis)?;
            base + (doy - 1) * MILLIS_PER_DAY
        }
        None => local_millis(year, month, day, hour, minute, second, millis)?,
    };
    Some((local, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for days in [-719_468, -1, 0, 1, 10_957, 19_675, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let p = parts(1_700_000_000_000, 0);
        assert_eq!((p.year, p.month, p.day, p.hour), (2023, 11, 14, 22));
        assert_eq!(p.day_of_week, 3);
        assert_eq!(
            iso_week(&parts(days_from_civil(2021, 1, 1) * MILLIS_PER_DAY, 0)),
            (2020, 53)
        );
    }

    #[test]
    fn iso_strings_parse() {
        assert_eq!(parse_iso("1970-01-01"), Some(0));
        assert_eq!(parse_iso("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_iso("1970-01-01T02:00:00+02:00"), Some(0));
        assert_eq!(parse_iso("1970-02-30"), None);
        assert_eq!(
            iso_string(1_700_000_000_000).unwrap(),
            "2023-11-14T22:13:20.000Z"
        );
    }
}
