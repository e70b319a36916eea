//! The gate: compares a run with a baseline, metric by metric, and decides.
//!
//! A change counts only when it is both large and certain: its whole
//! confidence interval lies beyond the tolerance (and a latency change is
//! larger than the absolute floor). Intervals account for the sampling noise
//! of both runs and are widened for the number of comparisons made, so that
//! an unchanged system rarely fails however many endpoints it has. The method
//! is written up in docs/gate.md.

pub mod input;
pub mod rules;
pub mod stats;
pub mod thresholds;

use serde::{Deserialize, Serialize};

use input::{Latency, RowKey, RowStats, RunStats};
use rules::{glob_matches, MetricKind, MissingPolicy, Rules};
use thresholds::{Aggregate, Threshold};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Regressed,
    Improved,
    Unchanged,
    Inconclusive,
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
            Outcome::New => "new",
            Outcome::Missing => "missing",
        }
    }
}

/// One metric of one row, baseline against current.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub method: String,
    pub name: String,
    /// `p95`, `fail_rate`, `throughput`, or `row` for new and missing rows.
    pub metric: String,
    /// `ms`, `fraction` or `per_second`.
    pub unit: String,
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
}

impl Comparison {
    pub fn row(&self) -> RowKey {
        RowKey {
            method: self.method.clone(),
            name: self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub method: String,
    pub name: String,
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
    pub comparisons: Vec<Comparison>,
    pub thresholds: Vec<ThresholdResult>,
}

impl Verdict {
    /// What fails the gate, for annotations and exit messages.
    pub fn failures(&self) -> impl Iterator<Item = &Comparison> {
        self.comparisons.iter().filter(|c| c.fails_gate)
    }
}

/// Compares `current` with `baseline` (if any) and checks thresholds.
pub fn judge(current: &RunStats, baseline: Option<&RunStats>, rules: &Rules) -> Verdict {
    let mut comparisons = Vec::new();
    if let Some(baseline) = baseline {
        let shared: Vec<&RowKey> = current
            .rows
            .keys()
            .filter(|k| baseline.rows.contains_key(*k))
            .collect();
        let per_row = rules.percentiles.len() + 2;
        let tested = (shared.len() * per_row).max(1);
        let alpha = (1.0 - rules.confidence) / tested as f64;
        let baseline_total = baseline
            .rows
            .get(&RowKey::aggregated())
            .map_or(0, |r| r.requests);
        let current_total = current
            .rows
            .get(&RowKey::aggregated())
            .map_or(0, |r| r.requests);
        for key in current.rows.keys().chain(
            baseline
                .rows
                .keys()
                .filter(|k| !current.rows.contains_key(*k)),
        ) {
            match (baseline.rows.get(key), current.rows.get(key)) {
                (Some(b), Some(c)) => compare_row(key, b, c, rules, alpha, &mut comparisons),
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
    let mut thresholds = run_checks(current, rules);
    thresholds.extend(check_thresholds(current, rules));
    let mut counts = Counts::default();
    for c in &comparisons {
        *match c.outcome {
            Outcome::Regressed => &mut counts.regressed,
            Outcome::Improved => &mut counts.improved,
            Outcome::Unchanged => &mut counts.unchanged,
            Outcome::Inconclusive => &mut counts.inconclusive,
            Outcome::New => &mut counts.new,
            Outcome::Missing => &mut counts.missing,
        } += 1;
    }
    counts.thresholds_breached = thresholds.iter().filter(|t| !t.passed).count();
    let passed = !comparisons.iter().any(|c| c.fails_gate) && counts.thresholds_breached == 0;
    let shared_rows = baseline
        .map(|b| {
            current
                .rows
                .keys()
                .filter(|k| b.rows.contains_key(*k))
                .count()
        })
        .unwrap_or(0);
    Verdict {
        passed,
        baseline: baseline.map(|b| b.source.clone()),
        current: current.source.clone(),
        confidence: rules.confidence,
        comparisons_tested: shared_rows * (rules.percentiles.len() + 2),
        counts,
        comparisons,
        thresholds,
    }
}

fn presence(key: &RowKey, outcome: Outcome, fails_gate: bool, reason: String) -> Comparison {
    Comparison {
        method: key.method.clone(),
        name: key.name.clone(),
        metric: "row".into(),
        unit: "requests".into(),
        baseline: None,
        current: None,
        change: None,
        interval: None,
        outcome,
        fails_gate,
        reason,
    }
}

/// The decision shared by every metric: `bad_direction` is +1 when an
/// increase is bad (latency, failures), -1 when a decrease is (throughput).
struct Judged {
    outcome: Outcome,
    words: String,
}

fn decide(
    change: f64,
    interval: (f64, f64),
    allowed: f64,
    bad_direction: f64,
    beyond_floor: bool,
    tolerance_text: &str,
) -> Judged {
    let (bad_side, good_side) = if bad_direction > 0.0 {
        (interval.0, -interval.1)
    } else {
        (-interval.1, interval.0)
    };
    let (worse, better) = if bad_direction > 0.0 {
        ("above", "below")
    } else {
        ("below", "above")
    };
    let sign = |direction: f64| if direction > 0.0 { "+" } else { "-" };
    if bad_side > allowed && beyond_floor {
        Judged {
            outcome: Outcome::Regressed,
            words: format!("regressed, {worse} {}{tolerance_text}", sign(bad_direction)),
        }
    } else if good_side > allowed && beyond_floor {
        Judged {
            outcome: Outcome::Improved,
            words: format!(
                "improved, {better} {}{tolerance_text}",
                sign(-bad_direction)
            ),
        }
    } else if change.abs() <= allowed {
        Judged {
            outcome: Outcome::Unchanged,
            words: format!("unchanged, within ±{tolerance_text}"),
        }
    } else if !beyond_floor {
        Judged {
            outcome: Outcome::Unchanged,
            words: "unchanged, within the absolute floor".into(),
        }
    } else {
        Judged {
            outcome: Outcome::Inconclusive,
            words: format!("inconclusive, the interval reaches within ±{tolerance_text}"),
        }
    }
}

/// Writes a comparison's outcome and reason: too few samples, or the judgement.
fn conclude(
    comparison: &mut Comparison,
    head: String,
    too_few: Option<String>,
    gated: bool,
    judge: impl FnOnce() -> Judged,
) {
    match too_few {
        Some(reason) => comparison.reason = format!("{head}: {reason}"),
        None => {
            let judged = judge();
            comparison.outcome = judged.outcome;
            comparison.fails_gate = gated && judged.outcome == Outcome::Regressed;
            comparison.reason = format!("{head}: {}", judged.words);
        }
    }
}

fn compare_row(
    key: &RowKey,
    b: &RowStats,
    c: &RowStats,
    rules: &Rules,
    alpha: f64,
    out: &mut Vec<Comparison>,
) {
    let too_few = b.requests < rules.min_samples || c.requests < rules.min_samples;
    let few_reason = || {
        format!(
            "inconclusive, too few samples ({} and {} requests; at least {} needed)",
            b.requests, c.requests, rules.min_samples
        )
    };
    let base = |metric: String, unit: &str| Comparison {
        method: key.method.clone(),
        name: key.name.clone(),
        metric,
        unit: unit.to_owned(),
        baseline: None,
        current: None,
        change: None,
        interval: None,
        outcome: Outcome::Inconclusive,
        fails_gate: false,
        reason: String::new(),
    };

    let (tolerance, gated) = rules.for_row(&key.method, &key.name, MetricKind::Latency);
    for &percent in &rules.percentiles {
        let q = percent / 100.0;
        let label = format!("p{}", format_percentile(percent));
        let mut comparison = base(label.clone(), "ms");
        let (Some(bv), Some(cv)) = (
            quantile(&b.latency, q, b.timed),
            quantile(&c.latency, q, c.timed),
        ) else {
            comparison.reason = format!("{label}: {}", few_reason());
            out.push(comparison);
            continue;
        };
        comparison.baseline = Some(bv);
        comparison.current = Some(cv);
        let interval = stats::ratio_interval(
            quantile_interval(&b.latency, q, b.timed, alpha / 2.0),
            quantile_interval(&c.latency, q, c.timed, alpha / 2.0),
        );
        judge_relative(
            &mut comparison,
            Relative {
                head: format!("{label} {} → {}", ms(bv), ms(cv)),
                values: (bv, cv),
                interval,
                allowed: tolerance.allowed,
                worse: 1.0,
                beyond_floor: (cv - bv).abs() > tolerance.floor_ms,
            },
            too_few.then(few_reason),
            gated,
        );
        out.push(comparison);
    }

    let (tolerance, gated) = rules.for_row(&key.method, &key.name, MetricKind::FailRate);
    let mut comparison = base("fail_rate".into(), "fraction");
    let rate = |s: &RowStats| {
        if s.requests > 0 {
            s.failures as f64 / s.requests as f64
        } else {
            0.0
        }
    };
    let (bv, cv) = (rate(b), rate(c));
    let interval =
        stats::difference_interval(b.failures, b.requests, c.failures, c.requests, alpha);
    comparison.baseline = Some(bv);
    comparison.current = Some(cv);
    comparison.change = Some(cv - bv);
    comparison.interval = Some(bounded(interval));
    let head = format!(
        "failures {} → {} ({}, CI {}..{})",
        percent_value(bv),
        percent_value(cv),
        points(cv - bv),
        points(interval.0),
        points(interval.1)
    );
    conclude(
        &mut comparison,
        head,
        too_few.then(few_reason),
        gated,
        || {
            decide(
                cv - bv,
                interval,
                tolerance.allowed,
                1.0,
                true,
                &format!("{} pp", trim_number(tolerance.allowed * 100.0)),
            )
        },
    );
    out.push(comparison);

    let (tolerance, gated) = rules.for_row(&key.method, &key.name, MetricKind::Throughput);
    let mut comparison = base("throughput".into(), "per_second");
    comparison.baseline = Some(b.requests_per_second);
    comparison.current = Some(c.requests_per_second);
    if b.requests_per_second > 0.0 && c.requests_per_second > 0.0 {
        let rate_interval = |s: &RowStats| {
            let seconds = s.requests as f64 / s.requests_per_second;
            let (lo, hi) = stats::poisson_interval(s.requests, alpha / 2.0);
            (lo / seconds, hi / seconds)
        };
        judge_relative(
            &mut comparison,
            Relative {
                head: format!(
                    "throughput {}/s → {}/s",
                    significant(b.requests_per_second),
                    significant(c.requests_per_second)
                ),
                values: (b.requests_per_second, c.requests_per_second),
                interval: stats::ratio_interval(rate_interval(b), rate_interval(c)),
                allowed: tolerance.allowed,
                worse: -1.0,
                beyond_floor: true,
            },
            too_few.then(few_reason),
            gated,
        );
    } else {
        comparison.reason = "throughput: inconclusive, a side has no requests per second".into();
    }
    out.push(comparison);
}

/// A metric judged by its relative change, with the interval of the ratio
/// current / baseline: latency percentiles (worse up) and throughput (worse
/// down).
struct Relative {
    /// `p95 12.0 ms → 14.1 ms`: what the reason starts with.
    head: String,
    values: (f64, f64),
    interval: (f64, f64),
    allowed: f64,
    /// 1.0 when a rise is a regression, -1.0 when a fall is.
    worse: f64,
    /// The change also clears the metric's absolute floor.
    beyond_floor: bool,
}

fn judge_relative(
    comparison: &mut Comparison,
    relative: Relative,
    too_few: Option<String>,
    gated: bool,
) {
    let Relative {
        head,
        values: (baseline, current),
        interval,
        allowed,
        worse,
        beyond_floor,
    } = relative;
    let change = relative_change(baseline, current);
    comparison.change = change.is_finite().then_some(change);
    comparison.interval = Some(bounded(interval));
    let head = format!(
        "{head} ({}, CI {}..{})",
        percent_change(change),
        percent_change(interval.0),
        percent_change(interval.1)
    );
    conclude(comparison, head, too_few, gated, || {
        decide(
            change,
            interval,
            allowed,
            worse,
            beyond_floor,
            &percent_text(allowed),
        )
    });
}

fn relative_change(baseline: f64, current: f64) -> f64 {
    if baseline > 0.0 {
        current / baseline - 1.0
    } else if current > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

fn bounded((lower, upper): (f64, f64)) -> (Option<f64>, Option<f64>) {
    (
        lower.is_finite().then_some(lower),
        upper.is_finite().then_some(upper),
    )
}

/// Where a run's latency distribution is drawn (summary.json, the report).
pub const CURVE_QUANTILES: [f64; 14] = [
    0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999,
];

/// The Aggregated row's percentile curve, stored in summary.json so that a
/// re-rendered report can draw the baseline's.
pub fn aggregated_curve(stats: &RunStats) -> Vec<(f64, f64)> {
    let Some(row) = stats.rows.get(&RowKey::aggregated()) else {
        return Vec::new();
    };
    CURVE_QUANTILES
        .iter()
        .filter_map(|&q| quantile(&row.latency, q, row.timed).map(|v| (q, v)))
        .collect()
}

/// The point estimate of the `q` quantile, in ms.
pub fn quantile(latency: &Latency, q: f64, n: u64) -> Option<f64> {
    if n == 0 {
        return None;
    }
    match latency {
        Latency::Exact(_) => Some(order_statistic(
            latency,
            ((q * n as f64).ceil() as u64).clamp(1, n),
            n,
            Side::Upper,
        )),
        Latency::Ladder { points, max_ms, .. } => Some(
            points
                .iter()
                .find(|(p, _)| *p >= q - 1e-12)
                .map(|(_, v)| *v)
                .unwrap_or(*max_ms),
        ),
    }
}

/// The distribution-free interval of the `q` quantile at two-sided level
/// `1 - alpha`, in ms; infinite above when there are too few samples.
pub fn quantile_interval(latency: &Latency, q: f64, n: u64, alpha: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, f64::INFINITY);
    }
    let (lower, upper) = stats::quantile_rank_interval(n, q, alpha);
    (
        lower
            .map(|r| order_statistic(latency, r, n, Side::Lower))
            .unwrap_or(0.0),
        upper
            .map(|r| order_statistic(latency, r, n, Side::Upper))
            .unwrap_or(f64::INFINITY),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Lower,
    Upper,
}

/// The `rank`-th smallest of `n` response times, in ms. From a percentile
/// ladder only bounds are known, so it errs outward: down for a lower bound,
/// up for an upper one.
fn order_statistic(latency: &Latency, rank: u64, n: u64, side: Side) -> f64 {
    match latency {
        Latency::Exact(histogram) => {
            let mut seen = 0;
            for value in histogram.iter_recorded() {
                seen += value.count_at_value();
                if seen >= rank {
                    return histogram.median_equivalent(value.value_iterated_to()) as f64 / 1000.0;
                }
            }
            histogram.max() as f64 / 1000.0
        }
        Latency::Ladder {
            points,
            min_ms,
            max_ms,
        } => {
            let value = ladder_quantile(points, *min_ms, *max_ms, rank as f64 / n as f64);
            let half_bucket = crate::units::locust_bucket_step(value) / 2.0;
            match side {
                Side::Lower => (value - half_bucket).max(*min_ms),
                Side::Upper => (value + half_bucket).min(*max_ms),
            }
        }
    }
}

/// The quantile function through Locust's columns, linear between them and
/// anchored at the exact minimum and maximum. An approximation: between two
/// columns nothing is known but that the function rises.
fn ladder_quantile(points: &[(f64, f64)], min_ms: f64, max_ms: f64, fraction: f64) -> f64 {
    let mut previous = (0.0, min_ms);
    for &(q, v) in points.iter().chain([(1.0, max_ms)].iter()) {
        if fraction <= q {
            let span = q - previous.0;
            let t = if span > 0.0 {
                (fraction - previous.0) / span
            } else {
                1.0
            };
            return previous.1 + t.clamp(0.0, 1.0) * (v - previous.1);
        }
        previous = (q, v.max(previous.1));
    }
    max_ms
}

/// The chance that a row with `row` of the baseline's `baseline_total`
/// requests gets none of `current_total` requests when nothing changed:
/// each request is that row's with the baseline's share.
pub fn absence_by_chance(row: u64, baseline_total: u64, current_total: u64) -> f64 {
    if baseline_total == 0 || row == 0 {
        return 1.0;
    }
    let share = (row as f64 / baseline_total as f64).min(1.0);
    (current_total as f64 * (-share).ln_1p()).exp()
}

/// What every run must show to pass, baseline or not: some completed
/// request, and a failure rate within `max_fail_rate`.
fn run_checks(current: &RunStats, rules: &Rules) -> Vec<ThresholdResult> {
    let Some(total) = current.rows.get(&RowKey::aggregated()) else {
        return Vec::new();
    };
    let mut checks = Vec::new();
    let aggregated =
        |threshold: String, value: f64, passed: bool, reason: String| ThresholdResult {
            method: String::new(),
            name: "Aggregated".into(),
            threshold,
            value: Some(value),
            passed,
            reason,
        };
    let completed = total.requests.saturating_sub(total.failures);
    if completed == 0 {
        checks.push(aggregated(
            "completed requests>0".into(),
            0.0,
            false,
            format!(
                "Aggregated: no request succeeded ({} sent, {} failed): nothing was measured, so the run cannot pass",
                total.requests, total.failures
            ),
        ));
    }
    if let (Some(max), true) = (rules.max_fail_rate, total.requests > 0) {
        let rate = total.failures as f64 / total.requests as f64;
        let passed = rate <= max;
        checks.push(aggregated(
            format!("fail_rate<={}%", trim_number(max * 100.0)),
            rate,
            passed,
            format!(
                "Aggregated: {} of requests failed ({} of {}), max_fail_rate {}%: {}",
                percent_value(rate),
                total.failures,
                total.requests,
                trim_number(max * 100.0),
                if passed {
                    "holds"
                } else {
                    "breached; statuses the scenario expects belong in check.status, and [gate] max_fail_rate or --max-fail-rate sets the limit"
                }
            ),
        ));
    }
    checks
}

fn check_thresholds(current: &RunStats, rules: &Rules) -> Vec<ThresholdResult> {
    let mut results = Vec::new();
    for (pattern, list) in &rules.thresholds {
        let rows: Vec<(&RowKey, &RowStats)> = current
            .rows
            .iter()
            .filter(|(k, _)| row_matches(pattern, k))
            .collect();
        for threshold in list {
            if rows.is_empty() {
                results.push(ThresholdResult {
                    method: String::new(),
                    name: pattern.clone(),
                    threshold: threshold.source.clone(),
                    value: None,
                    passed: false,
                    reason: format!(
                        "{pattern}: no such row in this run, so `{threshold}` cannot hold"
                    ),
                });
            }
            for (key, row) in &rows {
                let value = threshold_value(threshold, row);
                let passed = value.is_some_and(|v| threshold.holds(v));
                let shown = value
                    .map(|v| describe_value(threshold, v))
                    .unwrap_or_else(|| "no data".into());
                results.push(ThresholdResult {
                    method: key.method.clone(),
                    name: key.name.clone(),
                    threshold: threshold.source.clone(),
                    value,
                    passed,
                    reason: format!(
                        "{key}: {shown}, threshold {threshold}: {}",
                        if passed { "holds" } else { "breached" }
                    ),
                });
            }
        }
    }
    results
}

/// `*` is every endpoint; `Aggregated` the total; otherwise `METHOD name`
/// (a glob), or a bare name glob for any method.
fn row_matches(pattern: &str, key: &RowKey) -> bool {
    if key.is_aggregated() {
        return pattern == "Aggregated";
    }
    match pattern.split_once(' ') {
        Some((method, name)) if method.chars().all(|c| c.is_ascii_uppercase()) => {
            method == key.method && glob_matches(name, &key.name)
        }
        _ => glob_matches(pattern, &key.name),
    }
}

fn threshold_value(threshold: &Threshold, row: &RowStats) -> Option<f64> {
    match threshold.aggregate {
        Aggregate::Percentile(p) => quantile(&row.latency, p / 100.0, row.timed),
        Aggregate::Median => quantile(&row.latency, 0.5, row.timed),
        Aggregate::Average => (row.timed > 0).then_some(row.average_ms),
        Aggregate::Min => (row.timed > 0).then(|| match &row.latency {
            Latency::Exact(h) => h.min() as f64 / 1000.0,
            Latency::Ladder { min_ms, .. } => *min_ms,
        }),
        Aggregate::Max => (row.timed > 0).then(|| match &row.latency {
            Latency::Exact(h) => h.max() as f64 / 1000.0,
            Latency::Ladder { max_ms, .. } => *max_ms,
        }),
        Aggregate::FailRate => {
            (row.requests > 0).then(|| row.failures as f64 / row.requests as f64)
        }
        Aggregate::RequestsPerSecond => Some(row.requests_per_second),
    }
}

fn describe_value(threshold: &Threshold, value: f64) -> String {
    let label = threshold
        .source
        .split(['<', '>'])
        .next()
        .unwrap_or_default()
        .trim();
    match threshold.aggregate {
        Aggregate::FailRate => format!("{label} = {}", percent_value(value)),
        Aggregate::RequestsPerSecond => format!("{label} = {}/s", significant(value)),
        _ => format!("{label} = {}", ms(value)),
    }
}

pub fn format_percentile(percent: f64) -> String {
    trim_number(percent)
}

fn trim_number(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Three significant digits: 0.432, 12.1, 1530.
pub fn significant(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let digits = (2 - value.abs().log10().floor() as i32).max(0) as usize;
    format!("{value:.digits$}")
}

pub fn ms(value: f64) -> String {
    format!("{} ms", significant(value))
}

fn percent_text(fraction: f64) -> String {
    format!("{}%", trim_number(fraction * 100.0))
}

/// `+24%`, `-3.5%`, `+∞`.
pub fn percent_change(change: f64) -> String {
    if change.is_infinite() {
        return if change > 0.0 {
            "+∞".into()
        } else {
            "-∞".into()
        };
    }
    let percent = change * 100.0;
    if percent.abs() >= 10.0 {
        format!("{percent:+.0}%")
    } else {
        format!("{percent:+.1}%")
    }
}

fn percent_value(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

/// A difference of fractions in percentage points: `+2.6 pp`.
fn points(difference: f64) -> String {
    format!("{:+.1} pp", difference * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::new_histogram;
    use input::RowStats;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    /// A row of `n` requests with latencies `scale` × (5 ms + exponential 2 ms).
    fn row(n: u64, scale: f64, failures: u64, seed: u64) -> RowStats {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut histogram = new_histogram();
        let mut sum = 0.0;
        for _ in 0..n {
            let ms = scale * (5.0 - 2.0 * (1.0 - rng.gen::<f64>()).ln());
            sum += ms;
            histogram.record((ms * 1000.0) as u64).unwrap();
        }
        RowStats {
            requests: n,
            failures,
            timed: n,
            requests_per_second: n as f64 / 30.0,
            average_ms: sum / n as f64,
            latency: Latency::Exact(histogram),
        }
    }

    fn run(rows: Vec<(&str, RowStats)>) -> RunStats {
        let rows: BTreeMap<RowKey, RowStats> = rows
            .into_iter()
            .map(|(name, r)| {
                (
                    RowKey {
                        method: "GET".into(),
                        name: name.into(),
                    },
                    r,
                )
            })
            .collect();
        RunStats {
            source: "test".into(),
            rows,
            ladder: None,
        }
    }

    fn outcomes(verdict: &Verdict, name: &str) -> Vec<(String, Outcome)> {
        verdict
            .comparisons
            .iter()
            .filter(|c| c.name == name)
            .map(|c| (c.metric.clone(), c.outcome))
            .collect()
    }

    #[test]
    fn the_same_system_twice_passes() {
        for seed in 0..20 {
            let baseline = run(vec![
                ("/a", row(5000, 1.0, 10, seed)),
                ("/b", row(300, 1.0, 0, seed + 100)),
            ]);
            let current = run(vec![
                ("/a", row(5000, 1.0, 12, seed + 1000)),
                ("/b", row(300, 1.0, 1, seed + 2000)),
            ]);
            let verdict = judge(&current, Some(&baseline), &Rules::default());
            assert!(
                verdict.passed,
                "seed {seed}: {:#?}",
                verdict.failures().collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn a_quarter_slower_regresses_and_says_why() {
        let baseline = run(vec![("/a", row(5000, 1.0, 0, 1))]);
        let current = run(vec![("/a", row(5000, 1.25, 0, 2))]);
        let verdict = judge(&current, Some(&baseline), &Rules::default());
        assert!(!verdict.passed);
        let p95 = verdict
            .comparisons
            .iter()
            .find(|c| c.metric == "p95")
            .unwrap();
        assert_eq!(p95.outcome, Outcome::Regressed);
        assert!(
            p95.reason.starts_with("p95 ")
                && p95.reason.contains("CI +")
                && p95.reason.ends_with("regressed, above +10%"),
            "{}",
            p95.reason
        );
    }

    #[test]
    fn a_doubled_p99_of_170_requests_is_noise_not_a_regression() {
        // The example: p99 from 170 requests is about the second-largest sample.
        let baseline = run(vec![("/few", row(170, 1.0, 0, 3))]);
        let mut current_row = row(170, 1.0, 0, 4);
        if let Latency::Exact(h) = &mut current_row.latency {
            let max = h.max();
            h.record(max * 2).unwrap();
            h.record(max * 2).unwrap();
        }
        current_row.requests += 2;
        current_row.timed += 2;
        let current = run(vec![("/few", current_row)]);
        let verdict = judge(&current, Some(&baseline), &Rules::default());
        let p99 = verdict
            .comparisons
            .iter()
            .find(|c| c.metric == "p99")
            .unwrap();
        assert_ne!(p99.outcome, Outcome::Regressed, "{}", p99.reason);
        assert!(verdict.passed);
    }

    #[test]
    fn too_few_samples_are_inconclusive() {
        let baseline = run(vec![("/a", row(10, 1.0, 0, 5))]);
        let current = run(vec![("/a", row(10, 3.0, 0, 6))]);
        let verdict = judge(&current, Some(&baseline), &Rules::default());
        assert!(outcomes(&verdict, "/a")
            .iter()
            .all(|(_, o)| *o == Outcome::Inconclusive));
        assert!(verdict.comparisons[0]
            .reason
            .contains("too few samples (10 and 10 requests; at least 20 needed)"));
    }

    #[test]
    fn failure_rates_compare_with_a_two_proportion_interval() {
        let baseline = run(vec![("/a", row(2000, 1.0, 20, 7))]);
        let worse = run(vec![("/a", row(2000, 1.0, 100, 8))]);
        let verdict = judge(&worse, Some(&baseline), &Rules::default());
        let fail = verdict
            .comparisons
            .iter()
            .find(|c| c.metric == "fail_rate")
            .unwrap();
        assert_eq!(fail.outcome, Outcome::Regressed, "{}", fail.reason);
        assert!(
            fail.reason.contains("failures 1.00% → 5.00% (+4.0 pp"),
            "{}",
            fail.reason
        );
        let slightly = run(vec![("/a", row(2000, 1.0, 30, 9))]);
        let verdict = judge(&slightly, Some(&baseline), &Rules::default());
        assert!(verdict.passed);
    }

    fn with_total(mut stats: RunStats, requests: u64, failures: u64) -> RunStats {
        stats
            .rows
            .insert(RowKey::aggregated(), row(requests, 1.0, failures, 9));
        stats
    }

    #[test]
    fn a_run_with_no_success_or_too_many_failures_never_passes() {
        let rules = Rules::default();
        let nothing = with_total(run(vec![]), 0, 0);
        let verdict = judge(&nothing, None, &rules);
        assert!(!verdict.passed);
        assert!(verdict.thresholds[0]
            .reason
            .contains("no request succeeded"));
        let all_failed = with_total(run(vec![("/a", row(50, 1.0, 50, 1))]), 50, 50);
        assert!(!judge(&all_failed, None, &rules).passed);
        // Even against a baseline that was just as broken.
        assert!(!judge(&all_failed, Some(&all_failed), &rules).passed);

        let some_failed = with_total(run(vec![("/a", row(1000, 1.0, 20, 1))]), 1000, 20);
        let verdict = judge(&some_failed, None, &rules);
        assert!(!verdict.passed, "2% is over the default 1%");
        assert!(verdict.thresholds[0].reason.contains("max_fail_rate 1%"));
        let few_failed = with_total(run(vec![("/a", row(1000, 1.0, 10, 1))]), 1000, 10);
        assert!(
            judge(&few_failed, None, &rules).passed,
            "1% is within the limit"
        );
        let off = Rules {
            max_fail_rate: None,
            ..Rules::default()
        };
        assert!(judge(&some_failed, None, &off).passed);
        assert!(
            !judge(&all_failed, None, &off).passed,
            "still nothing succeeded"
        );
    }

    #[test]
    fn a_missing_row_fails_when_its_absence_cannot_be_chance() {
        assert!((absence_by_chance(1, 10_000, 10_000) - 0.368).abs() < 0.001);
        assert!(absence_by_chance(1000, 10_000, 10_000) < 1e-300);
        assert_eq!(absence_by_chance(0, 10_000, 10_000), 1.0);
        let baseline = with_total(
            run(vec![
                ("/hot", row(1000, 1.0, 0, 1)),
                ("/rare", row(1, 1.0, 0, 2)),
            ]),
            10_000,
            0,
        );
        let hot_gone = with_total(run(vec![("/rare", row(1, 1.0, 0, 3))]), 10_000, 0);
        let verdict = judge(&hot_gone, Some(&baseline), &Rules::default());
        assert!(!verdict.passed);
        assert!(verdict
            .comparisons
            .iter()
            .any(|c| c.fails_gate && c.name == "/hot"));
        let rare_gone = with_total(run(vec![("/hot", row(1000, 1.0, 0, 4))]), 10_000, 0);
        let verdict = judge(&rare_gone, Some(&baseline), &Rules::default());
        let rare = verdict
            .comparisons
            .iter()
            .find(|c| c.name == "/rare")
            .unwrap();
        assert!(!rare.fails_gate, "{}", rare.reason);
        assert!(rare.reason.contains("may be chance"), "{}", rare.reason);
    }

    #[test]
    fn missing_and_new_rows_follow_the_policy() {
        let baseline = run(vec![
            ("/old", row(100, 1.0, 0, 1)),
            ("/kept", row(100, 1.0, 0, 2)),
        ]);
        let current = run(vec![
            ("/new", row(100, 1.0, 0, 3)),
            ("/kept", row(100, 1.0, 0, 4)),
        ]);
        let warn = judge(&current, Some(&baseline), &Rules::default());
        assert!(warn.passed);
        assert_eq!((warn.counts.new, warn.counts.missing), (1, 1));
        let strict = Rules {
            missing: MissingPolicy::Fail,
            ..Rules::default()
        };
        assert!(!judge(&current, Some(&baseline), &strict).passed);
    }

    #[test]
    fn thresholds_hold_without_a_baseline() {
        let current = run(vec![("/a", row(1000, 1.0, 30, 1))]);
        let rules = Rules {
            thresholds: vec![
                (
                    "GET /a".into(),
                    vec![Threshold::parse("p(95)<200ms").unwrap()],
                ),
                ("/a".into(), vec![Threshold::parse("fail_rate<1%").unwrap()]),
                (
                    "GET /absent".into(),
                    vec![Threshold::parse("p(95)<1s").unwrap()],
                ),
            ],
            ..Rules::default()
        };
        let verdict = judge(&current, None, &rules);
        let passed: Vec<bool> = verdict.thresholds.iter().map(|t| t.passed).collect();
        assert_eq!(passed, [true, false, false]);
        assert!(
            verdict.thresholds[1]
                .reason
                .contains("fail_rate = 3.00%, threshold fail_rate<1%: breached"),
            "{}",
            verdict.thresholds[1].reason
        );
        assert!(!verdict.passed);
    }

    #[test]
    fn ladder_quantiles_interpolate_between_columns() {
        let points = vec![(0.5, 10.0), (0.9, 20.0), (1.0, 40.0)];
        assert_eq!(ladder_quantile(&points, 2.0, 40.0, 0.5), 10.0);
        assert_eq!(ladder_quantile(&points, 2.0, 40.0, 0.7), 15.0);
        assert_eq!(ladder_quantile(&points, 2.0, 40.0, 0.25), 6.0);
        assert_eq!(ladder_quantile(&points, 2.0, 40.0, 1.0), 40.0);
    }
}
