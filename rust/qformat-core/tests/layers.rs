//! The core's modules form one-way layers, with no import cycle.
//!
//! Reads every file under `src/`, finds the modules each one refers to
//! (`crate::…` paths, `super::…` paths and, in a folder's `mod.rs` or in
//! `lib.rs`, paths through a child module), and checks two things:
//! * no cycle among the modules (one file = one module);
//! * each top-level layer uses only the layers [`ALLOWED`] lets it use
//!   (the specification `engine` uses no fast path, policy, text or
//!   quantizer, and so on).
//!
//! Test code (`#[cfg(test)]` modules, inline or in their own file) is left
//! out: a test may compare any two layers. `lib.rs` is the façade that
//! re-exports, not a layer. The checker itself is tested on a small
//! made-up crate that has both kinds of fault, so it cannot pass by
//! seeing nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Each layer and the layers it may use (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("format", &["error"]),
    ("engine", &["error", "format"]),
    ("policy", &["error", "format", "engine"]),
    ("fast", &["error", "format", "engine"]),
    ("text", &["error", "format", "engine"]),
    ("quant", &["error", "format", "engine", "fast"]),
    ("stats", &["error", "format", "engine", "fast", "quant"]),
];

/// A module path (`["engine", "encode"]`; the crate root is empty).
type Module = Vec<String>;

/// Source text of every non-test module, by module path.
fn read_tree(src: &Path) -> BTreeMap<Module, String> {
    let mut files = BTreeMap::new();
    collect(src, &mut Vec::new(), &mut files);
    let test_only: Vec<Module> = files
        .iter()
        .flat_map(|(m, text)| {
            test_children(text)
                .into_iter()
                .map(move |c| [m.clone(), vec![c]].concat())
        })
        .collect();
    files.retain(|m, _| !test_only.iter().any(|t| m.starts_with(t)));
    files
        .into_iter()
        .map(|(m, text)| (m, without_tests(&text)))
        .collect()
}

fn collect(dir: &Path, prefix: &mut Vec<String>, out: &mut BTreeMap<Module, String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if path.is_dir() {
            prefix.push(name);
            collect(&path, prefix, out);
            prefix.pop();
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut m = prefix.clone();
            if name != "mod" && name != "lib" {
                m.push(name);
            }
            out.insert(m, fs::read_to_string(&path).unwrap());
        }
    }
}

/// Child modules declared as `#[cfg(test)] mod name;` (their own files).
fn test_children(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "#[cfg(test)]" && w[1].starts_with("mod ") && w[1].ends_with(';'))
        .map(|w| w[1]["mod ".len()..w[1].len() - 1].trim().to_string())
        .collect()
}

