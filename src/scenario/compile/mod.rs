//! Turns the raw TOML into a checked [`Scenario`], collecting every problem
//! with its position instead of stopping at the first: [load] in `load.rs`,
//! `[tls]` in `tls.rs`, users, tasks and steps in `users.rs`; what they all
//! use (diagnostics, scopes, templates) here.

mod load;
#[cfg(test)]
mod tests;
mod tls;
mod users;

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
            seed: None,
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

    pub(super) fn duration(
        &mut self,
        raw: Option<&Spanned<String>>,
        default: Duration,
    ) -> Option<Duration> {
        match raw {
            None => Some(default),
            Some(text) => self.check(text.span(), parse_duration(text.get_ref())),
        }
    }

    pub(super) fn weight(&mut self, raw: Option<&Spanned<toml::Value>>) -> u32 {
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

    pub(super) fn json_path(&mut self, source: &Spanned<String>) -> Option<JsonPath> {
        let text = source.get_ref();
        self.check(
            source.span(),
            JsonPath::parse(text)
                .map_err(|e| format!("invalid JSONPath `{text}` (expected e.g. $.access): {e}")),
        )
    }

    pub(super) fn value_text(&mut self, value: &Spanned<toml::Value>, scope: &Scope) -> Text {
        let text = match value.get_ref() {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.text(&Spanned::new(value.span(), text), scope)
    }

    pub(super) fn text(&mut self, source: &Spanned<String>, scope: &Scope) -> Text {
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
    pub(super) fn check_variables(&mut self, text: &Text, span: Range<usize>, scope: &Scope) {
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
