//! The printed report: medians over rounds as Markdown tables, ready for the docs.

use epochd_bench::stats::{spread, ByPath};
use epochd_bench::{cores, median, Align, Commit, Table, MB};

use crate::run::Sample;
use crate::{Args, Measured};

/// The target: our decode at least this many M events/s per core.
pub const TARGET_MEVENTS: f64 = 0.5;
/// The target: our decode at most this many times the decompression-only time.
pub const TARGET_X_DECOMPRESS: f64 = 3.5;
/// The target: the decoded epoch at most this many times its MessagePack size.
pub const TARGET_X_SIZE: f64 = 1.2;

/// Every measurement of every round, in round order.
#[derive(Debug, Default)]
pub struct Rounds {
    samples: ByPath<Measured, Sample>,
    /// Size of the decoded epoch, bytes.
    pub decoded_bytes: usize,
}

impl Rounds {
    /// Records one round of `path`.
    pub fn push(&mut self, path: Measured, sample: Sample) {
        self.samples.push(path, sample);
    }

    fn of(&self, path: Measured) -> &[Sample] {
        self.samples.of(&path)
    }

    fn secs(&self, path: Measured) -> Vec<f64> {
        self.of(path).iter().map(|s| s.secs).collect()
    }

    /// Per round: `path`'s time / `base`'s time (every path runs in every round).
    fn ratios(&self, path: Measured, base: Measured) -> Vec<f64> {
        self.secs(path)
            .iter()
            .zip(self.secs(base))
            .map(|(p, b)| p / b)
            .collect()
    }

    /// Per round: `path`'s time - `minus`'s time.
    fn differences(&self, path: Measured, minus: Measured) -> Vec<f64> {
        self.secs(path)
            .iter()
            .zip(self.secs(minus))
            .map(|(p, m)| p - m)
            .collect()
    }
}

/// What to print.
pub struct Report<'a> {
    /// The command line.
    pub args: &'a Args,
    /// Threads of the parallel row, if any.
    pub threads: Option<usize>,
    /// The decoded commit.
    pub commit: &'a Commit,
    /// Its compressed size, bytes.
    pub compressed: usize,
    /// Its chunks.
    pub chunks: usize,
    /// The measurements.
    pub rounds: &'a Rounds,
}

fn med(values: &[f64]) -> f64 {
    median(values).unwrap_or(f64::NAN)
}

fn range(values: &[f64]) -> String {
    spread(values).map_or_else(String::new, |(lo, hi)| format!("{lo:.3}–{hi:.3}"))
}

