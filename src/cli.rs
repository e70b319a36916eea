//! The command line, and nothing else: every flag is defined and documented here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  ran, and no regression or threshold breach
  1  ran, and at least one regression or threshold breach
  2  invalid input: flags, scenario, baseline file
  3  could not run: target unreachable, run aborted or interrupted";

#[derive(Debug, Parser)]
#[command(name = "swarmgate", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Swarm the target with the scenario's users for a fixed time and write the results.
    Run(RunArgs),
    /// Compare a run with a baseline, offline: stats CSVs (swarmgate's or
    /// Locust's) or swarmgate results directories.
    Compare(CompareArgs),
    /// Print the performance history kept by `run --history FILE`.
    History {
        /// The history CSV.
        file: PathBuf,
        /// How many of the latest runs to show.
        #[arg(long, default_value_t = 10)]
        last: usize,
    },
    /// Write a starter scenario (with a [gate] section) and a GitHub Actions
    /// workflow into a repository; never overwrites a file.
    Init {
        /// The repository's root.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Render report.html again from a results directory.
    Report(ReportArgs),
    /// Check a scenario without sending any load.
    Validate {
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
    /// Start the embedded demo API on loopback and run the bundled scenario against it.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Serve the embedded demo API (the Market API) on loopback.
    #[cfg(feature = "demo")]
    ServeDemo(ServeDemoArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    #[command(flatten)]
    pub overrides: LoadOverrides,
    /// Override the scenario's host, e.g. http://127.0.0.1:8000.
    #[arg(long)]
    pub host: Option<String>,
    /// Allow a target that is not on loopback. Without it swarmgate refuses,
    /// so that a typo in CI cannot swarm a production server.
    #[arg(long)]
    pub allow_remote: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub baseline: BaselineArgs,
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub ci: CiArgs,
    /// Append this run to a performance history CSV (one row per endpoint).
    /// With --baseline it also widens the verdict: each interval is at
    /// least as wide as the noise between the history's earlier runs of
    /// this scenario, branch and label kind, taken since each series' last
    /// change point, so that a change no larger than runs differ by is
    /// inconclusive, not a regression (docs/gate.md).
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Whose earlier runs in --history count as the noise between runs:
    /// a branch, or `*` for every branch. By default a pull request's base
    /// branch (GITHUB_BASE_REF), else this run's branch.
    #[arg(long, value_name = "BRANCH", requires = "history")]
    pub history_branch: Option<String>,
    /// A label for this run in the history, e.g. nightly or pr-123.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Interleave with this deployment as the baseline, e.g. the base
    /// branch's build on another port: rounds of each take turns (A B B A …)
    /// on this machine, so its noise falls on both. Each side gets
    /// --duration in all; the job takes twice as long.
    #[arg(long, value_name = "BASELINE_URL", conflicts_with_all = ["baseline", "update_baseline"])]
    pub against: Option<String>,
    /// Run the load as this many rounds (3 to 50) that together last
    /// --duration, and judge with intervals at least as wide as the rounds
    /// differ; with --against, the rounds each side gets (by default 6,
    /// fewer when --duration is shorter than 6 s).
    #[arg(long, value_parser = clap::value_parser!(u16).range(3..=50))]
    pub rounds: Option<u16>,
    /// With --against: while a gated comparison is inconclusive, add two
    /// more rounds of each side (A B B A) and judge again, until decided or
    /// --max-duration is spent. Each look is judged at the confidence
    /// split evenly over the looks the budget allows, so looking again
    /// cannot raise the chance of a false alarm.
    #[arg(long, requires = "against")]
    pub until_decided: bool,
    /// The wall time --until-decided may take in all, both sides, e.g. 10m.
    #[arg(long, value_parser = parse_duration, default_value = "10m", requires = "until_decided")]
    pub max_duration: Duration,
}

/// Outputs for CI systems; inside GitHub Actions the summary, annotations
/// and step outputs are written without flags.
#[derive(Debug, Args, Default)]
pub struct CiArgs {
    /// Write the verdict as Markdown to this file.
    #[arg(long)]
    pub summary_md: Option<PathBuf>,
    /// Write the verdict as JUnit XML (for GitLab, Jenkins) to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Compare with this baseline: a stats CSV (swarmgate's or Locust's) or a
    /// results directory.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Replace the baseline with this run (atomically), after comparing.
    #[arg(long, requires = "baseline")]
    pub update_baseline: bool,
    /// With --update-baseline: record a run that failed its gate or was interrupted.
    #[arg(long, requires = "update_baseline")]
    pub force: bool,
}

/// Flags that override the scenario's `[gate]` table or the rules file.
#[derive(Debug, Args, Default)]
pub struct GateArgs {
    /// Latency percentiles to compare, e.g. 50,95,99.
    #[arg(long, value_delimiter = ',', value_parser = parse_percentile)]
    pub percentiles: Option<Vec<f64>>,
    /// Relative latency change tolerated, e.g. 10%.
    #[arg(long, value_parser = parse_percent)]
    pub latency_tolerance: Option<f64>,
    /// Latency changes smaller than this never count, e.g. 1ms.
    #[arg(long, value_parser = parse_floor)]
    pub latency_floor: Option<f64>,
    /// Failure-rate increase tolerated, in percentage points, e.g. 1%.
    #[arg(long, value_parser = parse_percent)]
    pub fail_rate_tolerance: Option<f64>,
    /// Relative throughput drop tolerated, e.g. 10%.
    #[arg(long, value_parser = parse_percent)]
    pub throughput_tolerance: Option<f64>,
    /// Fewer requests than this on either side make a row inconclusive.
    #[arg(long)]
    pub min_samples: Option<u64>,
    /// What a baseline row that this run did not request does: auto (fails
    /// unless its absence may be chance), fail, warn or ignore.
    #[arg(long, value_parser = crate::gate::rules::MissingPolicy::parse)]
    pub missing: Option<crate::gate::rules::MissingPolicy>,
    /// What an inconclusive comparison of a gated metric does: pass (the
    /// default: noise alone never fails a build) or fail (exit 1 until
    /// every comparison is decided; `--against --until-decided` decides
    /// more of them).
    #[arg(long, value_parser = crate::gate::rules::InconclusivePolicy::parse)]
    pub inconclusive: Option<crate::gate::rules::InconclusivePolicy>,
    /// The highest failure rate of the whole run that passes, baseline or
    /// not, e.g. 1% (the default) or off.
    #[arg(long, value_parser = parse_max_fail_rate)]
    pub max_fail_rate: Option<MaxFailRate>,
}

impl GateArgs {
    /// Flags win over the scenario's `[gate]` table or the rules file.
    pub fn apply(&self, mut rules: crate::gate::rules::Rules) -> crate::gate::rules::Rules {
        let flags = self;
        if let Some(percentiles) = &flags.percentiles {
            rules.percentiles = percentiles.clone();
        }
        if let Some(v) = flags.latency_tolerance {
            rules.latency.allowed = v;
        }
        if let Some(v) = flags.latency_floor {
            rules.latency.floor_ms = v;
        }
        if let Some(v) = flags.fail_rate_tolerance {
            rules.fail_rate.allowed = v;
        }
        if let Some(v) = flags.throughput_tolerance {
            rules.throughput.allowed = v;
        }
        if let Some(v) = flags.min_samples {
            rules.min_samples = v;
        }
        if let Some(v) = flags.missing {
            rules.missing = v;
        }
        if let Some(v) = flags.inconclusive {
            rules.inconclusive = v;
        }
        if let Some(v) = flags.max_fail_rate {
            rules.max_fail_rate = v.0;
        }
        rules
    }
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The current run: a stats CSV or a results directory.
    pub current: PathBuf,
    /// The baseline: a stats CSV or a results directory.
    #[arg(long)]
    pub baseline: PathBuf,
    /// A rules file: a TOML file with a [gate] table.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Judge against the noise between runs that this history (kept by
    /// `run --history`) shows, since each series' last change point: every
    /// interval at least as wide as runs differ by. It is only read.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Only this branch's runs in --history count (every branch's by
    /// default, as two stored runs have no branch of their own).
    #[arg(long, value_name = "BRANCH", requires = "history")]
    pub history_branch: Option<String>,
    /// Also write the verdict as JSON (summary.json's format) to this file.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// Also write the HTML report to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// List every comparison of the verdict, not only what fails or is
    /// inconclusive.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    #[command(flatten)]
    pub ci: CiArgs,
}

#[derive(Debug, Args)]
pub struct LoadOverrides {
    /// Number of concurrent users (overrides [load] users).
    #[arg(long, short = 'u')]
    pub users: Option<u64>,
    /// Users started per second (overrides [load] spawn_rate).
    #[arg(long, short = 'r')]
    pub spawn_rate: Option<f64>,
    /// Run length including ramp-up, e.g. 30s, 2m (overrides [load] duration;
    /// with stages, cuts them short or holds the last target longer).
    #[arg(long, short = 't', value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Leave the ramp-up (with stages, the first stage) out of the statistics,
    /// as Locust's --reset-stats does.
    #[arg(long)]
    pub reset_stats: bool,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Directory for stats.csv, stats_history.csv, failures.csv and histograms.json.
    #[arg(long, default_value = "swarmgate-results")]
    pub out: PathBuf,
    /// Print only the final summary: no live progress.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// List every comparison of the verdict, not only what fails or is
    /// inconclusive.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Where to write the HTML report (default: report.html in --out).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A results directory written by `swarmgate run`.
    pub dir: PathBuf,
    /// Where to write the report (default: report.html in DIR).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Draw the trends of this history file.
    #[arg(long)]
    pub history: Option<PathBuf>,
}

#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run length including ramp-up.
    #[arg(long, short = 't', value_parser = parse_duration, default_value = "15s")]
    pub duration: Duration,
    #[command(flatten)]
    pub faults: FaultArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct ServeDemoArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, short = 'p', default_value_t = 8089)]
    pub port: u16,
    #[command(flatten)]
    pub faults: FaultArgs,
}

