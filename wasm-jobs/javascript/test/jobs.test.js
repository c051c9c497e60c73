// The JavaScript reference jobs, run in Node over fake epochs
// (sdk/javascript/test/mock.js), against the Rust reference modules
// (wasm-jobs/out/<job>.wasm, run by abi-v1.js) on the same epochs: the
// same bytes per run and per merge, on the reference mix and on awkward
// events, with strings dictionary-coded, plain and mixed; and the merge
// laws on random splits. Without the Rust modules (wasm-jobs/build not
// run), those comparisons are skipped and the README's examples remain.
//
//   node --import ../../sdk/javascript/test/register.js --test test/
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";

import { setEpoch } from "../../../sdk/javascript/test/fake.js";
import { MockEpoch } from "../../../sdk/javascript/test/mock.js";
import { runCore } from "./abi-v1.js";
import { awkward, rng, workload } from "./events.js";

const JOBS = ["count", "latency", "error-rate"];
const jobs = {};
for (const job of JOBS) jobs[job] = await import(`../${job}.js`);
const rust = {};
for (const job of JOBS) {
  const path = new URL(`../../out/${job}.wasm`, import.meta.url);
  if (existsSync(path)) rust[job] = new WebAssembly.Module(readFileSync(path));
}
const haveRust = Object.keys(rust).length === JOBS.length;
const dec = (b) => new TextDecoder().decode(b);
const enc = (s) => new TextEncoder().encode(s);

function runJs(job, mock) {
  setEpoch(mock);
  const r = jobs[job].run();
  return r.tag === "ok" ? { ok: true, bytes: r.val } : { ok: false, error: r.val };
}

function mergeJs(job, a, b, epoch = 0) {
  setEpoch(new MockEpoch({ epoch }));
  const r = jobs[job].merge(a, b);
  return r.tag === "ok" ? { ok: true, bytes: r.val } : { ok: false, error: r.val };
}

function mergeRust(job, a, b, epoch = 0) {
  return runCore(rust[job], new MockEpoch({ epoch }), "epochd_merge", [a, b]);
}

function same(js, rs, what) {
  assert.equal(js.ok, rs.ok, `${what}: JS ${js.ok ? dec(js.bytes) : js.error} / Rust ${rs.ok ? dec(rs.bytes) : rs.error}`);
  if (js.ok) {
    assert.equal(dec(js.bytes), dec(rs.bytes), what);
    assert.deepEqual(js.bytes, rs.bytes, what);
  } else if (!/^JSON: /.test(rs.error)) {
    // The job's own messages match; serde's JSON errors only roughly.
    assert.equal(js.error, rs.error, what);
  }
}

test("the README's examples", () => {
  const events = [
    { type: "AV", subtype: "availability_cluster" }, { type: "WEB" },
    { type: "WEB", subtype: "app", tuning: { wallclock: 100 } }, { type: "WEB", subtype: "app", tuning: { wallclock: 300 } },
  ];
  assert.equal(dec(runJs("count", new MockEpoch({ events })).bytes),
    '{"events":4,"counts":[{"type":"AV","subtype":"availability_cluster","count":1},' +
    '{"type":"WEB","subtype":null,"count":1},{"type":"WEB","subtype":"app","count":2}]}');
  assert.equal(dec(runJs("count", new MockEpoch({})).bytes), '{"events":0,"counts":[]}');
  const lat = dec(runJs("latency", new MockEpoch({ events: [...events, { subtype: "api", tuning: { wallclock: 5 } }] })).bytes);
  assert.ok(lat.startsWith('{"field":"tuning.wallclock","subtypes":{"api":{"p50":5,"p95":5,"p99":5,' +
    '"histogram":{"count":1,"min":5,"max":5,"sub_bits":6,"first":5,"counts":[1]}},' +
    '"app":{"p50":100,"p95":300,"p99":300,"histogram":{"count":2,"min":100,"max":300,"sub_bits":6,"first":100,"counts":[1,0,'), lat);
  assert.equal(dec(runJs("latency", new MockEpoch({})).bytes), '{"field":"tuning.wallclock","subtypes":{}}');
  const web = Array.from({ length: 400 }, (_, i) => ({ type: "WEB", tuning: { status: i < 3 ? 500 : 200 } }));
  assert.equal(dec(runJs("error-rate", new MockEpoch({ dc: "ams4", events: web })).bytes),
    '{"web":400,"errors":3,"rate":0.0075,"dcs":{"ams4":{"web":400,"errors":3,"rate":0.0075}}}');
  assert.equal(dec(runJs("error-rate", new MockEpoch({ dc: "ams4" })).bytes),
    '{"web":0,"errors":0,"rate":null,"dcs":{"ams4":{"web":0,"errors":0,"rate":null}}}');
  const all = Array.from({ length: 2 }, () => ({ type: "WEB", tuning: { status: 503 } }));
  assert.equal(dec(runJs("error-rate", new MockEpoch({ dc: "x", events: all })).bytes),
    '{"web":2,"errors":2,"rate":1.0,"dcs":{"x":{"web":2,"errors":2,"rate":1.0}}}');
});

