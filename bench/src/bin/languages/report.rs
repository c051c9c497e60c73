//! The Markdown report: per job, the native row, then one row per language.

use std::fmt;

use epochd_bench::stats::{spread, ByPath};
use epochd_bench::{median, Align, Table};

use crate::modules::{Module, JOBS};
use crate::{Path, Sample};

/// What a language's modules must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// A run within this many times the native run (Rust and C 2x, Go 3x, any
    /// other bare-module language 5x; issues 5 and 15).
    Ratio(f64),
    /// Languages whose runtime is in the module (Python, JavaScript; issue 15):
    /// a run under `run_ms` per 100k events (the count job only), and a start-up
    /// (instantiation) under `start_ms`.
    Absolute {
        /// Per 100 000 events, when the job has a run target.
        run_ms: Option<f64>,
        /// Instantiation, every job.
        start_ms: f64,
    },
}

/// The target of `job` in `lang`.
pub fn target(lang: &str, job: &str) -> Target {
    match lang {
        "rust" | "c" => Target::Ratio(2.0),
        "go" => Target::Ratio(3.0),
        "python" | "javascript" => Target::Absolute {
            run_ms: (job == "count").then_some(100.0),
            start_ms: 5.0,
        },
        _ => Target::Ratio(5.0),
    }
}

impl Target {
    /// "PASS (...)" or "MISS (...)" for a module whose median run was `x` times
    /// native, `run_ms` long, over `events`, with a median start-up of
    /// `start_ms`.
    fn verdict(self, x: f64, run_ms: f64, start_ms: f64, events: usize) -> String {
        let word = |pass: bool| if pass { "PASS" } else { "MISS" };
        match self {
            Target::Ratio(goal) => format!("{} (≤ {goal}x)", word(x <= goal)),
            Target::Absolute {
                run_ms: goal,
                start_ms: start_goal,
            } => {
                let run_goal = goal.map(|g| g * events as f64 / 100_000.0);
                let pass = run_goal.is_none_or(|g| run_ms < g) && start_ms < start_goal;
                match run_goal {
                    Some(g) => format!("{} (run < {g:.0} ms, start < {start_goal} ms)", word(pass)),
                    None => format!("{} (start < {start_goal} ms)", word(pass)),
                }
            }
        }
    }
}

/// Everything measured.
pub struct Report<'a> {
    /// Events in the epoch.
    pub events: usize,
    /// Rounds.
    pub rounds: usize,
    /// Runs per path per round.
    pub runs: usize,
    /// The modules.
    pub modules: &'a [Module],
    /// Per path, one sample per round.
    pub samples: &'a ByPath<Path, Sample>,
    /// Per module, whether its result had the native result's exact bytes (every one
    /// equals it as JSON, or the run stopped).
    pub byte_equal: &'a [bool],
}

fn ms(v: f64) -> String {
    format!("{:.2}", v * 1e3)
}

/// `median (min–max)` of `f` over the rounds, formatted by `fmt`.
fn cell(samples: &[f64], fmt: impl Fn(f64) -> String) -> String {
    match (median(samples), spread(samples)) {
        (Some(m), Some((lo, hi))) => format!("{} ({}–{})", fmt(m), fmt(lo), fmt(hi)),
        _ => "–".into(),
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} events, {} rounds of {} runs per path (a round's figure: the median of its \
             runs); median (min–max) over rounds\n",
            self.events, self.rounds, self.runs
        )?;
        let mut t = Table::new([
            ("job", Align::Left),
            ("language", Align::Left),
            ("module KB", Align::Right),
            ("compile ms", Align::Right),
            ("artifact KB", Align::Right),
            ("reload ms", Align::Right),
            ("instantiate µs", Align::Right),
            ("run ms", Align::Right),
            ("run CPU ms", Align::Right),
            ("x native", Align::Right),
            ("target", Align::Left),
        ]);
        let mut notes = Vec::new();
        for (j, job) in JOBS.iter().enumerate() {
            let native = self.samples.of(&Path::Native(j));
            if native.is_empty() {
                continue; // not measured (`--job`)
            }
            let walls: Vec<f64> = native.iter().map(|s| s.wall).collect();
            let cpus: Vec<f64> = native.iter().map(|s| s.cpu).collect();
            t.row([
                job.to_string(),
                "native Rust".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                cell(&walls, ms),
                cell(&cpus, ms),
                "1".into(),
                String::new(),
            ]);
            for (i, m) in self.modules.iter().enumerate() {
                if m.job != *job {
                    continue;
                }
                let rounds = self.samples.of(&Path::Wasm(i));
                let walls: Vec<f64> = rounds.iter().map(|s| s.wall).collect();
                let cpus: Vec<f64> = rounds.iter().map(|s| s.cpu).collect();
                let inst: Vec<f64> = rounds.iter().map(|s| s.instantiate).collect();
                let ratios: Vec<f64> = rounds
                    .iter()
                    .zip(native)
                    .map(|(s, n)| s.wall / n.wall)
                    .collect();
                let x = median(&ratios).unwrap_or(f64::NAN);
                let verdict = target(&m.lang, job).verdict(
                    x,
                    median(&walls).unwrap_or(f64::NAN) * 1e3,
                    median(&inst).unwrap_or(f64::NAN) * 1e3,
                    self.events,
                );
                t.row([
                    String::new(),
                    m.lang.clone(),
                    format!("{:.1}", m.bytes as f64 / 1e3),
                    format!("{:.0}", m.compile_secs * 1e3),
                    format!("{:.1}", m.artifact_bytes as f64 / 1e3),
                    format!("{:.1}", m.load_secs * 1e3),
                    cell(&inst, |v| format!("{:.0}", v * 1e6)),
                    cell(&walls, ms),
                    cell(&cpus, ms),
                    cell(&ratios, |v| format!("{v:.2}")),
                    verdict,
                ]);
                if !self.byte_equal[i] {
                    notes.push(format!(
                        "{job} in {}: equal to native as JSON, not byte for byte",
                        m.lang
                    ));
                }
            }
        }
        write!(f, "{t}")?;
        if notes.is_empty() {
            writeln!(
                f,
                "\nEvery module's result equals the native one, byte for byte."
            )?;
        } else {
            writeln!(f)?;
            for n in notes {
                writeln!(f, "- {n}")?;
            }
        }
        Ok(())
    }
}
