//! The `rampart` command: one binary for the server and its tools.

mod import_cmd;
mod keys_cmd;
mod mql_cmd;
mod rules_cmd;
mod serve_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Identity and fine-grained authorization in front of MongoDB data.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP: the Data API and the rest of Rampart, on the embedded store by default.
    Serve(serve_cmd::ServeArgs),
    /// Validate the configuration and exit: 0 when valid, 2 with a message naming the file and
    /// the key when not.
    Check(serve_cmd::CheckArgs),
    /// Load Extended JSON documents (one per line or one array) into a collection; all or
    /// nothing.
    Import(import_cmd::ImportArgs),
    /// Run MongoDB queries, updates and pipelines over documents in a file (a playground for
    /// the query engine Rampart uses everywhere).
    #[command(subcommand)]
    Mql(mql_cmd::MqlCommand),
    /// Simulate, test and lint App Services data access rules.
    #[command(subcommand)]
    Rules(rules_cmd::RulesCommand),
    /// Create, revoke and list API keys (while the server is stopped: the store is locked).
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve_cmd::serve(args),
        Command::Check(args) => serve_cmd::check(args),
        Command::Import(args) => import_cmd::import(args),
        Command::Mql(command) => mql_cmd::run(command),
        Command::Rules(command) => rules_cmd::run(command),
        Command::Keys(command) => keys_cmd::run(command),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line per problem: a configuration with several errors lists them all.
            let text = format!("{error:#}");
            for problem in text.lines().filter(|line| !line.trim().is_empty()) {
                eprintln!("error: {}", one_line(problem));
            }
            ExitCode::from(2)
        }
    }
}

/// Each reported problem is one line: operators read them in logs and scripts parse them.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
