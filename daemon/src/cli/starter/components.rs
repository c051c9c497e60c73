//! The Python and JavaScript templates: components built against the job
//! world, which is copied into the project with the SDK.

use super::{fill, File};

/// The job world, which Python and JavaScript projects build against.
const JOB_WIT: &str = include_str!("../../../../sdk/wit/job.wit");

pub(super) fn python(name: &str) -> Vec<File> {
    let values = [("name", name)];
    let sdk = |file: &str, text: &str| (format!("sdk/{file}"), text.to_owned());
    vec![
        (
            "app.py".into(),
            fill(include_str!("python/app.py.tmpl"), &values),
        ),
        (
            "README.md".into(),
            fill(include_str!("python/README.md.tmpl"), &values),
        ),
        (
            "build".into(),
            fill(include_str!("python/build.tmpl"), &values),
        ),
        sdk(
            "README.md",
            include_str!("../../../../sdk/python/README.md"),
        ),
        sdk(
            "epochd/__init__.py",
            include_str!("../../../../sdk/python/epochd/__init__.py"),
        ),
        sdk(
            "epochd/errors.py",
            include_str!("../../../../sdk/python/epochd/errors.py"),
        ),
        sdk(
            "epochd/json.py",
            include_str!("../../../../sdk/python/epochd/json.py"),
        ),
        sdk(
            "epochd/sketch.py",
            include_str!("../../../../sdk/python/epochd/sketch.py"),
        ),
        sdk(
            "epochd/testing.py",
            include_str!("../../../../sdk/python/epochd/testing.py"),
        ),
        sdk("wit/job.wit", JOB_WIT),
        (
            ".gitignore".into(),
            "*.wasm\n__pycache__/\n.componentize-py/\n".into(),
        ),
    ]
}

pub(super) fn javascript(name: &str) -> Vec<File> {
    let values = [("name", name)];
    let sdk = |file: &str, text: &str| (format!("sdk/{file}"), text.to_owned());
    vec![
        (
            format!("{name}.js"),
            fill(include_str!("javascript/job.js.tmpl"), &values),
        ),
        (
            "package.json".into(),
            fill(include_str!("javascript/package.json.tmpl"), &values),
        ),
        (
            "README.md".into(),
            fill(include_str!("javascript/README.md.tmpl"), &values),
        ),
        (
            "build".into(),
            fill(include_str!("javascript/build.tmpl"), &values),
        ),
        sdk(
            "README.md",
            include_str!("../../../../sdk/javascript/README.md"),
        ),
        sdk(
            "epochd.js",
            include_str!("../../../../sdk/javascript/epochd.js"),
        ),
        sdk("wit/job.wit", JOB_WIT),
        (".gitignore".into(), "*.wasm\nnode_modules/\n".into()),
    ]
}
