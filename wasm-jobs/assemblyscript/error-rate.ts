// Reference job `error-rate` in AssemblyScript: the share of WEB events whose
// tuning.status is an integer >= 500, per dc; merge adds per dc and
// recomputes the rates. The same result bytes as wasm-jobs/error-rate:
// {"web":400,"errors":3,"rate":0.0075,"dcs":{"ams4":{"web":400,"errors":3,"rate":0.0075}}}
import {
  BLOCK, Buf, BytesMap, INT, JsonKind, JsonValue, JsonWriter,
  column, dc, finish, mergeWith, parseJsonBuf, rowIds, rows, utf8Lossy,
} from "../../sdk/assemblyscript/assembly/index";
export { epochd_abi_version } from "../../sdk/assemblyscript/assembly/index";

const ERROR_STATUS: i64 = 500;

/** dc (UTF-8) -> web and error counts. */
class Rates {
  dcs: BytesMap = new BytesMap(); // value: web
  errs: Array<u64> = [];

  add(p: usize, n: i32, web: u64, errors: u64, replace: bool): void {
    const at = this.dcs.entry(p, n);
    if (this.dcs.fresh) this.errs.push(0);
    if (replace) {
      this.dcs.values[at] = 0;
      this.errs[at] = 0;
    }
    this.dcs.values[at] += web;
    this.errs[at] += errors;
  }
}

function rate(j: JsonWriter, web: u64, errors: u64): void {
  j.key("web");
  j.u64(web);
  j.key("errors");
  j.u64(errors);
  j.key("rate");
  if (web > 0) j.f64(<f64>errors / <f64>web);
  else j.nullValue();
}

function write(r: Rates, out: Buf): void {
  let web: u64 = 0, errors: u64 = 0;
  for (let i = 0; i < r.dcs.length; i++) {
    web += r.dcs.values[i];
    errors += r.errs[i];
  }
  const order = r.dcs.sortedEntries();
  const j = new JsonWriter(out);
  j.object();
  rate(j, web, errors);
  j.key("dcs");
  j.object();
  for (let i = 0; i < order.length; i++) {
    const at = order[i];
    j.keyBytes(r.dcs.keys.ptrOf(at), r.dcs.keys.lenOf(at));
    j.object();
    rate(j, r.dcs.values[at], r.errs[at]);
    j.endObject();
  }
  j.endObject();
  j.endObject();
}

/** How many of the 8 ids at p are `id`: summed as a tree, not a chain of
 * adds each waiting for the one before. */
// @ts-ignore: decorator
@inline function equal8(p: usize, id: u32): u32 {
  return (
    ((<u32>(load<u32>(p) == id) + <u32>(load<u32>(p, 4) == id)) +
      (<u32>(load<u32>(p, 8) == id) + <u32>(load<u32>(p, 12) == id))) +
    ((<u32>(load<u32>(p, 16) == id) + <u32>(load<u32>(p, 20) == id)) +
      (<u32>(load<u32>(p, 24) == id) + <u32>(load<u32>(p, 28) == id)))
  );
}

/** How many of the n ids at `ids` are `id`. In chunks of 64, one sum per
 * chunk: each loop head of a compiled job checks the run's deadline, so
 * each iteration does 64 compares rather than one (docs/BENCHMARKS.md,
 * "Languages"). Its own function, with no call inside, so that the loop
 * keeps its values in registers; called through a function reference
 * (countEqualOutOfLine), which Binaryen never inlines into epochd_run, whose
 * loop calls the host (see RowIds.get in the SDK). */
function countEqual(ids: usize, n: u32, id: u32): u64 {
  let total: u64 = 0;
  let i: u32 = 0;
  for (; i + 64 <= n; i += 64) {
    const p = ids + (<usize>i << 2);
    const inChunk =
      ((equal8(p, id) + equal8(p + 32, id)) + (equal8(p + 64, id) + equal8(p + 96, id))) +
      ((equal8(p + 128, id) + equal8(p + 160, id)) + (equal8(p + 192, id) + equal8(p + 224, id)));
    total += <u64>inChunk;
  }
  for (; i < n; i++) total += <u64>(load<u32>(ids + (<usize>i << 2)) == id);
  return total;
}
const countEqualOutOfLine = countEqual;

