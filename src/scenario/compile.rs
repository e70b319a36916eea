//! Turns the raw TOML into a checked [`Scenario`], collecting every problem
//! with its position instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderName;
use hyper::Method;
use serde_json_path::JsonPath;
use toml::Spanned;

use super::raw::{RawCheck, RawLoad, RawScenario, RawStage, RawStep, RawTask, RawTls, RawUser};
use super::template::{JsonNode, JsonTemplate, Templates, Text};
use super::wait::Wait;
use super::{
    parse_host, Body, Capture, Check, JsonCheck, Load, Loop, LoopValues, Scenario, Stages, Step,
    Task, Tls, UserClass,
};
use crate::diagnostic::{from_toml_error, Diagnostics, ScenarioError};
use crate::units::parse_duration;

const METHODS: &str = "get, post, put, patch, delete, head or options";

pub fn compile(
    path: &Path,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Scenario, ScenarioError> {
    let mut diagnostics = Diagnostics::new(path, source);
    let raw: RawScenario = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(error) => {
            from_toml_error(&mut diagnostics, &error);
            return diagnostics.into_result(unreachable_scenario());
        }
    };
    let mut compiler = Compiler {
        d: diagnostics,
        templates: Templates::default(),
        env,
        env_values: BTreeMap::new(),
        steps: 0,
    };

    let host = match &raw.host {
        Some(host) => compiler.check(host.span(), parse_host(host.get_ref())),
        None => {
            compiler.d.error(
                Some(0..0),
                "missing `host`: add e.g. host = \"http://127.0.0.1:8000\" at the top",
            );
            None
        }
    };
    let load = compiler.load(raw.load.as_ref().unwrap_or(&RawLoad::default()));
    let tls = raw
        .tls
        .as_ref()
        .map(|tls| compiler.tls(tls, path))
        .unwrap_or_default();
    let vars: BTreeMap<String, minijinja::Value> = raw
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), minijinja::Value::from_serialize(v.get_ref())))
        .collect();
    if raw.user.is_empty() {
        compiler.d.error(
            Some(0..0),
            "no users: add a [[user]] table with at least one [[user.task]]",
        );
    }
    let users: Vec<UserClass> = raw.user.iter().map(|u| compiler.user(u, &vars)).collect();

    let mut globals = vars;
    globals.insert(
        "env".into(),
        minijinja::Value::from_serialize(&compiler.env_values),
    );
    let mut secrets = crate::text::Secrets::default();
    for value in compiler.env_values.values() {
        secrets.add(value);
    }
    let Compiler { d, templates, .. } = compiler;
    let (Some(host), Some(load)) = (host, load) else {
        return d.into_result(unreachable_scenario());
    };
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into());
    d.into_result(Scenario {
        path: path.to_owned(),
        name,
        host: host.url,
        load,
        users,
        globals,
        templates: Arc::new(templates),
        tls,
        credentials: host.credentials.inspect(|c| secrets.add_credentials(c)),
        secrets,
    })
}

/// Only returned alongside diagnostics, which turn it into an error.
fn unreachable_scenario() -> Scenario {
    Scenario {
        path: Default::default(),
        name: String::new(),
        host: url::Url::parse("http://127.0.0.1").expect("valid"),
        load: Load {
            users: 1,
            spawn_rate: 1.0,
            duration: Duration::ZERO,
            stop_timeout: Duration::ZERO,
            request_timeout: Duration::ZERO,
            body_limit: 0,
            arrival_rate: None,
            stages: None,
            reset_stats: false,
        },
        users: Vec::new(),
        globals: BTreeMap::new(),
        templates: Arc::new(Templates::default()),
        tls: Tls::default(),
        credentials: None,
        secrets: Default::default(),
    }
}

struct Compiler<'a> {
    d: Diagnostics<'a>,
    templates: Templates,
    env: &'a dyn Fn(&str) -> Option<String>,
    env_values: BTreeMap<String, String>,
    steps: usize,
}

/// What a template may read in one place.
struct Scope<'v> {
    vars: &'v BTreeMap<String, minijinja::Value>,
    captures: &'v BTreeSet<String>,
    loop_variable: Option<&'v str>,
}

impl Scope<'_> {
    fn defines(&self, name: &str) -> bool {
        self.vars.contains_key(name)
            || self.captures.contains(name)
            || self.loop_variable == Some(name)
    }

    fn known(&self) -> String {
        let mut names: Vec<&str> = self
            .vars
            .keys()
            .map(String::as_str)
            .chain(self.captures.iter().map(String::as_str))
            .collect();
        names.extend(self.loop_variable);
        if names.is_empty() {
            "none are defined: add [vars], a capture, or a for_each".into()
        } else {
            format!("defined here: {}", names.join(", "))
        }
    }
}