/// The text with comments and inline `#[cfg(test)] mod … { … }` blocks removed.
fn without_tests(text: &str) -> String {
    let code: Vec<&str> = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect();
    let mut out = String::new();
    let mut skip_depth: Option<i64> = None;
    let mut depth = 0i64;
    let mut armed = false;
    for line in code {
        let t = line.trim();
        if t == "#[cfg(test)]" {
            armed = true;
            continue;
        }
        if armed && t.starts_with("mod ") && t.ends_with('{') && skip_depth.is_none() {
            skip_depth = Some(depth);
        }
        armed = false;
        for c in line.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
        }
        if let Some(d) = skip_depth {
            if depth == d {
                skip_depth = None;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every path that starts at `crate`, `super` or a child module, as the
/// segments after that start, with `{a, b::c}` groups expanded.
fn paths_from(text: &str, start: &str) -> Vec<Vec<String>> {
    let bytes = text.as_bytes();
    let pat = format!("{start}::");
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(k) = text[i..].find(&pat) {
        let at = i + k;
        i = at + pat.len();
        let before = at.checked_sub(1).map(|j| bytes[j] as char);
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        expand(&text[i..], &mut Vec::new(), &mut found);
    }
    found
}

/// Read a path tail (`a::b::{c, d::e}`) into every full path it names.
fn expand(tail: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tail = tail.trim_start();
    if let Some(group) = tail.strip_prefix('{') {
        let mut depth = 0;
        let mut item = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&item, &mut prefix.clone(), out);
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        expand(&item, &mut prefix.clone(), out);
        return;
    }
    let ident: String = tail
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() {
        if !prefix.is_empty() {
            out.push(prefix.clone());
        }
        return;
    }
    prefix.push(ident.clone());
    match tail[ident.len()..].strip_prefix("::") {
        Some(rest) => expand(rest, prefix, out),
        None => out.push(prefix.clone()),
    }
}

/// The longest module that is a prefix of `path`.
fn resolve(path: &[String], modules: &BTreeSet<Module>) -> Module {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| modules.contains(m))
        .unwrap_or_default()
}

/// For every module, the modules its code refers to (itself left out).
fn edges(files: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let modules: BTreeSet<Module> = files.keys().cloned().collect();
    let mut out = BTreeMap::new();
    for (m, text) in files {
        // `super` is the enclosing module, for `a/b.rs` and `a/b/mod.rs` alike.
        let parent = m[..m.len().saturating_sub(1)].to_vec();
        let is_folder = modules
            .iter()
            .any(|o| o.len() > m.len() && o.starts_with(m));
        let mut targets = BTreeSet::new();
        for p in paths_from(text, "crate") {
            targets.insert(resolve(&p, &modules));
        }
        for p in paths_from(text, "super") {
            targets.insert(resolve(&[parent.clone(), p].concat(), &modules));
        }
        if is_folder || m.is_empty() {
            for child in modules
                .iter()
                .filter(|c| c.len() == m.len() + 1 && c.starts_with(m))
            {
                let name = child.last().unwrap();
                for p in paths_from(text, name) {
                    let full = [child.clone(), p].concat();
                    targets.insert(resolve(&full, &modules));
                }
            }
        }
        targets.remove(m);
        out.insert(m.clone(), targets);
    }
    out
}

/// Every edge that closes a cycle, as the cycle's modules.
fn cycles(g: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    let mut found = Vec::new();
    // 0: unseen, 1: on the current path, 2: done.
    let mut state: BTreeMap<&Module, u8> = BTreeMap::new();
    fn visit<'a>(
        m: &'a Module,
        g: &'a BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<&'a Module, u8>,
        path: &mut Vec<&'a Module>,
        found: &mut Vec<Vec<Module>>,
    ) {
        state.insert(m, 1);
        path.push(m);
        for t in g.get(m).into_iter().flatten() {
            match state.get(t).copied().unwrap_or(0) {
                0 => visit(t, g, state, path, found),
                1 => {
                    let from = path.iter().position(|p| *p == t).unwrap();
                    found.push(path[from..].iter().map(|p| (*p).clone()).collect());
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(m, 2);
    }
    for m in g.keys() {
        if state.get(m).copied().unwrap_or(0) == 0 {
            visit(m, g, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

/// Every reference from one layer to a layer it may not use.
fn violations(g: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<String> {
    let mut out = Vec::new();
    for (m, targets) in g {
        let Some(layer) = m.first() else { continue };
        let allowed = ALLOWED.iter().find(|(l, _)| l == layer).map(|(_, a)| *a);
        let Some(allowed) = allowed else {
            out.push(format!("{} is in no declared layer", m.join("::")));
            continue;
        };
        for t in targets {
            let to = t.first().map(String::as_str).unwrap_or("crate root");
            if to != layer && !allowed.contains(&to) {
                out.push(format!(
                    "{} uses {} ({layer} may not use {to})",
                    m.join("::"),
                    t.join("::")
                ));
            }
        }
    }
    out
}

fn show(c: &[Module]) -> String {
    let names: Vec<String> = c.iter().map(|m| m.join("::")).collect();
    format!("{} -> {}", names.join(" -> "), names[0])
}

#[test]
fn core_modules_have_no_cycle_and_respect_the_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = read_tree(&root.join("src"));
    assert!(files.len() > 30, "read only {} modules", files.len());
    let g = edges(&files);
    let found: Vec<String> = cycles(&g).iter().map(|c| show(c)).collect();
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
    let bad = violations(&g);
    assert!(bad.is_empty(), "layer violations:\n{}", bad.join("\n"));
    // Spot checks that the reader sees real edges.
    let m = |s: &str| s.split("::").map(String::from).collect::<Module>();
    assert!(g[&m("fast::slices")].contains(&m("fast::fp32")));
    assert!(g[&m("quant::codes")].contains(&m("quant::walk")));
    assert!(g[&m("engine::encode")].contains(&m("engine::rounding")));
}

#[test]
fn the_core_does_not_depend_on_the_binding() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(!manifest.contains("pyo3") && !manifest.contains("qformat-py"));
    for text in read_tree(&root.join("src")).values() {
        assert!(!text.contains("pyo3") && !text.contains("qformat_py"));
    }
}

/// The checker finds a cycle, a layer violation and a grouped import in a
/// made-up crate (so the test above cannot pass by reading nothing).
#[test]
fn the_checker_reports_cycles_and_violations() {
    let file = |m: &str, text: &str| {
        let module: Module = if m.is_empty() {
            vec![]
        } else {
            m.split("::").map(String::from).collect()
        };
        (module, without_tests(text))
    };
    let files: BTreeMap<Module, String> = [
        file("", "pub mod engine;\npub mod fast;\npub use engine::a::X;"),
        file("engine", "pub mod a;\npub mod b;\npub mod c;"),
        file("engine::a", "use super::b::Y;\n// use crate::fast::z;"),
        file("engine::b", "use crate::{engine::a::X, fast::{z::W}};"),
        file("engine::c", "pub struct C;"),
        file("fast", "pub mod z;"),
        file(
            "fast::z",
            "use crate::engine::c::C;\n#[cfg(test)]\nmod tests {\n    use crate::fast::z;\n}",
        ),
    ]
    .into_iter()
    .collect();
    let g = edges(&files);
    let m = |s: &str| s.split("::").map(String::from).collect::<Module>();
    assert_eq!(g[&Vec::new()], BTreeSet::from([m("engine::a")]));
    assert_eq!(g[&m("engine::a")], BTreeSet::from([m("engine::b")]));
    assert_eq!(
        g[&m("engine::b")],
        BTreeSet::from([m("engine::a"), m("fast::z")])
    );
    let c = cycles(&g);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(show(&c[0]), "engine::a -> engine::b -> engine::a");
    let v = violations(&g);
    assert_eq!(v, ["engine::b uses fast::z (engine may not use fast)"]);
}
