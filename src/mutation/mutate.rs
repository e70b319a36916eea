//! The mutations: absurd numbers, format tokens, repeated lines, JSON
//! values swapped, histogram headers rewritten; and results directories
//! packed into one buffer so that one mutation can reach any of their files.

use std::io::{Read, Write};
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::SmallRng;
use rand::Rng;

use super::MAX_INPUT;

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

pub fn mutate(rng: &mut SmallRng, base: &[u8], other: &[u8]) -> Vec<u8> {
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

pub const DIRECTORY_FILES: [&str; 6] = [
    "stats.csv",
    "histograms.json",
    "summary.json",
    "stats_history.csv",
    "failures.csv",
    "history.csv",
];
const FILE_MARK: &[u8] = b"\n\x00file ";

pub fn pack(dir: &Path) -> Vec<u8> {
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

pub fn unpack(packed: &[u8]) -> Vec<(&'static str, &[u8])> {
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
pub fn mutate_directory(rng: &mut SmallRng, base: &[u8], other: &[u8]) -> Vec<u8> {
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
