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
    source_line: String,
}

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
            if !d.source_line.trim().is_empty() {
                let gutter = d.line.to_string().len();
                write!(
                    f,
                    "\n{:gutter$} |\n{} | {}\n{:gutter$} | {:>col$}",
                    "",
                    d.line,
                    d.source_line,
                    "",
                    "^",
                    col = d.column
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
        let source_line = self.source[line_start..]
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        self.found.push(Diagnostic {
            line,
            column,
            message: message.into(),
            source_line,
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
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
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
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("usres", "users"), 1);
    }
}
