//! The history's trends: p95 per endpoint over the last runs.

use super::*;

/// p95 of each endpoint over the last runs, as sparklines.
pub(super) fn trends(history: &[HistoryRow]) -> Vec<TrendRow> {
    let runs = crate::history::last_runs(history, TREND_RUNS);
    if runs.len() < 2 {
        return Vec::new();
    }
    let mut endpoints: Vec<String> = Vec::new();
    for row in runs.iter().flatten() {
        if !endpoints.contains(&row.endpoint()) {
            endpoints.push(row.endpoint());
        }
    }
    endpoints
        .into_iter()
        .map(|endpoint| {
            let values: Vec<Option<f64>> = runs
                .iter()
                .map(|run| {
                    run.iter()
                        .find(|r| r.endpoint() == endpoint)
                        .and_then(|r| r.p95_ms)
                })
                .collect();
            let latest = runs
                .iter()
                .rev()
                .find_map(|run| run.iter().find(|r| r.endpoint() == endpoint));
            let shown = |v: Option<&f64>| v.map(|v| ms(*v)).unwrap_or_else(|| "-".into());
            TrendRow {
                sparkline: Value::from_safe_string(svg::sparkline(
                    &format!("p95 of {endpoint}"),
                    &values,
                )),
                first: shown(values.iter().flatten().next()),
                latest: shown(values.iter().flatten().last()),
                verdict: latest.map(|r| r.verdict.clone()).unwrap_or_default(),
                endpoint,
            }
        })
        .collect()
}

pub(super) fn aggregated_trend(history: &[HistoryRow]) -> Option<String> {
    let runs = crate::history::last_runs(history, TREND_RUNS);
    if runs.len() < 2 {
        return None;
    }
    let aggregated = |f: fn(&HistoryRow) -> Option<f64>| -> Vec<(f64, f64)> {
        runs.iter()
            .enumerate()
            .filter_map(|(i, run)| {
                run.iter()
                    .find(|r| r.method.is_empty() && r.name == "Aggregated")
                    .and_then(|r| f(r))
                    .map(|v| ((i + 1) as f64, v))
            })
            .collect()
    };
    // Aggregated's change points, each marked where its new level starts.
    let marks: Vec<svg::Mark> = crate::history::found_changes(history, TREND_RUNS)
        .into_iter()
        .filter(|c| c.shift.endpoint.is_aggregated())
        .map(|c| svg::Mark {
            at: (c.run + 1) as f64,
            label: c.text,
        })
        .collect();
    Some(svg::line_chart_marked(
        "Trend of all requests over the last runs",
        &Axis {
            label: format!("commit of the run (the last {} runs)", runs.len()),
            scale: Scale::Linear,
            whole: true,
            names: runs
                .iter()
                .enumerate()
                .map(|(i, run)| ((i + 1) as f64, run_name(run, i)))
                .collect(),
        },
        &Axis {
            label: "response time (ms)".into(),
            scale: Scale::Linear,
            ..Axis::default()
        },
        &[
            Series {
                label: "p50".into(),
                points: aggregated(|r| r.p50_ms),
                style: STYLES[0],
            },
            Series {
                label: "p95".into(),
                points: aggregated(|r| r.p95_ms),
                style: STYLES[1],
            },
            Series {
                label: "p99".into(),
                points: aggregated(|r| r.p99_ms),
                style: STYLES[2],
            },
        ],
        &marks,
    ))
}

/// The change points of the trend's runs, a line each.
pub(super) fn change_points(history: &[HistoryRow]) -> Vec<String> {
    crate::history::found_changes(history, TREND_RUNS)
        .into_iter()
        .map(|c| c.text)
        .collect()
}

/// A run on the trend's axis: its short commit, else its label, else its
/// number.
fn run_name(run: &[&HistoryRow], index: usize) -> String {
    let first = run.first();
    match first {
        Some(row) if !row.commit.is_empty() => row.commit.chars().take(7).collect(),
        Some(row) if !row.label.is_empty() => row.label.chars().take(12).collect(),
        _ => format!("#{}", index + 1),
    }
}
