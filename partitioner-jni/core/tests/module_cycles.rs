//! No module of any crate in the workspace needs a module that needs it back.
//!
//! The graph is read from the sources: module `M` depends on module `T` when `M`'s code (tests left
//! out) names a path `crate::…` or `super::…` that resolves to `T`. A module naming its own
//! descendants (a `mod.rs` re-exporting or building its children) is containment, not a dependency; a
//! child naming its parent is one. A cycle is a strongly connected set of two or more modules; the
//! test prints each with the paths that tie it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The source roots of the workspace's crates, each with its crate-root files (lib.rs, bins).
fn crate_roots(workspace: &Path) -> Vec<(String, PathBuf)> {
    let mut roots = Vec::new();
    for dir in [
        "partitioner-jni/core/src",
        "partitioner-jni/agent-link/src",
        "partitioner-jni/jni/src",
        "proto/src",
        "agent/learner/src",
        "agent/src",
    ] {
        roots.push((dir.to_string(), workspace.join(dir)));
    }
    roots
}

/// Every `.rs` file under `src` with its module path (`a/b.rs` and `a/b/mod.rs` are `["a", "b"]`).
/// Binaries (`src/bin/...`) are crates of their own and are listed apart.
fn modules(src: &Path) -> Vec<(Vec<String>, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    files
        .into_iter()
        .filter(|f| !f.strip_prefix(src).unwrap().starts_with("bin"))
        .map(|f| {
            let rel = f.strip_prefix(src).unwrap().with_extension("");
            let mut path: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if matches!(path.last().map(String::as_str), Some("lib" | "main" | "mod")) {
                path.pop();
            }
            (path, f)
        })
        .collect()
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a file names from `crate::` or `super::`, `use` groups expanded (`crate::{a, b::c}`).
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let starts = (rest.starts_with("crate::") || rest.starts_with("super::"))
            && (i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':'));
        if !starts {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let (prefix, len) = expand(rest);
        out.extend(prefix);
        i += len.max(1);
    }
    out
}

/// Reads one path starting at `text` (`crate::a::b`, `super::super::x`, `crate::{a, b::c}`); returns
/// the expanded paths and the bytes read.
fn expand(text: &str) -> (Vec<Vec<String>>, usize) {
    let mut segments = Vec::new();
    let mut i = 0;
    loop {
        let ident: String = text[i..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            break;
        }
        i += ident.len();
        segments.push(ident);
        if text[i..].starts_with("::{") {
            // A group: expand each top-level item against the prefix.
            let open = i + 3;
            let mut depth = 1;
            let mut end = open;
            for (j, c) in text[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = open + j;
                    break;
                }
            }
            let mut out = Vec::new();
            let mut depth = 0;
            let mut start = open;
            let inner = &text[..end];
            for (j, c) in inner[open..].char_indices() {
                let at = open + j;
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.extend(item(&segments, &inner[start..at]));
                        start = at + 1;
                    }
                    _ => {}
                }
            }
            out.extend(item(&segments, &inner[start..end]));
            return (out, end + 1);
        }
        if text[i..].starts_with("::") {
            i += 2;
        } else {
            break;
        }
    }
    (vec![segments], i)
}

fn item(prefix: &[String], text: &str) -> Vec<Vec<String>> {
    let text = text.trim();
    if text.is_empty() || text == "self" || text == "*" {
        return vec![prefix.to_vec()];
    }
    let (paths, _) = expand(text);
    paths
        .into_iter()
        .map(|p| prefix.iter().cloned().chain(p).collect())
        .collect()
}

/// The module a path names, from module `from`: the longest prefix that is a module.
fn resolve(from: &[String], path: &[String], known: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut base: Vec<String> = Vec::new();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => rest = &rest[1..],
        Some("super") => {
            base = from.to_vec();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    let mut target = base;
    for segment in rest {
        let mut next = target.clone();
        next.push(segment.clone());
        if known.contains(&next) {
            target = next;
        } else {
            break;
        }
    }
    Some(target)
}

/// Strongly connected sets of two or more nodes (Tarjan).
fn cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Vec<String>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_crate_has_a_module_cycle() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut found = Vec::new();
    for (name, src) in crate_roots(&workspace) {
        let files = modules(&src);
        let known: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
        let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        let mut why: BTreeMap<(Vec<String>, Vec<String>), String> = BTreeMap::new();
        for (module, file) in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for path in paths(&code(&text)) {
                let Some(target) = resolve(module, &path, &known) else {
                    continue;
                };
                // Naming itself or its own descendants is containment.
                if target.starts_with(module) {
                    continue;
                }
                edges.entry(module.clone()).or_default().insert(target.clone());
                why.entry((module.clone(), target))
                    .or_insert_with(|| path.join("::"));
            }
        }
        for component in cycles(&edges) {
            let set: BTreeSet<&Vec<String>> = component.iter().collect();
            let ties: Vec<String> = why
                .iter()
                .filter(|((from, to), _)| set.contains(from) && set.contains(to))
                .map(|((from, to), path)| format!("{} -> {} ({path})", from.join("::"), to.join("::")))
                .collect();
            found.push(format!("{name}: {}", ties.join("; ")));
        }
    }
    assert!(found.is_empty(), "module cycles:\n{}", found.join("\n"));
}

#[test]
fn the_reader_sees_uses_groups_and_supers() {
    let code = "use crate::a::{b, c::{D, e}};\nuse super::x::Y;\nfn f() { crate::z::g(); }\n";
    let got: Vec<String> = paths(code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        got,
        [
            "crate::a::b",
            "crate::a::c::D",
            "crate::a::c::e",
            "super::x::Y",
            "crate::z::g"
        ]
    );
    let known: BTreeSet<Vec<String>> = [vec!["a".to_string()], vec!["a".to_string(), "c".to_string()]]
        .into_iter()
        .collect();
    let from = vec!["a".to_string(), "c".to_string()];
    let up = |p: &str| p.split("::").map(String::from).collect::<Vec<_>>();
    assert_eq!(
        resolve(&from, &up("super::b"), &known),
        Some(vec!["a".to_string()])
    );
    assert_eq!(resolve(&from, &up("crate::a::c::D"), &known), Some(from.clone()));
    let mut edges = BTreeMap::new();
    edges.insert(up("a"), [up("b")].into_iter().collect::<BTreeSet<_>>());
    edges.insert(up("b"), [up("a")].into_iter().collect());
    assert_eq!(cycles(&edges).len(), 1);
}
