// Reference job `count` in AssemblyScript: events per (type, subtype); merge
// adds. The same result bytes as wasm-jobs/count (see wasm-jobs/README.md):
// {"events":N,"counts":[{"type":"AV","subtype":"availability_cluster","count":n},...]}
// sorted by (type, subtype), null first, strings by bytes.
import {
  Buf, BytesMap, JsonKind, JsonValue, JsonWriter, NONE, RowStrings,
  finish, mergeWith, parseJsonBuf, rows, stringsByRow,
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

function name(rs: RowStrings, id: u32): Buf | null {
  if (id >= <u32>rs.strings.length) return null;
  return rs.strings.getLossy(<i32>id);
}

export function epochd_run(): i32 {
  const n = rows();
  const types = stringsByRow("type", n), subtypes = stringsByRow("subtype", n);
  const nt = <u32>types.strings.length, ns = <u32>subtypes.strings.length;
  const e = new Array<Entry>();
  if (<u64>(nt + 1) * <u64>(ns + 1) <= 1 << 16) {
    const w = ns + 1;
    const table = new StaticArray<u64>(<i32>((nt + 1) * w));
    for (let r: u32 = 0; r < n; r++) {
      let t = unchecked(types.ids[r]), s = unchecked(subtypes.ids[r]);
      if (t > nt) t = nt;
      if (s > ns) s = ns;
      unchecked(table[t * w + s]++);
    }
    for (let i = 0; i < table.length; i++) {
      const c = unchecked(table[i]);
      if (!c) continue;
      const x = new Entry();
      x.type = name(types, <u32>i / w);
      x.subtype = name(subtypes, <u32>i % w);
      x.count = c;
      e.push(x);
    }
  } else {
    const pairs = new BytesMap();
    const key = memory.data(8, 8);
    for (let r: u32 = 0; r < n; r++) {
      store<u32>(key, unchecked(types.ids[r]));
      store<u32>(key, unchecked(subtypes.ids[r]), 4);
      const at = pairs.entry(key, 8);
      pairs.values[at] += 1;
    }
    for (let i = 0; i < pairs.length; i++) {
      const k = pairs.keys.ptrOf(i);
      const x = new Entry();
      x.type = name(types, load<u32>(k));
      x.subtype = name(subtypes, load<u32>(k, 4));
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
