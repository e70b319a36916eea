use super::input::Latency;
use super::quantiles::ladder_quantile;
use super::thresholds::Threshold;
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
        blocks: Vec::new(),
    }
}

fn run(rows: Vec<(&str, RowStats)>) -> RunStats {
    let rows: BTreeMap<Endpoint, RowStats> = rows
        .into_iter()
        .map(|(name, r)| {
            (
                Endpoint {
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
        ..RunStats::default()
    }
}

fn outcomes(verdict: &Verdict, name: &str) -> Vec<(String, Outcome)> {
    verdict
        .comparisons
        .iter()
        .filter(|c| c.endpoint.name == name)
        .map(|c| (c.metric.to_string(), c.outcome))
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
            verdict
                .comparisons
                .iter()
                .filter(|c| c.fails_gate)
                .collect::<Vec<_>>()
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
        .find(|c| c.metric == Metric::Percentile(95.0))
        .unwrap();
    assert_eq!(p95.outcome, Outcome::Regressed);
    assert!(
        p95.reason.starts_with("p95 ")
            && p95.reason.contains("CI +")
            && p95
                .reason
                .ends_with("regressed, at least +15% with 95% confidence, beyond +10%"),
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
        .find(|c| c.metric == Metric::Percentile(99.0))
        .unwrap();
    // Not "unchanged" with an unbounded interval either: this pair could
    // not have shown it.
    assert_eq!(p99.outcome, Outcome::Unjudged, "{}", p99.reason);
    assert!(p99.reason.contains("cannot be judged"), "{}", p99.reason);
    assert!(verdict.passed);
}

#[test]
fn too_few_samples_cannot_be_judged() {
    let baseline = run(vec![("/a", row(10, 1.0, 0, 5))]);
    let current = run(vec![("/a", row(10, 3.0, 0, 6))]);
    let verdict = judge(&current, Some(&baseline), &Rules::default());
    assert!(outcomes(&verdict, "/a")
        .iter()
        .all(|(_, o)| *o == Outcome::Unjudged));
    assert_eq!(verdict.counts.unjudged, 5);
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
        .find(|c| c.metric == Metric::FailRate)
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
        .insert(Endpoint::aggregated(), row(requests, 1.0, failures, 9));
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
        .any(|c| c.fails_gate && c.endpoint.name == "/hot"));
    let rare_gone = with_total(run(vec![("/hot", row(1000, 1.0, 0, 4))]), 10_000, 0);
    let verdict = judge(&rare_gone, Some(&baseline), &Rules::default());
    let rare = verdict
        .comparisons
        .iter()
        .find(|c| c.endpoint.name == "/rare")
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

fn on_machine(mut stats: RunStats, pressure: f64) -> RunStats {
    stats.machine = Some(crate::metrics::watch::MachineWatch {
        timer_lag_p50_ms: 0.1,
        timer_lag_p99_ms: 0.2,
        cpu_pressure: pressure,
        pressure_measured: true,
        cores: 2,
        background: Some(crate::metrics::watch::Background {
            cpu_share: 1.0 - pressure,
        }),
        ..Default::default()
    });
    stats
}

/// A busy current run against a quiet baseline: what the machine explains
/// is inconclusive, what it cannot explain still regresses.
#[test]
fn a_busier_machine_explains_a_slowdown_but_not_a_collapse() {
    let latency = |verdict: &Verdict| {
        verdict
            .comparisons
            .iter()
            .filter(|c| matches!(c.metric, Metric::Percentile(_)))
            .map(|c| c.outcome)
            .collect::<Vec<_>>()
    };
    let quiet = on_machine(run(vec![("/a", row(5000, 1.0, 0, 1))]), 0.02);
    let slower = run(vec![("/a", row(5000, 1.5, 0, 2))]);
    let alike = judge(
        &on_machine(slower.clone(), 0.03),
        Some(&quiet),
        &Rules::default(),
    );
    assert!(latency(&alike).contains(&Outcome::Regressed));
    assert_eq!(alike.machine, None);

    let busy = judge(&on_machine(slower, 0.5), Some(&quiet), &Rules::default());
    assert!(busy.passed, "{:#?}", busy.comparisons);
    assert!(latency(&busy).iter().all(|o| *o != Outcome::Regressed));
    let p50 = &busy.comparisons[0];
    assert_eq!(p50.outcome, Outcome::Inconclusive);
    assert!(
        p50.reason
            .contains("this run's machine was busier (before the load a busy thread got 50% of a CPU vs 98%; during the run CPU pressure 50% vs 2%), which explains ×1.96")
            && p50.reason.contains("--against"),
        "{}",
        p50.reason
    );
    assert!(busy
        .machine
        .unwrap()
        .starts_with("this run's machine was busier"));

    let collapsed = run(vec![("/a", row(5000, 10.0, 0, 3))]);
    let verdict = judge(&on_machine(collapsed, 0.5), Some(&quiet), &Rules::default());
    assert!(!verdict.passed);
    let reason = &verdict.comparisons[0].reason;
    assert!(
        reason.contains("regressed, at least ×9.77 with 95% confidence, beyond +10%, although this run's machine was busier (allowance ×1.96: before the load"),
        "{reason}"
    );
}

/// Locust's percentile columns round a 5 ms API to whole milliseconds, so a
/// +25% change can hide in them; its exact average cannot.
#[test]
fn a_locust_row_slower_only_in_its_exact_average_regresses() {
    let ladder_row = |average_ms: f64| RowStats {
        requests: 5000,
        failures: 0,
        timed: 5000,
        requests_per_second: 5000.0 / 30.0,
        average_ms,
        latency: Latency::Ladder {
            points: vec![(0.5, 6.0), (0.95, 9.0), (0.99, 11.0)],
            min_ms: 3.0,
            max_ms: 14.0,
        },
        blocks: Vec::new(),
    };
    let baseline = run(vec![("/a", ladder_row(5.6))]);
    let current = run(vec![("/a", ladder_row(7.0))]);
    let verdict = judge(&current, Some(&baseline), &Rules::default());
    let average = verdict
        .comparisons
        .iter()
        .find(|c| c.metric == Metric::Average)
        .unwrap();
    assert_eq!(average.outcome, Outcome::Regressed, "{}", average.reason);
    assert!(
        average.reason.starts_with("avg 5.60 ms → 7.00 ms (+25%"),
        "{}",
        average.reason
    );
    assert!(!verdict.passed);
    // The same average on both sides: unchanged.
    let same = judge(&baseline, Some(&baseline), &Rules::default());
    assert!(same.passed);
    assert_eq!(
        verdict.comparisons_tested, 6,
        "3 percentiles, avg, failures, throughput"
    );
}

/// A row of a few hundred requests that slows ×2 is caught by its median,
/// among twenty other rows' comparisons, whatever its p95 and p99 can show:
/// no pooling of percentiles is needed for that. Its p99 cannot be judged,
/// and every unchanged or inconclusive comparison says what it could catch.
#[test]
fn a_small_row_slowed_twice_is_caught_by_its_median() {
    let mut baseline_rows: Vec<(&str, RowStats)> = vec![("/small", row(300, 1.0, 0, 1))];
    let mut current_rows: Vec<(&str, RowStats)> = vec![("/small", row(300, 2.0, 0, 2))];
    let names: Vec<String> = (0..4).map(|i| format!("/busy{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        baseline_rows.push((name, row(20_000, 1.0, 0, 10 + i as u64)));
        current_rows.push((name, row(20_000, 1.0, 0, 20 + i as u64)));
    }
    let verdict = judge(
        &run(current_rows),
        Some(&run(baseline_rows)),
        &Rules::default(),
    );
    let small: Vec<_> = verdict
        .comparisons
        .iter()
        .filter(|c| c.endpoint.name == "/small")
        .collect();
    let p50 = small
        .iter()
        .find(|c| c.metric == Metric::Percentile(50.0))
        .unwrap();
    assert_eq!(p50.outcome, Outcome::Regressed, "{}", p50.reason);
    let p99 = small
        .iter()
        .find(|c| c.metric == Metric::Percentile(99.0))
        .unwrap();
    assert_eq!(p99.outcome, Outcome::Unjudged, "{}", p99.reason);
    assert!(p99.detectable.is_none());
    for c in verdict
        .comparisons
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Unchanged | Outcome::Inconclusive))
    {
        assert!(c.reason.contains("these runs could catch"), "{}", c.reason);
        assert!(c.detectable.is_some());
    }
}

fn decided(change: f64, interval: (f64, f64), bad_direction: f64) -> decision::Judged {
    decision::decide(&decision::Decision {
        change,
        interval,
        allowed: 0.10,
        bad_direction,
        beyond_floor: true,
        tolerance_text: "10%",
        bound_text: percent_change,
        confidence: 0.95,
        modelled: true,
    })
}

/// The genuine Locust pair of issue 28 (+31%, CI +6.8%..+60%) regresses:
/// its interval excludes no change and its estimate is beyond the
/// tolerance. Each verdict says which claim it makes.
#[test]
fn significant_and_relevant_regresses_on_the_estimate_and_says_which_claim() {
    let weak = decided(0.31, (0.068, 0.60), 1.0);
    assert_eq!(weak.outcome, Outcome::Regressed);
    assert_eq!(
        weak.words,
        "regressed, beyond +10%, and the interval excludes no change at 95% confidence"
    );
    let strong = decided(0.23, (0.15, 0.31), 1.0);
    assert_eq!(strong.outcome, Outcome::Regressed);
    assert_eq!(
        strong.words,
        "regressed, at least +15% with 95% confidence, beyond +10%"
    );
    let throughput = decided(-0.2, (-0.3, -0.12), -1.0);
    assert_eq!(throughput.outcome, Outcome::Regressed);
    assert_eq!(
        throughput.words,
        "regressed, at least -12% with 95% confidence, beyond -10%"
    );
    assert_eq!(decided(-0.25, (-0.3, -0.2), 1.0).outcome, Outcome::Improved);
    let unsure = decided(0.31, (-0.02, 0.7), 1.0);
    assert_eq!(unsure.outcome, Outcome::Inconclusive);
    assert!(
        unsure.words.contains("includes no change"),
        "{}",
        unsure.words
    );
    // `unchanged` only when the whole interval is within the tolerance.
    assert_eq!(
        decided(0.04, (-0.05, 0.08), 1.0).outcome,
        Outcome::Unchanged
    );
    let wide = decided(0.04, (-0.05, 0.2), 1.0);
    assert_eq!(wide.outcome, Outcome::Inconclusive);
    assert!(wide.words.contains("reaches beyond"), "{}", wide.words);
}

/// No interval that holds "no change" is ever decided either way, however
/// far its estimate: that is what bounds A/A false alarms by the level.
#[test]
fn an_interval_that_holds_no_change_never_decides() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(28);
    for _ in 0..20_000 {
        let lower = -rng.gen::<f64>() * 0.9;
        let upper = rng.gen::<f64>() * 3.0;
        let change = lower + rng.gen::<f64>() * (upper - lower);
        for direction in [1.0, -1.0] {
            let outcome = decided(change, (lower, upper), direction).outcome;
            assert!(
                matches!(outcome, Outcome::Unchanged | Outcome::Inconclusive),
                "{change} in ({lower}, {upper}): {outcome:?}"
            );
        }
    }
}

/// Without time blocks on both sides the interval takes requests as
/// independent, too narrow for a correlated run: the genuine Locust A/A
/// pair without a full history reads p95 +15% (CI +4.1%..+28%), which the
/// tolerance, not the interval, must absorb.
#[test]
fn without_blocks_the_whole_interval_must_clear_the_tolerance() {
    let independent = decision::decide(&decision::Decision {
        change: 0.15,
        interval: (0.041, 0.28),
        allowed: 0.10,
        bad_direction: 1.0,
        beyond_floor: true,
        tolerance_text: "10%",
        bound_text: percent_change,
        confidence: 0.95,
        modelled: false,
    });
    assert_eq!(independent.outcome, Outcome::Inconclusive);
    assert!(
        independent.words.contains("taken as independent"),
        "{}",
        independent.words
    );
    assert_eq!(
        decided(0.15, (0.041, 0.28), 1.0).outcome,
        Outcome::Regressed
    );
}

/// `[gate] inconclusive = "fail"` turns every inconclusive comparison of a
/// gated metric into a failure that says so; the default passes them, and
/// a misspelt policy names what is valid.
#[test]
fn inconclusive_fails_the_gate_only_when_a_team_asks() {
    let path = std::path::Path::new("rules.toml");
    let strict = Rules::parse(path, "[gate]\ninconclusive = \"fail\"\n").unwrap();
    assert_eq!(strict.inconclusive, rules::InconclusivePolicy::Fail);
    let wrong = Rules::parse(path, "[gate]\ninconclusive = \"maybe\"\n").unwrap_err();
    assert!(
        wrong.to_string().contains("expected pass or fail"),
        "{wrong}"
    );
    // 300 requests 12% slower: beyond the tolerance, within the noise.
    let baseline = run(vec![("/a", row(300, 1.0, 0, 1))]);
    let current = run(vec![("/a", row(300, 1.12, 0, 2))]);
    let lenient = judge(&current, Some(&baseline), &Rules::default());
    assert!(
        lenient.counts.inconclusive > 0 && lenient.passed,
        "{lenient:?}"
    );
    let decided = judge(&current, Some(&baseline), &strict);
    assert!(!decided.passed);
    let failing: Vec<&Comparison> = decided
        .comparisons
        .iter()
        .filter(|c| c.fails_gate)
        .collect();
    assert_eq!(failing.len(), lenient.counts.inconclusive);
    assert!(failing.iter().all(|c| c.outcome == Outcome::Inconclusive
        && c.reason
            .ends_with("fails the gate, as inconclusive = \"fail\" asks")));
}
