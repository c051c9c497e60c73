// The built components (out/javascript/<job>.wasm), run in node through
// jco (component.js) over fake epochs: the reference jobs give the Rust
// modules' bytes (out/<job>.wasm; without them, the JavaScript jobs run
// directly in node), runs and merges; the hostile-clock job reads the
// host's clocks and random stream, the same in every instance. Skipped
// when the components are not built (wasm-jobs/build-js builds them, then
// runs this).
//
//   node --import ../../sdk/javascript/test/register.js --test test/components.test.js
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";

import { setEpoch } from "../../../sdk/javascript/test/fake.js";
import { MockEpoch } from "../../../sdk/javascript/test/mock.js";
import { runCore } from "./abi-v1.js";
import { loadComponent } from "./component.js";
import { awkward, workload } from "./events.js";

const out = (name) => new URL(`../../out/${name}.wasm`, import.meta.url);
const dec = (b) => new TextDecoder().decode(b);
const built = ["count", "latency", "error-rate", "hostile-loop", "hostile-memory", "hostile-clock"]
  .every((job) => existsSync(out(`javascript/${job}`)));
const skip = !built && "out/javascript/*.wasm not built";

// The reference: the Rust module when built, else the JavaScript job in node.
async function reference(job) {
  if (existsSync(out(job))) {
    const module = new WebAssembly.Module(readFileSync(out(job)));
    return {
      run: (mock) => runCore(module, mock),
      merge: (a, b) => runCore(module, new MockEpoch({ epoch: 9 }), "epochd_merge", [a, b]),
    };
  }
  const js = await import(`../${job}.js`);
  const wrap = (r) => (r.tag === "ok" ? { ok: true, bytes: r.val } : { ok: false, error: r.val });
  return {
    run: (mock) => (setEpoch(mock), wrap(js.run())),
    merge: (a, b) => (setEpoch(new MockEpoch({ epoch: 9 })), wrap(js.merge(a, b))),
  };
}

// Calls an export of a fresh instance: {ok, bytes} or {ok: false, error}.
async function call(component, mock, entry, args = []) {
  const logs = { logs: [], stdout: "", stderr: "" };
  const instance = await component.instantiate(mock, logs);
  try {
    return { ok: true, bytes: instance[entry](...args), logs };
  } catch (e) {
    return { ok: false, error: e.payload ?? `${e.message} ${logs.stderr}`, logs };
  }
}

function same(got, want, what) {
  assert.equal(got.ok, want.ok, `${what}: ${got.ok ? dec(got.bytes) : got.error} / ${want.ok ? dec(want.bytes) : want.error}`);
  if (got.ok) assert.equal(dec(got.bytes), dec(want.bytes), what);
  else if (!/^JSON: /.test(want.error)) assert.equal(got.error, want.error, what);
}

for (const job of ["count", "latency", "error-rate"]) {
  test(`component ${job}: the reference's bytes, runs and merges`, { skip }, async (t) => {
    const component = await loadComponent(readFileSync(out(`javascript/${job}`)), job.replace("-", "_"));
    const ref = await reference(job);
    try {
      const epochs = [
        new MockEpoch({ epoch: 1763800123, dc: "ams4", events: workload(42, 2000) }),
        new MockEpoch({ epoch: 7, dc: "fra3", events: awkward(1, 300), coding: "dict" }),
        new MockEpoch({ epoch: 7, dc: "W\u00e9", events: awkward(2, 300), coding: "plain" }),
        new MockEpoch({ epoch: 7, dc: "lhr4", events: awkward(3, 300) }),
        new MockEpoch({ dc: "x" }),
        new MockEpoch({ events: workload(5, 100), config: " tuning.status\n" }),
        new MockEpoch({ events: workload(5, 10), config: [0x61, 0xff] }),
      ];
      const results = [];
      for (const [i, mock] of epochs.entries()) {
        const got = await call(component, mock, "run");
        same(got, ref.run(mock), `${job} run ${i}`);
        if (got.ok && i < 4) results.push(got.bytes);
      }
      let folded = new Uint8Array(0);
      for (const r of results) {
        const got = await call(component, new MockEpoch({ epoch: 9 }), "merge", [folded, r]);
        same(got, folded.length ? ref.merge(folded, r) : { ok: true, bytes: r }, `${job} merge`);
        folded = got.bytes;
      }
      const bad = await call(component, new MockEpoch({}), "merge", [results[0], new TextEncoder().encode("{")]);
      assert.match(bad.error, /^JSON: /);
      // Speed: the reference mix's 100k events (V8 running SpiderMonkey's
      // interpreter; the daemon's wasmtime is of the same order).
      const big = new MockEpoch({ epoch: 1763800123, dc: "ams4", events: workload(7, 100000) });
      const times = [];
      let memory = [0, 0];
      for (let k = 0; k < 3; k++) {
        const instance = await component.instantiate(big);
        const before = instance.memoryBytes();
        const started = performance.now();
        instance.run();
        times.push(performance.now() - started);
        memory = [before, instance.memoryBytes()];
      }
      const mib = (x) => (x / 2 ** 20).toFixed(1);
      t.diagnostic(`${job}: 100k events in ${times.map((x) => x.toFixed(1)).join(", ")} ms; ` +
        `linear memory ${mib(memory[0])} MiB at the start, ${mib(memory[1])} MiB at the end`);
    } finally {
      component.cleanup();
    }
  });
}

test("component hostile-clock: the host's clocks and random stream, the same in every instance", { skip }, async () => {
  const component = await loadComponent(readFileSync(out("javascript/hostile-clock")), "hostile_clock");
  try {
    const seen = [];
    for (const epoch of [1763800123, 1763800123, 5]) {
      const got = await call(component, new MockEpoch({ epoch }), "run");
      assert.ok(got.ok, got.error);
      seen.push(JSON.parse(dec(got.bytes)));
    }
    assert.deepEqual(seen[0], seen[1]);
    assert.deepEqual(seen[0].date, [1763800123000, 1763800123000]); // component.js serves the epoch
    assert.deepEqual(seen[0].performance, [0, 0]); // a clock that computing does not move
    assert.notDeepEqual(seen[0].random, seen[2].random); // from the host's stream
    assert.equal(seen[0].crypto.length, 8);
  } finally {
    component.cleanup();
  }
});

test("hostile-loop and hostile-memory are components exporting run", { skip }, async () => {
  for (const job of ["hostile-loop", "hostile-memory"]) {
    const component = await loadComponent(readFileSync(out(`javascript/${job}`)), job.replace("-", "_"));
    try {
      const instance = await component.instantiate(new MockEpoch({}));
      assert.equal(typeof instance.run, "function");
      assert.equal(instance.merge, undefined);
    } finally {
      component.cleanup();
    }
  }
});
