//! The `mpitorrent` binary: parse the command line, run one command, map
//! the outcome to an exit status. Everything clever lives in the library
//! crates; see `commands` for what each subcommand does.

mod cli;
mod commands;
mod logging;
mod manifest;
mod progress;
mod report_cmd;
mod sim;
mod swarm;
mod timeline;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mpitorrent: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
