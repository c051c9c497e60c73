//! SVG plots of one cluster run, made from its [`RunResult`] alone: CPU-s per epoch
//! against K, bytes per epoch by strategy, commit → merged result CDFs by cluster size,
//! and a fault's timeline. The SVG is written by hand, so the crate needs no plotting
//! library; every plot has the same frame, font and strategy colours, so they read
//! side by side in the report.

use std::fmt::Write as _;

use super::report::{fmt_bytes, fmt_cpu};
use super::result::{RunResult, Strategy, StrategyRun};
use crate::stats::percentile;

/// One plot, ready to be written to `file` next to the report.
#[derive(Debug, Clone)]
pub struct Plot {
    /// File name (`cpu_vs_jobs.svg`, ...), relative to the report.
    pub file: String,
    /// What it shows, for the report's image text.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// Every plot the result has data for, in the report's order; a plot whose data is
/// empty is left out rather than drawn blank.
pub fn plots(result: &RunResult) -> Vec<Plot> {
    [
        cpu_vs_jobs(result),
        bytes(result),
        latency_cdf(result),
        timeline(result),
    ]
    .into_iter()
    .flatten()
    .collect()
}

const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const BOTTOM: f64 = 50.0;

/// A strategy's colour, the same in every plot.
fn color(s: Strategy) -> &'static str {
    match s {
        Strategy::External => "#d62728",
        Strategy::PerJobDecode => "#9467bd",
        Strategy::NearData => "#2ca02c",
    }
}

/// Text for XML: `&`, `<` and `>` (and quotes, for attributes) escaped.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

// Writing to a String cannot fail, so the fmt::Result is dropped here, once.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{ let _ = write!($out, $($arg)*); }};
}

/// An axis: linear, or log10 (bounds given as exponents).
#[derive(Debug, Clone, Copy)]
enum Scale {
    Lin(f64, f64),
    Log(f64, f64),
}

impl Scale {
    fn frac(self, v: f64) -> f64 {
        let (lo, hi, v) = match self {
            Scale::Lin(lo, hi) => (lo, hi, v),
            Scale::Log(lo, hi) => (lo, hi, v.log10()),
        };
        if hi > lo {
            (v - lo) / (hi - lo)
        } else {
            0.5
        }
    }
}

/// The decades that hold every positive value: (lowest, highest exponent), at least one apart.
fn decades(values: impl Iterator<Item = f64>) -> (i32, i32) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        lo = lo.min(v.log10().floor());
        hi = hi.max(v.log10().ceil());
    }
    if lo > hi {
        return (0, 1);
    }
    (lo as i32, (hi as i32).max(lo as i32 + 1))
}

/// Round linear ticks (1, 2 or 5 × 10^n apart) from `lo` to at least `hi`.
fn lin_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = ((hi - lo) / 5.0).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// `10^e` in `unit`s, written out (`0.01`, `1000`) rather than as a float's digits.
fn decade(e: i32) -> String {
    match e {
        e if e >= 0 => format!("1{}", "0".repeat(e as usize)),
        e => format!("0.{}1", "0".repeat((-e - 1) as usize)),
    }
}

/// `10^e` bytes as a round label (`10 MB`, not `10.0 MB`).
fn decade_bytes(e: i32) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    match usize::try_from(e.div_euclid(3)) {
        Ok(u) if u < UNITS.len() => format!("{} {}", decade(e.rem_euclid(3)), UNITS[u]),
        _ => format!("{} B", decade(e)),
    }
}

