//! `swarmgate run --rounds N`, and `--against BASELINE_URL`: the load in
//! rounds, so that the gate sees how much rounds differ from one another.
//!
//! With `--against`, the baseline deployment and the candidate take turns
//! on this machine (A B B A …): whatever the machine does to one it does to
//! the other, and the verdict rests on the pairs of rounds. Each side gets
//! `--duration` in all. Without it, the candidate runs `N` rounds in a row
//! and is judged against the stored baseline, if any, with intervals at
//! least as wide as the spread between its rounds.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::gate::print_verdict;
use super::progress::RunObserver;
use super::run::{check_outputs, publish, stop_on_signals, Gate, Judged};
use crate::cli::OutputArgs;
use crate::engine::rounds::{abba, Side};
use crate::engine::{self, target, RunResult};
use crate::gate::spread::{Spread, MIN_PAIRS};
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

/// The rounds to run, checked before anything runs.
pub struct Rounds {
    /// With the length of one round.
    pub candidate: Scenario,
    /// With `--against`: the same scenario on the baseline's host.
    pub baseline: Option<Scenario>,
    /// Rounds per side.
    pub count: usize,
    /// The load as asked, for the start line.
    load: String,
    /// `--until-decided`: the wall time all rounds may take.
    budget: Option<Duration>,
}

impl Rounds {
    pub fn new(
        mut candidate: Scenario,
        mut baseline: Option<Scenario>,
        count: Option<u16>,
    ) -> Result<Self, InvalidInput> {
        if candidate.load.stages.is_some() {
            return Err(InvalidInput(
                "--rounds and --against run the load in rounds, and the scenario's [[load.stage]] shape over time would be cut into pieces; remove the stages, or compare with --baseline alone".into(),
            ));
        }
        let total = candidate.load.duration;
        let fitting = (total.as_secs_f64() / MIN_ROUND.as_secs_f64()).floor() as u32;
        let count = match count {
            Some(count) => usize::from(count),
            None if fitting >= MIN_PAIRS as u32 => fitting.min(DEFAULT_ROUNDS) as usize,
            None => {
                return Err(InvalidInput(format!(
                    "--against: --duration {}s is too short for {MIN_PAIRS} rounds of at least {}s each; give it at least {}s",
                    total.as_secs_f64(),
                    MIN_ROUND.as_secs(),
                    MIN_PAIRS as u64 * MIN_ROUND.as_secs()
                )))
            }
        };
        let round = total / count as u32;
        if round < MIN_ROUND {
            return Err(InvalidInput(format!(
                "--rounds {count}: each of {count} rounds of --duration {}s would last {:.2}s; rounds need at least {}s, so use fewer rounds or a longer --duration",
                total.as_secs_f64(),
                round.as_secs_f64(),
                MIN_ROUND.as_secs()
            )));
        }
        let load = candidate.load.describe();
        candidate.load.duration = round;
        if let Some(baseline) = &mut baseline {
            baseline.load.duration = round;
        }
        Ok(Self {
            candidate,
            baseline,
            count,
            load,
            budget: None,
        })
    }

    /// `--until-decided --max-duration BUDGET`: refused when the budget
    /// does not hold the first look's rounds.
    pub fn until_decided(mut self, budget: Duration) -> Result<Self, InvalidInput> {
        let first = self.candidate.load.duration * (2 * self.count) as u32;
        if budget < first {
            return Err(InvalidInput(format!(
                "--max-duration {}s is shorter than the first look: {} rounds of {:.1}s on each side take {}s; give --until-decided at least that",
                budget.as_secs_f64(),
                self.count,
                self.candidate.load.duration.as_secs_f64(),
                first.as_secs_f64()
            )));
        }
        self.budget = Some(budget);
        Ok(self)
    }

    /// The most looks the budget allows: the first, then one per block of
    /// two more rounds a side. The confidence is split evenly over them.
    fn looks(&self) -> usize {
        let Some(budget) = self.budget else {
            return 1;
        };
        let round = self.candidate.load.duration.as_secs_f64();
        let first = round * (2 * self.count) as f64;
        1 + ((budget.as_secs_f64() - first) / (4.0 * round))
            .floor()
            .max(0.0) as usize
    }
}

/// Rounds added per side at each further look of `--until-decided`: one
/// A B B A block.
const ROUNDS_PER_LOOK: usize = 2;

/// One deployment's rounds: its scenario, addresses, results directory,
/// progress, and the rounds run so far.
struct SideRuns {
    scenario: Arc<Scenario>,
    addresses: Vec<std::net::SocketAddr>,
    results: ResultsDir,
    observer: RunObserver,
    runs: Vec<RunResult>,
}

