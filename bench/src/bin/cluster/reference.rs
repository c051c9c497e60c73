//! The independent computation: each reference job's answer for an epoch,
//! from the raw events the generator had acknowledged (their JSON form, not
//! epochd's decoder), and the comparison of a job's result with it.
//!
//! Results are compared as summaries: count's (type, subtype) counts,
//! error-rate's per-dc (web, errors), latency's per-subtype histogram
//! (count, min, max, buckets: exact) and percentiles (within the job's
//! documented 1/128 of the exact nearest-rank value).

use std::collections::BTreeMap;

use epochd_job::sketch::LogHistogram;
use serde_json::Value;

/// What a result says, in comparable form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// count: (type, subtype) → events.
    counts: BTreeMap<(Option<String>, Option<String>), u64>,
    /// error-rate: dc → (web, errors).
    errors: BTreeMap<String, (u64, u64)>,
    /// latency: subtype → histogram.
    latency: BTreeMap<String, LogHistogram>,
}

/// The expected answers of one epoch, built from raw events.
#[derive(Debug, Default)]
pub struct Expected {
    summary: Summary,
    /// latency: subtype → every value, for exact percentiles.
    values: BTreeMap<String, Vec<u64>>,
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

impl Expected {
    /// Adds one acknowledged event (its JSON form), sent as from `dc`.
    pub fn add(&mut self, event: &Value, dc: &str) {
        let kind = string(&event["type"]);
        let subtype = string(&event["subtype"]);
        *self
            .summary
            .counts
            .entry((kind.clone(), subtype.clone()))
            .or_default() += 1;
        let entry = self.summary.errors.entry(dc.to_owned()).or_default();
        if kind.as_deref() == Some("WEB") {
            entry.0 += 1;
            if event["tuning"]["status"].as_u64().is_some_and(|s| s >= 500)
                && event["tuning"]["status"].is_u64()
            {
                entry.1 += 1;
            }
        }
        if let (Some(subtype), Some(v)) = (subtype, wallclock(&event["tuning"]["wallclock"])) {
            self.summary
                .latency
                .entry(subtype.clone())
                .or_default()
                .record(v);
            self.values.entry(subtype).or_default().push(v);
        }
    }

    /// Marks `dc` as having sent this epoch (error-rate reports every dc
    /// that committed, even without WEB events).
    pub fn saw_dc(&mut self, dc: &str) {
        self.summary.errors.entry(dc.to_owned()).or_default();
    }

    /// Events of the epoch.
    pub fn events(&self) -> u64 {
        self.summary.counts.values().sum()
    }

    /// Compares a job's merged result with what was expected; `Err` says
    /// what differs.
    pub fn check(&mut self, kind: &str, result: &Value) -> Result<(), String> {
        let got = summarize(kind, result)?;
        let want = self.project(kind);
        if got != want {
            return Err(difference(kind, &got, &want));
        }
        if kind == "latency" {
            self.check_percentiles(result)?;
        }
        Ok(())
    }

    /// Compares the sum of summaries (an external consumer's per-commit
    /// answers).
    pub fn check_summary(&self, kind: &str, got: &Summary) -> Result<(), String> {
        let want = self.project(kind);
        if *got != want {
            return Err(difference(kind, got, &want));
        }
        Ok(())
    }

    fn project(&self, kind: &str) -> Summary {
        let all = &self.summary;
        match kind {
            "count" => Summary {
                counts: all.counts.clone(),
                ..Summary::default()
            },
            "error-rate" => Summary {
                errors: all.errors.clone(),
                ..Summary::default()
            },
            _ => Summary {
                latency: all.latency.clone(),
                ..Summary::default()
            },
        }
    }

