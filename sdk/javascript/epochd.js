// epochd.js: the JavaScript SDK for epochd jobs, built as WebAssembly
// components with componentize-js against the WIT world in
// ../wit/job.wit (`mergeable-job`, or `job` without a merge).
//
//   import * as epochd from "./sdk/epochd.js";
//
//   export const run = epochd.run(() => {
//     const { ids, strings, none } = epochd.stringsByRow("type");
//     ...
//     return { events: epochd.rows(), web };   // an object: compact JSON
//   });
//
//   export const merge = epochd.mergeJSON((a, b) => ({ ... }));
//
// One file, no dependencies: copy it next to the job, or import it by a
// relative path (componentize-js resolves relative imports itself: nothing
// to bundle). README.md beside it documents it, and how to write fast
// jobs.
//
// The module's top level runs once, when the component is built (the
// engine is snapshotted after it): it must not read the epoch, the config
// or the log (they exist only inside `run` and `merge`).

import * as witEpoch from "epochd:job/epoch@1.0.0";
import * as witHost from "epochd:job/host@1.0.0";

// ---------------------------------------------------------------------------
// Constants

/** Value types of a column (the WIT enum `value-type`). */
export const INT = "int";
export const FLOAT = "float";
export const BOOL = "bool";
export const STR = "str";
export const NULL = "null";
export const RAW = "raw";
const TYPES = [INT, FLOAT, BOOL, STR, NULL, RAW];

/** Kinds of a container (the WIT enum `container-kind`). */
export const MAP = "map";
export const LIST = "list";

/** Values read per host call: a block of 65536 is a good default. */
export const BLOCK = 65536;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO32 = 4294967296;
// A row without a string, while stringsByRow numbers plain strings.
const NONE = 0xffffffff;

// ---------------------------------------------------------------------------
// Errors

/** An error the job means (its message becomes the run's error as is). */
export class JobError extends Error {}
JobError.prototype.name = "JobError";

/** Throws a JobError: the run fails with this message. */
export function fail(message) {
  throw new JobError(String(message));
}

// The bindings throw a ComponentError whose `payload` is the WIT
// read-error ("wrong-type", ...); hostError turns it into a sentence.
function hostError(call, e) {
  if (e !== null && typeof e === "object" && "payload" in e) {
    return new JobError(`the host answered \`${call}\` with ${e.payload}`);
  }
  return e;
}

/** The read-error a host call failed with ("wrong-type", ...), or null. */
function readError(e) {
  return e !== null && typeof e === "object" && "payload" in e ? e.payload : null;
}

// ---------------------------------------------------------------------------
// The epoch

/** The epoch: its unix second (a number). */
export function epoch() {
  return Number(witEpoch.epoch());
}

/** 0 for the primary commit, 1.. for supplementary commits of late events. */
export function seq() {
  return witEpoch.seq();
}

/** The number of events (rows), numbered 0..rows()-1. */
export function rows() {
  return witEpoch.rows();
}

/** The data centre of the events (empty in a merge). */
export function dc() {
  return witEpoch.dc();
}

// Columns and containers are cached by path and type: one resource each.
let columns = new Map();
let containers = new Map();

function checkType(type) {
  if (!TYPES.includes(type)) {
    throw new TypeError(`column type must be one of ${TYPES.join(", ")}: ${String(type)}`);
  }
}

/**
 * The column of a field path (keys joined with ".") and value type
 * (INT, FLOAT, BOOL, STR, NULL, RAW), or null when no event has one.
 */
export function column(path, type) {
  checkType(type);
  const key = type + "\u0000" + path;
  let c = columns.get(key);
  if (c === undefined) {
    const res = witEpoch.findColumn(String(path), type);
    c = res == null ? null : new Column(res, String(path), type);
    columns.set(key, c);
  }
  return c;
}

/** The container (MAP or LIST) of a path, or null when no event has one. */
export function container(path, kind) {
  if (kind !== MAP && kind !== LIST) {
    throw new TypeError(`container kind must be MAP or LIST: ${String(kind)}`);
  }
  const key = kind + "\u0000" + path;
  let c = containers.get(key);
  if (c === undefined) {
    const res = witEpoch.findContainer(String(path), kind);
    c = res == null ? null : new Container(res, String(path), kind);
    containers.set(key, c);
  }
  return c;
}

// Reads values start..end of a column in blocks of `block` with read(s, n)
// and concatenates them into one typed array (or array).
function readAll(read, start, end, block, make) {
  const n = Math.max(0, end - start);
  if (n <= block) return read(start, n);
  const out = make(n);
  for (let s = start; s < end; s += block) {
    const part = read(s, Math.min(block, end - s));
    if (Array.isArray(out)) {
      for (let i = 0; i < part.length; i++) out[s - start + i] = part[i];
    } else {
      out.set(part, s - start);
    }
  }
  return out;
}

function range(c, start, count) {
  const len = c.length;
  const s = start === undefined ? 0 : start >>> 0;
  const n = count === undefined ? Math.max(0, len - s) : count >>> 0;
  return [s, Math.min(len, s + n)];
}

/**
 * A column: one field path with one value type, its values in row order.
 *
 *   const c = epochd.column("tuning.wallclock", epochd.INT);
 *   if (c) for (const v of c) ...        // every value (BigInt for INT)
 *   c.length, c.dense, c.rows()          // the row of each value
 *   for (const b of c.blocks()) ...      // a Block {start, count, values, rows}
 *
 * Block reads return typed arrays: rows and ids Uint32Array, INT values
 * BigInt64Array (numbers(): Float64Array), FLOAT Float64Array, BOOL
 * Uint8Array (0/1); STR values are strings (strings(): invalid UTF-8
 * replaced by U+FFFD), RAW values Uint8Arrays of MessagePack.
 */
export class Column {
  constructor(res, path, type) {
    this.resource = res;
    this.path = path;
    this.type = type;
    this._len = -1;
    this._dense = undefined;
    this._dict = undefined;
  }

  /** The number of values (rows holding the field with this type). */
  get length() {
    if (this._len < 0) this._len = this.resource.len();
    return this._len;
  }

  /** True when value i is row i (every row of its space holds a value). */
  get dense() {
    if (this._dense === undefined) this._dense = this.resource.dense();
    return this._dense;
  }

  _call(name, start, count) {
    try {
      return this.resource[name](start, count);
    } catch (e) {
      throw hostError(`${name}(${start}, ${count}) of ${this.path} (${this.type})`, e);
    }
  }

