// A fake of the host side of the epochd WIT world (../../wit/job.wit):
// an epoch made from events in memory, served as the `epoch` and `host`
// interfaces look to a job. Used by the SDK's unit tests (through
// hooks.js, which resolves "epochd:job/..." to wit-epoch.js and
// wit-host.js) and by wasm-jobs/javascript/compare.mjs, which runs the
// built components (transpiled with jco) and the Rust modules over the
// same epochs.
//
// Events are plain objects. Nested objects are field paths joined with
// "."; a value is INT (a BigInt, or a number that is an integer), FLOAT
// (another number, or f(x) for a whole one), BOOL, STR (a string, or a
// Uint8Array of its exact bytes: invalid UTF-8 allowed), NULL (null), RAW
// (raw(bytes)); an array is a list container and mapc({...}) a map
// container, whose entries' values are scalars.

const TYPES = ["int", "float", "bool", "str", "null", "raw"];
const ENC = new TextEncoder();
const DEC = new TextDecoder("utf-8");

/** A FLOAT value, even when whole: f(5) is 5.0. */
export function f(x) {
  return { float: Number(x) };
}

/** A RAW value (MessagePack bytes). */
export function raw(bytes) {
  return { raw: Uint8Array.from(bytes) };
}

/** A map container (keys vary from event to event). */
export function mapc(obj) {
  return { mapc: obj };
}

function classify(v) {
  if (v === null) return ["null", null];
  if (typeof v === "bigint") return ["int", BigInt.asIntN(64, v)];
  if (typeof v === "number") return Number.isInteger(v) ? ["int", BigInt(v)] : ["float", v];
  if (typeof v === "boolean") return ["bool", v];
  if (typeof v === "string") return ["str", ENC.encode(v)];
  if (v instanceof Uint8Array) return ["str", v];
  if (typeof v === "object" && "float" in v) return ["float", v.float];
  if (typeof v === "object" && "raw" in v) return ["raw", v.raw];
  return null;
}

function bytesKey(b) {
  return Array.from(b).join(",");
}

/** The values of one path and type, over rows of some space. */
class MockColumn {
  constructor(type) {
    this.type = type;
    this.rows = [];
    this.values = [];
    this.space = 0;
    this.dict = null; // [ids, entries] when dictionary-coded
  }

  finish(space, coding) {
    this.space = space;
    if (this.type === "str") {
      const dictionary =
        coding === "dict" ? true : coding === "plain" ? false : distinct(this.values) * 2 <= this.values.length;
      if (dictionary) {
        const index = new Map();
        const entries = [];
        const ids = this.values.map((b) => {
          const k = bytesKey(b);
          let id = index.get(k);
          if (id === undefined) {
            id = entries.length;
            entries.push(b);
            index.set(k, id);
          }
          return id;
        });
        this.dict = [ids, entries];
      }
    }
  }

  get dense() {
    return this.rows.length === this.space;
  }
}

function distinct(values) {
  return new Set(values.map(bytesKey)).size;
}

class MockContainer {
  constructor(kind) {
    this.kind = kind;
    this.rows = [];
    this.offsets = [0];
    this.keys = kind === "map" ? new MockColumn("str") : null;
    this.values = new Map();
    this.entries = 0;
  }

  add(row, items) {
    this.rows.push(row);
    for (const [k, v] of items) {
      const c = classify(v);
      if (c !== null) {
        let col = this.values.get(c[0]);
        if (!col) this.values.set(c[0], (col = new MockColumn(c[0])));
        col.rows.push(this.entries);
        col.values.push(c[1]);
      }
      if (this.keys) {
        this.keys.rows.push(this.entries);
        this.keys.values.push(ENC.encode(k));
      }
      this.entries++;
    }
    this.offsets.push(this.entries);
  }

  finish(coding) {
    if (this.keys) this.keys.finish(this.entries, coding);
    for (const c of this.values.values()) c.finish(this.entries, coding);
  }
}

/**
 * An epoch of events: { epoch, seq, dc, events, config, coding } where
 * coding is "dict" (every STR column dictionary-coded), "plain" (none) or
 * "auto" (when strings repeat, as the daemon does).
 */
export class MockEpoch {
  constructor({ epoch = 0, seq = 0, dc = "", events = [], config = "", coding = "auto" } = {}) {
    this.epoch = epoch;
    this.seq = seq;
    this.dc = dc;
    this.rows = events.length;
    this.config = typeof config === "string" ? ENC.encode(config) : Uint8Array.from(config);
    this.columns = new Map();
    this.containers = new Map();
    events.forEach((e, row) => this.addObject(row, "", e));
    for (const c of this.columns.values()) c.finish(this.rows, coding);
    for (const c of this.containers.values()) c.finish(coding);
  }

