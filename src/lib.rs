//! swarmgate: a load tester built to be a performance gate in CI.
//!
//! The pipeline runs one way: [`scenario`] → [`engine`] (which records into
//! [`metrics`]) → [`results`]. Each stage hands the next one small type.

/// `print!` that never panics: a closed pipe (`swarmgate compare … | head`)
/// must not turn the gate's exit code into a panic's 101.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `println!` that never panics; see [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod bounds;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod engine;
pub mod gate;
pub mod history;
pub mod metrics;
pub mod report;
pub mod results;
pub mod scenario;

use std::process::ExitCode;

/// Bad input from the user: flags, scenario, baseline. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// The run could not happen or was cut short: unreachable target, interrupt.
/// Exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CouldNotRun(pub String);

/// Maps an error to the documented exit codes.
pub fn exit_code_for(error: &anyhow::Error) -> ExitCode {
    if error.chain().any(|e| {
        e.is::<InvalidInput>() || e.is::<scenario::ScenarioError>() || e.is::<scenario::FlagError>()
    }) {
        ExitCode::from(2)
    } else {
        ExitCode::from(3)
    }
}
