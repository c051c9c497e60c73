// Reference job `latency` in AssemblyScript: p50/p95/p99 of tuning.wallclock
// (or the field named by the config) per subtype, from the mergeable
// log-linear histogram (LogHistogram). The same result bytes as
// wasm-jobs/latency:
// {"field":"tuning.wallclock","subtypes":{"app":{"p50":..,"p95":..,"p99":..,"histogram":{...}}}}
import {
  Buf, BytesMap, FLOAT, INT, JsonKind, JsonValue, JsonWriter, LogHistogram, NONE,
  columnBytes, config, failBuf, finish, mergeWith, parseJsonBuf, rowIds,
  utf8Check, utf8ErrorAt, utf8ErrorLen,
} from "../../sdk/assemblyscript/assembly/index";
export { epochd_abi_version } from "../../sdk/assemblyscript/assembly/index";

const DEFAULT_FIELD = "tuning.wallclock";

/** Histograms by subtype name (UTF-8). */
class ByName {
  names: BytesMap = new BytesMap(); // entry i: h[i]
  h: Array<LogHistogram> = [];

  slot(p: usize, n: i32, replace: bool): LogHistogram {
    const at = this.names.entry(p, n);
    if (this.names.fresh) this.h.push(new LogHistogram());
    else if (replace) this.h[at] = new LogHistogram();
    return this.h[at];
  }
}

function write(field: Buf, b: ByName, out: Buf): void {
  const order = b.names.sortedEntries();
  const j = new JsonWriter(out);
  j.object();
  j.key("field");
  j.stringBuf(field);
  j.key("subtypes");
  j.object();
  for (let i = 0; i < order.length; i++) {
    const at = order[i];
    const h = b.h[at];
    if (!h.count) continue;
    j.keyBytes(b.names.keys.ptrOf(at), b.names.keys.lenOf(at));
    j.object();
    j.key("p50");
    j.u64(h.percentile(50));
    j.key("p95");
    j.u64(h.percentile(95));
    j.key("p99");
    j.u64(h.percentile(99));
    j.key("histogram");
    h.writeJson(j);
    j.endObject();
  }
  j.endObject();
  j.endObject();
}

/** Unicode White_Space, as Rust's str::trim: the length of the one at p, or 0. */
function spaceAt(p: usize, n: i32): i32 {
  if (n <= 0) return 0;
  const c = <u32>load<u8>(p);
  if (c == 32 || (c >= 0x09 && c <= 0x0d)) return 1;
  if (n >= 2 && c == 0xc2) {
    const d = <u32>load<u8>(p + 1);
    if (d == 0x85 || d == 0xa0) return 2;
  }
  if (n >= 3 && (c & 0xf0) == 0xe0) {
    const u = ((c & 0x0f) << 12) | ((<u32>load<u8>(p + 1) & 0x3f) << 6) | (<u32>load<u8>(p + 2) & 0x3f);
    if (u == 0x1680 || (u >= 0x2000 && u <= 0x200a) || u == 0x2028 || u == 0x2029 || u == 0x202f || u == 0x205f || u == 0x3000)
      return 3;
  }
  return 0;
}
/** The length of the white space ending at p + n, or 0. */
function spaceBefore(p: usize, n: i32): i32 {
  if (n >= 1 && spaceAt(p + <usize>(n - 1), 1) == 1) return 1;
  if (n >= 2 && spaceAt(p + <usize>(n - 2), 2) == 2) return 2;
  if (n >= 3 && spaceAt(p + <usize>(n - 3), 3) == 3) return 3;
  return 0;
}

/** The field: the config (UTF-8, trimmed) or DEFAULT_FIELD; null (and the
 * run's failure message set) on bad UTF-8. */
function fieldOf(): Buf | null {
  const c = config();
  if (!utf8Check(c.ptr, c.len)) {
    const m = new Buf();
    if (!utf8ErrorLen) {
      m.str("invalid UTF-8: incomplete utf-8 byte sequence from index ");
      m.u64(<u64>utf8ErrorAt);
    } else {
      m.str("invalid UTF-8: invalid utf-8 sequence of ");
      m.u64(<u64>utf8ErrorLen);
      m.str(" bytes from index ");
      m.u64(<u64>utf8ErrorAt);
    }
    failBuf(m);
    return null;
  }
  let p = c.ptr, n = c.len, s = 0;
  while ((s = spaceAt(p, n))) {
    p += <usize>s;
    n -= s;
  }
  while ((s = spaceBefore(p, n))) n -= s;
  return n ? Buf.copy(p, n) : Buf.of(DEFAULT_FIELD);
}

/** One histogram per subtype id, grown as ids appear (without a dictionary,
 * strings get ids as rows are read). */
class Hists {
  /** len histograms (references), room for cap. */
  v: usize = 0;
  len: u32 = 0;
  cap: u32 = 0;

  /** Subtype id's histogram; the growing is out of line (growOutOfLine). */
  @inline at(id: u32): LogHistogram {
    if (id < this.len) return changetype<LogHistogram>(load<usize>(this.v + <usize>id * sizeof<usize>()));
    return growOutOfLine(this, id);
  }

  /** Makes the histograms up to `id`; returns id's. */
  grow(id: u32): LogHistogram {
    if (id >= this.cap) {
      let cap = this.cap ? this.cap * 2 : 64;
      if (cap <= id) cap = id + 1;
      const v = heap.alloc(<usize>cap * sizeof<usize>());
      if (this.len) memory.copy(v, this.v, <usize>this.len * sizeof<usize>());
      this.v = v;
      this.cap = cap;
    }
    for (; this.len <= id; this.len++)
      store<usize>(this.v + <usize>this.len * sizeof<usize>(), changetype<usize>(new LogHistogram()));
    return changetype<LogHistogram>(load<usize>(this.v + <usize>id * sizeof<usize>()));
  }
}
/** Hists.at's slow path, called through a function reference so that it stays
 * out of line (see RowIds.get in the SDK). */
