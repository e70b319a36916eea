use super::*;
use crate::gate::input::Latency;
use rand::SeedableRng;

fn row(requests: u64, latency_micros: u64, rps: f64) -> RowStats {
    let mut histogram = crate::metrics::new_histogram();
    histogram.record_n(latency_micros, requests).unwrap();
    RowStats {
        requests,
        failures: 0,
        timed: requests,
        requests_per_second: rps,
        average_ms: latency_micros as f64 / 1000.0,
        latency: Latency::Exact(histogram),
        blocks: Vec::new(),
    }
}

fn run(row: RowStats) -> RunStats {
    RunStats {
        rows: [(Endpoint::aggregated(), row)].into_iter().collect(),
        ..RunStats::default()
    }
}

fn earlier(runs: impl Iterator<Item = Vec<(Endpoint, Metric, f64)>>) -> Vec<EarlierRun> {
    runs.enumerate()
        .map(|(i, values)| EarlierRun {
            commit: format!("c{i:02}aaaaaaaa"),
            values,
        })
        .collect()
}

/// The half width the history gives Aggregated's p50 at `alpha`, from
/// runs whose log p50 are `values`.
fn history_half_width(values: &[f64], alpha: f64) -> Option<f64> {
    let start = last_level_start(values);
    let level = (start > 0).then(|| (start, String::new()));
    between_runs(values, level.as_ref(), alpha).map(|(half, _)| half)
}

/// Every source of run-to-run noise holds the level one comparison of
/// a default verdict gets (5% over 30 comparisons), for 5 to 30 earlier
/// runs (also after a level shift, whose old level must not count) and
/// for 4 to 30 rounds or pairs: a baseline and a current run drawn from
/// the same noise fall outside the interval as often as they should,
/// within four standard errors (40,000 draws each: 67 misses expected,
/// standard error 8; an approximate degrees-of-freedom rule missed
/// twice as often at these sizes).
#[test]
fn run_to_run_intervals_hold_the_per_comparison_level() {
    use crate::gate::stats::standard_normal;
    let alpha = 0.05 / 30.0;
    let draws = 40_000;
    let expected = alpha * draws as f64;
    let within = |misses: usize, what: &str| {
        assert!(
            (misses as f64 - expected).abs() < 4.0 * expected.sqrt(),
            "{what}: {misses} misses against {expected:.0}"
        );
    };
    let mut rng = rand::rngs::SmallRng::seed_from_u64(30);
    for k in [5, 10, 20, 30] {
        for shifted in [false, true] {
            let mut misses = 0;
            for _ in 0..draws {
                // Ten runs at a level far below the rest, then k.
                let mut values: Vec<f64> = Vec::new();
                if shifted {
                    values.extend((0..10).map(|_| standard_normal(&mut rng) - 20.0));
                }
                values.extend((0..k).map(|_| standard_normal(&mut rng)));
                let half = history_half_width(&values, alpha).unwrap();
                let difference = standard_normal(&mut rng) - standard_normal(&mut rng);
                if difference.abs() > half {
                    misses += 1;
                }
            }
            within(misses, &format!("{k} earlier runs, shifted {shifted}"));
        }
    }
    for k in [4, 6, 10, 30] {
        let (mut rounds_missed, mut pairs_missed) = (0, 0);
        for _ in 0..draws {
            let mut series = || {
                (0..k)
                    .map(|_| standard_normal(&mut rng))
                    .collect::<Vec<f64>>()
            };
            let key = (Endpoint::aggregated(), "p50".to_string());
            let spread = |source, values: Vec<f64>| Spread {
                source,
                runs: k,
                values: [(key.clone(), values)].into_iter().collect(),
                levels: HashMap::new(),
            };
            let p50 = Metric::Percentile(50.0);
            // Rounds: this run and the baseline each the mean of k.
            let rounds = spread(Source::Rounds, series());
            let (half, _) = rounds.half_width(&key.0, &p50, alpha).unwrap();
            let means = (0..2)
                .map(|_| series().iter().sum::<f64>() / k as f64)
                .collect::<Vec<f64>>();
            if (means[1] - means[0]).abs() > half {
                rounds_missed += 1;
            }
            // Pairs: the mean of k paired differences around zero.
            let differences = series();
            let mean = differences.iter().sum::<f64>() / k as f64;
            let pairs = spread(Source::Pairs, differences);
            let (half, _) = pairs.half_width(&key.0, &p50, alpha).unwrap();
            if mean.abs() > half {
                pairs_missed += 1;
            }
        }
        within(rounds_missed, &format!("{k} rounds"));
        within(pairs_missed, &format!("{k} pairs"));
    }
}

