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
