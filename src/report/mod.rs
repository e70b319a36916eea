//! `report.html`: one self-contained file that shows what changed and why.
//!
//! Rendered with minijinja from templates/report.html, which is compiled into
//! the binary. The context is flat, serializable structs of strings; charts
//! are SVG drawn in [`svg`]. Every name is escaped: endpoint names and error
//! messages come from the system under test.

mod axis;
mod charts;
mod saved;
pub mod svg;
mod trends;

#[cfg(test)]
pub(crate) use saved::parse_saved_summary;
pub use saved::render_results_dir;

use std::path::Path;
use std::time::Duration;

use minijinja::{Environment, Value};
use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoint;
use crate::gate::input::{BlockLatency, Latency, RowStats, RunStats};
use crate::gate::{ms, quantile, significant, Verdict};
use crate::history::HistoryRow;
use crate::metrics::wire::WireSummary;
use crate::publish::summary_json::RunSummary;
use crate::publish::verdict_text;
use crate::results::failures_csv::FailureRow;
use crate::results::timeline::TimelinePoint;
use crate::InvalidInput;
use axis::{Axis, Scale};
use svg::{Series, STYLES};

const TEMPLATE: &str = include_str!("../../templates/report.html");

#[derive(Debug, Clone, Serialize)]
pub struct RunMeta {
    pub scenario: String,
    pub host: String,
    pub users: u64,
    pub spawn_rate: f64,
    pub duration: String,
    pub started_at: String,
    pub ended_at: String,
    pub commit: Option<String>,
    pub interrupted: bool,
    /// What the user should know about how the run went, e.g. that the open
    /// model fell behind its schedule.
    pub warnings: Vec<String>,
    /// How the generator and its machine fared, in words.
    pub machine: Option<String>,
    /// Connections, bytes and wire timings, in words.
    pub wire: Option<String>,
}

impl From<&RunSummary> for RunMeta {
    fn from(run: &RunSummary) -> Self {
        Self {
            scenario: run.scenario.clone(),
            host: run.host.clone(),
            users: run.users,
            spawn_rate: run.spawn_rate,
            duration: humantime::format_duration(Duration::from_secs_f64(run.duration_secs))
                .to_string(),
            started_at: run.started_at.clone(),
            ended_at: run.ended_at.clone(),
            commit: run.commit.clone(),
            interrupted: run.interrupted,
            warnings: run.warnings.clone(),
            machine: run.machine.as_ref().map(|m| m.describe()),
            wire: run.wire.as_ref().map(wire_text),
        }
    }
}

/// `8,124 responses on 20 connections, 1.2 MB sent, 9.8 MB received;
/// connecting p50 0.12 ms …; first byte p50 4.1 ms …`
fn wire_text(wire: &WireSummary) -> String {
    let mut text = format!(
        "{} responses on {} connections, {} sent, {} received",
        wire.requests,
        wire.connections,
        bytes(wire.bytes_sent),
        bytes(wire.bytes_received)
    );
    for (what, spread) in [
        ("connecting", wire.connect_ms),
        ("first byte", wire.first_byte_ms),
    ] {
        if let Some(s) = spread {
            text.push_str(&format!(
                "; {what} p50 {}, p95 {}, p99 {}, max {}",
                crate::gate::ms(s.p50),
                crate::gate::ms(s.p95),
                crate::gate::ms(s.p99),
                crate::gate::ms(s.max)
            ));
        }
    }
    text
}

/// Bytes in the largest unit that keeps a whole number in front.
fn bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.1} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n} B"),
    }
}

/// Everything a report shows.
pub struct ReportInput<'a> {
    pub title: String,
    pub run: Option<RunMeta>,
    pub current: &'a RunStats,
    /// The Aggregated latency curves, (quantile, ms).
    pub current_curve: Vec<(f64, f64)>,
    pub baseline_curve: Option<Vec<(f64, f64)>>,
    pub verdict: Option<&'a Verdict>,
    pub timeline: Vec<TimelinePoint>,
    pub failures: Vec<FailureRow>,
    /// The performance history, this run included when it was appended.
    pub history: &'a [HistoryRow],
}

impl<'a> ReportInput<'a> {
    /// The report of a run that has just ended.
    pub fn of_run(
        run: &crate::engine::RunResult,
        summary: &RunSummary,
        current: &'a RunStats,
        curves: crate::publish::summary_json::Curves,
        verdict: Option<&'a Verdict>,
        timeline: Vec<TimelinePoint>,
        history: &'a [HistoryRow],
    ) -> Self {
        Self {
            title: run.scenario.clone(),
            run: Some(RunMeta::from(summary)),
            current,
            current_curve: curves.current,
            baseline_curve: curves.baseline,
            verdict,
            timeline,
            failures: run
                .stats
                .errors
                .iter()
                .map(|e| FailureRow {
                    method: e.method.to_string(),
                    name: e.name.to_string(),
                    message: e.message.clone(),
                    occurrences: e.occurrences,
                })
                .collect(),
            history,
        }
    }
}