  addObject(row, prefix, obj) {
    for (const [k, v] of Object.entries(obj)) {
      const path = prefix + k;
      if (Array.isArray(v)) {
        this.container(path, "list").add(row, v.map((x, i) => [String(i), x]));
        continue;
      }
      if (v !== null && typeof v === "object" && "mapc" in v) {
        this.container(path, "map").add(row, Object.entries(v.mapc));
        continue;
      }
      const c = classify(v);
      if (c === null) {
        this.addObject(row, path + ".", v);
        continue;
      }
      const key = c[0] + "\u0000" + path;
      let col = this.columns.get(key);
      if (!col) this.columns.set(key, (col = new MockColumn(c[0])));
      col.rows.push(row);
      col.values.push(c[1]);
    }
  }

  container(path, kind) {
    const key = kind + "\u0000" + path;
    let c = this.containers.get(key);
    if (!c) this.containers.set(key, (c = new MockContainer(kind)));
    return c;
  }
}

function readError(payload) {
  const e = new Error(payload);
  e.payload = payload;
  return e;
}

function slice(list, start, count) {
  if (start > list.length) throw readError("out-of-range");
  return list.slice(start, Math.min(list.length, start + count));
}

/**
 * The `epoch` interface over a MockEpoch (or a function returning the
 * current one), as componentize-js bindings and jco-transpiled components
 * call it: enums as strings, lists as typed arrays, errors thrown with a
 * `payload` (the read-error).
 */
export function witEpoch(current) {
  const mock = typeof current === "function" ? current : () => current;

  class Column {
    constructor(col) {
      this.col = col;
    }
    valueType() {
      return this.col.type;
    }
    len() {
      return this.col.rows.length;
    }
    dense() {
      return this.col.dense;
    }
    rows(start, count) {
      return Uint32Array.from(slice(this.col.rows, start, count));
    }
    typed(type, start, count) {
      if (this.col.type !== type) throw readError("wrong-type");
      return slice(this.col.values, start, count);
    }
    ints(start, count) {
      return BigInt64Array.from(this.typed("int", start, count));
    }
    floats(start, count) {
      return Float64Array.from(this.typed("float", start, count));
    }
    bools(start, count) {
      return this.typed("bool", start, count);
    }
    ids(start, count) {
      if (this.col.type !== "str" || !this.col.dict) throw readError("wrong-type");
      return Uint32Array.from(slice(this.col.dict[0], start, count));
    }
    dictionary() {
      if (this.col.type !== "str" || !this.col.dict) throw readError("wrong-type");
      return this.col.dict[1].map((b) => DEC.decode(b));
    }
    strings(start, count) {
      return this.typed("str", start, count).map((b) => DEC.decode(b));
    }
    bytes(index) {
      if (this.col.type !== "str" && this.col.type !== "raw") throw readError("wrong-type");
      if (index >= this.col.values.length) throw readError("out-of-range");
      return Uint8Array.from(this.col.values[index]);
    }
  }

  class Container {
    constructor(c) {
      this.c = c;
    }
    len() {
      return this.c.rows.length;
    }
    rows(start, count) {
      return Uint32Array.from(slice(this.c.rows, start, count));
    }
    offsets(start, count) {
      return Uint32Array.from(slice(this.c.offsets, start, count));
    }
    keys() {
      if (!this.c.keys) throw readError("wrong-type");
      return new Column(this.c.keys);
    }
    values(type) {
      const col = this.c.values.get(type);
      return col ? new Column(col) : undefined;
    }
  }

  return {
    epoch: () => BigInt(mock().epoch),
    seq: () => mock().seq,
    rows: () => mock().rows,
    dc: () => mock().dc,
    findColumn(path, type) {
      if (!TYPES.includes(type)) throw new TypeError(`bad value-type ${type}`);
      const col = mock().columns.get(type + "\u0000" + path);
      return col ? new Column(col) : undefined;
    },
    findContainer(path, kind) {
      const c = mock().containers.get(kind + "\u0000" + path);
      return c ? new Container(c) : undefined;
    },
    Column,
    Container,
  };
}

/** The `host` interface: the mock's config; log lines pushed to `logs`. */
export function witHost(current, logs = []) {
  const mock = typeof current === "function" ? current : () => current;
  return {
    config: () => Uint8Array.from(mock().config),
    log: (level, message) => {
      logs.push([level, message]);
    },
  };
}