  /** The row numbers of values start..start+count (all by default): Uint32Array. */
  rows(start, count) {
    const [s, e] = range(this, start, count);
    if (this.dense) {
      const out = new Uint32Array(e - s);
      for (let i = 0; i < out.length; i++) out[i] = s + i;
      return out;
    }
    return readAll((a, n) => this._call("rows", a, n), s, e, BLOCK, (n) => new Uint32Array(n));
  }

  /** INT values: BigInt64Array. */
  ints(start, count) {
    const [s, e] = range(this, start, count);
    return readAll((a, n) => this._call("ints", a, n), s, e, BLOCK, (n) => new BigInt64Array(n));
  }

  /**
   * INT or FLOAT values as numbers: Float64Array. INT values beyond
   * 2^53 are rounded (use ints() for them exactly).
   */
  numbers(start, count) {
    if (this.type === FLOAT) return this.floats(start, count);
    const v = this.ints(start, count);
    return int64ToNumbers(v);
  }

  /** FLOAT values: Float64Array. */
  floats(start, count) {
    const [s, e] = range(this, start, count);
    return readAll((a, n) => this._call("floats", a, n), s, e, BLOCK, (n) => new Float64Array(n));
  }

  /** BOOL values: Uint8Array of 0 and 1. */
  bools(start, count) {
    const [s, e] = range(this, start, count);
    return readAll(
      (a, n) => Uint8Array.from(this._call("bools", a, n), (b) => (b ? 1 : 0)),
      s, e, BLOCK, (n) => new Uint8Array(n));
  }

  /**
   * The dictionary ids of a dictionary-coded STR column: Uint32Array,
   * index into dictionary(). Throws when it has no dictionary.
   */
  ids(start, count) {
    const [s, e] = range(this, start, count);
    return readAll((a, n) => this._call("ids", a, n), s, e, BLOCK, (n) => new Uint32Array(n));
  }

  /**
   * The dictionary of a STR column (the string of every id, invalid UTF-8
   * replaced by U+FFFD), or null when it is not dictionary-coded (mostly
   * distinct strings: read them with strings()). Read once, then cached.
   */
  dictionary() {
    if (this._dict === undefined) {
      if (this.type !== STR) return null;
      try {
        this._dict = this.resource.dictionary();
      } catch (e) {
        if (readError(e) !== "wrong-type") throw hostError(`dictionary() of ${this.path}`, e);
        this._dict = null;
      }
    }
    return this._dict;
  }

  /** STR values as strings (invalid UTF-8 replaced by U+FFFD): an array. */
  strings(start, count) {
    const [s, e] = range(this, start, count);
    return readAll((a, n) => this._call("strings", a, n), s, e, BLOCK, (n) => new Array(n));
  }

  /** The exact bytes of value `index` (a STR's UTF-8, a RAW's MessagePack). */
  bytes(index) {
    try {
      return this.resource.bytes(index >>> 0);
    } catch (e) {
      throw hostError(`bytes(${index}) of ${this.path} (${this.type})`, e);
    }
  }

  /**
   * Values start..start+count in this column's natural form: INT
   * BigInt64Array, FLOAT Float64Array, BOOL Uint8Array, STR strings, RAW
   * an array of Uint8Array, NULL nulls.
   */
  values(start, count) {
    switch (this.type) {
      case INT: return this.ints(start, count);
      case FLOAT: return this.floats(start, count);
      case BOOL: return this.bools(start, count);
      case STR: return this.strings(start, count);
      case RAW: {
        const [s, e] = range(this, start, count);
        const out = new Array(e - s);
        for (let i = s; i < e; i++) out[i - s] = this.bytes(i);
        return out;
      }
      default: {
        const [s, e] = range(this, start, count);
        return new Array(e - s).fill(null);
      }
    }
  }

  /**
   * The column a block at a time (`size` values, BLOCK by default): a
   * Block {start, count, values, rows} with `values` as values() gives
   * them (`how` = "numbers" or "ids" picks those instead). `rows` is read
   * when first used: a job reading a dense column (value i is row i) can
   * do without it.
   */
  *blocks(size = BLOCK, how) {
    const len = this.length;
    for (let start = 0; start < len; start += size) {
      const n = Math.min(size, len - start);
      const values = how === "numbers" ? this.numbers(start, n)
        : how === "ids" ? this.ids(start, n)
        : this.values(start, n);
      yield new Block(this, start, n, values);
    }
  }

  /** Every value, in row order (read a block at a time). */
  *[Symbol.iterator]() {
    for (const b of this.blocks()) {
      const v = b.values;
      for (let i = 0; i < v.length; i++) yield v[i];
    }
  }

  /** [row, value] for every value, in row order. */
  *entries() {
    for (const b of this.blocks()) {
      const v = b.values, r = b.rows;
      for (let i = 0; i < v.length; i++) yield [r[i], v[i]];
    }
  }
}

/** A block of a column's values: see Column.blocks. */
export class Block {
  constructor(column, start, count, values) {
    this.column = column;
    this.start = start;
    this.count = count;
    this.values = values;
    this._rows = null;
  }

  /** The row of each value: Uint32Array (read on first use). */
  get rows() {
    if (this._rows === null) this._rows = this.column.rows(this.start, this.count);
    return this._rows;
  }

  /**
   * `perRow[row]` for the row of each value (a typed array of the same
   * kind): e.g. the subtype id of each value, from stringsByRow's ids.
   * A dense column's is a view, without a copy.
   */
  gather(perRow) {
    if (this.column.dense) return perRow.subarray(this.start, this.start + this.count);
    const rows = this.rows;
    const out = new perRow.constructor(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = perRow[rows[i]];
    return out;
  }
}

/** A BigInt64Array's values as numbers (exact up to 2^53): Float64Array. */
export function int64ToNumbers(v) {
  const w = new Int32Array(v.buffer, v.byteOffset, v.length * 2);
  const out = new Float64Array(v.length);
  for (let i = 0, j = 0; i < out.length; i++, j += 2) {
    const lo = w[j], hi = w[j + 1];
    out[i] = hi * TWO32 + (lo >>> 0);
  }
  return out;
}

/**
 * A map with varying keys or an array: the rows holding it, each with a
 * run of entries; keys() and values(type) are columns over the entries.
 *
 *   const c = epochd.container("experiments", epochd.MAP);
 *   const rows = c.rows(), offsets = c.offsets();   // length + 1 offsets
 *   const keys = c.keys(), vals = c.values(epochd.INT);
 *   // the entries of rows[i] are offsets[i] .. offsets[i + 1]
 */
export class Container {
  constructor(res, path, kind) {
    this.resource = res;
    this.path = path;
    this.kind = kind;
    this._len = -1;
    this._keys = undefined;
    this._values = new Map();
  }

