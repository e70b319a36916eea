//! The gate: compares a run with a baseline, metric by metric, and decides.
//!
//! A change counts when it is both certain and relevant: its confidence
//! interval excludes no change on that side and its estimate lies beyond
//! the tolerance (and a latency change is larger than the absolute floor);
//! a row is unchanged only when its whole interval lies within the
//! tolerance (`compare::decide`). Intervals account for the sampling noise
//! of both runs and are widened for the number of comparisons made, so that
//! an unchanged system rarely fails however many endpoints it has. The method
//! is written up in docs/gate.md.
//!
//! Here: the verdict's types and `judge`, which walks the rows. A row
//! against its baseline is `compare.rs`; quantiles and their intervals
//! `quantiles.rs` (the statistics themselves `stats.rs`); what every run must
//! show and the thresholds `checks.rs`; numbers as text `format.rs`.

pub mod changes;
mod checks;
mod compare;
pub mod critical;
mod decision;
pub mod dependence;
pub mod detectable;
mod format;
pub mod input;
pub mod machine;
mod quantiles;
pub mod rules;
pub mod spread;
pub mod stats;
#[cfg(test)]
mod tests;
pub mod thresholds;
pub mod trend;

use serde::{Deserialize, Serialize};

pub use compare::absence_by_chance;
pub use format::{format_percentile, ms, percent_change, significant};
pub use quantiles::{aggregated_curve, quantile, quantile_interval};

use crate::endpoint::Endpoint;
use checks::{check_thresholds, run_checks};
use compare::{compare_row, presence};
use input::RunStats;
use rules::{MissingPolicy, Rules};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Regressed,
    Improved,
    Unchanged,
    Inconclusive,
    /// This pair of runs could not have shown a regression whatever
    /// happened: too few requests, or an interval unbounded on the side a
    /// regression would show.
    Unjudged,
    New,
    Missing,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Regressed => "regressed",
            Outcome::Improved => "improved",
            Outcome::Unchanged => "unchanged",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Unjudged => "unjudged",
            Outcome::New => "new",
            Outcome::Missing => "missing",
        }
    }
}

/// What a comparison compares; written `p95`, `fail_rate`, `throughput`, or
/// `row` for a row that is new or missing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency percentile, e.g. 95 or 99.9.
    Percentile(f64),
    /// The average latency: compared when a side is a Locust CSV, whose
    /// average is exact where its percentiles are rounded.
    Average,
    FailRate,
    Throughput,
    Row,
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Metric::Percentile(percent) => write!(f, "p{}", format_percentile(*percent)),
            Metric::Average => f.write_str("avg"),
            Metric::FailRate => f.write_str("fail_rate"),
            Metric::Throughput => f.write_str("throughput"),
            Metric::Row => f.write_str("row"),
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "fail_rate" => Ok(Metric::FailRate),
            "avg" => Ok(Metric::Average),
            "throughput" => Ok(Metric::Throughput),
            "row" => Ok(Metric::Row),
            _ => text
                .strip_prefix('p')
                .and_then(|p| p.parse::<f64>().ok())
                .filter(|p| (0.0..=100.0).contains(p))
                .map(Metric::Percentile)
                .ok_or_else(|| format!("unknown metric `{text}`")),
        }
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What a comparison's values are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Ms,
    /// Failure rates: 0.01 is 1%, and changes are in percentage points.
    Fraction,
    PerSecond,
    /// Request counts: a new or missing row.
    Requests,
}

/// One metric of one row, baseline against current.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub metric: Metric,
    pub unit: Unit,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// Relative for latency and throughput (0.24 is +24%), a difference of
    /// fractions for the failure rate.
    pub change: Option<f64>,
    /// The interval of `change`; `None` on an unbounded side.
    pub interval: Option<(Option<f64>, Option<f64>)>,
    pub outcome: Outcome,
    /// Whether this outcome fails the gate.
    pub fails_gate: bool,
    pub reason: String,
    /// How far the requests of baseline and current were from independent
    /// (1 is independent; 4 makes an interval twice as wide), from their
    /// time blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design_effect: Option<(f64, f64)>,
    /// How large a change in the bad direction these runs could have caught.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detectable: Option<detectable::Detectable>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdResult {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub threshold: String,
    pub value: Option<f64>,
    pub passed: bool,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    pub regressed: usize,
    pub improved: usize,
    pub unchanged: usize,
    pub inconclusive: usize,
    #[serde(default)]
    pub unjudged: usize,
    pub new: usize,
    pub missing: usize,
    pub thresholds_breached: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    pub baseline: Option<String>,
    pub current: String,
    /// Family-wise confidence of all intervals together.
    pub confidence: f64,
    /// Comparisons the confidence is shared among (Bonferroni).
    pub comparisons_tested: usize,
    pub counts: Counts,
    /// How the intervals account for noise, in words.
    #[serde(default)]
    pub noise_model: String,
    /// How the machines of the two runs differed, when they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// Latency that trended inside a side's steady state, in words
    /// (`trend.rs`): not noise, and worth a look whatever the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trends: Vec<String>,
    pub comparisons: Vec<Comparison>,
    pub thresholds: Vec<ThresholdResult>,
}

