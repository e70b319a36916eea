//! One row of the baseline against the same row now: for each metric the
//! change, its interval, and whether it clears the tolerance.

use super::decision::{decide, Decision, Judged};
use super::dependence::{self, Effect};
use super::detectable::{self, Detectable};
use super::format::{
    dependence_note, percent_text, percent_value, points, ratio_text, seconds_text, trim_number,
};
use super::input::RowStats;
use super::machine::{Allowance, Explained};
use super::quantiles::{count_effects, latency_effect, latency_spread_ms};
use super::rules::MetricKind;
use super::spread::Spread;
use super::*;

pub(crate) fn presence(
    key: &Endpoint,
    outcome: Outcome,
    fails_gate: bool,
    reason: String,
) -> Comparison {
    Comparison {
        endpoint: key.clone(),
        metric: Metric::Row,
        unit: Unit::Requests,
        baseline: None,
        current: None,
        change: None,
        interval: None,
        outcome,
        fails_gate,
        reason,
        design_effect: None,
        detectable: None,
    }
}

/// Writes a comparison's outcome and reason: too few samples, or the judgement.
pub(crate) fn conclude(
    comparison: &mut Comparison,
    head: String,
    too_few: Option<String>,
    gated: bool,
    judge: impl FnOnce() -> Judged,
) {
    match too_few {
        Some(reason) => {
            comparison.outcome = Outcome::Unjudged;
            comparison.reason = format!("{head}: {reason}");
        }
        None => {
            let judged = judge();
            comparison.outcome = judged.outcome;
            comparison.fails_gate = gated && judged.outcome == Outcome::Regressed;
            comparison.reason = format!("{head}: {}", judged.words);
        }
    }
}

