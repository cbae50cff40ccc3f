//! A small Prometheus registry: labelled counters and histograms on atomics, rendered in the
//! text exposition format (version 0.0.4).
//!
//! Hand-written rather than a metrics crate because Rampart needs five metric families and a
//! correct renderer, not a framework. Series are created on first use; after that, recording
//! is a read lock and one atomic add.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// Most series one labelled metric may hold. Label values come from bounded sets (route
/// templates, methods, statuses, action names), so this is never reached unless a caller passes
/// unbounded input; past it, new label sets are counted under `other` so memory stays bounded.
// INVARIANT: the number of series per metric never exceeds MAX_SERIES + 1.
const MAX_SERIES: usize = 1_000;

/// The label value that absorbs label sets beyond [`MAX_SERIES`].
const OVERFLOW: &str = "other";

/// Upper bounds (seconds) of the request duration histogram. Prometheus's defaults start at
/// 5 ms; the embedded store answers many reads well under a millisecond, so finer low buckets.
pub(crate) const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A family of series keyed by `N` label values.
#[derive(Debug)]
pub(crate) struct Family<const N: usize, T> {
    names: [&'static str; N],
    series: RwLock<BTreeMap<[String; N], Arc<T>>>,
}

impl<const N: usize, T: Default> Family<N, T> {
    pub(crate) fn new(names: [&'static str; N]) -> Self {
        Family {
            names,
            series: RwLock::new(BTreeMap::new()),
        }
    }

    /// The series for `values`, created on first use.
    fn series(&self, values: [&str; N]) -> Arc<T> {
        let key = values.map(str::to_owned);
        {
            // A panic while holding the lock cannot leave the map inconsistent (inserts are
            // single calls), so a poisoned lock is still safe to use.
            let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(found) = series.get(&key) {
                return Arc::clone(found);
            }
        }
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        let key = if series.len() >= MAX_SERIES && !series.contains_key(&key) {
            [(); N].map(|()| OVERFLOW.to_owned())
        } else {
            key
        };
        Arc::clone(series.entry(key).or_default())
    }

    /// A consistent copy of the series list for rendering.
    fn snapshot(&self) -> Vec<([String; N], Arc<T>)> {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        series
            .iter()
            .map(|(key, value)| (key.clone(), Arc::clone(value)))
            .collect()
    }

    /// `name="value",...` for one series, escaped.
    fn labels(&self, values: &[String; N]) -> String {
        let mut out = String::new();
        for (name, value) in self.names.iter().zip(values) {
            if !out.is_empty() {
                out.push(',');
            }
            let _ = write!(out, "{name}=\"{}\"", escape_label(value));
        }
        out
    }
}

/// A monotonic counter.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl<const N: usize> Family<N, Counter> {
    pub(crate) fn inc(&self, values: [&str; N]) {
        self.series(values).0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current value of one series (tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn value(&self, values: [&str; N]) -> u64 {
        self.series(values).0.load(Ordering::Relaxed)
    }

    pub(crate) fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, help, "counter");
        for (values, counter) in self.snapshot() {
            let _ = writeln!(
                out,
                "{name}{{{}}} {}",
                self.labels(&values),
                counter.0.load(Ordering::Relaxed)
            );
        }
    }
}

/// A histogram over [`DURATION_BUCKETS`]: one non-cumulative count per bucket (the last is
/// `+Inf`) and the sum in nanoseconds; cumulated when rendered.
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: [(); DURATION_BUCKETS.len() + 1].map(|()| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let index = DURATION_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(DURATION_BUCKETS.len());
        if let Some(bucket) = self.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl<const N: usize> Family<N, Histogram> {
    pub(crate) fn observe(&self, values: [&str; N], elapsed: Duration) {
        self.series(values).observe(elapsed);
    }

    pub(crate) fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, help, "histogram");
        for (values, histogram) in self.snapshot() {
            let labels = self.labels(&values);
            let separator = if labels.is_empty() { "" } else { "," };
            let mut cumulative = 0u64;
            let bounds = DURATION_BUCKETS.iter().map(|bound| format_float(*bound));
            for (bucket, bound) in histogram
                .buckets
                .iter()
                .zip(bounds.chain(std::iter::once("+Inf".to_owned())))
            {
                cumulative = cumulative.saturating_add(bucket.load(Ordering::Relaxed));
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {cumulative}"
                );
            }
            // The sum is read after the buckets, so it may include an observation the buckets
            // missed; Prometheus tolerates that skew, and `_count` equals the `+Inf` bucket
            // as the format requires.
            let sum = histogram.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", format_float(sum));
            let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
        }
    }
}

/// `# HELP` and `# TYPE` lines of one metric family.
pub(crate) fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Label values escape backslash, double quote and line feed.
pub(crate) fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out
}

/// Help text escapes backslash and line feed (quotes stay as they are).
fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A float as Prometheus parses it: Rust's shortest round-trip form, which never uses an
/// exponent for these magnitudes (`0.0005`, `1`, `2.5`).
pub(crate) fn format_float(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    format!("{value}")
}
