//! The statistics behind a verdict: distribution-free confidence intervals for
//! quantiles, score intervals for failure rates, and Poisson intervals for
//! throughput. Pure functions; the method is written up in docs/gate.md.

/// The standard normal quantile function (Acklam's rational approximation,
/// relative error below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    assert!(p > 0.0 && p < 1.0, "a probability strictly between 0 and 1");
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The ranks (1-based) of the order statistics that bound the `q` quantile of
/// `n` samples with two-sided confidence `1 - alpha`, whatever the
/// distribution: the number of samples below the true quantile is
/// Binomial(n, q), approximated here by a normal with continuity correction.
/// `None` on a side means the interval is unbounded there: too few samples.
pub fn quantile_rank_interval(n: u64, q: f64, alpha: f64) -> (Option<u64>, Option<u64>) {
    let z = normal_quantile(1.0 - alpha / 2.0);
    let n_f = n as f64;
    let spread = z * (n_f * q * (1.0 - q)).sqrt();
    // X(l) <= quantile needs at least l samples below it: P(B >= l) >= 1 - alpha/2.
    let lower = (n_f * q - spread + 0.5).floor();
    // X(u) >= quantile needs at most u - 1 below it: P(B <= u - 1) >= 1 - alpha/2.
    let upper = (n_f * q + spread + 0.5).ceil();
    let lower = (lower >= 1.0).then_some(lower as u64);
    let upper = (upper <= n_f).then_some(upper as u64);
    (lower, upper)
}

