// Reference job `error-rate` in JavaScript: the share of WEB events whose
// tuning.status is an integer >= 500, per dc; merge adds per dc and
// recomputes the rates. The same result bytes as wasm-jobs/error-rate (see
// wasm-jobs/README.md):
//
//   {"web":400,"errors":3,"rate":0.0075,"dcs":{"ams4":{"web":400,"errors":3,"rate":0.0075}}}
import * as epochd from "../../sdk/javascript/epochd.js";

const ERROR_STATUS = 500;

// {web, errors, rate}: rate a JSON float, null without WEB events.
function rate(web, errors) {
  return { web, errors, rate: web > 0 ? epochd.float(Number(errors) / Number(web)) : null };
}

// dcs: Map dc -> [web, errors].
function result(dcs) {
  let web = 0, errors = 0;
  const out = new Map();
  for (const dc of [...dcs.keys()].sort(epochd.compareUtf8)) {
    const [w, e] = dcs.get(dc);
    web = epochd.addU64(web, w);
    errors = epochd.addU64(errors, e);
    out.set(dc, rate(w, e));
  }
  return { ...rate(web, errors), dcs: out };
}

export const run = epochd.run(() => {
  // WEB events counted on the ids of `type` (one typed array of the
  // epoch's rows); then each error status's row looked up in it.
  const rows = epochd.rows();
  const types = epochd.stringsByRow("type");
  const ids = types.ids;
  const webId = types.strings.indexOf("WEB");
  let web = 0, errors = 0;
  if (webId >= 0) {
    for (let r = 0; r < rows; r++) if (ids[r] === webId) web++;
    const status = epochd.column("tuning.status", epochd.INT);
    if (status !== null) {
      for (const block of status.blocks()) {
        // The type id of each value's row (a view when the column is
        // dense), and the int64 values as pairs of int32 (low, high): no
        // BigInt per value.
        const type = block.gather(ids);
        const values = block.values;
        const w = new Int32Array(values.buffer, values.byteOffset, values.length * 2);
        for (let i = 0; i < type.length; i++) {
          const hi = w[2 * i + 1];
          if ((hi > 0 || (hi === 0 && w[2 * i] >>> 0 >= ERROR_STATUS)) && type[i] === webId) errors++;
        }
      }
    }
  }
  return result(new Map([[epochd.dc(), [web, errors]]]));
});

function isRate(v) {
  return v === undefined || v === null || typeof v === "number" || typeof v === "bigint";
}

// Adds a result's counts per dc (checked as the Rust job's serde types are).
function parse(v, dcs) {
  epochd.checkFields(v, "ErrorRate", ["web", "errors", "rate", "dcs"], ["web", "errors", "dcs"]);
  if (!epochd.isU64(v.web) || !epochd.isU64(v.errors) || !isRate(v.rate) ||
      v.dcs === null || typeof v.dcs !== "object" || Array.isArray(v.dcs)) {
    epochd.fail("JSON: expected web, errors (u64), rate (f64 or null), dcs (object)");
  }
  for (const dc of Object.keys(v.dcs)) {
    const r = v.dcs[dc];
    epochd.checkFields(r, "Rate", ["web", "errors", "rate"], ["web", "errors"]);
    if (!epochd.isU64(r.web) || !epochd.isU64(r.errors) || !isRate(r.rate)) {
      epochd.fail("JSON: expected web, errors (u64), rate (f64 or null)");
    }
    const had = dcs.get(dc);
    dcs.set(dc, had === undefined ? [r.web, r.errors]
      : [epochd.addU64(had[0], r.web), epochd.addU64(had[1], r.errors)]);
  }
}

export const merge = epochd.mergeJSON((a, b) => {
  const dcs = new Map();
  parse(a, dcs);
  parse(b, dcs);
  return result(dcs);
});
