//! Scenario strings as minijinja templates, compiled once when the scenario loads.
//!
//! A string without template syntax stays a plain string and is never rendered
//! per request: most paths and headers cost nothing at run time.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior, Value};

/// A string from the scenario: fixed, or a template to render per use.
#[derive(Debug, Clone)]
pub enum Text {
    Static(Arc<str>),
    Template { name: Arc<str>, source: Arc<str> },
}

impl Text {
    pub fn render<'a>(
        &'a self,
        templates: &Templates,
        context: &Value,
    ) -> Result<Cow<'a, str>, String> {
        match self {
            Text::Static(text) => Ok(Cow::Borrowed(text)),
            Text::Template { name, source } => templates
                .env
                .get_template(name)
                .and_then(|t| t.render(context))
                .map(Cow::Owned)
                .map_err(|e| format!("template `{source}`: {}", describe(&e))),
        }
    }

    pub fn source(&self) -> &str {
        match self {
            Text::Static(text) => text,
            Text::Template { source, .. } => source,
        }
    }
}

/// minijinja's Display adds the template name, which means nothing to a user.
fn describe(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// A JSON body whose strings may be templates.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    /// No template anywhere: serialized once at load.
    Static(bytes::Bytes),
    Dynamic(JsonNode),
}

#[derive(Debug, Clone)]
pub enum JsonNode {
    Literal(serde_json::Value),
    String(Text),
    /// A string that is one `{{ expression }}`: the expression's value keeps
    /// its type, so `"{{ id }}"` sends the number 7, not the string "7".
    Typed(Text),
    Array(Vec<JsonNode>),
    Object(Vec<(String, JsonNode)>),
}

