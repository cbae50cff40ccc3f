use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use axum::routing::{get, post};
use axum::{Extension, Router};

use super::audit::{audit_json, rfc3339};
use super::metrics::{escape_label, DURATION_BUCKETS};
use super::request::{client_request_id, generate_request_id};
use super::*;

#[test]
fn renders_counters_with_help_type_and_escaped_labels() {
    let observability = Observability::new();
    observability.record_decision("find", DecisionOutcome::Allowed);
    observability.record_decision("find", DecisionOutcome::Allowed);
    observability.record_decision("we\"ird\\\n", DecisionOutcome::Denied);
    let text = observability.render();
    assert!(text.contains("# HELP rampart_decisions_total "));
    assert!(text.contains("# TYPE rampart_decisions_total counter\n"));
    assert!(text.contains("rampart_decisions_total{action=\"find\",outcome=\"allowed\"} 2\n"));
    assert!(text
        .contains("rampart_decisions_total{action=\"we\\\"ird\\\\\\n\",outcome=\"denied\"} 1\n"));
    assert!(text.contains("# TYPE rampart_http_requests_in_flight gauge\n"));
    assert!(text.contains("rampart_http_requests_in_flight 0\n"));
    assert!(text.contains("# TYPE rampart_http_request_duration_seconds histogram\n"));
}

#[test]
fn every_sample_line_is_well_formed() {
    let observability = Observability::new();
    observability.record_request("/health", "GET", 200, Duration::from_micros(300));
    observability.record_decision("insertOne", DecisionOutcome::Error);
    for line in observability.render().lines() {
        if line.starts_with('#') {
            let parts: Vec<&str> = line.splitn(4, ' ').collect();
            assert!(parts.len() >= 3, "{line}");
            assert!(parts[1] == "HELP" || parts[1] == "TYPE", "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let name = series.split('{').next().unwrap();
        assert!(name.starts_with("rampart_"), "{line}");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        if series.contains('{') {
            assert!(series.ends_with('}'), "{line}");
        }
    }
}

#[test]
fn histogram_is_cumulative_and_count_matches_inf_bucket() {
    let observability = Observability::new();
    let route = "/app/{app}/endpoint/data/v1/action/{action}";
    for micros in [100, 700, 3_000, 40_000_000] {
        observability.record_request(route, "POST", 200, Duration::from_micros(micros));
    }
    let text = observability.render();
    let name = "rampart_http_request_duration_seconds";
    let labels = format!("route=\"{}\"", escape_label(route));
    let bucket = |le: &str| -> u64 {
        let prefix = format!("{name}_bucket{{{labels},le=\"{le}\"}} ");
        let line = text.lines().find(|line| line.starts_with(&prefix)).unwrap();
        line[prefix.len()..].parse().unwrap()
    };
    assert_eq!(bucket("0.0005"), 1);
    assert_eq!(bucket("0.001"), 2);
    assert_eq!(bucket("0.005"), 3);
    assert_eq!(bucket("10"), 3);
    assert_eq!(bucket("+Inf"), 4);
    assert!(text.contains(&format!("{name}_count{{{labels}}} 4\n")));
    let sum_prefix = format!("{name}_sum{{{labels}}} ");
    let sum_line = text.lines().find(|l| l.starts_with(&sum_prefix)).unwrap();
    let sum: f64 = sum_line[sum_prefix.len()..].parse().unwrap();
    assert!((sum - 40.0038).abs() < 1e-9, "{sum}");
    let bucket_lines = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket")))
        .count();
    assert_eq!(bucket_lines, DURATION_BUCKETS.len() + 1);
    assert!(text.contains(
        "rampart_http_requests_total{route=\"/app/{app}/endpoint/data/v1/action/{action}\",method=\"POST\",status=\"200\"} 4\n"
    ));
}

#[test]
fn series_count_is_bounded() {
    let observability = Observability::new();
    for index in 0..1_200 {
        observability.record_decision(&format!("action{index}"), DecisionOutcome::Allowed);
    }
    assert_eq!(observability.decisions.value(["other", "other"]), 200);
    let series = observability
        .render()
        .lines()
        .filter(|line| line.starts_with("rampart_decisions_total{"))
        .count();
    assert_eq!(series, 1_001);
}

#[test]
fn rfc3339_formats_utc_with_milliseconds() {
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    // 2024-02-29T23:59:59.123Z, a leap day.
    let leap = UNIX_EPOCH + Duration::from_millis(1_709_251_199_123);
    assert_eq!(rfc3339(leap), "2024-02-29T23:59:59.123Z");
    let later = UNIX_EPOCH + Duration::from_secs(4_102_444_800); // 2100-01-01
    assert_eq!(rfc3339(later), "2100-01-01T00:00:00.000Z");
}

fn sample_event<'a>() -> AuditEvent<'a> {
    AuditEvent {
        request_id: "req-1",
        user_id: Some("alice"),
        action: "updateOne",
        namespace: "todo.items",
        outcome: DecisionOutcome::Denied,
        role: None,
        reason: Some("update not permitted\nsecond line"),
    }
}

#[test]
fn audit_object_has_every_field() {
    let value = audit_json(&sample_event(), UNIX_EPOCH);
    assert_eq!(
        value,
        serde_json::json!({
            "ts": "1970-01-01T00:00:00.000Z",
            "request_id": "req-1",
            "user": "alice",
            "action": "updateOne",
            "namespace": "todo.items",
            "outcome": "denied",
            "role": null,
            "reason": "update not permitted second line",
        })
    );
}

/// A writer the test subscriber writes into.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn audit_once() -> Arc<Observability> {
    let observability = Observability::new();
    observability.audit(&sample_event());
    observability
}

#[test]
fn audit_is_one_json_line_in_json_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    let observability = tracing::subscriber::with_default(subscriber, audit_once);
    let text = captured.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["target"], "rampart::audit");
    assert_eq!(line["level"], "INFO");
    let audit: serde_json::Value = serde_json::from_str(line["message"].as_str().unwrap()).unwrap();
    assert_eq!(audit["request_id"], "req-1");
    assert_eq!(audit["outcome"], "denied");
    assert_eq!(audit["namespace"], "todo.items");
    assert!(audit["ts"].as_str().unwrap().ends_with('Z'));
    assert!(observability
        .render()
        .contains("rampart_audit_events_total{outcome=\"denied\"} 1\n"));
}