const growOutOfLine = (h: Hists, id: u32): LogHistogram => h.grow(id);

export function epochd_run(): i32 {
  const field = fieldOf();
  if (field == null) return 1;
  // The subtype of each value's row, read a window of rows at a time as the
  // values' rows ascend.
  const subtypes = rowIds("subtype");
  const hs = new Hists();
  const ints = columnBytes(field, INT);
  if (ints != null) {
    const s = ints.scan();
    while (s.next()) {
      const valueRows = s.rows, values = s.values, n = s.n;
      for (let i: u32 = 0; i < n; i++) {
        const id = subtypes.get(load<u32>(valueRows + (<usize>i << 2)));
        const v = load<i64>(values + (<usize>i << 3));
        if (id == NONE || v < 0) continue;
        hs.at(id).record(<u64>v);
      }
    }
  }
  const floats = columnBytes(field, FLOAT);
  if (floats != null) {
    const s = floats.scan();
    while (s.next()) {
      const valueRows = s.rows, values = s.values, n = s.n;
      for (let i: u32 = 0; i < n; i++) {
        const id = subtypes.get(load<u32>(valueRows + (<usize>i << 2)));
        const v = load<f64>(values + (<usize>i << 3));
        if (id == NONE) continue;
        if (!(v >= 0.0) || v == Infinity) continue; // NaN, negative, infinite
        // truncated toward zero, saturating at 2^64 - 1
        const u: u64 = v >= 18446744073709551616.0 ? U64.MAX_VALUE : <u64>v;
        hs.at(id).record(u);
      }
    }
  }
  const b = new ByName();
  for (let id: u32 = 0; id < hs.len; id++) {
    const name = subtypes.strings.getLossy(<i32>id);
    b.slot(name.ptr, name.len, false).merge(hs.at(id));
  }
  const out = new Buf();
  write(field, b, out);
  return finish(out);
}

/** Rust's {:?} of a string (printable non-ASCII characters kept as is). */
function debugStr(m: Buf, s: Buf): void {
  const hex = "0123456789abcdef";
  m.byte(34);
  for (let i = 0; i < s.len; i++) {
    const c = <u32>s.at(i);
    if (c == 34) m.str('\\"');
    else if (c == 92) m.str("\\\\");
    else if (c == 10) m.str("\\n");
    else if (c == 13) m.str("\\r");
    else if (c == 9) m.str("\\t");
    else if (c == 0) m.str("\\0");
    else if (c < 0x20 || c == 0x7f) {
      m.str("\\u{");
      if (c >> 4) m.byte(<u32>hex.charCodeAt(c >> 4));
      m.byte(<u32>hex.charCodeAt(c & 15));
      m.byte(125);
    } else m.byte(c);
  }
  m.byte(34);
}

function parse(input: Buf, field: Buf, b: ByName, err: Buf): bool {
  const ok = parseInto(input, field, b, err);
  if (!ok) err.prepend("JSON: "); // as the Rust job's messages
  return ok;
}
function parseInto(input: Buf, field: Buf, b: ByName, err: Buf): bool {
  const root = parseJsonBuf(input, err);
  if (root == null) return false;
  const f = new Array<JsonValue | null>();
  if (!root.fields("Latency", ["field", "subtypes"], f, err)) return false;
  const ff = f[0], fs = f[1];
  if (ff == null || ff.kind != JsonKind.Str || fs == null || fs.kind != JsonKind.Obj) {
    err.str("expected field (a string) and subtypes (an object)");
    return false;
  }
  field.pushBuf(ff.text);
  const mine = new ByName();
  const s = new Array<JsonValue | null>();
  for (let i = 0; i < fs.items.length; i++) {
    if (!fs.items[i].fields("Summary", ["p50", "p95", "p99", "histogram"], s, err)) return false;
    const p50 = s[0], p95 = s[1], p99 = s[2], hj = s[3];
    if (p50 == null || p95 == null || p99 == null || hj == null || !p50.isU64() || !p95.isU64() || !p99.isU64()) {
      err.str("expected p50, p95, p99 (u64) and histogram");
      return false;
    }
    const h = LogHistogram.fromJson(hj, err);
    if (h == null) return false;
    // A repeated subtype within one result: the last one counts (serde's map).
    const k = fs.keys[i];
    mine.slot(k.ptr, k.len, true).merge(h);
  }
  for (let i = 0; i < mine.names.length; i++)
    b.slot(mine.names.keys.ptrOf(i), mine.names.keys.lenOf(i), false).merge(mine.h[i]);
  return true;
}

function merge(a: Buf, b: Buf, out: Buf, err: Buf): bool {
  const fa = new Buf(), fb = new Buf();
  const all = new ByName(), other = new ByName();
  if (!parse(a, fa, all, err) || !parse(b, fb, other, err)) return false;
  if (!fa.equals(fb)) {
    err.str("cannot merge latencies of ");
    debugStr(err, fa);
    err.str(" and ");
    debugStr(err, fb);
    return false;
  }
  for (let i = 0; i < other.names.length; i++)
    all.slot(other.names.keys.ptrOf(i), other.names.keys.lenOf(i), false).merge(other.h[i]);
  write(fa, all, out);
  return true;
}

export function epochd_merge(): i32 {
  return mergeWith(merge);
}