pub(crate) fn compare_row(
    key: &Endpoint,
    (b, c): (&RowStats, &RowStats),
    rules: &Rules,
    alpha: f64,
    machine: Option<&Allowance>,
    spread: Option<&Spread>,
    out: &mut Vec<Comparison>,
) {
    let widen_ratio = |metric: &Metric, values: (f64, f64), interval: (f64, f64)| match spread {
        Some(pairs) => pairs.widen_ratio(key, metric, values, interval, alpha),
        None => (interval, String::new()),
    };
    // Where the noise between runs set an interval (its note says so), the
    // rounds that would catch twice the tolerance.
    let by_runs = |note: &str, metric: &Metric, allowed: f64, ratio: bool| {
        let spread = spread.filter(|_| !note.is_empty())?;
        let target = detectable::twice_tolerance_half_width(allowed, ratio);
        Some(spread.rounds_for(key, metric, alpha, target))
    };
    let too_few = b.requests < rules.min_samples || c.requests < rules.min_samples;
    let few_reason = || {
        format!(
            "cannot be judged, too few samples ({} and {} requests; at least {} needed)",
            b.requests, c.requests, rules.min_samples
        )
    };
    let base = |metric: Metric, unit: Unit| Comparison {
        endpoint: key.clone(),
        metric,
        unit,
        baseline: None,
        current: None,
        change: None,
        interval: None,
        outcome: Outcome::Unjudged,
        fails_gate: false,
        reason: String::new(),
        design_effect: None,
        detectable: None,
    };
    let (b_effects, c_effects) = (count_effects(b), count_effects(c));
    let modelled = spread.is_some()
        || (b.blocks.len() >= dependence::MIN_BLOCKS && c.blocks.len() >= dependence::MIN_BLOCKS);
    let seconds = run_seconds(b).max(run_seconds(c));

    let (tolerance, gated) = rules.for_row(&key.method, &key.name, MetricKind::Latency);
    for &percent in &rules.percentiles {
        let q = percent / 100.0;
        let label = Metric::Percentile(percent).to_string();
        let mut comparison = base(Metric::Percentile(percent), Unit::Ms);
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
        let estimated = (latency_effect(b, q), latency_effect(c, q));
        let effects = values_of(estimated);
        comparison.design_effect = Some(effects);
        let side = alpha / 2.0;
        let (interval, note) = widen_ratio(
            &Metric::Percentile(percent),
            (bv, cv),
            stats::ratio_interval(
                quantile_interval(&b.latency, q, b.timed, side, estimated.0.for_level(side)),
                quantile_interval(&c.latency, q, c.timed, side, estimated.1.for_level(side)),
            ),
        );
        judge_relative(
            &mut comparison,
            Relative {
                head: format!("{label} {} → {}", ms(bv), ms(cv)),
                set_by_runs: by_runs(&note, &Metric::Percentile(percent), tolerance.allowed, true),
                note,
                seconds,
                effects,
                explained: machine.map(|m| m.explains(m.latency_factor(q, bv))),
                values: (bv, cv),
                interval,
                allowed: tolerance.allowed,
                worse: 1.0,
                beyond_floor: (cv - bv).abs() > tolerance.floor_ms,
                confidence: rules.confidence,
                modelled,
            },
            too_few.then(few_reason),
            gated,
        );
        out.push(comparison);
    }

    if compares_average(b, c) {
        let mut comparison = base(Metric::Average, Unit::Ms);
        let (bv, cv) = (b.average_ms, c.average_ms);
        comparison.baseline = Some(bv);
        comparison.current = Some(cv);
        let estimated = (latency_effect(b, 0.5), latency_effect(c, 0.5));
        let effects = values_of(estimated);
        comparison.design_effect = Some(effects);
        let side = alpha / 2.0;
        let interval = stats::ratio_interval(
            mean_interval(b, side, estimated.0.for_level(side)),
            mean_interval(c, side, estimated.1.for_level(side)),
        );
        let few = b.timed < rules.min_samples || c.timed < rules.min_samples;
        judge_relative(
            &mut comparison,
            Relative {
                head: format!("avg {} → {}", ms(bv), ms(cv)),
                note: String::new(),
                set_by_runs: None,
                seconds,
                effects,
                explained: machine.map(|m| m.explains(m.latency_factor(0.5, bv))),
                values: (bv, cv),
                interval,
                allowed: tolerance.allowed,
                worse: 1.0,
                beyond_floor: (cv - bv).abs() > tolerance.floor_ms,
                confidence: rules.confidence,
                modelled,
            },
            (too_few || few).then(few_reason),
            gated,
        );
        out.push(comparison);
    }

    let (tolerance, gated) = rules.for_row(&key.method, &key.name, MetricKind::FailRate);
    let mut comparison = base(Metric::FailRate, Unit::Fraction);
    let rate = |s: &RowStats| {
        if s.requests > 0 {
            s.failures as f64 / s.requests as f64
        } else {
            0.0
        }
    };
    let (bv, cv) = (rate(b), rate(c));
    let effects = values_of((b_effects.0, c_effects.0));
    let grown = (b_effects.0.for_level(alpha), c_effects.0.for_level(alpha));
    let interval = stats::difference_interval(
        b.failures as f64 / grown.0,
        b.requests as f64 / grown.0,
        c.failures as f64 / grown.1,
        c.requests as f64 / grown.1,
        alpha,
    );
    let (interval, note) = match spread {
        Some(pairs) => pairs.widen_difference(key, &Metric::FailRate, cv - bv, interval, alpha),
        None => (interval, String::new()),
    };
    comparison.baseline = Some(bv);
    comparison.current = Some(cv);
    comparison.change = Some(cv - bv);
    comparison.interval = Some(bounded(interval));
    comparison.design_effect = Some(effects);
    let head = format!(
        "failures {} → {} ({}, CI {}..{}{}{note})",
        percent_value(bv),
        percent_value(cv),
        points(cv - bv),
        points(interval.0),
        points(interval.1),
        dependence_note(effects)
    );
    comparison.detectable = detectable::difference(cv - bv, interval, tolerance.allowed, seconds)
        .map(
            |d| match by_runs(&note, &Metric::FailRate, tolerance.allowed, false) {
                Some(rounds) => d.set_by_runs(rounds),
                None => d,
            },
        );
    conclude(
        &mut comparison,
        head,
        too_few.then(few_reason),
        gated,
        || {
            decide(&Decision {
                change: cv - bv,
                interval,
                allowed: tolerance.allowed,
                bad_direction: 1.0,
                beyond_floor: true,
                tolerance_text: &format!("{} pp", trim_number(tolerance.allowed * 100.0)),
                bound_text: points,
                confidence: rules.confidence,
                modelled,
            })
        },
    );
    say_what_was_detectable(&mut comparison, points);
    out.push(comparison);

    let (tolerance, gated) = rules.for_row(&key.method, &key.name, MetricKind::Throughput);
    let mut comparison = base(Metric::Throughput, Unit::PerSecond);
    comparison.baseline = Some(b.requests_per_second);
    comparison.current = Some(c.requests_per_second);
    if b.requests_per_second > 0.0 && c.requests_per_second > 0.0 {
        let effects = values_of((b_effects.1, c_effects.1));
        comparison.design_effect = Some(effects);
        let side = alpha / 2.0;
        let rate_interval = |s: &RowStats, effect: Effect| {
            let seconds = s.requests as f64 / s.requests_per_second;
            let (lo, hi) = stats::poisson_interval(s.requests, side, effect.for_level(side));
            (lo / seconds, hi / seconds)
        };
        let values = (b.requests_per_second, c.requests_per_second);
        let (interval, note) = widen_ratio(
            &Metric::Throughput,
            values,
            stats::ratio_interval(rate_interval(b, b_effects.1), rate_interval(c, c_effects.1)),
        );
        judge_relative(
            &mut comparison,
            Relative {
                head: format!(
                    "throughput {}/s → {}/s",
                    significant(b.requests_per_second),
                    significant(c.requests_per_second)
                ),
                set_by_runs: by_runs(&note, &Metric::Throughput, tolerance.allowed, true),
                note,
                seconds,
                effects,
                explained: machine.map(|m| m.explains(m.throughput_factor())),
                values,
                interval,
                allowed: tolerance.allowed,
                worse: -1.0,
                beyond_floor: true,
                confidence: rules.confidence,
                modelled,
            },
            too_few.then(few_reason),
            gated,
        );
    } else {
        comparison.reason =
            "throughput: cannot be judged, a side has no requests per second".into();
    }
    out.push(comparison);
}

