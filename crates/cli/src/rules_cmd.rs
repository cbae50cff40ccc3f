//! `rampart rules`: run App Services rule cases and lint an app's rules.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rampart_rules::simulate::{check_expected, simulate};
use rampart_rules::{lint, load_and_compile, LoadOptions};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Run one decision case (conformance format) against an in-memory collection and print
    /// the outcome, the collection afterwards and the explanation as one JSON object.
    Simulate(SimulateArgs),
    /// Run every case file under a directory and report pass or fail per case.
    Test(TestArgs),
    /// Load and compile an app's rules and list every error, one per line; when there is
    /// none, report likely mistakes.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The case file.
    case: PathBuf,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Directory searched recursively for `*.json` case files.
    dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The app directory (with `data_sources/`) or one collection directory.
    app_dir: PathBuf,
    /// The environment whose `environments/<tag>.json` gives `%%environment`.
    #[arg(long, value_name = "TAG")]
    environment: Option<String>,
}

pub fn run(command: RulesCommand) -> Result<()> {
    match command {
        RulesCommand::Simulate(args) => simulate_case(&args.case),
        RulesCommand::Test(args) => test_dir(&args.dir),
        RulesCommand::Check(args) => check_app(&args),
    }
}

fn read_case(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("`{}` is not JSON", path.display()))
}

fn simulate_case(path: &Path) -> Result<()> {
    let case = read_case(path)?;
    let output = simulate(&case).with_context(|| format!("`{}`", path.display()))?;
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

fn case_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            case_files(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "json") {
            found.push(path);
        }
    }
    Ok(())
}

fn test_dir(dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    case_files(dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        bail!("no case files under `{}`", dir.display());
    }
    let mut failed = 0;
    for file in &files {
        let outcome = read_case(file).and_then(|case| {
            let actual = simulate(&case)?;
            check_expected(&case, &actual).map_err(anyhow::Error::msg)?;
            Ok(case)
        });
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match outcome {
            Ok(_) => println!("pass {name}"),
            Err(error) => {
                failed += 1;
                println!("FAIL {name}: {}", one_line(&format!("{error:#}")));
            }
        }
    }
    println!("{} passed, {failed} failed", files.len() - failed);
    if failed > 0 {
        bail!("{failed} of {} cases failed", files.len());
    }
    Ok(())
}

/// Every configuration error on stderr, one per line, in a stable order (by file, then by
/// place in the file); lints only when there is none, as they read a complete configuration.
fn check_app(args: &CheckArgs) -> Result<()> {
    let options = LoadOptions {
        environment: args.environment.clone(),
    };
    let loaded = match load_and_compile(&args.app_dir, &options) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for error in &errors {
                eprintln!("error: {}", one_line(&error.to_string()));
            }
            let count = errors.len();
            let noun = if count == 1 { "error" } else { "errors" };
            bail!("{count} configuration {noun}; lints not run");
        }
    };
    let lints = lint(&loaded.config);
    for finding in &lints {
        println!("{} at {}: {}", finding.file, finding.path, finding.message);
    }
    if !lints.is_empty() {
        bail!("{} problem(s) found", lints.len());
    }
    println!("rules are valid");
    Ok(())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
