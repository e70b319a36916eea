//! One simulated user: its HTTP session, its variables, and the loop that
//! picks weighted tasks and waits between them.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::Value;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::metrics::{EndpointKey, Sample};
use crate::scenario::{Body, JsonTemplate, Step, Text, UserClass};

/// How a user is told to stop: `stopping` ends waits and keeps new tasks from
/// starting; `abort` interrupts a task in flight.
#[derive(Clone)]
pub struct Signals {
    pub stopping: CancellationToken,
    pub abort: CancellationToken,
}

pub struct User {
    shared: Arc<Shared>,
    class: usize,
    shard: usize,
    client: reqwest::Client,
    rng: SmallRng,
    vars: BTreeMap<String, Value>,
    /// Globals and captured variables, rebuilt only when a capture changes them.
    context: Value,
    /// The user class's default headers, rendered for the current context.
    headers: HeaderMap,
    timeout: Pin<Box<tokio::time::Sleep>>,
}

impl User {
    pub fn new(shared: Arc<Shared>, class: usize, index: u64, client: reqwest::Client) -> Self {
        let shard = index as usize % shared.recorder.shard_count();
        let mut user = Self {
            shared,
            class,
            shard,
            client,
            rng: SmallRng::from_entropy(),
            vars: BTreeMap::new(),
            context: Value::UNDEFINED,
            headers: HeaderMap::new(),
            timeout: Box::pin(tokio::time::sleep(Duration::ZERO)),
        };
        user.refresh_context();
        user
    }

