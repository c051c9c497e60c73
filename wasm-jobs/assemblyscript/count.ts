// Reference job `count` in AssemblyScript: events per (type, subtype); merge
// adds. The same result bytes as wasm-jobs/count (see wasm-jobs/README.md):
// {"events":N,"counts":[{"type":"AV","subtype":"availability_cluster","count":n},...]}
// sorted by (type, subtype), null first, strings by bytes.
import {
  BLOCK, Buf, BytesMap, JsonKind, JsonValue, JsonWriter, RowIds,
  finish, mergeWith, parseJsonBuf, rowIds, rows,
} from "../../sdk/assemblyscript/assembly/index";
export { epochd_abi_version } from "../../sdk/assemblyscript/assembly/index";

class Entry {
  type: Buf | null = null; // UTF-8 (lossy)
  subtype: Buf | null = null;
  count: u64 = 0;
}

function cmpOpt(a: Buf | null, b: Buf | null): i32 {
  if (a == null) return b == null ? 0 : -1; // None first
  if (b == null) return 1;
  return a.compare(b);
}
function cmpEntry(a: Entry, b: Entry): i32 {
  const c = cmpOpt(a.type, b.type);
  return c ? c : cmpOpt(a.subtype, b.subtype);
}

/** Sorts, adds equal keys, writes the result. */
function write(e: Array<Entry>, out: Buf): void {
  e.sort((a: Entry, b: Entry): i32 => cmpEntry(a, b));
  let events: u64 = 0;
  for (let i = 0; i < e.length; i++) events += e[i].count;
  const j = new JsonWriter(out);
  j.object();
  j.key("events");
  j.u64(events);
  j.key("counts");
  j.array();
  for (let i = 0; i < e.length; ) {
    let k = i + 1;
    let n = e[i].count;
    while (k < e.length && cmpEntry(e[i], e[k]) == 0) n += e[k++].count;
    if (n > 0) {
      const x = e[i];
      j.object();
      j.key("type");
      const t = x.type, s = x.subtype;
      if (t != null) j.stringBuf(t);
      else j.nullValue();
      j.key("subtype");
      if (s != null) j.stringBuf(s);
      else j.nullValue();
      j.key("count");
      j.u64(n);
      j.endObject();
    }
    i = k;
  }
  j.endArray();
  j.endObject();
}

function name(r: RowIds, id: u32): Buf | null {
  if (id >= <u32>r.strings.length) return null;
  return r.strings.getLossy(<i32>id);
}

/** Counts pair (t, s) in the table's cell: an id past a dictionary (NONE) in
 * the last cell of its side. */
// @ts-ignore: decorator
@inline function cell(table: usize, nt: u32, ns: u32, t: u32, s: u32): void {
  const at = table + (<usize>(min(t, nt) * (ns + 1) + min(s, ns)) << 3);
  store<u64>(at, load<u64>(at) + 1);
}

/** Counts the pairs (t[i], s[i]) of n rows in a table of (nt + 1) x (ns + 1)
 * cells (u64). Unrolled by eight: every loop head of a compiled job checks
 * the run's deadline, and fewer, wider iterations pay for it less often
 * (docs/BENCHMARKS.md, "Languages"). Its own function, with no call inside,
 * so that the loop keeps its values in registers; called through a function
 * reference (tallyOutOfLine), which Binaryen never inlines into epochd_run,
 * whose loop calls the host (see RowIds.get in the SDK). */
function tally(table: usize, nt: u32, ns: u32, t: usize, s: usize, n: u32): void {
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) {
    const tp = t + (<usize>i << 2), sp = s + (<usize>i << 2);
    cell(table, nt, ns, load<u32>(tp), load<u32>(sp));
    cell(table, nt, ns, load<u32>(tp, 4), load<u32>(sp, 4));
    cell(table, nt, ns, load<u32>(tp, 8), load<u32>(sp, 8));
    cell(table, nt, ns, load<u32>(tp, 12), load<u32>(sp, 12));
    cell(table, nt, ns, load<u32>(tp, 16), load<u32>(sp, 16));
    cell(table, nt, ns, load<u32>(tp, 20), load<u32>(sp, 20));
    cell(table, nt, ns, load<u32>(tp, 24), load<u32>(sp, 24));
    cell(table, nt, ns, load<u32>(tp, 28), load<u32>(sp, 28));
  }
  for (; i < n; i++) cell(table, nt, ns, load<u32>(t + (<usize>i << 2)), load<u32>(s + (<usize>i << 2)));
}
const tallyOutOfLine = tally;

