//! `[load]` and its stages: how many users, how fast, for how long.

use super::*;

impl Compiler<'_> {
    pub(super) fn load(&mut self, raw: &RawLoad) -> Option<Load> {
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
        let seed = match &raw.seed {
            None => Some(None),
            Some(v) => match v.get_ref().as_integer() {
                Some(seed) if seed >= 0 => Some(Some(seed as u64)),
                _ => self.check(
                    v.span(),
                    Err(format!(
                        "seed must be a whole number of at least 0, got {}",
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
            seed: seed?,
        };
        if let (Some(message), Some(v)) = (load.nothing_measured(), &raw.reset_stats) {
            self.d.error(Some(v.span()), message);
        }
        Some(load)
    }

    /// Stages are all of users (the closed model) or all of rates (the open
    /// model); each has a duration, and some stage has a target above zero.
    /// Returns the stages that are valid, and whether all were.
    pub(super) fn stages(&mut self, raw: &[Spanned<RawStage>]) -> (Option<Stages>, bool) {
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
