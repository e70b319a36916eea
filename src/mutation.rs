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

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

// Allocation accounting, per thread so that tests running beside each other
// do not mix their counts.

struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A single allocation this large while a parser runs is refused (which
/// aborts the test binary after the input has been written out): a bomb
/// must fail the test, not take the machine's memory.
const REFUSE_ABOVE: usize = 1 << 30;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// The input being parsed and where to write it if it is refused: the
    /// allocator cannot allocate to report it.
    static CURRENT: Cell<(*const u8, usize)> = const { Cell::new((std::ptr::null(), 0)) };
    static DUMP_PATH: Cell<*const libc::c_char> = const { Cell::new(std::ptr::null()) };
}

fn grew(size: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(size);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size)));
}

/// True when `size` must be refused; the input is then written out with
/// raw system calls, which do not allocate.
fn refuse(size: usize) -> bool {
    if size <= REFUSE_ABOVE || !ARMED.try_with(Cell::get).unwrap_or(false) {
        return false;
    }
    let (input, length) = CURRENT.try_with(Cell::get).unwrap_or((std::ptr::null(), 0));
    let path = DUMP_PATH.try_with(Cell::get).unwrap_or(std::ptr::null());
    if !input.is_null() && !path.is_null() {
        // SAFETY: both pointers come from `parse_one`, which keeps the input
        // and the path alive while the parser runs.
        unsafe {
            let fd = libc::open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644);
            if fd >= 0 {
                libc::write(fd, input.cast(), length);
                libc::close(fd);
            }
            let note = b"mutation: an input asked for over 1 GiB at once; it is in target/mutation-failures/\n";
            libc::write(2, note.as_ptr().cast(), note.len());
        }
    }
    true
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// bookkeeping touches only thread-local cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if refuse(layout.size()) {
            return std::ptr::null_mut();
        }
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            grew(layout.size());
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if refuse(layout.size()) {
            return std::ptr::null_mut();
        }
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            grew(layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        unsafe { System.dealloc(block, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && refuse(new_size) {
            return std::ptr::null_mut();
        }
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        moved
    }
}

// The harness.

/// How a parser's input is laid out: one file, or a results directory
/// packed into one buffer (see [`pack`]).
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    File,
    Directory,
}

struct Parser<'a> {
    name: &'a str,
    shape: Shape,
    /// The most a parse may hold at once, above what was live before it.
    memory_limit: usize,
}

/// Longer inputs are cut: the parsers' size limits are tested elsewhere,
/// and short inputs are where the mutations bite.
const MAX_INPUT: usize = 256 << 10;
/// One input parsed this slowly fails the test.
const MAX_PARSE_TIME: Duration = Duration::from_secs(10);
/// Mutated inputs each parser sees however busy the machine is.
const MIN_MUTATIONS: usize = 200;

struct Corpus {
    seeds: Vec<(String, Vec<u8>)>,
    crashers: Vec<(String, Vec<u8>)>,
}

