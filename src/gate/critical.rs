//! Critical values for intervals whose spread is itself estimated from a
//! few values: the design effect from a run's time blocks, the noise
//! between rounds, an outlier among earlier runs. Each is the exact value
//! for normal data at the level the gate actually uses (after the split of
//! the error budget over many comparisons, often below 0.2%), not a
//! normal or an approximate degrees-of-freedom rule, which err most in the
//! far tail: Student's t on `k − 1` degrees of freedom for a successive-
//! difference variance of `k` values misses 2-3 times as often as it
//! should there.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::stats::{normal_quantile, student_quantile};

/// `c` such that `P(|Z| > c·√V) = alpha`, where `Z` is standard normal and
/// `V`, independent of it, is the successive-difference variance (half the
/// mean squared successive difference) of `k` independent standard normal
/// values: the exact critical value of an estimate divided by a standard
/// error that von Neumann's estimator gave. `k` ≥ 2.
///
/// `(k − 1)·2V` is a quadratic form `Σ λⱼ χ²₁` with the eigenvalues
/// `λⱼ = 2 − 2 cos(πj/k)` of the differences' Gram matrix, so
/// `Z² − c²V` is a weighted sum of independent χ²₁ and its chance of being
/// positive is Imhof's integral (Imhof 1961), which is found here by the
/// midpoint rule and solved for `c` by bisection. Values are kept, since a
/// verdict asks for the same few again and again.
pub fn successive_difference_critical(alpha: f64, k: usize) -> f64 {
    assert!(k >= 2, "at least two values");
    assert!(
        alpha > 0.0 && alpha < 1.0,
        "a level strictly between 0 and 1"
    );
    static KNOWN: OnceLock<Mutex<HashMap<(usize, u64), f64>>> = OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    if let Some(&c) = known.lock().unwrap().get(&(k, alpha.to_bits())) {
        return c;
    }
    let mut low = normal_quantile(1.0 - alpha / 2.0);
    let mut high = 2.0 * low;
    while exceeds(high, k) > alpha {
        high *= 2.0;
    }
    for _ in 0..50 {
        let mid = (low + high) / 2.0;
        if exceeds(mid, k) > alpha {
            low = mid;
        } else {
            high = mid;
        }
    }
    let c = (low + high) / 2.0;
    known.lock().unwrap().insert((k, alpha.to_bits()), c);
    c
}

/// `P(|Z| > c·√V)` for [`successive_difference_critical`].
fn exceeds(c: f64, k: usize) -> f64 {
    let mut weights = vec![1.0];
    let denominator = 2.0 * (k - 1) as f64;
    weights.extend((1..k).map(|j| {
        let lambda = 2.0 - 2.0 * (std::f64::consts::PI * j as f64 / k as f64).cos();
        -c * c * lambda / denominator
    }));
    // P(Σ wᵢ χ²₁ > 0) = 1/2 + 1/π ∫₀^∞ sin θ(u) / (u ρ(u)) du, with
    // θ(u) = ½ Σ atan(wᵢu) and ρ(u) = Π (1 + wᵢ²u²)^¼; u = t / (1 − t)
    // maps the half line onto (0, 1).
    const STEPS: usize = 4000;
    let mut integral = 0.0;
    for step in 0..STEPS {
        let t = (step as f64 + 0.5) / STEPS as f64;
        let u = t / (1.0 - t);
        let mut theta = 0.0;
        let mut log_rho = 0.0;
        for w in &weights {
            theta += (w * u).atan();
            log_rho += (w * w * u * u).ln_1p();
        }
        integral += (theta / 2.0).sin() / (u * (log_rho / 4.0).exp()) / (1.0 - t).powi(2);
    }
    (0.5 + integral / STEPS as f64 / std::f64::consts::PI).clamp(0.0, 1.0)
}

/// The design effect's own degrees of freedom matter: the factor by which
/// the variance of an interval at two-sided level `1 − alpha` must grow
/// when its design effect was estimated from `blocks` blocks by successive
/// differences, so that a normal interval on the grown variance is as wide
/// as the exact one. 1 without enough blocks (the effect was not estimated).
pub fn estimated_effect_widening(alpha: f64, blocks: usize) -> f64 {
    if blocks < super::dependence::MIN_BLOCKS {
        return 1.0;
    }
    let z = normal_quantile(1.0 - alpha / 2.0);
    (successive_difference_critical(alpha, blocks) / z).powi(2)
}

