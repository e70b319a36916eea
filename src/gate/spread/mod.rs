//! Noise between runs, which no run's own requests can show: another job
//! on the runner, the CPU's frequency, a cache, a different runner. Two
//! sources measure it.
//!
//! - **Paired rounds** (`run --against`): baseline and candidate take turns
//!   in rounds on one machine (A B B A …), and each pair of rounds gives one
//!   difference per metric. Whatever changes between rounds falls on both
//!   of a pair, so a drift that moves both sides cancels, and the spread of
//!   the differences is the noise the change must clear.
//! - **Earlier runs** (`run --history`): the metric in each run of the
//!   history since its last change point (`changes.rs`), so that a level
//!   shift (an improvement landing) is not taken for noise; one outlier run
//!   among them is left out when Grubbs' test finds it, so that it cannot
//!   blow the spread up either. The spread of the rest (their standard
//!   deviation, Student's t on its degrees of freedom: a prediction
//!   interval) applies to the baseline and to this run alike: each is one
//!   run.
//! - **Rounds** (`run --rounds N`): this run's own rounds, whose spread
//!   from successive differences (so that a drift within the run is not
//!   taken for noise) is met with the exact critical value for it
//!   (`critical.rs`).
//!
//! A run's own interval knows only the sampling noise within it; the
//! verdict takes the wider of the two.

use std::collections::HashMap;

use super::changes::last_level_start;
use super::critical::{grubbs_critical, successive_difference_critical};
use super::input::RowStats;
use super::quantiles::quantile;
use super::rules::Rules;
use super::stats::student_quantile;
use super::{Endpoint, Metric, RunStats};

/// Fewer pairs than this give no spread worth the name.
pub const MIN_PAIRS: usize = 3;
/// Fewer earlier runs than this give no spread worth the name.
pub const MIN_EARLIER_RUNS: usize = 5;
/// The share of a comparison's error budget spent on leaving an outlier
/// run out: Grubbs' test at this share of the level, so that the interval
/// misses at most this much more often than it would with every run.
const OUTLIER_SHARE: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Pairs,
    EarlierRuns,
    Rounds,
}

/// Each row's and metric's values from run to run: log values (latency,
/// throughput) or fractions (failure rate).
#[derive(Debug, Clone)]
pub struct Spread {
    source: Source,
    /// Pairs of rounds, or earlier runs.
    runs: usize,
    /// Per pair: the difference; per earlier run: the value.
    values: HashMap<(Endpoint, String), Vec<f64>>,
    /// Earlier runs: where each series' last level starts, and the commit
    /// of the run it starts at, where a change point was found.
    levels: HashMap<(Endpoint, String), (usize, String)>,
}

/// One earlier run: its commit, and its values: a percentile's or
/// throughput's value (not its log), a failure rate as a fraction.
#[derive(Debug, Clone, Default)]
pub struct EarlierRun {
    pub commit: String,
    pub values: Vec<(Endpoint, Metric, f64)>,
}

impl Spread {
    /// `rounds` are (baseline, candidate) pairs of rounds.
    pub fn of_pairs(rounds: &[(RunStats, RunStats)], rules: &Rules) -> Self {
        let mut differences: HashMap<(Endpoint, String), Vec<f64>> = HashMap::new();
        for (baseline, candidate) in rounds {
            for (key, c) in &candidate.rows {
                let Some(b) = baseline.rows.get(key) else {
                    continue;
                };
                for (metric, difference) in row_differences(b, c, rules) {
                    differences
                        .entry((key.clone(), metric.to_string()))
                        .or_default()
                        .push(difference);
                }
            }
        }
        Self {
            source: Source::Pairs,
            runs: rounds.len(),
            values: differences,
            levels: HashMap::new(),
        }
    }

    /// `runs`, oldest first, are the earlier runs like this one (`history::RunFilter`).
    pub fn of_earlier_runs(runs: &[EarlierRun]) -> Self {
        let mut values = HashMap::new();
        let mut levels = HashMap::new();
        for ((key, metric), series) in series_of(runs) {
            let key = (key, metric.to_string());
            let series_values: Vec<f64> = series.iter().map(|(_, v)| *v).collect();
            let start = last_level_start(&series_values);
            if start > 0 {
                let commit = runs[series[start].0].commit.clone();
                levels.insert(key.clone(), (start, commit));
            }
            values.insert(key, series_values);
        }
        Self {
            source: Source::EarlierRuns,
            runs: runs.len(),
            values,
            levels,
        }
    }