/// Compares `current` with `baseline` (if any) and checks thresholds.
pub fn judge(current: &RunStats, baseline: Option<&RunStats>, rules: &Rules) -> Verdict {
    judge_with(current, baseline, rules, None)
}

/// Compares `current` with `baseline`, each interval at least as wide as
/// the noise between runs allows (`spread.rs`): paired rounds of an
/// interleaved A/B run, or earlier runs in the history.
pub fn judge_with_spread(
    current: &RunStats,
    baseline: &RunStats,
    rules: &Rules,
    spread: &spread::Spread,
) -> Verdict {
    judge_with(current, Some(baseline), rules, Some(spread))
}

fn judge_with(
    current: &RunStats,
    baseline: Option<&RunStats>,
    rules: &Rules,
    spread: Option<&spread::Spread>,
) -> Verdict {
    let mut comparisons = Vec::new();
    // Rounds in turns on one machine have no difference of machines.
    let allowance = baseline
        .filter(|_| !spread.is_some_and(spread::Spread::same_machine))
        .and_then(|b| machine::allowance(b.machine.as_ref(), current.machine.as_ref()));
    if let Some(baseline) = baseline {
        let shared: Vec<&Endpoint> = current
            .rows
            .keys()
            .filter(|k| baseline.rows.contains_key(*k))
            .collect();
        let tested = shared
            .iter()
            .map(|k| comparisons_per_row(&baseline.rows[*k], &current.rows[*k], rules))
            .sum::<usize>()
            .max(1);
        let alpha = (1.0 - rules.confidence) / tested as f64;
        let baseline_total = baseline
            .rows
            .get(&Endpoint::aggregated())
            .map_or(0, |r| r.requests);
        let current_total = current
            .rows
            .get(&Endpoint::aggregated())
            .map_or(0, |r| r.requests);
        for key in current.rows.keys().chain(
            baseline
                .rows
                .keys()
                .filter(|k| !current.rows.contains_key(*k)),
        ) {
            match (baseline.rows.get(key), current.rows.get(key)) {
                (Some(b), Some(c)) => compare_row(
                    key,
                    (b, c),
                    rules,
                    alpha,
                    allowance.as_ref(),
                    spread,
                    &mut comparisons,
                ),
                (None, Some(c)) => comparisons.push(presence(
                    key,
                    Outcome::New,
                    false,
                    format!("not in the baseline; {} requests now", c.requests),
                )),
                (Some(b), None) if rules.missing != MissingPolicy::Ignore => {
                    let chance = absence_by_chance(b.requests, baseline_total, current_total);
                    let fails = match rules.missing {
                        MissingPolicy::Fail => true,
                        MissingPolicy::Auto => b.requests > 0 && chance < alpha,
                        _ => false,
                    };
                    comparisons.push(presence(
                        key,
                        Outcome::Missing,
                        fails,
                        format!(
                            "in the baseline ({} requests), not requested in this run{}",
                            b.requests,
                            match rules.missing {
                                MissingPolicy::Auto if fails => format!(
                                    "; by chance that has probability {chance:.1e}, so the endpoint stopped answering or is no longer called"
                                ),
                                MissingPolicy::Auto => format!(
                                    "; that may be chance (probability {chance:.2}), so it does not fail the gate"
                                ),
                                _ => String::new(),
                            }
                        ),
                    ))
                }
                _ => {}
            }
        }
    }
    if rules.inconclusive == rules::InconclusivePolicy::Fail {
        fail_the_undecided(&mut comparisons, rules);
    }
    let mut thresholds = run_checks(current, rules);
    thresholds.extend(check_thresholds(current, rules));
    let mut counts = Counts::default();
    for c in &comparisons {
        *match c.outcome {
            Outcome::Regressed => &mut counts.regressed,
            Outcome::Improved => &mut counts.improved,
            Outcome::Unchanged => &mut counts.unchanged,
            Outcome::Inconclusive => &mut counts.inconclusive,
            Outcome::Unjudged => &mut counts.unjudged,
            Outcome::New => &mut counts.new,
            Outcome::Missing => &mut counts.missing,
        } += 1;
    }
    counts.thresholds_breached = thresholds.iter().filter(|t| !t.passed).count();
    let passed = !comparisons.iter().any(|c| c.fails_gate) && counts.thresholds_breached == 0;
    let comparisons_tested = baseline
        .map(|b| {
            current
                .rows
                .iter()
                .filter_map(|(k, c)| b.rows.get(k).map(|b| comparisons_per_row(b, c, rules)))
                .sum()
        })
        .unwrap_or(0);
    Verdict {
        passed,
        baseline: baseline.map(|b| b.source.clone()),
        current: current.source.clone(),
        confidence: rules.confidence,
        comparisons_tested,
        counts,
        noise_model: match (baseline, spread) {
            (Some(_), Some(spread)) if spread.same_machine() => spread.describe(),
            (Some(b), Some(spread)) => {
                format!("{}; {}", spread.describe(), noise_model(b, current))
            }
            (Some(b), None) => noise_model(b, current),
            (None, _) => String::new(),
        } + &baseline.map(|b| ramp_note(b, current)).unwrap_or_default(),
        machine: allowance.map(|a| {
            format!(
                "{} machine was busier ({}): changes it explains are inconclusive, not regressions",
                if a.busier_now() {
                    "this run's"
                } else {
                    "the baseline's"
                },
                a.evidence
            )
        }),
        trends: trend::trends(current)
            .iter()
            .map(|t| trend::describe(t, "this run's"))
            .chain(
                baseline
                    .into_iter()
                    .flat_map(trend::trends)
                    .map(|t| trend::describe(&t, "the baseline's")),
            )
            .collect(),
        comparisons,
        thresholds,
    }
}