  /** The number of rows holding it. */
  get length() {
    if (this._len < 0) this._len = this.resource.len();
    return this._len;
  }

  _call(name, start, count) {
    try {
      return this.resource[name](start, count);
    } catch (e) {
      throw hostError(`${name}(${start}, ${count}) of container ${this.path}`, e);
    }
  }

  /** The holding rows start..start+count (all by default): Uint32Array. */
  rows(start, count) {
    const [s, e] = range(this, start, count);
    return readAll((a, n) => this._call("rows", a, n), s, e, BLOCK, (n) => new Uint32Array(n));
  }

  /**
   * Entry offsets: length + 1 of them (by default all); the entries of
   * the i-th holding row are offsets[i] .. offsets[i + 1].
   */
  offsets(start, count) {
    const total = this.length + 1;
    const s = start === undefined ? 0 : start >>> 0;
    const e = Math.min(total, count === undefined ? total : s + (count >>> 0));
    return readAll((a, n) => this._call("offsets", a, n), s, e, BLOCK, (n) => new Uint32Array(n));
  }

  /** A map's keys: a dense STR column over the entries (null for a list). */
  keys() {
    if (this._keys === undefined) {
      try {
        this._keys = new Column(this.resource.keys(), this.path + "[keys]", STR);
      } catch (e) {
        if (readError(e) !== "wrong-type") throw hostError(`keys() of container ${this.path}`, e);
        this._keys = null;
      }
    }
    return this._keys;
  }

  /** The entries' values of a type: a column over the entries, or null. */
  values(type) {
    checkType(type);
    let c = this._values.get(type);
    if (c === undefined) {
      const res = this.resource.values(type);
      c = res == null ? null : new Column(res, this.path + "[values]", type);
      this._values.set(type, c);
    }
    return c;
  }
}

/**
 * The string of every row of a STR field, as ids into `strings`:
 *
 *   const { ids, strings, none } = epochd.stringsByRow("type");
 *   // ids[row] is the row's string id (strings[ids[row]]), or `none`
 *   // (=== strings.length) where the row holds no string.
 *
 * `ids` is a Uint32Array of rows() ids. A dictionary-coded column (the
 * usual case) is read in a few block copies and `strings` is its
 * dictionary; otherwise its strings are read and numbered in order of
 * first appearance. In a dictionary, equal strings may have two ids (two
 * byte strings that are equal once invalid UTF-8 is replaced): where that
 * matters, add up by string at the end. Group by id (a typed array of
 * counts indexed by id), look the strings up once at the end.
 */
export function stringsByRow(path) {
  const n = rows();
  const col = column(path, STR);
  if (col === null) {
    return { ids: new Uint32Array(n), strings: [], none: 0 };
  }
  const len = col.length;
  const dense = col.dense;
  const dict = col.dictionary();
  if (dict !== null) {
    const none = dict.length;
    const ids = new Uint32Array(n);
    if (dense) {
      for (let s = 0; s < len; s += BLOCK) ids.set(col.ids(s, Math.min(BLOCK, len - s)), s);
      if (len < n) ids.fill(none, len);
    } else {
      ids.fill(none);
      for (let s = 0; s < len; s += BLOCK) {
        const k = Math.min(BLOCK, len - s);
        const r = col.rows(s, k), v = col.ids(s, k);
        for (let i = 0; i < r.length; i++) ids[r[i]] = v[i];
      }
    }
    return { ids, strings: dict, none };
  }
  // Mostly distinct strings: numbered as they come.
  const index = new Map();
  const strings = [];
  const ids = new Uint32Array(n).fill(NONE);
  for (let s = 0; s < len; s += BLOCK) {
    const k = Math.min(BLOCK, len - s);
    const r = dense ? null : col.rows(s, k);
    const v = col.strings(s, k);
    for (let i = 0; i < v.length; i++) {
      let id = index.get(v[i]);
      if (id === undefined) {
        id = strings.length;
        strings.push(v[i]);
        index.set(v[i], id);
      }
      ids[r === null ? s + i : r[i]] = id;
    }
  }
  const none = strings.length;
  for (let i = 0; i < n; i++) if (ids[i] === NONE) ids[i] = none;
  return { ids, strings, none };
}

// ---------------------------------------------------------------------------
// Config and log

/** The config bytes given at submission (empty when none): Uint8Array. */
export function config() {
  return witHost.config();
}

/** The config as text (invalid UTF-8 replaced by U+FFFD; strict: throws). */
export function configText(strict = false) {
  return utf8Decode(witHost.config(), strict);
}

/** The config parsed as JSON (parseJSON), or undefined when it is blank. */
export function configJSON() {
  const text = configText(true);
  if (text.trim() === "") return undefined;
  try {
    return parseJSON(text);
  } catch (e) {
    throw new JobError(`the job's config is not the JSON it expects: ${e.message}`);
  }
}

function logLine(level, args) {
  let line = "";
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (i > 0) line += " ";
    if (typeof a === "string") line += a;
    else if (a instanceof Error) line += errorMessage(a);
    else if (a !== null && typeof a === "object") {
      try {
        line += toJSON(a);
      } catch {
        line += String(a);
      }
    } else line += String(a);
  }
  witHost.log(level, line);
}

/**
 * Log lines, kept with the run (at most 64 lines and 16 KiB per run):
 * log.info("read", n, "rows", {x: 1}). Objects are written as JSON.
 * console.log goes to the same log (standard output, level info).
 */
export const log = {
  error: (...args) => logLine("error", args),
  warn: (...args) => logLine("warn", args),
  info: (...args) => logLine("info", args),
  debug: (...args) => logLine("debug", args),
};

// ---------------------------------------------------------------------------
// Entry points

/** The text a thrown value becomes: the run's error message. */
export function errorMessage(e) {
  if (e instanceof JobError) return e.message;
  if (e instanceof JSONError) return `JSON: ${e.message}`;
  if (e instanceof Error) {
    const what = e.name && e.name !== "Error" ? `${e.name}: ${e.message}` : e.message;
    // A bug (TypeError, RangeError, ...): where it happened.
    const at = e.name !== "Error" && typeof e.stack === "string" ? firstFrame(e.stack) : "";
    return at ? `${what} (at ${at})` : what;
  }
  if (e !== null && typeof e === "object" && "payload" in e) return String(e.payload);
  return String(e);
}