impl Compiler<'_> {
    fn check<T>(&mut self, span: Range<usize>, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|message| self.d.error(Some(span), message))
            .ok()
    }

    fn load(&mut self, raw: &RawLoad) -> Option<Load> {
        // Bad stages still let the rest of [load] be checked against what the
        // stages were meant to be.
        let (stages, stages_valid) = self.stages(&raw.stage);
        let user_stages = matches!(stages, Some(Stages::Users(_)));
        let rate_stages = matches!(stages, Some(Stages::Rates(_)));
        let staged = |what: &str| {
            format!("{what} conflicts with [[load.stage]]: the stages' targets of users set the users over time; remove one or the other")
        };
        let users = match &raw.users {
            None => match &stages {
                Some(Stages::Users(stages)) => {
                    Some(stages.iter().map(|s| s.1).max().unwrap_or(1).max(1))
                }
                _ => Some(1),
            },
            Some(v) if user_stages => self.check(v.span(), Err(staged("users"))),
            Some(v) => match v.get_ref().as_integer() {
                Some(n) if (1..=crate::bounds::MAX_USERS as i64).contains(&n) => Some(n as u64),
                _ => self.check(
                    v.span(),
                    Err(format!(
                        "users must be a whole number from 1 to {}, got {}",
                        crate::bounds::MAX_USERS,
                        v.get_ref()
                    )),
                ),
            },
        };
        let spawn_rate = match &raw.spawn_rate {
            None => users.map(|u| u as f64),
            Some(v) if user_stages => self.check(v.span(), Err(staged("spawn_rate"))),
            Some(v) => match number(v.get_ref()) {
                Some(rate) => self.check(
                    v.span(),
                    crate::bounds::rate(rate, "spawn_rate (users started per second)"),
                ),
                None => self.check(
                    v.span(),
                    Err(format!(
                        "spawn_rate must be a number of users per second above 0, got {}",
                        v.get_ref()
                    )),
                ),
            },
        };
        let staged_length: Option<Duration> = stages.as_ref().map(|s| {
            s.durations()
                .iter()
                .fold(Duration::ZERO, |sum, d| sum.saturating_add(*d))
        });
        if staged_length.is_some_and(|length| length > crate::bounds::MAX_DURATION) {
            self.d.error(
                raw.stage.first().map(|s| s.span()),
                "the stages last longer than the limit of 30 days in all",
            );
            return None;
        }
        let duration = match &raw.duration {
            Some(d) if staged_length.is_some() => self.check(
                d.span(),
                Err(format!(
                    "duration conflicts with [[load.stage]]: the run lasts as long as its stages ({} in all); --duration still overrides that",
                    humantime::format_duration(staged_length.unwrap_or_default())
                )),
            ),
            _ if staged_length.is_some() => staged_length,
            raw_duration => self.duration(raw_duration.as_ref(), Duration::from_secs(30)),
        };
        if duration.is_some_and(|d| d.is_zero()) {
            let span = match (&raw.duration, raw.stage.last()) {
                (Some(d), _) => d.span(),
                (None, Some(stage)) => stage.span(),
                (None, None) => 0..0,
            };
            self.d.error(Some(span), "duration must be longer than 0s");
        }
        let stop_timeout = self.duration(raw.stop_timeout.as_ref(), Duration::ZERO);
        let request_timeout = self.duration(raw.request_timeout.as_ref(), Duration::from_secs(30));
        if let (Some(timeout), Some(raw)) = (request_timeout, &raw.request_timeout) {
            if timeout.is_zero() {
                self.d.error(
                    Some(raw.span()),
                    "request_timeout must be longer than 0s: every request would time out",
                );
            }
        }
        let body_limit = match &raw.body_limit {
            None => Some(DEFAULT_BODY_LIMIT),
            Some(v) => self.check(v.span(), parse_size(v.get_ref())),
        };
        let arrival_rate = match &raw.arrival_rate {
            None => Some(None),
            Some(v) if rate_stages => self.check(
                v.span(),
                Err("arrival_rate conflicts with [[load.stage]]: the stages' rates set the arrival rate over time; remove one or the other".into()),
            ),
            Some(v) => match number(v.get_ref()) {
                Some(rate) => self
                    .check(v.span(), crate::bounds::rate(rate, "arrival_rate (iterations per second)"))
                    .map(Some),
                None => self.check(
                    v.span(),
                    Err(format!(
                        "arrival_rate must be a number of iterations per second above 0, got {}",
                        v.get_ref()
                    )),
                ),
            },
        };
        let reset_stats = match &raw.reset_stats {
            None => Some(false),
            Some(v) => match v.get_ref().as_bool() {
                Some(flag) => Some(flag),
                None => self.check(
                    v.span(),
                    Err(format!(
                        "reset_stats must be true or false, got {}",
                        v.get_ref()
                    )),
                ),
            },
        };
        let load = Load {
            stages: stages_valid.then_some(stages)?,
            users: users?,
            spawn_rate: spawn_rate?,
            duration: duration?,
            stop_timeout: stop_timeout?,
            request_timeout: request_timeout?,
            body_limit: body_limit?,
            arrival_rate: arrival_rate?,
            reset_stats: reset_stats?,
        };
        if let (Some(message), Some(v)) = (load.nothing_measured(), &raw.reset_stats) {
            self.d.error(Some(v.span()), message);
        }
        Some(load)
    }

    /// Stages are all of users (the closed model) or all of rates (the open
    /// model); each has a duration, and some stage has a target above zero.
    /// Returns the stages that are valid, and whether all were.
    fn stages(&mut self, raw: &[Spanned<RawStage>]) -> (Option<Stages>, bool) {
        enum Target {
            Users(u64),
            Rate(f64),
        }
        let mut stages = None;
        let mut valid = true;
        for spanned in raw {
            let stage = spanned.get_ref();
            let duration = match &stage.duration {
                None => {
                    self.d.error(
                        Some(spanned.span()),
                        "a stage needs a duration, e.g. duration = \"30s\" (\"0s\" for a step)",
                    );
                    None
                }
                Some(d) => self.check(d.span(), parse_duration(d.get_ref())),
            };
            let target = match (&stage.users, &stage.rate) {
                (Some(users), None) => match users.get_ref().as_integer() {
                    Some(n) if (0..=crate::bounds::MAX_USERS as i64).contains(&n) => {
                        Some(Target::Users(n as u64))
                    }
                    _ => self.check(
                        users.span(),
                        Err(format!(
                            "a stage's users must be a whole number from 0 to {}, got {}",
                            crate::bounds::MAX_USERS,
                            users.get_ref()
                        )),
                    ),
                },
                (None, Some(rate)) => match number(rate.get_ref()) {
                    Some(r) if r == 0.0 => Some(Target::Rate(r)),
                    Some(r) => self
                        .check(rate.span(), crate::bounds::rate(r, "a stage's rate"))
                        .map(Target::Rate),
                    None => self.check(
                        rate.span(),
                        Err(format!(
                            "a stage's rate must be a number of iterations per second of at least 0, got {}",
                            rate.get_ref()
                        )),
                    ),
                },
                _ => {
                    self.d.error(
                        Some(spanned.span()),
                        "a stage sets either users (target users, the closed model) or rate (target iterations per second, the open model), not both or neither",
                    );
                    None
                }
            };
            let (Some(duration), Some(target)) = (duration, target) else {
                valid = false;
                continue;
            };
            match (&mut stages, target) {
                (None, Target::Users(users)) => {
                    stages = Some(Stages::Users(vec![(duration, users)]))
                }
                (None, Target::Rate(rate)) => stages = Some(Stages::Rates(vec![(duration, rate)])),
                (Some(Stages::Users(all)), Target::Users(users)) => all.push((duration, users)),
                (Some(Stages::Rates(all)), Target::Rate(rate)) => all.push((duration, rate)),
                _ => {
                    self.d.error(
                        Some(spanned.span()),
                        "all stages set users or all set rate: a run is either closed (users loop) or open (iterations start at a rate)",
                    );
                    valid = false;
                }
            }
        }
        let some_load = match &stages {
            None => true,
            Some(Stages::Users(all)) => all.iter().any(|s| s.1 > 0),
            Some(Stages::Rates(all)) => all.iter().any(|s| s.1 > 0.0),
        };
        if valid && !some_load {
            self.d.error(
                raw.first().map(|s| s.span()),
                "every stage's target is 0: no load would be sent",
            );
            valid = false;
        }
        (stages, valid)
    }

    /// `ca` is a PEM file of certificates, relative to the scenario file.
    fn tls(&mut self, raw: &RawTls, scenario: &Path) -> Tls {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let mut tls = Tls::default();
        if let Some(ca) = &raw.ca {
            let file = scenario
                .parent()
                .unwrap_or(Path::new("."))
                .join(ca.get_ref());
            let certificates = crate::bounds::read_file(&file, crate::bounds::MAX_TEXT_FILE)
                .map_err(|e| format!("cannot read the CA file {}: {e}", file.display()))
                .and_then(|pem| {
                    CertificateDer::pem_slice_iter(&pem)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| format!("{}: not a PEM certificate file: {e}", file.display()))
                })
                .and_then(|certificates| match certificates.is_empty() {
                    true => Err(format!(
                        "{} holds no certificate: expected PEM blocks of BEGIN CERTIFICATE",
                        file.display()
                    )),
                    false => Ok(certificates),
                });
            tls.extra_roots = self.check(ca.span(), certificates).unwrap_or_default();
        }
        if let Some(verify) = &raw.verify {
            match verify.get_ref().as_bool() {
                Some(flag) => tls.verify = flag,
                None => self.d.error(
                    Some(verify.span()),
                    format!("verify must be true or false, got {}", verify.get_ref()),
                ),
            }
        }
        tls
    }

    fn duration(&mut self, raw: Option<&Spanned<String>>, default: Duration) -> Option<Duration> {
        match raw {
            None => Some(default),
            Some(text) => self.check(text.span(), parse_duration(text.get_ref())),
        }
    }

    fn weight(&mut self, raw: Option<&Spanned<toml::Value>>) -> u32 {
        match raw {
            None => 1,
            Some(v) => match v.get_ref().as_integer() {
                Some(n) if (1..=1_000_000).contains(&n) => n as u32,
                _ => {
                    self.d.error(
                        Some(v.span()),
                        format!(
                            "weight must be a whole number from 1 to 1000000, got {}",
                            v.get_ref()
                        ),
                    );
                    1
                }
            },
        }
    }

    fn user(
        &mut self,
        raw: &Spanned<RawUser>,
        vars: &BTreeMap<String, minijinja::Value>,
    ) -> UserClass {
        let user = raw.get_ref();
        let name = user.name.clone().unwrap_or_else(|| "User".into());
        let wait = match &user.wait {
            None => Wait::default(),
            Some(w) => self
                .check(w.span(), Wait::parse(w.get_ref()))
                .unwrap_or_default(),
        };
        let captures: BTreeSet<String> = user
            .on_start
            .iter()
            .chain(user.task.iter().flat_map(|t| &t.get_ref().step))
            .chain(&user.on_stop)
            .flat_map(|s| s.get_ref().capture.keys().cloned())
            .collect();
        let scope = Scope {
            vars,
            captures: &captures,
            loop_variable: None,
        };
        let headers = self.headers(&user.headers, &scope);
        let on_start = user
            .on_start
            .iter()
            .map(|s| self.step(s, vars, &captures))
            .collect();
        let on_stop = user
            .on_stop
            .iter()
            .map(|s| self.step(s, vars, &captures))
            .collect();
        if user.task.is_empty() {
            self.d.error(Some(raw.span()), format!("user `{name}` has no tasks: add a [[user.task]] with at least one [[user.task.step]]"));
        }
        let tasks = user
            .task
            .iter()
            .enumerate()
            .map(|(i, t)| self.task(i, t, vars, &captures))
            .collect();
        UserClass {
            name,
            weight: self.weight(user.weight.as_ref()),
            wait,
            headers,
            on_start,
            on_stop,
            tasks,
        }
    }

    fn task(
        &mut self,
        index: usize,
        raw: &Spanned<RawTask>,
        vars: &BTreeMap<String, minijinja::Value>,
        captures: &BTreeSet<String>,
    ) -> Task {
        let task = raw.get_ref();
        if task.step.is_empty() {
            self.d.error(
                Some(raw.span()),
                "a task needs at least one [[user.task.step]]",
            );
        }
        Task {
            name: task
                .name
                .clone()
                .unwrap_or_else(|| format!("task {}", index + 1)),
            weight: self.weight(task.weight.as_ref()),
            steps: task
                .step
                .iter()
                .map(|s| self.step(s, vars, captures))
                .collect(),
        }
    }

    fn step(
        &mut self,
        raw: &Spanned<RawStep>,
        vars: &BTreeMap<String, minijinja::Value>,
        captures: &BTreeSet<String>,
    ) -> Step {
        let step = raw.get_ref();
        let for_each = step.for_each.as_ref().and_then(|f| self.for_each(f));
        let scope = Scope {
            vars,
            captures,
            loop_variable: for_each.as_ref().map(|l| l.variable.as_str()),
        };
        let candidates = [
            (Method::GET, &step.get),
            (Method::POST, &step.post),
            (Method::PUT, &step.put),
            (Method::PATCH, &step.patch),
            (Method::DELETE, &step.delete),
            (Method::HEAD, &step.head),
            (Method::OPTIONS, &step.options),
        ];
        let given: Vec<_> = candidates
            .into_iter()
            .filter_map(|(m, p)| p.as_ref().map(|p| (m, p)))
            .collect();
        let (method, path) = match given.as_slice() {
            [(method, path)] => {
                if !path.get_ref().starts_with('/') && !path.get_ref().starts_with("{{") {
                    self.d.error(
                        Some(path.span()),
                        format!(
                            "path `{}` must start with / (the host comes from `host`)",
                            path.get_ref()
                        ),
                    );
                } else if let Some(bad) = super::template::literal_text(path.get_ref())
                    .chars()
                    .find(|c| {
                        !c.is_ascii()
                            || c.is_whitespace()
                            || c.is_control()
                            || matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
                    })
                {
                    self.d.error(
                        Some(path.span()),
                        format!(
                            "path `{}` contains {}, which a request line cannot carry: percent-encode it ({})",
                            crate::text::one_line(path.get_ref()),
                            if bad == ' ' { "a space".to_owned() } else { format!("{bad:?}") },
                            percent_encoding::utf8_percent_encode(&bad.to_string(), percent_encoding::NON_ALPHANUMERIC)
                        ),
                    );
                }
                (method.clone(), self.text(path, &scope))
            }
            [] => {
                self.d.error(
                    Some(raw.span()),
                    format!("a step needs a request: one of {METHODS} = \"/path\""),
                );
                (Method::GET, Text::Static("/".into()))
            }
            [_, (_, second), ..] => {
                self.d.error(
                    Some(second.span()),
                    format!("a step makes one request: give only one of {METHODS}"),
                );
                (Method::GET, Text::Static("/".into()))
            }
        };
        let name = step.name.as_ref().map(|n| self.text(n, &scope));
        let query = step
            .query
            .iter()
            .map(|(k, v)| (k.clone(), self.value_text(v, &scope)))
            .collect();
        let headers = self.headers(&step.headers, &scope);
        let body = self.body(raw, &scope);
        let captures = step
            .capture
            .iter()
            .filter_map(|(variable, source)| {
                let path = self.json_path(source)?;
                Some(Capture {
                    variable: variable.clone(),
                    path,
                    source: source.get_ref().clone(),
                })
            })
            .collect();
        let think = self
            .duration(step.think.as_ref(), Duration::ZERO)
            .unwrap_or_default();
        let check = step
            .check
            .as_ref()
            .map(|c| self.check_spec(c))
            .unwrap_or_default();
        self.steps += 1;
        Step {
            id: self.steps - 1,
            method,
            path,
            name,
            query,
            headers,
            body,
            captures,
            for_each,
            think,
            check,
        }
    }

    fn headers(
        &mut self,
        raw: &BTreeMap<String, Spanned<String>>,
        scope: &Scope,
    ) -> Vec<(HeaderName, Text)> {
        raw.iter()
            .filter_map(|(name, value)| {
                let header = self.check(
                    value.span(),
                    HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("invalid header name `{name}`")),
                );
                if let Some(bad) = super::template::literal_text(value.get_ref())
                    .chars()
                    .find(|c| (c.is_control() && *c != '\t') || *c == '\u{7f}')
                {
                    // A CR or LF would end the header early and smuggle the rest in.
                    self.d.error(
                        Some(value.span()),
                        format!("header `{name}` contains the control character {bad:?}, which no header value may carry"),
                    );
                }
                let text = self.text(value, scope);
                Some((header?, text))
            })
            .collect()
    }

    fn body(&mut self, raw: &Spanned<RawStep>, scope: &Scope) -> Body {
        let step = raw.get_ref();
        let bodies = usize::from(step.json.is_some())
            + usize::from(step.form.is_some())
            + usize::from(step.body.is_some());
        if bodies > 1 {
            self.d.error(
                Some(raw.span()),
                "a step has at most one body: json, form or body",
            );
        }
        if let Some(json) = &step.json {
            let node = self.json_node(json.get_ref(), json.span(), scope);
            return Body::Json(match node {
                JsonNode::Literal(value) => JsonTemplate::Static(
                    serde_json::to_vec(&value).expect("json serializes").into(),
                ),
                dynamic => JsonTemplate::Dynamic(dynamic),
            });
        }
        if let Some(form) = &step.form {
            return Body::Form(
                form.iter()
                    .map(|(k, v)| (k.clone(), self.value_text(v, scope)))
                    .collect(),
            );
        }
        match &step.body {
            Some(body) => Body::Raw(self.text(body, scope)),
            None => Body::None,
        }
    }

    fn json_node(&mut self, value: &toml::Value, span: Range<usize>, scope: &Scope) -> JsonNode {
        match value {
            toml::Value::String(s) => match self.templates.compile_json_string(s) {
                Ok(JsonNode::String(Text::Static(_))) => {
                    JsonNode::Literal(serde_json::Value::String(s.clone()))
                }
                Ok(node) => {
                    if let JsonNode::String(text) | JsonNode::Typed(text) = &node {
                        self.check_variables(text, span, scope);
                    }
                    node
                }
                Err(message) => {
                    self.d.error(Some(span), message);
                    JsonNode::Literal(serde_json::Value::Null)
                }
            },
            toml::Value::Array(items) => {
                let nodes: Vec<JsonNode> = items
                    .iter()
                    .map(|i| self.json_node(i, span.clone(), scope))
                    .collect();
                if nodes.iter().all(|n| matches!(n, JsonNode::Literal(_))) {
                    JsonNode::Literal(serde_json::to_value(value).unwrap_or_default())
                } else {
                    JsonNode::Array(nodes)
                }
            }
            toml::Value::Table(table) => {
                let fields: Vec<(String, JsonNode)> = table
                    .iter()
                    .map(|(k, v)| (k.clone(), self.json_node(v, span.clone(), scope)))
                    .collect();
                if fields
                    .iter()
                    .all(|(_, n)| matches!(n, JsonNode::Literal(_)))
                {
                    JsonNode::Literal(serde_json::to_value(value).unwrap_or_default())
                } else {
                    JsonNode::Object(fields)
                }
            }
            other => JsonNode::Literal(serde_json::to_value(other).unwrap_or_default()),
        }
    }

    fn for_each(&mut self, raw: &Spanned<BTreeMap<String, Spanned<toml::Value>>>) -> Option<Loop> {
        let mut entries = raw.get_ref().iter();
        let (Some((variable, values)), None) = (entries.next(), entries.next()) else {
            self.d.error(
                Some(raw.span()),
                "for_each takes one variable, e.g. for_each = { id = \"1..50\" }",
            );
            return None;
        };
        let values = match values.get_ref() {
            toml::Value::String(range) => self.check(values.span(), parse_range(range))?,
            toml::Value::Array(items) if items.is_empty() => {
                self.d.error(
                    Some(values.span()),
                    "for_each over an empty list would send no request: give it at least one value",
                );
                return None;
            }
            toml::Value::Array(items) => {
                LoopValues::List(items.iter().map(minijinja::Value::from_serialize).collect())
            }
            other => {
                self.d.error(
                    Some(values.span()),
                    format!(
                        "for_each values must be a range such as \"1..50\" or a list, got {other}"
                    ),
                );
                return None;
            }
        };
        Some(Loop {
            variable: variable.clone(),
            values,
        })
    }

    fn check_spec(&mut self, raw: &RawCheck) -> Check {
        let status = raw.status.as_ref().and_then(|s| {
            let codes: Option<Vec<u16>> = match s.get_ref() {
                toml::Value::Integer(code) => {
                    Some(vec![*code as u16]).filter(|_| (100..=599).contains(code))
                }
                toml::Value::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_integer()
                            .filter(|c| (100..=599).contains(c))
                            .map(|c| c as u16)
                    })
                    .collect(),
                _ => None,
            };
            self.check(
                s.span(),
                codes.ok_or_else(|| {
                    format!(
                        "status must be an HTTP status from 100 to 599 or a list of them, got {}",
                        s.get_ref()
                    )
                }),
            )
        });
        let json = raw
            .json
            .iter()
            .filter_map(|(path, expected)| {
                let parsed = self.check(
                    expected.span(),
                    JsonPath::parse(path).map_err(|e| format!("invalid JSONPath `{path}`: {e}")),
                )?;
                let expected = serde_json::to_value(expected.get_ref()).unwrap_or_default();
                Some(JsonCheck {
                    path: parsed,
                    source: path.clone(),
                    expected,
                })
            })
            .collect();
        Check {
            status,
            json,
            body_contains: raw.body_contains.as_ref().map(|b| b.get_ref().clone()),
        }
    }

    fn json_path(&mut self, source: &Spanned<String>) -> Option<JsonPath> {
        let text = source.get_ref();
        self.check(
            source.span(),
            JsonPath::parse(text)
                .map_err(|e| format!("invalid JSONPath `{text}` (expected e.g. $.access): {e}")),
        )
    }

    fn value_text(&mut self, value: &Spanned<toml::Value>, scope: &Scope) -> Text {
        let text = match value.get_ref() {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.text(&Spanned::new(value.span(), text), scope)
    }

    fn text(&mut self, source: &Spanned<String>, scope: &Scope) -> Text {
        match self.templates.compile(source.get_ref()) {
            Ok(text) => {
                self.check_variables(&text, source.span(), scope);
                text
            }
            Err(message) => {
                self.d.error(Some(source.span()), message);
                Text::Static("".into())
            }
        }
    }

    /// Every variable a template reads must be defined somewhere it can come
    /// from, so that a typo is found before any load is sent.
    fn check_variables(&mut self, text: &Text, span: Range<usize>, scope: &Scope) {
        for variable in self.templates.variables(text) {
            let (root, attribute) = match variable.split_once('.') {
                Some((root, attribute)) => (root, Some(attribute)),
                None => (variable.as_str(), None),
            };
            if root == "env" {
                match attribute {
                    Some(name) => match (self.env)(name) {
                        Some(value) => {
                            self.env_values.insert(name.to_owned(), value);
                        }
                        None => self.d.error(Some(span.clone()), format!("environment variable {name} is not set (read as {{{{ env.{name} }}}})")),
                    },
                    None => self.d.error(Some(span.clone()), "read environment variables by name, e.g. {{ env.API_TOKEN }}"),
                }
            } else if !scope.defines(root) {
                self.d.error(
                    Some(span.clone()),
                    format!("undefined variable `{root}` ({})", scope.known()),
                );
            }
        }
    }
}

