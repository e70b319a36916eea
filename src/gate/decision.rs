//! The decision of one comparison from its change and interval: regressed,
//! improved, unchanged or inconclusive, and the words that say which claim
//! is made.

use super::format::significant;
use super::Outcome;

/// The decision shared by every metric: `bad_direction` is +1 when an
/// increase is bad (latency, failures), -1 when a decrease is (throughput).
pub(crate) struct Judged {
    pub outcome: Outcome,
    pub words: String,
}

/// Significant and relevant: a change is `regressed` (or `improved`) when
/// its interval excludes no change on that side and its estimate is beyond
/// the tolerance; `unchanged` only when the whole interval lies within the
/// tolerance; `inconclusive` otherwise. With no true change the interval
/// excludes zero on the bad side with chance at most `alpha / 2`, so A/A
/// false alarms stay bounded by the family-wise level, while a change well
/// beyond the tolerance no longer needs its whole interval past it (docs/
/// gate.md, "The decision"). The words say which claim is made: a bound
/// beyond the tolerance ("at least +12%") or only an estimate beyond it.
pub(crate) struct Decision<'a> {
    pub change: f64,
    pub interval: (f64, f64),
    pub allowed: f64,
    pub bad_direction: f64,
    pub beyond_floor: bool,
    /// The tolerance as text, without its sign: `10%`, `1 pp`.
    pub tolerance_text: &'a str,
    /// A bound as text, with its sign: `+12%`, `+0.4 pp`.
    pub bound_text: fn(f64) -> String,
    /// The family-wise confidence the intervals share.
    pub confidence: f64,
    /// The interval accounts for how far the requests depend on each
    /// other (both sides have time blocks, or the noise between runs set
    /// it). Where requests are only taken as independent, the interval is
    /// too narrow for a correlated run, and the tolerance is the margin
    /// left: a change must then have its whole interval beyond it.
    pub modelled: bool,
}

pub(crate) fn decide(d: &Decision) -> Judged {
    let Decision {
        change,
        interval,
        allowed,
        bad_direction,
        beyond_floor,
        tolerance_text,
        bound_text,
        confidence,
        modelled,
    } = *d;
    // Each side's bound, and the estimate, in the direction of that side.
    let (bad_bound, good_bound) = if bad_direction > 0.0 {
        (interval.0, interval.1)
    } else {
        (interval.1, interval.0)
    };
    let toward = |direction: f64, value: f64| value * direction;
    // 95%, 99.4%: three significant digits, no trailing zeros.
    let confidence = format!(
        "{}%",
        significant(confidence * 100.0)
            .trim_end_matches('0')
            .trim_end_matches('.')
    );
    let sign = |direction: f64| if direction > 0.0 { "+" } else { "-" };
    let claim = |outcome: Outcome, direction: f64, bound: f64, word: &str| {
        let tolerance = format!("{}{tolerance_text}", sign(direction));
        let words = if toward(direction, bound) > allowed {
            format!(
                "{word}, at least {} with {confidence} confidence, beyond {tolerance}",
                bound_text(bound)
            )
        } else {
            format!(
                "{word}, beyond {tolerance}, and the interval excludes no change at {confidence} confidence"
            )
        };
        Judged { outcome, words }
    };
    let margin = if modelled { 0.0 } else { allowed };
    let significant = |direction: f64, bound: f64| toward(direction, bound) > margin;
    let relevant = |direction: f64| toward(direction, change) > allowed;
    if beyond_floor && significant(bad_direction, bad_bound) && relevant(bad_direction) {
        claim(Outcome::Regressed, bad_direction, bad_bound, "regressed")
    } else if beyond_floor && significant(-bad_direction, good_bound) && relevant(-bad_direction) {
        claim(Outcome::Improved, -bad_direction, good_bound, "improved")
    } else if !beyond_floor {
        Judged {
            outcome: Outcome::Unchanged,
            words: "unchanged, within the absolute floor".into(),
        }
    } else if interval.0 >= -allowed && interval.1 <= allowed {
        Judged {
            outcome: Outcome::Unchanged,
            words: format!("unchanged, the whole interval within ±{tolerance_text}"),
        }
    } else if change.abs() <= allowed {
        Judged {
            outcome: Outcome::Inconclusive,
            words: format!(
                "inconclusive, within ±{tolerance_text} but the interval reaches beyond it"
            ),
        }
    } else if modelled {
        Judged {
            outcome: Outcome::Inconclusive,
            words: format!(
                "inconclusive, beyond ±{tolerance_text} but the interval includes no change"
            ),
        }
    } else {
        Judged {
            outcome: Outcome::Inconclusive,
            words: format!(
                "inconclusive, beyond ±{tolerance_text} but requests taken as independent need the whole interval beyond it"
            ),
        }
    }
}