/// 20 runs at 20 ms, then 10 at 10 ms (an improvement that landed),
/// ±3% from run to run: the step is a change point, not noise, so a
/// +40% change is far outside the interval the history gives.
#[test]
fn a_level_shift_in_the_history_does_not_widen_the_verdict() {
    use crate::gate::stats::standard_normal;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(40);
    let values: Vec<f64> = (0..30)
        .map(|i| {
            let level: f64 = if i < 20 { 20.0 } else { 10.0 };
            level.ln() + 0.03 * standard_normal(&mut rng)
        })
        .collect();
    // With a spread of ±3% a +40% change clears the 10% tolerance.
    let half = history_half_width(&values, 0.05 / 30.0).unwrap();
    assert!(half < 1.4f64.ln() - 1.1f64.ln(), "{half}");
    let p50 = Metric::Percentile(50.0);
    let runs = earlier(
        values
            .iter()
            .map(|v| vec![(Endpoint::aggregated(), p50, v.exp())]),
    );
    let spread = Spread::of_earlier_runs(&runs);
    let (_, note) = spread.widen_ratio(
        &Endpoint::aggregated(),
        &p50,
        (10.0, 14.0),
        (0.39, 0.41),
        0.05 / 30.0,
    );
    assert!(
        note.is_empty() || note.contains("since the change at c20aaaa"),
        "{note}"
    );
    assert!(spread.describe().contains("since the last change point"));
    // Without the change point, the step alone would have made it ±60%.
    let step_as_noise = {
        let mean = values.iter().sum::<f64>() / 30.0;
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 29.0).sqrt()
    };
    assert!(step_as_noise > 0.3, "{step_as_noise}");
}

#[test]
fn one_outlier_run_keeps_the_spread_it_had() {
    use crate::gate::stats::standard_normal;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(41);
    let mut values: Vec<f64> = (0..15).map(|_| 0.05 * standard_normal(&mut rng)).collect();
    let alpha = 0.05 / 30.0;
    let clean = history_half_width(&values, alpha).unwrap();
    values[9] += 1.5;
    let with_outlier = history_half_width(&values, alpha).unwrap();
    assert!(with_outlier < 1.3 * clean, "{clean} → {with_outlier}");
    let p50 = Metric::Percentile(50.0);
    let runs = earlier(
        values
            .iter()
            .map(|v| vec![(Endpoint::aggregated(), p50, v.exp())]),
    );
    let (_, note) = Spread::of_earlier_runs(&runs).widen_ratio(
        &Endpoint::aggregated(),
        &p50,
        (10.0, 10.0),
        (-0.001, 0.001),
        alpha,
    );
    assert!(note.contains("one outlier left out"), "{note}");
}

#[test]
fn drift_between_pairs_widens_the_interval_and_cancels_in_the_change() {
    // Every pair: the candidate 2% slower than the baseline, while the
    // machine drifts ×1.5 over the rounds.
    let rounds: Vec<_> = (0..6)
        .map(|i| {
            let drift = 1.0 + 0.1 * i as f64;
            let noise = if i % 2 == 0 { 1.01 } else { 0.99 };
            (
                run(row(500, (5000.0 * drift) as u64, 100.0)),
                run(row(500, (5100.0 * drift * noise) as u64, 100.0)),
            )
        })
        .collect();
    let pairs = Spread::of_pairs(&rounds, &Rules::default());
    assert_eq!(pairs.runs, 6);
    let p50 = Metric::Percentile(50.0);
    let (interval, note) = pairs.widen_ratio(
        &Endpoint::aggregated(),
        &p50,
        (5000.0, 5100.0),
        (0.019, 0.021),
        0.05,
    );
    assert!(interval.0 < 0.01 && interval.1 > 0.03, "{interval:?}");
    assert!(interval.0 > -0.01, "the drift cancels: {interval:?}");
    assert_eq!(note, "; from 6 paired rounds");
    // Throughput did not vary between pairs: the pooled interval stands.
    let (interval, note) = pairs.widen_ratio(
        &Endpoint::aggregated(),
        &Metric::Throughput,
        (100.0, 100.0),
        (-0.1, 0.1),
        0.05,
    );
    assert_eq!((interval, note.as_str()), ((-0.1, 0.1), ""));
}