/// How many past runs the trends show.
const TREND_RUNS: usize = 30;

#[derive(Serialize)]
struct Page<'a> {
    title: &'a str,
    version: &'static str,
    run: Option<&'a RunMeta>,
    verdict: Option<VerdictView>,
    requests: Vec<RequestRow>,
    percentile_headers: Vec<String>,
    failures: &'a [FailureRow],
    charts: Vec<ChartView>,
    endpoint_charts: Vec<ChartView>,
    trends: Vec<TrendRow>,
    trend_runs: usize,
    /// The history's change points among the trend's runs.
    change_points: Vec<String>,
}

#[derive(Serialize)]
struct TrendRow {
    endpoint: String,
    sparkline: Value,
    first: String,
    latest: String,
    verdict: String,
}

#[derive(Serialize)]
struct VerdictView {
    passed: bool,
    has_baseline: bool,
    headline: String,
    regressed: usize,
    improved: usize,
    inconclusive: usize,
    unchanged: usize,
    new: usize,
    missing: usize,
    breached: usize,
    baseline: Option<String>,
    noise_model: String,
    machine: Option<String>,
    trends: Vec<String>,
    /// What fails the gate or needs a look, most urgent first.
    comparisons: Vec<ComparisonRow>,
    /// The rest (improved, new, cannot be judged, unchanged), collapsed.
    settled: Vec<ComparisonRow>,
    thresholds: Vec<ThresholdRow>,
}

#[derive(Serialize)]
struct ComparisonRow {
    /// The endpoint, escaped, with a break allowed after each `/` so that a
    /// long path wraps between its parts, never inside one.
    endpoint: Value,
    metric: String,
    baseline: String,
    current: String,
    change: String,
    /// The change as a number, for sorting (`×4.6` and `+27%` alike).
    change_value: Option<f64>,
    interval: String,
    outcome: &'static str,
    fails: bool,
    reason: String,
}

#[derive(Serialize)]
struct ThresholdRow {
    endpoint: String,
    threshold: String,
    passed: bool,
    reason: String,
}

#[derive(Serialize)]
struct RequestRow {
    method: String,
    name: String,
    requests: u64,
    failures: String,
    median: String,
    average: String,
    min: String,
    max: String,
    rps: String,
    percentiles: Vec<String>,
}

#[derive(Serialize)]
struct ChartView {
    title: String,
    id: &'static str,
    svg: Value,
}

const TABLE_PERCENTILES: [f64; 8] = [0.5, 0.66, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0];

pub fn render(input: &ReportInput) -> anyhow::Result<String> {
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    let context = Page {
        title: &input.title,
        version: env!("CARGO_PKG_VERSION"),
        run: input.run.as_ref(),
        verdict: input.verdict.map(verdict_view),
        requests: locust_order(input.current)
            .map(|(k, r)| request_row(k, r))
            .collect(),
        percentile_headers: TABLE_PERCENTILES
            .iter()
            .map(|q| format!("{}%", crate::gate::format_percentile(q * 100.0)))
            .collect(),
        failures: &input.failures,
        charts: charts::charts(input),
        endpoint_charts: charts::per_endpoint(input),
        trends: trends::trends(input.history),
        change_points: trends::change_points(input.history),
        trend_runs: crate::history::last_runs(input.history, TREND_RUNS).len(),
    };
    Ok(env.get_template("report.html")?.render(&context)?)
}

/// Locust's order: by name, then method, and the total last.
fn locust_order(stats: &RunStats) -> impl Iterator<Item = (&Endpoint, &RowStats)> {
    let mut rows: Vec<(&Endpoint, &RowStats)> = stats
        .rows
        .iter()
        .filter(|(k, _)| !k.is_aggregated())
        .collect();
    rows.sort_by(|a, b| (&a.0.name, &a.0.method).cmp(&(&b.0.name, &b.0.method)));
    rows.into_iter()
        .chain(stats.rows.get_key_value(&Endpoint::aggregated()))
}

/// What fails the gate first, then what needs a look, then the rest.
fn urgency(c: &crate::gate::Comparison) -> u8 {
    use crate::gate::Outcome::*;
    match (c.fails_gate, c.outcome) {
        (true, _) => 0,
        (_, Regressed | Missing) => 1,
        (_, Inconclusive) => 2,
        (_, Improved) => 3,
        (_, New) => 4,
        (_, Unjudged) => 5,
        (_, Unchanged) => 6,
    }
}

