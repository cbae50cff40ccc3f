//! The text forms inside type wrappers: base64, hex, decimal integer and double strings, and
//! ISO-8601 dates. Written here rather than borrowed so that what is accepted is exactly what
//! the Extended JSON specification allows and no more.

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    let symbol = |index: u8| {
        char::from(
            BASE64_ALPHABET
                .get(usize::from(index & 0x3f))
                .copied()
                .unwrap_or(b'A'),
        )
    };
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        for (slot, byte) in group.iter_mut().zip(chunk) {
            *slot = *byte;
        }
        let [a, b, c] = group;
        out.push(symbol(a >> 2));
        out.push(symbol((a << 4) | (b >> 4)));
        out.push(if chunk.len() > 1 {
            symbol((b << 2) | (c >> 6))
        } else {
            '='
        });
        out.push(if chunk.len() > 2 { symbol(c) } else { '=' });
    }
    out
}

fn sextet(symbol: u8) -> Option<u8> {
    match symbol {
        b'A'..=b'Z' => Some(symbol - b'A'),
        b'a'..=b'z' => Some(symbol - b'a' + 26),
        b'0'..=b'9' => Some(symbol - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Strict standard base64: padded to a multiple of four, padding only at the end, and unused
/// trailing bits zero (so every accepted text is the one an encoder would write).
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let groups = bytes.len() / 4;
    let mut out = Vec::with_capacity(groups * 3);
    for (index, chunk) in bytes.chunks_exact(4).enumerate() {
        let last = index + 1 == groups;
        let [a, b, c, d] = <[u8; 4]>::try_from(chunk).ok()?;
        let (a, b) = (sextet(a)?, sextet(b)?);
        out.push((a << 2) | (b >> 4));
        match (c, d) {
            (b'=', b'=') if last => {
                if b & 0x0f != 0 {
                    return None;
                }
            }
            (_, b'=') if last => {
                let c = sextet(c)?;
                if c & 0x03 != 0 {
                    return None;
                }
                out.push((b << 4) | (c >> 2));
            }
            _ => {
                let (c, d) = (sextet(c)?, sextet(d)?);
                out.push((b << 4) | (c >> 2));
                out.push((c << 6) | d);
            }
        }
    }
    Some(out)
}

fn hex_digit(symbol: u8) -> Option<u8> {
    match symbol {
        b'0'..=b'9' => Some(symbol - b'0'),
        b'a'..=b'f' => Some(symbol - b'a' + 10),
        b'A'..=b'F' => Some(symbol - b'A' + 10),
        _ => None,
    }
}

/// Exactly `N` bytes from `2 * N` hex digits, either case.
pub(crate) fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let [high, low] = <[u8; 2]>::try_from(pair).ok()?;
        *slot = (hex_digit(high)? << 4) | hex_digit(low)?;
    }
    Some(out)
}

/// A binary subtype: one or two hex digits.
pub(crate) fn hex_subtype(text: &str) -> Option<u8> {
    match text.as_bytes() {
        [low] => hex_digit(*low),
        [high, low] => Some((hex_digit(*high)? << 4) | hex_digit(*low)?),
        _ => None,
    }
}

/// A UUID in its RFC 4122 textual form (`8-4-4-4-12` hex digits).
pub(crate) fn uuid_bytes(text: &str) -> Option<[u8; 16]> {
    let raw = text.as_bytes();
    if raw.len() != 36 {
        return None;
    }
    let mut digits = String::with_capacity(32);
    for (index, symbol) in raw.iter().enumerate() {
        let hyphen_slot = matches!(index, 8 | 13 | 18 | 23);
        match (hyphen_slot, *symbol == b'-') {
            (true, true) => {}
            (false, false) => digits.push(char::from(*symbol)),
            _ => return None,
        }
    }
    hex_bytes::<16>(&digits)
}

/// A decimal integer string: an optional `-` and one or more ASCII digits, nothing else.
pub(crate) fn integer_text(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok()
}

