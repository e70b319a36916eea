//! Change points in a series of runs: where a metric moved to a new level
//! and stayed there (an improvement landing, a regression merged), as
//! opposed to the noise around a level.
//!
//! The method is Hunter's (Fleming et al., ICPE 2023, now Apache Otava):
//! E-Divisive means (Matteson and James 2014) places each change, and a
//! Student's t test decides whether it is one, instead of E-Divisive's
//! permutation test, so that the same history always gives the same
//! answer. E-Divisive compares whole distributions (energy distances), so
//! it places a change well whatever the shape of the noise; the t test's
//! chance under pure noise is known exactly for normal values, and it is
//! taken over every place a change could have been put (Bonferroni), so a
//! series of pure noise shows a change point with chance at most
//! [`FALSE_CHANGE`]. Found changes split the series and each part is
//! searched again (binary segmentation).

use super::stats::student_cdf;

/// The chance that a series of pure noise shows any change point. Low,
/// because a false change costs more than a missed one: the runs after it
/// are picked for being alike, so the noise they show is too small, while
/// a small level shift that goes unfound only widens the noise a little.
pub const FALSE_CHANGE: f64 = 0.001;
/// The fewest runs on either side of a change: one run alone is an outlier,
/// not a level.
pub const MIN_SEGMENT: usize = 2;

/// A place where a series moved to a new level.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePoint {
    /// The first value of the new level.
    pub at: usize,
    /// The mean before (since the previous change) and after (to the next).
    pub before: f64,
    pub after: f64,
}

/// The change points of `series`, in order.
pub fn change_points(series: &[f64]) -> Vec<ChangePoint> {
    let mut starts = Vec::new();
    split(series, 0, &mut starts);
    starts.sort_unstable();
    let mean = |part: &[f64]| part.iter().sum::<f64>() / part.len() as f64;
    starts
        .iter()
        .enumerate()
        .map(|(i, &at)| {
            let from = if i == 0 { 0 } else { starts[i - 1] };
            let to = starts.get(i + 1).copied().unwrap_or(series.len());
            ChangePoint {
                at,
                before: mean(&series[from..at]),
                after: mean(&series[at..to]),
            }
        })
        .collect()
}

/// Where the last level of `series` starts: 0 without a change point.
pub fn last_level_start(series: &[f64]) -> usize {
    change_points(series).last().map_or(0, |c| c.at)
}

fn split(part: &[f64], offset: usize, starts: &mut Vec<usize>) {
    let Some(at) = best_split(part) else {
        return;
    };
    let places = part.len() + 1 - 2 * MIN_SEGMENT;
    if t_test(&part[..at], &part[at..]) * places as f64 >= FALSE_CHANGE {
        return;
    }
    starts.push(offset + at);
    split(&part[..at], offset, starts);
    split(&part[at..], offset + at, starts);
}