fn corpus(parser: &Parser) -> Corpus {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/corpus")
        .join(parser.name);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    entries.sort();
    let mut corpus = Corpus {
        seeds: Vec::new(),
        crashers: Vec::new(),
    };
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = match parser.shape {
            Shape::File => std::fs::read(&path).unwrap(),
            Shape::Directory => pack(&path),
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

/// Runs `parse` on the corpus and then on mutations of it until the time
/// budget is spent; panics naming the saved input at the first failure.
fn exercise(parser: Parser, parse: impl Fn(&[u8]) -> Result<(), String>) {
    let corpus = corpus(&parser);
    let failures_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/mutation-failures")
        .join(parser.name);
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
            parser.name,
            path.display(),
            parser.name
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
            Ok(_) if peak > parser.memory_limit => fail(
                format!(
                    "held {} KiB at once, over its limit of {} KiB",
                    peak >> 10,
                    parser.memory_limit >> 10
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
    let mut rng = SmallRng::seed_from_u64(fnv(parser.name.as_bytes()));
    let all: Vec<&(String, Vec<u8>)> = corpus.seeds.iter().chain(&corpus.crashers).collect();
    let mut mutations = 0;
    while mutations < MIN_MUTATIONS || started.elapsed() < budget {
        let (origin, base) = all[rng.gen_range(0..all.len())];
        let other = &all[rng.gen_range(0..all.len())].1;
        let input = match parser.shape {
            Shape::File => mutate(&mut rng, base, other),
            Shape::Directory => mutate_directory(&mut rng, base, other),
        };
        check(&input, origin, false);
        mutations += 1;
    }
    eprintln!(
        "mutation {}: {} corpus inputs and {mutations} mutations in {:.1?}, at most {} KiB held, the slowest {slowest:.1?}",
        parser.name,
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

// Mutations.

/// Numbers that once broke a parser or sit at a type's edge.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "0.5",
    "1e-300",
    "1e-320",
    "1e12",
    "1e19",
    "1e20",
    "1e23",
    "9.99e22",
    "1e308",
    "1e309",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "0x10",
    "1_000",
    "",
];

/// Bytes that mean something to one of the formats, or to a terminal.
const TOKENS: &[&[u8]] = &[
    b"\0",
    b"\r\n",
    b"\n",
    b"\r",
    b"\"",
    b"'",
    b",",
    b";",
    b"=",
    b":",
    b"[",
    b"]",
    b"{",
    b"}",
    b"{{",
    b"}}",
    b"{%",
    b"%",
    b"..",
    b"..=",
    b"s",
    b"ms",
    b"\\",
    b"\xff",
    b"\xe2\x80\xae",
    b"\x1b[31m",
    b"\n::error::x\n",
    b"=SUM(1,2)",
    b"\r\n\r\n",
    b"0\r\n\r\n",
    b"Max-Age=",
    b"Expires=",
    b"Transfer-Encoding: chunked\r\n",
    b"Content-Length: ",
    b"N/A",
    b"Aggregated",
    b"[[user.task]]\n",
    b"[[load.stage]]\n",
];

fn mutate(rng: &mut SmallRng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for _ in 0..rng.gen_range(1..=3) {
        match rng.gen_range(0..11) {
            0 | 1 => replace_number(rng, &mut out),
            2 => {
                let token = TOKENS[rng.gen_range(0..TOKENS.len())];
                let at = rng.gen_range(0..=out.len());
                out.splice(at..at, token.iter().copied());
            }
            3 if !out.is_empty() => {
                let start = rng.gen_range(0..out.len());
                let end = (start + rng.gen_range(1..=32)).min(out.len());
                out.drain(start..end);
            }
            4 if !out.is_empty() => {
                let start = rng.gen_range(0..out.len());
                let end = (start + rng.gen_range(1..=256)).min(out.len());
                let copy = out[start..end].to_vec();
                let at = rng.gen_range(0..=out.len());
                out.splice(at..at, copy);
            }
            5 if !out.is_empty() => {
                let at = rng.gen_range(0..out.len());
                if rng.gen() {
                    out[at] ^= 1 << rng.gen_range(0..8);
                } else {
                    out[at] = rng.gen();
                }
            }
            6 => {
                let cut = rng.gen_range(0..=out.len());
                let from = rng.gen_range(0..=other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            7 => mutate_json(rng, &mut out),
            8 => repeat_line(rng, &mut out),
            9 => out.truncate(rng.gen_range(0..=out.len())),
            _ => replace_number(rng, &mut out),
        }
    }
    out.truncate(MAX_INPUT);
    out
}

/// Swaps one number in the text for an absurd one: the mutation that finds
/// most of what a parser trusts.
fn replace_number(rng: &mut SmallRng, out: &mut Vec<u8>) {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < out.len() {
        if out[i].is_ascii_digit() {
            let start = if i > 0 && out[i - 1] == b'-' {
                i - 1
            } else {
                i
            };
            while i < out.len() && matches!(out[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
            {
                i += 1;
            }
            runs.push(start..i);
        } else {
            i += 1;
        }
    }
    if runs.is_empty() {
        return;
    }
    let run = runs[rng.gen_range(0..runs.len())].clone();
    let number = match rng.gen_range(0..4) {
        0 => rng.gen::<u64>().to_string(),
        1 => format!(
            "{:e}",
            rng.gen::<f64>() * 10f64.powi(rng.gen_range(-320..309))
        ),
        _ => NUMBERS[rng.gen_range(0..NUMBERS.len())].to_owned(),
    };
    out.splice(run, number.into_bytes());
}

fn repeat_line(rng: &mut SmallRng, out: &mut Vec<u8>) {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            out.iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i < out.len())
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = starts[rng.gen_range(0..starts.len())];
    let end = out[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(out.len(), |p| start + p + 1);
    let line = out[start..end].to_vec();
    let times = if rng.gen_range(0..8) == 0 { 500 } else { 1 };
    for _ in 0..times {
        out.splice(end..end, line.iter().copied());
    }
}

/// Replaces one value of a JSON document (a number, a string, a whole
/// record) and writes it back: byte mutations rarely get past the JSON.
fn mutate_json(rng: &mut SmallRng, out: &mut Vec<u8>) {
    let Ok(mut document) = serde_json::from_slice::<serde_json::Value>(out) else {
        return;
    };
    let mut pointers = Vec::new();
    collect_pointers(&document, String::new(), &mut pointers);
    let pointer = &pointers[rng.gen_range(0..pointers.len())];
    let node = document.pointer_mut(pointer).expect("a collected pointer");
    *node = match (rng.gen_range(0..8), &*node) {
        (0 | 1, _) => {
            let number = NUMBERS[rng.gen_range(0..NUMBERS.len())];
            serde_json::from_str(number).unwrap_or_else(|_| number.into())
        }
        (2, serde_json::Value::String(text)) => match STANDARD.decode(text) {
            Ok(bytes) => STANDARD.encode(mutate_histogram(rng, &bytes)).into(),
            Err(_) => format!("{text}{text}").into(),
        },
        (3, serde_json::Value::Array(items)) if !items.is_empty() => {
            let mut items = items.clone();
            items.push(items[rng.gen_range(0..items.len())].clone());
            items.into()
        }
        (4, serde_json::Value::Number(n)) => {
            let n = n.as_f64().unwrap_or(1.0);
            serde_json::json!([n * 1e10, -n, n + 1.0, n / 1e10][rng.gen_range(0..4)])
        }
        (5, _) => serde_json::Value::Null,
        (6, _) => serde_json::json!("\n::error::x\u{1b}[31m=SUM(1)"),
        _ => serde_json::json!([]),
    };
    *out = serde_json::to_vec(&document).expect("JSON writes");
}

fn collect_pointers(value: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                collect_pointers(
                    child,
                    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// A V2+deflate HdrHistogram with its header or counts changed, deflated
/// again, so the mutation reaches what is checked after inflating.
fn mutate_histogram(rng: &mut SmallRng, encoded: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    if encoded.len() < 8
        || flate2::read::ZlibDecoder::new(&encoded[8..])
            .take(8 << 20)
            .read_to_end(&mut plain)
            .is_err()
        || plain.len() < 40
    {
        return mutate(rng, encoded, b"");
    }
    if rng.gen() {
        // cookie, payload length, offset, digits | lowest, highest, ratio
        let fields: [(usize, usize); 7] =
            [(0, 4), (4, 4), (8, 4), (12, 4), (16, 8), (24, 8), (32, 8)];
        let (at, width) = fields[rng.gen_range(0..fields.len())];
        let value: u64 = match rng.gen_range(0..4) {
            0 => 0,
            1 => u64::MAX,
            2 => 1 << rng.gen_range(0..64),
            _ => rng.gen(),
        };
        plain[at..at + width].copy_from_slice(&value.to_be_bytes()[8 - width..]);
    } else {
        let counts = mutate(rng, &plain[40..], b"");
        plain.truncate(40);
        plain.extend_from_slice(&counts);
    }
    let mut deflated = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    deflated.write_all(&plain).expect("deflates in memory");
    let deflated = deflated.finish().expect("deflates in memory");
    let mut out = encoded[..4].to_vec();
    let declared = if rng.gen_range(0..8) == 0 {
        rng.gen()
    } else {
        deflated.len() as u32
    };
    out.extend_from_slice(&declared.to_be_bytes());
    out.extend_from_slice(&deflated);
    out
}

// Results directories as one buffer, so that one mutation can reach any of
// their files.

const DIRECTORY_FILES: [&str; 6] = [
    "stats.csv",
    "histograms.json",
    "summary.json",
    "stats_history.csv",
    "failures.csv",
    "history.csv",
];
const FILE_MARK: &[u8] = b"\n\x00file ";

fn pack(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for name in DIRECTORY_FILES {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            out.extend_from_slice(FILE_MARK);
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
            out.extend_from_slice(&bytes);
        }
    }
    out
}

fn unpack(packed: &[u8]) -> Vec<(&'static str, &[u8])> {
    let mut files = Vec::new();
    let mut rest = packed;
    while let Some(at) = find(rest, FILE_MARK) {
        rest = &rest[at + FILE_MARK.len()..];
        let name_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = &rest[(name_end + 1).min(rest.len())..];
        let end = find(rest, FILE_MARK).unwrap_or(rest.len());
        if let Some(known) = DIRECTORY_FILES.iter().find(|n| n.as_bytes() == name) {
            files.push((*known, &rest[..end]));
        }
    }
    files
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Mutates one file of a packed directory, or drops one.
fn mutate_directory(rng: &mut SmallRng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let files = unpack(base);
    let others = unpack(other);
    let target = rng.gen_range(0..files.len().max(1));
    let drop_it = rng.gen_range(0..10) == 0;
    let mut out = Vec::new();
    for (i, (name, bytes)) in files.iter().enumerate() {
        if i == target && drop_it {
            continue;
        }
        out.extend_from_slice(FILE_MARK);
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
        if i == target {
            let same = others
                .iter()
                .find(|(n, _)| n == name)
                .map_or(&b""[..], |o| o.1);
            out.extend_from_slice(&mutate(rng, bytes, same));
        } else {
            out.extend_from_slice(bytes);
        }
    }
    out
}

// The parsers.

fn text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

#[test]
fn scenario_parser() {
    use crate::engine::shape::{arrival_curve, ramp_up, UserPlan};
    let parser = Parser {
        name: "scenario",
        shape: Shape::File,
        memory_limit: 32 << 20,
    };
    exercise(parser, |input| {
        let env = |_: &str| Some("s3cr3t-value".to_owned());
        let scenario = crate::scenario::Scenario::parse_with_env(
            Path::new("scenario.toml"),
            &text(input),
            &env,
        )
        .map_err(|e| e.to_string())?;
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
            let _ = (
                user.wait.mean(),
                user.wait.after(Duration::from_millis(5), &mut rng),
            );
        }
        Ok(())
    });
}

#[test]
fn stats_csv_parser() {
    let parser = Parser {
        name: "stats_csv",
        shape: Shape::File,
        memory_limit: 16 << 20,
    };
    exercise(parser, |input| {
        crate::gate::input::parse_stats_csv(input, Path::new("stats.csv"))
            .map(drop)
            .map_err(|e| e.to_string())
    });
}

#[test]
fn histograms_json_parser() {
    // A histogram as swarmgate writes it holds a few hundred KiB at most.
    let parser = Parser {
        name: "histograms",
        shape: Shape::File,
        memory_limit: 64 << 20,
    };
    exercise(parser, |input| {
        crate::gate::input::RunStats::from_histograms(input, "histograms.json")
            .map(drop)
            .map_err(|e| e.to_string())
    });
}

#[test]
fn summary_json_parser() {
    let parser = Parser {
        name: "summary",
        shape: Shape::File,
        memory_limit: 16 << 20,
    };
    exercise(parser, |input| {
        crate::report::parse_saved_summary(input).map(drop)
    });
}

#[test]
fn rules_parser() {
    let parser = Parser {
        name: "rules",
        shape: Shape::File,
        memory_limit: 16 << 20,
    };
    exercise(parser, |input| {
        crate::gate::rules::Rules::parse(Path::new("rules.toml"), &text(input))
            .map(drop)
            .map_err(|e| e.to_string())
    });
}

#[test]
fn history_parser() {
    let parser = Parser {
        name: "history",
        shape: Shape::File,
        memory_limit: 16 << 20,
    };
    exercise(parser, |input| {
        crate::history::parse(input, Path::new("history.csv"))
            .map(drop)
            .map_err(|e| e.to_string())
    });
}

#[test]
fn response_parser() {
    use crate::engine::wire::{parse_head, Chunks, Framing};
    let parser = Parser {
        name: "response",
        shape: Shape::File,
        memory_limit: 4 << 20,
    };
    exercise(parser, |input| {
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
        Ok(())
    });
}

#[test]
fn cookie_parser() {
    let parser = Parser {
        name: "cookies",
        shape: Shape::File,
        memory_limit: 4 << 20,
    };
    exercise(parser, |input| {
        let mut jar = crate::engine::cookies::CookieJar::default();
        for line in text(input).lines() {
            jar.store(line, "/api/items/");
        }
        let _ = (jar.header("/api/items/", false), jar.header("/", true));
        Ok(())
    });
}

#[test]
fn report_renderer() {
    let parser = Parser {
        name: "report",
        shape: Shape::Directory,
        memory_limit: 64 << 20,
    };
    let dir = tempfile::tempdir().unwrap();
    exercise(parser, |input| {
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
        crate::report::render_results_dir(dir.path(), &history)
            .map(drop)
            .map_err(|e| format!("{e:#}"))
    });
}
