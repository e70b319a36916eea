//! `swarmgate run --against BASELINE_URL`: the baseline deployment and the
//! candidate take turns in rounds on this machine (A B B A …), so whatever
//! the machine does to one it does to the other, and the verdict rests on
//! the pairs of rounds. Each side gets `--duration` in all.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::gate::print_verdict;
use super::progress::RunObserver;
use super::run::{check_outputs, publish, stop_on_signals, Gate, Judged};
use crate::cli::OutputArgs;
use crate::engine::rounds::{abba, Side};
use crate::engine::{self, target, RunResult};
use crate::gate::spread::Spread;
use crate::results::{run_stats, terminal, ResultsDir};
use crate::scenario::Scenario;
use crate::InvalidInput;

/// Rounds shorter than this measure little but the users' start.
const MIN_ROUND: Duration = Duration::from_secs(1);
/// Rounds per side unless asked: six pairs give a t interval only 1.3
/// times as wide as a normal one, and six rounds fit a short CI run.
const DEFAULT_ROUNDS: u32 = 6;
/// Where the baseline's side goes, inside `--out`.
pub const BASELINE_DIR: &str = "baseline";

/// The two deployments' scenarios, checked before anything runs.
pub struct Interleaved {
    /// Both with the length of one round.
    pub candidate: Scenario,
    pub baseline: Scenario,
    pub pairs: usize,
    /// The load as asked, for the start line.
    load: String,
}

impl Interleaved {
    /// `baseline` is the same scenario with the `--against` host.
    pub fn new(
        mut candidate: Scenario,
        mut baseline: Scenario,
        rounds: Option<u16>,
    ) -> Result<Self, InvalidInput> {
        if candidate.load.stages.is_some() {
            return Err(InvalidInput(
                "--against runs the load in rounds, and the scenario's [[load.stage]] shape over time would be cut into pieces; remove the stages, or compare with --baseline".into(),
            ));
        }
        let total = candidate.load.duration;
        let fitting = (total.as_secs_f64() / MIN_ROUND.as_secs_f64()).floor() as u32;
        let pairs = match rounds {
            Some(rounds) => usize::from(rounds),
            None if fitting >= crate::gate::spread::MIN_PAIRS as u32 => {
                fitting.min(DEFAULT_ROUNDS) as usize
            }
            None => {
                return Err(InvalidInput(format!(
                    "--against: --duration {}s is too short for {} rounds of at least {}s each; give it at least {}s",
                    total.as_secs_f64(),
                    crate::gate::spread::MIN_PAIRS,
                    MIN_ROUND.as_secs(),
                    crate::gate::spread::MIN_PAIRS as u64 * MIN_ROUND.as_secs()
                )))
            }
        };
        let round = total / pairs as u32;
        if round < MIN_ROUND {
            return Err(InvalidInput(format!(
                "--rounds {pairs}: each of {pairs} rounds of --duration {}s would last {:.2}s; rounds need at least {}s, so use fewer rounds or a longer --duration",
                total.as_secs_f64(),
                round.as_secs_f64(),
                MIN_ROUND.as_secs()
            )));
        }
        let load = candidate.load.describe();
        candidate.load.duration = round;
        baseline.load.duration = round;
        Ok(Self {
            candidate,
            baseline,
            pairs,
            load,
        })
    }
}

