//! The web page in a real browser: headless Chromium, driven by
//! daemon/tests/browser/check.js (playwright-core), against a real node with
//! tokens, real demo traffic and the reference jobs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const READ_TOKEN: &str = "read-token-for-the-browser";
const ADMIN_TOKEN: &str = "admin-token-for-the-browser";
const JOBS: [&str; 3] = ["count", "latency", "error-rate"];

/// What the browser test needs, or why it cannot run: never a silent skip.
fn browser_tools(dir: &Path) -> (String, PathBuf) {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut missing = Vec::new();
    if !Path::new(&chromium).exists() {
        missing.push(format!("Chromium ({chromium})"));
    }
    if Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map_or(true, |s| !s.success())
    {
        missing.push("Node.js (node on PATH)".into());
    }
    if !dir.join("node_modules/playwright-core").is_dir() {
        missing.push(format!("playwright-core ({}/node_modules)", dir.display()));
    }
    assert!(
        missing.is_empty(),
        "the browser test needs {}: run scripts/test, which installs them",
        missing.join(", ")
    );
    (chromium, dir.join("check.js"))
}

#[test]
fn the_page_lists_the_jobs_and_charts_their_live_results() {
    let browser_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let (chromium, script) = browser_tools(&browser_dir);

    let dir = tempfile::tempdir().unwrap();
    let jobs_dir = dir.path().join("jobs");
    std::fs::create_dir(&jobs_dir).unwrap();
    for job in JOBS {
        std::fs::write(jobs_dir.join(format!("{job}.wasm")), crate::jobs::wasm(job)).unwrap();
    }
    // A job that only logs: its card must show the lines.
    std::fs::write(jobs_dir.join("chatty.wasm"), logging_module(false)).unwrap();
    let log = dir.path().join("serve.log");
    let (node, url) = Proc::serve(
        dir.path(),
        &[
            "--demo-rate",
            "300",
            "--jobs-dir",
            jobs_dir.to_str().unwrap(),
            "--admin-token",
            ADMIN_TOKEN,
            "--read-token",
            READ_TOKEN,
        ],
    );

    let out_path = dir.path().join("browser.out");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new("node")
        .arg(&script)
        .arg(&url)
        .arg(READ_TOKEN)
        .args(JOBS)
        .env("CHROMIUM", &chromium)
        .env("LOG_JOB", "chatty")
        .current_dir(&browser_dir)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(150);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    println!("{output}");
    if !status.is_some_and(|s| s.success()) {
        let node_log = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = node_log.lines().collect();
        panic!(
            "the browser check {}:\n{output}\nthe node's log, last lines:\n{}",
            status.map_or("timed out after 150 s".into(), |s| format!("failed ({s})")),
            lines[lines.len().saturating_sub(40)..].join("\n")
        );
    }
    node.stop();
}
