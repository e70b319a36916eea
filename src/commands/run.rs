//! `swarmgate run`: swarm, write results, summarize.

use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::progress::RunObserver;
use crate::cli::{OutputArgs, RunArgs};
use crate::engine::{self, target};
use crate::results::{terminal, ResultsDir};
use crate::scenario::{Overrides, Scenario};
use crate::CouldNotRun;

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut scenario = Scenario::load(&args.scenario)?;
    scenario.apply(&Overrides {
        host: args.host,
        users: args.overrides.users,
        spawn_rate: args.overrides.spawn_rate,
        duration: args.overrides.duration,
    })?;
    super::runtime()?.block_on(swarm(scenario, &args.output, args.allow_remote))
}

/// The pipeline shared by `run` and `demo`: check the target, swarm, write
/// the results directory, print the summary.
pub async fn swarm(
    scenario: Scenario,
    output: &OutputArgs,
    allow_remote: bool,
) -> anyhow::Result<ExitCode> {
    let results = ResultsDir::prepare(&output.out)?;
    let addresses = target::resolve(&scenario.host, allow_remote).await?;
    target::ensure_reachable(&scenario.host, &addresses).await?;

    let interrupt = CancellationToken::new();
    let on_ctrl_c = interrupt.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });

    let mut observer = RunObserver::new(
        results.history()?,
        scenario.load.duration,
        scenario.load.users,
        output.quiet,
    );
    if !output.quiet {
        eprintln!(
            "swarming {} with {} users ({}/s) for {}",
            scenario.host,
            scenario.load.users,
            scenario.load.spawn_rate,
            humantime::format_duration(scenario.load.duration)
        );
    }
    let run = engine::run(Arc::new(scenario), addresses, &mut observer, interrupt).await?;
    observer.finish();
    results.write(&run)?;
    print!("{}", terminal::render(&run, terminal::name_width()));
    println!("\nresults: {}", results.path().display());
    if run.interrupted {
        return Err(CouldNotRun(format!(
            "interrupted after {:.0}s; the results of what ran are in {}",
            run.elapsed.as_secs_f64(),
            results.path().display()
        ))
        .into());
    }
    Ok(ExitCode::SUCCESS)
}
