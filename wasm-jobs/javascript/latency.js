// Reference job `latency` in JavaScript: p50/p95/p99 of tuning.wallclock
// (or the field named by the config) per subtype, from the mergeable
// log-linear histogram (epochd.LogHistogram). The same result bytes as
// wasm-jobs/latency (see wasm-jobs/README.md):
//
//   {"field":"tuning.wallclock","subtypes":{"app":{"p50":..,"p95":..,"p99":..,"histogram":{...}}}}
import * as epochd from "../../sdk/javascript/epochd.js";

const DEFAULT_FIELD = "tuning.wallclock";

// Rust's str::trim: Unicode White_Space at both ends (JavaScript's trim()
// also drops U+FEFF and keeps U+0085).
const WHITE_SPACE = "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const TRIM = new RegExp(`^${WHITE_SPACE}+|${WHITE_SPACE}+$`, "g");

// The field: the config (UTF-8, trimmed) or the default.
function fieldOf() {
  const field = epochd.configText(true).replace(TRIM, "");
  return field === "" ? DEFAULT_FIELD : field;
}

// hists: Map subtype -> LogHistogram.
function result(field, hists) {
  const subtypes = new Map();
  for (const name of [...hists.keys()].sort(epochd.compareUtf8)) {
    const h = hists.get(name);
    if (h.count == 0) continue; // eslint-disable-line eqeqeq
    subtypes.set(name, { p50: h.percentile(50), p95: h.percentile(95), p99: h.percentile(99), histogram: h });
  }
  return { field, subtypes };
}

export const run = epochd.run(() => {
  const field = fieldOf();
  // The subtype id of every row, and one histogram per id, recorded a
  // block of values at a time: the ids of the values' rows (a view of the
  // ids when the column is dense) and the values, as typed arrays.
  const sub = epochd.stringsByRow("subtype");
  const hs = new epochd.Histograms(sub.none);
  const ints = epochd.column(field, epochd.INT);
  if (ints !== null) {
    for (const block of ints.blocks()) hs.recordInts(block.gather(sub.ids), block.values);
  }
  const floats = epochd.column(field, epochd.FLOAT);
  if (floats !== null) {
    for (const block of floats.blocks()) hs.recordNumbers(block.gather(sub.ids), block.values);
  }
  // Ids whose strings are equal (invalid UTF-8 replaced) are one subtype.
  const hists = new Map();
  for (let id = 0; id < sub.none; id++) {
    const h = hs.histogram(id);
    if (h.count === 0) continue;
    const name = sub.strings[id];
    const had = hists.get(name);
    if (had === undefined) hists.set(name, h);
    else had.merge(h);
  }
  return result(field, hists);
});

// Rust's {:?} of a string: quoted, with \t \r \n \\ \" \0 and
// non-printable characters (controls, format characters, separators
// other than space) as \u{..}.
const NON_PRINTABLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/;
function debugString(s) {
  let out = '"';
  for (const c of s) {
    switch (c) {
      case '"': out += '\\"'; break;
      case "\\": out += "\\\\"; break;
      case "\n": out += "\\n"; break;
      case "\r": out += "\\r"; break;
      case "\t": out += "\\t"; break;
      case "\0": out += "\\0"; break;
      default:
        out += NON_PRINTABLE.test(c) ? `\\u{${c.codePointAt(0).toString(16)}}` : c;
    }
  }
  return out + '"';
}

// One result: its field, and its histograms per subtype (checked as the
// Rust job's serde types are; a repeated subtype: the last one counts).
function parse(v) {
  epochd.checkFields(v, "Latency", ["field", "subtypes"]);
  if (typeof v.field !== "string" || v.subtypes === null || typeof v.subtypes !== "object" ||
      Array.isArray(v.subtypes)) {
    epochd.fail("JSON: expected field (a string) and subtypes (an object)");
  }
  const hists = new Map();
  for (const name of Object.keys(v.subtypes)) {
    const s = v.subtypes[name];
    epochd.checkFields(s, "Summary", ["p50", "p95", "p99", "histogram"]);
    if (!epochd.isU64(s.p50) || !epochd.isU64(s.p95) || !epochd.isU64(s.p99)) {
      epochd.fail("JSON: expected p50, p95, p99 (u64) and histogram");
    }
    try {
      hists.set(name, epochd.LogHistogram.fromJSON(s.histogram));
    } catch (e) {
      epochd.fail(`JSON: ${e.message}`);
    }
  }
  return [v.field, hists];
}

export const merge = epochd.mergeJSON((a, b) => {
  const [fa, all] = parse(a);
  const [fb, other] = parse(b);
  if (fa !== fb) epochd.fail(`cannot merge latencies of ${debugString(fa)} and ${debugString(fb)}`);
  for (const [name, h] of other) {
    const mine = all.get(name);
    if (mine === undefined) all.set(name, h);
    else mine.merge(h);
  }
  return result(fa, all);
});