/// Whether the comparison's metric can fail the gate for its row.
fn gated(c: &Comparison, rules: &Rules) -> bool {
    let kind = match c.metric {
        Metric::Percentile(_) | Metric::Average => rules::MetricKind::Latency,
        Metric::FailRate => rules::MetricKind::FailRate,
        Metric::Throughput => rules::MetricKind::Throughput,
        Metric::Row => return false,
    };
    rules.for_row(&c.endpoint.method, &c.endpoint.name, kind).1
}

/// The inconclusive comparisons of gated metrics: what more rounds could
/// still decide (`run --until-decided`).
pub fn undecided(verdict: &Verdict, rules: &Rules) -> usize {
    verdict
        .comparisons
        .iter()
        .filter(|c| c.outcome == Outcome::Inconclusive && gated(c, rules))
        .count()
}

/// `[gate] inconclusive = "fail"`: every inconclusive comparison of a
/// gated metric fails the gate, and says why.
fn fail_the_undecided(comparisons: &mut [Comparison], rules: &Rules) {
    for c in comparisons
        .iter_mut()
        .filter(|c| c.outcome == Outcome::Inconclusive)
    {
        if gated(c, rules) {
            c.fails_gate = true;
            c.reason
                .push_str("; fails the gate, as inconclusive = \"fail\" asks");
        }
    }
}

/// The percentiles, the average where a side is a Locust CSV, the failure
/// rate and throughput.
fn comparisons_per_row(b: &input::RowStats, c: &input::RowStats, rules: &Rules) -> usize {
    rules.percentiles.len() + 2 + usize::from(compare::compares_average(b, c))
}

/// Where a side's ramp-up was left out of its blocks, in words.
fn ramp_note(baseline: &RunStats, current: &RunStats) -> String {
    let secs = |run: &RunStats| (run.ramp_left_out_secs > 0.0).then_some(run.ramp_left_out_secs);
    let sides = match (secs(baseline), secs(current)) {
        (None, None) => return String::new(),
        (Some(b), Some(c)) => format!(
            "{} and {}",
            format::seconds_text(b),
            format::seconds_text(c)
        ),
        (Some(b), None) => format!("{} of the baseline", format::seconds_text(b)),
        (None, Some(c)) => format!("{} of this run", format::seconds_text(c)),
    };
    let compared = if baseline.ramp_out_of_counts && current.ramp_out_of_counts {
        "and out of the counts, averages and throughput compared (summed from the steady state's history); Locust's percentiles cover the whole run"
    } else {
        "but its requests are in the comparison (a run without --reset-stats counts them)"
    };
    format!("; the ramp-up ({sides}, users below their peak) is left out of the blocks, so that users arriving do not pass for noise, {compared}")
}

/// The noise model in words: blocks on both sides, or independence.
fn noise_model(baseline: &RunStats, current: &RunStats) -> String {
    let has_blocks = |row: &input::RowStats| row.blocks.len() >= dependence::MIN_BLOCKS;
    let blocks = |run: &RunStats| {
        run.rows
            .get(&Endpoint::aggregated())
            .map_or(0, |r| r.blocks.len())
    };
    let (b, c) = (blocks(baseline), blocks(current));
    if b >= dependence::MIN_BLOCKS && c >= dependence::MIN_BLOCKS {
        let shared: Vec<bool> = current
            .rows
            .iter()
            .filter(|(key, _)| !key.is_aggregated())
            .filter_map(|(key, row)| Some(has_blocks(row) && has_blocks(baseline.rows.get(key)?)))
            .collect();
        let with = shared.iter().filter(|&&b| b).count();
        if with == shared.len() {
            format!(
                "requests in time blocks ({b} and {c}): intervals widen where requests were correlated"
            )
        } else {
            format!(
                "requests in time blocks ({b} and {c}) for Aggregated and {with} of {} endpoints, the others taken as independent (a Locust history without --csv-full-history has Aggregated alone)",
                shared.len()
            )
        }
    } else {
        let without = if b < dependence::MIN_BLOCKS {
            "the baseline"
        } else {
            "this run"
        };
        format!("requests taken as independent: {without} has no time blocks (a stats CSV without its stats history, or an older results directory)")
    }
}
