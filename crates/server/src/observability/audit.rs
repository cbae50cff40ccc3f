//! The audit line: one self-contained JSON object per decision.
//!
//! The object is serialized here and emitted as the whole message of one `tracing` event on
//! target [`AUDIT_TARGET`]. That makes it one JSON object in both log formats: in text logs the
//! line ends with the object (`... INFO rampart::audit: {"ts":...}`), and in JSON logs the line
//! is one object whose `target` is `rampart::audit` and whose `message` is the audit object, so a
//! pipeline filters on `target` and parses `message` without knowing the rest of the log schema.

use std::time::{SystemTime, UNIX_EPOCH};

use super::AuditEvent;

/// The tracing target of audit lines (filter on it: `RUST_LOG=rampart::audit=info`).
pub const AUDIT_TARGET: &str = "rampart::audit";

/// Longest `reason` kept in an audit line; a longer one is cut (an error text can quote a whole
/// request body, and an audit line must stay one reasonable line).
const MAX_REASON_CHARS: usize = 512;

/// The audit object of `event`, stamped `ts` (RFC 3339, UTC, milliseconds).
pub(crate) fn audit_json(event: &AuditEvent<'_>, ts: SystemTime) -> serde_json::Value {
    serde_json::json!({
        "ts": rfc3339(ts),
        "request_id": event.request_id,
        "user": event.user_id,
        "action": event.action,
        "namespace": event.namespace,
        "outcome": event.outcome.as_str(),
        "role": event.role,
        "reason": event.reason.map(bounded_reason),
    })
}

/// Writes `event` as one line on the audit target.
pub(crate) fn emit(event: &AuditEvent<'_>) {
    let line = audit_json(event, SystemTime::now()).to_string();
    tracing::info!(target: AUDIT_TARGET, "{line}");
}

fn bounded_reason(reason: &str) -> String {
    // Control characters would break "one line per event" in text logs.
    let cleaned: String = reason
        .chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .take(MAX_REASON_CHARS)
        .collect();
    if reason.chars().count() > MAX_REASON_CHARS {
        format!("{cleaned}...")
    } else {
        cleaned
    }
}

/// `2025-09-30T12:34:56.789Z`. Hand-rolled (a date crate for one format is not worth it):
/// days since the epoch to a civil date by Howard Hinnant's algorithm.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let millis = since_epoch.subsec_millis();
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let second_of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3600,
        (second_of_day % 3600) / 60,
        second_of_day % 60
    )
}

/// (year, month 1-12, day 1-31) of `days` since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}
