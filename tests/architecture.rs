//! Module boundaries: data flows one way (instruments → provider → readers → bridge, exporter,
//! alert engine), so a module may import only modules below it in [`LAYERS`]. This reads every
//! `src/**/*.rs` of the library (not `src/bin`, not test code), finds each `crate::…`,
//! `$crate::…` and `super::…` path that leaves its own top-level module, and fails on any
//! that points up. docs/architecture.md draws the same order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The library's top-level modules, lowest first. A module may use any module before it.
/// Modules that other branches are adding (`trace`, `http`, `mesh`) have their place already.
const LAYERS: &[&str] = &[
    "semconv",   // names only: generated from the registry
    "config",    // Config, the environment, Resource, LogFormat
    "health",    // the readiness checker and its checks
    "metrics",   // the instruments and histogram cells
    "export",    // the readers: Prometheus bridge, OTLP exporters, their status
    "trace",     // spans over OTLP
    "logging",   // the subscriber, logs over OTLP, correlation context
    "error",     // the crate's Error, which wraps the errors below
    "alerting",  // the alert engine: a reader's consumer, its rules and channels
    "http",      // HTTP layers shared by the servers
    "server",    // the HTTP servers behind the bridge, health and the alerting API
    "telemetry", // the guard: wires every module above into one provider
    "sim",       // the simulated node (the `node` feature)
    "mesh",      // the simulated mesh (the `node` feature)
];

/// Names the crate root re-exports, and the module each lives in.
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("Config", "config"),
    ("ConfigBuilder", "config"),
    ("ConfigError", "config"),
    ("Error", "error"),
    ("init", "telemetry"),
    ("init_with", "telemetry"),
    ("Telemetry", "telemetry"),
    ("TelemetryBuilder", "telemetry"),
    ("SHUTDOWN_DEADLINE", "telemetry"),
    ("log_performance", "logging"),
    ("log_business_event", "logging"),
    ("log_security_event", "logging"),
];

#[derive(Debug, PartialEq, Eq)]
struct Violation {
    line: usize,
    from: String,
    to: String,
}

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|m| *m == module)
}

/// The module a crate-root name belongs to: a module itself, or a re-exported item.
fn owner(name: &str) -> Option<&'static str> {
    LAYERS
        .iter()
        .copied()
        .find(|m| *m == name)
        .or_else(|| ROOT_ITEMS.iter().find(|(item, _)| *item == name).map(|(_, m)| *m))
}

/// The source without comments, string and char literals (kept as blanks, so line numbers
/// stay), and without `#[cfg(test)]` items: test code may reach anywhere.
fn code_only(source: &str) -> String {
    let b = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &source[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            out.extend(rest[..end].chars().filter(|c| *c == '\n'));
            i += end;
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].chars().take_while(|c| *c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            let end = rest[body..].find(&close).map_or(rest.len(), |e| body + e + close.len());
            out.extend(rest[..end].chars().filter(|c| *c == '\n'));
            i += end;
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() && rest.as_bytes()[j] != b'"' {
                j += if rest.as_bytes()[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            out.push_str("\"\"");
            out.extend(rest[..end].chars().filter(|c| *c == '\n'));
            i += end;
        } else if rest.starts_with("#[cfg(test)]") {
            i += skip_item(rest);
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Length of the item after a `#[cfg(test)]`: up to its `;` or its matching `}`.
fn skip_item(rest: &str) -> usize {
    let mut depth = 0usize;
    for (k, c) in rest.char_indices().skip("#[cfg(test)]".len()) {
        match c {
            '{' => depth += 1,
            '}' if depth <= 1 => return k + 1,
            '}' => depth -= 1,
            ';' if depth == 0 => return k + 1,
            _ => {}
        }
    }
    rest.len()
}

/// Every path that leaves the file's top-level module, as (line, target module or name).
/// `module_path` is the file's module path from the crate root, e.g. `["alerting", "channels", "email"]`.
fn outward_paths(module_path: &[String], source: &str) -> Vec<(usize, String)> {
    let code = code_only(source);
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut at = 0;
        while let Some(pos) = next_path_start(&line[at..]) {
            let start = at + pos;
            let (targets, used) = targets_of(module_path, &line[start..], &code, n);
            found.extend(targets.into_iter().map(|t| (n + 1, t)));
            at = start + used.max(1);
        }
    }
    found
}

/// The next `crate::` or `super::` that starts a path (not the tail of a longer name).
fn next_path_start(line: &str) -> Option<usize> {
    let mut best = None;
    for key in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(p) = line[from..].find(key) {
            let p = from + p;
            let before = line[..p].chars().next_back();
            let part_of_name = before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            if !part_of_name {
                best = Some(best.map_or(p, |b: usize| b.min(p)));
                break;
            }
            from = p + key.len();
        }
    }
    best
}

/// The top-level targets a path names, and how many bytes of `text` it took.
fn targets_of(module_path: &[String], text: &str, code: &str, line_no: usize) -> (Vec<String>, usize) {
    let mut rest = text;
    let mut used = 0;
    let mut level = module_path.len();
    if let Some(r) = rest.strip_prefix("crate::") {
        level = 0;
        rest = r;
        used += "crate::".len();
    } else {
        while let Some(r) = rest.strip_prefix("super::") {
            level = level.saturating_sub(1);
            rest = r;
            used += "super::".len();
        }
    }
    if level > 0 {
        return (Vec::new(), used); // still inside the file's own top-level module
    }
    if let Some(group) = rest.strip_prefix('{') {
        // `crate::{a::X, b}`: the group may span lines.
        let from_line: String = code.lines().skip(line_no).collect::<Vec<_>>().join("\n");
        let offset = from_line.find(text).unwrap_or(0) + used + 1;
        let body = &from_line[offset.min(from_line.len())..];
        let mut depth = 0usize;
        let mut names = Vec::new();
        let mut current = String::new();
        for c in body.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => names.push(std::mem::take(&mut current)),
                _ => current.push(c),
            }
        }
        names.push(current);
        let targets = names.iter().map(|n| first_segment(n.trim())).filter(|n| !n.is_empty() && n != "self").collect();
        return (targets, used + group.len().min(1));
    }
    let name = first_segment(rest);
    let taken = used + name.len();
    (vec![name], taken)
}