#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct FaultArgs {
    /// Latency the demo API adds to every response, e.g. 5ms.
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub inject_latency: Duration,
    /// A random extra delay between zero and this, e.g. 2ms.
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub inject_jitter: Duration,
    /// Fraction of requests the demo API answers with a 500, from 0 to 1.
    #[arg(long, value_parser = parse_fraction, default_value_t = 0.0)]
    pub inject_error_rate: f64,
    /// Make every request wait while the server stalls for this long, e.g. 1s.
    #[arg(long, value_parser = parse_duration, requires = "inject_stall_after")]
    pub inject_stall: Option<Duration>,
    /// When the stall starts, after the server's start, e.g. 5s.
    #[arg(long, value_parser = parse_duration, requires = "inject_stall")]
    pub inject_stall_after: Option<Duration>,
    /// CPU time every request burns on the server, e.g. 1ms: a service that
    /// competes with the generator for this machine's CPUs.
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub inject_cpu: Duration,
    /// Serve at most this many requests at once and queue the rest, as a
    /// server with a fixed pool of workers does.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::units::parse_duration(text)
}

/// `--max-fail-rate`: a limit, or none with `off`.
#[derive(Debug, Clone, Copy)]
pub struct MaxFailRate(pub Option<f64>);

fn parse_max_fail_rate(text: &str) -> Result<MaxFailRate, String> {
    crate::gate::rules::parse_max_fail_rate(text).map(MaxFailRate)
}

fn parse_percent(text: &str) -> Result<f64, String> {
    crate::gate::rules::parse_percent(text)
}

fn parse_floor(text: &str) -> Result<f64, String> {
    crate::gate::rules::parse_floor(text)
}

fn parse_percentile(text: &str) -> Result<f64, String> {
    match text.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
        _ => Err(format!(
            "expected a percentile above 0 and at most 100, such as 95 or 99.9, got `{text}`"
        )),
    }
}

#[cfg(feature = "demo")]
fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!(
            "expected a number from 0 to 1, such as 0.05, got `{text}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[cfg(feature = "demo")]
    #[test]
    fn fraction_outside_unit_interval_is_rejected() {
        assert!(parse_fraction("0.5").is_ok());
        assert!(parse_fraction("1.5").unwrap_err().contains("from 0 to 1"));
    }
}
