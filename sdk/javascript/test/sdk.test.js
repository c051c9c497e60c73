// The SDK over a fake epoch (mock.js, served by hooks.js): columns,
// strings by row, containers, config, log, and the run/merge exports.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as epochd from "../epochd.js";
import { setEpoch as serve, state } from "./fake.js";
import { MockEpoch, f, mapc, raw } from "./mock.js";

// A new epoch: the SDK forgets the columns it found in the last one.
function setEpoch(mock) {
  serve(mock);
  epochd.reset();
}

const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);

function events() {
  return [
    { type: "WEB", subtype: "app", tuning: { wallclock: 100, status: 200 }, tags: ["a", "b"], ok: true },
    { type: "AV", subtype: "availability_cluster", tuning: { wallclock: 2.5 }, ok: false },
    { type: "WEB", tuning: { wallclock: -3, status: 503 }, exp: mapc({ x: 1, y: "s" }), blob: raw([0x91, 1]) },
    { type: enc("W\xffB").length ? new Uint8Array([0x57, 0xff, 0x42]) : "", subtype: 7, tags: [] },
    { type: "WEB", subtype: "app", tuning: { wallclock: f(7), status: 9223372036854775807n } },
  ];
}

for (const coding of ["dict", "plain", "auto"]) {
  test(`columns and strings by row (${coding})`, () => {
    setEpoch(new MockEpoch({ epoch: 1763800123, seq: 2, dc: "ams4", events: events(), coding }));
    assert.equal(epochd.epoch(), 1763800123);
    assert.equal(epochd.seq(), 2);
    assert.equal(epochd.rows(), 5);
    assert.equal(epochd.dc(), "ams4");
    assert.equal(epochd.column("nope", epochd.INT), null);
    assert.throws(() => epochd.column("type", "string"), TypeError);

    const wall = epochd.column("tuning.wallclock", epochd.INT);
    assert.equal(wall.length, 2);
    assert.equal(wall.dense, false);
    assert.deepEqual(wall.rows(), new Uint32Array([0, 2]));
    assert.deepEqual(wall.ints(), new BigInt64Array([100n, -3n]));
    assert.deepEqual(wall.numbers(), new Float64Array([100, -3]));
    assert.deepEqual([...wall], [100n, -3n]);
    assert.deepEqual([...wall.entries()], [[0, 100n], [2, -3n]]);
    assert.equal(epochd.column("tuning.wallclock", epochd.INT), wall); // cached
    const fl = epochd.column("tuning.wallclock", epochd.FLOAT);
    assert.deepEqual(fl.floats(), new Float64Array([2.5, 7]));
    assert.deepEqual(fl.rows(), new Uint32Array([1, 4]));
    assert.deepEqual(epochd.column("tuning.status", epochd.INT).numbers(1, 5), new Float64Array([503, 2 ** 63]));
    assert.deepEqual(epochd.column("ok", epochd.BOOL).bools(), new Uint8Array([1, 0]));

    const type = epochd.column("type", epochd.STR);
    assert.equal(type.dense, true);
    assert.deepEqual(type.strings(), ["WEB", "AV", "WEB", "W\ufffdB", "WEB"]);
    assert.deepEqual(type.bytes(3), new Uint8Array([0x57, 0xff, 0x42]));
    const dict = type.dictionary();
    if (coding === "plain") {
      assert.equal(dict, null);
      assert.throws(() => type.ids(), /the host answered `ids\(0, 5\) of type \(str\)` with wrong-type/);
    } else if (coding === "dict") {
      assert.deepEqual(dict, ["WEB", "AV", "W\ufffdB"]);
      assert.deepEqual(type.ids(), new Uint32Array([0, 1, 0, 2, 0]));
    }

    const t = epochd.stringsByRow("type");
    assert.deepEqual(Array.from(t.ids, (id) => t.strings[id] ?? null), ["WEB", "AV", "WEB", "W\ufffdB", "WEB"]);
    assert.equal(t.none, t.strings.length);
    const s = epochd.stringsByRow("subtype");
    assert.deepEqual(Array.from(s.ids, (id) => (id === s.none ? null : s.strings[id])),
      ["app", "availability_cluster", null, null, "app"]);
    const none = epochd.stringsByRow("no.such.field");
    assert.deepEqual(none, { ids: new Uint32Array(5), strings: [], none: 0 });

    const blocks = [...epochd.column("type", epochd.STR).blocks(2)];
    assert.deepEqual(blocks.map((b) => [b.start, Array.from(b.rows), b.values]),
      [[0, [0, 1], ["WEB", "AV"]], [2, [2, 3], ["WEB", "W\ufffdB"]], [4, [4], ["WEB"]]]);
    assert.deepEqual(epochd.column("blob", epochd.RAW).values(), [new Uint8Array([0x91, 1])]);
  });
}