/// A tick's label: a float's digits cut to what a round tick needs (`0.3`, not
/// `0.30000000000000004`).
fn num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// What a legend entry's swatch looks like.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Line(&'static str),
    Dot(&'static str, bool),
    Triangle(&'static str),
    Square(&'static str),
    Bar(&'static str, f64),
    Dashed(&'static str),
}

/// A `<line>` from `a` to `b`; `style` holds its stroke.
fn line(svg: &mut String, a: (f64, f64), b: (f64, f64), style: &str) {
    let ((x1, y1), (x2, y2)) = (a, b);
    put!(
        svg,
        "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" {style}/>\n"
    );
}

/// A `<rect>` with its top left corner at `at`; `style` holds its fill and stroke.
fn rect(svg: &mut String, at: (f64, f64), w: f64, h: f64, style: &str) {
    let (x, y) = at;
    put!(
        svg,
        "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" {style}/>\n"
    );
}

/// A `<text>` at `at`, escaped; `style` holds its size and anchor.
fn text(svg: &mut String, at: (f64, f64), style: &str, s: &str) {
    let (x, y) = at;
    put!(
        svg,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" {style}>{}</text>\n",
        esc(s)
    );
}

const MIDDLE: &str = "text-anchor=\"middle\"";

fn mark(svg: &mut String, m: Mark, x: f64, y: f64) {
    let (a, b) = ((x - 9.0, y), (x + 9.0, y));
    match m {
        Mark::Line(c) => line(svg, a, b, &format!("stroke=\"{c}\" stroke-width=\"2\"")),
        Mark::Dashed(c) => line(svg, a, b, &dashed(c)),
        Mark::Dot(c, filled) => {
            let fill = if filled { c } else { "white" };
            put!(
                svg,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{fill}\" stroke=\"{c}\" \
                 stroke-width=\"1.5\"/>\n"
            );
        }
        Mark::Triangle(c) => put!(
            svg,
            "<polygon points=\"{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{c}\"/>\n",
            y - 5.0,
            x - 5.0,
            y + 4.0,
            x + 5.0,
            y + 4.0
        ),
        Mark::Square(c) => rect(svg, (x - 4.0, y - 4.0), 8.0, 8.0, &format!("fill=\"{c}\"")),
        Mark::Bar(c, opacity) => rect(
            svg,
            (x - 6.0, y - 5.0),
            12.0,
            10.0,
            &format!("fill=\"{c}\" fill-opacity=\"{opacity}\""),
        ),
    }
}

/// The dashed line of the ingested bytes' reference.
fn dashed(c: &str) -> String {
    format!("stroke=\"{c}\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"")
}

/// One plot being drawn: the frame, its two scales, the SVG so far.
struct Canvas {
    svg: String,
    top: f64,
    x: Scale,
    y: Scale,
}

impl Canvas {
    /// The white page, the title and the legend (wrapped in rows under the title, so it
    /// never covers data); the plot area starts below it.
    fn new(title: &str, legend: &[(Mark, String)], x: Scale, y: Scale) -> Canvas {
        let mut svg = String::new();
        put!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
             viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\">\n"
        );
        rect(&mut svg, (0.0, 0.0), W, H, "fill=\"white\"");
        let bold = format!("{MIDDLE} font-size=\"15\" font-weight=\"bold\"");
        text(&mut svg, (W / 2.0, 22.0), &bold, title);
        let (mut lx, mut ly) = (LEFT, 44.0);
        for (m, label) in legend {
            // About 6.5 px a character at 12 px.
            let width = 30.0 + 6.5 * label.chars().count() as f64;
            if lx + width > W - RIGHT && lx > LEFT {
                lx = LEFT;
                ly += 18.0;
            }
            mark(&mut svg, *m, lx + 9.0, ly - 4.0);
            text(&mut svg, (lx + 22.0, ly), "font-size=\"12\"", label);
            lx += width;
        }
        Canvas {
            svg,
            top: ly + 16.0,
            x,
            y,
        }
    }

    fn px(&self, v: f64) -> f64 {
        LEFT + self.x.frac(v) * (W - LEFT - RIGHT)
    }

    fn py(&self, v: f64) -> f64 {
        H - BOTTOM - self.y.frac(v) * (H - BOTTOM - self.top)
    }

    /// Grid, ticks, tick labels and axis titles.
    fn axes(
        &mut self,
        xticks: &[(f64, String)],
        yticks: &[(f64, String)],
        xlabel: &str,
        ylabel: &str,
    ) {
        let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, self.top);
        let grid = "stroke=\"#e5e5e5\"";
        let small = format!("{MIDDLE} font-size=\"11\"");
        for (v, label) in xticks {
            let x = self.px(*v);
            line(&mut self.svg, (x, y1), (x, y0 + 5.0), grid);
            text(&mut self.svg, (x, y0 + 18.0), &small, label);
        }
        for (v, label) in yticks {
            let y = self.py(*v);
            line(&mut self.svg, (x0 - 5.0, y), (x1, y), grid);
            let end = "text-anchor=\"end\" font-size=\"11\"";
            text(&mut self.svg, (x0 - 8.0, y + 4.0), end, label);
        }
        let frame = "fill=\"none\" stroke=\"#333\"";
        rect(&mut self.svg, (x0, y1), x1 - x0, y0 - y1, frame);
        let label = format!("{MIDDLE} font-size=\"12\"");
        text(&mut self.svg, ((x0 + x1) / 2.0, H - 12.0), &label, xlabel);
        let (lx, ly) = (16.0, (y0 + y1) / 2.0);
        let turned = format!("transform=\"rotate(-90 {lx} {ly:.1})\" {label}");
        text(&mut self.svg, (lx, ly), &turned, ylabel);
    }

    fn polyline(&mut self, points: &[(f64, f64)], color: &str) {
        let pts: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", self.px(x), self.py(y)))
            .collect();
        put!(
            self.svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>\n",
            pts.join(" ")
        );
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>\n");
        self.svg
    }
}

fn plot(file: &str, title: &str, svg: String) -> Option<Plot> {
    Some(Plot {
        file: file.into(),
        title: title.into(),
        svg,
    })
}

fn cpu_vs_jobs(r: &RunResult) -> Option<Plot> {
    let series: Vec<(Strategy, Vec<&StrategyRun>)> = Strategy::ALL
        .into_iter()
        .filter_map(|s| {
            let mut runs: Vec<&StrategyRun> = r
                .sweep
                .iter()
                .filter(|run| run.strategy == s && run.jobs > 0 && run.per_epoch.total_cpu_s > 0.0)
                .collect();
            runs.sort_by_key(|run| run.jobs);
            (!runs.is_empty()).then_some((s, runs))
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    let mut ks: Vec<usize> = series
        .iter()
        .flat_map(|(_, runs)| runs.iter().map(|run| run.jobs))
        .collect();
    ks.sort_unstable();
    ks.dedup();
    let (kmin, kmax) = ((ks[0] as f64).log10(), (ks[ks.len() - 1] as f64).log10());
    let pad = if kmax > kmin {
        0.08 * (kmax - kmin)
    } else {
        0.5
    };
    let (lo, hi) = decades(
        series
            .iter()
            .flat_map(|(_, runs)| runs.iter().map(|run| run.per_epoch.total_cpu_s)),
    );
    let mut legend: Vec<(Mark, String)> = series
        .iter()
        .map(|(s, _)| (Mark::Line(color(*s)), s.title().to_string()))
        .collect();
    if series
        .iter()
        .any(|(_, runs)| runs.iter().any(|run| run.saturated))
    {
        legend.push((
            Mark::Dot("#333", false),
            "hollow: saturated (cores were the limit)".into(),
        ));
    }
    let title = "CPU-s per epoch against K jobs";
    let mut c = Canvas::new(
        title,
        &legend,
        Scale::Log(kmin - pad, kmax + pad),
        Scale::Log(f64::from(lo), f64::from(hi)),
    );
    let xticks: Vec<(f64, String)> = ks.iter().map(|&k| (k as f64, k.to_string())).collect();
    let yticks: Vec<(f64, String)> = (lo..=hi)
        .map(|e| (10f64.powi(e), format!("{} s", decade(e))))
        .collect();
    c.axes(
        &xticks,
        &yticks,
        "K jobs (log)",
        "CPU-s per epoch, whole cluster (log)",
    );
    for (s, runs) in &series {
        let points: Vec<(f64, f64)> = runs
            .iter()
            .map(|run| (run.jobs as f64, run.per_epoch.total_cpu_s))
            .collect();
        c.polyline(&points, color(*s));
        for run in runs {
            let (x, y) = (c.px(run.jobs as f64), c.py(run.per_epoch.total_cpu_s));
            // A tooltip with the figure, for a reader with the file open.
            put!(
                c.svg,
                "<g><title>{}: K = {}, {}</title>",
                esc(s.title()),
                run.jobs,
                fmt_cpu(run.per_epoch.total_cpu_s)
            );
            mark(&mut c.svg, Mark::Dot(color(*s), !run.saturated), x, y);
            c.svg.push_str("</g>\n");
        }
    }
    plot("cpu_vs_jobs.svg", title, c.finish())
}

fn bytes(r: &RunResult) -> Option<Plot> {
    let runs: Vec<&StrategyRun> = Strategy::ALL
        .iter()
        .filter_map(|&s| r.main.iter().find(|run| run.strategy == s))
        .collect();
    if runs.is_empty() {
        return None;
    }
    let (lo, hi) = decades(runs.iter().flat_map(|run| {
        let p = &run.per_epoch;
        [p.egress_bytes, p.internal_bytes, p.ingest_bytes]
    }));
    let legend = [
        (Mark::Bar("#555", 1.0), "external (egress)".to_string()),
        (
            Mark::Bar("#555", 0.4),
            "internal (between nodes)".to_string(),
        ),
        (Mark::Dashed("#555"), "ingested (reference)".to_string()),
    ];
    let title = "Bytes per epoch by strategy";
    let mut c = Canvas::new(
        title,
        &legend,
        Scale::Lin(0.0, runs.len() as f64),
        Scale::Log(f64::from(lo), f64::from(hi)),
    );
    let xticks: Vec<(f64, String)> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| (i as f64 + 0.5, run.strategy.title().to_string()))
        .collect();
    let yticks: Vec<(f64, String)> = (lo..=hi)
        .map(|e| (10f64.powi(e), decade_bytes(e)))
        .collect();
    c.axes(&xticks, &yticks, "", "bytes per epoch, whole cluster (log)");
    let base = c.py(10f64.powi(lo));
    let bar_w = c.px(0.28) - c.px(0.0);
    for (i, run) in runs.iter().enumerate() {
        let p = &run.per_epoch;
        let col = color(run.strategy);
        for (j, (v, opacity)) in [(p.egress_bytes, 1.0), (p.internal_bytes, 0.4)]
            .into_iter()
            .enumerate()
        {
            let x = c.px(i as f64 + 0.2 + 0.32 * j as f64);
            let cx = x + bar_w / 2.0;
            let tiny = format!("{MIDDLE} font-size=\"10\"");
            if v > 0.0 {
                let y = c.py(v);
                let style = format!("fill=\"{col}\" fill-opacity=\"{opacity}\" stroke=\"{col}\"");
                rect(&mut c.svg, (x, y), bar_w, base - y, &style);
                text(&mut c.svg, (cx, y - 4.0), &tiny, &fmt_bytes(v));
            } else {
                // Nothing to draw on a log axis; say so rather than leave a gap.
                text(&mut c.svg, (cx, base - 4.0), &tiny, "0");
            }
        }
        if p.ingest_bytes > 0.0 {
            let y = c.py(p.ingest_bytes);
            let (a, b) = (c.px(i as f64 + 0.1), c.px(i as f64 + 0.9));
            line(&mut c.svg, (a, y), (b, y), &dashed("#555"));
        }
    }
    plot("bytes.svg", title, c.finish())
}

fn latency_cdf(r: &RunResult) -> Option<Plot> {
    const PALETTE: [&str; 6] = [
        "#1f77b4", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
    ];
    let runs: Vec<(usize, Vec<f64>)> = r
        .latency
        .iter()
        .filter(|l| !l.samples_ms.is_empty())
        .map(|l| {
            let mut s = l.samples_ms.clone();
            s.sort_by(f64::total_cmp);
            (l.nodes, s)
        })
        .collect();
    if runs.is_empty() {
        return None;
    }
    // Cut at the 99.9th percentile, so one outlier does not squash every curve.
    let xmax = runs
        .iter()
        .filter_map(|(_, s)| percentile(s, 0.999))
        .fold(0.0, f64::max);
    let xticks = lin_ticks(0.0, if xmax > 0.0 { xmax } else { 1.0 });
    let xhi = xticks[xticks.len() - 1];
    let legend: Vec<(Mark, String)> = runs
        .iter()
        .enumerate()
        .map(|(i, (nodes, s))| {
            (
                Mark::Line(PALETTE[i % PALETTE.len()]),
                format!(
                    "{nodes} node{} (n = {})",
                    if *nodes == 1 { "" } else { "s" },
                    s.len()
                ),
            )
        })
        .collect();
    let title = "Commit → merged result, CDF by cluster size (near-data)";
    let mut c = Canvas::new(title, &legend, Scale::Lin(0.0, xhi), Scale::Lin(0.0, 1.0));
    let xt: Vec<(f64, String)> = xticks.iter().map(|v| (*v, num(*v))).collect();
    let yt: Vec<(f64, String)> = [0.0, 0.25, 0.5, 0.75, 1.0].map(|v| (v, num(v))).to_vec();
    c.axes(
        &xt,
        &yt,
        "ms from commit to merged result",
        "fraction of results",
    );
    for (i, (_, s)) in runs.iter().enumerate() {
        // At most ~1000 steps: enough for the eye, and the file stays small.
        let stride = s.len().div_ceil(1000);
        let n = s.len() as f64;
        let mut points = vec![(s[0].clamp(0.0, xhi), 0.0)];
        let mut prev = 0.0;
        for idx in (0..s.len())
            .step_by(stride)
            .chain(std::iter::once(s.len() - 1))
        {
            let (x, f) = (s[idx].clamp(0.0, xhi), (idx + 1) as f64 / n);
            points.push((x, prev));
            if s[idx] > xhi {
                break;
            }
            points.push((x, f));
            prev = f;
        }
        c.polyline(&points, PALETTE[i % PALETTE.len()]);
    }
    plot("latency_cdf.svg", title, c.finish())
}

fn timeline(r: &RunResult) -> Option<Plot> {
    let tl = r.timeline.as_ref().filter(|t| !t.epochs.is_empty())?;
    let base = tl.epochs.iter().map(|e| e.epoch).min()?;
    let last = tl.epochs.iter().map(|e| e.epoch).max()? - base;
    let after = tl
        .epochs
        .iter()
        .flat_map(|e| e.versions.iter().map(|v| v.after_ms as f64));
    let (ymin, ymax) = after.fold((0.0f64, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let yticks = lin_ticks(ymin, ymax * 1.05);
    let xticks = lin_ticks(0.0, last as f64 + 1.0);
    let (green, orange, blue) = ("#2ca02c", "#ff7f0e", "#1f77b4");
    let legend = [
        (Mark::Dot(green, true), "complete first version".to_string()),
        (Mark::Triangle(orange), "partial".to_string()),
        (Mark::Square(blue), "correction (version ≥ 2)".to_string()),
    ];
    let title = format!("A fault and its recovery: job {}", tl.job);
    let x = Scale::Lin(-0.5, xticks[xticks.len() - 1]);
    let mut c = Canvas::new(
        &title,
        &legend,
        x,
        Scale::Lin(yticks[0], yticks[yticks.len() - 1]),
    );
    // Bands first, so the markers are drawn over them.
    for f in &tl.faults {
        let (x0, x1) = (
            c.px(f.at_epoch.saturating_sub(base) as f64),
            c.px(f.until_epoch.saturating_sub(base) as f64),
        );
        let what = match f.kind.as_str() {
            "kill" => "killed",
            "link-down" => "link down",
            other => other,
        };
        let (w, h) = ((x1 - x0).max(1.0), H - BOTTOM - c.top);
        rect(
            &mut c.svg,
            (x0, c.top),
            w,
            h,
            "fill=\"#999\" fill-opacity=\"0.2\"",
        );
        let at = ((x0 + x1) / 2.0, c.top + 16.0);
        let style = format!("{MIDDLE} font-size=\"12\"");
        text(&mut c.svg, at, &style, &format!("{} {what}", f.node));
    }
    let xt: Vec<(f64, String)> = xticks
        .iter()
        .map(|v| (*v, format!("+{}", num(*v))))
        .collect();
    let yt: Vec<(f64, String)> = yticks.iter().map(|v| (*v, num(*v))).collect();
    c.axes(
        &xt,
        &yt,
        "epoch (seconds after the first)",
        "arrival after the epoch's end (ms)",
    );
    for e in &tl.epochs {
        let px = c.px((e.epoch - base) as f64);
        for v in &e.versions {
            let m = match (v.complete, v.version) {
                (false, _) => Mark::Triangle(orange),
                (true, 1) => Mark::Dot(green, true),
                (true, _) => Mark::Square(blue),
            };
            let py = c.py(v.after_ms as f64);
            mark(&mut c.svg, m, px, py);
        }
    }
    plot("timeline.svg", &title, c.finish())
}

#[cfg(test)]
mod tests {
    use super::super::report::sample;
    use super::*;

    fn find<'a>(plots: &'a [Plot], file: &str) -> Option<&'a Plot> {
        plots.iter().find(|p| p.file == file)
    }

    #[test]
    fn every_plot_is_an_svg_document() {
        let plots = plots(&sample());
        let files: Vec<&str> = plots.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "cpu_vs_jobs.svg",
                "bytes.svg",
                "latency_cdf.svg",
                "timeline.svg"
            ]
        );
        for p in &plots {
            assert!(p.svg.starts_with("<svg"), "{}", p.file);
            assert!(p.svg.trim_end().ends_with("</svg>"), "{}", p.file);
            assert_eq!(p.svg.matches("<svg").count(), 1);
            assert!(
                !p.svg.contains("NaN") && !p.svg.contains("inf"),
                "{}: {}",
                p.file,
                p.svg
            );
        }
    }

    #[test]
    fn one_line_per_strategy_and_per_cluster_size() {
        let r = sample();
        let plots = plots(&r);
        let cpu = find(&plots, "cpu_vs_jobs.svg").unwrap();
        assert_eq!(cpu.svg.matches("<polyline").count(), 3);
        for s in Strategy::ALL {
            assert!(cpu.svg.contains(&format!("stroke=\"{}\"", color(s))));
        }
        // The saturated K = 20 external point is hollow, and the legend says why.
        assert!(cpu.svg.contains("fill=\"white\" stroke=\"#d62728\""));
        assert!(cpu.svg.contains("hollow: saturated"));
        let cdf = find(&plots, "latency_cdf.svg").unwrap();
        assert_eq!(cdf.svg.matches("<polyline").count(), r.latency.len());
        let bytes = find(&plots, "bytes.svg").unwrap();
        assert_eq!(
            bytes.svg.matches("stroke-dasharray").count(),
            1 + r.main.len()
        );
        let tl = find(&plots, "timeline.svg").unwrap();
        assert!(tl.svg.contains("n1 killed"));
        // 4 partial first versions, 4 corrections.
        assert_eq!(tl.svg.matches("<polygon").count(), 1 + 4);
    }

    #[test]
    fn empty_data_gives_no_plot() {
        let mut r = sample();
        r.sweep.clear();
        r.timeline = None;
        r.latency.iter_mut().for_each(|l| l.samples_ms.clear());
        let plots = plots(&r);
        let files: Vec<&str> = plots.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files, ["bytes.svg"]);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("a<b & c>\"d\""), "a&lt;b &amp; c&gt;&quot;d&quot;");
        let mut r = sample();
        r.timeline.as_mut().unwrap().job = "<count & co>".into();
        let tl = plots(&r)
            .into_iter()
            .find(|p| p.file == "timeline.svg")
            .unwrap();
        assert!(tl.svg.contains("job &lt;count &amp; co&gt;"));
        assert!(!tl.svg.contains("<count"));
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(decade(-2), "0.01");
        assert_eq!(decade(3), "1000");
        assert_eq!(decade_bytes(7), "10 MB");
        assert_eq!(decade_bytes(2), "100 B");
        assert_eq!(decades([0.0, 0.02, 3.0].into_iter()), (-2, 1));
        assert_eq!(lin_ticks(0.0, 9.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }
}
