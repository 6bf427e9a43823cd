//! The `defender-mock` binary: parses the command line and runs the chosen subcommand.

use std::process::ExitCode;

use clap::Parser;
use defender_mock::cli::{self, Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => cli::serve(cli.serve).await,
        Some(Command::Serve(args)) => cli::serve(args).await,
        Some(Command::Token(args)) => cli::token(args).map(|t| println!("{t}")),
        Some(Command::Fixtures(args)) => {
            return cli::fixtures(args).map_or_else(
                |e| {
                    eprintln!("defender-mock: {e}");
                    ExitCode::FAILURE
                },
                |()| ExitCode::SUCCESS,
            );
        }
        Some(Command::Health(args)) => {
            return if cli::health(args).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("defender-mock: {e}");
            ExitCode::FAILURE
        }
    }
}