/// A `$numberDouble` string: `Infinity`, `-Infinity`, `NaN`, or a JSON-style decimal number
/// that is finite as a double (`1e400` is refused rather than read as infinity).
pub(crate) fn double_text(text: &str) -> Option<f64> {
    match text {
        "Infinity" => return Some(f64::INFINITY),
        "-Infinity" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let body = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (body.get(..at)?, Some(body.get(at + 1..)?)),
        None => (body, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok =
        exponent.is_none_or(|exp| all_digits(exp.strip_prefix(['+', '-']).unwrap_or(exp)));
    if !all_digits(whole) || !fraction.is_none_or(all_digits) || !exponent_ok {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// The `$numberDouble` text of a double: shortest round-trip digits, always with a `.` or an
/// exponent (`1.0`, `-0.0`, `1e+300`, `1.5e-7`), and the three special spellings.
pub(crate) fn double_to_text(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let Some(number) = serde_json::Number::from_f64(value) else {
        return "NaN".to_owned();
    };
    // serde_json writes the shortest round-trip form; the exponent always gets a sign so the
    // text reads like other drivers' (`1e+300`), as in the BSON corpus.
    let text = number.to_string();
    match text.split_once('e') {
        Some((mantissa, exponent)) if !exponent.starts_with(['-', '+']) => {
            format!("{mantissa}e+{exponent}")
        }
        _ => text,
    }
}

const MILLIS_PER_DAY: i64 = 86_400_000;
/// 9999-12-31T23:59:59.999Z, the last instant the relaxed format writes as a string.
pub(crate) const MAX_ISO_MILLIS: i64 = 253_402_300_799_999;

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// An ISO-8601 date string for `millis`. `always_millis` writes `.000` for whole seconds (the
/// plain-JSON form); otherwise the fraction is left out when zero, as the relaxed format asks.
/// Years outside 0000-9999 use the expanded `+YYYYYY`/`-YYYYYY` form.
pub(crate) fn iso_date(millis: i64, always_millis: bool) -> String {
    let days = millis.div_euclid(MILLIS_PER_DAY);
    let of_day = millis.rem_euclid(MILLIS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute) = (of_day / 3_600_000, of_day / 60_000 % 60);
    let (second, milli) = (of_day / 1000 % 60, of_day % 1000);
    let year_text = match year {
        0..=9999 => format!("{year:04}"),
        _ if year < 0 => format!("-{:06}", year.unsigned_abs()),
        _ => format!("+{year:06}"),
    };
    let fraction = if milli != 0 || always_millis {
        format!(".{milli:03}")
    } else {
        String::new()
    };
    format!("{year_text}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z")
}

/// Reads fixed-width ASCII digits from the front of a byte string.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl Cursor<'_> {
    fn digits(&mut self, count: usize) -> Option<i64> {
        let (head, tail) = self.rest.split_at_checked(count)?;
        let mut value = 0i64;
        for symbol in head {
            if !symbol.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(symbol - b'0');
        }
        self.rest = tail;
        Some(value)
    }

    fn eat(&mut self, accept: impl Fn(u8) -> bool) -> Option<u8> {
        let (first, tail) = self.rest.split_first()?;
        if !accept(*first) {
            return None;
        }
        self.rest = tail;
        Some(*first)
    }
}

/// Milliseconds since the epoch from an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS`, optional
/// fractional seconds (truncated to milliseconds), then `Z` or an offset `+HH:MM` / `+HHMM`.
pub(crate) fn parse_iso_date(text: &str) -> Option<i64> {
    let mut cursor = Cursor {
        rest: text.as_bytes(),
    };
    let year = cursor.digits(4)?;
    cursor.eat(|b| b == b'-')?;
    let month = cursor.digits(2)?;
    cursor.eat(|b| b == b'-')?;
    let day = cursor.digits(2)?;
    cursor.eat(|b| b == b'T' || b == b't')?;
    let hour = cursor.digits(2)?;
    cursor.eat(|b| b == b':')?;
    let minute = cursor.digits(2)?;
    cursor.eat(|b| b == b':')?;
    let second = cursor.digits(2)?;
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let mut millis = 0i64;
    if cursor.eat(|b| b == b'.').is_some() {
        let mut count = 0usize;
        while let Some(symbol) = cursor.eat(|b| b.is_ascii_digit()) {
            if count < 3 {
                millis = millis * 10 + i64::from(symbol - b'0');
            }
            count += 1;
        }
        if count == 0 {
            return None;
        }
        millis *= 10i64.pow(3u32.saturating_sub(u32::try_from(count).unwrap_or(3)));
    }
    let offset_minutes = parse_offset(&mut cursor)?;
    if !cursor.rest.is_empty() {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

fn parse_offset(cursor: &mut Cursor<'_>) -> Option<i64> {
    if cursor.eat(|b| b == b'Z' || b == b'z').is_some() {
        return Some(0);
    }
    let sign = if cursor.eat(|b| b == b'+' || b == b'-')? == b'-' {
        -1
    } else {
        1
    };
    let hours = cursor.digits(2)?;
    let _ = cursor.eat(|b| b == b':');
    let minutes = cursor.digits(2)?;
    if hours >= 24 || minutes >= 60 {
        return None;
    }
    Some(sign * (hours * 60 + minutes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_is_strict() {
        for len in 0..10 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
            let text = base64_encode(&bytes);
            assert_eq!(base64_decode(&text).unwrap(), bytes, "{text}");
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_decode("").unwrap(), Vec::<u8>::new());
        for bad in [
            "a",
            "aGVsbG8",
            "aGVsbG9=",
            "aGV=bG8=",
            "a===",
            "aG!s",
            "aGVsbG8=aGVs",
        ] {
            assert!(base64_decode(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hex_and_uuid() {
        assert_eq!(hex_bytes::<2>("0aFf"), Some([0x0a, 0xff]));
        assert!(hex_bytes::<2>("0aF").is_none());
        assert!(hex_bytes::<2>("0aFg").is_none());
        assert_eq!(hex_subtype("4"), Some(4));
        assert_eq!(hex_subtype("80"), Some(0x80));
        assert!(hex_subtype("").is_none() && hex_subtype("100").is_none());
        assert!(uuid_bytes("c8edabc3-f738-4ca3-b68d-ab92a91478a3").is_some());
        assert!(uuid_bytes("c8edabc3f7384ca3b68dab92a91478a3").is_none());
        assert!(uuid_bytes("c8edabc3-f738-4ca3b-68d-ab92a91478a3").is_none());
    }

    #[test]
    fn numbers() {
        assert_eq!(integer_text("-12"), Some(-12));
        for bad in ["", "-", "+1", "1.0", " 1", "1e3", "0x10"] {
            assert_eq!(integer_text(bad), None, "{bad}");
        }
        assert_eq!(double_text("1.5E+3"), Some(1500.0));
        assert!(double_text("-0.0").unwrap().is_sign_negative());
        for bad in [
            "", "inf", "+1", "1.", ".5", "1e", "1e400", "nan", "-NaN", "1.0x",
        ] {
            assert_eq!(double_text(bad), None, "{bad}");
        }
        assert_eq!(double_to_text(1.0), "1.0");
        assert_eq!(double_to_text(-0.0), "-0.0");
        assert_eq!(double_to_text(1e300), "1e+300");
        assert_eq!(double_to_text(1.5e-7), "1.5e-7");
        assert_eq!(
            double_to_text(1.2345678901234568e18),
            "1.2345678901234568e+18"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_iso_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso_date("1970-01-01T00:00:00.1234Z"), Some(123));
        assert_eq!(parse_iso_date("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_iso_date("1969-12-31T19:00:00-0500"), Some(0));
        assert_eq!(
            parse_iso_date("9999-12-31T23:59:59.999Z"),
            Some(MAX_ISO_MILLIS)
        );
        assert_eq!(
            parse_iso_date("2000-02-29T00:00:00Z"),
            Some(951_782_400_000)
        );
        for bad in [
            "1970-01-01",
            "1970-01-01T00:00:00",
            "1970-13-01T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "1970-01-01T24:00:00Z",
            "1970-01-01T00:00:00.Z",
            "1970-01-01T00:00:00Zx",
            "1970-1-01T00:00:00Z",
        ] {
            assert_eq!(parse_iso_date(bad), None, "{bad}");
        }
        assert_eq!(iso_date(0, false), "1970-01-01T00:00:00Z");
        assert_eq!(iso_date(0, true), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso_date(1_577_880_000_123, false),
            "2020-01-01T12:00:00.123Z"
        );
        assert_eq!(iso_date(-1, true), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            iso_date(MAX_ISO_MILLIS + 1, true),
            "+010000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            iso_date(-62_167_219_200_001, true),
            "-000001-12-31T23:59:59.999Z"
        );
        for millis in [
            -86_400_001i64,
            0,
            951_782_400_000,
            MAX_ISO_MILLIS,
            1_234_567_890_123,
        ] {
            assert_eq!(parse_iso_date(&iso_date(millis, false)), Some(millis));
        }
    }
}
