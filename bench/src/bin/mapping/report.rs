//! The printed report: medians over rounds as Markdown tables, ready for the docs.
//! A path's figure in a round is the mean over its N instances; ratios are taken
//! per round, between paths of that round, then the median.

use epochd_bench::stats::{spread, ByPath};
use epochd_bench::{median, Align, Commit, Table, MB};

use crate::column::IntColumn;
use crate::measure::{Instance, PathSample};
use crate::{Args, Path, Way};

/// What to print.
pub struct Report<'a> {
    /// The command line.
    pub args: &'a Args,
    /// The commit.
    pub commit: &'a Commit,
    /// The decoded epoch's size, bytes.
    pub epoch_bytes: usize,
    /// The scanned column.
    pub column: &'a IntColumn,
    /// The measurements.
    pub rounds: &'a ByPath<Path, PathSample>,
}

fn med(values: &[f64]) -> f64 {
    median(values).unwrap_or(f64::NAN)
}

fn range(values: &[f64], scale: f64, digits: usize) -> String {
    spread(values).map_or_else(String::new, |(lo, hi)| {
        format!("{:.digits$}–{:.digits$}", lo * scale, hi * scale)
    })
}

impl Report<'_> {
    /// Prints everything.
    pub fn print(&self) {
        let c = self.column;
        println!(
            "{} events, one (epoch, dc); decoded epoch {:.1} MB (FlatBuffer in a sealed \
             memfd). Column {} (INT, {}): {} values, {:.3} MB. {} rounds, order rotated; \
             N instances one after another on one thread, each a fresh store and instance; \
             a round's figure is the mean over its N instances, then the median over rounds \
             (min–max).",
            self.commit.events(),
            self.epoch_bytes as f64 / MB,
            c.path,
            if c.dense { "dense" } else { "sparse" },
            c.count,
            c.bytes() as f64 / MB,
            self.args.rounds,
        );
        println!();
        self.print_instances();
        println!();
        self.print_mapping_parts();
        println!();
        self.print_ratios();
        println!();
        self.print_notes();
        println!();
        self.print_verdicts();
    }

    fn of(&self, way: Way, n: usize) -> &[PathSample] {
        self.rounds.of(&Path { way, n })
    }

    /// Per round: the mean of `f` over the path's instances.
    fn per_round(&self, way: Way, n: usize, f: impl Fn(&Instance) -> f64 + Copy) -> Vec<f64> {
        self.of(way, n).iter().map(|s| s.mean(f)).collect()
    }

    /// Per round: `f` of `a` / `f` of `b` (same round).
    fn ratio(&self, a: Way, b: Way, n: usize, f: impl Fn(&Instance) -> f64 + Copy) -> Vec<f64> {
        self.per_round(a, n, f)
            .iter()
            .zip(self.per_round(b, n, f))
            .map(|(x, y)| x / y)
            .collect()
    }

    fn print_instances(&self) {
        println!("Per instance:");
        println!();
        let mut table = Table::new([
            ("way", Align::Left),
            ("instances", Align::Right),
            ("setup µs", Align::Right),
            ("setup µs (min–max)", Align::Right),
            ("scan + teardown µs", Align::Right),
            ("scan + teardown µs (min–max)", Align::Right),
            ("CPU µs", Align::Right),
            ("CPU µs (min–max)", Align::Right),
            ("minor faults", Align::Right),
            ("RSS peak +MB", Align::Right),
            ("RSS kept +MB", Align::Right),
        ]);
        for &n in &self.args.instances {
            for way in Way::ALL {
                let samples = self.of(way, n);
                if samples.is_empty() {
                    continue;
                }
                let setup = self.per_round(way, n, |i| i.setup);
                let run = self.per_round(way, n, |i| i.scan + i.teardown);
                let cpu = self.per_round(way, n, |i| i.cpu);
                let faults = self.per_round(way, n, |i| i.faults as f64);
                let peak: Vec<f64> = samples.iter().filter_map(|s| s.peak_growth()).collect();
                let kept: Vec<f64> = samples.iter().map(|s| s.kept()).collect();
                let native = way == Way::Native;
                table.row([
                    way.name().to_string(),
                    n.to_string(),
                    if native {
                        "—".into()
                    } else {
                        format!("{:.1}", med(&setup) * 1e6)
                    },
                    if native {
                        String::new()
                    } else {
                        range(&setup, 1e6, 1)
                    },
                    format!("{:.1}", med(&run) * 1e6),
                    range(&run, 1e6, 1),
                    format!("{:.1}", med(&cpu) * 1e6),
                    range(&cpu, 1e6, 1),
                    format!("{:.1}", med(&faults)),
                    if peak.is_empty() {
                        "n/a".into()
                    } else {
                        format!("{:.2}", med(&peak) / MB)
                    },
                    format!("{:.2}", med(&kept) / MB),
                ]);
            }
        }
        print!("{table}");
    }

    fn print_mapping_parts(&self) {
        println!("Where a mapped instance's wall time goes (medians, µs):");
        println!();
        let mut table = Table::new([
            ("instances", Align::Right),
            ("store + instantiate", Align::Right),
            ("grow + mmap of the epoch", Align::Right),
            ("scan (page faults included)", Align::Right),
            ("teardown (munmap)", Align::Right),
            ("whole instance", Align::Right),
        ]);
        for &n in &self.args.instances {
            let part = |f: fn(&Instance) -> f64| med(&self.per_round(Way::Mapping, n, f)) * 1e6;
            table.row([
                n.to_string(),
                format!("{:.1}", part(|i| i.setup - i.map)),
                format!("{:.1}", part(|i| i.map)),
                format!("{:.1}", part(|i| i.scan)),
                format!("{:.1}", part(|i| i.teardown)),
                format!("{:.1}", part(Instance::wall)),
            ]);
        }
        print!("{table}");
    }

    fn print_ratios(&self) {
        println!("Ratios, per round, then the median (min–max):");
        println!();
        let mut table = Table::new([
            ("instances", Align::Right),
            ("mapping / host copy: setup", Align::Right),
            ("mapping / host copy: scan + teardown", Align::Right),
            ("mapping / host copy: CPU", Align::Right),
            ("mapping / host copy on-demand: CPU", Align::Right),
            ("host copy on-demand / host copy: CPU", Align::Right),
            ("host copy / native: CPU", Align::Right),
            ("mapping / native: CPU", Align::Right),
        ]);
        let cell = |v: Vec<f64>| format!("{:.2} ({})", med(&v), range(&v, 1.0, 2));
        for &n in &self.args.instances {
            let cpu = |i: &Instance| i.cpu;
            table.row([
                n.to_string(),
                cell(self.ratio(Way::Mapping, Way::HostCopy, n, |i| i.setup)),
                cell(self.ratio(Way::Mapping, Way::HostCopy, n, |i| i.scan + i.teardown)),
                cell(self.ratio(Way::Mapping, Way::HostCopy, n, cpu)),
                cell(self.ratio(Way::Mapping, Way::HostCopyOnDemand, n, cpu)),
                cell(self.ratio(Way::HostCopyOnDemand, Way::HostCopy, n, cpu)),
                cell(self.ratio(Way::HostCopy, Way::Native, n, cpu)),
                cell(self.ratio(Way::Mapping, Way::Native, n, cpu)),
            ]);
        }
        print!("{table}");
    }

    fn print_notes(&self) {
        println!(
            "- setup: host copy = `RunReport::instantiate` (fresh Store + instance); mapping = \
             fresh Store + instance + growing the memory by the epoch's pages with the memfd \
             mapped in. scan + teardown: host copy = the rest of `JobModule::run` (the job's \
             `epochd_run`: `column`, `column_i64` slices of 8192 values into a 64 KiB \
             buffer, the sum, `emit`; then dropping the store); mapping = the host finding the \
             column by path in the FlatBuffer (as `column` does for the host copy), the \
             guest's `sum(ptr, count)` over the mapped values, then dropping the store."
        );
        println!(
            "- CPU = the thread's own clock (CLOCK_THREAD_CPUTIME_ID) around the whole \
             instance; minor faults = the thread's (/proc/thread-self/stat) around it. RSS peak \
             = VmHWM (reset through /proc/self/clear_refs before the path) - VmRSS before the \
             path; kept = VmRSS after - before. The kernel records the peak lazily (when \
             pages are unmapped), so it is a lower bound; RSS counts a shared page once per \
             mapping that touched it."
        );
        println!(
            "- Limits of every instance: the daemon's default manifest (64 MiB memory cap, the \
             mapped epoch included; 1 s deadline; 64 KiB result). Both engines compile with \
             epoch interruption (cranelift, opt speed). Every sum equalled the native sum; a \
             guest's write to the mapped epoch stayed in its own instance (checked once)."
        );
    }

    fn print_verdicts(&self) {
        for &n in &self.args.instances {
            let cpu = |i: &Instance| i.cpu;
            let r = self.ratio(Way::Mapping, Way::HostCopy, n, cpu);
            let host = med(&self.per_round(Way::HostCopy, n, cpu)) * 1e6;
            let map = med(&self.per_round(Way::Mapping, n, cpu)) * 1e6;
            let cheaper = if med(&r) < 1.0 {
                "mapping"
            } else {
                "host copy"
            };
            println!(
                "N = {n}: reading {} ({} values) costs {host:.1} µs of CPU per instance by host \
                 copy, {map:.1} µs by mapping: mapping / host copy = {:.2}x ({}); cheaper: {cheaper}",
                self.column.path,
                self.column.count,
                med(&r),
                range(&r, 1.0, 2),
            );
        }
    }
}
