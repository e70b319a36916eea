//! Every parser of outside input, under mutation.

use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::exercise;
use super::mutate::{unpack, DIRECTORY_FILES};

fn text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

#[test]
fn scenario_parser() {
    use crate::scenario::shape::{arrival_curve, ramp_up, UserPlan};
    exercise("scenario", 32 << 20, |input| {
        let env = |_: &str| Some("s3cr3t-value".to_owned());
        let config = crate::config::parse_with_env(Path::new("scenario.toml"), &text(input), &env)
            .map_err(|e| e.to_string())?;
        let scenario = config.scenario;
        // What the run derives from an accepted scenario must not overflow
        // either: `duration = "1e19"` once passed validate and panicked here.
        let load = &scenario.load;
        let end = load.duration + load.stop_timeout + load.request_timeout;
        assert!(
            Instant::now().checked_add(end).is_some(),
            "{end:?} overflows an Instant"
        );
        let plan = UserPlan::of(load);
        let _ = (
            plan.users_at(Duration::ZERO),
            plan.users_at(load.duration),
            plan.settles_at(),
        );
        if let Some(curve) = arrival_curve(load) {
            let seconds = load.duration.as_secs_f64();
            let _ = (curve.at(seconds), curve.peak(), curve.settles_at());
            let _ = curve.time_of(curve.peak() * seconds);
        }
        let _ = (ramp_up(load), load.describe(), load.nothing_measured());
        let mut rng = SmallRng::seed_from_u64(1);
        for user in &scenario.users {
            let _ = user.wait.after(Duration::from_millis(5), &mut rng);
        }
        Ok::<_, String>(())
    });
}

#[test]
fn stats_csv_parser() {
    exercise("stats_csv", 16 << 20, |input| {
        crate::results::parse_stats_csv(input, Path::new("stats.csv"))
    });
}

#[test]
fn histograms_json_parser() {
    // A histogram as swarmgate writes it holds a few hundred KiB at most.
    exercise("histograms", 64 << 20, |input| {
        crate::results::histograms::run_stats(input, "histograms.json")
    });
}

#[test]
fn summary_json_parser() {
    exercise("summary", 16 << 20, |input| {
        crate::report::parse_saved_summary(input)
    });
}

#[test]
fn rules_parser() {
    exercise("rules", 16 << 20, |input| {
        crate::gate::rules::Rules::parse(Path::new("rules.toml"), &text(input))
    });
}

#[test]
fn history_parser() {
    exercise("history", 16 << 20, |input| {
        crate::history::parse(input, Path::new("history.csv"))
    });
}

#[test]
fn response_parser() {
    use crate::engine::wire::{parse_head, Chunks, Framing};
    exercise("response", 4 << 20, |input| {
        for method in [hyper::Method::GET, hyper::Method::HEAD] {
            let mut buffer = bytes::BytesMut::from(input);
            let Ok(Some(head)) = parse_head(&mut buffer, &method) else {
                continue;
            };
            if head.framing == Framing::Chunked {
                // In two parts, as a body arrives: the decoder must keep its
                // place between them.
                let second = buffer.split_off(buffer.len() / 2);
                let mut chunks = Chunks::default();
                let mut body = 0;
                if chunks
                    .decode(&mut buffer, |part| body += part.len())
                    .is_ok()
                {
                    buffer.extend_from_slice(&second);
                    let _ = chunks.decode(&mut buffer, |part| body += part.len());
                }
                assert!(
                    body <= input.len(),
                    "{body} body bytes from {} read",
                    input.len()
                );
            }
        }
        Ok::<_, String>(())
    });
}

#[test]
fn cookie_parser() {
    exercise("cookies", 4 << 20, |input| {
        let mut jar = crate::engine::cookies::CookieJar::default();
        for line in text(input).lines() {
            jar.store(line, "/api/items/");
        }
        let _ = (jar.header("/api/items/", false), jar.header("/", true));
        Ok::<_, String>(())
    });
}

#[test]
fn report_renderer() {
    let dir = tempfile::tempdir().unwrap();
    exercise("report", 64 << 20, |input| {
        for name in DIRECTORY_FILES {
            let _ = std::fs::remove_file(dir.path().join(name));
        }
        let mut history = Vec::new();
        for (name, bytes) in unpack(input) {
            if name == "history.csv" {
                history = crate::history::parse(bytes, Path::new(name)).unwrap_or_default();
            } else {
                std::fs::write(dir.path().join(name), bytes).unwrap();
            }
        }
        // `{:#}`: the whole chain of what was wrong.
        crate::report::render_results_dir(dir.path(), &history).map_err(|e| format!("{e:#}"))
    });
}
