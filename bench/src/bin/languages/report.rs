//! The Markdown report: per job, the native row, then one row per language.

use std::fmt;

use epochd_bench::stats::{spread, ByPath};
use epochd_bench::{median, Align, Table};

use crate::modules::{Module, JOBS};
use crate::{Path, Sample};

/// The target, x native: Rust and C within 2x, Go within 3x, every other language
/// within 5x.
pub fn target(lang: &str) -> f64 {
    match lang {
        "rust" | "c" => 2.0,
        "go" => 3.0,
        _ => 5.0,
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
                let goal = target(&m.lang);
                let verdict = if x <= goal { "PASS" } else { "MISS" };
                t.row([
                    String::new(),
                    m.lang.clone(),
                    format!("{:.1}", m.bytes as f64 / 1e3),
                    format!("{:.0}", m.compile_secs * 1e3),
                    cell(&inst, |v| format!("{:.0}", v * 1e6)),
                    cell(&walls, ms),
                    cell(&cpus, ms),
                    cell(&ratios, |v| format!("{v:.2}")),
                    format!("{verdict} (≤ {goal}x)"),
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