/// Grubbs' critical value for the largest studentised deviation
/// `max |xᵢ − x̄| / s` of `n` normal values at level `alpha`: above it, the
/// farthest value is an outlier with chance at most `alpha` under the null
/// (exact for one outlier, from Student's t on `n − 2` degrees of freedom).
pub fn grubbs_critical(alpha: f64, n: usize) -> f64 {
    assert!(n >= 3, "at least three values");
    let n_f = n as f64;
    let t = student_quantile(1.0 - alpha / (2.0 * n_f), (n - 2) as u32);
    (n_f - 1.0) / n_f.sqrt() * (t * t / (n_f - 2.0 + t * t)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::spread::successive_variance;
    use crate::gate::stats::standard_normal;
    use rand::SeedableRng;

    #[test]
    fn the_critical_value_meets_known_limits() {
        // With many values the estimate is all but exact: the normal's.
        let alpha = 0.05;
        let c = successive_difference_critical(alpha, 400);
        assert!((c - 1.96).abs() < 0.02, "{c}");
        // Two values: V is one squared difference over two, Z/√V is
        // Student's t on one degree of freedom.
        let c = successive_difference_critical(alpha, 2);
        assert!((c - 12.706).abs() < 0.01, "{c}");
        // Wider than the normal, narrower than with fewer values.
        let level = 0.05 / 30.0;
        let (few, more) = (
            successive_difference_critical(level, 8),
            successive_difference_critical(level, 32),
        );
        assert!(few > more && more > normal_quantile(1.0 - level / 2.0));
    }

    /// The miss rate at the per-comparison level the gate uses (5% over
    /// 30 comparisons), for k = 4..32 values, within simulation error of
    /// nominal: 150,000 draws each expect 250 misses, with a standard error
    /// of 16; the bound is four of those.
    #[test]
    fn the_successive_difference_critical_value_holds_its_level() {
        let alpha = 0.05 / 30.0;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(28);
        let draws = 150_000;
        for k in [4, 6, 8, 12, 20, 32] {
            let c = successive_difference_critical(alpha, k);
            let mut values = vec![0.0; k];
            let mut misses = 0;
            for _ in 0..draws {
                for v in values.iter_mut() {
                    *v = standard_normal(&mut rng);
                }
                let z = standard_normal(&mut rng);
                if z.abs() > c * successive_variance(&values).sqrt() {
                    misses += 1;
                }
            }
            let expected = alpha * draws as f64;
            let error = expected.sqrt();
            assert!(
                (misses as f64 - expected).abs() < 4.0 * error,
                "k = {k}: {misses} misses against {expected:.0} (c = {c:.3})"
            );
        }
    }

    #[test]
    fn grubbs_holds_its_level_and_finds_a_gross_outlier() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let alpha = 0.01;
        let draws = 40_000;
        for n in [5, 10, 30] {
            let g = grubbs_critical(alpha, n);
            let mut flagged = 0;
            let mut values = vec![0.0; n];
            for _ in 0..draws {
                for v in values.iter_mut() {
                    *v = standard_normal(&mut rng);
                }
                let mean = values.iter().sum::<f64>() / n as f64;
                let s = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64)
                    .sqrt();
                let largest = values.iter().map(|v| (v - mean).abs()).fold(0.0, f64::max);
                if largest / s > g {
                    flagged += 1;
                }
            }
            // Grubbs' value is a Bonferroni bound over the n values: at
            // most alpha, and close to it.
            let rate = flagged as f64 / draws as f64;
            assert!(rate < alpha * 1.15 && rate > alpha * 0.6, "n = {n}: {rate}");
        }
        // One run at ten times the others' spread among 12.
        let mut values: Vec<f64> = (0..12).map(|_| standard_normal(&mut rng)).collect();
        values[5] += 12.0;
        let mean = values.iter().sum::<f64>() / 12.0;
        let s = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 11.0).sqrt();
        assert!((values[5] - mean) / s > grubbs_critical(alpha, 12));
    }
}
