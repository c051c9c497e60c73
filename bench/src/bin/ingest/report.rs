//! The printed report: medians over rounds as Markdown tables, ready for the docs.

use epochd_bench::stats::{percentile, spread};
use epochd_bench::{cores, median, Align, EncodedStream, Table, MB};
use epochd_workload::Format;

use crate::run::{IngestRun, Sealing};
use crate::{name, Args};

/// The target: ingest at least this fraction of the speed of zstd-3 alone.
pub const TARGET: f64 = 0.5;

/// Every measurement of every round, in round order.
#[derive(Debug, Default)]
pub struct Rounds {
    /// zstd-3 alone, seconds.
    pub zstd: Vec<f64>,
    /// Compressed size of the last zstd-3 round.
    pub zstd_compressed: usize,
    /// Ingest runs per (format, sealing).
    pub ingest: Vec<((Format, Sealing), Vec<IngestRun>)>,
    /// Breakdown: scanning the MessagePack events, seconds.
    pub scan: Vec<f64>,
    /// Breakdown: WAL-like writes and syncs, seconds.
    pub wal_io: Vec<f64>,
}

impl Rounds {
    /// Records an ingest run.
    pub fn push_ingest(&mut self, format: Format, sealing: Sealing, run: IngestRun) {
        let key = (format, sealing);
        match self.ingest.iter_mut().find(|(k, _)| *k == key) {
            Some((_, runs)) => runs.push(run),
            None => self.ingest.push((key, vec![run])),
        }
    }

    fn runs(&self, format: Format, sealing: Sealing) -> &[IngestRun] {
        self.ingest
            .iter()
            .find(|(k, _)| *k == (format, sealing))
            .map_or(&[], |(_, runs)| runs)
    }
}

/// What to print.
pub struct Report<'a> {
    /// The command line.
    pub args: &'a Args,
    /// The MessagePack stream (the reference size of every rate).
    pub msgpack: &'a EncodedStream,
    /// The NDJSON stream, if measured.
    pub ndjson: Option<&'a EncodedStream>,
    /// zstd pieces.
    pub pieces: usize,
    /// The store's chunk target, bytes.
    pub chunk_target: usize,
    /// Body formats measured.
    pub formats: &'a [Format],
    /// The measurements.
    pub rounds: &'a Rounds,
}

fn med(values: &[f64]) -> f64 {
    median(values).unwrap_or(f64::NAN)
}

fn range(values: &[f64]) -> String {
    spread(values).map_or_else(String::new, |(lo, hi)| format!("{lo:.2}–{hi:.2}"))
}