fn number(value: &toml::Value) -> Option<f64> {
    value
        .as_float()
        .or_else(|| value.as_integer().map(|i| i as f64))
}

/// Enough for any JSON API page, small enough for thousands of users.
const DEFAULT_BODY_LIMIT: usize = 8 << 20;

/// A size in bytes: a whole number, or with KiB, MiB or GiB; at most 1 GiB.
fn parse_size(value: &toml::Value) -> Result<usize, String> {
    let invalid = || {
        format!("body_limit must be a size such as \"8MiB\", \"512KiB\" or a number of bytes from 1 to 1GiB, got {value}")
    };
    let bytes = match value {
        toml::Value::Integer(n) => *n as i128,
        toml::Value::String(text) => {
            let text = text.trim();
            let (number, unit) = [
                ("GiB", 1i128 << 30),
                ("MiB", 1 << 20),
                ("KiB", 1 << 10),
                ("B", 1),
            ]
            .into_iter()
            .find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|n| (n, unit)))
            .unwrap_or((text, 1));
            let number: u32 = number.trim().parse().map_err(|_| invalid())?;
            i128::from(number) * unit
        }
        _ => return Err(invalid()),
    };
    if (1..=1 << 30).contains(&bytes) {
        Ok(bytes as usize)
    } else {
        Err(invalid())
    }
}

