//! Mutation tests over every parser of outside input: seeded mutations of
//! real inputs, for a fixed time each, must come back as a value or an error,
//! never as a panic, and within a memory bound.
//!
//! `fixtures/corpus/<parser>/` holds the inputs: `seed-*` are genuine files to
//! mutate (and must parse), `crash-*` once panicked, hung or allocated without
//! bound, and are replayed first. An input that fails is written to
//! `target/mutation-failures/<parser>/` so that it can join the corpus.
//! `SWARMGATE_MUTATION_MS` sets the time per parser (default 1500 ms); the
//! random sequence is fixed, so a longer budget only goes further along it.
//!
//! Why not proptest or cargo-fuzz: stable Rust, no new dependency, and the
//! parsers' inputs are text formats whose interesting mutations (a number
//! made absurd, a line repeated, a JSON value swapped) are a few lines here.

mod allocator;
mod mutate;
mod parsers;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use allocator::{ARMED, CURRENT, DUMP_PATH, LIVE, PEAK};
use mutate::{mutate, mutate_directory, pack};

/// Longer inputs are cut: the parsers' size limits are tested elsewhere,
/// and short inputs are where the mutations bite.
const MAX_INPUT: usize = 256 << 10;
/// One input parsed this slowly fails the test.
const MAX_PARSE_TIME: Duration = Duration::from_secs(10);
/// Mutated inputs each parser sees however busy the machine is.
const MIN_MUTATIONS: usize = 200;

struct Corpus {
    /// Entries that are directories are results directories, each packed
    /// into one buffer (see [`pack`]) and mutated a file at a time.
    directories: bool,
    seeds: Vec<(String, Vec<u8>)>,
    crashers: Vec<(String, Vec<u8>)>,
}

fn corpus(name: &str) -> Corpus {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/corpus")
        .join(name);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    entries.sort();
    let mut corpus = Corpus {
        directories: entries.iter().all(|path| path.is_dir()),
        seeds: Vec::new(),
        crashers: Vec::new(),
    };
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = if corpus.directories {
            pack(&path)
        } else {
            std::fs::read(&path).unwrap()
        };
        if name.starts_with("seed-") {
            corpus.seeds.push((name, bytes));
        } else {
            corpus.crashers.push((name, bytes));
        }
    }
    assert!(
        !corpus.seeds.is_empty(),
        "{} holds no seed-*",
        dir.display()
    );
    corpus
}

/// Runs the parser `name` (its corpus directory's name) on its corpus and
/// then on mutations of it until the time budget is spent; panics naming the
/// saved input at the first failure. `memory_limit` is the most one parse
/// may hold at once, above what was live before it.
fn exercise<T, E: std::fmt::Display>(
    name: &str,
    memory_limit: usize,
    parse: impl Fn(&[u8]) -> Result<T, E>,
) {
    let parse = |input: &[u8]| parse(input).map(drop).map_err(|e| e.to_string());
    let corpus = corpus(name);
    let failures_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/mutation-failures")
        .join(name);
    std::fs::create_dir_all(&failures_dir).unwrap();
    let dump_path = std::ffi::CString::new(
        failures_dir
            .join("refused-allocation")
            .to_string_lossy()
            .as_bytes(),
    )
    .unwrap();
    let fail = |what: String, input: &[u8], origin: &str| -> ! {
        let path = failures_dir.join(format!("{:016x}", fnv(input)));
        std::fs::write(&path, input).unwrap();
        panic!(
            "{} parser: {what}, on {} (from {origin}); once fixed, move it to fixtures/corpus/{}/crash-…",
            name,
            path.display(),
            name
        );
    };
    let mut worst_peak = 0;
    let mut slowest = Duration::ZERO;
    let mut check = |input: &[u8], origin: &str, must_parse: bool| {
        let started = Instant::now();
        let (result, peak) = parse_one(input, &dump_path, &parse);
        let took = started.elapsed();
        worst_peak = worst_peak.max(peak);
        slowest = slowest.max(took);
        match result {
            Err(()) => fail("panicked".into(), input, origin),
            // Generous for a busy machine: what it catches is a loop that
            // grows with a number in the input, not a slow parser.
            Ok(_) if took > MAX_PARSE_TIME => fail(
                format!("took {took:.1?}, over {MAX_PARSE_TIME:?}"),
                input,
                origin,
            ),
            Ok(_) if peak > memory_limit => fail(
                format!(
                    "held {} KiB at once, over its limit of {} KiB",
                    peak >> 10,
                    memory_limit >> 10
                ),
                input,
                origin,
            ),
            Ok(Err(error)) if must_parse => fail(format!("refused a seed: {error}"), input, origin),
            Ok(_) => {}
        }
    };
    for (name, input) in &corpus.seeds {
        check(input, name, true);
    }
    for (name, input) in &corpus.crashers {
        check(input, name, false);
    }
    let budget = std::env::var("SWARMGATE_MUTATION_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_millis(1500));
    let started = Instant::now();
    let mut rng = SmallRng::seed_from_u64(fnv(name.as_bytes()));
    let all: Vec<&(String, Vec<u8>)> = corpus.seeds.iter().chain(&corpus.crashers).collect();
    let mut mutations = 0;
    while mutations < MIN_MUTATIONS || started.elapsed() < budget {
        let (origin, base) = all[rng.gen_range(0..all.len())];
        let other = &all[rng.gen_range(0..all.len())].1;
        let input = if corpus.directories {
            mutate_directory(&mut rng, base, other)
        } else {
            mutate(&mut rng, base, other)
        };
        check(&input, origin, false);
        mutations += 1;
    }
    eprintln!(
        "mutation {}: {} corpus inputs and {mutations} mutations in {:.1?}, at most {} KiB held, the slowest {slowest:.1?}",
        name,
        all.len(),
        started.elapsed(),
        worst_peak >> 10
    );
}

/// One parse, its panic caught and the most it held at once measured.
fn parse_one(
    input: &[u8],
    dump_path: &std::ffi::CStr,
    parse: &impl Fn(&[u8]) -> Result<(), String>,
) -> (Result<Result<(), String>, ()>, usize) {
    let before = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    CURRENT.with(|c| c.set((input.as_ptr(), input.len())));
    DUMP_PATH.with(|p| p.set(dump_path.as_ptr()));
    ARMED.with(|armed| armed.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| parse(input))).map_err(drop);
    ARMED.with(|armed| armed.set(false));
    CURRENT.with(|c| c.set((std::ptr::null(), 0)));
    let peak = PEAK.with(Cell::get).saturating_sub(before);
    (result, peak)
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
