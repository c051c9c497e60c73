// The AssemblyScript SDK for epochd jobs (job ABI v1, sdk/ABI.md).
//
// A job's entry file exports `epochd_run` (and `epochd_merge`, `epochd_init`
// if it has them) and re-exports `epochd_abi_version` from here; build it
// with `--runtime stub --use abort=<this file>/epochdAbort` (README.md).
import * as sys from "./sys";
import { Buf, bytesCompare, utf8Lossy } from "./buf";
import { JsonWriter } from "./json";

export { sys };
export * from "./buf";
export * from "./json";
export * from "./sketch";

export const ABI_VERSION: i32 = 1;

/** Required export: the ABI version this module was written for. */
export function epochd_abi_version(): i32 {
  return ABI_VERSION;
}

// Error codes (negative returns of the ABI).
export const NOT_FOUND: i32 = -1;
export const BAD_HANDLE: i32 = -2;
export const OUT_OF_RANGE: i32 = -3;
export const WRONG_TYPE: i32 = -4;
export const TOO_LARGE: i32 = -5;
export const NOT_NOW: i32 = -6;

// Value types.
export const INT: i32 = 0;
export const FLOAT: i32 = 1;
export const BOOL: i32 = 2;
export const STR: i32 = 3;
export const NULL: i32 = 4;
export const RAW: i32 = 5;
// Container kinds.
export const MAP: i32 = 0;
export const LIST: i32 = 1;
// Log levels.
export const LOG_ERROR: i32 = 0;
export const LOG_WARN: i32 = 1;
export const LOG_INFO: i32 = 2;
export const LOG_DEBUG: i32 = 3;

/** Values per block of a Scan. */
export const BLOCK: i32 = 8192;
/** A row with no string (RowStrings). */
export const NONE: u32 = 0xffffffff;

/** The module's abort (`--use abort=...`): the message goes to `fail`, then
 * the run traps. No `env.abort` import remains. */
export function epochdAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const m = new Buf();
  m.str("abort: ");
  if (message != null) m.str(message);
  if (fileName != null) {
    m.str(" at ");
    m.str(fileName);
    m.byte(58);
    m.u64(line);
    m.byte(58);
    m.u64(column);
  }
  sys.fail(m.ptr, m.len);
  unreachable();
}

function oom(): void {
  const m = Buf.of("epochd AssemblyScript SDK: out of memory");
  sys.fail(m.ptr, m.len);
  unreachable();
}

/** Memory aligned to `align` (a power of two), never freed. */
export function alignedAlloc(size: usize, align: usize): usize {
  const p = heap.alloc(size + align);
  if (!p) oom();
  return (p + align - 1) & ~(align - 1);
}

// ---------------------------------------------------------------- the epoch

/** The epoch (unix second). */
export function epoch(): i64 {
  return sys.epoch();
}
/** 0 for the primary commit, 1.. for supplementary commits of late events. */
export function seq(): u32 {
  const s = sys.seq();
  return s < 0 ? 0 : <u32>s;
}
/** The number of events (rows 0..rows). */
export function rows(): u32 {
  const r = sys.rows();
  return r < 0 ? 0 : <u32>r;
}

// Reads a variable-length value: one call with the room there is, a second
// one with the full length if it did not fit.
const enum Var {
  Dc,
  DictEntry,
  ColumnBytes,
  Config,
  MergeInput,
}
function readCall(what: Var, a: i32, b: i32, dst: usize, cap: i32): i32 {
  switch (what) {
    case Var.Dc:
      return sys.dc(dst, cap);
    case Var.DictEntry:
      return sys.dict_entry(a, b, dst, cap);
    case Var.ColumnBytes:
      return sys.column_bytes(a, b, dst, cap);
    case Var.Config:
      return sys.config_read(dst, cap);
    default:
      return sys.merge_input(a, dst, cap);
  }
}
function readVar(out: Buf, what: Var, a: i32, b: i32): i32 {
  out.reserve(256);
  const cap = out.cap - out.len;
  let n = readCall(what, a, b, out.ptr + <usize>out.len, cap);
  if (n < 0) return n;
  if (n > cap) {
    out.reserve(n);
    n = readCall(what, a, b, out.ptr + <usize>out.len, n);
    if (n < 0) return n;
  }
  out.len += n;
  return n;
}