    fn check_percentiles(&mut self, result: &Value) -> Result<(), String> {
        for (subtype, values) in &mut self.values {
            values.sort_unstable();
            for p in [50u64, 95, 99] {
                let n = values.len() as u64;
                let rank = (n * p).div_ceil(100).max(1);
                let exact = values[(rank - 1) as usize] as f64;
                let got = result["subtypes"][subtype][format!("p{p}")]
                    .as_f64()
                    .ok_or_else(|| format!("latency: no p{p} for {subtype}"))?;
                if (got - exact).abs() > exact / 128.0 + 1.0 {
                    return Err(format!(
                        "latency {subtype} p{p}: {got}, exact {exact} (beyond 1/128)"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `tuning.wallclock` as the latency job reads it: an integer ≥ 0, or a
/// float ≥ 0 truncated.
fn wallclock(v: &Value) -> Option<u64> {
    if let Some(i) = v.as_u64() {
        return Some(i);
    }
    let f = v.as_f64()?;
    (f.is_finite() && f >= 0.0).then_some(f as u64)
}

/// A job's result as a summary.
pub fn summarize(kind: &str, result: &Value) -> Result<Summary, String> {
    let mut s = Summary::default();
    match kind {
        "count" => {
            for c in result["counts"].as_array().ok_or("count: no counts")? {
                let n = c["count"]
                    .as_u64()
                    .ok_or("count: a count is not a number")?;
                *s.counts
                    .entry((string(&c["type"]), string(&c["subtype"])))
                    .or_default() += n;
            }
        }
        "error-rate" => {
            for (dc, v) in result["dcs"].as_object().ok_or("error-rate: no dcs")? {
                let web = v["web"].as_u64().ok_or("error-rate: no web")?;
                let errors = v["errors"].as_u64().ok_or("error-rate: no errors")?;
                s.errors.insert(dc.clone(), (web, errors));
            }
        }
        "latency" => {
            for (subtype, v) in result["subtypes"]
                .as_object()
                .ok_or("latency: no subtypes")?
            {
                let h: LogHistogram = serde_json::from_value(v["histogram"].clone())
                    .map_err(|e| format!("latency: histogram of {subtype}: {e}"))?;
                s.latency.insert(subtype.clone(), h);
            }
        }
        other => return Err(format!("no reference for job kind {other}")),
    }
    Ok(s)
}

impl Summary {
    /// Adds another result's summary (a merge, for a consumer's own answers).
    pub fn add(&mut self, other: Summary) {
        for (k, n) in other.counts {
            *self.counts.entry(k).or_default() += n;
        }
        for (dc, (w, e)) in other.errors {
            let entry = self.errors.entry(dc).or_default();
            entry.0 += w;
            entry.1 += e;
        }
        for (subtype, h) in other.latency {
            self.latency.entry(subtype).or_default().merge(&h);
        }
    }
}

fn difference(kind: &str, got: &Summary, want: &Summary) -> String {
    let got_n: u64 = got.counts.values().sum();
    let want_n: u64 = want.counts.values().sum();
    let got_web: u64 = got.errors.values().map(|v| v.0).sum();
    let want_web: u64 = want.errors.values().map(|v| v.0).sum();
    let got_lat: u64 = got.latency.values().map(LogHistogram::count).sum();
    let want_lat: u64 = want.latency.values().map(LogHistogram::count).sum();
    format!(
        "{kind}: got events {got_n} web {got_web} latency values {got_lat}, expected {want_n} / \
         {want_web} / {want_lat}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_count_result_matches_only_its_own_events() {
        let mut e = Expected::default();
        e.add(
            &json!({"type": "WEB", "subtype": "app", "tuning": {"status": 503, "wallclock": 7}}),
            "ams4",
        );
        e.add(&json!({"type": "AV", "subtype": null}), "ams4");
        let right = json!({"events": 2, "counts": [
            {"type": "AV", "subtype": null, "count": 1},
            {"type": "WEB", "subtype": "app", "count": 1}]});
        assert!(e.check("count", &right).is_ok());
        let short = json!({"events": 1, "counts": [{"type": "AV", "subtype": null, "count": 1}]});
        assert!(e.check("count", &short).is_err());
        let rate = json!({"web": 1, "errors": 1, "rate": 1.0, "dcs": {"ams4": {"web": 1, "errors": 1, "rate": 1.0}}});
        assert!(e.check("error-rate", &rate).is_ok());
        let wrong = json!({"web": 1, "errors": 0, "rate": 0.0, "dcs": {"ams4": {"web": 1, "errors": 0, "rate": 0.0}}});
        assert!(e.check("error-rate", &wrong).is_err());
    }
}
