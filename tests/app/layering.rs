//! The layers keep their shape: the engine, the domain, the store and the scope engine know no
//! HTTP framework (docs/ARCHITECTURE.md). A grep, so it fails the moment an import creeps in.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_engine_domain_store_and_scopes_do_not_import_poem() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    for layer in ["src/engine", "src/domain", "src/store", "src/scopes"] {
        let mut files = Vec::new();
        rust_files(&root.join(layer), &mut files);
        assert!(!files.is_empty(), "{layer} has no files");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                if code.contains("poem::")
                    || code.contains("poem_openapi")
                    || code.trim_start().starts_with("use poem")
                {
                    offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "HTTP framework imports below the adapters:\n{}",
        offenders.join("\n")
    );
}

/// Whether `code` names module `name` as a path segment (`name::…`, not `other_name::…`).
fn names_module(code: &str, name: &str) -> bool {
    let needle = format!("{name}::");
    code.match_indices(&needle).any(|(at, _)| {
        code[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    }) || code.lines().any(|line| {
        // `use …::pages::{a, b}` groups.
        line.trim_start().starts_with("use ")
            && line.contains('{')
            && line
                .split(['{', '}', ',', ' '])
                .any(|part| part.trim() == name)
    })
}

#[test]
fn the_pages_import_each_other_without_circles() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/web/pages");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let modules: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let name = f.file_stem().unwrap().to_string_lossy().into_owned();
            let code: String = std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| l.split("//").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n");
            (name, code)
        })
        .filter(|(name, _)| name != "mod")
        .collect();
    let edges = |from: usize| -> Vec<usize> {
        (0..modules.len())
            .filter(|&to| to != from && names_module(&modules[from].1, &modules[to].0))
            .collect()
    };
    // Depth-first search; a grey node reached again closes a circle.
    fn visit(
        node: usize,
        edges: &dyn Fn(usize) -> Vec<usize>,
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[node] = 1;
        path.push(node);
        for next in edges(node) {
            if state[next] == 1 {
                let start = path.iter().position(|&n| n == next).unwrap();
                return Some(path[start..].to_vec());
            }
            if state[next] == 0
                && let Some(circle) = visit(next, edges, state, path)
            {
                return Some(circle);
            }
        }
        path.pop();
        state[node] = 2;
        None
    }
    let mut state = vec![0u8; modules.len()];
    for node in 0..modules.len() {
        if state[node] == 0
            && let Some(circle) = visit(node, &edges, &mut state, &mut Vec::new())
        {
            let names: Vec<&str> = circle.iter().map(|&n| modules[n].0.as_str()).collect();
            panic!(
                "the pages import each other in a circle: {}",
                names.join(" -> ")
            );
        }
    }
    assert!(modules.len() > 5, "the pages were found");
}

#[test]
fn no_adapter_under_http_calls_the_store() {
    // The adapters parse, call the engine and render; reads and writes go through the engine,
    // where the rules are. `x.store` as a field access (not the `store(…)` of an atomic) is the
    // engine's database handle.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src/http"), &mut files);
    assert!(!files.is_empty());
    let mut offenders = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let reaches_store = code.match_indices(".store").any(|(at, m)| {
                let rest = &code[at + m.len()..];
                !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '(')
            });
            if reaches_store {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "adapters calling the store directly:\n{}",
        offenders.join("\n")
    );
}
