//! Bad input and missing cgroups give errors that say what to do.

use std::fs;

use epochd_cgroups::{CgroupError, CpuCapConfig, CpuCaps};

use crate::support::{assert_contains, open, root_or_skip};

#[test]
fn invalid_job_names_are_refused() {
    if !root_or_skip("invalid_job_names_are_refused") {
        return;
    }
    let caps = open("names", 1.0);
    for name in [
        "",
        ".",
        "..",
        "../escape",
        "a/b",
        "/abs",
        ".hidden",
        "sp ace",
        "nul\0",
        "ünï",
        &"x".repeat(129),
    ] {
        let err = caps.job(name, 0.5).unwrap_err();
        assert!(
            matches!(err, CgroupError::InvalidName { .. }),
            "{name:?}: {err}"
        );
        assert_contains(&err, "use 1 to 128 characters from A-Z a-z 0-9");
        assert!(!err.is_unavailable());
        assert!(matches!(
            caps.remove_job(name),
            Err(CgroupError::InvalidName { .. })
        ));
    }
    let err = caps.job("../../etc", 0.5).unwrap_err();
    assert_contains(&err, "\"../../etc\"");
    assert_contains(&err, "starts with '.'");
    // Nothing escaped into the parent's parent.
    let parent = caps.paths()[0].to_path_buf();
    assert!(!parent.parent().unwrap().join("escape").exists());
    // Names that look like kernel files are fine: jobs live in job-<name>.
    for name in ["tasks", "idle", "cpu.max", "cgroup.procs"] {
        let job = caps.job(name, 0.5).unwrap();
        assert!(job.paths()[0].ends_with(format!("job-{name}")));
    }
}

#[test]
fn invalid_shares_are_refused() {
    if !root_or_skip("invalid_shares_are_refused") {
        return;
    }
    let caps = open("shares", 1.0);
    for (cores, reason) in [
        (0.0, "not a positive number"),
        (-0.5, "not a positive number"),
        (f64::NAN, "not a positive number"),
        (f64::INFINITY, "not a positive number"),
        (1.01, "above the parent cap"),
        (2.0, "above the parent cap"),
        (0.001, "below the kernel's smallest quota"),
    ] {
        let err = caps.job("j", cores).unwrap_err();
        assert!(
            matches!(err, CgroupError::InvalidCores { .. }),
            "{cores}: {err}"
        );
        assert_contains(&err, reason);
        assert_contains(&err, "0 < cores <= 1");
    }
    assert!(
        !caps.paths()[0].join("job-j").exists(),
        "a refused job left a cgroup"
    );
    caps.job("j", 1.0).unwrap();
    caps.job("j", 0.01).unwrap();
}

#[test]
fn a_nonexistent_cgroup_root_means_unavailable() {
    let err = CpuCaps::open(CpuCapConfig {
        mount_root: "/nonexistent/cgroup".into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, CgroupError::NoCgroupFs { .. }), "{err}");
    assert!(err.is_unavailable());
    assert_contains(&err, "/nonexistent/cgroup");
    assert_contains(&err, "deadlines only");
}

#[test]
fn a_cgroup_root_without_the_cpu_controller_means_unavailable() {
    // An empty directory: no cgroup filesystem at all.
    let dir = std::env::temp_dir().join(format!("epochd-cgroups-fake-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cfg = CpuCapConfig {
        mount_root: dir.clone(),
        ..Default::default()
    };
    let err = CpuCaps::open(cfg.clone()).unwrap_err();
    assert!(matches!(err, CgroupError::NoCgroupFs { .. }), "{err}");

    // cgroup v1 without a cpu hierarchy.
    fs::create_dir_all(dir.join("memory")).unwrap();
    fs::write(dir.join("memory/cgroup.procs"), "").unwrap();
    let err = CpuCaps::open(cfg.clone()).unwrap_err();
    assert!(matches!(err, CgroupError::NoCpuController { .. }), "{err}");
    assert!(err.is_unavailable());
    assert_contains(&err, "without the cpu controller");

    // cgroup v2 whose controllers lack cpu (as on a host where v1 holds it).
    fs::remove_dir_all(dir.join("memory")).unwrap();
    fs::create_dir_all(dir.join("unified")).unwrap();
    fs::write(dir.join("unified/cgroup.controllers"), "memory io\n").unwrap();
    let err = CpuCaps::open(cfg.clone()).unwrap_err();
    assert!(matches!(err, CgroupError::NoCpuController { .. }), "{err}");
    assert_contains(&err, "does not offer the cpu controller");
    assert_contains(&err, "memory io");

    // cgroup v1 cpu without cpuacct.
    fs::create_dir_all(dir.join("cpu")).unwrap();
    fs::write(dir.join("cpu/cpu.cfs_quota_us"), "-1\n").unwrap();
    let err = CpuCaps::open(cfg).unwrap_err();
    assert!(matches!(err, CgroupError::NoCpuController { .. }), "{err}");
    assert_contains(&err, "no cpuacct hierarchy");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_config_is_refused_before_touching_cgroups() {
    let err = CpuCaps::open(CpuCapConfig {
        period_us: 10,
        mount_root: "/nonexistent".into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::InvalidConfig {
                field: "period_us",
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_unavailable());
    let err = CpuCaps::open(CpuCapConfig {
        name: Some("../../x".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, CgroupError::InvalidName { .. }), "{err}");
}

/// Re-runs this test binary as user `nobody` (through `setpriv`), where opening must
/// fail with [`CgroupError::PermissionDenied`], which counts as "unavailable".
#[test]
fn not_root_means_unavailable() {
    const CHILD: &str = "EPOCHD_CGROUPS_NOT_ROOT_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let err = CpuCaps::open(CpuCapConfig::default()).unwrap_err();
        assert!(matches!(err, CgroupError::PermissionDenied { .. }), "{err}");
        assert!(err.is_unavailable());
        assert_contains(&err, "needs root");
        println!("child saw: {err}");
        return;
    }
    if !root_or_skip("not_root_means_unavailable") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = match std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args([
            "--exact",
            "errors::not_root_means_unavailable",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED not_root_means_unavailable: cannot run setpriv ({e}) to drop root");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success()
            && stdout.contains("child saw: CPU caps unavailable: permission denied"),
        "as nobody: {}\n{stdout}\n{stderr}",
        out.status
    );
}
