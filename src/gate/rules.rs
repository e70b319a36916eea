//! The gate's rules: what is compared, how much change is tolerated, and the
//! absolute thresholds. Written as a `[gate]` table in the scenario or in a
//! rules file for `compare`, and overridden by flags.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::thresholds::Threshold;
use crate::diagnostic::{from_toml_error, nearest, Diagnostics, ScenarioError};
use crate::units::parse_duration;

/// What is compared per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricKind {
    Latency,
    FailRate,
    Throughput,
}

impl MetricKind {
    pub const ALL: [MetricKind; 3] = [
        MetricKind::Latency,
        MetricKind::FailRate,
        MetricKind::Throughput,
    ];

    pub fn key(self) -> &'static str {
        match self {
            MetricKind::Latency => "latency",
            MetricKind::FailRate => "fail_rate",
            MetricKind::Throughput => "throughput",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|m| m.key() == text).ok_or_else(|| {
            let suggestion = nearest(text, &["latency", "fail_rate", "throughput"])
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            format!("unknown metric `{text}`: expected latency, fail_rate or throughput{suggestion}")
        })
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingPolicy {
    /// A row the baseline had and this run did not hit fails when its
    /// absence cannot be chance (see `gate::absence_by_chance`), else warns.
    Auto,
    Fail,
    Warn,
    Ignore,
}

impl MissingPolicy {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Self::Auto),
            "fail" => Ok(Self::Fail),
            "warn" => Ok(Self::Warn),
            "ignore" => Ok(Self::Ignore),
            _ => Err(format!(
                "invalid missing policy `{text}`: expected auto, fail, warn or ignore"
            )),
        }
    }
}

/// What an undecided (`inconclusive`) gated comparison does to the exit
/// code: passes by default, so that noise alone never fails a build, or
/// fails, for a team that wants every merge decided (with `--against
/// --until-decided` to decide more of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InconclusivePolicy {
    Pass,
    Fail,
}

impl InconclusivePolicy {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "pass" => Ok(Self::Pass),
            "fail" => Ok(Self::Fail),
            _ => Err(format!(
                "invalid inconclusive policy `{text}`: expected pass or fail"
            )),
        }
    }
}

/// How much change a metric tolerates before it counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Relative for latency and throughput (0.1 is 10%); percentage points as
    /// a fraction for the failure rate (0.01 is 1 point).
    pub allowed: f64,
    /// Latency changes smaller than this many milliseconds never count.
    pub floor_ms: f64,
}

/// Rules for the rows whose name matches a glob.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub name: String,
    pub method: Option<String>,
    pub metric: Option<MetricKind>,
    pub allowed: Option<f64>,
    pub floor_ms: Option<f64>,
    pub gate: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Latency percentiles compared, in percent.
    pub percentiles: Vec<f64>,
    /// Metrics that can fail the gate.
    pub gated: Vec<MetricKind>,
    pub latency: Tolerance,
    pub fail_rate: Tolerance,
    pub throughput: Tolerance,
    /// Below this many requests on either side, a row is inconclusive.
    pub min_samples: u64,
    pub missing: MissingPolicy,
    /// Whether an inconclusive gated comparison fails the gate.
    pub inconclusive: InconclusivePolicy,
    /// The highest failure rate of the whole run that passes, with or without
    /// a baseline; `None` when switched off.
    pub max_fail_rate: Option<f64>,
    /// Family-wise confidence over all comparisons of one verdict.
    pub confidence: f64,
    pub overrides: Vec<Override>,
    /// Row pattern (`GET /path`, `Aggregated` or `*`) → thresholds.
    pub thresholds: Vec<(String, Vec<Threshold>)>,
}

/// Locust exits 1 on any failure; one connection reset in thousands of
/// requests would then fail a gate on a busy runner. 1% lets that pass and
/// still fails a service whose errors matter; statuses a scenario expects
/// (`check.status`) are not failures at all.
pub const DEFAULT_MAX_FAIL_RATE: f64 = 0.01;

