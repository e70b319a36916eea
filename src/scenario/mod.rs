//! The scenario: what the users do, loaded from TOML and checked before any
//! load is sent.
//!
//! Loading compiles everything the engine needs per request (templates, JSON
//! paths, URLs, header names) once, so the engine's hot path only executes.

mod compile;
mod raw;
pub mod shape;
mod template;
mod wait;

use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderName;
use hyper::Method;
use serde_json_path::JsonPath;

pub use compile::compile;
pub use template::{JsonTemplate, Templates, Text};
pub use wait::Wait;

/// A loaded, checked scenario.
#[derive(Debug)]
pub struct Scenario {
    /// The file name without extension, e.g. `market-api`.
    pub name: String,
    pub host: url::Url,
    pub load: Load,
    pub users: Vec<UserClass>,
    /// Global variables: the scenario's `[vars]` and the `env` it reads.
    pub globals: std::collections::BTreeMap<String, minijinja::Value>,
    pub templates: Arc<Templates>,
    pub tls: Tls,
    /// The host's `user:password`, sent as Basic authentication.
    pub credentials: Option<String>,
    /// Values no output may show: the `env` values the scenario reads and
    /// the host's password.
    pub secrets: crate::text::Secrets,
}

/// How an https host's certificate is checked.
#[derive(Debug, Clone)]
pub struct Tls {
    /// Trusted besides the public roots: a development CA, say.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// `false` accepts any certificate, as `requests` does with `verify=False`.
    pub verify: bool,
}