impl SideRuns {
    async fn prepare(
        scenario: Scenario,
        out: &std::path::Path,
        allow_remote: bool,
        quiet: bool,
        flag: Option<&str>,
    ) -> anyhow::Result<Self> {
        let named = |e: anyhow::Error| match flag {
            Some(flag) => InvalidInput(format!("{flag}: {e:#}")).into(),
            None => e,
        };
        let addresses = target::resolve(&scenario.host, allow_remote)
            .await
            .map_err(named)?;
        let results = ResultsDir::prepare(out)?;
        let observer = RunObserver::new(
            results.history()?,
            scenario.load.duration,
            scenario.load.users,
            quiet,
        );
        Ok(Self {
            scenario: Arc::new(scenario),
            addresses,
            results,
            observer,
            runs: Vec::new(),
        })
    }
}

pub async fn run_rounds(
    plan: Rounds,
    output: &OutputArgs,
    allow_remote: bool,
    mut gate: Gate,
) -> anyhow::Result<ExitCode> {
    let interrupt = stop_on_signals()?;
    let started = std::time::Instant::now();
    let looks = plan.looks();
    let asked_confidence = gate.rules.confidence;
    // Alpha spent evenly over the looks (a Bonferroni split): whichever
    // look stops, the chance of a false alarm at any of them is at most
    // the sum, the level asked.
    gate.rules.confidence = 1.0 - (1.0 - asked_confidence) / looks as f64;
    let quiet = output.quiet;
    let mut candidate =
        SideRuns::prepare(plan.candidate, &output.out, allow_remote, quiet, None).await?;
    let mut baseline = match plan.baseline {
        Some(scenario) => Some(
            SideRuns::prepare(
                scenario,
                &output.out.join(BASELINE_DIR),
                allow_remote,
                quiet,
                Some("--against"),
            )
            .await?,
        ),
        None => None,
    };
    check_outputs(output, &gate)?;
    target::ensure_reachable(&candidate.scenario.host, &candidate.addresses).await?;
    if let Some(side) = &baseline {
        target::ensure_reachable(&side.scenario.host, &side.addresses)
            .await
            .map_err(|e| InvalidInput(format!("--against: {e:#}")))?;
    }

    let round_secs = candidate.scenario.load.duration.as_secs_f64();
    let order = match &baseline {
        Some(side) => {
            if !quiet {
                crate::errln!(
                    "interleaving {} (baseline) and {} (candidate), each with {}: {} rounds of {round_secs:.1}s in turns",
                    side.scenario.host,
                    candidate.scenario.host,
                    plan.load,
                    plan.count * 2,
                );
            }
            abba(plan.count)
        }
        None => {
            if !quiet {
                crate::errln!(
                    "swarming {} with {} in {} rounds of {round_secs:.1}s",
                    candidate.scenario.host,
                    plan.load,
                    plan.count
                );
            }
            vec![Side::Candidate; plan.count]
        }
    };
    run_in_turns(&order, &mut candidate, baseline.as_mut(), &interrupt, quiet).await?;
    let mut looked = 1;
    if let (Some(budget), Some(side)) = (plan.budget, baseline.as_mut()) {
        while let Some(verdict) = look(side, &candidate, &gate.rules) {
            let open = crate::gate::undecided(&verdict, &gate.rules);
            let rounds_run = (side.runs.len() + candidate.runs.len()) as u32;
            let per_round = started.elapsed() / rounds_run.max(1);
            let more = per_round * (2 * ROUNDS_PER_LOOK) as u32;
            if open == 0
                || !verdict.passed
                || looked == looks
                || started.elapsed() + more > budget
                || interrupt.is_cancelled()
            {
                break;
            }
            if !quiet {
                crate::errln!(
                    "look {looked} of at most {looks}: {open} comparisons undecided, {ROUNDS_PER_LOOK} more rounds a side"
                );
            }
            looked += 1;
            run_in_turns(
                &abba(ROUNDS_PER_LOOK),
                &mut candidate,
                Some(side),
                &interrupt,
                quiet,
            )
            .await?;
        }
    }
    let sequential = plan.budget.map(|_| {
        format!(
            "; until decided: {looked} look(s) of at most {looks}, {} rounds a side, each look at {}% family-wise confidence so that the {}% asked holds over all",
            candidate.runs.len(),
            crate::gate::significant(gate.rules.confidence * 100.0),
            crate::gate::significant(asked_confidence * 100.0)
        )
    });

    let stats = |run: &RunResult| run_stats(run, "round");
    let spread = match &baseline {
        // Round k of each side: the A B B A order puts them side by side.
        Some(side) => paired_spread(side, &candidate, &gate.rules),
        None => Spread::of_rounds(
            &candidate.runs.iter().map(stats).collect::<Vec<_>>(),
            &gate.rules,
        ),
    };
    let baseline_stats = match baseline {
        Some(side) => {
            let Some(run) = RunResult::pool(side.runs) else {
                return nothing_to_judge();
            };
            side.results.write(&run)?;
            side.observer.finish();
            // A base build that is down makes every change look like an
            // improvement; a verdict against it would wave the candidate through.
            let total = &run.stats.total;
            if total.requests == total.failures {
                crate::errln!(
                    "error: --against {}: no request succeeded ({} sent, {} failed), so there is nothing to compare the candidate with and no verdict (its side is in {})",
                    side.scenario.host,
                    total.requests,
                    total.failures,
                    side.results.path().display()
                );
                return Ok(ExitCode::from(3));
            }
            Some(run_stats(&run, &side.results.path().display().to_string()))
        }
        None => gate.baseline.clone(),
    };
    let Some(mut run) = RunResult::pool(candidate.runs) else {
        return nothing_to_judge();
    };
    // Cut between rounds, no round knows: the run still covers less than asked.
    run.interrupted |= interrupt.is_cancelled();
    candidate.results.write(&run)?;
    let timeline = candidate.observer.finish();
    out!("{}", terminal::render(&run, terminal::name_width()));
    for warning in run.warnings() {
        crate::errln!("warning: {warning}");
    }
    let current = run_stats(&run, &candidate.results.path().display().to_string());
    let mut verdict = match &baseline_stats {
        Some(baseline) => crate::gate::judge_with_spread(&current, baseline, &gate.rules, &spread),
        None => crate::gate::judge(&current, None, &gate.rules),
    };
    if let Some(sequential) = sequential {
        verdict.noise_model.push_str(&sequential);
    }
    print_verdict(
        &verdict,
        baseline_stats.is_some(),
        &gate.rules,
        output.verbose,
    );
    publish(
        Judged {
            run: &run,
            timeline,
            current: &current,
            baseline: baseline_stats.as_ref(),
            verdict: &verdict,
        },
        &candidate.results,
        output,
        &gate,
    )
}

