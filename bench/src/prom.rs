//! Reading a node's `/metrics` (Prometheus text format) by metric name and label,
//! ignoring whatever else is there: the daemon grows new metrics and labels over
//! time, and a benchmark should not break when it does.

/// One scrape of `/metrics`: `(name, labels, value)` per sample line.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    samples: Vec<(String, String, f64)>,
}

impl Metrics {
    /// Parses the text format; comments, blank lines and lines that do not parse are
    /// skipped (a timestamp after the value is ignored).
    pub fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(sample)
            .collect();
        Metrics { samples }
    }

    /// The value of `name`'s first sample, whatever its labels.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| *v)
    }

    /// The sum of every sample of `name` (all label values).
    pub fn sum(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, _, v)| *v)
            .sum()
    }

    /// The value of `name`'s sample whose label `label` is `value` (other labels
    /// may be there too).
    pub fn labeled(&self, name: &str, label: &str, value: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, labels, _)| {
                n == name && label_value(labels, label).as_deref() == Some(value)
            })
            .map(|(_, _, v)| *v)
    }
}

/// `name{labels} value [timestamp]`, labels without their braces.
fn sample(line: &str) -> Option<(String, String, f64)> {
    let line = line.trim();
    let (head, rest) = match line.find('{') {
        Some(open) => {
            // The value after the labels has no brace; a label value may.
            let close = line.rfind('}').filter(|&c| c > open)?;
            ((&line[..open], &line[open + 1..close]), &line[close + 1..])
        }
        None => {
            let space = line.find(char::is_whitespace)?;
            ((&line[..space], ""), &line[space..])
        }
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((head.0.to_owned(), head.1.to_owned(), value))
}

/// The value of `key` in `a="x",b="y"` (the text between braces), unescaped.
fn label_value(labels: &str, key: &str) -> Option<String> {
    let mut rest = labels.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let name = rest[..eq].trim();
        rest = rest[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        if name == key {
            return Some(value);
        }
        rest = rest[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP epochd_job_runs_total Runs.\n\
        # TYPE epochd_job_runs_total counter\n\
        epochd_job_runs_total{job=\"count\"} 12\n\
        epochd_job_runs_total{reason=\"a, \\\"b\\\" {c}\",job=\"spin\"} 3\n\
        epochd_store_commits_total 40 1700000000000\n\
        \n\
        garbage\n";

    #[test]
    fn samples_are_found_by_name_and_label() {
        let m = Metrics::parse(TEXT);
        assert_eq!(m.get("epochd_store_commits_total"), Some(40.0));
        assert_eq!(
            m.labeled("epochd_job_runs_total", "job", "count"),
            Some(12.0)
        );
        assert_eq!(m.labeled("epochd_job_runs_total", "job", "spin"), Some(3.0));
        assert_eq!(m.labeled("epochd_job_runs_total", "job", "trap"), None);
        assert_eq!(m.get("epochd_job_lag_seconds"), None);
    }
}
