//! `rampart keys create|list|revoke` as a user runs them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use rampart_identity::{AuthConfig, AuthMethod, Authenticator};
use rampart_store::{EmbeddedStore, Store};

fn keys(dir: &Path, args: &[&str]) -> Output {
    let data = dir.join("data");
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("keys")
        .args(args)
        .arg("--config")
        .arg(dir)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn created_key(output: &Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output).lines().last().unwrap().to_owned()
}

/// Authenticates `key` through the real authenticator on the data directory.
fn authenticates(dir: &Path, key: &str) -> Result<String, String> {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.join("data")).unwrap());
    let authenticator = Authenticator::new(&AuthConfig::default(), store).unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("apikey", key.parse().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(authenticator.authenticate(&headers))
        .map(|found| {
            assert_eq!(found.method, AuthMethod::ApiKey);
            format!("{} {}", found.user.id, found.user.user_type)
        })
        .map_err(|error| format!("{} {} {error}", error.status(), error.code()))
}

#[test]
fn create_prints_the_key_alone_on_the_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = keys(dir.path(), &["create", "--user", "svc-1", "--name", "ci"]);
    let key = created_key(&output);
    let text = stdout(&output);
    assert!(text.starts_with("created api key `ci` (id "), "{text}");
    assert!(text.contains("for user `svc-1`"), "{text}");
    assert!(key.starts_with("rk_") && !key.contains(' '), "{key}");
    assert_eq!(text.matches(&key).count(), 1, "the key appears once");
    assert_eq!(authenticates(dir.path(), &key).unwrap(), "svc-1 server");
}

#[test]
fn list_shows_keys_but_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let first = created_key(&keys(
        dir.path(),
        &["create", "--user", "svc-1", "--name", "ci"],
    ));
    let second = created_key(&keys(dir.path(), &["create", "--user", "svc-2"]));
    let output = keys(dir.path(), &["list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let columns: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(columns, ["ID", "NAME", "USER", "CREATED", "REVOKED"]);
    assert!(
        lines[1].contains(" ci ") && lines[1].contains("svc-1"),
        "{text}"
    );
    assert!(
        lines[1].trim_end().ends_with(" -"),
        "active keys show `-`: {text}"
    );
    assert!(lines[2].contains("svc-2"), "{text}");
    for key in [&first, &second] {
        let secret = key.strip_prefix("rk_").unwrap().split_once('_').unwrap().1;
        assert!(!text.contains(secret), "list shows a secret: {text}");
    }
    let only = stdout(&keys(dir.path(), &["list", "--user", "svc-2"]));
    assert_eq!(only.lines().count(), 2, "{only}");
}

#[test]
fn revoked_keys_no_longer_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let by_name = created_key(&keys(
        dir.path(),
        &["create", "--user", "svc-1", "--name", "ci"],
    ));
    let by_id_output = keys(dir.path(), &["create", "--user", "svc-1"]);
    let by_id = created_key(&by_id_output);
    let id = by_id
        .strip_prefix("rk_")
        .unwrap()
        .split_once('_')
        .unwrap()
        .0
        .to_owned();
    assert!(authenticates(dir.path(), &by_name).is_ok());

    let output = keys(dir.path(), &["revoke", "ci"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("revoked api key `ci` (id "),
        "{}",
        stdout(&output)
    );
    let output = keys(dir.path(), &["revoke", &id]);
    assert!(output.status.success(), "{}", stderr(&output));

    let rejected = "401 InvalidSession invalid session: error finding user for endpoint";
    assert_eq!(authenticates(dir.path(), &by_name).unwrap_err(), rejected);
    assert_eq!(authenticates(dir.path(), &by_id).unwrap_err(), rejected);

    let again = keys(dir.path(), &["revoke", "ci"]);
    assert!(again.status.success());
    assert!(
        stdout(&again).contains("was already revoked at "),
        "{}",
        stdout(&again)
    );
    let listed = stdout(&keys(dir.path(), &["list"]));
    assert!(
        !listed
            .lines()
            .skip(1)
            .any(|line| line.trim_end().ends_with(" -")),
        "{listed}"
    );
}

#[test]
fn errors_are_one_line_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    created_key(&keys(
        dir.path(),
        &["create", "--user", "a", "--name", "ci"],
    ));
    let cases: [(&[&str], &str); 4] = [
        (
            &["create", "--user", "b", "--name", "ci"],
            "error: cannot create the api key: an api key named `ci` already exists\n",
        ),
        (
            &["create", "--user", "b", "--name", "no spaces"],
            "error: cannot create the api key: invalid key name `no spaces`: use 1 to 64 letters, digits, `.`, `_` or `-`\n",
        ),
        (&["revoke", "nope"], "error: no api key with id or name `nope`\n"),
        (
            &["create", "--user", ""],
            "error: cannot create the api key: invalid user id ``: it is empty\n",
        ),
    ];
    for (args, expected) in cases {
        let output = keys(dir.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&output), expected, "{args:?}");
    }
}

#[test]
fn a_locked_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // Holding the store open stands for a running `rampart serve`.
    let _held = EmbeddedStore::open(&dir.path().join("data")).unwrap();
    let output = keys(dir.path(), &["list"]);
    assert_eq!(output.status.code(), Some(2));
    let expected = format!(
        "error: the data directory `{}` is in use by another process (is `rampart serve` running?): stop it and retry\n",
        dir.path().join("data").display()
    );
    assert_eq!(stderr(&output), expected);
}

#[test]
fn help_says_the_server_must_be_stopped() {
    let output = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["keys", "create", "--help"])
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(
        text.contains("fail while `rampart serve` runs on the same directory"),
        "{text}"
    );
    assert!(text.contains("--data-dir"), "{text}");
}
