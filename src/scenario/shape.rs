//! The load over time: how many users should be running, or how many
//! iterations should start per second, at any moment of the run.
//!
//! Stages ramp linearly from the previous stage's target to their own over
//! their duration (k6's stages; a stage of length zero is a step), starting
//! from zero, and the last target holds until the run ends. Pure arithmetic,
//! so the engine only asks "how many now?" and "when is the next one due?".

use std::time::Duration;

use super::{Load, Stages};

/// A piecewise-linear curve through the stages' targets, from 0 at time 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    segments: Vec<Segment>,
    /// Where the last segment ends; the value holds from there.
    end: f64,
    /// The integral of the curve from 0 to `end`.
    area: f64,
    last: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct Segment {
    start: f64,
    length: f64,
    from: f64,
    to: f64,
    /// The integral of the curve from 0 to `start`.
    area_before: f64,
}

impl Curve {
    /// A curve through `(length, target)` stages, in seconds.
    pub fn through(stages: impl IntoIterator<Item = (f64, f64)>) -> Self {
        let mut curve = Self {
            segments: Vec::new(),
            end: 0.0,
            area: 0.0,
            last: 0.0,
        };
        for (length, to) in stages {
            let from = curve.last;
            if length > 0.0 {
                curve.segments.push(Segment {
                    start: curve.end,
                    length,
                    from,
                    to,
                    area_before: curve.area,
                });
                curve.end += length;
                curve.area += (from + to) / 2.0 * length;
            }
            curve.last = to;
        }
        curve
    }

    pub fn constant(value: f64) -> Self {
        Self::through([(0.0, value)])
    }

    /// The curve's value `t` seconds into the run.
    pub fn at(&self, t: f64) -> f64 {
        match self
            .segments
            .iter()
            .find(|s| t >= s.start && t < s.start + s.length)
        {
            Some(s) => s.from + (s.to - s.from) * (t - s.start) / s.length,
            None if t < 0.0 => 0.0,
            None => self.last,
        }
    }

    /// When the integral of the curve reaches `n`: the due time of the
    /// `n`-th iteration, counting from 0, when the curve is a rate. `None`
    /// when it never does (the curve ends at zero first).
    pub fn time_of(&self, n: f64) -> Option<f64> {
        for s in &self.segments {
            let area = (s.from + s.to) / 2.0 * s.length;
            if s.area_before + area >= n {
                let rest = n - s.area_before;
                // Solves from·x + slope·x²/2 = rest for the smallest x ≥ 0, in
                // the form that stays exact when the slope is zero.
                let slope = (s.to - s.from) / s.length;
                let root = (s.from * s.from + 2.0 * slope * rest).max(0.0).sqrt();
                let x = if rest <= 0.0 {
                    0.0
                } else {
                    2.0 * rest / (s.from + root)
                };
                return Some(s.start + x.min(s.length));
            }
        }
        if n <= self.area {
            return Some(self.end);
        }
        (self.last > 0.0).then(|| self.end + (n - self.area) / self.last)
    }

    /// From when on the value no longer changes.
    pub fn settles_at(&self) -> f64 {
        self.end
    }

    pub fn peak(&self) -> f64 {
        self.segments
            .iter()
            .map(|s| s.from.max(s.to))
            .fold(self.last, f64::max)
    }
}

/// How many users run over time.
#[derive(Debug, Clone, PartialEq)]
pub enum UserPlan {
    /// Locust's ramp: one user at once, then `spawn_rate` a second up to `users`.
    Ramp { users: u64, spawn_rate: f64 },
    /// Stages of target users.
    Stages(Curve),
}

impl UserPlan {
    pub fn of(load: &Load) -> Self {
        match &load.stages {
            Some(Stages::Users(stages)) => Self::Stages(Curve::through(
                stages
                    .iter()
                    .map(|(length, users)| (length.as_secs_f64(), *users as f64)),
            )),
            _ => Self::Ramp {
                users: load.users,
                spawn_rate: load.spawn_rate,
            },
        }
    }

    /// Users that should be running `t` into the run.
    pub fn users_at(&self, t: Duration) -> u64 {
        match self {
            Self::Ramp { users, spawn_rate } => {
                ((t.as_secs_f64() * spawn_rate).floor() as u64 + 1).min(*users)
            }
            // Never above the line: a ramp to 10 users over 10 s has its
            // tenth user at 10 s.
            Self::Stages(curve) => (curve.at(t.as_secs_f64()) + 1e-9).floor() as u64,
        }
    }

    /// When the number of users stops changing: the ramp-up's end, or the
    /// last stage's.
    pub fn settles_at(&self) -> Duration {
        match self {
            Self::Ramp { users, spawn_rate } => {
                Duration::from_secs_f64(users.saturating_sub(1) as f64 / spawn_rate)
            }
            Self::Stages(curve) => Duration::from_secs_f64(curve.settles_at()),
        }
    }
}