#[test]
fn more_rounds_are_advised_where_they_would_narrow_the_interval() {
    let key = (Endpoint::aggregated(), "p50".to_string());
    let spread = |source| Spread {
        source,
        runs: 6,
        values: [(key.clone(), vec![0.1, -0.1, 0.12, -0.08, 0.09, -0.11])]
            .into_iter()
            .collect(),
        levels: HashMap::new(),
    };
    let p50 = Metric::Percentile(50.0);
    let target = crate::gate::detectable::twice_tolerance_half_width(0.1, true);
    let pairs = spread(Source::Pairs).rounds_for(&key.0, &p50, 0.05, target);
    let rounds = spread(Source::Rounds).rounds_for(&key.0, &p50, 0.05, target);
    // The half width at the advised number is within the target, one
    // fewer is not.
    for (source, advised) in [(Source::Pairs, pairs), (Source::Rounds, rounds)] {
        let n = advised.unwrap();
        assert!((6..=50).contains(&n), "{n}");
        let at = |n: usize| {
            let mut longer = spread(source);
            let cycle = longer.values[&key].clone();
            longer
                .values
                .insert(key.clone(), cycle.iter().cycle().take(n).copied().collect());
            longer.half_width(&key.0, &p50, 0.05).unwrap().0
        };
        assert!(at(n) <= target * 1.1, "{n}: {} > {target}", at(n));
    }
    // A history's two runs vary as much however long the history.
    assert_eq!(
        spread(Source::EarlierRuns).rounds_for(&key.0, &p50, 0.05, target),
        None
    );
}

#[test]
fn too_few_pairs_leave_the_pooled_interval() {
    let rounds = vec![(run(row(500, 5000, 10.0)), run(row(500, 9000, 10.0))); 2];
    let pairs = Spread::of_pairs(&rounds, &Rules::default());
    let (interval, note) = pairs.widen_ratio(
        &Endpoint::aggregated(),
        &Metric::Percentile(50.0),
        (5.0, 9.0),
        (0.7, 0.9),
        0.05,
    );
    assert_eq!((interval, note.as_str()), ((0.7, 0.9), ""));
}

#[test]
fn earlier_runs_widen_by_their_spread() {
    let p50 = Metric::Percentile(50.0);
    let runs = |values: &[f64]| -> Vec<EarlierRun> {
        earlier(
            values
                .iter()
                .map(|&v| vec![(Endpoint::aggregated(), p50, v)]),
        )
    };
    // ±10% from run to run.
    let noisy = Spread::of_earlier_runs(&runs(&[10.0, 11.0, 10.0, 9.0, 10.0, 11.0, 9.0, 10.0]));
    let (interval, note) = noisy.widen_ratio(
        &Endpoint::aggregated(),
        &p50,
        (10.0, 10.0),
        (-0.02, 0.02),
        0.05,
    );
    assert!(interval.0 < -0.15 && interval.1 > 0.15, "{interval:?}");
    assert_eq!(note, "; from the spread of 8 earlier runs");
    // Four runs are too few.
    let few = Spread::of_earlier_runs(&runs(&[10.0, 20.0, 10.0, 20.0]));
    let (interval, note) = few.widen_ratio(
        &Endpoint::aggregated(),
        &p50,
        (10.0, 10.0),
        (-0.02, 0.02),
        0.05,
    );
    assert_eq!((interval, note.as_str()), ((-0.02, 0.02), ""));
}
