//! `epochd-job-check FILE.wasm...`: checks each module against the job ABI
//! v1 (with v1.1's WASI imports and `_initialize`) and prints what it found;
//! exits 1 when any module has a problem.

use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() || paths.iter().any(|p| p == "-h" || p == "--help") {
        eprintln!("usage: epochd-job-check FILE.wasm...");
        return ExitCode::from(2);
    }
    let mut ok = true;
    for path in &paths {
        match std::fs::read(path) {
            Ok(bytes) => {
                let report = epochd_job_check::check(&bytes);
                println!("{path}: {report}");
                ok &= report.is_ok();
            }
            Err(e) => {
                println!("{path}: cannot read: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
