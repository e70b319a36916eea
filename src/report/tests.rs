use super::*;
use crate::gate::input::RowStats;
use crate::metrics::new_histogram;
use std::collections::BTreeMap;

#[test]
fn the_wire_reads_in_one_line() {
    use crate::metrics::wire::Spread;
    let spread = |p50| {
        Some(Spread {
            p50,
            p95: 2.0 * p50,
            p99: 3.0 * p50,
            max: 9.0 * p50,
        })
    };
    let text = wire_text(&WireSummary {
        requests: 101,
        connections: 2,
        bytes_sent: 12_001,
        bytes_received: 4_800_000,
        connect_ms: spread(0.25),
        first_byte_ms: spread(1.5),
    });
    assert_eq!(
        text,
        "101 responses on 2 connections, 12.0 kB sent, 4.8 MB received; connecting p50 0.250 ms, p95 0.500 ms, p99 0.750 ms, max 2.25 ms; first byte p50 1.50 ms, p95 3.00 ms, p99 4.50 ms, max 13.5 ms"
    );
}

#[test]
fn reasons_drop_what_the_other_columns_say() {
    assert_eq!(
        beyond_the_columns("p50 11.0 ms → 14.0 ms (+27%, CI +3.3%..+35%; requests correlated in time, each run counts as 1/8 of its requests): regressed, above +10%"),
        "requests correlated in time, each run counts as 1/8 of its requests: regressed, above +10%"
    );
    assert_eq!(
        beyond_the_columns("failures 0.00% → 0.00% (+0.0 pp, CI -8.9 pp..+7.6 pp): unchanged, within ±1 pp (runs of 3 min would catch twice the tolerance)"),
        "unchanged, within ±1 pp (runs of 3 min would catch twice the tolerance)"
    );
    assert_eq!(
        beyond_the_columns(
            "p99: cannot be judged, too few samples (3 and 4 requests; at least 5 needed)"
        ),
        "cannot be judged, too few samples (3 and 4 requests; at least 5 needed)"
    );
    assert_eq!(beyond_the_columns("no colon here"), "no colon here");
}

/// A history whose Aggregated p95 halved at run 21 of 30: the trend
/// chart marks the run, and the History section names the change.
#[test]
fn the_trend_marks_the_history_s_change_points() {
    let history: Vec<HistoryRow> = (0..30)
        .map(|i| {
            let level = if i < 20 { 20.0 } else { 10.0 };
            let p = level * [1.0, 1.02, 0.98][i % 3];
            HistoryRow {
                time: format!("2026-01-{:02}T00:00:00Z", i + 1),
                commit: format!("c{i:02}beefbeef"),
                branch: "main".into(),
                label: String::new(),
                method: String::new(),
                name: "Aggregated".into(),
                requests: 1000,
                failures: 0,
                p50_ms: Some(p),
                p95_ms: Some(p * 2.0),
                p99_ms: Some(p * 3.0),
                requests_per_second: 100.0,
                verdict: "unchanged".into(),
                scenario: String::new(),
            }
        })
        .collect();
    let mut histogram = new_histogram();
    histogram.record_n(10_000, 100).unwrap();
    let current = RunStats {
        source: "x".into(),
        rows: [(
            Endpoint::aggregated(),
            RowStats {
                requests: 100,
                failures: 0,
                timed: 100,
                requests_per_second: 10.0,
                average_ms: 10.0,
                latency: Latency::Exact(histogram),
                blocks: Vec::new(),
            },
        )]
        .into_iter()
        .collect(),
        ..RunStats::default()
    };
    let html = render(&ReportInput {
        title: "history".into(),
        run: None,
        current: &current,
        current_curve: crate::gate::aggregated_curve(&current),
        baseline_curve: None,
        verdict: None,
        timeline: Vec::new(),
        failures: Vec::new(),
        history: &history,
    })
    .unwrap();
    assert_eq!(html.matches("class=\"change-point\"").count(), 3, "{html}");
    assert!(
        html.contains("<li>p95 of Aggregated fell 50% at c20beef (run 21 of branch main)</li>"),
        "{html}"
    );
}

/// An hour's run with 50 endpoints, each with its 32 time blocks (so
/// its own percentile chart), stays well under 1.5 MB.
#[test]
fn an_hour_with_fifty_endpoints_stays_small() {
    use crate::gate::input::BlockCounts;
    // A block of 112.5 s at ~5.5 requests a second, over 40 buckets.
    let blocks: Vec<BlockCounts> = (0..32)
        .map(|b| BlockCounts {
            secs: 112.5,
            requests: 620,
            failures: 1,
            latency: BlockLatency::AtOrBelow(
                (1..=40u64)
                    .map(|k| (1_000 + k * 50_000 + b * 100, k * 15))
                    .collect(),
            ),
        })
        .collect();
    let mut rows = BTreeMap::new();
    for i in 0..=50 {
        let mut histogram = new_histogram();
        for v in 0..20_000u64 {
            histogram.record(1_000 + (v * 7919) % 3_000_000).unwrap();
        }
        let key = if i == 50 {
            Endpoint::aggregated()
        } else {
            Endpoint {
                method: "GET".into(),
                name: format!("/api/v1/resource-{i}/[id]/"),
            }
        };
        rows.insert(
            key,
            RowStats {
                requests: 20_000,
                failures: 20,
                timed: 20_000,
                requests_per_second: 5.5,
                average_ms: 30.0,
                latency: Latency::Exact(histogram),
                blocks: blocks.clone(),
            },
        );
    }
    let current = RunStats {
        source: "x".into(),
        rows,
        ..RunStats::default()
    };
    let baseline = current.clone();
    let verdict = crate::gate::judge(
        &current,
        Some(&baseline),
        &crate::gate::rules::Rules::default(),
    );
    let timeline: Vec<TimelinePoint> = (0..3600)
        .map(|s| TimelinePoint {
            at: s as f64,
            users: 50.0,
            requests_per_second: 270.0 + (s % 17) as f64,
            failures_per_second: (s % 3) as f64,
            p50: Some(20.0),
            p95: Some(80.0 + (s % 11) as f64),
            p99: Some(200.0),
        })
        .collect();
    let failures: Vec<FailureRow> = (0..50)
        .map(|i| FailureRow {
            method: "GET".into(),
            name: format!("/api/v1/resource-{i}/[id]/"),
            message: "HTTP 500 Internal Server Error".into(),
            occurrences: 3,
        })
        .collect();
    let html = render(&ReportInput {
        title: "hour".into(),
        run: None,
        current: &current,
        current_curve: crate::gate::aggregated_curve(&current),
        baseline_curve: Some(crate::gate::aggregated_curve(&baseline)),
        verdict: Some(&verdict),
        timeline,
        failures,
        history: &[],
    })
    .unwrap();
    assert!(html.len() < 1_500_000, "{} bytes", html.len());
    assert!(html.contains("/api/v1/resource-49/[id]/"));
    assert_eq!(html.matches("class=\"chart-endpoint-latency\"").count(), 50);
}