test("containers: lists and maps", () => {
  setEpoch(new MockEpoch({ events: events(), coding: "dict" }));
  const tags = epochd.container("tags", epochd.LIST);
  assert.equal(tags.length, 2);
  assert.deepEqual(tags.rows(), new Uint32Array([0, 3]));
  assert.deepEqual(tags.offsets(), new Uint32Array([0, 2, 2]));
  assert.equal(tags.keys(), null);
  assert.deepEqual(tags.values(epochd.STR).strings(), ["a", "b"]);
  assert.equal(tags.values(epochd.INT), null);
  const exp = epochd.container("exp", epochd.MAP);
  assert.deepEqual(exp.rows(), new Uint32Array([2]));
  assert.deepEqual(exp.keys().strings(), ["x", "y"]);
  assert.deepEqual(exp.values(epochd.INT).rows(), new Uint32Array([0]));
  assert.equal(epochd.container("exp", epochd.LIST), null);
});

test("run: a value becomes the result, a thrown one the error", async () => {
  setEpoch(new MockEpoch({ events: events(), config: "  tuning.status\n" }));
  const r = epochd.run(() => ({ events: epochd.rows(), config: epochd.configText().trim() }))();
  assert.equal(r.tag, "ok");
  assert.equal(dec(r.val), '{"events":5,"config":"tuning.status"}');
  assert.deepEqual(epochd.run(() => new Uint8Array([1, 2]))(), { tag: "ok", val: new Uint8Array([1, 2]) });
  assert.deepEqual(epochd.run(() => "text")(), { tag: "ok", val: enc("text") });
  assert.deepEqual(epochd.run(() => undefined)(), { tag: "ok", val: new Uint8Array() });
  assert.deepEqual(epochd.run(() => epochd.fail("no good"))(), { tag: "err", val: "no good" });
  assert.deepEqual(epochd.run(() => { throw new Error("plain"); })(), { tag: "err", val: "plain" });
  assert.deepEqual(epochd.run(() => { throw "a string"; })(), { tag: "err", val: "a string" });
  const bug = epochd.run(() => null.x)();
  assert.equal(bug.tag, "err");
  assert.match(bug.val, /^TypeError: .* \(at .*sdk\.test\.js:\d+:\d+\)$/);
  const host = epochd.run(() => epochd.column("type", epochd.STR).bytes(99))();
  assert.deepEqual(host, { tag: "err", val: "the host answered `bytes(99) of type (str)` with out-of-range" });
  assert.deepEqual(await epochd.run(async () => [1])(), { tag: "ok", val: enc("[1]") });
  assert.deepEqual(await epochd.run(async () => { throw new Error("later"); })(), { tag: "err", val: "later" });
});

test("merge: the empty input is the identity; mergeJSON parses", () => {
  setEpoch(new MockEpoch({}));
  const add = epochd.mergeJSON((a, b) => ({ n: epochd.addU64(a.n, b.n) }));
  assert.deepEqual(add(enc(""), enc('{"n":1}')), { tag: "ok", val: enc('{"n":1}') });
  assert.deepEqual(add(enc(' {"n" : 1}'), enc("")), { tag: "ok", val: enc(' {"n" : 1}') });
  assert.deepEqual(add(enc(""), enc("")), { tag: "ok", val: enc("") });
  assert.equal(dec(add(enc('{"n":9007199254740991}'), enc('{"n":2}')).val), '{"n":9007199254740993}');
  assert.deepEqual(add(enc("{"), enc('{"n":1}')), { tag: "err", val: "JSON: EOF while parsing an object at line 1 column 1" });
});

test("config and log", () => {
  setEpoch(new MockEpoch({ config: '{"path":"x"}' }));
  assert.deepEqual(epochd.config(), enc('{"path":"x"}'));
  assert.deepEqual(epochd.configJSON(), { path: "x" });
  epochd.log.info("read", 3, "rows", { a: [1] }, new Error("e"));
  epochd.log.warn("w");
  assert.deepEqual(state.logs, [["info", 'read 3 rows {"a":[1]} e'], ["warn", "w"]]);
  setEpoch(new MockEpoch({ config: " \n" }));
  assert.equal(epochd.configJSON(), undefined);
  setEpoch(new MockEpoch({ config: "{" }));
  assert.throws(() => epochd.configJSON(), /the job's config is not the JSON it expects: EOF/);
});

test("checkFields refuses unknown and missing fields", () => {
  epochd.checkFields({ a: 1, b: 2 }, "S", ["a", "b"]);
  assert.throws(() => epochd.checkFields({ a: 1, c: 2 }, "S", ["a", "b"], ["a"]), /unknown field `c`, expected `a`, `b`/);
  assert.throws(() => epochd.checkFields({ b: 1 }, "S", ["a", "b"]), /missing field `a`/);
  assert.throws(() => epochd.checkFields([1], "S", ["a"]), /invalid type: expected struct S/);
});
