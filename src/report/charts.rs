//! The report's charts: the timeline, the latency distributions, p95 per
//! endpoint, each an SVG drawn by [`super::svg`].

use super::trends::aggregated_trend;
use super::*;

pub(super) fn charts(input: &ReportInput) -> Vec<ChartView> {
    let mut charts = Vec::new();
    let timeline = &input.timeline;
    let seconds = Axis {
        label: "time since start (s)".into(),
        scale: Scale::Linear,
        ..Axis::default()
    };
    let chart = |title: &str, id: &'static str, svg: String| ChartView {
        title: title.into(),
        id,
        svg: Value::from_safe_string(svg),
    };
    if !timeline.is_empty() {
        let series =
            |label: &str, style: usize, value: &dyn Fn(&TimelinePoint) -> Option<f64>| Series {
                label: label.into(),
                points: timeline
                    .iter()
                    .filter_map(|p| value(p).map(|v| (p.at, v)))
                    .collect(),
                style: STYLES[style],
            };
        charts.push(chart(
            "Users over time",
            "users",
            svg::line_chart(
                "Users",
                &seconds,
                &Axis {
                    label: "users".into(),
                    scale: Scale::Linear,
                    whole: true,
                    ..Axis::default()
                },
                &[series("users", 0, &|p| Some(p.users))],
            ),
        ));
        charts.push(chart(
            "Requests and failures per second",
            "throughput",
            svg::line_chart(
                "Requests and failures per second",
                &seconds,
                &Axis {
                    label: "per second".into(),
                    scale: Scale::Linear,
                    ..Axis::default()
                },
                &[
                    series("requests/s", 0, &|p| Some(p.requests_per_second)),
                    series("failures/s", 1, &|p| Some(p.failures_per_second)),
                ],
            ),
        ));
        // The run's time blocks know each response time to two digits; the
        // timeline's cells only to Locust's whole milliseconds.
        let exact = input
            .current
            .rows
            .get(&Endpoint::aggregated())
            .and_then(percentiles_over_time);
        let percentiles = exact.unwrap_or_else(|| {
            vec![
                series("p50", 0, &|p| p.p50),
                series("p95", 1, &|p| p.p95),
                series("p99", 2, &|p| p.p99),
            ]
        });
        charts.push(chart(
            "Response time percentiles over time",
            "latency",
            svg::line_chart(
                "Response time percentiles over time",
                &seconds,
                &response_time(),
                &percentiles,
            ),
        ));
    }
    if !input.current_curve.is_empty() {
        let mut curves = vec![Series {
            label: "current".into(),
            points: input.current_curve.clone(),
            style: STYLES[0],
        }];
        if let Some(baseline) = &input.baseline_curve {
            curves.push(Series {
                label: "baseline".into(),
                points: baseline.clone(),
                style: STYLES[1],
            });
        }
        charts.push(chart(
            "Latency distribution, all requests",
            "distribution",
            svg::line_chart(
                "Latency distribution",
                &Axis {
                    label: "percentile".into(),
                    scale: Scale::Nines,
                    ..Axis::default()
                },
                &Axis {
                    label: "response time (ms, log scale)".into(),
                    scale: Scale::Log,
                    ..Axis::default()
                },
                &curves,
            ),
        ));
    }
    if let Some(trend) = aggregated_trend(input.history) {
        charts.push(chart(
            "Trend over the last runs, all requests",
            "trend",
            trend,
        ));
    }
    let (names, baseline_p95, current_p95) = p95_per_endpoint(input);
    if !names.is_empty() {
        let mut series = Vec::new();
        if baseline_p95.iter().any(Option::is_some) {
            series.push(("baseline p95".to_owned(), baseline_p95, STYLES[1]));
        }
        series.push(("current p95".to_owned(), current_p95, STYLES[0]));
        charts.push(chart(
            "p95 per endpoint",
            "p95",
            svg::bar_chart(
                "p95 per endpoint",
                "p95 response time (ms)",
                &names,
                &series,
            ),
        ));
    }
    charts
}

type P95Bars = (Vec<String>, Vec<Option<f64>>, Vec<Option<f64>>);

pub(super) fn p95_per_endpoint(input: &ReportInput) -> P95Bars {
    let mut names = Vec::new();
    let mut baseline = Vec::new();
    let mut current = Vec::new();
    for (key, row) in locust_order(input.current) {
        if key.is_aggregated() {
            continue;
        }
        let compared = input.verdict.and_then(|v| {
            v.comparisons.iter().find(|c| {
                c.metric == crate::gate::Metric::Percentile(95.0)
                    && c.endpoint.method == key.method
                    && c.endpoint.name == key.name
            })
        });
        names.push(key.to_string());
        baseline.push(compared.and_then(|c| c.baseline));
        current.push(quantile(&row.latency, 0.95, row.timed));
    }
    (names, baseline, current)
}

fn response_time() -> Axis {
    Axis {
        label: "response time (ms)".into(),
        scale: Scale::Linear,
        ..Axis::default()
    }
}

/// p50, p95 and p99 of a row in each of the run's time blocks, at the
/// block's middle; `None` when the row has too few blocks that know their
/// response times (a stats CSV, a Locust history).
fn percentiles_over_time(row: &RowStats) -> Option<Vec<Series>> {
    let mut series: Vec<Series> = [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)]
        .iter()
        .enumerate()
        .map(|(i, (label, _))| Series {
            label: (*label).into(),
            points: Vec::new(),
            style: STYLES[i],
        })
        .collect();
    let mut start = 0.0;
    for block in &row.blocks {
        let middle = start + block.secs / 2.0;
        start += block.secs;
        let BlockLatency::AtOrBelow(counts) = &block.latency else {
            return None;
        };
        let Some(&(_, timed)) = counts.last() else {
            continue;
        };
        for (s, q) in series.iter_mut().zip([0.5, 0.95, 0.99]) {
            let wanted = ((q * timed as f64).ceil() as u64).max(1);
            if let Some(&(micros, _)) = counts.iter().find(|(_, n)| *n >= wanted) {
                s.points.push((middle, micros as f64 / 1000.0));
            }
        }
    }
    (series[0].points.len() >= 2).then_some(series)
}

/// Percentiles over time for each endpoint whose blocks know them, small
/// enough to sit side by side.
pub(super) fn per_endpoint(input: &ReportInput) -> Vec<ChartView> {
    let seconds = Axis {
        label: "time since start (s)".into(),
        ..Axis::default()
    };
    locust_order(input.current)
        .filter(|(key, _)| !key.is_aggregated())
        .filter_map(|(key, row)| {
            let series = percentiles_over_time(row)?;
            let title = key.to_string();
            Some(ChartView {
                svg: Value::from_safe_string(svg::small_line_chart(
                    &format!("{title}: response time percentiles over time"),
                    &seconds,
                    &response_time(),
                    &series,
                )),
                title,
                id: "endpoint-latency",
            })
        })
        .collect()
}