pub async fn interleave(
    plan: Interleaved,
    output: &OutputArgs,
    allow_remote: bool,
    gate: Gate,
) -> anyhow::Result<ExitCode> {
    let interrupt = stop_on_signals()?;
    let candidate_addresses = target::resolve(&plan.candidate.host, allow_remote).await?;
    let baseline_addresses = target::resolve(&plan.baseline.host, allow_remote)
        .await
        .map_err(|e| InvalidInput(format!("--against: {e:#}")))?;
    let results = ResultsDir::prepare(&output.out)?;
    let baseline_results = ResultsDir::prepare(&output.out.join(BASELINE_DIR))?;
    check_outputs(output, &gate)?;
    target::ensure_reachable(&plan.candidate.host, &candidate_addresses).await?;
    target::ensure_reachable(&plan.baseline.host, &baseline_addresses)
        .await
        .map_err(|e| InvalidInput(format!("--against: {e:#}")))?;

    let round_length = plan.candidate.load.duration;
    let (baseline_host, candidate_host) = (plan.baseline.host.clone(), plan.candidate.host.clone());
    let load = plan.load;
    let sides = [
        (
            Arc::new(plan.baseline),
            baseline_addresses,
            &baseline_results,
        ),
        (Arc::new(plan.candidate), candidate_addresses, &results),
    ];
    let mut observers = Vec::with_capacity(2);
    for (scenario, _, dir) in &sides {
        observers.push(RunObserver::new(
            dir.history()?,
            scenario.load.duration,
            scenario.load.users,
            output.quiet,
        ));
    }
    if !output.quiet {
        crate::errln!(
            "interleaving {} (baseline) and {} (candidate), each with {}: {} rounds of {:.1}s in turns",
            baseline_host,
            candidate_host,
            load,
            plan.pairs * 2,
            round_length.as_secs_f64(),
        );
    }
    let mut rounds: [Vec<RunResult>; 2] = [Vec::new(), Vec::new()];
    let order = abba(plan.pairs);
    for (number, side) in order.iter().enumerate() {
        if interrupt.is_cancelled() {
            break;
        }
        let index = usize::from(*side == Side::Candidate);
        let (scenario, addresses, _) = &sides[index];
        if !output.quiet {
            crate::errln!(
                "round {}/{}: {}",
                number + 1,
                order.len(),
                if index == 0 { "baseline" } else { "candidate" }
            );
        }
        let run = engine::run(
            scenario.clone(),
            addresses.clone(),
            &mut observers[index],
            interrupt.clone(),
        )
        .await?
        .redacted(&scenario.secrets);
        rounds[index].push(run);
    }
    let [baseline_rounds, candidate_rounds] = rounds;
    let pairs = paired_rounds(&baseline_rounds, &candidate_rounds, &gate);
    let mut timelines = observers.into_iter().map(RunObserver::finish);
    let _baseline_timeline = timelines.next();
    let timeline = timelines.next().unwrap_or_default();
    let (Some(baseline_run), Some(mut candidate_run)) = (
        RunResult::pool(baseline_rounds),
        RunResult::pool(candidate_rounds),
    ) else {
        crate::errln!("error: interrupted before the candidate's first round: nothing to judge");
        return Ok(ExitCode::from(3));
    };
    // Cut between rounds, no round knows: the run still covers less than asked.
    candidate_run.interrupted |= interrupt.is_cancelled();
    baseline_results.write(&baseline_run)?;
    results.write(&candidate_run)?;
    out!(
        "{}",
        terminal::render(&candidate_run, terminal::name_width())
    );
    for warning in candidate_run.warnings() {
        crate::errln!("warning: {warning}");
    }
    let baseline = run_stats(
        &baseline_run,
        &baseline_results.path().display().to_string(),
    );
    let current = run_stats(&candidate_run, &results.path().display().to_string());
    let verdict = crate::gate::judge_with_spread(&current, &baseline, &gate.rules, &pairs);
    print_verdict(&verdict, true, &gate.rules, output.verbose);
    publish(
        Judged {
            run: &candidate_run,
            timeline,
            current: &current,
            baseline: Some(&baseline),
            verdict: &verdict,
        },
        &results,
        output,
        &gate,
    )
}

/// Round `k` of the baseline with round `k` of the candidate: the A B B A
/// order puts both of a pair next to each other in time.
fn paired_rounds(baseline: &[RunResult], candidate: &[RunResult], gate: &Gate) -> Spread {
    let stats = |run: &RunResult| run_stats(run, "round");
    let rounds: Vec<_> = baseline
        .iter()
        .zip(candidate)
        .map(|(b, c)| (stats(b), stats(c)))
        .collect();
    Spread::of_pairs(&rounds, &gate.rules)
}