/// The urgency up to which a row is shown open: fails, regressed, missing,
/// inconclusive.
const NEEDS_A_LOOK: u8 = 2;

/// The verdict's rows whose urgency `keep` accepts, most urgent first.
fn rows(verdict: &Verdict, keep: impl Fn(u8) -> bool) -> Vec<ComparisonRow> {
    let mut ordered: Vec<_> = verdict
        .comparisons
        .iter()
        .filter(|c| keep(urgency(c)))
        .collect();
    ordered.sort_by_key(|c| urgency(c));
    ordered
        .into_iter()
        .map(|c| ComparisonRow {
            endpoint: Value::from_safe_string(breakable(&c.endpoint.to_string())),
            metric: c.metric.to_string(),
            baseline: verdict_text::value(c, c.baseline),
            current: verdict_text::value(c, c.current),
            change: c
                .change
                .map(|x| verdict_text::change(c, x))
                .unwrap_or_default(),
            change_value: c.change.filter(|x| x.is_finite()),
            interval: verdict_text::interval(c),
            outcome: c.outcome.as_str(),
            fails: c.fails_gate,
            reason: beyond_the_columns(&c.reason),
        })
        .collect()
}

/// A reason without what the table's other columns already say: of
/// `p50 11 ms → 14 ms (+27%, CI +3%..+35%; requests correlated …): regressed,
/// above +10%`, only `requests correlated …: regressed, above +10%`.
fn beyond_the_columns(reason: &str) -> String {
    let head_end = match (reason.find(" ("), reason.find(": ")) {
        (Some(open), Some(colon)) if open < colon => {
            reason[open..].find("): ").map(|i| (open, open + i))
        }
        _ => None,
    };
    match head_end {
        Some((open, close)) => {
            let inside = &reason[open + 2..close];
            let words = &reason[close + 3..];
            match inside.split_once("; ") {
                Some((_, note)) => format!("{note}: {words}"),
                None => words.to_owned(),
            }
        }
        None => match reason.split_once(": ") {
            Some((_, words)) => words.to_owned(),
            None => reason.to_owned(),
        },
    }
}

/// HTML-escaped text with `<wbr>` after each `/`.
fn breakable(text: &str) -> String {
    svg::escape(text).replace('/', "/<wbr>")
}

fn verdict_view(verdict: &Verdict) -> VerdictView {
    let c = &verdict.counts;
    VerdictView {
        passed: verdict.passed,
        has_baseline: verdict.baseline.is_some(),
        headline: verdict_text::headline(verdict),
        regressed: c.regressed,
        improved: c.improved,
        inconclusive: c.inconclusive,
        unchanged: c.unchanged,
        new: c.new,
        missing: c.missing,
        breached: c.thresholds_breached,
        baseline: verdict.baseline.clone(),
        noise_model: verdict.noise_model.clone(),
        machine: verdict.machine.clone(),
        trends: verdict.trends.clone(),
        comparisons: rows(verdict, |u| u <= NEEDS_A_LOOK),
        settled: rows(verdict, |u| u > NEEDS_A_LOOK),
        thresholds: verdict
            .thresholds
            .iter()
            .map(|t| ThresholdRow {
                endpoint: t.endpoint.to_string(),
                threshold: t.threshold.clone(),
                passed: t.passed,
                reason: t.reason.clone(),
            })
            .collect(),
    }
}

fn request_row(key: &Endpoint, row: &RowStats) -> RequestRow {
    let at = |q: f64| {
        quantile(&row.latency, q, row.timed)
            .map(ms)
            .unwrap_or_else(|| "N/A".into())
    };
    let (min, max) = match &row.latency {
        Latency::Exact(h) if row.timed > 0 => {
            (ms(h.min() as f64 / 1000.0), ms(h.max() as f64 / 1000.0))
        }
        Latency::Ladder { min_ms, max_ms, .. } if row.timed > 0 => (ms(*min_ms), ms(*max_ms)),
        _ => ("N/A".into(), "N/A".into()),
    };
    let failed = if row.requests > 0 {
        row.failures as f64 / row.requests as f64 * 100.0
    } else {
        0.0
    };
    RequestRow {
        method: key.method.clone(),
        name: key.name.clone(),
        requests: row.requests,
        failures: format!("{} ({failed:.2}%)", row.failures),
        median: at(0.5),
        average: if row.timed > 0 {
            ms(row.average_ms)
        } else {
            "N/A".into()
        },
        min,
        max,
        rps: significant(row.requests_per_second),
        percentiles: TABLE_PERCENTILES.iter().map(|q| at(*q)).collect(),
    }
}

#[cfg(test)]
mod tests;
