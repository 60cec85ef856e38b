//! The crate's modules import one another without cycles, so that data flows one way (config and
//! prompts → client → record → analysis → report) and each stage can be read without the later
//! ones.
//!
//! Every file under `src/` is one module (`a/b.rs` and `a/b/mod.rs` are `a::b`). A module uses
//! another when its code (test modules and comments left out) names a path into it: `crate::x::…`,
//! `super::…`, `self::…` or a child declared with `mod`, inside `use` groups too. A child may use
//! what its ancestors define (they own it); every other use is an edge, and the graph of edges must
//! have no cycle. This is the check `cargo modules dependencies --acyclic` makes, without the tool.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[test]
fn src_has_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    assert!(
        modules.len() > 20,
        "found only {} modules under {}",
        modules.len(),
        src.display()
    );
    let graph = uses(&modules);
    let cycles: Vec<Vec<String>> = strongly_connected(&graph).into_iter().filter(|c| c.len() > 1).collect();
    let described: Vec<String> = cycles.iter().map(|c| describe(c, &graph)).collect();
    assert!(cycles.is_empty(), "import cycles in src/:\n{}", described.join("\n"));
}

#[test]
fn the_checker_sees_paths_groups_super_and_children() {
    let text = "use crate::a::{b::C, d};\nuse super::e;\nmod f;\nfn g() { crate::h::i(); f::j(); }\n\
                // crate::commented::out\n#[cfg(test)]\nmod tests {\n    use crate::only_in_tests;\n}\n";
    let paths = paths_in(&code_of(text));
    let shown: Vec<String> = paths.iter().map(|(p, _)| p.join("::")).collect();
    for expected in ["crate::a::b::C", "crate::a::d", "super::e", "crate::h::i", "self::f::j"] {
        assert!(shown.contains(&expected.to_owned()), "{expected} not in {shown:?}");
    }
    assert!(
        !shown
            .iter()
            .any(|p| p.contains("commented") || p.contains("only_in_tests")),
        "{shown:?}"
    );
}

/// Module path (`report::html`) → file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path != src.join("bin") {
                    dirs.push(path);
                }
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if path.extension().is_none_or(|e| e != "rs")
                || (parts.len() == 1 && matches!(parts[0].as_str(), "lib" | "main"))
            {
                continue;
            }
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            found.insert(parts.join("::"), path);
        }
    }
    found
}

/// Module → the modules it uses (edges to its own ancestors left out).
fn uses(modules: &BTreeMap<String, PathBuf>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for (name, file) in modules {
        let here: Vec<&str> = name.split("::").collect();
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let mut targets = BTreeSet::new();
        for (path, _) in paths_in(&code) {
            let mut absolute: Vec<&str> = here.clone();
            let mut rest = &path[..];
            match rest.first().map(String::as_str) {
                Some("crate") => {
                    absolute.clear();
                    rest = &rest[1..];
                }
                Some("self") => rest = &rest[1..],
                _ => {}
            }
            while rest.first().is_some_and(|p| p == "super") {
                absolute.pop();
                rest = &rest[1..];
            }
            absolute.extend(rest.iter().map(String::as_str));
            // The longest prefix that is a module is what the path reaches into.
            let target = (1..=absolute.len())
                .rev()
                .map(|n| absolute[..n].join("::"))
                .find(|m| modules.contains_key(m));
            if let Some(target) = target {
                let is_ancestor = name.starts_with(&format!("{target}::"));
                if target != *name && !is_ancestor {
                    targets.insert(target);
                }
            }
        }
        graph.insert(name.clone(), targets);
    }
    graph
}

/// The source without comments and without `#[cfg(test)]` modules.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let cut = comment_start(line).map_or(line, |i| &line[..i]);
        code.push_str(cut);
        code.push('\n');
    }
    while let Some(start) = code.find("#[cfg(test)]") {
        let Some(open) = code[start..].find('{').map(|i| start + i) else {
            break;
        };
        let mut depth = 0;
        let mut end = code.len();
        for (i, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        code.replace_range(start..end, "");
    }
    code
}

/// Where a `//` comment starts on a line, outside string literals.
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let (mut in_string, mut i) = (false, 0);
    while i + 1 < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes[i + 1] == b'/' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Every path that starts at `crate`, `super`, `self` or a declared child module, with `use`
/// groups expanded; each with the byte offset where it was found.
fn paths_in(code: &str) -> Vec<(Vec<String>, usize)> {
    let children: Vec<String> = code
        .lines()
        .filter_map(|l| {
            let l = l
                .trim()
                .strip_prefix("pub ")
                .or_else(|| l.trim().strip_prefix("pub(crate) "))
                .unwrap_or(l.trim());
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_owned())
        })
        .collect();
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !ident(bytes[i]) || (i > 0 && (ident(bytes[i - 1]) || bytes[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && ident(bytes[i]) {
            i += 1;
        }
        let first = &code[start..i];
        let roots = matches!(first, "crate" | "super" | "self") || children.iter().any(|c| c == first);
        if !roots || !code[i..].starts_with("::") {
            continue;
        }
        let prefix = if matches!(first, "crate" | "super" | "self") {
            vec![first.to_owned()]
        } else {
            vec!["self".to_owned(), first.to_owned()]
        };
        let (found, end) = path_tail(code, i, prefix);
        paths.extend(found.into_iter().map(|p| (p, start)));
        i = end;
    }
    paths
}

/// Reads `::a::b`, `::{x, y::z}` after a path's first segment; returns the paths and where they end.
fn path_tail(code: &str, mut i: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    let mut path = prefix;
    while code[i..].starts_with("::") {
        i += 2;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) == Some(&b'{') {
            let mut all = Vec::new();
            i += 1;
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    return (all, i + 1);
                }
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let mut item = path.clone();
                let name = &code[start..i];
                if name != "self" && !name.is_empty() {
                    item.push(name.to_owned());
                }
                let (inner, end) = if code[i..].starts_with("::") {
                    path_tail(code, i, item)
                } else {
                    (vec![item], i)
                };
                all.extend(inner);
                i = end;
                // Skip `as alias` and anything else up to the next item.
                while i < bytes.len() && bytes[i] != b',' && bytes[i] != b'}' {
                    i += 1;
                }
                if start == i && name.is_empty() {
                    i += 1;
                }
            }
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if start == i {
            break;
        }
        path.push(code[start..i].to_owned());
    }
    (vec![path], i)
}

/// Tarjan's strongly connected components.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(v: &'g str, s: &mut State<'g>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(w, s);
                let low = s.low[v].min(s.low[w.as_str()]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w.as_str()) {
                let low = s.low[v].min(s.index[w.as_str()]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            component.sort();
            s.found.push(component);
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(v, &mut s);
        }
    }
    s.found
}

/// A cycle's modules and the uses between them.
fn describe(component: &[String], graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    let edges: Vec<String> = component
        .iter()
        .flat_map(|a| {
            graph[a]
                .iter()
                .filter(|b| component.contains(b))
                .map(move |b| format!("{a} → {b}"))
        })
        .collect();
    format!("  {} modules: {}", component.len(), edges.join(", "))
}
