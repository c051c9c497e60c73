//! What the command line prints for a person: dates, one line per epoch
//! of results, and compact JSON that fits a terminal line.

use std::io::IsTerminal;

use serde_json::Value;

use crate::clock::now_ms;

/// Characters per printed line: `COLUMNS` (first-run exports it), else 160
/// on a terminal, else 1000 (a pipe: a longer line, still one per epoch).
pub(super) fn line_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|&c| c >= 40)
        .unwrap_or(if std::io::stdout().is_terminal() {
            160
        } else {
            1000
        })
}

/// Rows (the first is the header) as aligned lines: the first `left`
/// columns (names, states) to the left, the others (numbers) to the right.
pub(super) fn table<R: AsRef<[String]>>(rows: &[R], left: usize) -> Vec<String> {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.as_ref().iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, (cell, &w)) in row.as_ref().iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                if i < left {
                    line.push_str(&format!("{cell:<w$}"));
                } else {
                    line.push_str(&format!("{cell:>w$}"));
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// A unix second as `YYYY-MM-DDTHH:MM:SSZ` (the store's clock has it).
pub use epochd_store::clock::utc;

/// One epoch's results as one line: epoch, time (of day for streams), (for streams) how long
/// after the second ended they left the node, then the merged result, else
/// each dc's. `late` is None for range queries.
pub fn epoch_line(epoch: &Value, late: Option<bool>, width: usize) -> String {
    let e = epoch["epoch"].as_u64().unwrap_or_default();
    let time = utc(e);
    // A live stream is about now: the time of day is enough.
    let time = if late.is_some() { &time[11..] } else { &time };
    let mut line = format!("{e}  {time}");
    if late.is_some() {
        let end_ms = (e + 1) * 1000;
        let at = epoch["emitted_at_ms"].as_u64().unwrap_or_else(now_ms);
        line.push_str(&format!(
            "  +{:.1}s",
            at.saturating_sub(end_ms) as f64 / 1000.0
        ));
    }
    line.push_str("  ");
    if late == Some(true) {
        line.push_str("late ");
    }
    // The gateway's merge of a cluster's nodes says how whole it is.
    if epoch["complete"] == false {
        let missing: Vec<String> = epoch["missing"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| format!("{} {}", str_or(&m["node"], "?"), str_or(&m["why"], "?")))
            .collect();
        line.push_str(&format!("PARTIAL (missing {}) ", missing.join(", ")));
    }
    if let Some(version) = epoch["version"].as_u64().filter(|&v| v > 1) {
        line.push_str(&format!("v{version} "));
    }
    let results = epoch["results"].as_array().cloned().unwrap_or_default();
    let rest = width.saturating_sub(line.chars().count()).max(20);
    if late != Some(true) && !epoch["merged"].is_null() {
        line.push_str(&format!(
            "merged({}) {}",
            results.len(),
            compact(&epoch["merged"], rest)
        ));
    } else {
        let mut parts = Vec::new();
        if let Some(error) = epoch["merged_error"].as_str() {
            parts.push(format!("merge failed: {error}"));
        }
        for r in &results {
            let mut who = str_or(&r["dc"], "?").to_owned();
            if let Some(seq) = r["seq"].as_u64().filter(|&s| s > 0) {
                who.push_str(&format!("#{seq}"));
            }
            let what = if str_or(&r["status"], "ok") == "ok" {
                if !r["result"].is_null() {
                    compact(&r["result"], rest)
                } else if let Some(b64) = r["result_base64"].as_str() {
                    format!("base64:{}", truncate(b64, 24))
                } else {
                    "(empty)".to_owned()
                }
            } else {
                format!(
                    "error {}: {}",
                    str_or(&r["error"]["kind"], "?"),
                    str_or(&r["error"]["message"], "")
                )
            };
            parts.push(format!("{who} {what}"));
        }
        if parts.is_empty() {
            parts.push("(no results)".to_owned());
        }
        line.push_str(&parts.join(" | "));
    }
    truncate(&line, width)
}

/// A JSON value in few characters: keys and simple strings unquoted,
/// scalars before nested values (the counts before the details), long
/// arrays of numbers and objects nested deeper than three levels elided,
/// the whole cut at `max` characters.
pub fn compact(v: &Value, max: usize) -> String {
    let mut out = String::new();
    write_compact(v, 0, &mut out, max + 1);
    truncate(&out, max)
}

fn write_compact(v: &Value, depth: usize, out: &mut String, budget: usize) {
    if out.len() > budget {
        return;
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
            if plain {
                out.push_str(s);
            } else {
                out.push_str(&Value::String(s.clone()).to_string());
            }
        }
        Value::Array(items) => {
            if items.len() > 16 && items.iter().all(Value::is_number) {
                out.push_str(&format!("[…{} numbers]", items.len()));
                return;
            }
            if depth >= 3 && !items.is_empty() {
                out.push_str(&format!("[…{}]", items.len()));
                return;
            }
            if let Some(keys) = uniform_keys(items) {
                // Rows of one shape with one number each (counts by key):
                // the largest first, so a cut line still shows the top.
                if let Some(number) = sole_numeric_key(items, &keys) {
                    let mut rows: Vec<&Value> = items.iter().collect();
                    rows.sort_by(|a, b| {
                        let n = |v: &Value| v[number].as_f64().unwrap_or(f64::MIN);
                        n(b).total_cmp(&n(a))
                    });
                    out.push_str(&format!("[{} rows, top by {number}: ", rows.len()));
                    for (i, item) in rows.iter().enumerate() {
                        if i > 0 {
                            out.push_str("; ");
                        }
                        write_compact(&item[number], depth + 1, out, budget);
                        for key in keys.iter().filter(|k| **k != number) {
                            out.push(' ');
                            write_compact(&item[*key], depth + 1, out, budget);
                        }
                        if out.len() > budget {
                            return;
                        }
                    }
                    out.push(']');
                    return;
                }
                // Rows of one shape: the keys once, then the values.
                out.push_str(&format!("[({}) ", keys.join(",")));
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str("; ");
                    }
                    for (j, key) in keys.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_compact(&item[*key], depth + 1, out, budget);
                    }
                    if out.len() > budget {
                        return;
                    }
                }
                out.push(']');
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(item, depth + 1, out, budget);
                if out.len() > budget {
                    return;
                }
            }
            out.push(']');
        }
        Value::Object(map) => {
            if depth >= 3 && !map.is_empty() {
                out.push_str("{…}");
                return;
            }
            out.push('{');
            let simple = |v: &Value| !(v.is_object() || v.is_array());
            let ordered = map
                .iter()
                .filter(|(_, v)| simple(v))
                .chain(map.iter().filter(|(_, v)| !simple(v)));
            for (i, (k, item)) in ordered.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push(':');
                write_compact(item, depth + 1, out, budget);
                if out.len() > budget {
                    return;
                }
            }
            out.push('}');
        }
    }
}