    /// `rounds` are this run's rounds against one deployment, in order.
    pub fn of_rounds(rounds: &[RunStats], rules: &Rules) -> Self {
        let mut values: HashMap<(Endpoint, String), Vec<f64>> = HashMap::new();
        for round in rounds {
            for (key, row) in &round.rows {
                for (metric, value) in row_values(row, rules) {
                    values
                        .entry((key.clone(), metric.to_string()))
                        .or_default()
                        .push(value);
                }
            }
        }
        Self {
            source: Source::Rounds,
            runs: rounds.len(),
            values,
            levels: HashMap::new(),
        }
    }

    /// Whether both sides ran on one machine in turns.
    pub fn same_machine(&self) -> bool {
        self.source == Source::Pairs
    }

    /// The noise model in words.
    pub fn describe(&self) -> String {
        match self.source {
            Source::Pairs => format!(
                "interleaved A/B: {} pairs of rounds on one machine, each interval at least as wide as the pairs' spread",
                self.runs
            ),
            Source::EarlierRuns => format!(
                "run to run: the spread of {} earlier runs in the history{}, each interval at least as wide as it allows",
                self.runs,
                match self.levels.len() {
                    0 => String::new(),
                    shifted => format!(
                        " (since the last change point, in the {shifted} series that have one)"
                    ),
                }
            ),
            Source::Rounds => format!(
                "round to round: the spread of this run's {} rounds, each interval at least as wide as it allows (the baseline taken to vary as much)",
                self.runs
            ),
        }
    }

    /// The half width of the interval from run-to-run noise at two-sided
    /// level `1 - alpha`, and the note for the reason; `None` with too few
    /// values.
    fn half_width(&self, key: &Endpoint, metric: &Metric, alpha: f64) -> Option<(f64, String)> {
        let values = self.values.get(&(key.clone(), metric.to_string()))?;
        let k = values.len();
        match self.source {
            Source::Pairs if k >= MIN_PAIRS => {
                let mean = values.iter().sum::<f64>() / k as f64;
                let variance =
                    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
                let t = student_quantile(1.0 - alpha / 2.0, (k - 1) as u32);
                Some((
                    t * (variance / k as f64).sqrt(),
                    format!("; from {k} paired rounds"),
                ))
            }
            Source::EarlierRuns => between_runs(
                values,
                self.levels.get(&(key.clone(), metric.to_string())),
                alpha,
            ),
            Source::Rounds if k >= MIN_PAIRS => {
                let c = successive_difference_critical(alpha, k);
                // This run is the mean of k rounds; so, presumably, is the baseline.
                Some((
                    c * (2.0 * successive_variance(values) / k as f64).sqrt(),
                    format!("; from the spread of {k} rounds"),
                ))
            }
            _ => None,
        }
    }

    /// Where the noise between runs sets an interval: how many rounds
    /// (`--rounds N`, paired with `--against` where these were pairs) would
    /// bring its half width down to `target`; `None` for a history, whose
    /// two runs vary as much however many runs came before, and where no
    /// number up to 50 would.
    pub(crate) fn rounds_for(
        &self,
        key: &Endpoint,
        metric: &Metric,
        alpha: f64,
        target: f64,
    ) -> Option<usize> {
        let values = self.values.get(&(key.clone(), metric.to_string()))?;
        let k = values.len().max(MIN_PAIRS);
        let half_at = |n: usize| match self.source {
            Source::Pairs => {
                let mean = values.iter().sum::<f64>() / values.len() as f64;
                let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                    / (values.len() - 1).max(1) as f64;
                Some(
                    student_quantile(1.0 - alpha / 2.0, (n - 1) as u32)
                        * (variance / n as f64).sqrt(),
                )
            }
            Source::Rounds => Some(
                successive_difference_critical(alpha, n)
                    * (2.0 * successive_variance(values) / n as f64).sqrt(),
            ),
            Source::EarlierRuns => None,
        };
        (k..=50).find(|&n| half_at(n).is_some_and(|half| half <= target))
    }

    /// `interval` of `current / baseline - 1`, widened to the run-to-run
    /// interval around the ratio where that is wider; the note for the
    /// reason.
    pub(crate) fn widen_ratio(
        &self,
        key: &Endpoint,
        metric: &Metric,
        (baseline, current): (f64, f64),
        interval: (f64, f64),
        alpha: f64,
    ) -> ((f64, f64), String) {
        let Some((half, note)) = self.half_width(key, metric, alpha) else {
            return (interval, String::new());
        };
        if baseline <= 0.0 || current <= 0.0 {
            return (interval, String::new());
        }
        let center = (current / baseline).ln();
        let between = ((center - half).exp() - 1.0, (center + half).exp() - 1.0);
        widened(interval, between, note)
    }

