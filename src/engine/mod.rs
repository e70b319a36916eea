//! The swarm: users started at the spawn rate, run for a fixed time, stopped,
//! and everything they did recorded.

pub(crate) mod cookies;
pub mod http;
pub mod limits;
pub mod rounds;
pub mod schedule;
pub mod target;
mod tls;
mod user;
pub mod watch;
pub(crate) mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hyper::header::{HeaderMap, HeaderValue, ACCEPT, HOST, USER_AGENT};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::{EndpointKey, Interval, Recorder, Sample, Snapshot};
use crate::scenario::{shape, Scenario};
use user::{Signals, User};

/// Time given to `on_stop` and to tasks that outlive `stop_timeout` before the
/// run is cut off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What a finished run hands on to results, gate and report.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub scenario: String,
    pub host: String,
    pub users: u64,
    pub spawn_rate: f64,
    pub duration: Duration,
    pub started_at: SystemTime,
    /// From the first user's start to the end of the swarm.
    pub elapsed: Duration,
    /// What the statistics cover: `elapsed`, or with `reset_stats` what
    /// followed the ramp-up; the divisor of requests per second.
    pub measured: Duration,
    pub peak_users: u64,
    /// The ramp-up the statistics include, from their start: none with
    /// `reset_stats`, whose statistics start when it ends.
    pub ramp_up: Duration,
    /// Stopped by Ctrl-C before its time was up.
    pub interrupted: bool,
    /// How well the open model kept its schedule; `None` in the closed model.
    pub schedule: Option<schedule::ScheduleReport>,
    /// Requests still waiting for their response when the run ended: not in
    /// the statistics, but never silently gone.
    pub cut_off: u64,
    /// Panics inside swarmgate's own user or scheduler tasks, by message:
    /// such a run measured something other than the scenario.
    pub faults: Vec<String>,
    /// Steps (method and path source) whose requests went past the row limit
    /// and were counted under [`crate::metrics::OTHER_ENDPOINTS`].
    pub over_row_limit: Vec<String>,
    pub stats: Snapshot,
    /// How the generator and its machine fared; `None` when not watched.
    pub machine: Option<crate::metrics::watch::MachineWatch>,
}

impl RunResult {
    /// The run as every output may show it: no secret anywhere in it.
    pub fn redacted(mut self, secrets: &crate::text::Secrets) -> RunResult {
        self.host = crate::text::without_userinfo(&self.host).into_owned();
        self.faults = self
            .faults
            .iter()
            .map(|f| secrets.redact(f).into_owned())
            .collect();
        self.stats = self.stats.redact(secrets);
        self
    }

    /// What the user should know about how the run went.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings: Vec<String> = self
            .schedule
            .as_ref()
            .and_then(|s| s.shortfall())
            .into_iter()
            .collect();
        if self.cut_off > 0 {
            warnings.push(format!(
                "{} request(s) were still waiting for a response when the run ended and are not in the statistics; stop_timeout lets running tasks finish",
                self.cut_off
            ));
        }
        if !self.over_row_limit.is_empty() {
            warnings.push(format!(
                "more than {} distinct names: requests of {} were counted under \"{}\"; give such a step a `name` (e.g. name = \"/products/[id]\") so they group in one row",
                crate::metrics::MAX_ENDPOINTS,
                self.over_row_limit.join(", "),
                crate::metrics::OTHER_ENDPOINTS
            ));
        }
        warnings
    }
}

/// One second of the run, as it happens.
pub struct Tick<'a> {
    pub now: SystemTime,
    pub elapsed: Duration,
    pub users: u64,
    pub interval: &'a Interval,
    /// Seconds the interval covers (the last one may be shorter).
    pub interval_secs: f64,
}

/// Watches the run: live progress, the streamed history file.
pub trait Observer {
    fn notice(&mut self, message: &str);
    fn tick(&mut self, tick: &Tick) -> anyhow::Result<()>;
}

