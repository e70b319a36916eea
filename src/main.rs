use std::process::ExitCode;

use clap::Parser;
use swarmgate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match swarmgate::commands::dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            swarmgate::errln!("error: {error:#}");
            swarmgate::exit_code_for(&error)
        }
    }
}
