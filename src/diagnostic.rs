//! Errors in a scenario file, located by line and column.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a scenario file, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The line, or the part of a long one around the column.
    excerpt: String,
    /// Where the caret goes under `excerpt`, from 1.
    caret: usize,
}

/// Longer lines are shown cut around the column: a generated one-line file
/// must not print megabytes, nor a caret past what `format!` can pad.
const MAX_EXCERPT: usize = 120;

/// Everything wrong with a scenario file; displays as `file:line:column: message`
/// followed by the offending line and a caret, the way compilers do.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ScenarioError {
    pub path: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                d.line,
                d.column,
                d.message
            )?;
            if !d.excerpt.trim().is_empty() {
                let gutter = d.line.to_string().len();
                write!(
                    f,
                    "\n{:gutter$} |\n{} | {}\n{:gutter$} | {:>col$}",
                    "",
                    d.line,
                    d.excerpt,
                    "",
                    "^",
                    col = d.caret
                )?;
            }
        }
        Ok(())
    }
}

/// Collects diagnostics against one source text.
pub struct Diagnostics<'a> {
    path: &'a Path,
    source: &'a str,
    found: Vec<Diagnostic>,
}

impl<'a> Diagnostics<'a> {
    pub fn new(path: &'a Path, source: &'a str) -> Self {
        Self {
            path,
            source,
            found: Vec::new(),
        }
    }

    pub fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let offset = span.map(|s| s.start).unwrap_or(0).min(self.source.len());
        let before = &self.source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = self.source[line_start..offset].chars().count() + 1;
        let source_line = self.source[line_start..].lines().next().unwrap_or("");
        let (excerpt, caret) = excerpt(source_line, column);
        self.found.push(Diagnostic {
            line,
            column,
            message: shortened(message.into()),
            excerpt,
            caret,
        });
    }

    pub fn into_result<T>(self, value: T) -> Result<T, ScenarioError> {
        if self.found.is_empty() {
            Ok(value)
        } else {
            Err(ScenarioError {
                path: self.path.to_owned(),
                diagnostics: self.found,
            })
        }
    }
}

/// A message quoting a huge key or value is cut in its middle.
fn shortened(message: String) -> String {
    const KEEP: usize = 240;
    if message.chars().count() <= 2 * KEEP + 20 {
        return message;
    }
    let head: String = message.chars().take(KEEP).collect();
    let tail: Vec<char> = message.chars().rev().take(KEEP).collect();
    format!("{head} … {}", tail.into_iter().rev().collect::<String>())
}

/// `line` whole when it is short, else [`MAX_EXCERPT`] characters around
/// `column` with `…` where it was cut; and the caret's column in it.
fn excerpt(line: &str, column: usize) -> (String, usize) {
    let length = line.chars().count();
    if length <= MAX_EXCERPT {
        return (line.to_owned(), column);
    }
    let start = column
        .saturating_sub(MAX_EXCERPT / 2)
        .min(length - MAX_EXCERPT);
    let mut excerpt: String = line.chars().skip(start).take(MAX_EXCERPT).collect();
    let mut caret = column - start;
    if start > 0 {
        excerpt.insert(0, '…');
        caret += 1;
    }
    if start + MAX_EXCERPT < length {
        excerpt.push('…');
    }
    (excerpt, caret)
}

/// Turns toml's parse error into our diagnostic, adding the nearest valid key
/// when serde reports an unknown field.
pub fn from_toml_error(diagnostics: &mut Diagnostics, error: &toml::de::Error) {
    let message = error.message().trim().to_owned();
    let message = match unknown_field_suggestion(&message) {
        Some(suggestion) => format!("{message}; did you mean `{suggestion}`?"),
        None => message,
    };
    diagnostics.error(error.span(), message);
}

/// serde words it `unknown field `wieght`, expected one of `name`, `weight``.
fn unknown_field_suggestion(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    nearest(unknown, &candidates).map(str::to_owned)
}

/// The candidate closest to `word` by edit distance, if any is close enough to
/// be a plausible typo.
pub fn nearest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    // No key is this long; comparing a huge one would only cost time.
    if word.len() > 200 {
        return None;
    }
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(distance, c)| *distance <= c.len().max(word.len()).div_ceil(3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of neighbours each count one, since `usres` is one typo away
/// from `users`.
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_key_for_a_typo() {
        let message = "unknown field `wieght`, expected one of `name`, `weight`, `step`";
        assert_eq!(unknown_field_suggestion(message).as_deref(), Some("weight"));
        let far = "unknown field `zzzzzz`, expected one of `name`, `weight`";
        assert_eq!(unknown_field_suggestion(far), None);
    }

    #[test]
    fn locates_line_and_column() {
        let source = "a = 1\nbb = 2\n";
        let mut d = Diagnostics::new(Path::new("s.toml"), source);
        d.error(Some(9..10), "bad");
        let error = d.into_result(()).unwrap_err();
        assert_eq!(
            (error.diagnostics[0].line, error.diagnostics[0].column),
            (2, 4)
        );
        assert!(error.to_string().starts_with("s.toml:2:4: bad"));
    }

    #[test]
    fn a_long_line_is_shown_cut_around_the_column() {
        let source = format!("[gate]\n{} = 1\n", "k".repeat(70_000));
        let mut d = Diagnostics::new(Path::new("r.toml"), &source);
        d.error(Some(7 + 70_001..7 + 70_002), "bad");
        let shown = d.into_result(()).unwrap_err().to_string();
        assert!(shown.starts_with("r.toml:2:70002: bad"), "{shown}");
        assert!(shown.len() < 1000, "{} bytes", shown.len());
        let lines: Vec<&str> = shown.lines().collect();
        assert!(lines[2].ends_with(&format!("…{} = 1", "k".repeat(MAX_EXCERPT - 4))));
        // The caret sits under the `=`.
        let caret = lines[3].chars().count() - 1;
        assert_eq!(lines[2].chars().nth(caret), Some('='), "{shown}");

        let mut d = Diagnostics::new(Path::new("r.toml"), "a = 1");
        d.error(None, format!("unknown field `{}`", "k".repeat(100_000)));
        let shown = d.into_result(()).unwrap_err().to_string();
        assert!(shown.contains("kkk … kkk") && shown.len() < 1000, "{shown}");
        assert!(shown.lines().next().unwrap().ends_with("kkk`"), "{shown}");
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("usres", "users"), 1);
    }
}
