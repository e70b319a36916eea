//! What a run must show whatever the baseline: the run checks (a request
//! that succeeded, the failure rate limit) and the scenario's thresholds.

use super::format::{percent_value, trim_number};
use super::input::{Latency, RowStats};
use super::rules::glob_matches;
use super::thresholds::{Aggregate, Threshold};
use super::*;

/// What every run must show to pass, baseline or not: some completed
/// request, and a failure rate within `max_fail_rate`.
pub(crate) fn run_checks(current: &RunStats, rules: &Rules) -> Vec<ThresholdResult> {
    let Some(total) = current.rows.get(&Endpoint::aggregated()) else {
        return Vec::new();
    };
    let mut checks = Vec::new();
    let aggregated =
        |threshold: String, value: f64, passed: bool, reason: String| ThresholdResult {
            endpoint: Endpoint::aggregated(),
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

pub(crate) fn check_thresholds(current: &RunStats, rules: &Rules) -> Vec<ThresholdResult> {
    let mut results = Vec::new();
    for (pattern, list) in &rules.thresholds {
        let rows: Vec<(&Endpoint, &RowStats)> = current
            .rows
            .iter()
            .filter(|(k, _)| row_matches(pattern, k))
            .collect();
        for threshold in list {
            if rows.is_empty() {
                results.push(ThresholdResult {
                    endpoint: Endpoint {
                        method: String::new(),
                        name: pattern.clone(),
                    },
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
                    endpoint: (*key).clone(),
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
pub(crate) fn row_matches(pattern: &str, key: &Endpoint) -> bool {
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

pub(crate) fn threshold_value(threshold: &Threshold, row: &RowStats) -> Option<f64> {
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

pub(crate) fn describe_value(threshold: &Threshold, value: f64) -> String {
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