impl Default for Tls {
    fn default() -> Self {
        Self {
            extra_roots: Vec::new(),
            verify: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    pub users: u64,
    /// Users started per second.
    pub spawn_rate: f64,
    /// Run length, ramp-up included (Locust's `-t`).
    pub duration: Duration,
    /// How long a running task may go on after the run ends.
    pub stop_timeout: Duration,
    pub request_timeout: Duration,
    /// The most bytes of a body kept for a step that reads it (captures,
    /// checks); a longer body fails that request.
    pub body_limit: usize,
    /// The open model: task iterations started per second, on schedule
    /// whether or not earlier ones finished, by the first idle user of the
    /// pool of `users`. `None` is the closed model: each user loops.
    pub arrival_rate: Option<f64>,
    /// `[[load.stage]]`; `None` for a single ramp to `users`. With user
    /// stages `users` is their largest target; with rate stages it is the pool.
    pub stages: Option<Stages>,
    /// Leave the ramp-up out of the statistics (Locust's `--reset-stats`).
    pub reset_stats: bool,
    /// Seeds each user's choices (tasks, waits): user `i` gets `seed + i`,
    /// so a run picks the same sequence every time. `None`: from entropy.
    pub seed: Option<u64>,
}

/// Targets ramped to in turn, each over its stage's duration: all of users
/// or all of rates, never a mix.
#[derive(Debug, Clone, PartialEq)]
pub enum Stages {
    /// Target users: the closed model.
    Users(Vec<(Duration, u64)>),
    /// Target iterations started per second: the open model.
    Rates(Vec<(Duration, f64)>),
}

impl Stages {
    pub fn durations(&self) -> Vec<Duration> {
        match self {
            Self::Users(stages) => stages.iter().map(|s| s.0).collect(),
            Self::Rates(stages) => stages.iter().map(|s| s.0).collect(),
        }
    }
}

impl Load {
    fn has_user_stages(&self) -> bool {
        matches!(self.stages, Some(Stages::Users(_)))
    }

    /// What the run will do, in a few words, e.g. `50 users (10/s)` or
    /// `3 stages of rates, 20 users`.
    pub fn describe(&self) -> String {
        let shape = match (&self.stages, self.arrival_rate) {
            (Some(stages @ Stages::Users(_)), _) => {
                format!(
                    "{} stages of users, up to {}",
                    stages.durations().len(),
                    self.users
                )
            }
            (Some(stages @ Stages::Rates(_)), _) => format!(
                "{} stages of arrival rates, {}",
                stages.durations().len(),
                users(self.users)
            ),
            (None, Some(rate)) => format!("{rate} iterations/s, {}", users(self.users)),
            (None, None) => format!("{} ({}/s)", users(self.users), self.spawn_rate),
        };
        format!(
            "{shape} for {}{}",
            humantime::format_duration(self.duration),
            if self.reset_stats {
                ", ramp-up left out of the statistics"
            } else {
                ""
            }
        )
    }

    /// The complaint when `reset_stats` would leave nothing to measure.
    pub fn nothing_measured(&self) -> Option<String> {
        let ramp_up = shape::ramp_up(self);
        (self.reset_stats && ramp_up >= self.duration).then(|| {
            format!(
                "reset_stats leaves nothing to measure: the ramp-up ({}) lasts as long as the run ({})",
                humantime::format_duration(ramp_up),
                humantime::format_duration(self.duration)
            )
        })
    }
}

#[derive(Debug)]
pub struct UserClass {
    pub weight: u32,
    pub wait: Wait,
    pub headers: Vec<(HeaderName, Text)>,
    pub on_start: Vec<Step>,
    pub on_stop: Vec<Step>,
    pub tasks: Vec<Task>,
}

#[derive(Debug)]
pub struct Task {
    pub weight: u32,
    pub steps: Vec<Step>,
}

/// One request, possibly repeated over a loop.
#[derive(Debug)]
pub struct Step {
    /// Unique in the scenario, counting from 0: lets a run keep per-step
    /// data (such as the parsed URL of a fixed path) in a plain vector.
    pub id: usize,
    pub method: Method,
    pub path: Text,
    /// The stats row; `None` means the rendered path, as Locust does.
    pub name: Option<Text>,
    pub query: Vec<(String, Text)>,
    pub headers: Vec<(HeaderName, Text)>,
    pub body: Body,
    pub captures: Vec<Capture>,
    pub for_each: Option<Loop>,
    /// Pause after the step, and between iterations of its loop.
    pub think: Duration,
    pub check: Check,
}

#[derive(Debug)]
pub enum Body {
    None,
    Json(JsonTemplate),
    Form(Vec<(String, Text)>),
    Raw(Text),
}

#[derive(Debug)]
pub struct Capture {
    pub variable: String,
    pub path: JsonPath,
    pub source: String,
}

#[derive(Debug)]
pub struct Loop {
    pub variable: String,
    pub values: LoopValues,
}

#[derive(Debug)]
pub enum LoopValues {
    /// Half-open, like Rust's `1..50` and Python's `range(1, 50)`.
    Range(i64, i64),
    List(Vec<minijinja::Value>),
}

impl LoopValues {
    pub fn len(&self) -> usize {
        match self {
            LoopValues::Range(start, end) => (end - start).max(0) as usize,
            LoopValues::List(values) => values.len(),
        }
    }

    pub fn get(&self, index: usize) -> minijinja::Value {
        match self {
            LoopValues::Range(start, _) => minijinja::Value::from(start + index as i64),
            LoopValues::List(values) => values[index].clone(),
        }
    }
}

/// What turns a response into a failure, beyond a status of 400 or more.
#[derive(Debug, Default)]
pub struct Check {
    /// Accepted statuses; when set, only these pass (a listed 404 is a success).
    pub status: Option<Vec<u16>>,
    pub json: Vec<JsonCheck>,
    pub body_contains: Option<String>,
}

#[derive(Debug)]
pub struct JsonCheck {
    pub path: JsonPath,
    pub source: String,
    pub expected: serde_json::Value,
}

impl Step {
    pub fn needs_json(&self) -> bool {
        !self.captures.is_empty() || !self.check.json.is_empty()
    }

    /// Whether anything reads the response body; otherwise it is only counted.
    pub fn reads_body(&self) -> bool {
        self.needs_json() || self.check.body_contains.is_some()
    }
}

/// What the command line may override in a scenario.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub host: Option<String>,
    pub users: Option<u64>,
    pub spawn_rate: Option<f64>,
    pub duration: Option<Duration>,
    pub reset_stats: bool,
}

/// Bad overrides are flag errors, not scenario errors: they name the flag.
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct FlagError {
    pub flag: &'static str,
    pub message: String,
}

impl Scenario {
    pub fn apply(&mut self, overrides: &Overrides) -> Result<(), FlagError> {
        if let Some(host) = &overrides.host {
            let host = parse_host(host).map_err(|message| FlagError {
                flag: "--host",
                message,
            })?;
            self.host = host.url;
            if let Some(credentials) = host.credentials {
                self.secrets.add_credentials(&credentials);
                self.credentials = Some(credentials);
            }
        }
        let staged = |flag| {
            FlagError {
            flag,
            message: "the scenario's [[load.stage]] set the number of users over time; change the stages instead".into(),
        }
        };
        if let Some(users) = overrides.users {
            if self.load.has_user_stages() {
                return Err(staged("--users"));
            }
            if !(1..=crate::bounds::MAX_USERS).contains(&users) {
                return Err(FlagError {
                    flag: "--users",
                    message: format!("must be from 1 to {}", crate::bounds::MAX_USERS),
                });
            }
            self.load.users = users;
        }
        if let Some(rate) = overrides.spawn_rate {
            if self.load.has_user_stages() {
                return Err(staged("--spawn-rate"));
            }
            self.load.spawn_rate =
                crate::bounds::rate(rate, "the spawn rate").map_err(|message| FlagError {
                    flag: "--spawn-rate",
                    message,
                })?;
        }
        if let Some(duration) = overrides.duration {
            if duration.is_zero() {
                return Err(FlagError {
                    flag: "--duration",
                    message: "must be longer than 0s".into(),
                });
            }
            self.load.duration = duration;
        }
        self.load.reset_stats |= overrides.reset_stats;
        if let Some(message) = self.load.nothing_measured() {
            return Err(FlagError {
                flag: if overrides.reset_stats {
                    "--reset-stats"
                } else {
                    "--duration"
                },
                message,
            });
        }
        Ok(())
    }

    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.users.iter().flat_map(|u| {
            u.on_start
                .iter()
                .chain(u.tasks.iter().flat_map(|t| &t.steps))
                .chain(&u.on_stop)
        })
    }
}