/// What every user of a run shares.
pub(crate) struct Shared {
    pub scenario: Arc<Scenario>,
    pub recorder: Recorder,
    pub target: Arc<http::Target>,
    /// The request target of each step whose path is fixed, parsed once.
    pub fixed_uris: Vec<Option<hyper::Uri>>,
    /// Host, User-Agent and Accept: the same on every request of the run.
    pub base_headers: HeaderMap,
    /// The open model's due times; `None` in the closed model.
    pub schedule: Option<schedule::Schedule>,
    /// Requests dropped in flight by the run's end (see [`RunResult::cut_off`]).
    pub cut_off: AtomicU64,
    /// See [`RunResult::over_row_limit`]; touched only past the limit.
    pub over_row_limit: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Shared {
    fn record(
        &self,
        shard: usize,
        step: &crate::scenario::Step,
        key: &EndpointKey,
        sample: Sample,
    ) {
        if !self.recorder.record(shard, key, sample) {
            self.over_row_limit
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(format!("{} {}", step.method, step.path.source()));
        }
    }
}

/// Runs the scenario against `addresses` (its host, resolved and checked)
/// until its duration is up or `interrupt` fires.
pub async fn run(
    scenario: Arc<Scenario>,
    addresses: Vec<SocketAddr>,
    observer: &mut dyn Observer,
    interrupt: CancellationToken,
) -> anyhow::Result<RunResult> {
    if let Some(warning) = limits::raise_open_files(scenario.load.users) {
        observer.notice(&warning);
    }
    // The backlog lets a second of iterations wait for a free user before
    // more are dropped.
    let scheduled = match shape::arrival_curve(&scenario.load) {
        Some(rate) => {
            let (schedule, sender) =
                schedule::Schedule::new(rate.peak().ceil() as usize + scenario.load.users as usize);
            (Some(schedule), Some((rate, sender)))
        }
        None => (None, None),
    };
    let peak_rate = scheduled.1.as_ref().map(|(rate, _)| rate.peak());
    let shards = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        * 4;
    let shared = Arc::new(Shared {
        target: http::Target::new(&scenario.host, addresses, &scenario.tls)?,
        fixed_uris: fixed_uris(&scenario),
        base_headers: base_headers(&scenario.host, scenario.credentials.as_deref())?,
        schedule: scheduled.0,
        recorder: Recorder::new(shards),
        scenario: scenario.clone(),
        cut_off: AtomicU64::new(0),
        over_row_limit: Default::default(),
    });
    let signals = Signals {
        stopping: CancellationToken::new(),
        abort: CancellationToken::new(),
    };
    let active = Arc::new(AtomicU64::new(0));
    let background = watch::background(&interrupt).await;
    let watcher = watch::Watcher::start();
    let started_at = SystemTime::now();
    let start = Instant::now();
    let load = scenario.load.clone();
    let mut last_tick = start;
    // Locust's history starts with a row at zero users; so does ours.
    emit_tick(observer, &shared.recorder, start, &mut last_tick, 0)?;

    let kill = CancellationToken::new();
    let spawner = tokio::spawn(drive_users(
        shared.clone(),
        shape::UserPlan::of(&load),
        signals.clone(),
        active.clone(),
        start,
        kill.clone(),
    ));

    let dispatcher = scheduled.1.map(|(rate, sender)| {
        let shared = shared.clone();
        let stopping = signals.stopping.clone();
        let end = start + load.duration;
        tokio::spawn(async move {
            let schedule = shared
                .schedule
                .as_ref()
                .expect("the open model has a schedule");
            schedule::dispatch(&rate, start, end, sender, schedule, stopping).await;
        })
    });
    let deadline = tokio::time::Instant::from_std(start + load.duration);
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::from_std(start) + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let block_tick = crate::metrics::blocks::TICK;
    let mut block_ticker = tokio::time::interval_at(
        tokio::time::Instant::from_std(start) + block_tick,
        block_tick,
    );
    block_ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_block = start;
    let mut peak_users = 0;
    // With reset_stats the statistics start when the ramp-up ends.
    let reset_at = load.reset_stats.then(|| start + shape::ramp_up(&load));
    let mut measured_from = if reset_at.is_some() {
        None
    } else {
        Some(start)
    };
    let interrupted = loop {
        tokio::select! {
            biased;
            _ = interrupt.cancelled() => break true,
            _ = tokio::time::sleep_until(deadline) => break false,
            _ = sleep_until_some(reset_at), if measured_from.is_none() => {
                shared.recorder.reset();
                observer.notice("ramp-up over: the statistics start now (reset_stats)");
                measured_from = Some(Instant::now());
                last_block = Instant::now();
            }
            _ = block_ticker.tick() => {
                let now = Instant::now();
                shared.recorder.end_tick(now.duration_since(last_block).as_secs_f64());
                last_block = now;
            }
            _ = ticker.tick() => {
                let users = active.load(Ordering::Relaxed);
                peak_users = peak_users.max(users);
                emit_tick(observer, &shared.recorder, start, &mut last_tick, users)?;
            }
        }
    };
    let elapsed = start.elapsed();
    let measured = measured_from.map_or(Duration::ZERO, |from| from.elapsed());
    let machine = watcher.finish(background).await;
    // The shutdown gets a block of its own: its falling rate is not noise.
    shared
        .recorder
        .end_block(last_block.elapsed().as_secs_f64());
    last_block = Instant::now();

    signals.stopping.cancel();
    if interrupted || load.stop_timeout.is_zero() {
        signals.abort.cancel();
    } else {
        let abort = signals.abort.clone();
        tokio::spawn(async move {
            tokio::time::sleep(load.stop_timeout).await;
            abort.cancel();
        });
    }
    let mut spawner = spawner;
    if interrupted {
        // The user asked to stop now: no on_stop, no grace.
        kill.cancel();
    }
    let mut faults = tokio::select! {
        faults = &mut spawner => faults,
        _ = tokio::time::sleep(load.stop_timeout + SHUTDOWN_GRACE), if !interrupted => {
            observer.notice("some users did not stop in time; cutting them off");
            kill.cancel();
            (&mut spawner).await
        }
        _ = interrupt.cancelled(), if !interrupted => {
            kill.cancel();
            (&mut spawner).await
        }
    }
    .unwrap_or_else(|error| vec![task_fault("the user scheduler", error)]);
    if let Some(dispatcher) = dispatcher {
        dispatcher.abort();
        if let Err(error) = dispatcher.await {
            if error.is_panic() {
                faults.push(task_fault("the arrival schedule", error));
            }
        }
    }
    emit_tick(observer, &shared.recorder, start, &mut last_tick, 0)?;

    let over_row_limit: Vec<String> = shared
        .over_row_limit
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .cloned()
        .collect();
    Ok(RunResult {
        scenario: scenario.name.clone(),
        host: scenario.host.to_string(),
        users: load.users,
        spawn_rate: load.spawn_rate,
        duration: load.duration,
        started_at,
        elapsed,
        measured,
        peak_users,
        ramp_up: if load.reset_stats {
            Duration::ZERO
        } else {
            shape::ramp_up(&load).min(elapsed)
        },
        interrupted,
        schedule: peak_rate.and_then(|rate| shared.schedule.as_ref().map(|s| s.report(rate))),
        cut_off: shared.cut_off.load(Ordering::Relaxed),
        faults,
        over_row_limit,
        stats: shared.recorder.finish(last_block.elapsed().as_secs_f64()),
        machine: Some(machine),
    })
}

fn fixed_uris(scenario: &Scenario) -> Vec<Option<hyper::Uri>> {
    let mut uris = vec![None; scenario.steps().count()];
    for step in scenario.steps() {
        if let crate::scenario::Text::Static(path) = &step.path {
            uris[step.id] = hyper::Uri::try_from(&**path).ok();
        }
    }
    uris
}

fn base_headers(host: &url::Url, credentials: Option<&str>) -> anyhow::Result<HeaderMap> {
    let authority = match host.port() {
        Some(port) => format!("{}:{port}", host.host_str().unwrap_or_default()),
        None => host.host_str().unwrap_or_default().to_owned(),
    };
    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_str(&authority)?);
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("swarmgate/", env!("CARGO_PKG_VERSION"))),
    );
    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    if let Some(credentials) = credentials {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))?;
        value.set_sensitive(true);
        headers.insert(hyper::header::AUTHORIZATION, value);
    }
    Ok(headers)
}

