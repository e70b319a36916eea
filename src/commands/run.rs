//! `swarmgate run`: swarm, write results, summarize.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::gate::{judge_and_print, print_headline, write_report};
use super::progress::RunObserver;
use crate::cli::{CiArgs, OutputArgs, RunArgs};
use crate::engine::{self, target};
use crate::gate::input::RunStats;
use crate::gate::rules::Rules;
use crate::history::RunLabel;
use crate::publish::summary_json;
use crate::publish::summary_json::Curves;
use crate::report::ReportInput;
use crate::results::timeline::TimelinePoint;
use crate::results::{load_baseline, update_baseline};
use crate::results::{terminal, ResultsDir};
use crate::scenario::{Overrides, Scenario};
use crate::InvalidInput;

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let overrides = |host: Option<String>| Overrides {
        host,
        users: args.overrides.users,
        spawn_rate: args.overrides.spawn_rate,
        duration: args.overrides.duration,
        reset_stats: args.overrides.reset_stats,
    };
    let crate::config::Config {
        mut scenario,
        rules,
    } = crate::config::load(&args.scenario)?;
    scenario.apply(&overrides(args.host.clone()))?;
    let rules = args.gate.apply(rules);
    // A bad baseline fails now, not after the whole run.
    let baseline = match &args.baseline.baseline {
        Some(path) if path.exists() => Some(load_baseline(path, &rules)?),
        Some(_) if args.baseline.update_baseline => None,
        Some(path) => {
            return Err(InvalidInput(format!(
                "--baseline {}: no such file or directory; create it with --update-baseline",
                path.display()
            ))
            .into())
        }
        None => None,
    };
    let update = args.baseline.update_baseline.then(|| {
        (
            args.baseline.baseline.clone().expect("clap requires it"),
            args.baseline.force,
        )
    });
    // A history that does not parse is reported now and left untouched.
    // Its runs like this one tell the gate how much runs differ.
    let scenario_fingerprint =
        crate::history::scenario_fingerprint(&std::fs::read(&args.scenario).unwrap_or_default());
    let spread = match &args.history {
        Some(path) => {
            let filter = crate::history::RunFilter {
                scenario: Some(scenario_fingerprint.clone()),
                branch: history_branch(args.history_branch.as_deref()),
                label_kind: Some(crate::history::label_kind(&args.label)),
            };
            let spread = crate::history::spread_between_runs(&crate::history::read(path)?, &filter);
            if spread.is_none() && baseline.is_some() {
                crate::errln!(
                    "note: --history {} has fewer than {} earlier runs of {}, so run-to-run noise does not widen this verdict",
                    path.display(),
                    crate::gate::spread::MIN_EARLIER_RUNS,
                    filter.describe()
                );
            }
            spread
        }
        None => None,
    };
    let gate = Gate {
        rules,
        baseline,
        update,
        history: args.history.clone().map(|path| HistoryTarget {
            path,
            label: args.label.clone(),
            scenario: scenario_fingerprint,
        }),
        spread,
        ci: args.ci,
    };
    if args.against.is_some() || args.rounds.is_some() {
        // The baseline's side: the same scenario, another host.
        let baseline = match &args.against {
            Some(against) => {
                let mut baseline = crate::config::load(&args.scenario)?.scenario;
                baseline
                    .apply(&overrides(Some(against.clone())))
                    .map_err(|e| InvalidInput(format!("--against: {}", e.message)))?;
                Some(baseline)
            }
            None => None,
        };
        let mut plan = super::rounds::Rounds::new(scenario, baseline, args.rounds)?;
        if args.until_decided {
            plan = plan.until_decided(args.max_duration)?;
        }
        return super::runtime()?.block_on(super::rounds::run_rounds(
            plan,
            &args.output,
            args.allow_remote,
            gate,
        ));
    }
    super::runtime()?.block_on(swarm(scenario, &args.output, args.allow_remote, gate))
}

/// Ctrl-C, and what CI runners send on cancel (SIGTERM) or a closed
/// terminal (SIGHUP), all end the run the same way: results written, exit 3.
pub(super) fn stop_on_signals() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = CancellationToken::new();
    for kind in [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ] {
        let mut stream = signal(kind)?;
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            if stream.recv().await.is_some() {
                interrupt.cancel();
            }
        });
    }
    Ok(interrupt)
}