impl JsonNode {
    pub fn render(
        &self,
        templates: &Templates,
        context: &Value,
    ) -> Result<serde_json::Value, String> {
        Ok(match self {
            JsonNode::Literal(value) => value.clone(),
            JsonNode::String(text) => {
                serde_json::Value::String(text.render(templates, context)?.into_owned())
            }
            JsonNode::Typed(text) => {
                let json = text.render(templates, context)?;
                serde_json::from_str(&json)
                    .map_err(|e| format!("template `{}`: {e}", text.source()))?
            }
            JsonNode::Array(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|i| i.render(templates, context))
                    .collect::<Result<_, _>>()?,
            ),
            JsonNode::Object(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.render(templates, context)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

/// The compiled templates of one scenario.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    count: usize,
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        // A typo in a variable name must fail loudly, not send an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        Self { env, count: 0 }
    }
}

impl Templates {
    pub fn compile(&mut self, source: &str) -> Result<Text, String> {
        if !has_template_syntax(source) {
            return Ok(Text::Static(source.into()));
        }
        self.count += 1;
        let name: Arc<str> = format!("t{}", self.count).into();
        self.env
            .add_template_owned(name.to_string(), source.to_owned())
            .map_err(|e| format!("invalid template `{source}`: {}", describe(&e)))?;
        // minijinja finds an unknown filter or test only when it renders,
        // which would fail every request of the run.
        for (kind, name) in filters_and_tests(source) {
            let (probe, unknown) = match kind {
                Use::Filter => (
                    format!("{{{{ none | {name} }}}}"),
                    minijinja::ErrorKind::UnknownFilter,
                ),
                Use::Test => (
                    format!("{{{{ none is {name} }}}}"),
                    minijinja::ErrorKind::UnknownTest,
                ),
            };
            if let Err(e) = self.env.render_str(&probe, ()) {
                if e.kind() == unknown {
                    let what = if kind == Use::Filter {
                        "filter"
                    } else {
                        "test"
                    };
                    return Err(format!(
                        "unknown {what} `{name}` in `{source}`: the built-in {what}s are listed at https://docs.rs/minijinja/latest/minijinja/{what}s/"
                    ));
                }
            }
        }
        Ok(Text::Template {
            name,
            source: source.into(),
        })
    }

    /// Compiles a JSON string leaf: typed when it is a single expression.
    pub fn compile_json_string(&mut self, source: &str) -> Result<JsonNode, String> {
        match single_expression(source) {
            Some(expression) => {
                let text = self.compile(&format!("{{{{ ({expression}) | tojson }}}}"))?;
                let Text::Template { name, .. } = text else {
                    unreachable!("has template syntax")
                };
                Ok(JsonNode::Typed(Text::Template {
                    name,
                    source: source.into(),
                }))
            }
            None => Ok(JsonNode::String(self.compile(source)?)),
        }
    }

    /// Variables a text reads, with attribute access kept (`env.TOKEN`).
    pub fn variables(&self, text: &Text) -> BTreeSet<String> {
        match text {
            Text::Static(_) => BTreeSet::new(),
            Text::Template { name, .. } => self
                .env
                .get_template(name)
                .map(|t| t.undeclared_variables(true).into_iter().collect())
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Use {
    Filter,
    Test,
}

/// The filters (`| name`) and tests (`is [not] name`) inside a template's
/// `{{ }}` and `{% %}` blocks, string literals skipped.
fn filters_and_tests(source: &str) -> Vec<(Use, String)> {
    let bytes = source.as_bytes();
    let ident = |from: usize| -> (usize, &str) {
        let start = from
            + bytes[from..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        let len = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        (start + len, &source[start..start + len])
    };
    let mut found = Vec::new();
    let mut i = 0;
    let mut in_block = false;
    while i < bytes.len() {
        let pair = &bytes[i..(i + 2).min(bytes.len())];
        if !in_block {
            in_block = pair == b"{{" || pair == b"{%";
            i += if in_block { 2 } else { 1 };
            continue;
        }
        match bytes[i] {
            _ if pair == b"}}" || pair == b"%}" => {
                in_block = false;
                i += 2;
            }
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'|' => {
                let (end, name) = ident(i + 1);
                if !name.is_empty() {
                    found.push((Use::Filter, name.to_owned()));
                }
                i = end.max(i + 1);
            }
            b'i' if bytes[i..].starts_with(b"is")
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
                && bytes.get(i + 2).is_some_and(|b| b.is_ascii_whitespace()) =>
            {
                let (mut end, mut name) = ident(i + 2);
                if name == "not" {
                    (end, name) = ident(end);
                }
                if !name.is_empty() {
                    found.push((Use::Test, name.to_owned()));
                }
                i = end.max(i + 2);
            }
            _ => i += 1,
        }
    }
    found
}

/// What a template sends as written: its text outside `{{ }}`, `{% %}`, `{# #}`.
pub fn literal_text(source: &str) -> String {
    let mut out = String::new();
    let mut rest = source;
    while let Some(open) = ["{{", "{%", "{#"]
        .iter()
        .filter_map(|o| rest.find(o).map(|i| (i, *o)))
        .min()
    {
        out.push_str(&rest[..open.0]);
        let close = match open.1 {
            "{{" => "}}",
            "{%" => "%}",
            _ => "#}",
        };
        rest = match rest[open.0 + 2..].find(close) {
            Some(end) => &rest[open.0 + 2 + end + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

fn has_template_syntax(source: &str) -> bool {
    source.contains("{{") || source.contains("{%") || source.contains("{#")
}

fn single_expression(source: &str) -> Option<&str> {
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn plain_strings_are_not_templates() {
        let mut templates = Templates::default();
        let text = templates.compile("/api/v1/products/").unwrap();
        assert!(matches!(text, Text::Static(_)));
        assert_eq!(templates.count, 0);
    }

    #[test]
    fn templates_render_and_report_undefined_values() {
        let mut templates = Templates::default();
        let text = templates.compile("/products/{{ id }}/").unwrap();
        assert_eq!(
            text.render(&templates, &context! { id => 7 }).unwrap(),
            "/products/7/"
        );
        let error = text.render(&templates, &context! {}).unwrap_err();
        assert!(error.contains("undefined"), "{error}");
        assert_eq!(
            templates.variables(&text),
            BTreeSet::from(["id".to_owned()])
        );
    }

    #[test]
    fn a_single_expression_keeps_its_json_type() {
        let mut templates = Templates::default();
        let node = templates.compile_json_string("{{ id }}").unwrap();
        let value = node.render(&templates, &context! { id => 7 }).unwrap();
        assert_eq!(value, serde_json::json!(7));
        let mixed = templates.compile_json_string("id-{{ id }}").unwrap();
        assert_eq!(
            mixed.render(&templates, &context! { id => 7 }).unwrap(),
            serde_json::json!("id-7")
        );
    }

    #[test]
    fn attribute_access_is_reported_with_its_root() {
        let mut templates = Templates::default();
        let text = templates.compile("Bearer {{ env.TOKEN }}").unwrap();
        assert_eq!(
            templates.variables(&text),
            BTreeSet::from(["env.TOKEN".to_owned()])
        );
    }

    #[test]
    fn unknown_filters_and_tests_are_reported_at_compile_time() {
        let mut templates = Templates::default();
        let error = templates.compile("{{ 1 | nosuchfilter }}").unwrap_err();
        assert!(error.contains("unknown filter `nosuchfilter`"), "{error}");
        let error = templates.compile("{{ x is not nosuchtest }}").unwrap_err();
        assert!(error.contains("unknown test `nosuchtest`"), "{error}");
        for fine in [
            "{{ name | upper | default('a|b') }}",
            "{{ x is defined }}",
            "{{ 'this is odd' }}",
            "{% if x is number %}{{ x | string }}{% endif %}",
            "a | b {{ id }}",
        ] {
            assert!(templates.compile(fine).is_ok(), "{fine}");
        }
        assert_eq!(
            filters_and_tests("{{ a | tojson }} | x {{ 'y | z' is q }}"),
            vec![(Use::Filter, "tojson".into()), (Use::Test, "q".into())]
        );
    }

    #[test]
    fn literal_text_is_what_lies_outside_blocks() {
        assert_eq!(
            literal_text("/a/{{ x y }}/b{% if z %}c{% endif %}{# n #}"),
            "/a//bc"
        );
        assert_eq!(literal_text("/plain path"), "/plain path");
    }

    #[test]
    fn syntax_errors_are_reported_at_compile_time() {
        let mut templates = Templates::default();
        assert!(templates
            .compile("{{ id ")
            .unwrap_err()
            .contains("invalid template"));
    }
}
