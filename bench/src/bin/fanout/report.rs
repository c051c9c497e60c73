//! The printed report: medians over rounds as Markdown tables, ready for the docs.
//! Every derived figure (marginal cost, ratio) is taken per round, from paths measured
//! in that round, then the median over rounds.

use epochd_bench::stats::{percentile, spread, ByPath};
use epochd_bench::{cores, median, Align, Commit, Table, MB};

use crate::jobs::{mix, Expected, Job, NAMES};
use crate::run::{RunSample, Sample};
use crate::{Args, Measured};

/// The target: one more job costs at most this share of one decode, in %.
pub const TARGET_MARGINAL_PCT: f64 = 2.0;
/// The target: at this many jobs...
pub const TARGET_RATIO_JOBS: usize = 20;
/// ...the MapReduce way takes at least this many times the CPU of the epochd way.
pub const TARGET_RATIO: f64 = 10.0;

/// Every measurement of every round, in round order.
#[derive(Debug, Default)]
pub struct Rounds {
    samples: ByPath<Measured, Sample>,
}

impl Rounds {
    /// Records one round of `path`.
    pub fn push(&mut self, path: Measured, sample: Sample) {
        self.samples.push(path, sample);
    }

    fn of(&self, path: Measured) -> &[Sample] {
        self.samples.of(&path)
    }

    fn get(&self, path: Measured, f: impl Fn(&Sample) -> f64) -> Vec<f64> {
        self.of(path).iter().map(f).collect()
    }

    /// Per round: `f` of `path`'s sample and of the decode's sample of that round.
    fn with_decode(&self, path: Measured, f: impl Fn(&Sample, &Sample) -> f64) -> Vec<f64> {
        self.of(path)
            .iter()
            .zip(self.of(Measured::Decode))
            .map(|(s, d)| f(s, d))
            .collect()
    }
}

/// The figures of N jobs, per round.
struct Fanout {
    n: usize,
    epochd_cpu: Vec<f64>,
    epochd_wall: Vec<f64>,
    /// (epochd CPU - one decode's CPU) / N, seconds.
    marginal: Vec<f64>,
    /// `marginal` / one decode's CPU, %.
    marginal_pct: Vec<f64>,
    /// The mean CPU of a run, measured around each run, seconds.
    run_cpu: Vec<f64>,
    mapreduce_measured: bool,
    mapreduce_cpu: Vec<f64>,
    mapreduce_wall: Vec<f64>,
    /// MapReduce CPU / epochd CPU.
    ratio: Vec<f64>,
    /// N x (one decode + mean run), the model, for every N.
    model_cpu: Vec<f64>,
    /// What the total-based marginal can resolve, in % of one decode: one decode's
    /// spread over the rounds (max - min) / N.
    resolution_pct: f64,
}

impl Fanout {
    /// The marginal-cost verdict: by the totals (the definition) where they
    /// can resolve the target at this N, else by the CPU measured around each run.
    fn marginal_ok(&self, decode: f64) -> (bool, bool) {
        let by_totals = self.resolution_pct <= TARGET_MARGINAL_PCT;
        let pct = if by_totals {
            med(&self.marginal_pct)
        } else {
            med(&self.run_cpu) / decode * 100.0
        };
        (pct <= TARGET_MARGINAL_PCT, by_totals)
    }
}

/// What to print.
pub struct Report<'a> {
    /// The command line.
    pub args: &'a Args,
    /// The commit.
    pub commit: &'a Commit,
    /// Its chunks.
    pub chunks: usize,
    /// Its compressed size, bytes.
    pub compressed: usize,
    /// The decoded epoch's size, bytes.
    pub decoded_bytes: usize,
    /// The jobs.
    pub jobs: &'a [Job],
    /// Whether wasmtime's pooling allocator is in use.
    pub pooling: bool,
    /// The measurements.
    pub rounds: &'a Rounds,
    /// Each job's result.
    pub expected: &'a Expected,
}