fn emit_tick(
    observer: &mut dyn Observer,
    recorder: &Recorder,
    start: Instant,
    last: &mut Instant,
    users: u64,
) -> anyhow::Result<()> {
    let now = Instant::now();
    let interval = recorder.take_interval();
    let interval_secs = now.duration_since(*last).as_secs_f64();
    *last = now;
    observer.tick(&Tick {
        now: SystemTime::now(),
        elapsed: now - start,
        users,
        interval: &interval,
        interval_secs,
    })
}

async fn sleep_until_some(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
    }
}

/// What a task that panicked or was cancelled tells about itself.
fn task_fault(task: &str, error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return format!("{task} was cancelled");
    }
    let payload = error.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    format!("{task} panicked: {message}")
}

/// Users started in one go before the spawn loop yields, so that a huge
/// target never starves the timer, the ticks or Ctrl-C.
const SPAWN_BATCH: usize = 1000;

/// How often the number of running users is matched to the plan.
const STEER_EVERY: Duration = Duration::from_millis(10);

/// Keeps the number of running users on the plan, assigning classes by
/// weight, then waits for all of them to finish. Users beyond the plan are
/// stopped newest first, the way a Locust shape stops them: they finish their
/// task and run `on_stop`. `kill` drops every user where it is; the users
/// are awaited either way, so what they had in flight is counted before the
/// run's statistics are taken. Returns the users' panics.
async fn drive_users(
    shared: Arc<Shared>,
    plan: shape::UserPlan,
    signals: Signals,
    active: Arc<AtomicU64>,
    start: Instant,
    kill: CancellationToken,
) -> Vec<String> {
    let mut faults = Vec::new();
    let mut reap = |joined: Option<Result<(), tokio::task::JoinError>>| {
        if let Some(Err(error)) = joined {
            if error.is_panic() {
                faults.push(task_fault("a user task", error));
            }
        }
    };
    let mut users = JoinSet::new();
    let mut running: Vec<CancellationToken> = Vec::new();
    let mut started = 0u64;
    let mut classes =
        WeightedRoundRobin::new(shared.scenario.users.iter().map(|u| u.weight).collect());
    let settled = start + plan.settles_at();
    loop {
        let now = Instant::now();
        let target = plan.users_at(now - start) as usize;
        let batch_end = running.len() + SPAWN_BATCH;
        while running.len() < target.min(batch_end) {
            let stopping = signals.stopping.child_token();
            running.push(stopping.clone());
            let user = User::new(shared.clone(), classes.next(), started);
            started += 1;
            let signals = Signals {
                stopping,
                abort: signals.abort.clone(),
            };
            let active = active.clone();
            active.fetch_add(1, Ordering::Relaxed);
            users.spawn(async move {
                // Counted down however the user ends, a panic included.
                let _running = ActiveUser(active);
                user.run(signals).await;
            });
        }
        while running.len() > target {
            running
                .pop()
                .expect("more running than the target")
                .cancel();
        }
        if now >= settled && running.len() >= target {
            break;
        }
        if running.len() < target {
            tokio::task::yield_now().await;
            if signals.stopping.is_cancelled() || kill.is_cancelled() {
                break;
            }
            continue;
        }
        tokio::select! {
            _ = signals.stopping.cancelled() => break,
            _ = kill.cancelled() => break,
            _ = tokio::time::sleep(STEER_EVERY) => {}
            // Finished users are reaped as the plan goes on, not only at the end.
            joined = users.join_next(), if !users.is_empty() => reap(joined),
        }
    }
    let mut killed = false;
    loop {
        tokio::select! {
            joined = users.join_next() => match joined {
                None => break,
                joined => reap(joined),
            },
            _ = kill.cancelled(), if !killed => {
                killed = true;
                users.abort_all();
            }
        }
    }
    faults
}