impl Default for Rules {
    fn default() -> Self {
        Self {
            percentiles: vec![50.0, 95.0, 99.0],
            gated: MetricKind::ALL.to_vec(),
            latency: Tolerance {
                allowed: 0.10,
                floor_ms: 1.0,
            },
            fail_rate: Tolerance {
                allowed: 0.01,
                floor_ms: 0.0,
            },
            throughput: Tolerance {
                allowed: 0.10,
                floor_ms: 0.0,
            },
            min_samples: 20,
            missing: MissingPolicy::Auto,
            inconclusive: InconclusivePolicy::Pass,
            max_fail_rate: Some(DEFAULT_MAX_FAIL_RATE),
            confidence: 0.95,
            overrides: Vec::new(),
            thresholds: Vec::new(),
        }
    }
}

impl Rules {
    /// The tolerance for one row and metric, and whether it gates at all.
    pub fn for_row(&self, method: &str, name: &str, metric: MetricKind) -> (Tolerance, bool) {
        let mut tolerance = match metric {
            MetricKind::Latency => self.latency,
            MetricKind::FailRate => self.fail_rate,
            MetricKind::Throughput => self.throughput,
        };
        let mut gated = self.gated.contains(&metric);
        for o in &self.overrides {
            let applies = o.metric.is_none_or(|m| m == metric)
                && o.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && glob_matches(&o.name, name);
            if applies {
                tolerance.allowed = o.allowed.unwrap_or(tolerance.allowed);
                tolerance.floor_ms = o.floor_ms.unwrap_or(tolerance.floor_ms);
                gated = o.gate.unwrap_or(gated);
            }
        }
        (tolerance, gated)
    }
}

/// `*` matches any run of characters, `?` any one.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The `[gate]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    pub percentiles: Option<Spanned<Vec<toml::Value>>>,
    pub metrics: Option<Vec<Spanned<String>>>,
    pub min_samples: Option<Spanned<i64>>,
    pub missing: Option<Spanned<String>>,
    pub inconclusive: Option<Spanned<String>>,
    pub max_fail_rate: Option<Spanned<toml::Value>>,
    pub confidence: Option<Spanned<f64>>,
    pub latency: Option<RawTolerance>,
    pub fail_rate: Option<RawTolerance>,
    pub throughput: Option<RawTolerance>,
    #[serde(default, rename = "override")]
    pub overrides: Vec<RawOverride>,
    #[serde(default)]
    pub thresholds: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTolerance {
    pub tolerance: Option<Spanned<String>>,
    pub floor: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOverride {
    pub name: String,
    pub method: Option<String>,
    pub metric: Option<Spanned<String>>,
    pub tolerance: Option<Spanned<String>>,
    pub floor: Option<Spanned<String>>,
    pub gate: Option<bool>,
}

/// A rules file for `compare`: just a `[gate]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRulesFile {
    #[serde(default)]
    pub gate: RawGate,
}