fn med(values: &[f64]) -> f64 {
    median(values).unwrap_or(f64::NAN)
}

fn range(values: &[f64], scale: f64, digits: usize) -> String {
    spread(values).map_or_else(String::new, |(lo, hi)| {
        format!("{:.digits$}–{:.digits$}", lo * scale, hi * scale)
    })
}

fn pass(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

impl Report<'_> {
    fn fanout(&self, n: usize) -> Fanout {
        let b = Measured::Epochd(n);
        let c = Measured::MapReduce(n);
        let r = self.rounds;
        let epochd_cpu = r.get(b, |s| s.cpu);
        let run_cpu = r.get(b, Sample::mean_run_cpu);
        let nf = n as f64;
        let decode = r.get(Measured::Decode, |s| s.cpu);
        let resolution_pct =
            spread(&decode).map_or(f64::NAN, |(lo, hi)| (hi - lo) / nf / med(&decode) * 100.0);
        let model_cpu = r.with_decode(b, |s, d| nf * (d.cpu + s.mean_run_cpu()));
        let mapreduce_measured = !r.of(c).is_empty();
        let (mapreduce_cpu, mapreduce_wall) = if mapreduce_measured {
            (r.get(c, |s| s.cpu), r.get(c, |s| s.wall))
        } else {
            (
                model_cpu.clone(),
                r.with_decode(b, |s, d| {
                    let walls: Vec<f64> = s.runs.iter().map(|run| run.wall).collect();
                    nf * (d.wall + mean(&walls))
                }),
            )
        };
        Fanout {
            n,
            marginal: r.with_decode(b, |s, d| (s.cpu - d.cpu) / nf),
            marginal_pct: r.with_decode(b, |s, d| (s.cpu - d.cpu) / nf / d.cpu * 100.0),
            ratio: mapreduce_cpu
                .iter()
                .zip(&epochd_cpu)
                .map(|(m, e)| m / e)
                .collect(),
            epochd_wall: r.get(b, |s| s.wall),
            epochd_cpu,
            run_cpu,
            mapreduce_measured,
            mapreduce_cpu,
            mapreduce_wall,
            model_cpu,
            resolution_pct,
        }
    }

    /// Prints the tables and verdicts to stdout.
    pub fn print(&self) {
        let fanouts: Vec<Fanout> = self.args.jobs.iter().map(|&n| self.fanout(n)).collect();
        println!();
        println!(
            "Fan-out: one (epoch, dc) of {} events ({} chunks, {:.1} MB MessagePack, {:.1} MB \
             zstd, decoded {:.1} MB) read by N jobs (round-robin count, latency, error-rate; a \
             fresh instance per run, pooling allocator {}), everything on one thread, CPU of \
             that thread; median of {} rounds, {} cores",
            self.commit.events(),
            self.chunks,
            self.commit.len() as f64 / MB,
            self.compressed as f64 / MB,
            self.decoded_bytes as f64 / MB,
            if self.pooling { "on" } else { "off" },
            self.args.rounds,
            cores()
        );
        println!();
        self.print_decode();
        println!();
        self.print_main(&fanouts);
        println!();
        self.print_runs();
        println!();
        self.print_parts();
        println!();
        self.print_notes(&fanouts);
        println!();
        self.print_verdicts(&fanouts);
    }

    fn print_decode(&self) {
        let d = Measured::Decode;
        let r = self.rounds;
        let mut table = Table::new([
            ("one decode (a)", Align::Left),
            ("CPU s (median)", Align::Right),
            ("CPU s (min–max)", Align::Right),
            ("wall s", Align::Right),
            ("kernel s", Align::Right),
            ("minor faults", Align::Right),
            ("M events/s", Align::Right),
        ]);
        let cpu = r.get(d, |s| s.cpu);
        table.row([
            "decompress + columns + FlatBuffer + sealed memfd, then dropped".to_string(),
            format!("{:.3}", med(&cpu)),
            range(&cpu, 1.0, 3),
            format!("{:.3}", med(&r.get(d, |s| s.wall))),
            format!("{:.2}", med(&r.get(d, |s| s.system))),
            format!("{:.0}k", med(&r.get(d, |s| s.faults as f64)) / 1e3),
            format!("{:.2}", self.commit.events() as f64 / med(&cpu) / 1e6),
        ]);
        print!("{table}");
    }

    fn print_main(&self, fanouts: &[Fanout]) {
        let decode = med(&self.rounds.get(Measured::Decode, |s| s.cpu));
        let mut table = Table::new([
            ("jobs", Align::Right),
            ("mix c/l/e", Align::Left),
            ("epochd CPU s", Align::Right),
            ("epochd CPU s (min–max)", Align::Right),
            ("epochd wall s", Align::Right),
            ("marginal job ms", Align::Right),
            ("% of one decode", Align::Right),
            ("≤ 2%", Align::Left),
            ("run CPU ms (direct)", Align::Right),
            ("MapReduce CPU s", Align::Right),
            ("MapReduce wall s", Align::Right),
            ("MapReduce figure", Align::Left),
            ("MapReduce / epochd", Align::Right),
        ]);
        for f in fanouts {
            let [c, l, e] = mix(f.n);
            let pct = med(&f.marginal_pct);
            table.row([
                f.n.to_string(),
                format!("{c}/{l}/{e}"),
                format!("{:.3}", med(&f.epochd_cpu)),
                range(&f.epochd_cpu, 1.0, 3),
                format!("{:.3}", med(&f.epochd_wall)),
                format!("{:.2}", med(&f.marginal) * 1e3),
                format!("{pct:.2}"),
                match f.marginal_ok(decode) {
                    (ok, true) => pass(ok).to_string(),
                    (ok, false) => format!("{} (direct)", pass(ok)),
                },
                format!("{:.2}", med(&f.run_cpu) * 1e3),
                format!("{:.2}", med(&f.mapreduce_cpu)),
                format!("{:.2}", med(&f.mapreduce_wall)),
                if f.mapreduce_measured {
                    "measured".to_string()
                } else {
                    "computed, not measured".to_string()
                },
                format!("{:.1}", med(&f.ratio)),
            ]);
        }
        print!("{table}");
    }

    /// Per job and where it ran: CPU, wall and instantiation of a run.
    fn print_runs(&self) {
        println!(
            "Per run (every run of every round; CPU = the thread's CPU clock around \
             `JobModule::run`; wall and instantiate from its `RunReport`):"
        );
        println!();
        let mut table = Table::new([
            ("job", Align::Left),
            ("epoch it reads", Align::Left),
            ("runs", Align::Right),
            ("CPU ms mean", Align::Right),
            ("CPU ms p99", Align::Right),
            ("wall ms mean", Align::Right),
            ("wall ms p99", Align::Right),
            ("instantiate µs mean", Align::Right),
            ("instantiate µs p99", Align::Right),
            ("instantiate µs max", Align::Right),
            ("result bytes", Align::Right),
        ]);
        let gather = |mapreduce: bool| -> Vec<RunSample> {
            self.args
                .jobs
                .iter()
                .flat_map(|&n| {
                    let path = if mapreduce {
                        Measured::MapReduce(n)
                    } else {
                        Measured::Epochd(n)
                    };
                    self.rounds.of(path).iter().flat_map(|s| s.runs.clone())
                })
                .collect()
        };
        for (mapreduce, place) in [(false, "shared (epochd)"), (true, "its own (MapReduce)")] {
            let all = gather(mapreduce);
            if all.is_empty() {
                continue;
            }
            for job in (0..NAMES.len()).map(Some).chain([None]) {
                let runs: Vec<&RunSample> = all
                    .iter()
                    .filter(|r| job.is_none_or(|j| r.job == j))
                    .collect();
                let col = |f: fn(&RunSample) -> f64| runs.iter().map(|r| f(r)).collect::<Vec<_>>();
                let (cpu, wall, inst) = (col(|r| r.cpu), col(|r| r.wall), col(|r| r.instantiate));
                let p99 = |v: &[f64]| percentile(v, 0.99).unwrap_or(f64::NAN);
                let max_of = |v: &[f64]| spread(v).map_or(f64::NAN, |(_, max)| max);
                table.row([
                    job.map_or("all", |j| NAMES[j]).to_string(),
                    place.to_string(),
                    runs.len().to_string(),
                    format!("{:.3}", mean(&cpu) * 1e3),
                    format!("{:.3}", p99(&cpu) * 1e3),
                    format!("{:.3}", mean(&wall) * 1e3),
                    format!("{:.3}", p99(&wall) * 1e3),
                    format!("{:.1}", mean(&inst) * 1e6),
                    format!("{:.1}", p99(&inst) * 1e6),
                    format!("{:.1}", max_of(&inst) * 1e6),
                    job.and_then(|j| self.expected.result(j))
                        .map_or(String::new(), |r| r.len().to_string()),
                ]);
            }
        }
        print!("{table}");
    }

    /// Where each path's CPU went: decodes, runs, the rest (dropping epochs, the loop).
    fn print_parts(&self) {
        println!(
            "Where the CPU goes (medians; \"rest\" = section - decodes - runs: dropping the \
             epochs, the loop; kernel time and faults from /proc, resolution 0.01 s; other \
             threads = the CPU of every other thread of the process meanwhile, wasmtime's \
             epoch ticker):"
        );
        println!();
        let mut table = Table::new([
            ("path", Align::Left),
            ("CPU s", Align::Right),
            ("decodes s", Align::Right),
            ("runs s", Align::Right),
            ("rest s", Align::Right),
            ("kernel s", Align::Right),
            ("minor faults", Align::Right),
            ("other threads CPU s", Align::Right),
        ]);
        let mut paths = vec![Measured::Decode];
        paths.extend(self.args.jobs.iter().map(|&n| Measured::Epochd(n)));
        paths.extend(self.args.jobs.iter().map(|&n| Measured::MapReduce(n)));
        for path in paths {
            let r = self.rounds;
            if r.of(path).is_empty() {
                continue;
            }
            let name = match path {
                Measured::Decode => "one decode".to_string(),
                Measured::Epochd(n) => format!("epochd: decode + {n} x run"),
                Measured::MapReduce(n) => format!("MapReduce: {n} x (decode + run)"),
            };
            table.row([
                name,
                format!("{:.3}", med(&r.get(path, |s| s.cpu))),
                format!("{:.3}", med(&r.get(path, |s| s.decode_cpu))),
                format!("{:.3}", med(&r.get(path, |s| s.runs_cpu))),
                format!(
                    "{:.3}",
                    med(&r.get(path, |s| s.cpu - s.decode_cpu - s.runs_cpu))
                ),
                format!("{:.2}", med(&r.get(path, |s| s.system))),
                format!("{:.0}k", med(&r.get(path, |s| s.faults as f64)) / 1e3),
                format!("{:.3}", med(&r.get(path, |s| s.others))),
            ]);
        }
        print!("{table}");
    }

    fn print_notes(&self, fanouts: &[Fanout]) {
        println!(
            "- CPU = the working thread's CPU clock (CLOCK_THREAD_CPUTIME_ID). \"marginal job\" \
             = (epochd CPU - one decode's CPU) / N and \"% of one decode\" = that / one \
             decode's CPU, both per round from the decode measured in the same round, then the \
             median; it carries the decode's round-to-round noise divided by N. \"run CPU ms \
             (direct)\" = the mean CPU measured around each run on the shared epoch. \"one \
             decode\" is, in each round, the middle (by CPU) of {} decodes in a row.",
            crate::DECODES
        );
        println!(
            "- Each path runs right after an untimed decode, so that every path starts with \
             the allocator in the same state (warm: what a decode freed is still mapped){}.",
            if self.args.no_settle {
                "; not in this run (--no-settle)"
            } else {
                ""
            }
        );
        println!(
            "- \"≤ 2%\": judged on the totals where they can resolve 2% at that N (one decode's \
             spread over the rounds / N ≤ 2% of it), else on the direct measure, marked \
             \"(direct)\"."
        );
        println!(
            "- MapReduce: each job decodes the commit itself, runs, drops its epoch. \"computed, \
             not measured\" (N above --mapreduce-max, without --mapreduce-all) = N x (one \
             decode + the mean run on the shared epoch) of the same round, for CPU and wall."
        );
        for f in fanouts.iter().filter(|f| f.mapreduce_measured) {
            let model: Vec<f64> = f
                .model_cpu
                .iter()
                .zip(&f.mapreduce_cpu)
                .map(|(m, c)| m / c)
                .collect();
            println!(
                "- Check of that model at N = {}: N x (decode + mean run) = {:.2}x the measured \
                 MapReduce CPU (median per round).",
                f.n,
                med(&model)
            );
        }
        let compile: Vec<String> = self
            .jobs
            .iter()
            .map(|j| format!("{} {:.2} s", j.name, j.compile_secs))
            .collect();
        println!(
            "- Compiled once per distinct module (not in any figure): {}. Run limits: the \
             daemon's defaults ({} ms deadline, 64 MiB memory, 64 KiB result).",
            compile.join(", "),
            self.args.deadline_ms
        );
        println!(
            "- Every run succeeded, and every instance of a job gave the same bytes in every \
             round and both ways."
        );
    }

    fn print_verdicts(&self, fanouts: &[Fanout]) {
        let decode = med(&self.rounds.get(Measured::Decode, |s| s.cpu));
        for f in fanouts {
            let pct = med(&f.marginal_pct);
            let direct = med(&f.run_cpu);
            let (ok, by_totals) = f.marginal_ok(decode);
            if by_totals {
                println!(
                    "{}: at N = {}, one more job costs {:.2} ms of CPU = {pct:.2}% of one \
                     decode ({decode:.3} s) (target ≤ {TARGET_MARGINAL_PCT}%); measured around \
                     each run: {:.2} ms = {:.2}%",
                    pass(ok),
                    f.n,
                    med(&f.marginal) * 1e3,
                    direct * 1e3,
                    direct / decode * 100.0,
                );
            } else {
                println!(
                    "{}: at N = {}, one more job costs {:.2} ms of CPU measured around each \
                     run = {:.2}% of one decode ({decode:.3} s) (target ≤ \
                     {TARGET_MARGINAL_PCT}%); from the totals {:.2} ms = {pct:.2}%, which \
                     cannot resolve {TARGET_MARGINAL_PCT}% at N = {}: one decode varied by \
                     {:.1}% of itself across the rounds, {:.2}% once divided by {}",
                    pass(ok),
                    f.n,
                    direct * 1e3,
                    direct / decode * 100.0,
                    med(&f.marginal) * 1e3,
                    f.n,
                    f.resolution_pct * f.n as f64,
                    f.resolution_pct,
                    f.n,
                );
            }
        }
        match fanouts.iter().find(|f| f.n == TARGET_RATIO_JOBS) {
            Some(f) => {
                let ratio = med(&f.ratio);
                println!(
                    "{}: at {} jobs the MapReduce way takes {ratio:.1}x the CPU of the epochd \
                     way ({:.2} s vs {:.3} s{}) (target ≥ {TARGET_RATIO}x)",
                    pass(ratio >= TARGET_RATIO),
                    f.n,
                    med(&f.mapreduce_cpu),
                    med(&f.epochd_cpu),
                    if f.mapreduce_measured {
                        ", both measured"
                    } else {
                        "; MapReduce computed, not measured"
                    }
                );
            }
            None => println!(
                "(not measured: the {TARGET_RATIO_JOBS}-job target; add {TARGET_RATIO_JOBS} to \
                 --jobs)"
            ),
        }
    }
}