/// The design effects as reported, baseline's and current's.
fn values_of((baseline, current): (Effect, Effect)) -> (f64, f64) {
    (baseline.value(), current.value())
}

/// How long a run measured a row: its requests over their rate.
fn run_seconds(row: &RowStats) -> f64 {
    if row.requests_per_second > 0.0 {
        row.requests as f64 / row.requests_per_second
    } else {
        0.0
    }
}

/// Locust's average is exact where its percentiles are rounded to buckets
/// (±10% at 5 ms), so a side from a Locust CSV is also compared by it.
pub(crate) fn compares_average(b: &RowStats, c: &RowStats) -> bool {
    let ladder = |s: &RowStats| matches!(s.latency, super::input::Latency::Ladder { .. });
    ladder(b) || ladder(c)
}

/// The interval of a row's mean latency, ms, at two-sided level
/// `1 - alpha`: the normal interval of a mean of `timed / effect` samples,
/// with the spread from the histogram or from Locust's percentile ladder.
fn mean_interval(row: &RowStats, alpha: f64, effect: f64) -> (f64, f64) {
    if row.timed == 0 {
        return (0.0, f64::INFINITY);
    }
    let z = stats::normal_quantile(1.0 - alpha / 2.0);
    let spread = z * latency_spread_ms(row) / (row.timed as f64 / effect.max(1.0)).sqrt();
    ((row.average_ms - spread).max(0.0), row.average_ms + spread)
}

/// A metric judged by its relative change, with the interval of the ratio
/// current / baseline: latency percentiles (worse up) and throughput (worse
/// down).
pub(crate) struct Relative {
    /// `p95 12.0 ms → 14.1 ms`: what the reason starts with.
    head: String,
    /// What the interval came from, when not the runs' own requests alone.
    note: String,
    /// Where the noise between runs set the interval: the rounds that
    /// would catch twice the tolerance, if any would.
    set_by_runs: Option<Option<usize>>,
    /// How long the longer of the two runs measured this row.
    seconds: f64,
    /// The design effects of baseline and current.
    effects: (f64, f64),
    /// How far the ratio current / baseline is explained by the machines
    /// the two ran on, and the evidence.
    explained: Option<Explained>,
    values: (f64, f64),
    interval: (f64, f64),
    allowed: f64,
    /// 1.0 when a rise is a regression, -1.0 when a fall is.
    worse: f64,
    /// The change also clears the metric's absolute floor.
    beyond_floor: bool,
    /// The family-wise confidence the intervals share.
    confidence: f64,
    /// See [`Decision::modelled`].
    modelled: bool,
}