/// The open model's iterations per second over time, if it is open.
pub fn arrival_curve(load: &Load) -> Option<Curve> {
    match &load.stages {
        Some(Stages::Rates(stages)) => Some(Curve::through(
            stages
                .iter()
                .map(|(length, rate)| (length.as_secs_f64(), *rate)),
        )),
        _ => load.arrival_rate.map(Curve::constant),
    }
}

/// The part of the run that `reset_stats` leaves out of the statistics:
/// until every user has started, or with stages, the first stage.
pub fn ramp_up(load: &Load) -> Duration {
    match &load.stages {
        Some(stages) => stages.durations().first().copied().unwrap_or_default(),
        None => UserPlan::of(load).settles_at(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_curve_ramps_through_its_stages_and_holds_the_last() {
        // 0 → 10 over 10 s, hold 10 s, step to 20, down to 0 over 5 s.
        let curve = Curve::through([(10.0, 10.0), (10.0, 10.0), (0.0, 20.0), (5.0, 0.0)]);
        assert!(close(curve.at(0.0), 0.0));
        assert!(close(curve.at(5.0), 5.0));
        assert!(close(curve.at(15.0), 10.0));
        assert!(close(curve.at(20.0), 20.0));
        assert!(close(curve.at(22.5), 10.0));
        assert!(close(curve.at(99.0), 0.0));
        assert!(close(curve.peak(), 20.0));
        assert!(close(curve.settles_at(), 25.0));
    }

    #[test]
    fn due_times_follow_the_integral_of_the_rate() {
        let constant = Curve::constant(40.0);
        assert!(close(constant.time_of(0.0).unwrap(), 0.0));
        assert!(close(constant.time_of(3.0).unwrap(), 0.075));

        // 0 → 10/s over 10 s: 50 iterations in all; the n-th at sqrt(2n).
        let ramp = Curve::through([(10.0, 10.0)]);
        assert!(close(ramp.time_of(8.0).unwrap(), 4.0));
        assert!(close(ramp.time_of(50.0).unwrap(), 10.0));
        assert!(close(ramp.time_of(60.0).unwrap(), 11.0));

        // Down from 10/s to 0 over 10 s: 50 iterations, then none.
        let down = Curve::through([(0.0, 10.0), (10.0, 0.0)]);
        assert!(close(down.time_of(0.0).unwrap(), 0.0));
        // 10x - x²/2 = 18 → x = 2.
        assert!(close(down.time_of(18.0).unwrap(), 2.0));
        assert_eq!(down.time_of(50.5), None);

        // A pause at zero between two rates.
        let paused = Curve::through([(0.0, 10.0), (1.0, 10.0), (0.0, 0.0), (2.0, 0.0), (0.0, 5.0)]);
        assert!(close(paused.time_of(10.0).unwrap(), 1.0));
        assert!(close(paused.time_of(15.0).unwrap(), 4.0));
    }

    #[test]
    fn due_times_count_every_iteration_of_a_ramp_once() {
        let curve = Curve::through([(3.0, 30.0), (4.0, 30.0), (3.0, 0.0)]);
        let mut previous = 0.0;
        let mut count = 0;
        while let Some(t) = curve.time_of(count as f64) {
            assert!(t >= previous, "due times never go back");
            previous = t;
            count += 1;
        }
        // 45 + 120 + 45 iterations, the first at 0.
        assert_eq!(count, 211);
    }

    #[test]
    fn user_plans_never_exceed_their_line() {
        let ramp = UserPlan::Ramp {
            users: 10,
            spawn_rate: 2.0,
        };
        assert_eq!(ramp.users_at(Duration::ZERO), 1);
        assert_eq!(ramp.users_at(Duration::from_millis(2600)), 6);
        assert_eq!(ramp.users_at(Duration::from_secs(60)), 10);
        assert_eq!(ramp.settles_at(), Duration::from_millis(4500));

        let stages = UserPlan::Stages(Curve::through([(10.0, 10.0), (5.0, 10.0), (5.0, 0.0)]));
        assert_eq!(stages.users_at(Duration::ZERO), 0);
        assert_eq!(stages.users_at(Duration::from_millis(999)), 0);
        assert_eq!(stages.users_at(Duration::from_secs(1)), 1);
        assert_eq!(stages.users_at(Duration::from_secs(10)), 10);
        assert_eq!(stages.users_at(Duration::from_millis(17_500)), 5);
        assert_eq!(stages.users_at(Duration::from_secs(30)), 0);
        assert_eq!(stages.settles_at(), Duration::from_secs(20));
    }
}