function firstFrame(stack) {
  for (const line of stack.split("\n")) {
    const t = line.trim();
    // SpiderMonkey writes fn@file:line:col, V8 "at fn (file:line:col)".
    if (t.startsWith("at ")) {
      const m = /\(([^()]*)\)$/.exec(t);
      return m ? m[1] : t.slice(3);
    }
    const at = t.lastIndexOf("@");
    if (at >= 0) return t.slice(at + 1);
  }
  return "";
}

/**
 * The bytes of a run's (or merge's) value: a Uint8Array (or ArrayBuffer,
 * DataView) as is, a string as its UTF-8, undefined as an empty result,
 * anything else as compact JSON (toJSON).
 */
export function resultBytes(value) {
  if (value === undefined) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (value instanceof DataView) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === "string") return utf8Encode(value);
  return utf8Encode(toJSON(value));
}

function ok(value) {
  return { tag: "ok", val: resultBytes(value) };
}

function err(e) {
  let msg = errorMessage(e);
  if (typeof msg !== "string") msg = String(msg);
  return { tag: "err", val: msg };
}

// A value, or a promise of one (an async function's), as the export's result.
function settle(value) {
  if (value !== null && typeof value === "object" && typeof value.then === "function") {
    return Promise.resolve(value).then(ok, err);
  }
  return ok(value);
}

/**
 * Forgets the columns and containers found so far. run() and merge() call
 * it first (every run is a fresh instance anyway); tests that switch
 * epochs call it too.
 */
export function reset() {
  columns = new Map();
  containers = new Map();
}

/**
 * The `run` export: export const run = epochd.run(() => result).
 * The function's value becomes the result (see resultBytes); a thrown
 * value fails the run with its message (errorMessage).
 */
export function run(fn) {
  return function run() {
    reset();
    try {
      return settle(fn());
    } catch (e) {
      return err(e);
    }
  };
}

/**
 * The `merge` export: export const merge = epochd.merge((a, b) => result),
 * a and b the two results (Uint8Array, both non-empty: an empty input is
 * the identity, handled here byte for byte).
 */
export function merge(fn) {
  return function merge(a, b) {
    reset();
    if (a.length === 0) return { tag: "ok", val: b };
    if (b.length === 0) return { tag: "ok", val: a };
    try {
      return settle(fn(a, b));
    } catch (e) {
      return err(e);
    }
  };
}

/**
 * merge(), with both inputs parsed as JSON first (parseJSON; a parse error
 * fails the merge with "JSON: ..."): epochd.mergeJSON((a, b) => value).
 */
export function mergeJSON(fn) {
  return merge((a, b) => fn(parseInput(a), parseInput(b)));
}

function parseInput(bytes) {
  try {
    return parseJSON(bytes);
  } catch (e) {
    if (e instanceof JSONError) throw new JobError(`JSON: ${e.message}`);
    throw e;
  }
}

// ---------------------------------------------------------------------------
// UTF-8

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8");

/** A string's UTF-8 bytes (a lone surrogate becomes U+FFFD). */
export function utf8Encode(s) {
  return ENCODER.encode(s);
}

/**
 * Bytes as a string: invalid UTF-8 replaced by U+FFFD (as Rust's
 * from_utf8_lossy), or, strict, a JobError worded as Rust's: "invalid
 * UTF-8: invalid utf-8 sequence of 1 bytes from index 1".
 */
export function utf8Decode(bytes, strict = false) {
  if (!strict) return DECODER.decode(bytes);
  const bad = utf8Error(bytes);
  if (bad !== null) throw new JobError(`invalid UTF-8: ${bad}`);
  return DECODER.decode(bytes);
}

/** Why bytes are not UTF-8, as Rust's Utf8Error says it; null when they are. */
export function utf8Error(b) {
  const n = b.length;
  let i = 0;
  const cont = (k) => (b[k] & 0xc0) === 0x80;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let len = 0, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    }
    if (len === 0) return `invalid utf-8 sequence of 1 bytes from index ${i}`;
    for (let k = 1; k < len; k++) {
      if (i + k >= n) return `incomplete utf-8 byte sequence from index ${i}`;
      const ok = k === 1 ? b[i + 1] >= lo && b[i + 1] <= hi : cont(i + k);
      if (!ok) return `invalid utf-8 sequence of ${k} bytes from index ${i}`;
    }
    i += len;
  }
  return null;
}

/**
 * Compares two strings by their UTF-8 bytes (= by code points), as Rust,
 * Go and serde order strings; JavaScript's `<` and sort() compare UTF-16
 * code units, which put U+E000..U+FFFF after U+10000.. . Use it to sort
 * the keys of a result: keys.sort(epochd.compareUtf8).
 */
export function compareUtf8(a, b) {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // Surrogates (0xD800..0xDFFF, code points above 0xFFFF) sort after
      // every other code unit.
      if (x >= 0xd800 && y >= 0xd800) {
        x = x < 0xe000 ? x + 0x2000 : x - 0x800;
        y = y < 0xe000 ? y + 0x2000 : y - 0x800;
      }
      return x < y ? -1 : 1;
    }
  }
  return a.length - b.length < 0 ? -1 : a.length === b.length ? 0 : 1;
}

// ---------------------------------------------------------------------------
// JSON out: serde_json's compact form, byte for byte

/** A number to write as a JSON float even when it is whole: 1 → 1.0. */
export class Float {
  constructor(value) {
    this.value = Number(value);
  }
}

/** float(x): x written as a float (serde_json's f64 form: 1.0, 0.0075, 1e-7). */
export function float(x) {
  return new Float(x);
}

/** JSON text inserted as is (it must be one JSON value). */
export class RawJSON {
  constructor(text) {
    this.text = String(text);
  }
}

/** rawJSON(text): text inserted as is into toJSON's output. */
export function rawJSON(text) {
  return new RawJSON(text);
}

const ESCAPES = {
  '"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
};
const HEX = "0123456789abcdef";

function escapeChar(c) {
  const e = ESCAPES[c];
  if (e !== undefined) return e;
  const code = c.charCodeAt(0);
  return "\\u00" + HEX[code >> 4] + HEX[code & 15];
}

/**
 * A string as serde_json writes it: \" \\ \b \f \n \r \t, other control
 * characters as \u00xx, everything else (DEL, non-ASCII) as is; a lone
 * surrogate becomes U+FFFD (as in UTF-8).
 */