/// Wilson's score interval for a proportion `successes / n`. The counts are
/// effective counts: a run's counts divided by its design effect
/// ([`super::dependence`]) need not be whole.
pub fn wilson_interval(successes: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let p = successes / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Newcombe's hybrid score interval for the difference of two proportions
/// `p2 - p1` (method 10 of Newcombe 1998), at two-sided level `1 - alpha`.
/// Unlike the Wald interval it behaves with few failures and rates near 0.
/// Counts are effective counts (see [`wilson_interval_f64`]).
pub fn difference_interval(
    failures_1: f64,
    n_1: f64,
    failures_2: f64,
    n_2: f64,
    alpha: f64,
) -> (f64, f64) {
    let z = normal_quantile(1.0 - alpha / 2.0);
    let rate = |failures: f64, n: f64| if n > 0.0 { failures / n } else { 0.0 };
    let (p1, p2) = (rate(failures_1, n_1), rate(failures_2, n_2));
    let (l1, u1) = wilson_interval(failures_1, n_1, z);
    let (l2, u2) = wilson_interval(failures_2, n_2, z);
    let d = p2 - p1;
    let lower = d - ((p2 - l2).powi(2) + (u1 - p1).powi(2)).sqrt();
    let upper = d + ((u2 - p2).powi(2) + (p1 - l1).powi(2)).sqrt();
    (lower, upper)
}

/// An interval for a Poisson count `n` at two-sided level `1 - alpha`
/// (normal approximation with continuity correction; exact enough for the
/// hundreds of requests a gate needs), widened for a design effect
/// `effect` ≥ 1: the count of `n / effect` independent clusters, scaled back.
pub fn poisson_interval(n: u64, alpha: f64, effect: f64) -> (f64, f64) {
    let z = normal_quantile(1.0 - alpha / 2.0);
    let clusters = n as f64 / effect;
    let spread = z * (clusters + 0.5).sqrt();
    (
        (clusters - spread - 0.5).max(0.0) * effect,
        (clusters + spread + 0.5) * effect,
    )
}

/// The interval of `current / baseline - 1` from an interval for each, which
/// holds with at least the product of their confidences (a union bound).
pub fn ratio_interval(baseline: (f64, f64), current: (f64, f64)) -> (f64, f64) {
    let lower = if baseline.1.is_finite() && baseline.1 > 0.0 {
        current.0 / baseline.1 - 1.0
    } else {
        -1.0
    };
    let upper = if baseline.0 > 0.0 {
        current.1 / baseline.0 - 1.0
    } else {
        f64::INFINITY
    };
    (lower, upper)
}

/// Student's t distribution with `df` degrees of freedom: P(T <= t),
/// exact for whole `df` (Abramowitz and Stegun 26.7.3 and 26.7.4).
pub fn student_cdf(t: f64, df: u32) -> f64 {
    assert!(df >= 1, "at least one degree of freedom");
    let theta = (t.abs() / f64::from(df).sqrt()).atan();
    let (sin, cos) = theta.sin_cos();
    let cos2 = cos * cos;
    // P(|T| <= |t|) as a finite series in cos²θ.
    let mut term = 1.0;
    let mut series = 1.0;
    let within = if df % 2 == 1 {
        let mut k = 2;
        while k + 3 <= df {
            term *= cos2 * f64::from(k) / f64::from(k + 1);
            series += term;
            k += 2;
        }
        let series = if df == 1 { 0.0 } else { sin * cos * series };
        2.0 / std::f64::consts::PI * (theta + series)
    } else {
        let mut k = 2;
        while k < df {
            term *= cos2 * f64::from(k - 1) / f64::from(k);
            series += term;
            k += 2;
        }
        sin * series
    };
    let within = within.clamp(0.0, 1.0);
    if t >= 0.0 {
        0.5 + within / 2.0
    } else {
        0.5 - within / 2.0
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom, p > 0.5.
pub fn student_quantile(p: f64, df: u32) -> f64 {
    assert!(p > 0.5 && p < 1.0, "an upper quantile");
    if df > 1000 {
        return normal_quantile(p);
    }
    let (mut low, mut high) = (0.0, 1.0);
    while student_cdf(high, df) < p {
        high *= 2.0;
        if high > 1e12 {
            return f64::INFINITY;
        }
    }
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if student_cdf(mid, df) < p {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

/// A standard normal draw (Box and Muller), for the simulations in tests.
#[cfg(test)]
pub(crate) fn standard_normal(rng: &mut rand::rngs::SmallRng) -> f64 {
    use rand::Rng;
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    let v: f64 = rng.gen();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_quantiles_match_tables() {
        // Two-sided 95% and 99.9% points.
        for (df, t95, t999) in [
            (1, 12.706, 636.62),
            (2, 4.303, 31.599),
            (3, 3.182, 12.924),
            (5, 2.571, 6.869),
            (10, 2.228, 4.587),
            (30, 2.042, 3.646),
        ] {
            let got = student_quantile(0.975, df);
            assert!((got - t95).abs() < 1e-3 * t95, "df {df}: {got}");
            let got = student_quantile(0.9995, df);
            assert!((got - t999).abs() < 2e-3 * t999, "df {df}: {got}");
        }
        assert!((student_cdf(0.0, 4) - 0.5).abs() < 1e-12);
        assert!((student_cdf(-2.776, 4) - 0.025).abs() < 1e-4);
    }

    #[test]
    fn normal_quantiles_match_tables() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-6);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.001) + 3.090232).abs() < 1e-6);
        assert!((normal_quantile(0.999_99) - 4.264891).abs() < 1e-5);
    }

    #[test]
    fn quantile_ranks_widen_with_confidence_and_vanish_with_few_samples() {
        // 1000 samples, median: the 469th to 532nd, as tables of the exact
        // binomial give.
        let (lower, upper) = quantile_rank_interval(1000, 0.5, 0.05);
        assert_eq!((lower, upper), (Some(469), Some(532)));
        let (wide_lower, wide_upper) = quantile_rank_interval(1000, 0.5, 0.001);
        assert!(wide_lower.unwrap() < 469 && wide_upper.unwrap() > 532);
        // The p99 of 170 requests: the upper bound would need a 172nd sample.
        assert_eq!(quantile_rank_interval(170, 0.99, 0.05).1, None);
        assert_eq!(quantile_rank_interval(10, 0.05, 0.05).0, None);
    }

    /// The rank interval covers the true quantile as often as it claims, for
    /// any continuous distribution: checked by simulation on uniforms.
    #[test]
    fn quantile_interval_coverage_holds_in_simulation() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for &(n, q) in &[(200u64, 0.5), (500, 0.95), (2000, 0.99)] {
            let (lower, upper) = quantile_rank_interval(n, q, 0.05);
            let (lower, upper) = (lower.unwrap() as usize, upper.unwrap() as usize);
            let trials = 2000;
            let mut covered = 0;
            for _ in 0..trials {
                let mut samples: Vec<f64> = (0..n).map(|_| rng.gen::<f64>()).collect();
                samples.sort_by(f64::total_cmp);
                if samples[lower - 1] <= q && q <= samples[upper - 1] {
                    covered += 1;
                }
            }
            let coverage = covered as f64 / trials as f64;
            assert!(coverage >= 0.94, "n={n} q={q}: coverage {coverage}");
        }
    }

    #[test]
    fn wilson_and_newcombe_behave_at_the_edges() {
        let (lower, upper) = wilson_interval(0.0, 100.0, 1.96);
        assert_eq!(lower, 0.0);
        assert!((upper - 0.037).abs() < 0.001, "{upper}");
        // Newcombe's own example 1: 56/70 vs 48/80: difference 0.2, CI 0.0524..0.3339.
        let (lower, upper) = difference_interval(48.0, 80.0, 56.0, 70.0, 0.05);
        assert!(
            (lower - 0.0524).abs() < 0.0005 && (upper - 0.3339).abs() < 0.0005,
            "{lower} {upper}"
        );
    }

    #[test]
    fn poisson_and_ratio_intervals() {
        let (lower, upper) = poisson_interval(10_000, 0.05, 1.0);
        assert!(
            (lower - 9803.5).abs() < 1.0 && (upper - 10196.5).abs() < 1.0,
            "{lower} {upper}"
        );
        let (lower, upper) = ratio_interval((9.0, 11.0), (12.0, 13.0));
        assert!(
            (lower - (12.0 / 11.0 - 1.0)).abs() < 1e-12
                && (upper - (13.0 / 9.0 - 1.0)).abs() < 1e-12
        );
        assert_eq!(
            ratio_interval((0.0, f64::INFINITY), (1.0, 2.0)),
            (-1.0, f64::INFINITY)
        );
    }
}