/// A host is an http or https URL with no path beyond `/`.
/// A host URL, its `user:password@` taken out of it: the URL is shown in
/// every output, the credentials go only into an `Authorization: Basic`
/// header, as `requests` sends them.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub url: url::Url,
    /// `user:password` as written (percent-decoded).
    pub credentials: Option<String>,
}

pub fn parse_host(text: &str) -> Result<Host, String> {
    let shown = crate::text::without_userinfo(text);
    let mut url = url::Url::parse(text).map_err(|e| {
        format!("invalid host `{shown}` ({e}): expected a URL such as http://127.0.0.1:8000")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("invalid host `{shown}`: expected an http:// or https:// URL such as http://127.0.0.1:8000"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        // Locust would prefix the path to every request; silently dropping it
        // would send every request somewhere else.
        return Err(format!(
            "host `{shown}` has a path, query or fragment: give only scheme, host and port (http://127.0.0.1:8000) and write the path `{}` into each step's path",
            url.path()
        ));
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = (!url.username().is_empty() || url.password().is_some()).then(|| {
        format!(
            "{}:{}",
            decode(url.username()),
            decode(url.password().unwrap_or(""))
        )
    });
    // Infallible for http(s) URLs with a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok(Host { url, credentials })
}

fn users(n: u64) -> String {
    if n == 1 {
        "1 user".into()
    } else {
        format!("{n} users")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_must_be_http_urls() {
        assert!(parse_host("http://127.0.0.1:8089").is_ok());
        assert!(parse_host("127.0.0.1:8089").is_err());
        assert!(parse_host("ftp://127.0.0.1")
            .unwrap_err()
            .contains("http://"));
        assert!(parse_host("not a url").is_err());
    }
}
