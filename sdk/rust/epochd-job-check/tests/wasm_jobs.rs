//! Builds wasm-jobs/ with its own script (which installs the wasm32 target
//! when missing) and checks every module against ABI v1 (the Go ones, WASI
//! reactors, against v1.1); runs the jobs' native tests too, so the root
//! workspace's test command covers them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The jobs, and whether each must export `epochd_merge`.
const JOBS: &[(&str, bool)] = &[
    ("count", true),
    ("latency", true),
    ("error-rate", true),
    ("spin", false),
    ("memory-bomb", false),
    ("trap", false),
    ("huge-result", false),
    ("probe", false),
];

fn wasm_jobs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../wasm-jobs")
}

/// Runs a command in wasm-jobs/ and asserts it succeeded. The nested cargo
/// gets a clean environment for its target directory (see wasm-jobs/build).
fn run(mut cmd: Command) -> String {
    cmd.current_dir(wasm_jobs()).env_remove("CARGO_TARGET_DIR");
    let out = cmd.output().expect("wasm-jobs command runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Builds the jobs once per test process.
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let sizes = run(Command::new(wasm_jobs().join("build")));
        println!("{sizes}");
        wasm_jobs().join("out")
    })
}

#[test]
fn every_job_conforms_to_abi_v1() {
    let out = built();
    for (job, merges) in JOBS {
        let path = out.join(format!("{job}.wasm"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let report = epochd_job_check::check(&bytes);
        assert!(report.is_ok(), "{job}: {report}");
        assert_eq!(report.exports_merge(), *merges, "{job}: epochd_merge");
        assert!(!report.exports_init(), "{job}: no epochd_init expected");
        assert!(
            report
                .imports
                .iter()
                .all(|f| epochd_job_check::IMPORTS.iter().any(|(n, _, _)| n == f)),
            "{job}: {report:?}"
        );
        // Every job reports failures.
        assert!(report.imports.contains("fail"), "{job}: {report:?}");
    }
}

#[test]
fn the_reference_jobs_read_the_epoch_through_the_abi() {
    let out = built();
    for job in ["count", "latency", "error-rate"] {
        let report =
            epochd_job_check::check(&std::fs::read(out.join(format!("{job}.wasm"))).unwrap());
        for f in ["column", "column_ids", "column_rows", "emit", "merge_input"] {
            assert!(
                report.imports.contains(f),
                "{job} imports no {f}: {report:?}"
            );
        }
    }
}

/// The reference jobs in the other SDK languages (out/<lang>/), which
/// wasm-jobs/build builds unless EPOCHD_WASM_RUST_ONLY=1 (then those found
/// are checked). Go's are WASI reactors (ABI v1.1): `_initialize`, and
/// imports of `wasi_snapshot_preview1` that must all be preview 1's own.
/// A component (Python, JavaScript) is not a core module: the checker says
/// so, and where it is checked instead.
#[test]
fn a_component_is_named_as_such() {
    let out = built();
    for lang in ["python", "javascript"] {
        let path = out.join(lang).join("count.wasm");
        let Ok(bytes) = std::fs::read(&path) else {
            assert!(
                std::env::var("EPOCHD_WASM_RUST_ONLY").is_ok_and(|v| v == "1"),
                "{}: not built",
                path.display()
            );
            continue;
        };
        let report = epochd_job_check::check(&bytes);
        assert_eq!(report.problems.len(), 1, "{lang}: {report}");
        assert!(
            report.problems[0].contains("a WebAssembly component")
                && report.problems[0].contains("sdk/wit/job.wit"),
            "{lang}: {report}"
        );
    }
}

#[test]
fn every_language_s_reference_jobs_conform() {
    let out = built();
    let rust_only = std::env::var("EPOCHD_WASM_RUST_ONLY").is_ok_and(|v| v == "1");
    for lang in ["c", "zig", "assemblyscript", "go"] {
        for job in ["count", "latency", "error-rate"] {
            let path = out.join(lang).join(format!("{job}.wasm"));
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(_) if rust_only => continue,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            let report = epochd_job_check::check(&bytes);
            assert!(report.is_ok(), "{lang}/{job}: {report}");
            assert!(report.exports_merge(), "{lang}/{job}: epochd_merge");
            let reactor = lang == "go";
            assert_eq!(
                report.exports_initialize(),
                reactor,
                "{lang}/{job}: {report}"
            );
            assert_eq!(
                !report.wasi_imports.is_empty(),
                reactor,
                "{lang}/{job}: {report:?}"
            );
        }
    }
}

#[test]
fn the_jobs_native_tests_pass() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--quiet"]);
    run(cmd);
}