/// Every file the run will write is proven writable before the first
/// request, so a bad path fails in a second, naming its flag, not after the run.
pub(super) fn check_outputs(output: &OutputArgs, gate: &Gate) -> Result<(), InvalidInput> {
    let files = [
        ("--report", output.report.as_deref()),
        ("--summary-md", gate.ci.summary_md.as_deref()),
        ("--junit", gate.ci.junit.as_deref()),
        (
            "--history",
            gate.history.as_ref().map(|target| target.path.as_path()),
        ),
    ];
    for (flag, path) in files {
        if let Some(path) = path {
            crate::results::check_writable(path, flag)?;
        }
    }
    if let Some((path, _)) = &gate.update {
        crate::results::check_writable(path, "--update-baseline")?;
    }
    Ok(())
}

/// How a run is judged: rules, the baseline read before the run, and where
/// to write the new baseline if asked.
/// Where and as what a run goes into the history.
pub struct HistoryTarget {
    pub path: PathBuf,
    pub label: String,
    /// The scenario file's fingerprint.
    pub scenario: String,
}

/// The branch whose earlier runs count: `--history-branch`, `*` for all;
/// by default a pull request's base branch (its history is the branch it
/// merges into), else this run's branch.
fn history_branch(flag: Option<&str>) -> Option<String> {
    match flag {
        Some("*") => None,
        Some(branch) => Some(branch.to_owned()),
        None => std::env::var("GITHUB_BASE_REF")
            .ok()
            .filter(|b| !b.trim().is_empty())
            .or_else(crate::publish::branch),
    }
}

pub struct Gate {
    pub rules: Rules,
    pub baseline: Option<RunStats>,
    pub update: Option<(PathBuf, bool)>,
    /// The history file this run is appended to.
    pub history: Option<HistoryTarget>,
    /// The noise between runs, learnt from the history's runs like this one.
    pub spread: Option<crate::gate::spread::Spread>,
    pub ci: CiArgs,
}

/// The pipeline shared by `run` and `demo`: check the target, swarm, write
/// the results directory, judge, tell.
pub async fn swarm(
    scenario: Scenario,
    output: &OutputArgs,
    allow_remote: bool,
    gate: Gate,
) -> anyhow::Result<ExitCode> {
    // Before anything slow, so that a cancel during the target check stops too.
    let interrupt = stop_on_signals()?;
    let addresses = target::resolve(&scenario.host, allow_remote).await?;
    let results = ResultsDir::prepare(&output.out)?;
    check_outputs(output, &gate)?;
    target::ensure_reachable(&scenario.host, &addresses).await?;
    let (run, timeline) =
        swarm_users(scenario, addresses, output.quiet, &results, interrupt).await?;
    let current = crate::results::run_stats(&run, &results.path().display().to_string());
    let verdict = judge_and_print(
        &current,
        gate.baseline.as_ref(),
        &gate.rules,
        gate.spread.as_ref(),
        output.verbose,
    );
    let baseline = gate.baseline.clone();
    publish(
        Judged {
            run: &run,
            timeline,
            current: &current,
            baseline: baseline.as_ref(),
            verdict: &verdict,
        },
        &results,
        output,
        &gate,
    )
}

/// A run with its verdict, ready to be written out.
pub struct Judged<'a> {
    pub run: &'a engine::RunResult,
    pub timeline: Vec<TimelinePoint>,
    pub current: &'a RunStats,
    pub baseline: Option<&'a RunStats>,
    pub verdict: &'a crate::gate::Verdict,
}

/// Everything after the verdict: summary.json, history, report, CI
/// outputs, the baseline if earned, the headline; the exit code.
pub fn publish(
    judged: Judged,
    results: &ResultsDir,
    output: &OutputArgs,
    gate: &Gate,
) -> anyhow::Result<ExitCode> {
    let Judged {
        run,
        timeline,
        current,
        baseline,
        verdict,
    } = judged;
    let outcome = Outcome::of(run, verdict, results.path());
    let summary = summary_json::RunSummary::of(run, crate::publish::commit());
    let curves = Curves::of(current, baseline);
    let summary_path = results.path().join(summary_json::FILE_NAME);
    summary_json::write(
        &summary_path,
        Some(&summary),
        verdict,
        outcome.exit_code(),
        &curves,
    )?;
    let history = record_history(gate, &summary, current, verdict)?;
    let report_path = output
        .report
        .clone()
        .unwrap_or_else(|| results.path().join("report.html"));
    let judged = baseline.is_some() || !gate.rules.thresholds.is_empty();
    let input = ReportInput::of_run(
        run,
        &summary,
        current,
        curves,
        judged.then_some(verdict),
        timeline,
        &history,
    );
    write_report(&report_path, &input)?;
    crate::publish::to_ci(
        verdict,
        gate.ci.summary_md.as_deref(),
        gate.ci.junit.as_deref(),
        Some(&report_path),
        Some(&summary_path),
    )?;
    outln!("\nresults: {}", results.path().display());
    if !outcome.is_fault() {
        update_baseline_if_earned(gate, run, verdict)?;
    }
    print_headline(verdict, baseline.is_some(), &gate.rules);
    Ok(outcome.finish())
}

