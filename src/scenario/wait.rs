//! Locust's wait-time functions, parsed from their familiar spelling.

use std::time::Duration;

use rand::Rng;

pub const ACCEPTED_FORMS: &str = "between(min, max), constant(seconds), constant_pacing(seconds) or constant_throughput(tasks_per_second)";

/// How long a user waits after each task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wait {
    /// Uniformly random in `[min, max]`.
    Between(Duration, Duration),
    Constant(Duration),
    /// Task starts are `period` apart, however long the task took.
    ConstantPacing(Duration),
}

impl Default for Wait {
    /// Locust's default: no wait at all.
    fn default() -> Self {
        Wait::Constant(Duration::ZERO)
    }
}

impl Wait {
    pub fn parse(text: &str) -> Result<Wait, String> {
        let invalid = || format!("invalid wait `{text}`: expected {ACCEPTED_FORMS}");
        let (function, rest) = text.trim().split_once('(').ok_or_else(invalid)?;
        let arguments = rest.strip_suffix(')').ok_or_else(invalid)?;
        let numbers: Vec<f64> = arguments
            .split(',')
            .map(|a| a.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| invalid())?;
        let seconds = |value: f64| {
            crate::bounds::seconds(value).ok_or_else(|| {
                format!("invalid wait `{text}`: times must be from 0 seconds to 30 days")
            })
        };
        match (function.trim(), numbers.as_slice()) {
            ("between", [min, max]) if min <= max => {
                Ok(Wait::Between(seconds(*min)?, seconds(*max)?))
            }
            ("between", [_, _]) => Err(format!(
                "invalid wait `{text}`: the minimum is larger than the maximum"
            )),
            ("constant", [value]) => Ok(Wait::Constant(seconds(*value)?)),
            ("constant_pacing", [value]) => Ok(Wait::ConstantPacing(seconds(*value)?)),
            ("constant_throughput", [rate]) => crate::bounds::rate(*rate, "the rate")
                .map(|rate| Wait::ConstantPacing(Duration::from_secs_f64(1.0 / rate)))
                .map_err(|e| format!("invalid wait `{text}`: {e}")),
            _ => Err(invalid()),
        }
    }

    /// The wait after a task that took `task_took`.
    pub fn after(&self, task_took: Duration, rng: &mut impl Rng) -> Duration {
        match *self {
            Wait::Between(min, max) if min == max => min,
            Wait::Between(min, max) => {
                Duration::from_secs_f64(rng.gen_range(min.as_secs_f64()..=max.as_secs_f64()))
            }
            Wait::Constant(wait) => wait,
            Wait::ConstantPacing(period) => period.saturating_sub(task_took),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn parses_every_locust_form() {
        assert_eq!(
            Wait::parse("between(0, 1.9)"),
            Ok(Wait::Between(Duration::ZERO, Duration::from_millis(1900)))
        );
        assert_eq!(
            Wait::parse(" constant(2) "),
            Ok(Wait::Constant(Duration::from_secs(2)))
        );
        assert_eq!(
            Wait::parse("constant_pacing(0.5)"),
            Ok(Wait::ConstantPacing(Duration::from_millis(500)))
        );
        assert_eq!(
            Wait::parse("constant_throughput(4)"),
            Ok(Wait::ConstantPacing(Duration::from_millis(250)))
        );
    }

    #[test]
    fn rejects_malformed_waits_with_the_accepted_forms() {
        for bad in [
            "between(2, 1)",
            "sometimes(1)",
            "between(1)",
            "constant(-1)",
            "constant_throughput(0)",
            "constant",
        ] {
            let error = Wait::parse(bad).unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
        assert!(Wait::parse("nap(3)")
            .unwrap_err()
            .contains("between(min, max)"));
    }

    #[test]
    fn between_stays_in_range_and_pacing_subtracts_task_time() {
        let mut rng = SmallRng::seed_from_u64(1);
        let wait = Wait::parse("between(0.1, 0.2)").unwrap();
        for _ in 0..1000 {
            let w = wait.after(Duration::ZERO, &mut rng);
            assert!(w >= Duration::from_millis(100) && w <= Duration::from_millis(200));
        }
        let pacing = Wait::ConstantPacing(Duration::from_secs(1));
        assert_eq!(
            pacing.after(Duration::from_millis(300), &mut rng),
            Duration::from_millis(700)
        );
        assert_eq!(
            pacing.after(Duration::from_secs(2), &mut rng),
            Duration::ZERO
        );
    }
}
