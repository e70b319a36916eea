//! Text that came from a server or a file, made safe to print: control
//! characters escaped so nothing reaches the terminal raw, and nothing that
//! a CI runner would read as a workflow command (`::error::` at a line's
//! start, `##[` anywhere) left intact.

use std::borrow::Cow;

/// What stdout and stderr get: every line of `text` neutralised, its newlines kept.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) && !text.contains("::") && !text.contains("##[") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // A zero-width space is not whitespace to the runner, which trims
        // leading whitespace before it looks for `::`.
        if line.trim_start().starts_with("::") {
            out.push(ZERO_WIDTH_SPACE);
        }
        push_escaped(&mut out, &line.replace("##[", "##\u{200B}["));
    }
    Cow::Owned(out)
}

/// One value (a name, a failure message) on one line: newlines escaped too.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c == '\n' || needs_escape(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    push_escaped(&mut out, text);
    Cow::Owned(out.replace('\n', "\\n"))
}

const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// What stands in for a secret in every output.
pub const REDACTED: &str = "***";

/// Values no output may show, each replaced by [`REDACTED`] wherever it
/// occurs. Values shorter than [`Secrets::MIN_LEN`] are not kept: an
/// `{{ env.USERS }}` of `50` is no secret, and hiding every `50` would
/// garble every number.
#[derive(Debug, Clone, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    pub const MIN_LEN: usize = 4;

    pub fn add(&mut self, value: &str) {
        if value.chars().count() >= Self::MIN_LEN && !self.0.iter().any(|v| v == value) {
            self.0.push(value.to_owned());
            // Longest first, so that a secret containing another goes whole.
            self.0.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// A URL's `user:password`: the password, the pair, and the pair as
    /// Basic authentication sends it, each of which a server may echo.
    pub fn add_credentials(&mut self, credentials: &str) {
        use base64::Engine as _;
        if let Some((_, password)) = credentials.split_once(':') {
            self.add(password);
        }
        self.add(credentials);
        self.add(&base64::engine::general_purpose::STANDARD.encode(credentials));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.0 {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }
}

/// `scheme://user:pw@host…` as `scheme://***@host…`, for a host that may not
/// even parse (so it cannot be taken apart as a URL).
pub fn without_userinfo(text: &str) -> Cow<'_, str> {
    let Some(scheme_end) = text.find("://").map(|i| i + 3) else {
        return Cow::Borrowed(text);
    };
    let authority_end = text[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| scheme_end + i);
    match text[scheme_end..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!(
            "{}{REDACTED}{}",
            &text[..scheme_end],
            &text[scheme_end + at..]
        )),
        None => Cow::Borrowed(text),
    }
}

/// C0 and C1 controls but tab and newline, DEL, and the bidirectional
/// overrides that reorder what a terminal shows.
fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_untouched() {
        assert!(matches!(for_terminal("GET /a 12 ms\n"), Cow::Borrowed(_)));
        assert!(matches!(one_line("/products/[id]/"), Cow::Borrowed(_)));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            for_terminal("a\x1b[31mb\rc\u{7f}"),
            "a\\u{1b}[31mb\\rc\\u{7f}"
        );
        assert_eq!(one_line("x\ny\u{202e}"), "x\\ny\\u{202e}");
        assert_eq!(for_terminal("tab\there"), "tab\there");
    }

    #[test]
    fn secrets_are_redacted_wherever_they_occur() {
        let mut secrets = Secrets::default();
        secrets.add("50");
        secrets.add("s3cr3t-token");
        secrets.add("s3cr3t");
        secrets.add_credentials("admin:hunter22");
        assert_eq!(
            secrets.redact("/a/s3cr3t-token/b?k=s3cr3t 50 hunter22 YWRtaW46aHVudGVyMjI="),
            "/a/***/b?k=*** 50 *** ***"
        );
        assert!(matches!(secrets.redact("/plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn userinfo_is_taken_out_of_a_url_even_one_that_does_not_parse() {
        assert_eq!(
            without_userinfo("http://u:p@127.0.0.1:80/x"),
            "http://***@127.0.0.1:80/x"
        );
        assert_eq!(
            without_userinfo("http://u:p@[bad/x@y"),
            "http://***@[bad/x@y"
        );
        assert_eq!(
            without_userinfo("http://127.0.0.1/a@b"),
            "http://127.0.0.1/a@b"
        );
    }

    #[test]
    fn no_line_can_start_a_workflow_command() {
        let text = for_terminal("ok\n  ::error title=x::owned\n::add-mask::y\nmid ::x:: fine");
        for line in text.lines() {
            assert!(!line.trim_start().starts_with("::"), "{line:?}");
        }
        assert!(text.ends_with("mid ::x:: fine"));
        assert!(!for_terminal("a ##[set-output name=x]y").contains("##["));
    }
}
