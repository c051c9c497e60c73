//! A Markdown table printer, so a benchmark's output can be pasted into the docs.

use std::fmt;

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: flush left.
    Left,
    /// Numbers: flush right.
    Right,
}

/// A table with a header row, printed as an aligned Markdown (GitHub) table.
///
/// ```
/// use epochd_bench::{Align, Table};
/// let mut t = Table::new([("path", Align::Left), ("MB/s", Align::Right)]);
/// t.row(["zstd-3", "301.2"]);
/// t.row(["ingest", "95.0"]);
/// assert_eq!(
///     t.to_string(),
///     "| path   |  MB/s |\n\
///      |:-------|------:|\n\
///      | zstd-3 | 301.2 |\n\
///      | ingest |  95.0 |\n"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and alignments.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = (S, Align)>) -> Table {
        Table {
            columns: columns
                .into_iter()
                .map(|(name, align)| (name.into(), align))
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row. Missing cells print empty; extra cells are ignored.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Table {
        let mut row: Vec<String> = cells
            .into_iter()
            .map(Into::into)
            .take(self.columns.len())
            .collect();
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
        self
    }

    fn widths(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([name.chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect()
    }
}

fn cell(f: &mut fmt::Formatter<'_>, text: &str, width: usize, align: Align) -> fmt::Result {
    match align {
        Align::Left => write!(f, " {text:<width$} |"),
        Align::Right => write!(f, " {text:>width$} |"),
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths = self.widths();
        f.write_str("|")?;
        for ((name, align), &w) in self.columns.iter().zip(&widths) {
            cell(f, name, w, *align)?;
        }
        f.write_str("\n|")?;
        for ((_, align), &w) in self.columns.iter().zip(&widths) {
            let dashes = "-".repeat(w + 1);
            match align {
                Align::Left => write!(f, ":{dashes}|")?,
                Align::Right => write!(f, "{dashes}:|")?,
            }
        }
        f.write_str("\n")?;
        for row in &self.rows {
            f.write_str("|")?;
            for ((text, (_, align)), &w) in row.iter().zip(&self.columns).zip(&widths) {
                cell(f, text, w, *align)?;
            }
            f.write_str("\n")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_rows_are_padded_and_long_rows_cut() {
        let mut t = Table::new([("a", Align::Left), ("b", Align::Right)]);
        t.row(["x"]);
        t.row(["1", "2", "3"]);
        assert_eq!(
            t.to_string(),
            "| a   |   b |\n|:----|----:|\n| x   |     |\n| 1   |   2 |\n"
        );
    }
}
