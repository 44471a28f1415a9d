//! The modules of the crate import each other without a circle: `zone` is the bottom, and
//! `nsec`, `nsec3`, `rrsig` and `sign` build on it (issue 12). A module's `crate::<module>`
//! paths outside comments and its `#[cfg(test)]` tests are its imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every `crate::<module>` a module's non-test code names, for each module of `src`.
fn import_graph(src: &Path) -> Result<Graph, std::io::Error> {
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(src)? {
        let path = entry?.path();
        let Some(module) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "rs") && module != "lib" {
            sources.insert(module.to_owned(), std::fs::read_to_string(&path)?);
        }
    }
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let mut graph = Graph::new();
    for (module, text) in &sources {
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        let used = graph.entry(module.clone()).or_default();
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or_default();
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                // `crate::{a, b::C}` names several modules, `crate::a::B` one.
                let names = match rest.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or_default(),
                    None => rest,
                };
                for part in names.split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if modules.contains(&name) && &name != module {
                        used.insert(name);
                    }
                }
            }
        }
    }
    Ok(graph)
}

/// A circle of imports in `graph`, if there is one.
fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|m| m == module) {
            let mut circle = path[i..].to_vec();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(circle) = visit(graph, next, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(graph, m, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_import_circle() -> Result<(), std::io::Error> {
    let graph = import_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))?;
    // The parser must see the imports it is meant to check, or this test checks nothing.
    assert!(graph["sign"].contains("zone") && graph["nsec3"].contains("nsec"));
    assert!(
        graph["zone"]
            .iter()
            .all(|m| m == "error" || m == "serial" || m == "names")
    );
    assert!(graph["names"].is_empty());
    assert_eq!(find_circle(&graph), None, "imports: {graph:#?}");
    Ok(())
}

#[test]
fn a_circle_is_found() {
    let graph: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
        .into_iter()
        .map(|(m, n)| (m.to_owned(), BTreeSet::from([n.to_owned()])))
        .collect();
    let circle = find_circle(&graph).unwrap_or_default();
    assert_eq!(circle, ["a", "b", "c", "a"]);
}
