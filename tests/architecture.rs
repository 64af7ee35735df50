//! The crate's layers: every module imports only modules of its own layer or below, and no two
//! modules import each other through any chain (no circle), at the level of the top modules and
//! of their submodules. Reads `src/` as text: `crate::a::b` paths, `use crate::{a, b}` groups
//! and `super::` paths, outside `#[cfg(test)]` sections.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may import its own layer and those before it.
const LAYERS: &[&[&str]] = &[
    &["error", "secret", "lenient"],
    &["state", "host", "config"],
    &["transport"],
    &["client"],
    &["api"],
    &["ops"],
    &["lua_api"],
    &["lib"],
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// A module path like `ops::passcodes::add` from a file under `src/`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_owned());
    }
    if parts == ["lib"] || parts.is_empty() {
        return vec!["lib".into()];
    }
    parts
}

/// The text without its `#[cfg(test)]` items (unit tests may reach anywhere) and comments.
fn production_text(text: &str) -> String {
    let code = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The module paths (`[top]` or `[top, sub]`) that `text`, the file of module `me`, refers to.
fn imports(me: &[String], text: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let mut push = |path: Vec<String>| {
        let path: Vec<String> = path.into_iter().filter(|p| !p.is_empty()).take(2).collect();
        if !path.is_empty() {
            out.insert(path);
        }
    };
    let segments = |rest: &str| -> Vec<String> {
        let mut segs = Vec::new();
        let mut r = rest;
        loop {
            let id = ident_at(r);
            if id.is_empty() {
                break;
            }
            r = &r[id.len()..];
            segs.push(id);
            match r.strip_prefix("::") {
                Some(next) => r = next,
                None => break,
            }
        }
        segs
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                push(segments(item.trim()));
            }
        } else {
            push(segments(rest));
        }
    }
    for (i, _) in text.match_indices("super::") {
        // `super::super::x` is counted once, from its first `super::`.
        if text[..i].ends_with("super::") {
            continue;
        }
        let mut rest = &text[i..];
        let mut base: Vec<String> = me.to_vec();
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        let mut names = Vec::new();
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            names.extend(group[..end].split(',').map(|s| segments(s.trim())));
        } else {
            names.push(segments(rest));
        }
        for n in names {
            let mut p = base.clone();
            p.extend(n);
            push(p);
        }
    }
    out
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Module → the modules it imports, at depth 1 (top modules) and 2 (their submodules).
type Graph = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

fn graphs(src: &Path) -> (Graph, Graph) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let (mut tops, mut subs) = (Graph::new(), Graph::new());
    for f in files {
        let me = module_of(src, &f);
        let text = production_text(&std::fs::read_to_string(&f).expect("read file"));
        let from_top = vec![me[0].clone()];
        let from_sub: Vec<String> = me.iter().take(2).cloned().collect();
        for target in imports(&me, &text) {
            let to_top = vec![target[0].clone()];
            if to_top != from_top {
                tops.entry(from_top.clone()).or_default().insert(to_top);
            }
            if target != from_sub && target.len() == 2 && from_sub.len() == 2 {
                subs.entry(from_sub.clone()).or_default().insert(target);
            }
        }
    }
    (tops, subs)
}

/// Imports that go upward: (from, to).
fn upward(tops: &Graph) -> Vec<String> {
    let mut bad = Vec::new();
    for (from, tos) in tops {
        let Some(lf) = layer_of(&from[0]) else {
            bad.push(format!("{} is in no layer (add it to LAYERS)", from[0]));
            continue;
        };
        for to in tos {
            match layer_of(&to[0]) {
                Some(lt) if lt <= lf => {}
                Some(_) => bad.push(format!("{} imports {}, a higher layer", from[0], to[0])),
                None => bad.push(format!(
                    "{} imports {}, which is in no layer",
                    from[0], to[0]
                )),
            }
        }
    }
    bad
}

/// One circle of the graph, if there is one, as `a -> b -> a`.
fn circle(g: &Graph) -> Option<String> {
    fn visit(
        g: &Graph,
        n: &Vec<String>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<String> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut names: Vec<String> = stack[i..].iter().map(|p| p.join("::")).collect();
            names.push(n.join("::"));
            return Some(names.join(" -> "));
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.clone());
        for next in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(g, next, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.clone());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(g, n, &mut Vec::new(), &mut done))
}

#[test]
fn layers_import_only_downward_and_nothing_circles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (tops, subs) = graphs(&src);
    // The parser found the layers at all (a broken parser must not pass by finding nothing).
    assert!(tops[&vec!["ops".to_string()]].contains(&vec!["api".to_string()]));
    assert!(subs.len() > 10, "{subs:?}");
    let bad = upward(&tops);
    assert!(
        bad.is_empty(),
        "imports against the layers:\n{}",
        bad.join("\n")
    );
    assert_eq!(circle(&tops), None, "top modules import each other");
    assert_eq!(circle(&subs), None, "submodules import each other");
    for (m, deps) in &tops {
        println!(
            "{} -> {}",
            m[0],
            deps.iter()
                .map(|d| d[0].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// The checker itself: it must see an upward import, a circle, and the import forms.
#[test]
fn the_checker_fails_on_an_upward_import_and_on_a_circle() {
    let me = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
    let found = imports(
        &me("transport::retry"),
        "use crate::ops::schedule;\nuse crate::{host, error::Code};\nuse super::connection::Sent;\nuse super::{Endpoint, clock};",
    );
    for want in [
        "ops::schedule",
        "host",
        "error::Code",
        "transport::connection",
        "transport::Endpoint",
        "transport::clock",
    ] {
        assert!(found.contains(&me(want)), "{want} in {found:?}");
    }
    let mut g = Graph::new();
    g.entry(me("transport")).or_default().insert(me("ops"));
    assert_eq!(
        upward(&g),
        vec!["transport imports ops, a higher layer".to_string()]
    );
    g.entry(me("ops")).or_default().insert(me("transport"));
    assert!(upward(&g).len() == 1);
    let c = circle(&g).expect("a circle");
    assert!(
        c == "ops -> transport -> ops" || c == "transport -> ops -> transport",
        "{c}"
    );
    let mut fine = Graph::new();
    fine.entry(me("ops")).or_default().insert(me("api"));
    fine.entry(me("api")).or_default().insert(me("client"));
    assert_eq!(circle(&fine), None);
    assert!(upward(&fine).is_empty());
    // Comments and unit tests are not imports.
    let text = production_text(
        "// crate::lua_api\nuse crate::error;\n#[cfg(test)]\nmod tests { use crate::lua_api; }",
    );
    assert_eq!(imports(&me("api"), &text), BTreeSet::from([me("error")]));
}