#[test]
fn audit_is_one_json_object_in_text_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, audit_once);
    let text = captured.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let (prefix, object) = lines[0].split_once(" rampart::audit: ").unwrap();
    assert!(prefix.contains("INFO"), "{prefix}");
    let audit: serde_json::Value = serde_json::from_str(object).unwrap();
    assert_eq!(audit["user"], "alice");
    assert_eq!(audit["action"], "updateOne");
}

#[test]
fn client_request_ids_are_validated() {
    let mut headers = axum::http::HeaderMap::new();
    assert_eq!(client_request_id(&headers), None);
    for (value, accepted) in [
        ("abc-DEF_1.2", true),
        ("", false),
        ("has space", false),
        ("semi;colon", false),
        (&"x".repeat(128), true),
        (&"x".repeat(129), false),
    ] {
        headers.insert(REQUEST_ID_HEADER, value.parse().unwrap());
        assert_eq!(client_request_id(&headers).is_some(), accepted, "{value:?}");
    }
}

#[test]
fn generated_request_ids_are_unique_and_valid() {
    let first = generate_request_id();
    let second = generate_request_id();
    assert_ne!(first, second);
    assert_eq!(first.len(), 24);
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
}

/// One HTTP/1.1 request over a plain socket; returns the raw response.
fn http(address: std::net::SocketAddr, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_sets_request_ids_and_counts_route_templates() {
    let observability = Observability::new();
    let app = Router::new()
        .route(
            "/app/{app}/echo",
            post(|Extension(id): Extension<RequestId>| async move { id.0 }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(layer(Arc::clone(&observability)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let responses = tokio::task::spawn_blocking(move || {
        let given = http(
            address,
            "POST /app/one/echo HTTP/1.1\r\nHost: x\r\nx-request-id: abc.123\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let replaced = http(
            address,
            "POST /app/two/echo HTTP/1.1\r\nHost: x\r\nx-request-id: bad id!\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let missing = http(
            address,
            "GET /no/such/path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        (given, replaced, missing)
    })
    .await
    .unwrap();
    server.abort();
    let (given, replaced, missing) = responses;

    assert_eq!(header(&given, "x-request-id"), Some("abc.123"));
    assert!(given.ends_with("abc.123"), "{given}");
    let generated = header(&replaced, "x-request-id").unwrap();
    assert_eq!(generated.len(), 24);
    assert!(replaced.ends_with(generated), "{replaced}");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

    let text = observability.render();
    assert!(
        text.contains(
            "rampart_http_requests_total{route=\"/app/{app}/echo\",method=\"POST\",status=\"200\"} 2\n"
        ),
        "{text}"
    );
    assert!(!text.contains("/app/one"), "{text}");
    assert!(
        text.contains("rampart_http_request_duration_seconds_count{route=\"/app/{app}/echo\"} 2\n")
    );
    assert!(
        text.contains("rampart_http_requests_in_flight 0\n"),
        "{text}"
    );
    // A 404 is counted under one `unmatched` route, never under its raw path.
    assert!(
        text.contains(
            "rampart_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"
        ),
        "{text}"
    );
    assert!(!text.contains("/no/such/path"), "{text}");
}