fn parse_range(text: &str) -> Result<LoopValues, String> {
    let invalid = || {
        format!("invalid range `{text}`: expected start..end (end excluded) or start..=end, e.g. \"1..50\"")
    };
    let (start, end, inclusive) = match text.split_once("..=") {
        Some((s, e)) => (s, e, true),
        None => text
            .split_once("..")
            .map(|(s, e)| (s, e, false))
            .ok_or_else(invalid)?,
    };
    let start: i64 = start.trim().parse().map_err(|_| invalid())?;
    let end: i64 = end.trim().parse().map_err(|_| invalid())?;
    let end = if inclusive {
        end.saturating_add(1)
    } else {
        end
    };
    if end <= start {
        return Err(format!(
            "range `{text}` is empty: the end must be above the start"
        ));
    }
    if (end as i128 - start as i128) > crate::bounds::MAX_LOOP_VALUES as i128 {
        return Err(format!(
            "range `{text}` has more than {} values, the limit for one loop",
            crate::bounds::MAX_LOOP_VALUES
        ));
    }
    Ok(LoopValues::Range(start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_str(source: &str) -> Result<Scenario, ScenarioError> {
        compile(Path::new("test.toml"), source, &|name| {
            (name == "TOKEN").then(|| "secret".to_owned())
        })
    }

    const MINIMAL: &str = r#"
host = "http://127.0.0.1:8089"
[[user]]
  [[user.task]]
    [[user.task.step]]
    get = "/"
"#;

    fn first_message(source: &str) -> String {
        let error = compile_str(source).unwrap_err();
        error.diagnostics[0].message.clone()
    }

    #[test]
    fn minimal_scenario_gets_defaults() {
        let scenario = compile_str(MINIMAL).unwrap();
        assert_eq!(scenario.load.users, 1);
        assert_eq!(scenario.load.duration, Duration::from_secs(30));
        assert_eq!(scenario.users[0].wait, Wait::default());
        assert_eq!(scenario.users[0].tasks[0].steps[0].method, Method::GET);
    }

    #[test]
    fn unknown_key_names_line_and_nearest_key() {
        let source = MINIMAL.replace("get = \"/\"", "get = \"/\"\n    wieght = 2");
        let error = compile_str(&source).unwrap_err();
        let d = &error.diagnostics[0];
        assert_eq!(d.line, 7);
        assert!(d.message.contains("wieght"), "{}", d.message);
        let source = MINIMAL.replace("[[user.task]]", "[[user.task]]\n  wieght = 2");
        assert!(first_message(&source).contains("did you mean `weight`?"));
    }

    #[test]
    fn undefined_variable_is_found_before_running() {
        let source = MINIMAL.replace("get = \"/\"", "get = \"/items/{{ itme }}/\"");
        let message = first_message(&source);
        assert!(message.contains("undefined variable `itme`"), "{message}");
    }

    #[test]
    fn captured_loop_and_env_variables_are_defined() {
        let source = r#"
host = "http://127.0.0.1:8089"
vars = { email = "a@b.c" }
[[user]]
headers = { Authorization = "Bearer {{ token }}", X-Key = "{{ env.TOKEN }}" }
  [[user.on_start]]
  post = "/login"
  json = { email = "{{ email }}" }
  capture = { token = "$.access" }
  [[user.task]]
    [[user.task.step]]
    get = "/items/{{ id }}/"
    for_each = { id = "1..=3" }
"#;
        let scenario = compile_str(source).unwrap();
        let step = &scenario.users[0].tasks[0].steps[0];
        assert_eq!(step.for_each.as_ref().unwrap().values.len(), 3);
        assert!(matches!(
            scenario.users[0].on_start[0].body,
            Body::Json(JsonTemplate::Dynamic(_))
        ));
    }

    #[test]
    fn body_limits_are_sizes() {
        let limit = |value: &str| {
            compile_str(&format!("{MINIMAL}\n[load]\nbody_limit = {value}\n"))
                .map(|s| s.load.body_limit)
        };
        assert_eq!(compile_str(MINIMAL).unwrap().load.body_limit, 8 << 20);
        assert_eq!(limit("\"512KiB\"").unwrap(), 512 << 10);
        assert_eq!(limit("1000").unwrap(), 1000);
        for bad in ["0", "\"2GiB\"", "\"lots\"", "-1", "true"] {
            let error = limit(bad).unwrap_err();
            assert!(
                error.diagnostics[0]
                    .message
                    .contains("body_limit must be a size"),
                "{bad}"
            );
        }
    }

    #[test]
    fn loops_that_send_nothing_or_never_end_are_refused() {
        let with_loop = |each: &str| {
            MINIMAL.replace(
                "get = \"/\"",
                &format!("get = \"/{{{{ id }}}}\"\n    for_each = {{ id = {each} }}"),
            )
        };
        assert!(first_message(&with_loop("[]")).contains("empty list"));
        let full = with_loop("\"-9223372036854775808..=9223372036854775807\"");
        assert!(first_message(&full).contains("more than 1000000 values"));
        assert!(compile_str(&with_loop("\"1..=1000000\"")).is_ok());
    }

    #[test]
    fn missing_environment_variable_is_reported() {
        let source = MINIMAL.replace("get = \"/\"", "get = \"/{{ env.NOT_SET_ANYWHERE }}\"");
        assert!(first_message(&source).contains("environment variable NOT_SET_ANYWHERE is not set"));
    }

    #[test]
    fn load_values_are_checked() {
        let zero = format!("{MINIMAL}\n[load]\nusers = 0\n");
        assert!(first_message(&zero).contains("users must be a whole number from 1 to 1000000"));
        let negative = format!("{MINIMAL}\n[load]\nusers = -5\n");
        assert!(first_message(&negative).contains("from 1 to"));
        let bad_duration = format!("{MINIMAL}\n[load]\nduration = \"forever\"\n");
        assert!(first_message(&bad_duration).contains("invalid duration `forever`"));
        // Absurd numbers are refused where they are written, not at run time.
        for (line, expected) in [
            ("users = 1000000000000", "from 1 to 1000000"),
            ("duration = \"1e19\"", "30 days"),
            ("request_timeout = \"1e19\"", "30 days"),
            ("request_timeout = \"0s\"", "every request would time out"),
            ("spawn_rate = 1e-300", "spawn_rate"),
            ("arrival_rate = 1e19", "arrival_rate"),
            ("arrival_rate = 1e-300", "arrival_rate"),
        ] {
            let source = format!("{MINIMAL}\n[load]\n{line}\n");
            assert!(
                first_message(&source).contains(expected),
                "{line}: {}",
                first_message(&source)
            );
        }
        let long_stages = format!("{MINIMAL}\n[load]\n[[load.stage]]\nduration = \"29days\"\nusers = 1\n[[load.stage]]\nduration = \"29days\"\nusers = 1\n");
        assert!(first_message(&long_stages).contains("longer than the limit of 30 days"));
    }

    #[test]
    fn stages_set_users_or_rates_over_time() {
        let users = format!(
            "{MINIMAL}\n[[load.stage]]\nduration = \"10s\"\nusers = 50\n[[load.stage]]\nduration = \"1m\"\nusers = 20\n"
        );
        let load = compile_str(&users).unwrap().load;
        assert_eq!(load.users, 50, "the peak of the stages");
        assert_eq!(load.duration, Duration::from_secs(70));
        assert_eq!(
            load.stages,
            Some(Stages::Users(vec![
                (Duration::from_secs(10), 50),
                (Duration::from_secs(60), 20)
            ]))
        );

        let rates = format!(
            "{MINIMAL}\n[load]\nusers = 30\nreset_stats = true\n[[load.stage]]\nduration = \"0s\"\nrate = 5\n[[load.stage]]\nduration = \"30s\"\nrate = 12.5\n"
        );
        let load = compile_str(&rates).unwrap().load;
        assert_eq!((load.users, load.reset_stats), (30, true));
        assert_eq!(
            load.stages,
            Some(Stages::Rates(vec![
                (Duration::ZERO, 5.0),
                (Duration::from_secs(30), 12.5)
            ]))
        );
    }

    #[test]
    fn stages_are_checked_where_they_are_written() {
        let stage = |body: &str| format!("{MINIMAL}\n[load]\n[[load.stage]]\n{body}\n");
        let error = compile_str(&stage("duration = \"5s\"\nusers = 3\nrate = 2")).unwrap_err();
        assert_eq!(error.diagnostics[0].line, 9);
        assert!(error.diagnostics[0].message.contains("either users"));
        assert!(first_message(&stage("users = 3")).contains("needs a duration"));
        assert!(first_message(&stage("duration = \"5s\"\nusers = -1")).contains("from 0 to"));
        assert!(
            first_message(&stage("duration = \"5s\"\nusers = 0")).contains("no load would be sent")
        );
        assert!(
            first_message(&stage("duration = \"5s\"\nuser = 3")).contains("did you mean `users`?")
        );
        let mixed =
            stage("duration = \"5s\"\nusers = 3\n[[load.stage]]\nduration = \"5s\"\nrate = 3");
        let error = compile_str(&mixed).unwrap_err();
        assert_eq!(error.diagnostics[0].line, 12);
        assert!(error.diagnostics[0]
            .message
            .contains("all stages set users or all set rate"));
        let conflicts = format!(
            "{MINIMAL}\n[load]\nduration = \"1m\"\narrival_rate = 3\n[[load.stage]]\nduration = \"5s\"\nrate = 3\n"
        );
        let messages: Vec<String> = compile_str(&conflicts)
            .unwrap_err()
            .diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect();
        assert!(
            messages[0].contains("duration conflicts with [[load.stage]]"),
            "{messages:?}"
        );
        assert!(
            messages[1].contains("arrival_rate conflicts"),
            "{messages:?}"
        );
    }

    #[test]
    fn reset_stats_must_leave_something_to_measure() {
        let source = format!(
            "{MINIMAL}\n[load]\nusers = 10\nspawn_rate = 1\nduration = \"5s\"\nreset_stats = true\n"
        );
        assert!(first_message(&source).contains("reset_stats leaves nothing to measure"));
    }

    #[test]
    fn bad_wait_lists_accepted_forms() {
        let source = MINIMAL.replace("[[user]]", "[[user]]\nwait = \"sometimes(1)\"");
        assert!(first_message(&source).contains(super::super::wait::ACCEPTED_FORMS));
    }

    #[test]
    fn invalid_host_is_reported() {
        let source = MINIMAL.replace("http://127.0.0.1:8089", "127.0.0.1:8089");
        assert!(first_message(&source).contains("invalid host"));
    }

    #[test]
    fn static_mistakes_that_would_fail_every_request_are_reported() {
        let cases = [
            (
                "get = \"/\"",
                "get = \"/{{ 1 | nosuchfilter }}\"",
                "unknown filter `nosuchfilter`",
            ),
            ("get = \"/\"", "get = \"/a b\"", "contains a space"),
            ("get = \"/\"", "get = \"/a/{{ 1 }} x\"", "contains a space"),
            (
                "get = \"/\"",
                "get = \"/\"\n    headers = { X-A = \"a\\r\\nX-B: b\" }",
                "control character '\\r'",
            ),
            (
                "http://127.0.0.1:8089",
                "http://127.0.0.1:8089/api",
                "has a path",
            ),
        ];
        for (from, to, expected) in cases {
            let message = first_message(&MINIMAL.replace(from, to));
            assert!(message.contains(expected), "{to}: {message}");
        }
        // A template's own spaces are fine.
        assert!(compile_str(&MINIMAL.replace("get = \"/\"", "get = \"/{{ 1 + 2 }}\"")).is_ok());
    }

    #[test]
    fn host_credentials_become_basic_auth_and_secrets() {
        let scenario = compile_str(&MINIMAL.replace("http://", "http://admin:hunter22@")).unwrap();
        assert_eq!(scenario.host.as_str(), "http://127.0.0.1:8089/");
        assert_eq!(scenario.credentials.as_deref(), Some("admin:hunter22"));
        assert_eq!(scenario.secrets.redact("pw hunter22"), "pw ***");
        let message = first_message(
            &MINIMAL
                .replace("http://", "http://admin:hunter22@")
                .replace("8089", "8089/x"),
        );
        assert!(!message.contains("hunter22"), "{message}");
    }

    #[test]
    fn malformed_toml_is_located() {
        let error = compile_str("host = \"http://x\"\n[[user]\n").unwrap_err();
        assert_eq!(error.diagnostics[0].line, 2);
    }

    #[test]
    fn a_step_makes_exactly_one_request() {
        assert!(
            first_message(&MINIMAL.replace("get = \"/\"", "name = \"x\""))
                .contains("needs a request")
        );
        assert!(
            first_message(&MINIMAL.replace("get = \"/\"", "get = \"/\"\n    post = \"/\""))
                .contains("only one")
        );
    }

    #[test]
    fn ranges_are_half_open_unless_inclusive() {
        assert!(matches!(parse_range("1..50"), Ok(LoopValues::Range(1, 50))));
        assert!(matches!(
            parse_range("1..=50"),
            Ok(LoopValues::Range(1, 51))
        ));
        assert!(parse_range("5..5").unwrap_err().contains("empty"));
        assert!(parse_range("a..b").unwrap_err().contains("start..end"));
    }
}