export function quote(s) {
  // eslint-disable-next-line no-control-regex
  let out = s.replace(/[\u0000-\u001f"\\]/g, escapeChar);
  if (/[\ud800-\udfff]/.test(out)) {
    out = out.replace(/[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]/g,
      (m) => (m.length === 2 ? m : "\ufffd"));
  }
  return '"' + out + '"';
}

/**
 * A float as serde_json (ryu) writes an f64: the shortest decimal that
 * parses back to it, as 0.0075, 1.0, 12340000000.0, 1e-7, 1.5e300, -0.0;
 * null when not finite.
 */
export function formatFloat(v) {
  if (!Number.isFinite(v)) return "null";
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  let sign = "";
  if (v < 0) {
    sign = "-";
    v = -v;
  }
  // Shortest round-trip digits: "7.5e-3", "1e+0".
  const s = v.toExponential();
  const e = s.indexOf("e");
  const digits = s[1] === "." ? s[0] + s.slice(2, e) : s.slice(0, e);
  const exp = Number(s.slice(e + 1));
  const nd = digits.length;
  const kk = exp + 1; // v = 0.d1..dn * 10^kk
  if (kk >= nd && kk <= 16) return sign + digits + "0".repeat(kk - nd) + ".0";
  if (kk > 0 && kk <= 16) return sign + digits.slice(0, kk) + "." + digits.slice(kk);
  if (kk > -5 && kk <= 0) return sign + "0." + "0".repeat(-kk) + digits;
  return sign + digits[0] + (nd > 1 ? "." + digits.slice(1) : "") + "e" + (kk - 1);
}

/** A number as JSON: a safe integer as an integer, anything else as a float. */
function formatNumber(v) {
  if (Number.isSafeInteger(v)) return Object.is(v, -0) ? "0" : String(v);
  return formatFloat(v);
}

/**
 * A value as compact JSON, as serde_json writes it (no spaces):
 * - numbers: safe integers as integers, others as floats (formatFloat);
 *   wrap a whole number that is a float with float(x) (1.0, not 1);
 *   BigInt as an integer (exact, any size); non-finite: null;
 * - strings escaped as serde_json does (quote);
 * - Map → an object (keys String(k), in the Map's order); plain objects
 *   in their key order (JavaScript puts integer-like keys such as "404"
 *   first, in numeric order: use a Map for data-dependent keys);
 *   properties that are undefined or functions are left out;
 * - arrays, typed arrays and Sets → arrays; undefined in an array: null;
 * - an object with toJSON() → its value; rawJSON(text) → text as is.
 */
export function toJSON(value) {
  const out = [];
  writeValue(out, value, 0);
  return out.join("");
}

/** toJSON's UTF-8 bytes. */
export function jsonBytes(value) {
  return utf8Encode(toJSON(value));
}

// Whether an array holds integers only, which join(",") writes as
// formatNumber would (a histogram's counts, say): one native call.
function isIntegers(v) {
  if (v instanceof Float32Array || v instanceof Float64Array) return false;
  if (!Array.isArray(v)) return true; // an integer typed array
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== "bigint" && !Number.isSafeInteger(x)) return false;
  }
  return true;
}

function writeValue(out, v, depth) {
  switch (typeof v) {
    case "number":
      out.push(formatNumber(v));
      return;
    case "string":
      out.push(quote(v));
      return;
    case "boolean":
      out.push(v ? "true" : "false");
      return;
    case "bigint":
      out.push(v.toString());
      return;
    case "undefined":
    case "function":
    case "symbol":
      out.push("null");
      return;
  }
  if (v === null) {
    out.push("null");
    return;
  }
  if (depth > 1000) throw new RangeError("toJSON: nesting deeper than 1000 (a cycle?)");
  if (v instanceof Float) {
    out.push(formatFloat(v.value));
    return;
  }
  if (v instanceof RawJSON) {
    out.push(v.text);
    return;
  }
  if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
    if (isIntegers(v)) {
      out.push("[", Array.prototype.join.call(v, ","), "]");
      return;
    }
    out.push("[");
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(",");
      writeValue(out, v[i], depth + 1);
    }
    out.push("]");
    return;
  }
  if (v instanceof Map) {
    out.push("{");
    let first = true;
    for (const [k, x] of v) {
      if (x === undefined || typeof x === "function") continue;
      if (!first) out.push(",");
      first = false;
      out.push(quote(String(k)), ":");
      writeValue(out, x, depth + 1);
    }
    out.push("}");
    return;
  }
  if (v instanceof Set) {
    writeValue(out, [...v], depth);
    return;
  }
  if (typeof v.toJSON === "function") {
    writeValue(out, v.toJSON(), depth + 1);
    return;
  }
  if (v instanceof Number || v instanceof String || v instanceof Boolean) {
    writeValue(out, v.valueOf(), depth);
    return;
  }
  out.push("{");
  let first = true;
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (x === undefined || typeof x === "function" || typeof x === "symbol") continue;
    if (!first) out.push(",");
    first = false;
    out.push(quote(k), ":");
    writeValue(out, x, depth + 1);
  }
  out.push("}");
}

// ---------------------------------------------------------------------------
// JSON in

/** A JSON text that does not parse. */
export class JSONError extends Error {}
JSONError.prototype.name = "JSONError";

/**
 * Parses JSON text (a string, or UTF-8 bytes: a Uint8Array) as serde_json
 * would accept it: objects as plain objects (a repeated key: the last one
 * counts), arrays as arrays, integers as numbers when they are safe
 * (|n| <= 2^53 - 1) and as BigInt otherwise (exact), other numbers as
 * floats. Throws a JSONError ("expected value at line 1 column 1", ...).
 */
export function parseJSON(input) {
  let text;
  if (typeof input === "string") {
    text = input;
  } else {
    try {
      text = utf8Decode(input, true);
    } catch {
      throw new JSONError("invalid unicode code point");
    }
  }
  const p = new Parser(text);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.i < text.length) p.fail("trailing characters");
  return v;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