/** The commit's dc name, raw bytes. */
export function dc(): Buf {
  const b = new Buf();
  readVar(b, Var.Dc, 0, 0);
  return b;
}

// ---------------------------------------------------------------- columns

/** A column of one field path and value type. */
export class Column {
  handle: i32 = -1;
  type: i32 = 0;
  /** Number of values (rows holding the field with this type). */
  len: u32 = 0;
  /** Value i is row i. */
  dense: bool = false;
  /** STR with a dictionary: its size; else -1. */
  dictLen: i32 = -1;

  /** Wraps a handle the host returned (e.g. container_keys); null on an error code. */
  static fromHandle(h: i32, type: i32): Column | null {
    if (h < 0) return null;
    const len = sys.column_len(h);
    if (len < 0) return null;
    const c = new Column();
    c.handle = h;
    c.type = type;
    c.len = <u32>len;
    c.dense = sys.column_dense(h) == 1;
    if (type == STR) {
      const d = sys.dict_len(h);
      c.dictLen = d >= 0 ? d : -1;
    }
    return c;
  }

  /** Scans the values in blocks (see Scan). */
  scan(): Scan {
    return new Scan(this);
  }

  /** Appends the bytes of value `index` of a STR or RAW column to `out`;
   * the length, or a negative code. */
  bytes(index: u32, out: Buf): i32 {
    if (this.type == STR && this.dictLen >= 0) {
      const id = memory.data(8, 8);
      const r = sys.column_ids(this.handle, <i32>index, 1, id);
      if (r < 0) return r;
      if (r == 0) return OUT_OF_RANGE;
      return readVar(out, Var.DictEntry, this.handle, <i32>load<u32>(id));
    }
    return readVar(out, Var.ColumnBytes, this.handle, <i32>index);
  }

