//! One simulated user: its HTTP session, its variables, and the loop that
//! picks weighted tasks and waits between them.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE, COOKIE};
use hyper::{Method, StatusCode, Uri};
use minijinja::Value;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

mod response;

use super::cookies::CookieJar;
use super::http::{Outgoing, Session};
use super::Shared;
use crate::metrics::{EndpointKey, Sample};
use crate::scenario::{Body, JsonTemplate, Step, Text};

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
    session: Session,
    cookies: CookieJar,
    rng: SmallRng,
    vars: BTreeMap<String, Value>,
    /// Globals and captured variables, rebuilt only when a capture changes them.
    context: Value,
    /// The run's headers and the user class's, rendered for the current
    /// context: what every request of this user starts from.
    headers: HeaderMap,
    timeout: Pin<Box<tokio::time::Sleep>>,
}

impl User {
    pub fn new(shared: Arc<Shared>, class: usize, index: u64) -> Self {
        let shard = index as usize % shared.recorder.shard_count();
        let rng = match shared.scenario.load.seed {
            Some(seed) => SmallRng::seed_from_u64(seed.wrapping_add(index)),
            None => SmallRng::from_entropy(),
        };
        let mut user = Self {
            session: Session::new(shared.target.clone()),
            cookies: CookieJar::default(),
            shared,
            class,
            shard,
            rng,
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
            _ = self.run_steps(&class.on_start, None) => true,
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
            // In the open model a task starts when the schedule says, and its
            // latency counts from then: a stalled server shows as latency.
            let scheduled = match &shared.schedule {
                None => None,
                Some(schedule) => tokio::select! {
                    _ = signals.stopping.cancelled() => break,
                    ticket = schedule.next() => match ticket {
                        Some(due) => Some(due),
                        None => break,
                    },
                },
            };
            let pick = self.rng.gen_range(0..total_weight);
            let task = &class.tasks[weights.partition_point(|&w| w <= pick)];
            let task_started = Instant::now();
            tokio::select! {
                biased;
                _ = signals.abort.cancelled() => break,
                _ = self.run_steps(&task.steps, scheduled) => {}
            }
            if shared.schedule.is_some() {
                continue;
            }
            let wait = class.wait.after(task_started.elapsed(), &mut self.rng);
            if !wait.is_zero() {
                tokio::select! {
                    _ = signals.stopping.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        self.run_steps(&class.on_stop, None).await;
    }

    /// Runs steps in order; `scheduled` is when the first request should have
    /// started (the open model), which its latency then counts from.
    async fn run_steps(&mut self, steps: &[Step], mut scheduled: Option<Instant>) {
        for step in steps {
            match &step.for_each {
                None => {
                    self.send(step, None, scheduled.take()).await;
                    pause(step.think).await;
                }
                Some(each) => {
                    for i in 0..each.values.len() {
                        self.send(
                            step,
                            Some((&each.variable, each.values.get(i))),
                            scheduled.take(),
                        )
                        .await;
                        pause(step.think).await;
                    }
                }
            }
        }
    }

    async fn send(
        &mut self,
        step: &Step,
        loop_value: Option<(&str, Value)>,
        scheduled: Option<Instant>,
    ) {
        let shared = self.shared.clone();
        let context = match loop_value {
            None => self.context.clone(),
            Some((variable, value)) => Value::from_object(LayeredContext {
                inner: BTreeMap::from([(variable.to_owned(), value)]),
                outer: self.context.clone(),
            }),
        };
        let prepared = match self.prepare(step, &context) {
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
                shared.record(self.shard, step, &key, sample);
                return;
            }
        };
        let name = prepared.name.clone();
        let keep_body = step.reads_body().then_some(shared.scenario.load.body_limit);

        let started = Instant::now();
        // One timer per user, re-armed per request: cheaper than a fresh
        // timer for every request.
        self.timeout
            .as_mut()
            .reset(tokio::time::Instant::from_std(started) + shared.scenario.load.request_timeout);
        let mut timeout = self.timeout.as_mut();
        let in_flight = InFlight(Some(&shared.cut_off));
        let outcome = tokio::select! {
            biased;
            outcome = exchange_following_redirects(&mut self.session, &mut self.cookies, (&shared, self.shard), prepared, keep_body, || {
                headers_for(&shared, &self.headers, step, &context)
            }) => outcome,
            _ = &mut timeout => Err("request timed out".into()),
        };
        in_flight.landed();
        let latency = scheduled.map_or(started, |due| due.min(started)).elapsed();

        let key = EndpointKey {
            method: step.method.clone(),
            name,
        };
        let (content_length, failure) = match outcome {
            Ok((status, body, length)) => (length, self.judge(step, status, &body)),
            Err(message) => (0, Some(message)),
        };
        let sample = Sample {
            latency: Some(latency),
            content_length,
            failure: failure.as_deref(),
        };
        shared.record(self.shard, step, &key, sample);
    }

    /// Renders everything a request needs; an error here means no request is sent.
    fn prepare(&self, step: &Step, context: &Value) -> Result<Prepared, String> {
        let shared = &self.shared;
        let templates = &shared.scenario.templates;
        let path = step.path.render(templates, context)?;
        let query: Vec<(&str, String)> = step
            .query
            .iter()
            .map(|(k, v)| Ok((k.as_str(), v.render(templates, context)?.into_owned())))
            .collect::<Result<_, String>>()?;
        let query = (!query.is_empty()).then(|| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&query)
                .finish()
        });
        let name = endpoint_name(step, &path, query.as_deref(), templates, context)?;
        let uri = match (&shared.fixed_uris[step.id], &query) {
            (Some(uri), None) => uri.clone(),
            (_, None) => {
                Uri::try_from(&*path).map_err(|e| format!("invalid path `{path}`: {e}"))?
            }
            (_, Some(query)) => {
                let target = format!("{path}?{query}");
                Uri::try_from(&target).map_err(|e| format!("invalid path `{target}`: {e}"))?
            }
        };
        let body = match &step.body {
            Body::None => Bytes::new(),
            Body::Json(JsonTemplate::Static(bytes)) => bytes.clone(),
            Body::Json(JsonTemplate::Dynamic(node)) => Bytes::from(
                serde_json::to_vec(&node.render(templates, context)?).expect("json serializes"),
            ),
            Body::Form(fields) => {
                let fields: Vec<(&str, String)> = fields
                    .iter()
                    .map(|(k, v)| Ok((k.as_str(), v.render(templates, context)?.into_owned())))
                    .collect::<Result<_, String>>()?;
                Bytes::from(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&fields)
                        .finish(),
                )
            }
            Body::Raw(text) => Bytes::from(text.render(templates, context)?.into_owned()),
        };
        let headers = headers_for(shared, &self.headers, step, context)?;
        Ok(Prepared {
            name,
            method: step.method.clone(),
            uri,
            headers,
            body,
        })
    }

    /// Checks the response and applies its captures; the failure, if any.
    fn judge(&mut self, step: &Step, status: StatusCode, body: &[u8]) -> Option<String> {
        match response::check(step, status, body) {
            Ok(captured) if captured.is_empty() => None,
            Ok(captured) => {
                self.vars.extend(captured);
                self.refresh_context();
                None
            }
            Err(failure) => Some(failure),
        }
    }

    fn refresh_context(&mut self) {
        let shared = self.shared.clone();
        let mut map = shared.scenario.globals.clone();
        map.extend(self.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.context = Value::from(map);
        self.headers = shared.base_headers.clone();
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

/// Counts a request whose future is dropped before its response (the run
/// ended or was cut off): it is reported, never silently gone.
struct InFlight<'a>(Option<&'a std::sync::atomic::AtomicU64>);

impl InFlight<'_> {
    fn landed(mut self) {
        self.0 = None;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(cut_off) = self.0 {
            cut_off.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

struct Prepared {
    name: Arc<str>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

const MAX_REDIRECTS: usize = 10;

/// The headers of one request: the user's (the run's Host, User-Agent and
/// Accept with the class's defaults), the step's own, and the body's type.
fn headers_for(
    shared: &Shared,
    user_headers: &HeaderMap,
    step: &Step,
    context: &Value,
) -> Result<HeaderMap, String> {
    let mut headers = user_headers.clone();
    for (header, value) in &step.headers {
        let value = value.render(&shared.scenario.templates, context)?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("header {header}: value is not valid in a header"))?;
        headers.insert(header.clone(), value);
    }
    match &step.body {
        Body::Json(_) => {
            headers
                .entry(CONTENT_TYPE)
                .or_insert(HeaderValue::from_static("application/json"));
        }
        Body::Form(_) => {
            headers
                .entry(CONTENT_TYPE)
                .or_insert(HeaderValue::from_static(
                    "application/x-www-form-urlencoded",
                ));
        }
        Body::None | Body::Raw(_) => {}
    }
    Ok(headers)
}

/// Sends the request and follows redirects within the target, as Locust's
/// `requests` session does; a redirect elsewhere is not followed, since load
/// only goes to the target. Returns the status, the body (when `keep_body`)
/// and the body's length.
async fn exchange_following_redirects(
    session: &mut Session,
    cookies: &mut CookieJar,
    (shared, shard): (&Shared, usize),
    prepared: Prepared,
    keep_body: Option<usize>,
    headers_again: impl Fn() -> Result<HeaderMap, String>,
) -> Result<(StatusCode, Bytes, u64), String> {
    let Prepared {
        mut method,
        mut uri,
        mut headers,
        mut body,
        ..
    } = prepared;
    let secure_channel = shared.target.is_tls();
    for hop in 0.. {
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        // A step's own Cookie header stands; otherwise the jar's applies.
        if !headers.contains_key(COOKIE) {
            if let Some(cookie) = cookies.header(target, secure_channel) {
                headers.insert(COOKIE, cookie);
            }
        }
        let request = Outgoing {
            method: &method,
            target,
            headers: &headers,
            body: &body,
        };
        let response = session.exchange(&request, keep_body).await?;
        shared.recorder.record_wire(shard, &response.wire);
        for set_cookie in &response.set_cookies {
            cookies.store(set_cookie, target);
        }
        let next = response
            .location
            .filter(|_| response.status.is_redirection())
            .and_then(|location| {
                let current = shared.scenario.host.join(&uri.to_string()).ok()?;
                let next = current.join(&location).ok()?;
                (next.origin() == shared.scenario.host.origin()).then_some(next)
            });
        let Some(next) = next else {
            return Ok((response.status, response.body, response.body_length));
        };
        if hop == MAX_REDIRECTS {
            return Err(format!("too many redirects (more than {MAX_REDIRECTS})"));
        }
        let path_and_query = match next.query() {
            Some(query) => format!("{}?{query}", next.path()),
            None => next.path().to_owned(),
        };
        uri = Uri::try_from(path_and_query.as_str())
            .map_err(|e| format!("redirect to an invalid path: {e}"))?;
        headers = headers_again()?;
        let becomes_get = response.status == StatusCode::SEE_OTHER && method != Method::HEAD
            || matches!(
                response.status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND
            ) && method == Method::POST;
        if becomes_get {
            method = Method::GET;
            body = Bytes::new();
            headers.remove(CONTENT_TYPE);
        }
    }
    unreachable!("the loop returns by MAX_REDIRECTS")
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
    query: Option<&str>,
    templates: &crate::scenario::Templates,
    context: &Value,
) -> Result<Arc<str>, String> {
    Ok(match (&step.name, &step.path, query) {
        (Some(Text::Static(name)), _, _) => name.clone(),
        (Some(name), _, _) => name.render(templates, context)?.into(),
        (None, _, Some(query)) => format!("{path}?{query}").into(),
        // A fixed path names its row without an allocation per request.
        (None, Text::Static(path), None) => path.clone(),
        (None, Text::Template { .. }, None) => path.into(),
    })
}

async fn pause(think: Duration) {
    if !think.is_zero() {
        tokio::time::sleep(think).await;
    }
}
