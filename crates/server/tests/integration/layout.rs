//! The layout of the server crate shows its architecture (ARCHITECTURE.md, "Layers"): every
//! top-level module sits in one layer, a module imports only from layers below its own, and
//! no two sibling modules of a folder import each other in a circle.
//!
//! What counts as an import is every `crate::<module>` path in a file (doc links too: a doc
//! link is a dependency a reader follows), and in `main.rs` and `cli/` every `daned::<module>`
//! path; tests are left out (an inline `#[cfg(test)] mod tests` block, a `tests.rs` file, a
//! `tests/` folder), since a test may well reach across layers to set up what it checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers from the top down. A module may import only the modules listed after it.
const LAYERS: &[&str] = &[
    // The binary and its commands.
    "cli",
    // `daned serve` from start to stop: binds, starts every task, routes signals.
    "daemon",
    // What talks to the running daemon: the control socket and the metrics listener.
    "control",
    "metrics",
    // The manager's loop and the certificate watcher: what makes a zone change.
    "events",
    // The other name servers: NOTIFY, SOA polling of the secondaries, DS polling of the parent.
    "secondaries",
    // Answering DNS: sockets, the query engine, transfers, TSIG, cookies, RRL.
    "serve",
    // One zone: content, TLSA bindings, keys, persistence; the served snapshot.
    "zone",
    // What every layer may read: the status report's types, the configuration, the clock, and
    // bounded file access.
    "status",
    "config",
    "clock",
    "fsutil",
];

fn src_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every non-test source file under `dir`, with its path relative to `src/`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src/")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if name != "tests" && name != "data" {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(path);
        }
    }
}

/// The file's text without its inline test module.
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests {")
        .map_or(text, |at| &text[..at])
}

/// For each source file: its path components under `src/` (without `.rs`, `mod.rs` named by
/// its folder) and the modules it imports, as full `a::b` paths of up to two components.
fn import_graph() -> Vec<(Vec<String>, BTreeSet<Vec<String>>)> {
    let root = src_root();
    let mut files = Vec::new();
    sources(&root, &mut files);
    files
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|n| n != "lib.rs"))
        .map(|path| {
            let rel = path.strip_prefix(&root).expect("under src/");
            let mut module: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            if module == ["main"] {
                module = vec!["cli".to_owned()];
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let text = without_tests(&text);
            let mut paths = BTreeSet::new();
            let mut prefixes = vec!["crate::"];
            if module[0] == "cli" {
                prefixes.push("daned::");
            }
            for prefix in prefixes {
                let mut rest = text;
                while let Some(at) = rest.find(prefix) {
                    let before = rest[..at].chars().next_back();
                    rest = &rest[at + prefix.len()..];
                    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        continue;
                    }
                    let segments: Vec<String> = rest
                        .split("::")
                        .take(2)
                        .map(|s| {
                            s.chars()
                                .take_while(|c| {
                                    c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'
                                })
                                .collect::<String>()
                        })
                        .take_while(|s| !s.is_empty())
                        .collect();
                    if !segments.is_empty() {
                        paths.insert(segments);
                    }
                }
            }
            (module, paths)
        })
        .collect()
}

#[test]
fn every_module_is_in_a_layer_and_imports_only_the_layers_below() {
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for (module, paths) in import_graph() {
        let top = &module[0];
        let Some(own) = LAYERS.iter().position(|l| l == top) else {
            violations.push(format!("src/{} is in no layer of LAYERS", module.join("/")));
            continue;
        };
        seen.insert(top.clone());
        for path in paths {
            let Some(layer) = LAYERS.iter().position(|l| *l == path[0]) else {
                continue;
            };
            if layer < own {
                violations.push(format!(
                    "{} imports {} from a layer above it",
                    module.join("::"),
                    path.join("::")
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the layers of ARCHITECTURE.md are broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn sibling_modules_import_each_other_in_no_circle() {
    // Edges between the sub-modules of one top-level module (`zone::tlsa` -> `zone::keys`);
    // the folder's own `mod.rs` is the parent and may be imported by its children.
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (module, paths) in import_graph() {
        let [top, sub, ..] = module.as_slice() else {
            continue;
        };
        for path in paths {
            if path.len() == 2 && &path[0] == top && &path[1] != sub {
                edges
                    .entry((top.clone(), sub.clone()))
                    .or_default()
                    .insert(path[1].clone());
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &(String, String),
        edges: &BTreeMap<(String, String), BTreeSet<String>>,
        stack: &mut Vec<(String, String)>,
        done: &mut BTreeSet<(String, String)>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            return Some(
                stack[at..]
                    .iter()
                    .map(|(t, s)| format!("{t}::{s}"))
                    .collect(),
            );
        }
        if !done.insert(node.clone()) {
            return None;
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            let next = (node.0.clone(), next.clone());
            if let Some(circle) = visit(&next, edges, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(circle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            panic!("an import circle: {}", circle.join(" -> "));
        }
    }
}
