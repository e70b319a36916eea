//! One function per subcommand: turn parsed flags into a pipeline run.

mod compare;
#[cfg(feature = "demo")]
mod demo;
mod gate;
mod init;
mod progress;
mod rounds;
mod run;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Compare(args) => compare::compare(args),
        Command::Report(args) => report(&args),
        Command::History { file, last } => {
            out!(
                "{}",
                crate::history::table(&crate::history::read_existing(&file, "history")?, last)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Init { dir } => init::init(&dir),
        Command::Validate { scenario } => validate(&scenario),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::demo(args),
        #[cfg(feature = "demo")]
        Command::ServeDemo(args) => demo::serve(args),
    }
}

fn report(args: &crate::cli::ReportArgs) -> anyhow::Result<ExitCode> {
    let history = match &args.history {
        Some(path) => crate::history::read_existing(path, "--history")?,
        None => Vec::new(),
    };
    let html = crate::report::render_results_dir(&args.dir, &history)?;
    let path = args
        .report
        .clone()
        .unwrap_or_else(|| args.dir.join("report.html"));
    crate::results::write_atomically(&path, html.as_bytes())?;
    outln!("report: {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn validate(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let scenario = crate::config::load(path)?.scenario;
    let tasks: usize = scenario.users.iter().map(|u| u.tasks.len()).sum();
    outln!(
        "{}: valid: {} user class(es), {tasks} task(s), {}, against {}",
        path.display(),
        scenario.users.len(),
        scenario.load.describe(),
        scenario.host
    );
    Ok(ExitCode::SUCCESS)
}

/// One core gets a single-threaded runtime: no work stealing, no cross-thread
/// wake-ups, measurably more requests per CPU-second.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut builder = if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    Ok(builder.enable_all().build()?)
}
