// Reference job `count` in JavaScript: events per (type, subtype); merge
// adds. The same result bytes as wasm-jobs/count (see wasm-jobs/README.md):
//
//   {"events":N,"counts":[{"type":"AV","subtype":"availability_cluster","count":n},...]}
//
// sorted by (type, subtype), null first, strings by their UTF-8 bytes.
import * as epochd from "../../sdk/javascript/epochd.js";

// A type or subtype: a string, or null (no such field, or not a string).
function compareNames(a, b) {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return epochd.compareUtf8(a, b);
}

// counts: Map type -> Map subtype -> count (number, or BigInt past 2^53).
function add(counts, type, subtype, n) {
  let bySubtype = counts.get(type);
  if (bySubtype === undefined) counts.set(type, (bySubtype = new Map()));
  const had = bySubtype.get(subtype);
  bySubtype.set(subtype, had === undefined ? n : epochd.addU64(had, n));
}

function result(counts) {
  let events = 0;
  const out = [];
  for (const type of [...counts.keys()].sort(compareNames)) {
    const bySubtype = counts.get(type);
    for (const subtype of [...bySubtype.keys()].sort(compareNames)) {
      const count = bySubtype.get(subtype);
      events = epochd.addU64(events, count);
      if (count > 0) out.push({ type, subtype, count });
    }
  }
  return { events, counts: out };
}

export const run = epochd.run(() => {
  // Each row's string ids of both fields (`none` where a row has none),
  // counted by pair in a table of (types + 1) x (subtypes + 1) cells: the
  // last of each side is "none". A few block copies and one loop over
  // typed arrays: no call per row.
  const rows = epochd.rows();
  const t = epochd.stringsByRow("type");
  const s = epochd.stringsByRow("subtype");
  const tids = t.ids, sids = s.ids;
  const width = s.none + 1;
  const cells = (t.none + 1) * width;
  const name = (ids, id) => (id === ids.none ? null : ids.strings[id]);
  const counts = new Map();
  if (cells <= 1 << 16) {
    const table = new Uint32Array(cells);
    for (let r = 0; r < rows; r++) table[tids[r] * width + sids[r]]++;
    for (let i = 0; i < cells; i++) {
      if (table[i] !== 0) add(counts, name(t, (i / width) | 0), name(s, i % width), table[i]);
    }
  } else {
    // Many distinct strings (not dictionary-coded): a map of pairs.
    const pairs = new Map();
    for (let r = 0; r < rows; r++) {
      const k = tids[r] * width + sids[r];
      pairs.set(k, (pairs.get(k) ?? 0) + 1);
    }
    for (const [k, n] of pairs) add(counts, name(t, Math.floor(k / width)), name(s, k % width), n);
  }
  return result(counts);
});

// Adds a result's counts (checked as the Rust job's serde types are).
function parse(v, counts) {
  epochd.checkFields(v, "Counts", ["events", "counts"]);
  if (!epochd.isU64(v.events)) epochd.fail("JSON: `events` must be a u64");
  if (!Array.isArray(v.counts)) epochd.fail("JSON: `counts` must be an array");
  for (const c of v.counts) {
    epochd.checkFields(c, "Count", ["type", "subtype", "count"], ["count"]);
    const type = c.type ?? null, subtype = c.subtype ?? null;
    if ((type !== null && typeof type !== "string") || (subtype !== null && typeof subtype !== "string")) {
      epochd.fail("JSON: `type` and `subtype` must be strings or null");
    }
    if (!epochd.isU64(c.count)) epochd.fail("JSON: `count` must be a u64");
    add(counts, type, subtype, c.count);
  }
}

export const merge = epochd.mergeJSON((a, b) => {
  const counts = new Map();
  parse(a, counts);
  parse(b, counts);
  return result(counts);
});
