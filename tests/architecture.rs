//! The pipeline runs one way, and this test keeps it so: it reads the
//! `crate::` paths of every source file (unit tests left out) and fails on
//! a cycle between top-level modules, on a module below its layer reaching
//! up, and on file I/O in the gate, which must stay pure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each module may use only modules of earlier layers and its own.
const LAYERS: &[&[&str]] = &[
    &["bounds", "text"],
    &["units", "diagnostic", "endpoint"],
    &["metrics", "scenario"],
    &["engine", "gate"],
    &["config", "demo"],
    &["results"],
    &["publish", "history"],
    &["report", "cli"],
    &["commands"],
];

/// Items of lib.rs every module may use: the error types and the
/// printing helpers.
const ROOT_ITEMS: &[&str] = &["InvalidInput", "CouldNotRun", "errln", "workflow_command"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file belongs to: `engine` for src/engine/http.rs.
fn top_module(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The source without its unit tests, which may reach anywhere.
fn without_tests(source: &str) -> &str {
    source
        .find("#[cfg(test)]\nmod tests")
        .map_or(source, |at| &source[..at])
}

/// The first segment of each `crate::` path: `engine` for
/// `crate::engine::RunResult`, and each item of `crate::{gate, InvalidInput}`.
fn crate_paths(source: &str) -> Vec<&str> {
    fn identifier(text: &str) -> &str {
        let text = text.trim_start();
        let end = text
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        &text[..end]
    }
    let mut paths = Vec::new();
    for (at, _) in source.match_indices("crate::") {
        let rest = &source[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Items at the group's top level, nested groups skipped.
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        paths.push(identifier(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        paths.push(identifier(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            paths.push(identifier(rest));
        }
    }
    paths.retain(|p| !p.is_empty());
    paths
}

/// Which module uses which, with a file for each edge.
fn module_graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for file in files {
        let module = top_module(&src, &file);
        // main.rs and lib.rs are the top; the mutation tests are tests.
        if ["main", "lib", "mutation"].contains(&module.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        let used = graph.entry(module.clone()).or_default();
        for target in crate_paths(without_tests(&source)) {
            if target != module && !ROOT_ITEMS.contains(&target) {
                used.entry(target.to_owned())
                    .or_insert_with(|| file.clone());
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is in no layer of tests/architecture.rs"))
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let graph = module_graph();
    let mut wrong = Vec::new();
    for (module, used) in &graph {
        for (target, file) in used {
            if layer_of(target) >= layer_of(module) {
                if layer_of(target) == layer_of(module) {
                    wrong.push(format!(
                        "{module} uses {target} of its own layer ({})",
                        file.display()
                    ));
                } else {
                    wrong.push(format!(
                        "{module} reaches up to {target} ({})",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_cycle_between_modules() {
    let graph = module_graph();
    // Depth-first, with the path kept to name a cycle when one is found.
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for target in graph.get(module).into_iter().flat_map(|used| used.keys()) {
            if let Some(cycle) = visit(target, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!("a cycle between modules: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_gate_does_no_file_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gate");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for io in [
            "std::fs",
            "File::",
            "read_file",
            "read_text",
            "std::io::Read",
        ] {
            assert!(
                !without_tests(&source).contains(io),
                "{} uses `{io}`: the gate takes numbers, results reads files",
                file.display()
            );
        }
    }
}

#[test]
fn the_graph_is_read_at_all() {
    // A parser that found nothing would pass the tests above vacuously.
    let graph = module_graph();
    assert!(graph["engine"].contains_key("scenario"), "{graph:?}");
    assert!(graph["results"].contains_key("gate"), "{graph:?}");
    assert!(graph.len() >= 15, "{:?}", graph.keys());
}
