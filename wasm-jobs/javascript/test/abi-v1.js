// A host for ABI v1 core modules (sdk/ABI.md), over a MockEpoch of
// sdk/javascript/test/mock.js: runs the Rust reference jobs
// (wasm-jobs/out/<job>.wasm) in Node, so that the JavaScript jobs can be
// compared with them byte for byte on the same epochs.
const NOT_FOUND = -1, BAD_HANDLE = -2, OUT_OF_RANGE = -3, WRONG_TYPE = -4, NOT_NOW = -6;
const TYPES = ["int", "float", "bool", "str", "null", "raw"];
const DEC = new TextDecoder();

/** Runs `entry` ("epochd_run" or "epochd_merge") of a compiled module. */
export function runCore(module, mock, entry = "epochd_run", inputs = null) {
  let memory = null;
  const handles = [];
  const found = new Map();
  let emitted = new Uint8Array(0), failed = null;
  const logs = [];
  const u8 = () => new Uint8Array(memory.buffer);
  const dv = () => new DataView(memory.buffer);
  const str = (p, n) => DEC.decode(u8().slice(p, p + n));
  const copyOut = (bytes, dst, cap) => {
    u8().set(bytes.subarray(0, Math.min(bytes.length, cap)), dst);
    return bytes.length;
  };
  const handle = (key, make) => {
    if (!found.has(key)) {
      const v = make();
      found.set(key, v === undefined ? NOT_FOUND : handles.push(v) - 1);
    }
    return found.get(key);
  };
  const col = (h) => {
    const v = handles[h];
    return v && v.rows && !v.offsets ? v : null;
  };
  const block = (h, start, count, dst, width, get) => {
    const c = col(h);
    if (!c) return BAD_HANDLE;
    const values = get(c);
    if (values === null) return WRONG_TYPE;
    if (start > values.length) return OUT_OF_RANGE;
    const n = Math.min(count, values.length - start);
    const d = dv();
    for (let i = 0; i < n; i++) {
      const v = values[start + i];
      if (width === 8 && typeof v === "bigint") d.setBigInt64(dst + 8 * i, v, true);
      else if (width === 8) d.setFloat64(dst + 8 * i, v, true);
      else if (width === 4) d.setUint32(dst + 4 * i, v, true);
      else d.setUint8(dst + i, v ? 1 : 0);
    }
    return n;
  };
  const epochd = {
    epoch: () => BigInt(mock.epoch),
    seq: () => (entry === "epochd_merge" ? 0 : mock.seq),
    rows: () => (entry === "epochd_merge" ? 0 : mock.rows),
    dc: (dst, cap) => copyOut(new TextEncoder().encode(entry === "epochd_merge" ? "" : mock.dc), dst, cap),
    column: (p, n, type) => {
      if (type < 0 || type >= TYPES.length) return NOT_FOUND;
      const path = str(p, n);
      if (entry === "epochd_merge") return NOT_FOUND;
      return handle(`c${type}\0${path}`, () => mock.columns.get(TYPES[type] + "\0" + path));
    },
    column_len: (h) => (col(h) ? col(h).rows.length : BAD_HANDLE),
    column_dense: (h) => (col(h) ? (col(h).dense ? 1 : 0) : BAD_HANDLE),
    column_rows: (h, s, n, dst) => block(h, s, n, dst, 4, (c) => c.rows),
    column_i64: (h, s, n, dst) => block(h, s, n, dst, 8, (c) => (c.type === "int" ? c.values : null)),
    column_f64: (h, s, n, dst) => block(h, s, n, dst, 8, (c) => (c.type === "float" ? c.values : null)),
    column_u8: (h, s, n, dst) => block(h, s, n, dst, 1, (c) => (c.type === "bool" ? c.values : null)),
    column_ids: (h, s, n, dst) => block(h, s, n, dst, 4, (c) => (c.dict ? c.dict[0] : null)),
    dict_len: (h) => (!col(h) ? BAD_HANDLE : col(h).dict ? col(h).dict[1].length : WRONG_TYPE),
    dict_entry: (h, id, dst, cap) => {
      const c = col(h);
      if (!c) return BAD_HANDLE;
      if (!c.dict) return WRONG_TYPE;
      if (id >= c.dict[1].length) return OUT_OF_RANGE;
      return copyOut(c.dict[1][id], dst, cap);
    },
    column_bytes: (h, i, dst, cap) => {
      const c = col(h);
      if (!c) return BAD_HANDLE;
      if (c.type !== "str" && c.type !== "raw") return WRONG_TYPE;
      if (i >= c.values.length) return OUT_OF_RANGE;
      return copyOut(c.values[i], dst, cap);
    },
    container: () => NOT_FOUND,
    container_len: () => BAD_HANDLE,
    container_rows: () => BAD_HANDLE,
    container_offsets: () => BAD_HANDLE,
    container_keys: () => BAD_HANDLE,
    container_values: () => BAD_HANDLE,
    emit: (p, n) => {
      emitted = u8().slice(p, p + n);
      return 0;
    },
    fail: (p, n) => {
      failed = str(p, n);
    },
    log: (level, p, n) => {
      logs.push([level, str(p, n)]);
    },
    config_len: () => mock.config.length,
    config_read: (dst, cap) => copyOut(mock.config, dst, cap),
    merge_input: (which, dst, cap) => {
      if (entry !== "epochd_merge") return NOT_NOW;
      if (which !== 0 && which !== 1) return NOT_FOUND;
      return copyOut(inputs[which], dst, cap);
    },
  };
  const instance = new WebAssembly.Instance(module, { epochd });
  memory = instance.exports.memory;
  let code;
  try {
    code = instance.exports[entry]();
  } catch (e) {
    return { ok: false, error: `trap: ${failed ?? e.message}`, logs };
  }
  return code === 0 ? { ok: true, bytes: emitted, logs } : { ok: false, error: failed, logs };
}
