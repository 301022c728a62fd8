//! The `mpitorrent` binary: parse the command line, run one command, map
//! the outcome to an exit status. Everything clever lives in the library
//! crates; see `commands` for what each subcommand does.

mod cli;
mod commands;
mod launcher;
mod logging;
mod manifest;
mod progress;
mod report_cmd;
mod settings;
mod sim;
mod swarm;
mod timeline;

use std::process::ExitCode;

fn main() -> ExitCode {
    // The origin of the report's first_segment_ms.
    mpitorrent_net::resources::process_start();
    // Under mpirun every rank parses the same command line: one prints.
    let cli = cli::Cli::parse_args().unwrap_or_else(|err| launcher::exit_with(err));
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mpitorrent: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