  /** The index of the first value at `row` or after it (`len` when none):
   * where a window of rows starts in the values. Direct when dense, else a
   * binary search over host calls (about log2(len)). */
  indexFrom(row: u32): u32 {
    if (this.dense) return row < this.len ? row : this.len;
    const at = memory.data(8, 8);
    let lo: u32 = 0, hi = this.len;
    while (lo < hi) {
      const mid = lo + (hi - lo) / 2;
      if (sys.column_rows(this.handle, <i32>mid, 1, at) == 1 && load<u32>(at) < row) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The index of the value at `row`, or -1 (see indexFrom). */
  indexOf(row: u32): i64 {
    const index = this.indexFrom(row);
    if (index >= this.len) return -1;
    if (this.dense) return index == row ? <i64>index : -1;
    const at = memory.data(8, 8);
    if (sys.column_rows(this.handle, <i32>index, 1, at) != 1 || load<u32>(at) != row) return -1;
    return <i64>index;
  }

  /** The column's dictionary (one host call per entry); null if it has none. */
  dictionary(): Dict | null {
    if (this.type != STR || this.dictLen < 0) return null;
    const d = new Dict();
    const t = new Buf();
    for (let id = 0; id < this.dictLen; id++) {
      t.clear();
      if (readVar(t, Var.DictEntry, this.handle, id) < 0) t.clear();
      d.push(t.ptr, t.len);
    }
    return d;
  }
}

/** The column of (path, type), or null when no event has one. */
export function column(path: string, type: i32): Column | null {
  const p = Buf.of(path);
  return Column.fromHandle(sys.column(p.ptr, p.len, type), type);
}
export function columnBytes(path: Buf, type: i32): Column | null {
  return Column.fromHandle(sys.column(path.ptr, path.len, type), type);
}

// Block buffers (rows: BLOCK u32, values: BLOCK u64), 4 KiB-aligned, reused
// by the Scans that ended.
const pool = new Array<usize>();
function takeBlock(bytes: usize): usize {
  return alignedAlloc(bytes, 4096);
}

/** Reads a column in blocks of up to BLOCK values into 4 KiB-aligned
 * buffers: `while (s.next()) for (let i = 0; i < s.n; i++) ... s.row(i),
 * s.i64(i) / s.f64(i) / s.u8(i) / s.id(i)`. The buffers go back to a pool
 * at the end (or on `end()` when leaving early). */
export class Scan {
  col: Column;
  /** Values start..start+n are in the buffers. */
  start: u32 = 0;
  n: u32 = 0;
  rows: usize = 0;
  values: usize = 0;
  private done: bool = false;

  constructor(col: Column) {
    this.col = col;
    if (pool.length >= 2) {
      this.values = pool.pop();
      this.rows = pool.pop();
    } else {
      this.rows = takeBlock(<usize>BLOCK * 4);
      this.values = takeBlock(<usize>BLOCK * 8);
    }
  }

  @inline row(i: u32): u32 {
    return load<u32>(this.rows + (<usize>i << 2));
  }
  @inline i64(i: u32): i64 {
    return load<i64>(this.values + (<usize>i << 3));
  }
  @inline f64(i: u32): f64 {
    return load<f64>(this.values + (<usize>i << 3));
  }
  @inline u8(i: u32): u8 {
    return load<u8>(this.values + <usize>i);
  }
  @inline id(i: u32): u32 {
    return load<u32>(this.values + (<usize>i << 2));
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.n = 0;
    pool.push(this.rows);
    pool.push(this.values);
  }

  /** The next block: true with `n` > 0 values, or false at the end. */
  next(): bool {
    if (this.done) return false;
    const c = this.col;
    const start = this.start + this.n;
    this.start = start;
    this.n = 0;
    if (start >= c.len) {
      this.end();
      return false;
    }
    let want = c.len - start;
    if (want > <u32>BLOCK) want = <u32>BLOCK;
    let got = <i32>want;
    const h = c.handle, s = <i32>start, w = <i32>want, dst = this.values;
    if (c.type == INT) got = sys.column_i64(h, s, w, dst);
    else if (c.type == FLOAT) got = sys.column_f64(h, s, w, dst);
    else if (c.type == BOOL) got = sys.column_u8(h, s, w, dst);
    else if (c.type == STR && c.dictLen >= 0) got = sys.column_ids(h, s, w, dst);
    if (got <= 0) {
      this.end();
      return false;
    }
    want = <u32>got;
    if (c.dense) {
      for (let i: u32 = 0; i < want; i++) store<u32>(this.rows + (<usize>i << 2), start + i);
    } else {
      const r = sys.column_rows(h, s, <i32>want, this.rows);
      if (r <= 0) {
        this.end();
        return false;
      }
      if (<u32>r < want) want = <u32>r;
    }
    this.n = want;
    return true;
  }
}

// ---------------------------------------------------------------- strings

/** A list of byte strings, numbered from 0. */
export class Dict {
  bytes: Buf = new Buf();
  private offsets: Array<i32> = [0];

  get length(): i32 {
    return this.offsets.length - 1;
  }
  push(p: usize, n: i32): void {
    this.bytes.push(p, n);
    this.offsets.push(this.bytes.len);
  }
  pushBuf(b: Buf): void {
    this.push(b.ptr, b.len);
  }
  /** Where string `id` starts (valid until the next push). */
  @inline ptrOf(id: i32): usize {
    return this.bytes.ptr + <usize>unchecked(this.offsets[id]);
  }
  @inline lenOf(id: i32): i32 {
    return unchecked(this.offsets[id + 1]) - unchecked(this.offsets[id]);
  }
  /** A copy of string `id`. */
  get(id: i32): Buf {
    return Buf.copy(this.ptrOf(id), this.lenOf(id));
  }
  /** String `id` as UTF-8 (invalid sequences replaced). */
  getLossy(id: i32): Buf {
    const b = new Buf();
    utf8Lossy(b, this.ptrOf(id), this.lenOf(id));
    return b;
  }
  /** Byte-wise order of strings `a` and `b`. */
  compare(a: i32, b: i32): i32 {
    return bytesCompare(this.ptrOf(a), this.lenOf(a), this.ptrOf(b), this.lenOf(b));
  }
  /** The id of a string, or -1 (linear search). */
  findBytes(p: usize, n: i32): i32 {
    for (let i = 0; i < this.length; i++)
      if (bytesCompare(this.ptrOf(i), this.lenOf(i), p, n) == 0) return i;
    return -1;
  }
  find(s: string): i32 {
    const b = Buf.of(s);
    return this.findBytes(b.ptr, b.len);
  }
}

/** For every row of a space, the id of its string at a path (NONE when the
 * row has no string there): dictionary ids when the column has one, else
 * strings interned in order of first appearance. Holds 4 bytes per row of
 * the space: to read a field block by block, use RowIds. */
export class RowStrings {
  ids: StaticArray<u32>;
  strings: Dict = new Dict();
  /** All NONE (`fill` false: left as allocated, to be written whole). */
  constructor(space: u32, fill: bool = true) {
    this.ids = new StaticArray<u32>(<i32>space);
    if (fill) memory.fill(changetype<usize>(this.ids), 0xff, <usize>space << 2);
  }
  get space(): u32 {
    return <u32>this.ids.length;
  }
  /** The id at `row` (NONE outside the space). */
  @inline id(row: u32): u32 {
    return row < <u32>this.ids.length ? unchecked(this.ids[row]) : NONE;
  }

  /** The ids of `col`'s rows 0..space (all NONE when `col` is null): one
   * RowIds read over the whole space. */
  static ofColumn(col: Column | null, space: u32): RowStrings {
    const r = new RowIds(col);
    const rs = new RowStrings(space, false);
    r.read(0, changetype<usize>(rs.ids), space);
    rs.strings = r.strings;
    return rs;
  }
}

/** The strings of the STR column at `path`, by row, over rows 0..space
 * (all NONE when there is no such column). */
export function stringsByRow(path: string, space: u32): RowStrings {
  return RowStrings.ofColumn(column(path, STR), space);
}

/** The string ids of a field's rows, read one window of rows at a time: what
 * RowStrings holds for the whole epoch, without its 4 bytes per row, so that
 * several fields (and numeric columns) can be read side by side in blocks of
 * rows that stay in the cache:
 *
 *     const t = rowIds("type");
 *     t.read(firstRow, out, n);   // ids of rows firstRow..firstRow+n into out
 *     const id = t.get(row);      // one row's id; NONE where none
 *     ... t.strings: the strings behind the ids ...
 *
 * With a dictionary, ids are the dictionary's and `strings` holds every
 * string from the start (`dictLen` >= 0; 0 without a column). Without one
 * (mostly distinct strings, `dictLen` -1), strings are interned as the reads
 * meet them, in order of first appearance, so a string keeps its id across
 * windows; `strings` then holds those met so far.
 *
 * Per read: one host copy for a dense dictionary-coded field (the usual
 * type, subtype, dc); a binary search for the first value and the rows and
 * ids of the values for a sparse one; one host call per value without a
 * dictionary. */
export class RowIds {
  /** The column read; null: every row none. */
  col: Column | null;
  /** The number of strings when every id is known before any read: the
   * dictionary's size (0 without a column); -1 without a dictionary. Ids
   * are below it, so a job can size a table by it. */
  dictLen: i32 = 0;
  /** The strings behind the ids. */
  strings: Dict;
  /** Without a dictionary: string -> id (its keys are `strings`). */
  private interned: BytesMap | null = null;
  /** The last window get() read: the ids of rows windowFirst..+windowLen. */
  private window: usize = 0;
  private windowFirst: u32 = 0;
  private windowLen: u32 = 0;
  /** Scratch (BLOCK each, made on first use): the rows and ids of a block
   * of values, and one value's bytes. */
  private rows: usize = 0;
  private ids: usize = 0;
  private bytes: Buf = new Buf();

  constructor(col: Column | null) {
    this.col = col;
    const d = col != null ? col.dictionary() : null;
    if (col == null) {
      this.strings = new Dict(); // no column: every row none, no strings
    } else if (d != null) {
      this.dictLen = d.length;
      this.strings = d;
    } else {
      this.dictLen = -1;
      const m = new BytesMap();
      this.interned = m;
      this.strings = m.keys;
    }
  }

  /** Writes the ids of rows firstRow..firstRow+n to `out` (n u32s): NONE
   * where the row holds no string (or is past the epoch's rows). */
  read(firstRow: u32, out: usize, n: u32): void {
    const col = this.col;
    if (col != null && this.dictLen >= 0 && col.dense) {
      // Value i is row i: the ids are by row already, one host copy.
      let copied = firstRow < col.len ? sys.column_ids(col.handle, <i32>firstRow, <i32>n, out) : 0;
      if (copied < 0) copied = 0;
      if (<u32>copied < n) memory.fill(out + (<usize>copied << 2), 0xff, <usize>(n - <u32>copied) << 2);
      return;
    }
    memory.fill(out, 0xff, <usize>n << 2);
    if (col != null) this.scatter(col, firstRow, out, n);
  }

  /** read() into a StaticArray: rows firstRow..firstRow+out.length. */
  readInto(firstRow: u32, out: StaticArray<u32>): void {
    this.read(firstRow, changetype<usize>(out), <u32>out.length);
  }

  /** The values of rows firstRow..firstRow+n, in blocks of at most
   * min(n, BLOCK): their rows, and ids (or interned bytes), put in place. */
  private scatter(col: Column, firstRow: u32, out: usize, n: u32): void {
    if (!this.rows) {
      this.rows = heap.alloc(<usize>BLOCK << 2);
      this.ids = heap.alloc(<usize>BLOCK << 2);
    }
    const rows = this.rows, ids = this.ids, h = col.handle, len = col.len;
    const hasDict = this.dictLen >= 0;
    const end = <u64>firstRow + <u64>n;
    const block: u32 = n == 0 ? 1 : n < <u32>BLOCK ? n : <u32>BLOCK;
    let index = col.indexFrom(firstRow);
    while (index < len) {
      let k = len - index < block ? len - index : block;
      if (hasDict) {
        const got = sys.column_ids(h, <i32>index, <i32>k, ids);
        if (got <= 0) return;
        if (<u32>got < k) k = <u32>got;
      }
      if (col.dense) {
        for (let i: u32 = 0; i < k; i++) store<u32>(rows + (<usize>i << 2), index + i);
      } else {
        const got = sys.column_rows(h, <i32>index, <i32>k, rows);
        if (got <= 0) return;
        if (<u32>got < k) k = <u32>got;
      }
      for (let i: u32 = 0; i < k; i++) {
        const row = load<u32>(rows + (<usize>i << 2));
        if (<u64>row >= end) return;
        const id = hasDict ? load<u32>(ids + (<usize>i << 2)) : this.intern(col, index + i);
        store<u32>(out + (<usize>(row - firstRow) << 2), id);
      }
      index += k;
    }
  }

  /** The id of value `index`'s string, interned if it is new. */
  private intern(col: Column, index: u32): u32 {
    const b = this.bytes;
    b.clear();
    if (col.bytes(index, b) < 0) return NONE;
    return <u32>this.interned!.entry(b.ptr, b.len);
  }

  /** The id of the string at `row`, or NONE. Reads a window of BLOCK rows
   * from `row` when `row` is not in the last one read, so rows visited in
   * ascending order (another column's rows, say) cost one read per window. */
  @inline get(row: u32): u32 {
    const at = row - this.windowFirst;
    if (at < this.windowLen) return load<u32>(this.window + (<usize>at << 2));
    return readWindowOutOfLine(this, row);
  }

  /** Reads the window of BLOCK rows from `row` (get's slow path); returns
   * `row`'s id. */
  readWindow(row: u32): u32 {
    if (!this.window) this.window = heap.alloc(<usize>BLOCK << 2);
    this.read(row, this.window, <u32>BLOCK);
    this.windowFirst = row;
    this.windowLen = <u32>BLOCK;
    return load<u32>(this.window);
  }
}

/** RowIds.get's slow path, out of line: code (and above all a call) inlined
 * into a job's hot loop makes the compiled loop keep its values in memory.
 * AssemblyScript has no noinline; a call through a function reference is an
 * indirect call (its table index is loaded from memory), which Binaryen
 * never inlines, whatever the size or number of callers. */
// @ts-ignore: decorator (compiled only into the jobs that use it)
@lazy const readWindowOutOfLine = (r: RowIds, row: u32): u32 => r.readWindow(row);

/** The ids by row of the STR field at `path`, read a window at a time (see
 * RowIds); every row NONE when no event has a string there. */
export function rowIds(path: string): RowIds {
  return new RowIds(column(path, STR));
}

// ---------------------------------------------------------------- containers

/** A map with varying keys (MAP) or an array (LIST) under a path: the rows
 * holding it, and per holding row a run of entries (offsets[i]..offsets[i+1]). */
export class Container {
  handle: i32 = -1;
  kind: i32 = 0;
  /** Holding rows. */
  len: u32 = 0;
  rows: StaticArray<u32> = new StaticArray<u32>(0);
  /** len + 1 entry offsets. */
  offsets: StaticArray<u32> = new StaticArray<u32>(0);

  /** The keys of a map container (a dense STR column over the entries). */
  keys(): Column | null {
    return Column.fromHandle(sys.container_keys(this.handle), STR);
  }
  /** The entries' values of one type. */
  values(type: i32): Column | null {
    return Column.fromHandle(sys.container_values(this.handle, type), type);
  }
}

/** Finds a container and reads its rows and offsets, or null. */
export function container(path: string, kind: i32): Container | null {
  const p = Buf.of(path);
  const h = sys.container(p.ptr, p.len, kind);
  if (h < 0) return null;
  const len = sys.container_len(h);
  if (len < 0) return null;
  const c = new Container();
  c.handle = h;
  c.kind = kind;
  c.len = <u32>len;
  c.rows = new StaticArray<u32>(len);
  c.offsets = new StaticArray<u32>(len + 1);
  const rp = changetype<usize>(c.rows), op = changetype<usize>(c.offsets);
  for (let s = 0; s < len; ) {
    const r = sys.container_rows(h, s, len - s, rp + (<usize>s << 2));
    if (r <= 0) break;
    s += r;
  }
  for (let s = 0; s < len + 1; ) {
    const r = sys.container_offsets(h, s, len + 1 - s, op + (<usize>s << 2));
    if (r <= 0) break;
    s += r;
  }
  return c;
}

// ---------------------------------------------------------------- a hash map

/** A hash map from byte strings to u64 values, entries numbered in order of
 * insertion: `const e = m.entry(p, n); m.values[e] += 1;`. */
export class BytesMap {
  keys: Dict = new Dict();
  values: Array<u64> = [];
  /** Whether the last entry() created its entry. */
  fresh: bool = false;
  private index: StaticArray<u32> = new StaticArray<u32>(0); // entry + 1, 0 = empty
  private mask: u32 = 0;

  get length(): i32 {
    return this.values.length;
  }

  private static hash(p: usize, n: i32): u32 {
    let h: u32 = 2166136261; // FNV-1a
    for (let i = 0; i < n; i++) h = (h ^ <u32>load<u8>(p + <usize>i)) * 16777619;
    return h;
  }
  private probe(p: usize, n: i32): u32 {
    let i = BytesMap.hash(p, n) & this.mask;
    while (true) {
      const e = unchecked(this.index[i]);
      if (!e) return i;
      const k = <i32>e - 1;
      if (bytesCompare(this.keys.ptrOf(k), this.keys.lenOf(k), p, n) == 0) return i;
      i = (i + 1) & this.mask;
    }
  }
  /** The entry number of a key, created (value 0) when missing. */
  entry(p: usize, n: i32): i32 {
    if ((this.values.length + 1) * 2 > this.index.length) {
      const cap = this.index.length ? this.index.length * 2 : 64;
      const old = this.index;
      this.index = new StaticArray<u32>(cap);
      this.mask = <u32>cap - 1;
      for (let i = 0; i < old.length; i++) {
        const e = unchecked(old[i]);
        if (e) {
          const k = <i32>e - 1;
          this.index[this.probe(this.keys.ptrOf(k), this.keys.lenOf(k))] = e;
        }
      }
    }
    const at = this.probe(p, n);
    const e = unchecked(this.index[at]);
    if (e) {
      this.fresh = false;
      return <i32>e - 1;
    }
    this.keys.push(p, n);
    this.values.push(0);
    this.index[at] = <u32>this.values.length;
    this.fresh = true;
    return this.values.length - 1;
  }
  entryBuf(k: Buf): i32 {
    return this.entry(k.ptr, k.len);
  }
  /** The entry number of a key, or -1. */
  find(p: usize, n: i32): i32 {
    if (!this.index.length) return -1;
    const e = unchecked(this.index[this.probe(p, n)]);
    return e ? <i32>e - 1 : -1;
  }
  /** Entry numbers in byte-wise order of their keys. */
  sortedEntries(): Array<i32> {
    const order = new Array<i32>(this.values.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    sortKeys = this.keys;
    order.sort((a: i32, b: i32): i32 => sortKeys.compare(a, b));
    return order;
  }
}
let sortKeys: Dict = new Dict();

// ---------------------------------------------------------------- config, logs, output, merge

/** The config bytes given at submission. */
export function config(): Buf {
  const b = new Buf();
  const n = sys.config_len();
  if (n <= 0) return b;
  b.reserve(n);
  let got = sys.config_read(b.ptr, n);
  if (got > n) got = n;
  if (got > 0) b.len = got;
  return b;
}

/** A log line (LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG). */
export function log(level: i32, msg: string): void {
  const b = Buf.of(msg);
  sys.log(level, b.ptr, b.len);
}
export function logBuf(level: i32, msg: Buf): void {
  sys.log(level, msg.ptr, msg.len);
}

/** Sets the result; 0, or TOO_LARGE (the run fails then). */
export function emit(out: Buf): i32 {
  const r = sys.emit(out.ptr, out.len);
  return r < 0 ? r : 0;
}

/** Sets the failure message; the entry point should then return non-zero. */
export function fail(msg: string): void {
  failBuf(Buf.of(msg));
}
export function failBuf(msg: Buf): void {
  sys.fail(msg.ptr, msg.len);
}

/** Reads merge input 0 or 1 (appended to `out`); 0, or a negative code. */
export function mergeInput(which: i32, out: Buf): i32 {
  const r = readVar(out, Var.MergeInput, which, 0);
  return r < 0 ? r : 0;
}

/** Finishes an entry point: emits `out` (nothing when empty) and returns 0;
 * or fails the run (message set) and returns 1. */
export function finish(out: Buf): i32 {
  if (!out.len) return 0;
  const r = sys.emit(out.ptr, out.len);
  if (r >= 0) return 0;
  const m = new Buf();
  if (r == TOO_LARGE) {
    m.str("the result (");
    m.u64(<u64>out.len);
    m.str(" bytes) is larger than the job's maximum result size");
  } else {
    m.str("the host answered `emit` with code -");
    m.u64(<u64>-r);
  }
  failBuf(m);
  return 1;
}

/** Combines two non-empty results into `out`; false with a message in `err`. */
export type MergeFn = (a: Buf, b: Buf, out: Buf, err: Buf) => bool;

/** The body of an epochd_merge that obeys the ABI's identity law byte for
 * byte: reads both inputs; an empty one gives the other unchanged; else
 * `merge` combines them. */
export function mergeWith(merge: MergeFn): i32 {
  const a = new Buf(), b = new Buf();
  if (mergeInput(0, a) < 0 || mergeInput(1, b) < 0) {
    fail("the host answered `merge_input` with an error");
    return 1;
  }
  if (!a.len) return finish(b);
  if (!b.len) return finish(a);
  const out = new Buf(), err = new Buf();
  if (!merge(a, b, out, err)) {
    failBuf(err);
    return 1;
  }
  return finish(out);
}

/** A JsonWriter over a fresh Buf. */
export function jsonWriter(): JsonWriter {
  return new JsonWriter(new Buf());
}