fn first_segment(path: &str) -> String {
    path.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The violations of one file: paths to a module at or above nothing, or above its own.
fn violations(module_path: &[String], source: &str) -> Vec<Violation> {
    let from = &module_path[0];
    let Some(own) = rank(from) else {
        return vec![Violation { line: 0, from: from.clone(), to: "(module not in LAYERS)".into() }];
    };
    let mut out = Vec::new();
    for (line, target) in outward_paths(module_path, source) {
        match owner(&target) {
            Some(m) if m == from => {}
            Some(m) if rank(m).is_some_and(|r| r < own) => {}
            Some(m) => out.push(Violation { line, from: from.clone(), to: m.to_string() }),
            None => out.push(Violation { line, from: from.clone(), to: format!("{target} (unknown root name)") }),
        }
    }
    out
}

fn module_path_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_string();
        if stem != "mod" {
            parts.push(stem);
        }
    }
    parts
}

fn is_test_file(module_path: &[String]) -> bool {
    module_path.iter().any(|p| p == "tests" || p == "proptests" || p.starts_with("tests_"))
}

fn library_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            library_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_library_module_imports_a_module_above_it_in_the_layer_order() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    library_files(&src, &mut files);
    files.sort();
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let module_path = module_path_of(&src, file);
        let top = module_path.first().cloned().unwrap_or_default();
        if top == "bin" || top == "lib" || module_path.is_empty() || is_test_file(&module_path) {
            continue;
        }
        seen.insert(top);
        let source = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for v in violations(&module_path, &source) {
            failures.push(format!("{}:{}: `{}` imports `{}`, which is above it", file.display(), v.line, v.from, v.to));
        }
    }
    assert!(seen.len() >= 8, "found only {seen:?} under {}: is the source tree there?", src.display());
    assert!(
        failures.is_empty(),
        "{} upward imports (see LAYERS in tests/architecture.rs):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn path(p: &str) -> Vec<String> {
    p.split("::").map(String::from).collect()
}

#[test]
fn a_lower_module_importing_a_higher_one_is_reported_with_its_line() {
    let source = "use crate::semconv::METRICS;\nuse crate::telemetry::Telemetry;\n";
    assert_eq!(
        violations(&path("config"), source),
        vec![Violation { line: 2, from: "config".into(), to: "telemetry".into() }]
    );
}

#[test]
fn a_grouped_import_spanning_lines_is_read_name_by_name() {
    let source = "use crate::{\n    semconv::X,\n    alerting::{AlertReader, AlertError},\n};\n";
    let v = violations(&path("metrics"), source);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].to, "alerting");
}

#[test]
fn super_paths_that_climb_out_of_the_module_are_checked() {
    let source = "use super::super::telemetry::Telemetry;\nuse super::sibling::Thing;\n";
    let v = violations(&path("export::prometheus"), source);
    assert_eq!(v, vec![Violation { line: 1, from: "export".into(), to: "telemetry".into() }]);
}

#[test]
fn root_reexports_count_as_the_module_that_defines_them() {
    assert_eq!(violations(&path("export::otlp"), "fn f() -> crate::Error { todo!() }").len(), 1);
    assert!(violations(&path("server"), "fn f() -> crate::Error { todo!() }").is_empty());
    assert_eq!(violations(&path("config"), "crate::mystery::f();")[0].to, "mystery (unknown root name)");
}

#[test]
fn comments_strings_and_test_code_are_not_imports() {
    let source = "// use crate::telemetry;\n/* crate::alerting */\nlet s = \"crate::sim\";\n#[cfg(test)]\nmod tests {\n    use crate::telemetry::init;\n}\nfn f() { my_crate::telemetry::x(); }\n";
    assert!(violations(&path("metrics"), source).is_empty());
}

#[test]
fn a_module_missing_from_the_layer_order_is_reported() {
    assert_eq!(violations(&path("newthing"), "fn f() {}")[0].to, "(module not in LAYERS)");
}

#[test]
fn the_layer_order_names_each_module_once() {
    let unique: BTreeSet<_> = LAYERS.iter().collect();
    assert_eq!(unique.len(), LAYERS.len());
}
