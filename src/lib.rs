//! swarmgate: a load tester built to be a performance gate in CI.
//!
//! The pipeline runs one way: [`config`] reads a scenario file into a
//! [`scenario`] and the [`gate`]'s rules; the [`engine`] swarms (recording
//! into [`metrics`]); [`results`] writes the run's files and reads baselines;
//! the [`gate`] judges numbers, pure; [`publish`], [`history`] and [`report`] tell
//! people; [`commands`] strings the stages together.
//!
//! Dependencies point one way, layer by layer (tests/architecture.rs keeps
//! it so): bounds, text ← units, diagnostic, endpoint ← metrics, scenario ←
//! engine, gate ← config, demo ← results ← publish, history ← report, cli ←
//! commands.

/// `print!` that never panics (a closed pipe, `swarmgate compare … | head`,
/// must not turn the gate's exit code into a panic's 101) and never passes
/// control characters or a workflow command through ([`text::for_terminal`]).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!($($arg)*);
        let _ = std::io::stdout().write_all($crate::text::for_terminal(&text).as_bytes());
    }};
}

/// `println!` that never panics; see [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        out!("{}\n", format_args!($($arg)*))
    }};
}

/// `eprintln!` with what [`out!`] promises, for stderr (which CI runners
/// read for workflow commands too).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!("{}\n", format_args!($($arg)*));
        let _ = std::io::stderr().write_all($crate::text::for_terminal(&text).as_bytes());
    }};
}

/// Writes a workflow command swarmgate means to give, past [`out!`]'s guard;
/// its data must already be escaped the runner's way.
pub fn workflow_command(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}

pub(crate) mod bounds;
pub mod cli;
pub mod commands;
pub(crate) mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub(crate) mod diagnostic;
pub(crate) mod endpoint;
pub(crate) mod engine;
pub(crate) mod gate;
pub(crate) mod history;
pub(crate) mod metrics;
pub(crate) mod publish;
pub(crate) mod report;
pub(crate) mod results;
pub(crate) mod scenario;
pub mod text;
pub(crate) mod units;

#[cfg(test)]
mod mutation;

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
        e.is::<InvalidInput>()
            || e.is::<diagnostic::ScenarioError>()
            || e.is::<scenario::FlagError>()
    }) {
        ExitCode::from(2)
    } else {
        ExitCode::from(3)
    }
}
