//! Summaries of repeated measurements.

/// The median of `values`: the middle one, or the mean of the two middle ones for an
/// even count. `None` when there are no values. NaNs sort last.
///
/// ```
/// use epochd_bench::median;
/// assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
/// assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
/// assert_eq!(median(&[]), None);
/// ```
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// The `q` quantile of `values` (`q` in [0, 1]) by the nearest-rank method: the
/// smallest value with at least `q` of the values at or below it. `None` when there
/// are no values.
///
/// ```
/// use epochd_bench::stats::percentile;
/// let ms: Vec<f64> = (1..=100).map(f64::from).collect();
/// assert_eq!(percentile(&ms, 0.5), Some(50.0));
/// assert_eq!(percentile(&ms, 0.99), Some(99.0));
/// assert_eq!(percentile(&ms, 1.0), Some(100.0));
/// ```
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The smallest and the largest of `values`, `None` when empty: printed next to a
/// median to show how noisy the rounds were.
pub fn spread(values: &[f64]) -> Option<(f64, f64)> {
    let min = values.iter().copied().min_by(f64::total_cmp)?;
    let max = values.iter().copied().max_by(f64::total_cmp)?;
    Some((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_ignores_order() {
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[9.0, 1.0, 5.0, 7.0, 3.0]), Some(5.0));
        assert_eq!(median(&[2.0, 1.0]), Some(1.5));
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.0), Some(1.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.9), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn spread_is_min_and_max() {
        assert_eq!(spread(&[2.0, 9.0, 1.0]), Some((1.0, 9.0)));
        assert_eq!(spread(&[]), None);
    }
}

/// The samples of every round, per measured path, in the order the paths
/// first appeared.
#[derive(Debug)]
pub struct ByPath<P, S> {
    samples: Vec<(P, Vec<S>)>,
}

impl<P, S> Default for ByPath<P, S> {
    fn default() -> Self {
        ByPath {
            samples: Vec::new(),
        }
    }
}

impl<P: PartialEq, S> ByPath<P, S> {
    /// Records one round of `path`.
    pub fn push(&mut self, path: P, sample: S) {
        match self.samples.iter_mut().find(|(p, _)| *p == path) {
            Some((_, samples)) => samples.push(sample),
            None => self.samples.push((path, vec![sample])),
        }
    }

    /// The rounds of `path` (none if it was not measured).
    pub fn of(&self, path: &P) -> &[S] {
        self.samples
            .iter()
            .find(|(p, _)| p == path)
            .map_or(&[], |(_, samples)| samples)
    }
}