    /// `interval` of a difference, widened to the run-to-run interval
    /// around `change` where that is wider; the note for the reason.
    pub(crate) fn widen_difference(
        &self,
        key: &Endpoint,
        metric: &Metric,
        change: f64,
        interval: (f64, f64),
        alpha: f64,
    ) -> ((f64, f64), String) {
        let Some((half, note)) = self.half_width(key, metric, alpha) else {
            return (interval, String::new());
        };
        widened(interval, (change - half, change + half), note)
    }
}

/// Von Neumann's estimate of the variance: half the mean squared
/// successive difference, so that a slow trend is not taken for noise.
pub(crate) fn successive_variance(values: &[f64]) -> f64 {
    values
        .windows(2)
        .map(|w| (w[1] - w[0]).powi(2))
        .sum::<f64>()
        / (2.0 * (values.len() - 1) as f64)
}

/// One series of earlier runs: (the run's index, the value).
pub type Series = Vec<(usize, f64)>;

/// Each row's and metric's values over `runs`, in the order the rows first
/// appear: (the run's index, the value as the gate compares it: the log of
/// a percentile or throughput, a failure rate as it is).
pub fn series_of(runs: &[EarlierRun]) -> Vec<((Endpoint, Metric), Series)> {
    let mut all: Vec<((Endpoint, Metric), Series)> = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        for (key, metric, value) in &run.values {
            let value = match metric {
                Metric::FailRate => *value,
                _ if *value > 0.0 => value.ln(),
                _ => continue,
            };
            match all.iter_mut().find(|((k, m), _)| k == key && m == metric) {
                Some((_, series)) => series.push((index, value)),
                None => all.push(((key.clone(), *metric), vec![(index, value)])),
            }
        }
    }
    all
}

/// A level shift found in an earlier run's series.
#[derive(Debug, Clone, PartialEq)]
pub struct Shift {
    pub endpoint: Endpoint,
    pub metric: Metric,
    /// The index of the first run at the new level.
    pub run: usize,
    /// The relative change for a percentile or throughput (-0.48 is a fall
    /// of 48%), the change in fractions for a failure rate.
    pub change: f64,
}

impl Shift {
    /// `p95 of GET /products/[id]/ fell 48%`.
    pub fn describe(&self) -> String {
        let verb = if self.change > 0.0 { "rose" } else { "fell" };
        let size = match self.metric {
            Metric::FailRate => format!("{:.1} pp", self.change.abs() * 100.0),
            _ => format!("{:.0}%", self.change.abs() * 100.0),
        };
        format!("{} of {} {verb} {size}", self.metric, self.endpoint)
    }
}

/// Every change point in the series of `runs`, in the order of the runs.
pub fn shifts(runs: &[EarlierRun]) -> Vec<Shift> {
    let mut found = Vec::new();
    for ((endpoint, metric), series) in series_of(runs) {
        let values: Vec<f64> = series.iter().map(|(_, v)| *v).collect();
        for change in super::changes::change_points(&values) {
            found.push(Shift {
                endpoint: endpoint.clone(),
                metric,
                run: series[change.at].0,
                change: match metric {
                    Metric::FailRate => change.after - change.before,
                    _ => (change.after - change.before).exp() - 1.0,
                },
            });
        }
    }
    found.sort_by_key(|s| s.run);
    found
}