/// The split that E-Divisive means puts a change at: the largest scaled
/// energy distance between the two sides (exponent 1). Sums of distances
/// over any two ranges come from one table of prefix sums, so a split costs
/// O(1) and a series O(n²).
fn best_split(part: &[f64]) -> Option<usize> {
    let n = part.len();
    if n < 2 * MIN_SEGMENT {
        return None;
    }
    // prefix[i][j]: the distances |x_a − x_b| over a < i, b < j.
    let width = n + 1;
    let mut prefix = vec![0.0; width * width];
    for i in 0..n {
        for j in 0..n {
            prefix[(i + 1) * width + j + 1] =
                (part[i] - part[j]).abs() + prefix[i * width + j + 1] + prefix[(i + 1) * width + j]
                    - prefix[i * width + j];
        }
    }
    let sum = |rows: (usize, usize), columns: (usize, usize)| {
        prefix[rows.1 * width + columns.1]
            - prefix[rows.0 * width + columns.1]
            - prefix[rows.1 * width + columns.0]
            + prefix[rows.0 * width + columns.0]
    };
    (MIN_SEGMENT..=n - MIN_SEGMENT)
        .map(|tau| {
            let (m, k) = (tau as f64, (n - tau) as f64);
            // Within a side every pair is counted twice, over m(m − 1)
            // ordered pairs.
            let energy = 2.0 * sum((0, tau), (tau, n)) / (m * k)
                - sum((0, tau), (0, tau)) / (m * (m - 1.0))
                - sum((tau, n), (tau, n)) / (k * (k - 1.0));
            (tau, m * k / (m + k) * energy)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(tau, _)| tau)
}

/// The two-sided p value of Student's pooled t test that `left` and
/// `right` have the same mean.
fn t_test(left: &[f64], right: &[f64]) -> f64 {
    let (m, k) = (left.len() as f64, right.len() as f64);
    let mean = |part: &[f64]| part.iter().sum::<f64>() / part.len() as f64;
    let (a, b) = (mean(left), mean(right));
    let squares =
        |part: &[f64], centre: f64| part.iter().map(|v| (v - centre).powi(2)).sum::<f64>();
    let df = left.len() + right.len() - 2;
    let pooled = (squares(left, a) + squares(right, b)) / df as f64;
    let gap = (a - b).abs();
    if pooled <= 0.0 {
        return if gap > 0.0 { 0.0 } else { 1.0 };
    }
    let t = gap / (pooled * (1.0 / m + 1.0 / k)).sqrt();
    2.0 * (1.0 - student_cdf(t, df as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::stats::standard_normal;
    use rand::SeedableRng;

    fn noise(rng: &mut rand::rngs::SmallRng, n: usize, sd: f64) -> Vec<f64> {
        (0..n).map(|_| standard_normal(rng) * sd).collect()
    }

    #[test]
    fn a_level_shift_is_found_at_its_run() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        // p50 20 ms for 20 runs, then 10 ms for 10, ±5% from run to run.
        let mut series: Vec<f64> = noise(&mut rng, 30, 0.05);
        for (i, v) in series.iter_mut().enumerate() {
            *v += if i < 20 { 20f64.ln() } else { 10f64.ln() };
        }
        let found = change_points(&series);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].at, 20);
        assert!(((found[0].after - found[0].before).exp() - 0.5).abs() < 0.05);
        assert_eq!(last_level_start(&series), 20);
    }

    #[test]
    fn two_steps_are_both_found() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(2);
        let mut series = noise(&mut rng, 36, 0.03);
        for (i, v) in series.iter_mut().enumerate() {
            *v += match i {
                0..12 => 0.0,
                12..25 => 0.4,
                _ => -0.2,
            };
        }
        let at: Vec<usize> = change_points(&series).iter().map(|c| c.at).collect();
        assert_eq!(at, vec![12, 25]);
    }

    /// Pure noise shows a change point in at most FALSE_CHANGE of series,
    /// at every length a history has (2,000 series each).
    #[test]
    fn pure_noise_rarely_shows_a_change() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        for n in [5, 10, 20, 30] {
            let with_change = (0..2000)
                .filter(|_| !change_points(&noise(&mut rng, n, 1.0)).is_empty())
                .count();
            // 2 expected at most.
            assert!(with_change <= 8, "{n} runs: {with_change} of 2000");
        }
    }

    #[test]
    fn one_outlier_is_not_a_level() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(4);
        let mut series = noise(&mut rng, 20, 0.05);
        series[12] += 2.0;
        assert_eq!(change_points(&series), vec![]);
        // Nor at the very end.
        let mut series = noise(&mut rng, 20, 0.05);
        series[19] += 2.0;
        assert_eq!(change_points(&series), vec![]);
    }

    #[test]
    fn flat_series_have_no_change_and_a_jump_in_one_is_certain() {
        assert_eq!(change_points(&[0.0; 10]), vec![]);
        let steps: Vec<f64> = (0..10).map(|i| if i < 5 { 0.0 } else { 0.02 }).collect();
        assert_eq!(change_points(&steps)[0].at, 5);
    }
}