impl Report<'_> {
    /// Prints the tables and notes to stdout.
    pub fn print(&self) {
        println!();
        println!(
            "Ingest (high-level path) vs zstd-3 alone: {} events, {} epochs, bodies of {} \
             events, {} producer thread{}, median of {} rounds, {} cores",
            self.msgpack.events(),
            self.args.epochs,
            self.args.batch_events,
            self.args.producers,
            if self.args.producers == 1 { "" } else { "s" },
            self.args.rounds,
            cores()
        );
        println!();
        let verdicts = self.print_main();
        println!();
        self.print_notes();
        if self.args.breakdown {
            println!();
            self.print_breakdown();
        }
        println!();
        for (format, ratio) in verdicts {
            let verdict = if ratio >= TARGET { "PASS" } else { "MISS" };
            println!(
                "{verdict}: ingest {} at {ratio:.2}x the speed of zstd-3 alone (target ≥ \
                 {TARGET}x)",
                name(format)
            );
        }
    }

    fn input(&self, format: Format) -> &EncodedStream {
        match format {
            Format::MsgPack => self.msgpack,
            Format::Ndjson => self.ndjson.expect("generated when measured"),
        }
    }

    /// The main table; returns the median ratio per format.
    fn print_main(&self) -> Vec<(Format, f64)> {
        let events = self.msgpack.events() as f64;
        let mp_mb = self.msgpack.len() as f64 / MB;
        let mut table = Table::new([
            ("path", Align::Left),
            ("events", Align::Right),
            ("input", Align::Left),
            ("input MB", Align::Right),
            ("MsgPack MB", Align::Right),
            ("s (median)", Align::Right),
            ("s (min–max)", Align::Right),
            ("k events/s", Align::Right),
            ("MsgPack MB/s", Align::Right),
            ("input MB/s", Align::Right),
            ("x zstd-3", Align::Right),
            ("≥ 0.5x", Align::Left),
        ]);
        let zstd_secs = &self.rounds.zstd;
        let zstd = med(zstd_secs);
        table.row([
            "zstd-3 alone, 1 thread".to_string(),
            self.msgpack.events().to_string(),
            "MessagePack".into(),
            format!("{mp_mb:.1}"),
            format!("{mp_mb:.1}"),
            format!("{zstd:.2}"),
            range(zstd_secs),
            format!("{:.0}", events / zstd / 1e3),
            format!("{:.1}", mp_mb / zstd),
            format!("{:.1}", mp_mb / zstd),
            "1.00".into(),
            "(floor)".into(),
        ]);
        let mut ratios_out = Vec::new();
        for &format in self.formats {
            let input = self.input(format);
            let in_mb = input.len() as f64 / MB;
            let secs: Vec<f64> = self
                .rounds
                .runs(format, Sealing::Live)
                .iter()
                .map(|run| run.secs)
                .collect();
            // Per round: ingest speed / zstd-3 speed on the same bytes = zstd s / ingest s.
            let ratios: Vec<f64> = secs
                .iter()
                .zip(zstd_secs)
                .map(|(ingest, zstd)| zstd / ingest)
                .collect();
            let s = med(&secs);
            let ratio = med(&ratios);
            ratios_out.push((format, ratio));
            table.row([
                format!("ingest {}", name(format)),
                input.events().to_string(),
                name(format).to_string(),
                format!("{in_mb:.1}"),
                format!("{mp_mb:.1}"),
                format!("{s:.2}"),
                range(&secs),
                format!("{:.0}", events / s / 1e3),
                format!("{:.1}", mp_mb / s),
                format!("{:.1}", in_mb / s),
                format!("{ratio:.2}"),
                (if ratio >= TARGET { "PASS" } else { "MISS" }).to_string(),
            ]);
        }
        print!("{table}");
        ratios_out
    }

    fn print_notes(&self) {
        let mp_mb = self.msgpack.len() as f64 / MB;
        println!(
            "- MB = 10^6 bytes. MsgPack MB/s is the MessagePack size of the events over the \
             time, whatever the body format; x zstd-3 is the median over rounds of (zstd-3 s / \
             ingest s) measured in the same round."
        );
        println!(
            "- zstd-3 alone: {} pieces of ≤ {} MiB cut at event boundaries, compression ratio \
             {:.2} ({mp_mb:.1} MB -> {:.1} MB).",
            self.pieces,
            self.chunk_target >> 20,
            self.msgpack.len() as f64 / self.rounds.zstd_compressed as f64,
            self.rounds.zstd_compressed as f64 / MB
        );
        println!(
            "- Store config: grace 0 ms, quiet 20 ms, max hold {} ms, everything else default.",
            self.args.max_hold_ms
        );
        for &format in self.formats {
            let runs = self.rounds.runs(format, Sealing::Live);
            let Some(last) = runs.last() else { continue };
            let calls: Vec<f64> = runs.iter().map(|run| run.in_calls).collect();
            let drains: Vec<f64> = runs.iter().map(|run| run.drain).collect();
            println!(
                "- ingest {}: compression ratio {:.2} ({:.1} MB -> {:.1} MB) in {} chunks \
                 (average {:.0} KB raw) over {} commits of (epoch, dc), {} of them \
                 supplementary (last round); time in ingest() calls {:.2} s{}, drain after the \
                 last batch {:.2} s (medians){}.",
                name(format),
                last.accepted_bytes as f64 / last.stored_bytes as f64,
                last.accepted_bytes as f64 / MB,
                last.stored_bytes as f64 / MB,
                last.chunks,
                last.accepted_bytes as f64 / last.chunks.max(1) as f64 / 1e3,
                last.commits,
                last.supplementary,
                med(&calls),
                if self.args.producers > 1 {
                    " (summed over the producers)"
                } else {
                    ""
                },
                med(&drains),
                match runs.iter().map(|run| run.retries).sum::<usize>() {
                    0 => String::new(),
                    n => format!(", {n} overloaded retries"),
                }
            );
            let call_ms: Vec<f64> = runs.iter().flat_map(|run| run.call_ms.clone()).collect();
            let pct = |q: f64| percentile(&call_ms, q).unwrap_or(f64::NAN);
            println!(
                "  - ingest() call latency over all rounds: median {:.1} ms, p99 {:.1} ms, max \
                 {:.1} ms; {} of {} calls took longer than the quiet window (20 ms).",
                pct(0.5),
                pct(0.99),
                pct(1.0),
                call_ms.iter().filter(|&&ms| ms > 20.0).count(),
                call_ms.len()
            );
            let early = runs.iter().filter(|run| run.early).count();
            if early > 0 {
                println!(
                    "  - in {early} of {} rounds, wait_committed had returned for every receipt \
                     before every event was committed (an older part of an (epoch, dc) was \
                     still being committed by the sealer); the time includes the wait for it.",
                    runs.len()
                );
            }
        }
    }

    fn print_breakdown(&self) {
        let mp_mb = self.msgpack.len() as f64 / MB;
        println!(
            "Where the time goes (--breakdown; same rounds, medians, MsgPack MB/s over the same \
             {mp_mb:.1} MB):"
        );
        println!();
        let mut table = Table::new([
            ("part", Align::Left),
            ("s (median)", Align::Right),
            ("s (min–max)", Align::Right),
            ("MsgPack MB/s", Align::Right),
        ]);
        let mut row = |part: String, secs: &[f64]| {
            let s = med(secs);
            table.row([
                part,
                format!("{s:.2}"),
                range(secs),
                format!("{:.1}", mp_mb / s),
            ]);
        };
        row("zstd-3 alone, 1 thread".into(), &self.rounds.zstd);
        row(
            "scan_event over every MessagePack event, 1 thread".into(),
            &self.rounds.scan,
        );
        row(
            format!(
                "WAL I/O alone: write + fdatasync per body ({} bodies)",
                self.msgpack.events().div_ceil(self.args.batch_events)
            ),
            &self.rounds.wal_io,
        );
        for &format in self.formats {
            let held = self.rounds.runs(format, Sealing::Held);
            let live = self.rounds.runs(format, Sealing::Live);
            let pick = |runs: &[IngestRun], f: fn(&IngestRun) -> f64| -> Vec<f64> {
                runs.iter().map(f).collect()
            };
            let n = name(format);
            row(
                format!("{n}, sealing held: ingest() calls (parse, WAL append + sync)"),
                &pick(held, |r| r.produce_secs),
            );
            row(
                format!("{n}, sealing held: seal_all (compress on all cores, commit, flush)"),
                &pick(held, |r| r.drain),
            );
            row(format!("{n}, sealing held: total"), &pick(held, |r| r.secs));
            row(
                format!("{n}, live (the main table): total"),
                &pick(live, |r| r.secs),
            );
        }
        print!("{table}");
        println!();
        self.print_cpu();
    }

    fn print_cpu(&self) {
        println!(
            "CPU by thread during the timed section (from /proc; medians; caller = the thread \
             calling ingest(): parse + WAL; background = the store's sealer and its rayon \
             compression pool; s not on CPU = wall - caller CPU: waiting for fsync, locks or \
             a core; with several producers, caller = all of them):"
        );
        println!();
        let mut table = Table::new([
            ("run", Align::Left),
            ("wall s", Align::Right),
            ("caller CPU s", Align::Right),
            ("of which sys", Align::Right),
            ("caller not on CPU s", Align::Right),
            ("background CPU s", Align::Right),
            ("sled CPU s", Align::Right),
            ("cores busy", Align::Right),
            ("caller minor faults", Align::Right),
        ]);
        for &format in self.formats {
            for sealing in [Sealing::Live, Sealing::Held] {
                let runs = self.rounds.runs(format, sealing);
                if runs.is_empty() {
                    continue;
                }
                let roles: Vec<Roles> = runs.iter().map(Roles::of).collect();
                let col = |f: fn(&Roles) -> f64| med(&roles.iter().map(f).collect::<Vec<_>>());
                table.row([
                    format!(
                        "{} {}",
                        name(format),
                        match sealing {
                            Sealing::Live => "live",
                            Sealing::Held => "sealing held",
                        }
                    ),
                    format!("{:.2}", col(|r| r.wall)),
                    format!("{:.2}", col(|r| r.caller)),
                    format!("{:.2}", col(|r| r.caller_sys)),
                    if self.args.producers == 1 {
                        format!("{:.2}", col(|r| r.wall - r.caller))
                    } else {
                        "—".into()
                    },
                    format!("{:.2}", col(|r| r.background)),
                    format!("{:.2}", col(|r| r.sled)),
                    format!(
                        "{:.2}",
                        col(|r| (r.caller + r.background + r.sled) / r.wall)
                    ),
                    format!("{:.0}k", col(|r| r.caller_faults) / 1e3),
                ]);
            }
        }
        print!("{table}");
    }
}

/// The CPU of one run, by what the threads do.
struct Roles {
    wall: f64,
    /// The thread calling `ingest`.
    caller: f64,
    caller_sys: f64,
    caller_faults: f64,
    /// The store's sealer and the rayon pool it compresses on (unnamed rayon workers
    /// carry the name of the thread that started them, so they are told apart from
    /// sled's threads only).
    background: f64,
    /// sled's threads.
    sled: f64,
}

impl Roles {
    fn of(run: &IngestRun) -> Roles {
        let mut roles = Roles {
            wall: run.secs,
            caller: 0.0,
            caller_sys: 0.0,
            caller_faults: 0.0,
            background: 0.0,
            sled: 0.0,
        };
        for t in &run.cpu {
            if t.main || t.name.starts_with("producer-") {
                roles.caller += t.cpu();
                roles.caller_sys += t.system;
                roles.caller_faults += t.minor_faults as f64;
            } else if t.name.starts_with("sled") || t.name == "log flusher" {
                roles.sled += t.cpu();
            } else {
                roles.background += t.cpu();
            }
        }
        roles
    }
}
