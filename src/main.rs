//! The `defender-mock` binary: parses the command line and runs the chosen subcommand.

use std::process::ExitCode;

use clap::Parser;
use defender_mock::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("defender-mock: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(Cli::parse()));
    // The server has already waited its shutdown grace: a request still running (say, CPU-bound
    // on a worker) must not hold the exit, so the runtime is not waited for.
    runtime.shutdown_background();
    code
}

async fn run(cli: Cli) -> ExitCode {
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