/// Appends this run to `--history`; the whole history, for the report.
fn record_history(
    gate: &Gate,
    summary: &summary_json::RunSummary,
    current: &RunStats,
    verdict: &crate::gate::Verdict,
) -> anyhow::Result<Vec<crate::history::HistoryRow>> {
    let Some(target) = &gate.history else {
        return Ok(Vec::new());
    };
    let label = RunLabel {
        time: summary.started_at.clone(),
        commit: summary.commit.clone(),
        branch: crate::publish::branch(),
        label: target.label.clone(),
        scenario: target.scenario.clone(),
    };
    crate::history::append(
        &target.path,
        &crate::history::rows_of(current, verdict, &label),
    )
}

/// `--update-baseline`: only a run that passed its gate, unless `--force`.
fn update_baseline_if_earned(
    gate: &Gate,
    run: &engine::RunResult,
    verdict: &crate::gate::Verdict,
) -> anyhow::Result<()> {
    let Some((path, force)) = &gate.update else {
        return Ok(());
    };
    if verdict.passed || *force {
        update_baseline(path, run, *force)
    } else {
        // A broken run recorded as the baseline would let the next broken run pass.
        crate::errln!(
            "error: the run failed its gate, so the baseline {} was left as it was; pass --force with --update-baseline to record it anyway",
            path.display()
        );
        Ok(())
    }
}

/// The users' part: swarm the target, stream the timeline, write the
/// results directory and print the table. The run comes back redacted.
pub(super) async fn swarm_users(
    scenario: Scenario,
    addresses: Vec<std::net::SocketAddr>,
    quiet: bool,
    results: &ResultsDir,
    interrupt: CancellationToken,
) -> anyhow::Result<(engine::RunResult, Vec<TimelinePoint>)> {
    let mut observer = RunObserver::new(
        results.history()?,
        scenario.load.duration,
        scenario.load.users,
        quiet,
    );
    if !quiet {
        crate::errln!(
            "swarming {} with {}",
            scenario.host,
            scenario.load.describe()
        );
    }
    let secrets = scenario.secrets.clone();
    let run = engine::run(Arc::new(scenario), addresses, &mut observer, interrupt)
        .await?
        .redacted(&secrets);
    let timeline = observer.finish();
    results.write(&run)?;
    out!("{}", terminal::render(&run, terminal::name_width()));
    for warning in run.warnings() {
        crate::errln!("warning: {warning}");
    }
    Ok((run, timeline))
}

/// How a run ended: the one place that says which exit code it is.
enum Outcome {
    /// The gate's verdict: exit 0 when it passed, 1 when not.
    Judged { passed: bool },
    /// Cut short (exit 3): the verdict covers less than was asked.
    Interrupted(String),
    /// swarmgate's own task failed (exit 3): no verdict at all.
    Fault(String),
}

impl Outcome {
    fn of(
        run: &engine::RunResult,
        verdict: &crate::gate::Verdict,
        results: &std::path::Path,
    ) -> Self {
        if !run.faults.is_empty() {
            Self::Fault(format!(
                "swarmgate itself failed during the run, so its results are no verdict: {} (results of what ran are in {})",
                run.faults.join("; "),
                results.display()
            ))
        } else if run.interrupted {
            Self::Interrupted(format!(
                "interrupted after {:.0}s; the results of what ran are in {}",
                run.elapsed.as_secs_f64(),
                results.display()
            ))
        } else {
            Self::Judged {
                passed: verdict.passed,
            }
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            Self::Judged { passed: true } => 0,
            Self::Judged { passed: false } => 1,
            Self::Interrupted(_) | Self::Fault(_) => 3,
        }
    }

    fn is_fault(&self) -> bool {
        matches!(self, Self::Fault(_))
    }

    /// Says why when the run has no full verdict; the process's exit code.
    fn finish(self) -> ExitCode {
        let code = self.exit_code();
        if let Self::Interrupted(why) | Self::Fault(why) = self {
            crate::errln!("error: {why}");
        }
        ExitCode::from(code)
    }
}