fn pass(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

impl Report<'_> {
    /// Prints the tables and notes to stdout.
    pub fn print(&self) {
        println!();
        println!(
            "Decode once vs zstd decompression alone and a generic value tree: one (epoch, dc) \
             of {} events, {} chunks, one thread each (a one-thread rayon pool), median of {} \
             rounds, {} cores",
            self.commit.events(),
            self.chunks,
            self.args.rounds,
            cores()
        );
        println!();
        self.print_main();
        println!();
        self.print_size();
        println!();
        self.print_notes();
        if self.args.breakdown {
            println!();
            self.print_breakdown();
        }
        println!();
        self.print_verdicts();
    }

    fn name(&self, path: Measured) -> String {
        match path {
            Measured::Decompress => "zstd decompression alone (floor)".into(),
            Measured::Rmpv => "value tree: decompress + rmpv::Value".into(),
            Measured::Json => "value tree: decompress + serde_json::Value (rmp-serde)".into(),
            Measured::Ours => "our decode (epochd_decode::decode)".into(),
            Measured::OursParallel => format!(
                "our decode, {} threads",
                self.threads.expect("measured with --threads")
            ),
            Measured::DecompressKept => "decompression, raw chunks kept (as decode does)".into(),
            Measured::Walk => "MessagePack walk (value_len over every event)".into(),
            Measured::Touch => format!(
                "fresh pages: first touch of {:.1} MB (raw chunks + decoded epoch)",
                (self.commit.len() + self.rounds.decoded_bytes) as f64 / MB
            ),
            Measured::OursRaw => {
                "decode_raw of raw chunks (columns, merge, FlatBuffer, memfd)".into()
            }
            Measured::Seal => "SharedEpoch::new alone (memfd, copy, seals, mmap, verify)".into(),
        }
    }

    fn threads_of(&self, path: Measured) -> usize {
        match path {
            Measured::OursParallel => self.threads.unwrap_or(1),
            _ => 1,
        }
    }

    /// The value tree the comparisons use: rmpv when measured, else serde_json.
    fn tree(&self) -> Measured {
        if self.rounds.of(Measured::Rmpv).is_empty() {
            Measured::Json
        } else {
            Measured::Rmpv
        }
    }

    fn print_main(&self) {
        let events = self.commit.events() as f64;
        let mp_mb = self.commit.len() as f64 / MB;
        let tree = self.tree();
        let tree_name = match tree {
            Measured::Rmpv => "rmpv",
            _ => "serde_json",
        };
        let mut table = Table::new([
            ("path".to_string(), Align::Left),
            ("threads".into(), Align::Right),
            ("events".into(), Align::Right),
            ("MsgPack MB".into(), Align::Right),
            ("s (median)".into(), Align::Right),
            ("s (min–max)".into(), Align::Right),
            ("M events/s".into(), Align::Right),
            ("M events/s per core".into(), Align::Right),
            ("MsgPack MB/s".into(), Align::Right),
            ("time x decompress".into(), Align::Right),
            (format!("speed x {tree_name}"), Align::Right),
        ]);
        for path in [
            Measured::Decompress,
            Measured::Rmpv,
            Measured::Json,
            Measured::Ours,
            Measured::OursParallel,
        ] {
            let secs = self.rounds.secs(path);
            if secs.is_empty() {
                continue;
            }
            let s = med(&secs);
            let threads = self.threads_of(path);
            // Ratios are taken per round, then the median; the parallel row's wall time
            // is not comparable with one-thread floors.
            let (x_decompress, x_tree) = if path == Measured::OursParallel {
                ("—".to_string(), "—".to_string())
            } else {
                (
                    format!(
                        "{:.2}",
                        med(&self.rounds.ratios(path, Measured::Decompress))
                    ),
                    format!("{:.2}", med(&self.rounds.ratios(tree, path))),
                )
            };
            table.row([
                self.name(path),
                threads.to_string(),
                self.commit.events().to_string(),
                format!("{mp_mb:.1}"),
                format!("{s:.3}"),
                range(&secs),
                format!("{:.2}", events / s / 1e6),
                format!("{:.2}", events / s / 1e6 / threads as f64),
                format!("{:.0}", mp_mb / s),
                x_decompress,
                x_tree,
            ]);
        }
        print!("{table}");
    }

    fn print_size(&self) {
        let mp = self.commit.len() as f64;
        let mut table = Table::new([
            ("form", Align::Left),
            ("bytes", Align::Right),
            ("B/event", Align::Right),
            ("x MessagePack", Align::Right),
        ]);
        let events = self.commit.events() as f64;
        for (form, bytes) in [
            ("MessagePack (raw chunks)", self.commit.len()),
            ("zstd blobs (what the store holds)", self.compressed),
            (
                "decoded epoch (FlatBuffer in a sealed memfd)",
                self.rounds.decoded_bytes,
            ),
        ] {
            table.row([
                form.to_string(),
                bytes.to_string(),
                format!("{:.0}", bytes as f64 / events),
                format!("{:.2}", bytes as f64 / mp),
            ]);
        }
        print!("{table}");
    }

    fn print_notes(&self) {
        println!(
            "- MB = 10^6 bytes; MsgPack MB/s is the commit's MessagePack size over the time. \
             \"time x decompress\" is the median over rounds of (path s / decompression s) in \
             the same round; \"speed x\" the median of (value-tree s / path s): above 1 is \
             faster than the value tree."
        );
        println!(
            "- Input: {} chunks of ≤ {} KiB raw (the store's lanes: one per (type, subtype), \
             cut at event boundaries), zstd level {} with the store's compress ({:.2}x).",
            self.chunks,
            self.args.commit.chunk_bytes >> 10,
            self.args.commit.level,
            self.commit.len() as f64 / self.compressed as f64
        );
        println!(
            "- Every one-thread path runs on the single thread of a one-thread rayon pool; our \
             decode's parallel iterators stay on it. Value trees are dropped event by event, \
             inside the clock; the decoded epoch is dropped after the clock stops."
        );
        if let Some(threads) = self.threads {
            let one = self.rounds.secs(Measured::Ours);
            let par = self.rounds.secs(Measured::OursParallel);
            let cpu: Vec<f64> = self
                .rounds
                .of(Measured::OursParallel)
                .iter()
                .map(|s| s.user + s.system)
                .collect();
            let speedups: Vec<f64> = one.iter().zip(&par).map(|(o, p)| o / p).collect();
            println!(
                "- {threads} threads: {:.2}x the speed of one thread (median per round), {:.2} \
                 CPU-s in the pool's threads; on a {}-core machine shared with whatever else \
                 runs.",
                med(&speedups),
                med(&cpu),
                cores()
            );
        }
    }

    fn print_breakdown(&self) {
        let mp_mb = self.commit.len() as f64 / MB;
        println!(
            "Where the time goes (--breakdown; same rounds, one thread each, medians; \"time x \
             decompress\" per round as above; CPU and minor page faults of that thread from \
             /proc, resolution 0.01 s; \"=\" rows are differences of two paths, per round):"
        );
        println!();
        let mut table = Table::new([
            ("part", Align::Left),
            ("s (median)", Align::Right),
            ("s (min–max)", Align::Right),
            ("MsgPack MB/s", Align::Right),
            ("time x decompress", Align::Right),
            ("user s", Align::Right),
            ("sys s", Align::Right),
            ("minor faults", Align::Right),
        ]);
        let row = |table: &mut Table, part: String, secs: &[f64], samples: &[Sample]| {
            let s = med(secs);
            // Per round, as in the main table.
            let x_decompress: Vec<f64> = secs
                .iter()
                .zip(self.rounds.secs(Measured::Decompress))
                .map(|(s, d)| s / d)
                .collect();
            let col = |f: fn(&Sample) -> f64| {
                if samples.is_empty() {
                    "—".to_string()
                } else {
                    format!("{:.2}", med(&samples.iter().map(f).collect::<Vec<_>>()))
                }
            };
            table.row([
                part,
                format!("{s:.3}"),
                range(secs),
                format!("{:.0}", mp_mb / s),
                format!("{:.2}", med(&x_decompress)),
                col(|s| s.user),
                col(|s| s.system),
                if samples.is_empty() {
                    "—".to_string()
                } else {
                    format!(
                        "{:.0}k",
                        med(&samples.iter().map(|s| s.faults as f64).collect::<Vec<_>>()) / 1e3
                    )
                },
            ]);
        };
        for path in [
            Measured::Decompress,
            Measured::DecompressKept,
            Measured::Walk,
            Measured::Touch,
            Measured::Rmpv,
            Measured::Json,
            Measured::OursRaw,
            Measured::Seal,
        ] {
            let samples = self.rounds.of(path);
            if !samples.is_empty() {
                row(
                    &mut table,
                    self.name(path),
                    &self.rounds.secs(path),
                    samples,
                );
            }
        }
        row(
            &mut table,
            "= decode_raw - SharedEpoch::new: columns, merge, FlatBuffer (per round)".into(),
            &self.rounds.differences(Measured::OursRaw, Measured::Seal),
            &[],
        );
        row(
            &mut table,
            self.name(Measured::Ours),
            &self.rounds.secs(Measured::Ours),
            self.rounds.of(Measured::Ours),
        );
        row(
            &mut table,
            "= decode - decode_raw: decompression inside decode (per round)".into(),
            &self.rounds.differences(Measured::Ours, Measured::OursRaw),
            &[],
        );
        print!("{table}");
    }

    fn print_verdicts(&self) {
        let ours = med(&self.rounds.secs(Measured::Ours));
        let mevents = self.commit.events() as f64 / ours / 1e6;
        let x_decompress = med(&self.rounds.ratios(Measured::Ours, Measured::Decompress));
        let x_size = self.rounds.decoded_bytes as f64 / self.commit.len() as f64;
        println!(
            "{}: our decode at {mevents:.2} M events/s per core (target ≥ {TARGET_MEVENTS})",
            pass(mevents >= TARGET_MEVENTS)
        );
        println!(
            "{}: our decode in {x_decompress:.2}x the decompression-only time (target ≤ \
             {TARGET_X_DECOMPRESS}x)",
            pass(x_decompress <= TARGET_X_DECOMPRESS)
        );
        println!(
            "{}: decoded epoch {x_size:.2}x its MessagePack size ({} of {} bytes; target ≤ \
             {TARGET_X_SIZE}x)",
            pass(x_size <= TARGET_X_SIZE),
            self.rounds.decoded_bytes,
            self.commit.len()
        );
    }
}
