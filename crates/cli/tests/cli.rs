//! The `rampart` binary as a user runs it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn rampart() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
}

fn run(args: &[&str]) -> Output {
    rampart().args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn docs_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("docs.json");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

const PEOPLE: &str = r#"{"_id": 1, "name": "ada", "age": 36, "tags": ["math"]}
{"_id": 2, "name": "grace", "age": 45, "tags": ["navy"]}
{"_id": 3, "name": "alan", "age": 41, "tags": ["math", "logic"]}
"#;

#[test]
fn version_prints_the_package_version() {
    let output = run(&["--version"]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        format!("rampart {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn mql_find_prints_canonical_extended_json_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let docs = docs_file(&dir, PEOPLE);
    let output = run(&[
        "mql",
        "find",
        "--docs",
        &docs,
        "--filter",
        r#"{"tags": "math"}"#,
        "--projection",
        r#"{"name": 1}"#,
        "--sort",
        r#"{"age": -1}"#,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "{\"_id\":{\"$numberInt\":\"3\"},\"name\":\"alan\"}\n{\"_id\":{\"$numberInt\":\"1\"},\"name\":\"ada\"}\n"
    );
}

#[test]
fn mql_find_accepts_a_json_array_and_skip_limit() {
    let dir = tempfile::tempdir().unwrap();
    let docs = docs_file(&dir, r#"[{"_id": 1}, {"_id": 2}, {"_id": 3}]"#);
    let output = run(&[
        "mql", "find", "--docs", &docs, "--skip", "1", "--limit", "1",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "{\"_id\":{\"$numberInt\":\"2\"}}\n");
}

#[test]
fn mql_update_prints_the_collection_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let docs = docs_file(
        &dir,
        r#"{"_id": 1, "n": 1}
{"_id": 2, "n": 5}"#,
    );
    let output = run(&[
        "mql",
        "update",
        "--docs",
        &docs,
        "--filter",
        r#"{"n": {"$gt": 0}}"#,
        "--update",
        r#"{"$inc": {"n": 1}}"#,
        "--many",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "{\"_id\":{\"$numberInt\":\"1\"},\"n\":{\"$numberInt\":\"2\"}}\n{\"_id\":{\"$numberInt\":\"2\"},\"n\":{\"$numberInt\":\"6\"}}\n"
    );
    assert_eq!(
        stderr(&output).trim(),
        r#"{"matchedCount":2,"modifiedCount":2,"upsertedId":null}"#
    );
}

#[test]
fn mql_update_upsert_reports_the_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let docs = docs_file(&dir, "");
    let output = run(&[
        "mql",
        "update",
        "--docs",
        &docs,
        "--filter",
        r#"{"_id": "x"}"#,
        "--update",
        r#"{"$set": {"a": 1}}"#,
        "--upsert",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "{\"_id\":\"x\",\"a\":{\"$numberInt\":\"1\"}}\n"
    );
    assert_eq!(
        stderr(&output).trim(),
        r#"{"matchedCount":0,"modifiedCount":0,"upsertedId":"x"}"#
    );
}

#[test]
fn mql_aggregate_runs_a_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let docs = docs_file(&dir, PEOPLE);
    let output = run(&[
        "mql",
        "aggregate",
        "--docs",
        &docs,
        "--pipeline",
        r#"[{"$unwind": "$tags"}, {"$group": {"_id": "$tags", "n": {"$sum": 1}}}, {"$sort": {"n": -1, "_id": 1}}]"#,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "{\"_id\":\"math\",\"n\":{\"$numberInt\":\"2\"}}\n{\"_id\":\"logic\",\"n\":{\"$numberInt\":\"1\"}}\n{\"_id\":\"navy\",\"n\":{\"$numberInt\":\"1\"}}\n"
    );
}

#[test]
fn mql_seed_makes_random_output_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..40).map(|id| format!("{{\"_id\": {id}}}\n")).collect();
    let docs = docs_file(&dir, &lines);
    let sample = |seed: Option<&str>| {
        let mut args = vec![
            "mql",
            "aggregate",
            "--docs",
            &docs,
            "--pipeline",
            r#"[{"$sample": {"size": 5}}, {"$set": {"r": {"$rand": {}}}}]"#,
        ];
        if let Some(seed) = seed {
            args.extend(["--seed", seed]);
        }
        let output = run(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stdout(&output).lines().count(), 5);
        stdout(&output)
    };
    assert_eq!(sample(Some("42")), sample(Some("42")));
    assert_ne!(sample(Some("42")), sample(Some("43")));
    assert_ne!(sample(None), sample(None));

    let find = |seed: &str| {
        let output = run(&[
            "mql",
            "find",
            "--docs",
            &docs,
            "--filter",
            r#"{"$sampleRate": 0.5}"#,
            "--seed",
            seed,
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    assert_eq!(find("7"), find("7"));
    assert_ne!(find("7"), find("8"));
}
#[test]
fn mql_errors_are_one_line_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let docs = docs_file(&dir, PEOPLE);
    for (args, expected) in [
        (
            vec![
                "mql",
                "find",
                "--docs",
                docs.as_str(),
                "--filter",
                r#"{"a": {"$frob": 1}}"#,
            ],
            "$frob",
        ),
        (
            vec![
                "mql",
                "find",
                "--docs",
                docs.as_str(),
                "--filter",
                "{not json",
            ],
            "--filter",
        ),
        (
            vec![
                "mql",
                "update",
                "--docs",
                docs.as_str(),
                "--filter",
                "{}",
                "--update",
                r#"{"$inc": {"name": 1}}"#,
            ],
            "$inc",
        ),
        (
            vec![
                "mql",
                "aggregate",
                "--docs",
                docs.as_str(),
                "--pipeline",
                r#"[{"$bogus": {}}]"#,
            ],
            "$bogus",
        ),
        (
            vec!["mql", "find", "--docs", "/nonexistent/file.json"],
            "/nonexistent/file.json",
        ),
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let message = stderr(&output);
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(
            message.starts_with("error: ") && message.contains(expected),
            "{args:?}: {message}"
        );
        assert!(stdout(&output).is_empty());
    }
}

#[test]
fn check_names_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rampart.toml");
    for (text, expected) in [
        (
            "[server]\nlisen = \"127.0.0.1:1\"\n",
            "`server.lisen`: unknown field `lisen`",
        ),
        (
            "[server]\nlisten = \"nowhere\"\n",
            "`server.listen`: `nowhere` is not an address",
        ),
        ("[storage]\nbackend = \"cassandra\"\n", "`storage.backend`"),
        ("[server\n", "rampart.toml"),
    ] {
        std::fs::write(&file, text).unwrap();
        let output = run(&["check", "--config", dir.path().to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{text}");
        let message = stderr(&output);
        assert!(
            message.contains("rampart.toml") && message.contains(expected),
            "{text}: {message}"
        );
    }
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:9999\"\n").unwrap();
    let output = run(&["check", "--config", dir.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(&["check", "--config", "/nonexistent/config"]);
    assert_eq!(output.status.code(), Some(2));
}

fn http_get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[test]
fn serve_answers_health_and_ready_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = rampart()
        .args([
            "serve",
            "--config",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("rampart listening on http://")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    let (status, body) = http_get(&address, "/health");
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    assert_eq!(http_get(&address, "/ready").0, 200);
    assert_eq!(http_get(&address, "/nope").0, 404);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn import_loads_documents_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().to_str().unwrap();
    let data = dir.path().join("data");
    let good = dir.path().join("good.json");
    std::fs::write(&good, "{\"_id\": 1, \"a\": 1}\n{\"_id\": 2, \"a\": 2}\n").unwrap();
    let output = run(&[
        "import",
        "--config",
        config,
        "--db",
        "app",
        "--collection",
        "items",
        good.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        "imported 2 documents into `app.items`"
    );

    // The third document repeats `_id` 1: nothing of this file may land.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[{\"_id\": 3}, {\"_id\": 4}, {\"_id\": 1}]").unwrap();
    let output = run(&[
        "import",
        "--config",
        config,
        "--db",
        "app",
        "--collection",
        "items",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("document 3")
            && message.contains("nothing was imported")
            && message.contains("duplicate key"),
        "{message}"
    );

    let store = rampart_store::EmbeddedStore::open(&data).unwrap();
    let namespace = rampart_store::Namespace::new("app", "items").unwrap();
    use rampart_store::Store;
    assert_eq!(
        store
            .count_documents(&namespace, &bson::Document::new(), 0, None)
            .unwrap(),
        2
    );
}

#[test]
fn import_rejects_bad_names_and_malformed_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().to_str().unwrap();
    let file = dir.path().join("docs.json");
    std::fs::write(&file, "{\"_id\": 1}").unwrap();
    let output = run(&[
        "import",
        "--config",
        config,
        "--db",
        "bad.name",
        "--collection",
        "c",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid namespace"),
        "{}",
        stderr(&output)
    );
    std::fs::write(&file, "{\"_id\": {\"$oid\": \"zz\"}}").unwrap();
    let output = run(&[
        "import",
        "--config",
        config,
        "--db",
        "d",
        "--collection",
        "c",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("$oid"), "{}", stderr(&output));
}

#[test]
fn a_second_server_on_the_same_data_directory_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().to_str().unwrap();
    let mut first = rampart()
        .args(["serve", "--config", config, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("rampart listening on"), "{line}");
    let second = run(&["serve", "--config", config, "--listen", "127.0.0.1:0"]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.status.code(), Some(2));
    let message = stderr(&second);
    assert!(message.contains("rampart.redb"), "{message}");
}

#[test]
fn the_readme_configuration_example_is_valid() {
    // The README documents every `rampart.toml` key in one block; it must stay loadable.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme
        .find("```toml\n[server]")
        .expect("README has the rampart.toml example")
        + "```toml\n".len();
    let length = readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rampart.toml"),
        &readme[start..start + length],
    )
    .unwrap();
    let output = run(&["check", "--config", dir.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn check_lists_every_rule_error_of_the_app() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rampart.toml"),
        "[server]\nlisten = \"127.0.0.1:9999\"\n",
    )
    .unwrap();
    let items = dir.path().join("data_sources/mongodb-atlas/shop/items");
    let orders = dir.path().join("data_sources/mongodb-atlas/shop/orders");
    std::fs::create_dir_all(&items).unwrap();
    std::fs::create_dir_all(&orders).unwrap();
    std::fs::write(
        items.join("rules.json"),
        r#"{"roles": [{"name": "a", "apply_when": {}, "raed": true}, {"name": "b", "apply_when": {}, "wirte": true}]}"#,
    )
    .unwrap();
    std::fs::write(
        orders.join("rules.json"),
        r#"{"roles": [{"name": "r", "apply_when": {"%%usr.id": "x"}, "read": true}]}"#,
    )
    .unwrap();
    let output = run(&["check", "--config", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 3, "{message}");
    for (line, expected) in lines.iter().zip(["`raed`", "`wirte`", "%%usr"]) {
        assert!(
            line.starts_with("error: ") && line.contains(expected),
            "{expected} missing: {message}"
        );
    }
}