/// The keys shared by every item, when there are at least two items, each
/// an object of those keys only, with scalar values.
fn uniform_keys(items: &[Value]) -> Option<Vec<&str>> {
    let first = items.first()?.as_object()?;
    if items.len() < 2 || first.is_empty() {
        return None;
    }
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    items
        .iter()
        .all(|item| {
            item.as_object().is_some_and(|map| {
                map.len() == keys.len()
                    && keys.iter().all(|k| {
                        map.get(*k)
                            .is_some_and(|v| !(v.is_object() || v.is_array()))
                    })
            })
        })
        .then_some(keys)
}

/// The one key whose value is a number in every row, if exactly one is.
fn sole_numeric_key<'k>(items: &[Value], keys: &[&'k str]) -> Option<&'k str> {
    let mut numeric = keys
        .iter()
        .filter(|k| items.iter().all(|item| item[**k].is_number()));
    let first = numeric.next()?;
    numeric.next().is_none().then_some(*first)
}

/// At most `max` characters, the last one `…` when cut.
pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub(super) fn str_or<'v>(v: &'v Value, default: &'v str) -> &'v str {
    v.as_str().unwrap_or(default)
}

pub(super) fn list_or(v: &Value, empty: &str) -> String {
    match v.as_array() {
        Some(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        _ => empty.to_owned(),
    }
}

/// A number, or `-` for null.
pub(super) fn num(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        v => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_763_800_123), "2025-11-22T08:28:43Z");
    }

    #[test]
    fn compact_puts_scalars_first_and_elides_bulk() {
        // Counts by key: the largest first, so a line cut short shows them.
        let rows = json!({"counts": [{"type": "WEB", "count": 3}, {"count": 4, "type": "AV"}]});
        assert_eq!(
            compact(&rows, 1000),
            "{counts:[2 rows, top by count: 4 AV; 3 WEB]}"
        );
        // Two numbers a row: the keys once, the rows as they come.
        let pairs = json!([{"a": 1, "b": 2}, {"a": 3, "b": 4}]);
        assert_eq!(compact(&pairs, 1000), "[(a,b) 1,2; 3,4]");
        let v = json!({"counts": [{"type": "WEB", "count": 3}], "events": 300,
                       "h": {"a": {"b": {"c": 1}}}, "n": (0..40).collect::<Vec<_>>(),
                       "s": "two words"});
        assert_eq!(
            compact(&v, 1000),
            "{events:300,s:\"two words\",counts:[{count:3,type:WEB}],h:{a:{b:{…}}},n:[…40 numbers]}"
        );
        let cut = compact(&v, 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn an_epoch_line_shows_the_merge_else_each_dc() {
        let merged = json!({"epoch": 1_763_800_123u64, "merged": {"events": 5},
            "results": [{"dc": "ams4", "seq": 0, "status": "ok", "result": {"events": 5}}],
            "emitted_at_ms": 1_763_800_125_500u64});
        assert_eq!(
            epoch_line(&merged, Some(false), 200),
            "1763800123  08:28:43Z  +1.5s  merged(1) {events:5}"
        );
        let per_dc = json!({"epoch": 1_763_800_123u64, "merged": null,
            "results": [{"dc": "ams4", "seq": 1, "status": "ok", "result": [1]},
                        {"dc": "lhr1", "seq": 0, "status": "error",
                         "error": {"kind": "deadline", "message": "too slow"}}]});
        assert_eq!(
            epoch_line(&per_dc, None, 200),
            "1763800123  2025-11-22T08:28:43Z  ams4#1 [1] | lhr1 error deadline: too slow"
        );
    }
}