export function epochd_run(): i32 {
  // WEB events counted on the ids of `type`, read a block of rows at a
  // time; then the type of each error looked up (errors are few).
  const n = rows();
  const types = rowIds("type");
  const webName = Buf.of("WEB");
  let web: u64 = 0, errors: u64 = 0;
  let webId: i32 = -1;
  const ids = heap.alloc(<usize>BLOCK << 2);
  for (let first: u32 = 0; first < n; first += <u32>BLOCK) {
    const k = n - first < <u32>BLOCK ? n - first : <u32>BLOCK;
    types.read(first, ids, k);
    // Known from the start with a dictionary; else once a row has it.
    if (webId < 0) webId = types.strings.findBytes(webName.ptr, webName.len);
    if (webId >= 0) web += countEqualOutOfLine(ids, k, <u32>webId);
  }
  if (webId >= 0) {
    const status = column("tuning.status", INT);
    if (status != null) {
      const s = status.scan();
      while (s.next()) {
        const statusRows = s.rows, values = s.values, k = s.n;
        for (let i: u32 = 0; i < k; i++)
          if (
            load<i64>(values + (<usize>i << 3)) >= ERROR_STATUS &&
            types.get(load<u32>(statusRows + (<usize>i << 2))) == <u32>webId
          )
            errors++;
      }
    }
  }
  const name = new Buf();
  const d = dc();
  utf8Lossy(name, d.ptr, d.len);
  const r = new Rates();
  r.add(name.ptr, name.len, web, errors, false);
  const out = new Buf();
  write(r, out);
  return finish(out);
}

function isF64(v: JsonValue | null): bool {
  return v == null || v.kind == JsonKind.Null || v.kind == JsonKind.Num;
}

/** One result's counts, added to r. */
function parse(input: Buf, r: Rates, err: Buf): bool {
  const ok = parseInto(input, r, err);
  if (!ok) err.prepend("JSON: "); // as the Rust job's messages
  return ok;
}
function parseInto(input: Buf, r: Rates, err: Buf): bool {
  const root = parseJsonBuf(input, err);
  if (root == null) return false;
  const f = new Array<JsonValue | null>();
  if (!root.fields("ErrorRate", ["web", "errors", "rate", "dcs"], f, err)) return false;
  const fw = f[0], fe = f[1], fd = f[3];
  if (fw == null || fe == null || fd == null || !fw.isU64() || !fe.isU64() || !isF64(f[2]) || fd.kind != JsonKind.Obj) {
    err.str("expected web, errors (u64), rate (f64 or null), dcs (object)");
    return false;
  }
  const mine = new Rates();
  const c = new Array<JsonValue | null>();
  for (let i = 0; i < fd.items.length; i++) {
    if (!fd.items[i].fields("Rate", ["web", "errors", "rate"], c, err)) return false;
    const cw = c[0], ce = c[1];
    if (cw == null || ce == null || !cw.isU64() || !ce.isU64() || !isF64(c[2])) {
      err.str("expected web, errors (u64), rate (f64 or null)");
      return false;
    }
    // A repeated dc within one result: the last one counts (serde's map).
    const k = fd.keys[i];
    mine.add(k.ptr, k.len, cw.toU64(), ce.toU64(), true);
  }
  for (let i = 0; i < mine.dcs.length; i++)
    r.add(mine.dcs.keys.ptrOf(i), mine.dcs.keys.lenOf(i), mine.dcs.values[i], mine.errs[i], false);
  return true;
}

function merge(a: Buf, b: Buf, out: Buf, err: Buf): bool {
  const r = new Rates();
  if (!parse(a, r, err) || !parse(b, r, err)) return false;
  write(r, out);
  return true;
}

export function epochd_merge(): i32 {
  return mergeWith(merge);
}