struct ActiveUser(Arc<AtomicU64>);

impl Drop for ActiveUser {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Deterministic proportional assignment (smooth weighted round-robin): after
/// any number of users, each class's share is as close to its weight as it can be.
struct WeightedRoundRobin {
    weights: Vec<i64>,
    current: Vec<i64>,
}

impl WeightedRoundRobin {
    fn new(weights: Vec<u32>) -> Self {
        let weights: Vec<i64> = weights.into_iter().map(i64::from).collect();
        Self {
            current: vec![0; weights.len()],
            weights,
        }
    }

    fn next(&mut self) -> usize {
        let total: i64 = self.weights.iter().sum();
        for (current, weight) in self.current.iter_mut().zip(&self.weights) {
            *current += weight;
        }
        let (best, _) = self
            .current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
            .expect("at least one class");
        self.current[best] -= total;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_named_with_its_message() {
        let error = tokio::spawn(async { panic!("index out of bounds") })
            .await
            .unwrap_err();
        assert_eq!(
            task_fault("a user task", error),
            "a user task panicked: index out of bounds"
        );
        let owned = tokio::spawn(async { panic!("{} users", 3) })
            .await
            .unwrap_err();
        assert_eq!(
            task_fault("a user task", owned),
            "a user task panicked: 3 users"
        );
    }

    #[test]
    fn classes_are_assigned_in_proportion_to_weight() {
        let mut rr = WeightedRoundRobin::new(vec![3, 1]);
        let picks: Vec<usize> = (0..8).map(|_| rr.next()).collect();
        assert_eq!(picks.iter().filter(|&&c| c == 0).count(), 6);
        assert_eq!(&picks[..4].iter().filter(|&&c| c == 1).count(), &1);
        let mut single = WeightedRoundRobin::new(vec![5]);
        assert!((0..10).all(|_| single.next() == 0));
    }
}