// eslint-disable-next-line no-control-regex
const PLAIN = /[^"\\\u0000-\u001f]*/y;

class Parser {
  constructor(text) {
    this.s = text;
    this.i = 0;
  }

  fail(msg) {
    // serde_json's position: line and column (1-based) of the byte.
    let line = 1, col = 0;
    for (let k = 0; k < this.i && k < this.s.length; k++) {
      if (this.s.charCodeAt(k) === 10) {
        line++;
        col = 0;
      } else col++;
    }
    throw new JSONError(`${msg} at line ${line} column ${col + (this.i < this.s.length ? 1 : 0)}`);
  }

  ws() {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
    this.i = i;
  }

  // After an item of an object or a list: true at its closing `close`
  // (consumed), false after a comma; an error otherwise, as serde_json says.
  closed(close, what) {
    const s = this.s;
    this.ws();
    const d = s[this.i];
    if (d === ",") {
      this.i++;
      this.ws();
      if (s[this.i] === close) this.fail("trailing comma");
      return false;
    }
    if (d === close) {
      this.i++;
      return true;
    }
    this.fail(this.i >= s.length ? `EOF while parsing ${what}` : `expected \`,\` or \`${close}\``);
  }

  value(depth) {
    const s = this.s;
    if (this.i >= s.length) this.fail("EOF while parsing a value");
    const c = s[this.i];
    if (c === "{") {
      if (depth >= 128) this.fail("recursion limit exceeded");
      this.i++;
      const obj = {};
      this.ws();
      if (s[this.i] === "}") {
        this.i++;
        return obj;
      }
      for (;;) {
        this.ws();
        if (this.i >= s.length) this.fail("EOF while parsing an object");
        if (s[this.i] !== '"') this.fail("key must be a string");
        const k = this.string();
        this.ws();
        if (s[this.i] !== ":") this.fail(this.i >= s.length ? "EOF while parsing an object" : "expected `:`");
        this.i++;
        this.ws();
        const v = this.value(depth + 1);
        if (k === "__proto__") {
          Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
        } else obj[k] = v;
        if (this.closed("}", "an object")) return obj;
      }
    }
    if (c === "[") {
      if (depth >= 128) this.fail("recursion limit exceeded");
      this.i++;
      const arr = [];
      this.ws();
      if (s[this.i] === "]") {
        this.i++;
        return arr;
      }
      for (;;) {
        this.ws();
        arr.push(this.value(depth + 1));
        if (this.closed("]", "a list")) return arr;
      }
    }
    if (c === '"') return this.string();
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    for (const [word, v] of [["null", null], ["true", true], ["false", false]]) {
      if (s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
      if (c === word[0]) {
        let k = 0;
        while (this.i + k < s.length && s[this.i + k] === word[k]) k++;
        this.i += k;
        this.fail(this.i >= s.length ? "EOF while parsing a value" : "expected ident");
      }
    }
    this.fail("expected value");
  }

  number() {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (m === null) {
      this.i++;
      this.fail("invalid number");
    }
    const t = m[0];
    this.i += t.length;
    const next = this.s[this.i];
    if (next !== undefined && /[0-9.eE+-]/.test(next)) this.fail("invalid number");
    if (m[1] === undefined && m[2] === undefined) {
      const n = Number(t);
      return Number.isSafeInteger(n) ? n : BigInt(t);
    }
    const f = Number(t);
    if (!Number.isFinite(f)) this.fail("number out of range");
    return f;
  }

  string() {
    const s = this.s;
    this.i++; // "
    let out = "";
    for (;;) {
      PLAIN.lastIndex = this.i;
      const m = PLAIN.exec(s);
      out += m[0];
      this.i += m[0].length;
      if (this.i >= s.length) this.fail("EOF while parsing a string");
      const c = s[this.i];
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c !== "\\") this.fail("control character (\\u0000-\\u001F) found while parsing a string");
      this.i++;
      const e = s[this.i++];
      switch (e) {
        case '"': out += '"'; break;
        case "\\": out += "\\"; break;
        case "/": out += "/"; break;
        case "b": out += "\b"; break;
        case "f": out += "\f"; break;
        case "n": out += "\n"; break;
        case "r": out += "\r"; break;
        case "t": out += "\t"; break;
        case "u": {
          const u = this.hex4();
          if (u >= 0xdc00 && u <= 0xdfff) this.fail("lone leading surrogate in hex escape");
          if (u >= 0xd800 && u <= 0xdbff) {
            if (s[this.i] !== "\\" || s[this.i + 1] !== "u") this.fail("unexpected end of hex escape");
            this.i += 2;
            const l = this.hex4();
            if (l < 0xdc00 || l > 0xdfff) this.fail("lone leading surrogate in hex escape");
            out += String.fromCharCode(u, l);
          } else out += String.fromCharCode(u);
          break;
        }
        default:
          if (e === undefined) this.fail("EOF while parsing a string");
          this.fail("invalid escape");
      }
    }
  }

  hex4() {
    const h = this.s.slice(this.i, this.i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail(h.length < 4 ? "EOF while parsing a string" : "invalid escape");
    this.i += 4;
    return parseInt(h, 16);
  }
}

// ---------------------------------------------------------------------------
// Unsigned 64-bit integers as number | BigInt

/**
 * Whether v is an unsigned 64-bit integer: a number that is a safe integer
 * >= 0, or a BigInt in 0..2^64-1 (what parseJSON gives for a u64).
 */
export function isU64(v) {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0;
  return typeof v === "bigint" && v >= 0n && v <= 0xffffffffffffffffn;
}

/** a + b exactly (numbers while safe, else BigInt). */
export function addU64(a, b) {
  if (typeof a === "number" && typeof b === "number") {
    const s = a + b;
    if (s <= MAX_SAFE) return s;
  }
  return normalize(BigInt(a) + BigInt(b));
}

function normalize(v) {
  return v <= BigInt(MAX_SAFE) ? Number(v) : v;
}

// ---------------------------------------------------------------------------
// LogHistogram: the mergeable histogram of the latency job (the Rust SDK's
// epochd_job::sketch::LogHistogram, the same buckets, percentiles and JSON)

/** Bits kept below a value's leading bit: 64 buckets per power of two. */
export const SUB_BITS = 6;
const SUB = 64;
/** Buckets covering 0..2^64-1. */
export const BUCKETS = (64 - SUB_BITS + 1) * SUB;
const U64_MAX = 0xffffffffffffffffn;

/**
 * The bucket of a value (a number that is a safe integer >= 0, or a
 * BigInt up to 2^64 - 1): v below 64; above, with e the index of its
 * leading bit and m = v >> (e - 6) (64..127), (e - 5) * 64 + (m - 64).
 */
export function bucketOf(v) {
  if (typeof v === "number") {
    if (v < SUB) return v;
    if (v < TWO32) {
      const shift = 25 - Math.clz32(v); // e - 6
      return (shift + 1) * SUB + (v >>> shift) - SUB;
    }
    const shift = 57 - Math.clz32(Math.floor(v / TWO32)); // e - 6, e >= 32
    return (shift + 1) * SUB + Math.floor(v / 2 ** shift) - SUB;
  }
  if (v < 64n) return Number(v);
  let shift = v.toString(2).length - 7;
  return (shift + 1) * SUB + Number(v >> BigInt(shift)) - SUB;
}

/** The smallest and largest value of a bucket ([lo, hi], number or BigInt). */
export function bucketBounds(bucket) {
  if (bucket < SUB) return [bucket, bucket];
  const shift = Math.floor(bucket / SUB) - 1;
  const m = (bucket % SUB) + SUB;
  if (shift <= 45) {
    const lo = m * 2 ** shift;
    return [lo, lo + 2 ** shift - 1];
  }
  const lo = BigInt(m) << BigInt(shift);
  return [normalize(lo), normalize(lo + (1n << BigInt(shift)) - 1n)];
}

/** The value reported for a bucket: its middle, rounded down. */
export function bucketValue(bucket) {
  const [lo, hi] = bucketBounds(bucket);
  if (typeof hi === "number") return lo + Math.floor((hi - lo) / 2);
  return normalize(BigInt(lo) + (BigInt(hi) - BigInt(lo)) / 2n);
}

/** A value clamped into [lo, hi] (numbers and BigInts mixed). */
function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * A histogram of unsigned integers with a bounded relative error (1/128):
 * values below 64 have a bucket each; above, each power of two is split
 * into 64 buckets. Percentiles are the middle of their bucket clamped to
 * the exact min and max. merge() adds counts: associative, commutative,
 * exact. Values are numbers (safe integers >= 0) or BigInts (to 2^64-1).
 */
export class LogHistogram {
  constructor() {
    /** Count per bucket from 0 (numbers; BigInt past 2^53). */
    this.counts = [];
    this.count = 0;
    this.min = 0;
    this.max = 0;
  }

  /** Counts one value (a safe integer >= 0 or a BigInt). */
  record(v) {
    const b = bucketOf(v);
    const c = this.counts;
    while (c.length <= b) c.push(0);
    c[b]++;
    if (this.count === 0) {
      this.min = v;
      this.max = v;
    } else {
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
    }
    this.count++;
  }

  /** Counts a value n times. */
  recordN(v, n) {
    if (n == 0) return; // eslint-disable-line eqeqeq
    const b = bucketOf(v);
    const c = this.counts;
    while (c.length <= b) c.push(0);
    c[b] = addU64(c[b], n);
    if (this.count == 0) { // eslint-disable-line eqeqeq
      this.min = v;
      this.max = v;
    } else {
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
    }
    this.count = addU64(this.count, n);
  }

  /** Adds another histogram's counts to this one's. */
  merge(o) {
    if (o.count == 0) return; // eslint-disable-line eqeqeq
    const c = this.counts;
    while (c.length < o.counts.length) c.push(0);
    for (let i = 0; i < o.counts.length; i++) {
      if (o.counts[i] != 0) c[i] = addU64(c[i], o.counts[i]); // eslint-disable-line eqeqeq
    }
    if (this.count == 0) { // eslint-disable-line eqeqeq
      this.min = o.min;
      this.max = o.max;
    } else {
      if (o.min < this.min) this.min = o.min;
      if (o.max > this.max) this.max = o.max;
    }
    this.count = addU64(this.count, o.count);
  }

  /** The value of rank 1 (the smallest) .. count (the largest), or null. */
  valueAtRank(rank) {
    if (rank == 0 || rank > this.count) return null; // eslint-disable-line eqeqeq
    if (rank == 1) return this.min; // eslint-disable-line eqeqeq
    if (rank == this.count) return this.max; // eslint-disable-line eqeqeq
    let seen = 0;
    const c = this.counts;
    // Counts that add up to a safe number are numbers: plain additions.
    const exact = typeof this.count === "number";
    for (let b = 0; b < c.length; b++) {
      seen = exact ? seen + c[b] : addU64(seen, c[b]);
      if (seen >= rank) return clamp(bucketValue(b), this.min, this.max);
    }
    return this.max;
  }

  /**
   * The p-th percentile (0..100) by nearest rank: the value of rank
   * max(1, ceil(count * p / 100)); null when empty.
   */
  percentile(p) {
    if (this.count == 0 || p < 0 || p > 100) return null; // eslint-disable-line eqeqeq
    let rank;
    if (typeof this.count === "number" && this.count * p <= MAX_SAFE) {
      const prod = this.count * p;
      rank = (prod - (prod % 100)) / 100 + (prod % 100 === 0 ? 0 : 1);
    } else {
      const prod = BigInt(this.count) * BigInt(p);
      rank = normalize(prod / 100n + (prod % 100n === 0n ? 0n : 1n));
    }
    return this.valueAtRank(rank < 1 ? 1 : rank);
  }

  /** The JSON form: {count, min, max, sub_bits, first, counts} (a Map, for toJSON). */
  toJSON() {
    const c = this.counts;
    let first = 0;
    while (first < c.length && c[first] == 0) first++; // eslint-disable-line eqeqeq
    if (first === c.length) first = 0;
    let last = c.length;
    while (last > first && c[last - 1] == 0) last--; // eslint-disable-line eqeqeq
    const empty = this.count == 0; // eslint-disable-line eqeqeq
    return new Map([
      ["count", this.count],
      ["min", empty ? null : this.min],
      ["max", empty ? null : this.max],
      ["sub_bits", SUB_BITS],
      ["first", first],
      ["counts", c.slice(first, last)],
    ]);
  }

  /**
   * A histogram from its JSON form (parsed by parseJSON), checked as the
   * Rust SDK checks it; throws a JobError when it does not fit.
   */
  static fromJSON(j) {
    const shape = "a histogram needs count, min, max, sub_bits, first (integers) and counts (an array)";
    if (j === null || typeof j !== "object" || Array.isArray(j)) {
      throw new JobError("invalid type: expected struct HistogramJson");
    }
    checkFields(j, "HistogramJson", ["count", "min", "max", "sub_bits", "first", "counts"],
      ["count", "sub_bits", "first", "counts"]);
    const opt = (x) => {
      if (x === undefined || x === null) return null;
      if (!isU64(x)) throw new JobError(shape);
      return x;
    };
    if (!isU64(j.count) || !isU32(j.sub_bits) || !isU32(j.first) || !Array.isArray(j.counts)) {
      throw new JobError(shape);
    }
    const lo = opt(j.min), hi = opt(j.max);
    if (j.sub_bits !== SUB_BITS) {
      throw new JobError(`a histogram with sub_bits ${j.sub_bits} cannot be read by this version (sub_bits ${SUB_BITS})`);
    }
    if (j.first + j.counts.length > BUCKETS) {
      throw new JobError(`histogram buckets beyond the last (${BUCKETS})`);
    }
    let sum = 0;
    for (const c of j.counts) {
      if (!isU64(c)) throw new JobError("histogram counts must be u64");
      sum = addU64(sum, c);
    }
    if (sum > U64_MAX) throw new JobError("histogram counts overflow");
    if (sum != j.count) { // eslint-disable-line eqeqeq
      throw new JobError(`histogram count ${j.count} is not the sum of its counts (${sum})`);
    }
    const emptyOk = j.count == 0 && lo === null && hi === null; // eslint-disable-line eqeqeq
    const fullOk = j.count > 0 && lo !== null && hi !== null && lo <= hi;
    if (!emptyOk && !fullOk) throw new JobError("histogram min/max do not fit its count");
    const h = new LogHistogram();
    h.count = j.count;
    if (fullOk) {
      h.min = lo;
      h.max = hi;
    }
    if (j.counts.length > 0) {
      h.counts = new Array(j.first).fill(0).concat(j.counts);
    }
    while (h.counts.length > 0 && h.counts[h.counts.length - 1] == 0) h.counts.pop(); // eslint-disable-line eqeqeq
    return h;
  }
}

// The bucket of every value below 2^16, computed once (when the component
// is built: the table is in its snapshot).
const SMALL = 65536;
const SMALL_BUCKET = new Uint16Array(SMALL);
for (let v = 0; v < SMALL; v++) SMALL_BUCKET[v] = bucketOf(v);
// Buckets of the values below 2^32: (31 - 5) * 64 + 64.
const BUCKETS_32 = 1728;

/**
 * One LogHistogram per small id (a subtype's string id, say), recorded a
 * block at a time with no call per value: values below 2^32 go to typed
 * arrays (a table of ids x 1728 buckets while it stays below 2^20 cells),
 * the rest to LogHistograms. histogram(id) gives an id's LogHistogram.
 *
 *   const hs = new epochd.Histograms(sub.none);          // ids 0..none-1
 *   for (const b of col.blocks()) hs.recordInts(b.gather(sub.ids), b.values);
 */
export class Histograms {
  /** For ids 0..n-1 (an id >= n, e.g. stringsByRow's `none`, is skipped). */
  constructor(n) {
    this.n = n;
    // One more row, for the id n (none): recorded there, never read.
    this.table = (n + 1) * BUCKETS_32 <= 1 << 20 ? new Uint32Array((n + 1) * BUCKETS_32) : null;
    this.mins = new Float64Array(n + 1).fill(Infinity);
    this.maxs = new Float64Array(n + 1).fill(-1);
    this.others = new Array(n); // LogHistogram per id, for the rest
  }

  _other(id, v) {
    let h = this.others[id];
    if (h === undefined) this.others[id] = h = new LogHistogram();
    h.record(v);
  }

  /**
   * Records values[i] (a BigInt64Array: INT values; negative ones are
   * skipped) into histogram ids[i], for every i.
   */
  recordInts(ids, values) {
    const n = this.n, table = this.table, mins = this.mins, maxs = this.maxs;
    const bucket = SMALL_BUCKET, width = BUCKETS_32;
    const w = new Int32Array(values.buffer, values.byteOffset, values.length * 2);
    const len = Math.min(ids.length, values.length);
    if (table === null) {
      for (let i = 0; i < len; i++) if (ids[i] < n) this._int(ids[i], w[2 * i], w[2 * i + 1], values, i);
      return;
    }
    // The common case in as few operations as can be (an interpreter runs
    // this): a value below 2^16 (low word 0..65535, high word 0) goes to the
    // table, its bucket looked up; ids above n are clamped to the row of n.
    for (let i = 0, j = 0; i < len; i++, j += 2) {
      const lo = w[j], hi = w[j + 1];
      if ((hi | (lo >>> 16)) === 0) {
        let id = ids[i];
        if (id > n) id = n;
        table[id * width + bucket[lo]]++;
        if (lo < mins[id]) mins[id] = lo;
        if (lo > maxs[id]) maxs[id] = lo;
      } else if (hi >= 0 && ids[i] < n) {
        this._int(ids[i], lo, hi, values, i);
      }
    }
  }

  // An INT value >= 0 (its low and high words), off the common path.
  _int(id, lo, hi, values, i) {
    if (hi < 0) return;
    if (hi === 0) this._small(id, lo >>> 0);
    else this._other(id, hi < 0x200000 ? hi * TWO32 + (lo >>> 0) : values[i]);
  }

  /**
   * Records values[i] (numbers: FLOAT values, or INT values as numbers)
   * into histogram ids[i]: those finite and >= 0, truncated toward zero
   * (saturating at 2^64 - 1), as Rust's `v as u64`; others are skipped.
   */
  recordNumbers(ids, values) {
    const n = this.n;
    const len = Math.min(ids.length, values.length);
    for (let i = 0; i < len; i++) {
      const id = ids[i];
      const f = values[i];
      if (id >= n || !(f >= 0) || f === Infinity) continue;
      const t = Math.trunc(f) + 0; // + 0: -0 is 0
      if (t < TWO32) this._small(id, t);
      else this._other(id, t <= MAX_SAFE ? t : t >= 2 ** 64 ? U64_MAX : BigInt(t));
    }
  }

  // A value below 2^32.
  _small(id, v) {
    if (this.table === null) {
      this._other(id, v);
      return;
    }
    this.table[id * BUCKETS_32 + (v < SMALL ? SMALL_BUCKET[v] : bucketOf(v))]++;
    if (v < this.mins[id]) this.mins[id] = v;
    if (v > this.maxs[id]) this.maxs[id] = v;
  }

  /** The histogram of an id (a new LogHistogram; empty when it has no value). */
  histogram(id) {
    const h = new LogHistogram();
    if (this.table !== null && this.maxs[id] >= 0) {
      const cells = this.table.subarray(id * BUCKETS_32, (id + 1) * BUCKETS_32);
      let last = cells.length;
      while (last > 0 && cells[last - 1] === 0) last--;
      let count = 0;
      for (let b = 0; b < last; b++) count += cells[b];
      h.counts = Array.from(cells.subarray(0, last));
      h.count = count;
      h.min = this.mins[id];
      h.max = this.maxs[id];
    }
    if (this.others[id] !== undefined) h.merge(this.others[id]);
    return h;
  }
}

function isU32(v) {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

/**
 * Checks a parsed JSON object against a struct's fields as serde's
 * deny_unknown_fields does: every key is one of `fields`, and each of
 * `required` is there. Throws a JobError otherwise.
 */
export function checkFields(obj, what, fields, required = fields) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new JobError(`invalid type: expected struct ${what}`);
  }
  for (const k of Object.keys(obj)) {
    if (!fields.includes(k)) {
      throw new JobError(`unknown field \`${k}\`, expected ${fields.map((f) => `\`${f}\``).join(", ")}`);
    }
  }
  for (const k of required) {
    if (!(k in obj)) throw new JobError(`missing field \`${k}\``);
  }
}
