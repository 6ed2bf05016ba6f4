//! The layer story of `src/lib.rs` is checked, not kept by hand: every file of `src/` is
//! parsed with `syn`, each `crate::…` path (in `use` items and in code) becomes an edge
//! between top-level modules, and the graph must have no cycle. A cycle is reported with
//! the file and line of each edge on it, so the one to cut is plain.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// One `crate::M` reference: from top-level module `from` to `to`, at file:line.
#[derive(Debug, Clone)]
struct Edge {
    from: String,
    to: String,
    at: String,
}

/// The top-level modules of the crate, as `lib.rs` declares them.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let lib = syn::parse_file(&std::fs::read_to_string(src.join("lib.rs")).unwrap()).unwrap();
    lib.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) => Some(m.ident.to_string()),
            _ => None,
        })
        .collect()
}

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

struct Paths<'a> {
    modules: &'a BTreeSet<String>,
    /// The top-level module of the file being read.
    from: String,
    file: String,
    edges: Vec<Edge>,
}

impl Paths<'_> {
    fn reference(&mut self, first: &syn::Ident, second: Option<&syn::Ident>, line: usize) {
        if first != "crate" {
            return;
        }
        let Some(to) = second.map(|s| s.to_string()) else {
            return;
        };
        if self.modules.contains(&to) && to != self.from {
            self.edges.push(Edge {
                from: self.from.clone(),
                to,
                at: format!("{}:{line}", self.file),
            });
        }
    }

    /// `use crate::{a::x, b}` names a and b.
    fn use_tree(&mut self, tree: &syn::UseTree, after_crate: bool) {
        match tree {
            syn::UseTree::Path(p) if p.ident == "crate" => self.use_tree(&p.tree, true),
            syn::UseTree::Path(p) if after_crate => {
                let crate_ident = syn::Ident::new("crate", p.ident.span());
                self.reference(&crate_ident, Some(&p.ident), p.ident.span().start().line);
            }
            syn::UseTree::Name(n) if after_crate => {
                let crate_ident = syn::Ident::new("crate", n.ident.span());
                self.reference(&crate_ident, Some(&n.ident), n.ident.span().start().line);
            }
            syn::UseTree::Rename(r) if after_crate => {
                let crate_ident = syn::Ident::new("crate", r.ident.span());
                self.reference(&crate_ident, Some(&r.ident), r.ident.span().start().line);
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(t, after_crate);
                }
            }
            _ => {}
        }
    }
}

impl<'ast> Visit<'ast> for Paths<'_> {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        let mut segments = path.segments.iter();
        if let Some(first) = segments.next() {
            let second = segments.next().map(|s| &s.ident);
            self.reference(&first.ident, second, first.ident.span().start().line);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&item.tree, false);
    }
}

fn module_graph() -> (BTreeSet<String>, Vec<Edge>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = top_level_modules(&src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut edges = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let from = Path::new(first)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !modules.contains(&from) {
            continue; // lib.rs and main.rs: the crate root, above every layer
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        let mut paths = Paths {
            modules: &modules,
            from,
            file: format!("src/{}", relative.display()),
            edges: Vec::new(),
        };
        paths.visit_file(&parsed);
        edges.extend(paths.edges);
    }
    (modules, edges)
}

/// A cycle of the graph, as the modules on it (first repeated last), if there is one.
fn find_cycle(modules: &BTreeSet<String>, edges: &[Edge]) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in edges {
        next.entry(&e.from).or_default().insert(&e.to);
    }
    // 0 unseen, 1 on the current path, 2 done.
    let mut state: BTreeMap<&str, u8> = modules.iter().map(|m| (m.as_str(), 0)).collect();
    fn visit<'a>(
        m: &'a str,
        next: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(m, 1);
        path.push(m);
        for &n in next.get(m).into_iter().flatten() {
            match state.get(n).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|p| *p == n).unwrap();
                    let mut cycle: Vec<String> =
                        path[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(n.to_string());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(n, next, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(m, 2);
        None
    }
    for m in modules {
        if state[m.as_str()] == 0
            && let Some(c) = visit(m, &next, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn top_level_modules_import_only_downward() {
    let (modules, edges) = module_graph();
    assert!(
        modules.len() > 5 && !edges.is_empty(),
        "the graph was not read: {modules:?}"
    );
    if let Some(cycle) = find_cycle(&modules, &edges) {
        let mut why = String::new();
        for pair in cycle.windows(2) {
            let at: Vec<&str> = edges
                .iter()
                .filter(|e| e.from == pair[0] && e.to == pair[1])
                .map(|e| e.at.as_str())
                .take(5)
                .collect();
            why.push_str(&format!(
                "\n  {} -> {}: {}",
                pair[0],
                pair[1],
                at.join(", ")
            ));
        }
        panic!(
            "the modules of src/ import each other in a cycle: {}{why}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let modules: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let edge = |from: &str, to: &str| Edge {
        from: from.into(),
        to: to.into(),
        at: String::new(),
    };
    assert_eq!(
        find_cycle(&modules, &[edge("a", "b"), edge("b", "c")]),
        None
    );
    assert_eq!(
        find_cycle(&modules, &[edge("a", "b"), edge("b", "c"), edge("c", "b")]),
        Some(vec!["b".to_string(), "c".to_string(), "b".to_string()])
    );
}