/// Runs `order`'s rounds, each on its side, until done or interrupted.
async fn run_in_turns(
    order: &[Side],
    candidate: &mut SideRuns,
    mut baseline: Option<&mut SideRuns>,
    interrupt: &tokio_util::sync::CancellationToken,
    quiet: bool,
) -> anyhow::Result<()> {
    for (number, side) in order.iter().enumerate() {
        if interrupt.is_cancelled() {
            break;
        }
        let (runs, name) = match (side, baseline.as_deref_mut()) {
            (Side::Baseline, Some(baseline)) => (baseline, "baseline"),
            _ => (&mut *candidate, "candidate"),
        };
        if !quiet {
            crate::errln!("round {}/{}: {name}", number + 1, order.len());
        }
        let run = engine::run(
            runs.scenario.clone(),
            runs.addresses.clone(),
            &mut runs.observer,
            interrupt.clone(),
        )
        .await?
        .redacted(&runs.scenario.secrets);
        runs.runs.push(run);
    }
    Ok(())
}

/// The spread of the paired rounds: round k of each side, which the A B B
/// A order puts side by side.
fn paired_spread(
    baseline: &SideRuns,
    candidate: &SideRuns,
    rules: &crate::gate::rules::Rules,
) -> Spread {
    let stats = |run: &RunResult| run_stats(run, "round");
    let pairs: Vec<_> = baseline
        .runs
        .iter()
        .zip(&candidate.runs)
        .map(|(b, c)| (stats(b), stats(c)))
        .collect();
    Spread::of_pairs(&pairs, rules)
}

/// The verdict of the interleaved rounds so far, at `rules`.
fn look(
    baseline: &SideRuns,
    candidate: &SideRuns,
    rules: &crate::gate::rules::Rules,
) -> Option<crate::gate::Verdict> {
    let stats = |run: &RunResult| run_stats(run, "round");
    let spread = paired_spread(baseline, candidate, rules);
    let pooled_baseline = RunResult::pool(baseline.runs.clone())?;
    let pooled_candidate = RunResult::pool(candidate.runs.clone())?;
    Some(crate::gate::judge_with_spread(
        &stats(&pooled_candidate),
        &stats(&pooled_baseline),
        rules,
        &spread,
    ))
}

fn nothing_to_judge() -> anyhow::Result<ExitCode> {
    crate::errln!("error: interrupted before the candidate's first round: nothing to judge");
    Ok(ExitCode::from(3))
}
