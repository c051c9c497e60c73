//! docs/ARCHITECTURE.md stays true: every file, folder and function it
//! names exists, the daemon's parts depend on each other only in the order
//! it gives (so there is no import cycle between them), and no file of the
//! daemon grows past what one reader takes in.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn architecture() -> String {
    std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap()
}

/// The `.rs` files under `path` (or `path` itself).
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Text between backticks that names a path of the repository, with an
/// optional `::function`.
fn named_paths(text: &str) -> Vec<(String, Option<String>)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| {
            [
                "store/",
                "hooks/",
                "daemon/",
                "sdk/",
                "bench/",
                "docs/",
                "wasm-jobs/",
                "scripts/",
            ]
            .iter()
            .any(|top| t.starts_with(top))
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-:".contains(c))
        })
        .map(|t| match t.split_once("::") {
            Some((path, name)) => (path.to_owned(), Some(name.to_owned())),
            None => (t.to_owned(), None),
        })
        .collect()
}

#[test]
fn every_file_and_function_the_architecture_names_exists() {
    let named = named_paths(&architecture());
    assert!(named.len() > 40, "only {} paths found", named.len());
    let mut missing = Vec::new();
    for (path, function) in &named {
        let full = root().join(path);
        if !full.exists() {
            missing.push(format!("{path}: no such file or folder"));
            continue;
        }
        if let Some(function) = function {
            let text = std::fs::read_to_string(&full).unwrap();
            let defined = [format!("fn {function}("), format!("fn {function}<")]
                .iter()
                .any(|d| text.contains(d.as_str()));
            if !defined {
                missing.push(format!("{path}: no function {function}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md names what is not there:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_daemons_parts_depend_only_on_the_parts_before_them() {
    let text = architecture();
    let layers: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("Layers: "))
        .expect("a `Layers:` line in docs/ARCHITECTURE.md")
        .split(", ")
        .collect();
    let src = root().join("daemon/src");
    // Every part the crate declares has its place.
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    assert_eq!(
        declared,
        layers.iter().copied().collect(),
        "daemon/src/lib.rs's parts and the Layers line of docs/ARCHITECTURE.md differ"
    );
    let mut wrong = Vec::new();
    for (rank, part) in layers.iter().enumerate() {
        let dir = src.join(part);
        let path = if dir.is_dir() {
            dir
        } else {
            src.join(format!("{part}.rs"))
        };
        for file in rust_files(&path) {
            let code = std::fs::read_to_string(&file).unwrap();
            for used in code.split("crate::").skip(1) {
                let used: String = used
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let Some(used_rank) = layers.iter().position(|l| *l == used) else {
                    continue;
                };
                if used_rank >= rank && used != *part {
                    wrong.push(format!(
                        "{} ({part}) uses crate::{used}, which comes after it",
                        file.strip_prefix(root()).unwrap().display()
                    ));
                }
            }
            assert!(
                !code.contains("crate::{"),
                "{}: name each part in its own `use crate::part::...`, so this test sees it",
                file.display()
            );
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_file_of_the_daemon_is_longer_than_one_reader_takes_in() {
    let long: Vec<String> = rust_files(&root().join("daemon/src"))
        .into_iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(&f).unwrap().lines().count();
            (lines > 500).then(|| format!("{}: {lines} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these along their seams:\n{}",
        long.join("\n")
    );
}

#[test]
fn no_crate_depends_on_the_benchmarks() {
    fn manifests(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["target", "node_modules", ".git", "bench"].contains(&name.as_str()) {
                    manifests(&path, out);
                }
            } else if name == "Cargo.toml" {
                out.push(path);
            }
        }
    }
    let mut found = Vec::new();
    manifests(&root(), &mut found);
    assert!(found.len() > 10, "only {} Cargo.toml found", found.len());
    for manifest in found {
        let text = std::fs::read_to_string(&manifest).unwrap();
        for line in text.lines().filter(|l| l.contains("path")) {
            assert!(
                !line.contains("bench/")
                    && !line.contains("\"bench\"")
                    && !line.contains("../bench"),
                "{}: {line}: nothing may depend on the benchmarks (bench/)",
                manifest.display()
            );
        }
    }
}
