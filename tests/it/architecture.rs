//! The layering of `src/`, checked from the code's `crate::` paths so it stays true:
//! core < adapters < recipes and store < stage context < stages < app. A module may use modules of
//! lower layers only; core modules may use each other, and so may the app's. Stages never use one
//! another: they meet in the store. `docs/ARCHITECTURE.md` describes the same table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every top-level module of the library and its layer.
const LAYERS: &[(&str, u8, &str)] = &[
    ("model", 0, "core"),
    ("workspace", 0, "core"),
    ("cancel", 0, "core"),
    ("progress", 0, "core"),
    ("diff", 0, "core"),
    ("lite", 0, "core"),
    ("testlog", 0, "core"),
    ("github", 1, "adapter"),
    ("git", 1, "adapter"),
    ("docker", 1, "adapter"),
    ("recipe", 2, "recipes"),
    ("executor", 2, "executor"),
    ("store", 2, "store"),
    ("context", 3, "stage context"),
    ("mine", 4, "stage"),
    ("evaluate", 4, "stage"),
    ("import", 4, "stage"),
    ("pin", 4, "stage"),
    ("image", 4, "stage"),
    ("validate", 4, "stage"),
    ("export", 4, "stage"),
    ("report", 4, "stage"),
    ("refresh", 5, "app"),
    ("serve", 5, "app"),
    ("app", 5, "app"),
    ("cli", 5, "app"),
    ("error", 5, "app"),
];

/// Layers whose modules may use each other.
const OPEN_LAYERS: &[u8] = &[0, 5];

fn layer(module: &str) -> Option<(u8, &'static str)> {
    LAYERS.iter().find(|(m, _, _)| *m == module).map(|(_, l, name)| (*l, *name))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file's code names through `crate::`, with the line of the first use.
/// Comment lines are skipped: they may mention any module.
fn used_modules(text: &str) -> BTreeMap<String, usize> {
    let mut used = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            assert!(!after.starts_with('{'), "line {}: write one `use crate::module::…` per module", i + 1);
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            used.entry(name).or_insert(i + 1);
            rest = after;
        }
    }
    used
}

#[test]
fn no_module_uses_a_module_of_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("below src/");
        let top =
            rel.components().next().expect("a path").as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "main" || top == "lib" {
            continue;
        }
        let Some((own, own_name)) = layer(&top) else {
            violations.push(format!("src/{}: module `{top}` is in no layer: add it to LAYERS", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read source");
        for (used, line) in used_modules(&text) {
            if used == top {
                continue;
            }
            let Some((theirs, their_name)) = layer(&used) else {
                violations.push(format!("src/{}:{line}: `crate::{used}` is in no layer", rel.display()));
                continue;
            };
            let allowed = theirs < own || (theirs == own && OPEN_LAYERS.contains(&own));
            if !allowed {
                violations.push(format!(
                    "src/{}:{line}: `{top}` ({own_name}) uses `{used}` ({their_name}): only lower layers may be used",
                    rel.display()
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{} layering violations:\n{}", violations.len(), violations.join("\n"));
}

#[test]
fn every_library_module_has_a_layer() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).expect("lib.rs");
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    assert!(modules.len() > 10, "{modules:?}");
    for m in modules {
        assert!(layer(m).is_some(), "src/lib.rs declares `{m}`, which is in no layer of tests/it/architecture.rs");
    }
}

#[test]
fn the_layer_check_sees_paths_in_use_lines_and_code() {
    let used = used_modules("use crate::store::Store;\n// crate::app in a comment\nlet x = crate::pin::python::f();\n");
    assert_eq!(used.into_iter().collect::<Vec<_>>(), [("pin".to_string(), 3), ("store".to_string(), 1)]);
}