/// Checks a `[gate]` table, reporting each problem at its place.
pub fn compile(raw: &RawGate, d: &mut Diagnostics) -> Rules {
    let mut rules = Rules::default();
    let check = |span: Range<usize>, result: Result<f64, String>, d: &mut Diagnostics| {
        result.map_err(|m| d.error(Some(span), m)).ok()
    };
    if let Some(percentiles) = &raw.percentiles {
        let values: Option<Vec<f64>> = percentiles
            .get_ref()
            .iter()
            .map(|v| {
                v.as_float()
                    .or_else(|| v.as_integer().map(|i| i as f64))
                    .filter(|p| *p > 0.0 && *p <= 100.0)
            })
            .collect();
        match values {
            Some(values) if !values.is_empty() => rules.percentiles = values,
            _ => d.error(
                Some(percentiles.span()),
                "percentiles must be a list of numbers above 0 and at most 100, e.g. [50, 95, 99]",
            ),
        }
    }
    if let Some(metrics) = &raw.metrics {
        rules.gated = metrics
            .iter()
            .filter_map(|m| {
                MetricKind::parse(m.get_ref())
                    .map_err(|e| d.error(Some(m.span()), e))
                    .ok()
            })
            .collect();
    }
    if let Some(min) = &raw.min_samples {
        match u64::try_from(*min.get_ref()) {
            Ok(n) => rules.min_samples = n,
            Err(_) => d.error(Some(min.span()), "min_samples must be zero or more"),
        }
    }
    if let Some(missing) = &raw.missing {
        match MissingPolicy::parse(missing.get_ref()) {
            Ok(policy) => rules.missing = policy,
            Err(e) => d.error(Some(missing.span()), e),
        }
    }
    if let Some(policy) = &raw.inconclusive {
        match InconclusivePolicy::parse(policy.get_ref()) {
            Ok(policy) => rules.inconclusive = policy,
            Err(e) => d.error(Some(policy.span()), e),
        }
    }
    if let Some(max) = &raw.max_fail_rate {
        let parsed = match max.get_ref() {
            toml::Value::String(text) => parse_max_fail_rate(text),
            toml::Value::Boolean(false) => Ok(None),
            other => Err(format!(
                "max_fail_rate must be a percentage such as \"1%\", or \"off\", got {other}"
            )),
        };
        match parsed {
            Ok(value) => rules.max_fail_rate = value,
            Err(e) => d.error(Some(max.span()), e),
        }
    }
    if let Some(confidence) = &raw.confidence {
        let value = *confidence.get_ref();
        if value > 0.5 && value < 1.0 {
            rules.confidence = value;
        } else {
            d.error(
                Some(confidence.span()),
                "confidence must be between 0.5 and 1, e.g. 0.95",
            );
        }
    }
    for (kind, raw_tolerance) in [
        (MetricKind::Latency, &raw.latency),
        (MetricKind::FailRate, &raw.fail_rate),
        (MetricKind::Throughput, &raw.throughput),
    ] {
        let Some(raw_tolerance) = raw_tolerance else {
            continue;
        };
        let target = match kind {
            MetricKind::Latency => &mut rules.latency,
            MetricKind::FailRate => &mut rules.fail_rate,
            MetricKind::Throughput => &mut rules.throughput,
        };
        if let Some(t) = &raw_tolerance.tolerance {
            if let Some(v) = check(t.span(), parse_percent(t.get_ref()), d) {
                target.allowed = v;
            }
        }
        if let Some(f) = &raw_tolerance.floor {
            if kind != MetricKind::Latency {
                d.error(Some(f.span()), "a floor applies to latency only");
            } else if let Some(v) = check(f.span(), parse_floor(f.get_ref()), d) {
                target.floor_ms = v;
            }
        }
    }
    for o in &raw.overrides {
        let metric = o.metric.as_ref().and_then(|m| {
            MetricKind::parse(m.get_ref())
                .map_err(|e| d.error(Some(m.span()), e))
                .ok()
        });
        let allowed = o
            .tolerance
            .as_ref()
            .and_then(|t| check(t.span(), parse_percent(t.get_ref()), d));
        let floor_ms = o
            .floor
            .as_ref()
            .and_then(|f| check(f.span(), parse_floor(f.get_ref()), d));
        rules.overrides.push(Override {
            name: o.name.clone(),
            method: o.method.clone(),
            metric,
            allowed,
            floor_ms,
            gate: o.gate,
        });
    }
    for (row, list) in &raw.thresholds {
        let parsed: Vec<Threshold> = list
            .get_ref()
            .iter()
            .filter_map(|t| {
                Threshold::parse(t.get_ref())
                    .map_err(|e| d.error(Some(t.span()), e))
                    .ok()
            })
            .collect();
        rules.thresholds.push((row.clone(), parsed));
    }
    rules
}

impl Rules {
    /// A rules file's text; `path` names it in messages.
    pub fn parse(path: &std::path::Path, source: &str) -> Result<Rules, ScenarioError> {
        let mut d = Diagnostics::new(path, source);
        let rules = match toml::from_str::<RawRulesFile>(source) {
            Ok(raw) => compile(&raw.gate, &mut d),
            Err(error) => {
                from_toml_error(&mut d, &error);
                Rules::default()
            }
        };
        d.into_result(rules)
    }

