//! Can this host and user give epochd CPU caps? Opens (and removes) an instance, prints
//! what was found or why not. `cargo run -p epochd-cgroups --example probe`

use epochd_cgroups::{CpuCapConfig, CpuCaps};

fn main() {
    match CpuCaps::open(CpuCapConfig::default()) {
        Ok(caps) => {
            println!(
                "CPU caps available: cgroup {:?}, parent {:?} capped at {} cores per {:?}",
                caps.version(),
                caps.paths(),
                caps.parent_cores(),
                caps.period()
            );
            if let Err(e) = caps.close() {
                eprintln!("could not remove the probe's cgroups: {e}");
                std::process::exit(1);
            }
        }
        Err(e) if e.is_unavailable() => {
            println!("CPU caps unavailable, jobs would run with deadlines only: {e}");
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