/// The half width, at two-sided level `1 - alpha`, of the interval a
/// history's earlier runs give the difference of two single runs, and the
/// note for the reason: from the runs since the series' last change point
/// (`level`: where it starts, and its commit), one outlier left out.
fn between_runs(
    values: &[f64],
    level: Option<&(usize, String)>,
    alpha: f64,
) -> Option<(f64, String)> {
    let k = values.len();
    let since = &values[level.map_or(0, |(start, _)| *start)..];
    let (variance, df, mut note) = if since.len() >= MIN_EARLIER_RUNS {
        let kept = without_an_outlier(since, alpha * OUTLIER_SHARE);
        let mut note = format!("; from the spread of {} earlier runs", since.len());
        if let Some((_, commit)) = level {
            note.push_str(&format!(" since the change at {}", short(commit)));
        }
        if kept.len() < since.len() {
            note.push_str(", one outlier left out");
        }
        let (variance, df) = sample_variance(&[&kept]);
        (variance, df, note)
    } else {
        // Too few runs since the last change: the spread within each
        // level, pooled; with too few in the levels too, all runs as one,
        // which errs wide.
        let mut levels = levels_of(values);
        if sample_variance(&levels).1 + 1 < MIN_EARLIER_RUNS {
            levels = vec![values];
        }
        let (variance, df) = sample_variance(&levels);
        if df + 1 < MIN_EARLIER_RUNS {
            return None;
        }
        let note = match levels.len() {
            1 => format!("; from the spread of {k} earlier runs"),
            n => format!("; from the spread within the {n} levels of {k} earlier runs"),
        };
        (variance, df, note)
    };
    if let Some((_, commit)) = level.filter(|_| since.len() < MIN_EARLIER_RUNS) {
        note.push_str(&format!(
            " ({} since the change at {})",
            since.len(),
            short(commit)
        ));
    }
    let t = student_quantile(1.0 - alpha / 2.0, df as u32);
    // Baseline and current are one run each.
    Some((t * (2.0 * variance).sqrt(), note))
}

/// The variance within `groups` about each one's mean, pooled, and its
/// degrees of freedom.
fn sample_variance(groups: &[&[f64]]) -> (f64, usize) {
    let mut squares = 0.0;
    let mut df = 0;
    for group in groups.iter().filter(|g| g.len() >= 2) {
        let mean = group.iter().sum::<f64>() / group.len() as f64;
        squares += group.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
        df += group.len() - 1;
    }
    (if df > 0 { squares / df as f64 } else { 0.0 }, df)
}

/// `values` cut at their change points.
fn levels_of(values: &[f64]) -> Vec<&[f64]> {
    let mut starts: Vec<usize> = super::changes::change_points(values)
        .iter()
        .map(|c| c.at)
        .collect();
    starts.insert(0, 0);
    starts.push(values.len());
    starts.windows(2).map(|w| &values[w[0]..w[1]]).collect()
}

/// `values` without its farthest value where Grubbs' test at `alpha`
/// calls that one an outlier; as they are otherwise.
fn without_an_outlier(values: &[f64], alpha: f64) -> Vec<f64> {
    let n = values.len();
    if n < 3 {
        return values.to_vec();
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let Some((farthest, deviation)) = values
        .iter()
        .map(|v| (v - mean).abs())
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
    else {
        return values.to_vec();
    };
    if sd > 0.0 && deviation / sd > grubbs_critical(alpha, n) {
        let mut kept = values.to_vec();
        kept.remove(farthest);
        kept
    } else {
        values.to_vec()
    }
}

/// A commit as people write it: its first seven characters.
fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// The wider of a run's own interval and the one from run-to-run noise;
/// the note only when the latter made a difference.
fn widened(own: (f64, f64), between: (f64, f64), note: String) -> ((f64, f64), String) {
    let interval = (own.0.min(between.0), own.1.max(between.1));
    let note = if between.1 - between.0 > own.1 - own.0 {
        note
    } else {
        String::new()
    };
    (interval, note)
}

/// One pair of rounds' differences for each metric both can measure.
fn row_differences(b: &RowStats, c: &RowStats, rules: &Rules) -> Vec<(Metric, f64)> {
    let baseline = row_values(b, rules);
    row_values(c, rules)
        .into_iter()
        .filter_map(|(metric, value)| {
            let (_, before) = baseline.iter().find(|(m, _)| *m == metric)?;
            Some((metric, value - before))
        })
        .collect()
}

/// A round's value of each metric it can measure: log values for latency
/// and throughput, the failure rate as a fraction.
fn row_values(s: &RowStats, rules: &Rules) -> Vec<(Metric, f64)> {
    let mut out = Vec::new();
    if s.requests < rules.min_samples.max(1) {
        return out;
    }
    for &percent in &rules.percentiles {
        let q = percent / 100.0;
        // A round must have requests beyond the percentile to place it.
        if (1.0 - q) * (s.timed as f64) < 1.0 {
            continue;
        }
        if let Some(value) = quantile(&s.latency, q, s.timed).filter(|v| *v > 0.0) {
            out.push((Metric::Percentile(percent), value.ln()));
        }
    }
    out.push((Metric::FailRate, s.failures as f64 / s.requests as f64));
    if s.requests_per_second > 0.0 {
        out.push((Metric::Throughput, s.requests_per_second.ln()));
    }
    out
}

#[cfg(test)]
mod tests;
