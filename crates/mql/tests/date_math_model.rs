//! `$dateAdd`, `$dateTrunc` and `$dateDiff` against a second implementation built on the
//! `jiff` calendar library: its zoned arithmetic adds calendar units on the local clock
//! (clamping the day of the month) and hours as elapsed time, and resolves a local time that
//! does not exist or exists twice the way MongoDB does ("compatible"), which is what MongoDB
//! specifies for these operators.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bson::{doc, Bson, Document};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};
use proptest::prelude::*;
use rampart_mql::{Expr, Variables};

const ZONES: [&str; 6] = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
];
const UNITS: [&str; 8] = [
    "year", "quarter", "month", "week", "day", "hour", "minute", "second",
];

fn evaluate(expression: Document, when: i64) -> Bson {
    let root = doc! { "d": bson::DateTime::from_millis(when) };
    Expr::compile(&Bson::Document(expression))
        .unwrap()
        .evaluate(&root, &Variables::new())
        .unwrap()
        .unwrap()
}

fn millis(result: Bson) -> i64 {
    match result {
        Bson::DateTime(when) => when.timestamp_millis(),
        other => panic!("expected a date, got {other:?}"),
    }
}

fn zoned(when: i64, zone: &str) -> Zoned {
    Timestamp::from_millisecond(when)
        .unwrap()
        .to_zoned(TimeZone::get(zone).unwrap())
}

fn span(unit: &str, amount: i64) -> Span {
    match unit {
        "year" => Span::new().years(amount),
        "quarter" => Span::new().months(amount * 3),
        "month" => Span::new().months(amount),
        "week" => Span::new().weeks(amount),
        "day" => Span::new().days(amount),
        "hour" => Span::new().hours(amount),
        "minute" => Span::new().minutes(amount),
        _ => Span::new().seconds(amount),
    }
}

/// Instants from 1901 to 2099, where every zone above has rules in the database.
fn instant() -> impl Strategy<Value = i64> {
    -2_145_916_800_000i64..4_102_444_800_000
}

/// The first day of the bin of one `unit` holding `date`: weeks start on Sunday.
fn truncated_date(date: Date, unit: &str) -> Date {
    match unit {
        "year" => date.first_of_year(),
        "quarter" => {
            let month = (date.month() - 1) / 3 * 3 + 1;
            Date::new(date.year(), month, 1).unwrap()
        }
        "month" => date.first_of_month(),
        "week" => {
            let back = date.weekday().to_sunday_zero_offset();
            date.checked_sub(Span::new().days(i64::from(back))).unwrap()
        }
        _ => date,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn date_add_agrees_with_zoned_arithmetic(
        when in instant(),
        zone in prop::sample::select(&ZONES[..]),
        unit in prop::sample::select(&UNITS[..]),
        amount in -400i64..400,
    ) {
        let expected = zoned(when, zone).checked_add(span(unit, amount)).unwrap();
        let got = millis(evaluate(
            doc! { "$dateAdd": { "startDate": "$d", "unit": unit, "amount": amount, "timezone": zone } },
            when,
        ));
        prop_assert_eq!(got, expected.timestamp().as_millisecond());
        let back = millis(evaluate(
            doc! { "$dateSubtract": { "startDate": "$d", "unit": unit, "amount": -amount, "timezone": zone } },
            when,
        ));
        prop_assert_eq!(back, got);
    }

    #[test]
    fn date_trunc_agrees_with_local_calendar(
        when in instant(),
        zone in prop::sample::select(&ZONES[..]),
        unit in prop::sample::select(&["year", "quarter", "month", "week", "day"][..]),
    ) {
        let local = zoned(when, zone);
        let start = truncated_date(local.date(), unit)
            .to_zoned(local.time_zone().clone())
            .unwrap();
        let got = millis(evaluate(
            doc! { "$dateTrunc": { "date": "$d", "unit": unit, "timezone": zone } },
            when,
        ));
        prop_assert_eq!(got, start.timestamp().as_millisecond());
    }

    #[test]
    fn date_diff_counts_local_calendar_boundaries(
        start in instant(),
        end in instant(),
        zone in prop::sample::select(&ZONES[..]),
    ) {
        let (from, to) = (zoned(start, zone).date(), zoned(end, zone).date());
        let diff = |unit: &str| {
            let root = doc! {
                "s": bson::DateTime::from_millis(start),
                "e": bson::DateTime::from_millis(end),
            };
            let expression = doc! { "$dateDiff": {
                "startDate": "$s", "endDate": "$e", "unit": unit, "timezone": zone } };
            match Expr::compile(&Bson::Document(expression))
                .unwrap()
                .evaluate(&root, &Variables::new())
                .unwrap()
            {
                Some(Bson::Int64(n)) => n,
                other => panic!("expected a long, got {other:?}"),
            }
        };
        let days = i64::from(from.until(to).unwrap().get_days());
        let months = |d: Date| i64::from(d.year()) * 12 + i64::from(d.month());
        prop_assert_eq!(diff("day"), days);
        prop_assert_eq!(diff("month"), months(to) - months(from));
        prop_assert_eq!(diff("year"), i64::from(to.year() - from.year()));
        let sundays = |d: Date| truncated_date(d, "week");
        let weeks = i64::from(sundays(from).until(sundays(to)).unwrap().get_days()) / 7;
        prop_assert_eq!(diff("week"), weeks);
        prop_assert_eq!(diff("millisecond"), end - start);
    }
}
