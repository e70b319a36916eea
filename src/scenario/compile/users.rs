//! User classes, their tasks and steps: requests, bodies, loops, checks.

use super::*;

impl Compiler<'_> {
    pub(super) fn user(
        &mut self,
        raw: &Spanned<RawUser>,
        vars: &BTreeMap<String, minijinja::Value>,
    ) -> UserClass {
        let user = raw.get_ref();
        let name = user.name.clone().unwrap_or_else(|| "User".into());
        let wait = match &user.wait {
            None => Wait::default(),
            Some(w) => self
                .check(w.span(), Wait::parse(w.get_ref()))
                .unwrap_or_default(),
        };
        let captures: BTreeSet<String> = user
            .on_start
            .iter()
            .chain(user.task.iter().flat_map(|t| &t.get_ref().step))
            .chain(&user.on_stop)
            .flat_map(|s| s.get_ref().capture.keys().cloned())
            .collect();
        let scope = Scope {
            vars,
            captures: &captures,
            loop_variable: None,
        };
        let headers = self.headers(&user.headers, &scope);
        let on_start = user
            .on_start
            .iter()
            .map(|s| self.step(s, vars, &captures))
            .collect();
        let on_stop = user
            .on_stop
            .iter()
            .map(|s| self.step(s, vars, &captures))
            .collect();
        if user.task.is_empty() {
            self.d.error(Some(raw.span()), format!("user `{name}` has no tasks: add a [[user.task]] with at least one [[user.task.step]]"));
        }
        let tasks = user
            .task
            .iter()
            .map(|t| self.task(t, vars, &captures))
            .collect();
        UserClass {
            weight: self.weight(user.weight.as_ref()),
            wait,
            headers,
            on_start,
            on_stop,
            tasks,
        }
    }

    pub(super) fn task(
        &mut self,
        raw: &Spanned<RawTask>,
        vars: &BTreeMap<String, minijinja::Value>,
        captures: &BTreeSet<String>,
    ) -> Task {
        let task = raw.get_ref();
        if task.step.is_empty() {
            self.d.error(
                Some(raw.span()),
                "a task needs at least one [[user.task.step]]",
            );
        }
        Task {
            weight: self.weight(task.weight.as_ref()),
            steps: task
                .step
                .iter()
                .map(|s| self.step(s, vars, captures))
                .collect(),
        }
    }

    pub(super) fn step(
        &mut self,
        raw: &Spanned<RawStep>,
        vars: &BTreeMap<String, minijinja::Value>,
        captures: &BTreeSet<String>,
    ) -> Step {
        let step = raw.get_ref();
        let for_each = step.for_each.as_ref().and_then(|f| self.for_each(f));
        let scope = Scope {
            vars,
            captures,
            loop_variable: for_each.as_ref().map(|l| l.variable.as_str()),
        };
        let candidates = [
            (Method::GET, &step.get),
            (Method::POST, &step.post),
            (Method::PUT, &step.put),
            (Method::PATCH, &step.patch),
            (Method::DELETE, &step.delete),
            (Method::HEAD, &step.head),
            (Method::OPTIONS, &step.options),
        ];
        let given: Vec<_> = candidates
            .into_iter()
            .filter_map(|(m, p)| p.as_ref().map(|p| (m, p)))
            .collect();
        let (method, path) = match given.as_slice() {
            [(method, path)] => {
                if !path.get_ref().starts_with('/') && !path.get_ref().starts_with("{{") {
                    self.d.error(
                        Some(path.span()),
                        format!(
                            "path `{}` must start with / (the host comes from `host`)",
                            path.get_ref()
                        ),
                    );
                } else if let Some(bad) = crate::scenario::template::literal_text(path.get_ref())
                    .chars()
                    .find(|c| {
                        !c.is_ascii()
                            || c.is_whitespace()
                            || c.is_control()
                            || matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
                    })
                {
                    self.d.error(
                        Some(path.span()),
                        format!(
                            "path `{}` contains {}, which a request line cannot carry: percent-encode it ({})",
                            crate::text::one_line(path.get_ref()),
                            if bad == ' ' { "a space".to_owned() } else { format!("{bad:?}") },
                            percent_encoding::utf8_percent_encode(&bad.to_string(), percent_encoding::NON_ALPHANUMERIC)
                        ),
                    );
                }
                (method.clone(), self.text(path, &scope))
            }
            [] => {
                self.d.error(
                    Some(raw.span()),
                    format!("a step needs a request: one of {METHODS} = \"/path\""),
                );
                (Method::GET, Text::Static("/".into()))
            }
            [_, (_, second), ..] => {
                self.d.error(
                    Some(second.span()),
                    format!("a step makes one request: give only one of {METHODS}"),
                );
                (Method::GET, Text::Static("/".into()))
            }
        };
        let name = step.name.as_ref().map(|n| self.text(n, &scope));
        let query = step
            .query
            .iter()
            .map(|(k, v)| (k.clone(), self.value_text(v, &scope)))
            .collect();
        let headers = self.headers(&step.headers, &scope);
        let body = self.body(raw, &scope);
        let captures = step
            .capture
            .iter()
            .filter_map(|(variable, source)| {
                let path = self.json_path(source)?;
                Some(Capture {
                    variable: variable.clone(),
                    path,
                    source: source.get_ref().clone(),
                })
            })
            .collect();
        let think = self
            .duration(step.think.as_ref(), Duration::ZERO)
            .unwrap_or_default();
        let check = step
            .check
            .as_ref()
            .map(|c| self.check_spec(c))
            .unwrap_or_default();
        self.steps += 1;
        Step {
            id: self.steps - 1,
            method,
            path,
            name,
            query,
            headers,
            body,
            captures,
            for_each,
            think,
            check,
        }
    }

    pub(super) fn headers(
        &mut self,
        raw: &BTreeMap<String, Spanned<String>>,
        scope: &Scope,
    ) -> Vec<(HeaderName, Text)> {
        raw.iter()
            .filter_map(|(name, value)| {
                let header = self.check(
                    value.span(),
                    HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("invalid header name `{name}`")),
                );
                if let Some(bad) = crate::scenario::template::literal_text(value.get_ref())
                    .chars()
                    .find(|c| (c.is_control() && *c != '\t') || *c == '\u{7f}')
                {
                    // A CR or LF would end the header early and smuggle the rest in.
                    self.d.error(
                        Some(value.span()),
                        format!("header `{name}` contains the control character {bad:?}, which no header value may carry"),
                    );
                }
                let text = self.text(value, scope);
                Some((header?, text))
            })
            .collect()
    }

    pub(super) fn body(&mut self, raw: &Spanned<RawStep>, scope: &Scope) -> Body {
        let step = raw.get_ref();
        let bodies = usize::from(step.json.is_some())
            + usize::from(step.form.is_some())
            + usize::from(step.body.is_some());
        if bodies > 1 {
            self.d.error(
                Some(raw.span()),
                "a step has at most one body: json, form or body",
            );
        }
        if let Some(json) = &step.json {
            let node = self.json_node(json.get_ref(), json.span(), scope);
            return Body::Json(match node {
                JsonNode::Literal(value) => JsonTemplate::Static(
                    serde_json::to_vec(&value).expect("json serializes").into(),
                ),
                dynamic => JsonTemplate::Dynamic(dynamic),
            });
        }
        if let Some(form) = &step.form {
            return Body::Form(
                form.iter()
                    .map(|(k, v)| (k.clone(), self.value_text(v, scope)))
                    .collect(),
            );
        }
        match &step.body {
            Some(body) => Body::Raw(self.text(body, scope)),
            None => Body::None,
        }
    }

    pub(super) fn json_node(
        &mut self,
        value: &toml::Value,
        span: Range<usize>,
        scope: &Scope,
    ) -> JsonNode {
        match value {
            toml::Value::String(s) => match self.templates.compile_json_string(s) {
                Ok(JsonNode::String(Text::Static(_))) => {
                    JsonNode::Literal(serde_json::Value::String(s.clone()))
                }
                Ok(node) => {
                    if let JsonNode::String(text) | JsonNode::Typed(text) = &node {
                        self.check_variables(text, span, scope);
                    }
                    node
                }
                Err(message) => {
                    self.d.error(Some(span), message);
                    JsonNode::Literal(serde_json::Value::Null)
                }
            },
            toml::Value::Array(items) => {
                let nodes: Vec<JsonNode> = items
                    .iter()
                    .map(|i| self.json_node(i, span.clone(), scope))
                    .collect();
                if nodes.iter().all(|n| matches!(n, JsonNode::Literal(_))) {
                    JsonNode::Literal(serde_json::to_value(value).unwrap_or_default())
                } else {
                    JsonNode::Array(nodes)
                }
            }
            toml::Value::Table(table) => {
                let fields: Vec<(String, JsonNode)> = table
                    .iter()
                    .map(|(k, v)| (k.clone(), self.json_node(v, span.clone(), scope)))
                    .collect();
                if fields
                    .iter()
                    .all(|(_, n)| matches!(n, JsonNode::Literal(_)))
                {
                    JsonNode::Literal(serde_json::to_value(value).unwrap_or_default())
                } else {
                    JsonNode::Object(fields)
                }
            }
            other => JsonNode::Literal(serde_json::to_value(other).unwrap_or_default()),
        }
    }

    pub(super) fn for_each(
        &mut self,
        raw: &Spanned<BTreeMap<String, Spanned<toml::Value>>>,
    ) -> Option<Loop> {
        let mut entries = raw.get_ref().iter();
        let (Some((variable, values)), None) = (entries.next(), entries.next()) else {
            self.d.error(
                Some(raw.span()),
                "for_each takes one variable, e.g. for_each = { id = \"1..50\" }",
            );
            return None;
        };
        let values = match values.get_ref() {
            toml::Value::String(range) => self.check(values.span(), parse_range(range))?,
            toml::Value::Array(items) if items.is_empty() => {
                self.d.error(
                    Some(values.span()),
                    "for_each over an empty list would send no request: give it at least one value",
                );
                return None;
            }
            toml::Value::Array(items) => {
                LoopValues::List(items.iter().map(minijinja::Value::from_serialize).collect())
            }
            other => {
                self.d.error(
                    Some(values.span()),
                    format!(
                        "for_each values must be a range such as \"1..50\" or a list, got {other}"
                    ),
                );
                return None;
            }
        };
        Some(Loop {
            variable: variable.clone(),
            values,
        })
    }

    pub(super) fn check_spec(&mut self, raw: &RawCheck) -> Check {
        let status = raw.status.as_ref().and_then(|s| {
            let codes: Option<Vec<u16>> = match s.get_ref() {
                toml::Value::Integer(code) => {
                    Some(vec![*code as u16]).filter(|_| (100..=599).contains(code))
                }
                toml::Value::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_integer()
                            .filter(|c| (100..=599).contains(c))
                            .map(|c| c as u16)
                    })
                    .collect(),
                _ => None,
            };
            self.check(
                s.span(),
                codes.ok_or_else(|| {
                    format!(
                        "status must be an HTTP status from 100 to 599 or a list of them, got {}",
                        s.get_ref()
                    )
                }),
            )
        });
        let json = raw
            .json
            .iter()
            .filter_map(|(path, expected)| {
                let parsed = self.check(
                    expected.span(),
                    JsonPath::parse(path).map_err(|e| format!("invalid JSONPath `{path}`: {e}")),
                )?;
                let expected = serde_json::to_value(expected.get_ref()).unwrap_or_default();
                Some(JsonCheck {
                    path: parsed,
                    source: path.clone(),
                    expected,
                })
            })
            .collect();
        Check {
            status,
            json,
            body_contains: raw.body_contains.as_ref().map(|b| b.get_ref().clone()),
        }
    }
}

pub(super) fn parse_range(text: &str) -> Result<LoopValues, String> {
    let invalid = || {
        format!("invalid range `{text}`: expected start..end (end excluded) or start..=end, e.g. \"1..50\"")
    };
    let (start, end, inclusive) = match text.split_once("..=") {
        Some((s, e)) => (s, e, true),
        None => text
            .split_once("..")
            .map(|(s, e)| (s, e, false))
            .ok_or_else(invalid)?,
    };
    let start: i64 = start.trim().parse().map_err(|_| invalid())?;
    let end: i64 = end.trim().parse().map_err(|_| invalid())?;
    let end = if inclusive {
        end.saturating_add(1)
    } else {
        end
    };
    if end <= start {
        return Err(format!(
            "range `{text}` is empty: the end must be above the start"
        ));
    }
    if (end as i128 - start as i128) > crate::bounds::MAX_LOOP_VALUES as i128 {
        return Err(format!(
            "range `{text}` has more than {} values, the limit for one loop",
            crate::bounds::MAX_LOOP_VALUES
        ));
    }
    Ok(LoopValues::Range(start, end))
}