    /// The `[gate]` table of a scenario file; the rest of the file is the
    /// scenario's to check.
    pub fn parse_scenario_file(
        path: &std::path::Path,
        source: &str,
    ) -> Result<Rules, ScenarioError> {
        #[derive(Deserialize)]
        struct ScenarioFile {
            gate: Option<RawGate>,
        }
        let mut d = Diagnostics::new(path, source);
        let rules = match toml::from_str::<ScenarioFile>(source) {
            Ok(raw) => raw.gate.map(|g| compile(&g, &mut d)).unwrap_or_default(),
            Err(error) => {
                from_toml_error(&mut d, &error);
                Rules::default()
            }
        };
        d.into_result(rules)
    }
}

/// `10%` → 0.1.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    text.trim()
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v / 100.0)
        .ok_or_else(|| format!("invalid tolerance `{text}`: expected a percentage such as \"10%\""))
}

/// `"1%"` → 0.01, `"off"` → none: the run's failure rate limit.
pub fn parse_max_fail_rate(text: &str) -> Result<Option<f64>, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match parse_percent(text) {
        Ok(v) if v <= 1.0 => Ok(Some(v)),
        _ => Err(format!(
            "invalid max_fail_rate `{text}`: expected a percentage from 0% to 100%, such as \"1%\", or \"off\""
        )),
    }
}

/// `1ms` → 1.0 (milliseconds).
pub fn parse_floor(text: &str) -> Result<f64, String> {
    parse_duration(text).map(|d| d.as_secs_f64() * 1000.0)
}

/// A CSV only knows its percentile columns; comparing another percentile
/// would compare different things.
pub fn check_percentiles(
    stats: &crate::gate::input::RunStats,
    rules: &Rules,
) -> Result<(), crate::InvalidInput> {
    let Some(ladder) = &stats.ladder else {
        return Ok(());
    };
    for percent in &rules.percentiles {
        if !ladder.iter().any(|q| (q * 100.0 - percent).abs() < 1e-9) {
            let columns: Vec<String> = ladder
                .iter()
                .map(|q| format!("{}%", crate::gate::format_percentile(q * 100.0)))
                .collect();
            return Err(crate::InvalidInput(format!(
                "{}: has no {}% column to compare (its percentile columns are {}); choose --percentiles among them",
                stats.source,
                crate::gate::format_percentile(*percent),
                columns.join(", ")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_shells() {
        assert!(glob_matches(
            "/api/v1/auth/*",
            "/api/v1/auth/token/refresh/"
        ));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("/products/?/", "/products/7/"));
        assert!(!glob_matches("/products/?/", "/products/17/"));
        assert!(!glob_matches("/api/*/x", "/api/v1/y"));
        assert!(glob_matches("*[id]*", "/api/v1/products/[id]/"));
    }

    #[test]
    fn overrides_apply_in_order_to_matching_rows() {
        let rules = Rules {
            overrides: vec![
                Override {
                    name: "/auth/*".into(),
                    method: None,
                    metric: Some(MetricKind::Latency),
                    allowed: Some(0.25),
                    floor_ms: Some(5.0),
                    gate: None,
                },
                Override {
                    name: "/health".into(),
                    method: Some("GET".into()),
                    metric: None,
                    allowed: None,
                    floor_ms: None,
                    gate: Some(false),
                },
            ],
            ..Rules::default()
        };
        assert_eq!(
            rules.for_row("POST", "/auth/token/", MetricKind::Latency).0,
            Tolerance {
                allowed: 0.25,
                floor_ms: 5.0
            }
        );
        assert_eq!(
            rules
                .for_row("POST", "/auth/token/", MetricKind::FailRate)
                .0
                .allowed,
            0.01
        );
        assert!(!rules.for_row("GET", "/health", MetricKind::Throughput).1);
        assert!(rules.for_row("POST", "/health", MetricKind::Throughput).1);
    }

    #[test]
    fn percentages_and_floors_parse() {
        assert_eq!(parse_percent("10%"), Ok(0.1));
        assert_eq!(parse_percent(" 2.5 % "), Ok(0.025));
        assert!(parse_percent("10").unwrap_err().contains("\"10%\""));
        assert_eq!(parse_floor("1ms"), Ok(1.0));
        assert_eq!(parse_floor("0.5s"), Ok(500.0));
    }

    #[test]
    fn unknown_metrics_are_named_with_a_suggestion() {
        assert!(MetricKind::parse("latncy")
            .unwrap_err()
            .contains("did you mean `latency`?"));
    }
}