pub(crate) fn judge_relative(
    comparison: &mut Comparison,
    relative: Relative,
    too_few: Option<String>,
    gated: bool,
) {
    let Relative {
        head,
        note,
        set_by_runs,
        seconds,
        effects,
        explained,
        values: (baseline, current),
        interval,
        allowed,
        worse,
        beyond_floor,
        confidence,
        modelled,
    } = relative;
    let change = relative_change(baseline, current);
    comparison.change = change.is_finite().then_some(change);
    comparison.interval = Some(bounded(interval));
    let head = format!(
        "{head} ({}, CI {}..{}{}{note})",
        percent_change(change),
        percent_change(interval.0),
        percent_change(interval.1),
        dependence_note(effects)
    );
    // A regression shows as a lower bound above the tolerance (a rise) or
    // an upper bound below it (a fall); unbounded there, none ever could.
    let blind = if worse > 0.0 {
        interval.0 <= -1.0 + 1e-9
    } else {
        !interval.1.is_finite()
    };
    let too_few = too_few.or_else(|| {
        blind.then(|| {
            "cannot be judged, too few requests to bound this on the side a regression would show; a longer run would".to_owned()
        })
    });
    comparison.detectable = detectable::relative(change, interval, allowed * worse, worse, seconds)
        .map(|d| match set_by_runs {
            Some(rounds) => d.set_by_runs(rounds),
            None => d,
        });
    conclude(comparison, head, too_few, gated, || {
        let tolerance = percent_text(allowed);
        let decision = Decision {
            change,
            interval,
            allowed,
            bad_direction: worse,
            beyond_floor,
            tolerance_text: &tolerance,
            bound_text: percent_change,
            confidence,
            modelled,
        };
        let judged = decide(&decision);
        let Some(Explained {
            factor,
            whose,
            evidence,
        }) = explained
        else {
            return judged;
        };
        let decided = matches!(judged.outcome, Outcome::Regressed | Outcome::Improved);
        if !decided || (factor - 1.0).abs() < 0.02 {
            return judged;
        }
        let adjusted = (
            (1.0 + interval.0) / factor - 1.0,
            (1.0 + interval.1) / factor - 1.0,
        );
        let again = decide(&Decision {
            change: relative_change(baseline * factor, current),
            interval: adjusted,
            ..decision
        });
        let allowance = format!("allowance {}", ratio_text(factor));
        if again.outcome == judged.outcome {
            Judged {
                words: format!(
                    "{}, although {whose} ({allowance}: {evidence})",
                    judged.words
                ),
                ..judged
            }
        } else {
            Judged {
                outcome: Outcome::Inconclusive,
                words: format!(
                    "inconclusive, {whose} ({evidence}), which explains {}; rerun on a quiet machine, or interleave both versions with --against",
                    ratio_text(factor)
                ),
            }
        }
    });
    say_what_was_detectable(comparison, percent_change);
}

/// Adds to an `unchanged` or `inconclusive` reason how large a change these
/// runs could have caught, so that neither reads as more than it is.
pub(crate) fn say_what_was_detectable(comparison: &mut Comparison, text: fn(f64) -> String) {
    let Some(Detectable {
        change,
        run_secs_for_twice_tolerance,
        set_by_noise_between_runs,
        rounds_for_twice_tolerance,
    }) = comparison.detectable
    else {
        return;
    };
    if !matches!(
        comparison.outcome,
        Outcome::Unchanged | Outcome::Inconclusive
    ) {
        return;
    }
    comparison.reason.push_str(&format!(
        "; these runs could catch {} or more",
        text(change)
    ));
    if let Some(secs) = run_secs_for_twice_tolerance {
        comparison.reason.push_str(&format!(
            " (runs of {} would catch twice the tolerance)",
            seconds_text(secs)
        ));
    } else if set_by_noise_between_runs {
        comparison.reason.push_str(&match rounds_for_twice_tolerance {
            Some(rounds) => format!(
                " (the noise between runs sets this, which longer runs would not narrow; --rounds {rounds} would catch twice the tolerance)"
            ),
            None => " (the noise between runs sets this, which longer runs would not narrow; interleaving both versions with --against and more --rounds would)".to_owned(),
        });
    }
}

pub(crate) fn relative_change(baseline: f64, current: f64) -> f64 {
    if baseline > 0.0 {
        current / baseline - 1.0
    } else if current > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

pub(crate) fn bounded((lower, upper): (f64, f64)) -> (Option<f64>, Option<f64>) {
    (
        lower.is_finite().then_some(lower),
        upper.is_finite().then_some(upper),
    )
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