    pub async fn run(mut self, signals: Signals) {
        let shared = self.shared.clone();
        let class = &shared.scenario.users[self.class];
        let started = tokio::select! {
            biased;
            _ = signals.abort.cancelled() => false,
            _ = self.run_steps(class, &class.on_start) => true,
        };
        if !started {
            return;
        }
        let weights: Vec<u32> = class
            .tasks
            .iter()
            .scan(0, |sum, t| {
                *sum += t.weight;
                Some(*sum)
            })
            .collect();
        let total_weight = *weights.last().expect("a user class has at least one task");
        while !signals.stopping.is_cancelled() {
            let pick = self.rng.gen_range(0..total_weight);
            let task = &class.tasks[weights.partition_point(|&w| w <= pick)];
            let task_started = Instant::now();
            tokio::select! {
                biased;
                _ = signals.abort.cancelled() => break,
                _ = self.run_steps(class, &task.steps) => {}
            }
            let wait = class.wait.after(task_started.elapsed(), &mut self.rng);
            if !wait.is_zero() {
                tokio::select! {
                    _ = signals.stopping.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        self.run_steps(class, &class.on_stop).await;
    }

    async fn run_steps(&mut self, class: &UserClass, steps: &[Step]) {
        for step in steps {
            match &step.for_each {
                None => {
                    self.send(class, step, None).await;
                    pause(step.think).await;
                }
                Some(each) => {
                    for i in 0..each.values.len() {
                        self.send(class, step, Some((&each.variable, each.values.get(i))))
                            .await;
                        pause(step.think).await;
                    }
                }
            }
        }
    }

    async fn send(&mut self, class: &UserClass, step: &Step, loop_value: Option<(&str, Value)>) {
        let shared = self.shared.clone();
        let context = match loop_value {
            None => self.context.clone(),
            Some((variable, value)) => {
                let mut map = BTreeMap::new();
                map.insert(variable.to_owned(), value);
                Value::from_object(LayeredContext {
                    inner: map,
                    outer: self.context.clone(),
                })
            }
        };
        let templates = &shared.scenario.templates;
        let rendered = (|| -> Result<Prepared, String> {
            let path = step.path.render(templates, &context)?;
            let url = match &shared.fixed_urls[step.id] {
                Some(url) => url.clone(),
                None => reqwest::Url::parse(&format!("{}{path}", shared.base_url))
                    .map_err(|e| format!("invalid URL for path `{path}`: {e}"))?,
            };
            let query: Vec<(&str, String)> = step
                .query
                .iter()
                .map(|(k, v)| Ok((k.as_str(), v.render(templates, &context)?.into_owned())))
                .collect::<Result<_, String>>()?;
            let name = endpoint_name(step, &path, &query, templates, &context)?;
            let mut request = self.client.request(step.method.clone(), url);
            if !query.is_empty() {
                request = request.query(&query);
            }
            if !class.headers.is_empty() {
                request = request.headers(self.headers.clone());
            }
            for (header, value) in &step.headers {
                let value = value.render(templates, &context)?;
                let value = HeaderValue::from_str(&value)
                    .map_err(|_| format!("header {header}: value is not valid in a header"))?;
                request = request.header(header.clone(), value);
            }
            request = match &step.body {
                Body::None => request,
                Body::Json(JsonTemplate::Static(bytes)) => request
                    .header(CONTENT_TYPE, "application/json")
                    .body(bytes.clone()),
                Body::Json(JsonTemplate::Dynamic(node)) => {
                    let value = node.render(templates, &context)?;
                    request
                        .header(CONTENT_TYPE, "application/json")
                        .body(serde_json::to_vec(&value).expect("json serializes"))
                }
                Body::Form(fields) => {
                    let fields: Vec<(&str, String)> = fields
                        .iter()
                        .map(|(k, v)| Ok((k.as_str(), v.render(templates, &context)?.into_owned())))
                        .collect::<Result<_, String>>()?;
                    request.form(&fields)
                }
                Body::Raw(text) => request.body(text.render(templates, &context)?.into_owned()),
            };
            Ok(Prepared { name, request })
        })();
        let Prepared { name, request } = match rendered {
            Ok(prepared) => prepared,
            Err(message) => {
                let name: Arc<str> = step.name.as_ref().unwrap_or(&step.path).source().into();
                let key = EndpointKey {
                    method: step.method.clone(),
                    name,
                };
                let sample = Sample {
                    latency: None,
                    content_length: 0,
                    failure: Some(&message),
                };
                shared.recorder.record(self.shard, &key, sample);
                return;
            }
        };

        let started = Instant::now();
        let exchange = async {
            let response = request
                .send()
                .await
                .map_err(|e| describe_transport_error(&e))?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .map_err(|e| describe_transport_error(&e))?;
            Ok((status, body))
        };
        // One timer per user, re-armed per request: cheaper than a fresh
        // timer for every request, which is what the client's own timeout does.
        self.timeout
            .as_mut()
            .reset(tokio::time::Instant::from_std(started) + shared.scenario.load.request_timeout);
        let outcome: Result<_, String> = tokio::select! {
            biased;
            outcome = exchange => outcome,
            _ = self.timeout.as_mut() => Err("request timed out".into()),
        };
        let latency = started.elapsed();

        let key = EndpointKey {
            method: step.method.clone(),
            name,
        };
        let (content_length, failure) = match outcome {
            Ok((status, body)) => (body.len() as u64, self.judge(step, status, &body)),
            Err(message) => (0, Some(message)),
        };
        let sample = Sample {
            latency: Some(latency),
            content_length,
            failure: failure.as_deref(),
        };
        shared.recorder.record(self.shard, &key, sample);
    }

    /// Checks the response and applies captures; returns the failure, if any.
    fn judge(&mut self, step: &Step, status: reqwest::StatusCode, body: &[u8]) -> Option<String> {
        let status_line = || match status.canonical_reason() {
            Some(reason) => format!("{} {reason}", status.as_u16()),
            None => status.as_u16().to_string(),
        };
        match &step.check.status {
            Some(accepted) if !accepted.contains(&status.as_u16()) => {
                let accepted: Vec<String> = accepted.iter().map(u16::to_string).collect();
                return Some(format!(
                    "expected status {}, got {}",
                    accepted.join(" or "),
                    status_line()
                ));
            }
            None if status.as_u16() >= 400 => return Some(format!("HTTP {}", status_line())),
            _ => {}
        }
        if let Some(needle) = &step.check.body_contains {
            if !memchr_contains(body, needle.as_bytes()) {
                return Some(format!("body does not contain {needle:?}"));
            }
        }
        if !step.needs_json() {
            return None;
        }
        let json: serde_json::Value = match serde_json::from_slice(body) {
            Ok(json) => json,
            Err(error) => {
                return Some(format!(
                    "response is not JSON ({error}), but the step reads JSON from it"
                ))
            }
        };
        for check in &step.check.json {
            let found = check.path.query(&json).first();
            if found != Some(&check.expected) {
                let got = found
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "nothing".into());
                return Some(format!(
                    "{}: expected {}, got {got}",
                    check.source, check.expected
                ));
            }
        }
        let mut captured = false;
        for capture in &step.captures {
            match capture.path.query(&json).first() {
                Some(value) => {
                    self.vars
                        .insert(capture.variable.clone(), Value::from_serialize(value));
                    captured = true;
                }
                None => {
                    return Some(format!(
                        "capture {}: {} matched nothing",
                        capture.variable, capture.source
                    ))
                }
            }
        }
        if captured {
            self.refresh_context();
        }
        None
    }

    fn refresh_context(&mut self) {
        let shared = self.shared.clone();
        let mut map = shared.scenario.globals.clone();
        map.extend(self.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.context = Value::from(map);
        self.headers.clear();
        for (name, value) in &shared.scenario.users[self.class].headers {
            // A header whose variable is not captured yet is left out until it is,
            // the way a Locust user adds Authorization only after logging in.
            if let Ok(value) = value.render(&shared.scenario.templates, &self.context) {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    self.headers.insert(name.clone(), value);
                }
            }
        }
    }
}

struct Prepared {
    name: Arc<str>,
    request: reqwest::RequestBuilder,
}

/// A loop variable in front of the user's context, without copying it.
#[derive(Debug)]
struct LayeredContext {
    inner: BTreeMap<String, Value>,
    outer: Value,
}

impl minijinja::value::Object for LayeredContext {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(value) = key.as_str().and_then(|k| self.inner.get(k)) {
            return Some(value.clone());
        }
        self.outer.get_item(key).ok().filter(|v| !v.is_undefined())
    }
}

fn endpoint_name(
    step: &Step,
    path: &str,
    query: &[(&str, String)],
    templates: &crate::scenario::Templates,
    context: &Value,
) -> Result<Arc<str>, String> {
    Ok(match (&step.name, &step.path) {
        (Some(Text::Static(name)), _) => name.clone(),
        (Some(name), _) => name.render(templates, context)?.into(),
        (None, _) if !query.is_empty() => {
            let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{path}?{}", query.join("&")).into()
        }
        // A fixed path names its row without an allocation per request.
        (None, Text::Static(path)) => path.clone(),
        (None, Text::Template { .. }) => path.into(),
    })
}

async fn pause(think: Duration) {
    if !think.is_zero() {
        tokio::time::sleep(think).await;
    }
}

fn memchr_contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Transport errors grouped by kind, without the URL, so that failures of
/// `/products/1/` and `/products/2/` land in one row of the error report.
fn describe_transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "request timed out".into();
    }
    let mut root: &dyn std::error::Error = error;
    while let Some(source) = root.source() {
        root = source;
    }
    let kind = if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    format!("{kind}: {root}")
}