test("merge: identity, refusals", () => {
  for (const job of JOBS) {
    const r = runJs(job, new MockEpoch({ dc: "a", events: workload(1, 50) })).bytes;
    assert.deepEqual(mergeJs(job, r, enc("")).bytes, r);
    assert.deepEqual(mergeJs(job, enc(""), r).bytes, r);
    assert.deepEqual(mergeJs(job, enc(""), enc("")).bytes, enc(""));
    assert.match(mergeJs(job, r, enc("{")).error, /^JSON: /);
    assert.match(mergeJs(job, r, enc('{"x":1}')).error, /^(JSON: )?unknown field `x`/);
  }
  const a = runJs("latency", new MockEpoch({ events: workload(2, 20) })).bytes;
  const b = runJs("latency", new MockEpoch({ events: workload(3, 20), config: " latency_ms\n" })).bytes;
  assert.equal(mergeJs("latency", a, b).error, 'cannot merge latencies of "tuning.wallclock" and "latency_ms"');
  const c = runJs("latency", new MockEpoch({ events: workload(3, 20), config: 'a"\t\u0001' })).bytes;
  assert.equal(mergeJs("latency", a, c).error, 'cannot merge latencies of "tuning.wallclock" and "a\\"\\t\\u{1}"');
  if (haveRust) {
    for (const [x, y] of [[a, b], [a, c], [c, a]]) same(mergeJs("latency", x, y), mergeRust("latency", x, y), "refusal");
  }
});

const EPOCHS = [];
for (const coding of ["auto", "dict", "plain"]) {
  EPOCHS.push([`workload, ${coding}`, { epoch: 1763800123, dc: "ams4", events: workload(42, 3000), coding }]);
  for (let seed = 1; seed <= 4; seed++) {
    EPOCHS.push([`awkward ${seed}, ${coding}`, { epoch: 7, dc: seed % 2 ? "fra3" : "W\u00e9\ud83d\ude00", events: awkward(seed, 400), coding }]);
  }
}
EPOCHS.push(["empty", { dc: "lhr4" }]);
EPOCHS.push(["latency config", { events: workload(5, 200), config: "\u0085 tuning.status \ufeff" }]);
EPOCHS.push(["latency config, invalid UTF-8", { events: workload(5, 10), config: [0x61, 0xff] }]);

for (const job of JOBS) {
  test(`${job}: every run gives the Rust job's bytes`, { skip: !haveRust && "no wasm-jobs/out/*.wasm" }, () => {
    for (const [name, spec] of EPOCHS) {
      const mock = new MockEpoch(spec);
      same(runJs(job, mock), runCore(rust[job], mock), `${job} over ${name}`);
    }
  });

  test(`${job}: merges give the Rust job's bytes and obey the laws`, { skip: !haveRust && "no wasm-jobs/out/*.wasm" }, () => {
    for (let seed = 1; seed <= 6; seed++) {
      const r = rng(seed);
      const events = seed % 2 ? workload(seed, 1200) : awkward(seed, 600);
      const coding = ["auto", "dict", "plain"][seed % 3];
      // A random split into parts (dcs): each run, then folded from the left.
      const parts = Array.from({ length: 1 + Math.floor(r() * 5) }, () => []);
      for (const e of events) parts[Math.floor(r() * parts.length)].push(e);
      const dcs = ["ams4", "ams5", "fra3", "lhr4", "ams4"];
      const results = parts.map((p, i) => {
        const mock = new MockEpoch({ epoch: 9, dc: dcs[i], events: p, coding });
        const js = runJs(job, mock);
        same(js, runCore(rust[job], mock), `${job} part ${i}, seed ${seed}`);
        return js.bytes;
      });
      let folded = results[0];
      for (const x of results.slice(1)) {
        const js = mergeJs(job, folded, x, 9);
        same(js, mergeRust(job, folded, x, 9), `${job} merge, seed ${seed}`);
        folded = js.bytes;
      }
      // Any grouping, any order: the same bytes.
      if (results.length >= 3) {
        const [a, b, c] = results;
        const left = mergeJs(job, mergeJs(job, a, b).bytes, c).bytes;
        const right = mergeJs(job, a, mergeJs(job, b, c).bytes).bytes;
        const swapped = mergeJs(job, mergeJs(job, c, a).bytes, b).bytes;
        assert.deepEqual(left, right, `${job}: associative, seed ${seed}`);
        assert.deepEqual(left, swapped, `${job}: commutative, seed ${seed}`);
      }
      // count and latency: the merge of the parts is the run over all.
      if (job !== "error-rate" && parts.length > 1) {
        const whole = runJs(job, new MockEpoch({ epoch: 9, dc: "x", events, coding })).bytes;
        assert.equal(dec(folded), dec(whole), `${job}: merged parts = one run, seed ${seed}`);
      }
    }
  });
}
