//! Absolute thresholds in k6's spelling: `p(95)<200ms`, `avg<100ms`,
//! `fail_rate<1%`, `rps>50`. They hold with or without a baseline.

use std::fmt;

/// What a threshold reads from a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    /// A latency percentile, in percent.
    Percentile(f64),
    Average,
    Median,
    Min,
    Max,
    FailRate,
    RequestsPerSecond,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub source: String,
    pub aggregate: Aggregate,
    pub op: Op,
    /// Milliseconds for latencies, a fraction for the failure rate,
    /// requests per second for throughput.
    pub limit: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

const FORMS: &str = "p(95)<200ms, avg<100ms, med<50ms, min<5ms, max<2s, fail_rate<1% or rps>50";

impl Threshold {
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let invalid = |why: &str| {
            format!("invalid threshold `{text}`: {why}; expected a form such as {FORMS}")
        };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let position = compact
            .find(['<', '>'])
            .ok_or_else(|| invalid("no comparison (<, <=, > or >=)"))?;
        let (left, rest) = compact.split_at(position);
        let (op, right) = if let Some(r) = rest.strip_prefix("<=") {
            (Op::LessOrEqual, r)
        } else if let Some(r) = rest.strip_prefix(">=") {
            (Op::GreaterOrEqual, r)
        } else if let Some(r) = rest.strip_prefix('<') {
            (Op::Less, r)
        } else {
            (Op::Greater, &rest[1..])
        };
        let aggregate = match left {
            "avg" => Aggregate::Average,
            "med" => Aggregate::Median,
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            "fail_rate" => Aggregate::FailRate,
            "rps" => Aggregate::RequestsPerSecond,
            _ => {
                let percent = left
                    .strip_prefix("p(")
                    .and_then(|p| p.strip_suffix(')'))
                    .and_then(|p| p.parse::<f64>().ok())
                    .filter(|p| *p > 0.0 && *p <= 100.0)
                    .ok_or_else(|| invalid(&format!("unknown aggregate `{left}`")))?;
                Aggregate::Percentile(percent)
            }
        };
        let limit = match aggregate {
            Aggregate::FailRate => match right.strip_suffix('%') {
                Some(percent) => percent.parse::<f64>().map(|p| p / 100.0).ok(),
                None => right.parse::<f64>().ok(),
            },
            Aggregate::RequestsPerSecond => right
                .strip_suffix("/s")
                .unwrap_or(right)
                .parse::<f64>()
                .ok(),
            _ => match right.parse::<f64>() {
                // A bare number is milliseconds, as in k6.
                Ok(ms) => Some(ms),
                Err(_) => crate::units::parse_duration(right)
                    .ok()
                    .map(|d| d.as_secs_f64() * 1000.0),
            },
        }
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| invalid(&format!("`{right}` is not a valid limit")))?;
        Ok(Threshold {
            source: text.trim().to_owned(),
            aggregate,
            op,
            limit,
        })
    }

    pub fn holds(&self, value: f64) -> bool {
        match self.op {
            Op::Less => value < self.limit,
            Op::LessOrEqual => value <= self.limit,
            Op::Greater => value > self.limit,
            Op::GreaterOrEqual => value >= self.limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_forms() {
        let t = Threshold::parse("p(95)<200ms").unwrap();
        assert_eq!(
            (t.aggregate, t.op, t.limit),
            (Aggregate::Percentile(95.0), Op::Less, 200.0)
        );
        assert_eq!(Threshold::parse("p(99.9) <= 1s").unwrap().limit, 1000.0);
        assert_eq!(Threshold::parse("avg<150").unwrap().limit, 150.0);
        assert_eq!(Threshold::parse("fail_rate<1%").unwrap().limit, 0.01);
        assert_eq!(Threshold::parse("fail_rate<0.02").unwrap().limit, 0.02);
        let rps = Threshold::parse("rps>=50").unwrap();
        assert_eq!(
            (rps.aggregate, rps.op, rps.limit),
            (Aggregate::RequestsPerSecond, Op::GreaterOrEqual, 50.0)
        );
    }

    #[test]
    fn malformed_thresholds_say_what_is_valid() {
        for bad in [
            "p95<200ms",
            "p(95)",
            "p(101)<1s",
            "p(95)<fast",
            "latency<1s",
            "fail_rate<lots",
        ] {
            let error = Threshold::parse(bad).unwrap_err();
            assert!(
                error.contains(bad) && error.contains("p(95)<200ms"),
                "{error}"
            );
        }
    }

    #[test]
    fn comparisons_hold_or_not() {
        let t = Threshold::parse("p(95)<200ms").unwrap();
        assert!(t.holds(199.9) && !t.holds(200.0));
        assert!(Threshold::parse("p(95)<=200ms").unwrap().holds(200.0));
    }
}