export function epochd_run(): i32 {
  // Both fields read by row a block at a time, side by side (no per-row
  // array of the whole epoch), and their pairs of string ids counted: in a
  // table when both are dictionary-coded with few strings, else a map.
  const n = rows();
  const types = rowIds("type"), subtypes = rowIds("subtype");
  const nt = types.dictLen, ns = subtypes.dictLen;
  let table: usize = 0;
  const cells = <i64>(nt + 1) * <i64>(ns + 1);
  if (nt >= 0 && ns >= 0 && cells <= 1 << 16) {
    table = heap.alloc(<usize>cells << 3);
    memory.fill(table, 0, <usize>cells << 3);
  }
  const pairs = new BytesMap();
  const key = memory.data(8, 8);
  const t = heap.alloc(<usize>BLOCK << 2), s = heap.alloc(<usize>BLOCK << 2);
  for (let first: u32 = 0; first < n; first += <u32>BLOCK) {
    const k = n - first < <u32>BLOCK ? n - first : <u32>BLOCK;
    types.read(first, t, k);
    subtypes.read(first, s, k);
    if (table) {
      tallyOutOfLine(table, <u32>nt, <u32>ns, t, s, k);
    } else {
      for (let i: u32 = 0; i < k; i++) {
        store<u32>(key, load<u32>(t + (<usize>i << 2)));
        store<u32>(key, load<u32>(s + (<usize>i << 2)), 4);
        pairs.values[pairs.entry(key, 8)] += 1;
      }
    }
  }
  const e = new Array<Entry>();
  if (table) {
    const w = <u32>ns + 1;
    for (let i: u32 = 0; i < <u32>cells; i++) {
      const c = load<u64>(table + (<usize>i << 3));
      if (!c) continue;
      const x = new Entry();
      x.type = name(types, i / w);
      x.subtype = name(subtypes, i % w);
      x.count = c;
      e.push(x);
    }
  } else {
    for (let i = 0; i < pairs.length; i++) {
      const p = pairs.keys.ptrOf(i);
      const x = new Entry();
      x.type = name(types, load<u32>(p));
      x.subtype = name(subtypes, load<u32>(p, 4));
      x.count = pairs.values[i];
      e.push(x);
    }
  }
  const out = new Buf();
  write(e, out);
  return finish(out);
}

/** Reads a result's entries into e. */
function parse(input: Buf, e: Array<Entry>, err: Buf): bool {
  const ok = parseInto(input, e, err);
  if (!ok) err.prepend("JSON: "); // as the Rust job's messages
  return ok;
}
function parseInto(input: Buf, e: Array<Entry>, err: Buf): bool {
  const root = parseJsonBuf(input, err);
  if (root == null) return false;
  const f = new Array<JsonValue | null>();
  if (!root.fields("Counts", ["events", "counts"], f, err)) return false;
  const events = f[0], counts = f[1];
  if (events == null || !events.isU64()) {
    err.str("`events` must be a u64");
    return false;
  }
  if (counts == null || counts.kind != JsonKind.Arr) {
    err.str("`counts` must be an array");
    return false;
  }
  const c = new Array<JsonValue | null>();
  for (let i = 0; i < counts.items.length; i++) {
    if (!counts.items[i].fields("Count", ["type", "subtype", "count"], c, err)) return false;
    const x = new Entry();
    for (let k = 0; k < 2; k++) {
      const s = c[k];
      if (s != null && s.kind == JsonKind.Str) {
        if (k) x.subtype = s.text;
        else x.type = s.text;
      } else if (s != null && s.kind != JsonKind.Null) {
        err.str("`type` and `subtype` must be strings or null");
        return false;
      }
    }
    const n = c[2];
    if (n == null || !n.isU64()) {
      err.str("`count` must be a u64");
      return false;
    }
    x.count = n.toU64();
    e.push(x);
  }
  return true;
}

function merge(a: Buf, b: Buf, out: Buf, err: Buf): bool {
  const e = new Array<Entry>();
  if (!parse(a, e, err) || !parse(b, e, err)) return false;
  write(e, out);
  return true;
}

export function epochd_merge(): i32 {
  return mergeWith(merge);
}
