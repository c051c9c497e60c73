// LogHistogram: the latency job's histogram, as the Rust SDK's
// epochd_job::sketch (the same buckets, percentiles and JSON).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  BUCKETS, Histograms, LogHistogram, bucketBounds, bucketOf, bucketValue, parseJSON, toJSON,
} from "../epochd.js";

const big = (v) => BigInt(v);

test("the buckets cover 0..2^64-1 in order, each within 1/128", () => {
  let last = -1n;
  for (let b = 0; b < BUCKETS; b++) {
    const [lo, hi] = bucketBounds(b);
    assert.ok(big(lo) <= big(hi));
    assert.equal(bucketOf(lo), b, `lo of ${b}`);
    assert.equal(bucketOf(hi), b, `hi of ${b}`);
    assert.equal(bucketOf(big(lo)), b, `lo of ${b} as BigInt`);
    assert.equal(bucketOf(big(hi)), b, `hi of ${b} as BigInt`);
    assert.equal(big(lo), last + 1n, `bucket ${b} starts after ${last}`);
    // Numbers while exact, BigInt beyond.
    for (const v of [lo, hi]) assert.equal(typeof v === "bigint", big(v) > BigInt(Number.MAX_SAFE_INTEGER));
    last = big(hi);
    const mid = big(bucketValue(b));
    for (const v of [big(lo), big(hi)]) {
      const d = mid > v ? mid - v : v - mid;
      assert.ok(Number(d) / Number(v > 0n ? v : 1n) <= 1 / 128, `bucket ${b}: ${mid} for ${v}`);
    }
  }
  assert.equal(last, 2n ** 64n - 1n);
});

test("bucketOf: numbers above 2^32 and BigInts agree", () => {
  let x = 12345n;
  for (let i = 0; i < 20000; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    const v = x >> BigInt(i % 64);
    const b = bucketOf(v);
    const [lo, hi] = bucketBounds(b);
    assert.ok(big(lo) <= v && v <= big(hi), `${v} in bucket ${b}`);
    if (v <= BigInt(Number.MAX_SAFE_INTEGER)) assert.equal(bucketOf(Number(v)), b);
  }
});

test("percentiles and JSON as the Rust SDK's", () => {
  const h = new LogHistogram();
  for (const ms of [12, 150, 151, 152, 900]) h.record(ms);
  assert.equal(h.percentile(50), 150);
  assert.equal(h.percentile(100), 900);
  assert.equal(h.percentile(0), 12);
  assert.equal(h.count, 5);
  const text = toJSON(h);
  assert.equal(text.slice(0, 52), '{"count":5,"min":12,"max":900,"sub_bits":6,"first":1');
  const back = LogHistogram.fromJSON(parseJSON(text));
  assert.equal(toJSON(back), text);
  assert.equal(toJSON(new LogHistogram()), '{"count":0,"min":null,"max":null,"sub_bits":6,"first":0,"counts":[]}');
  for (const bad of [
    '{"count":1,"min":1,"max":1,"sub_bits":5,"first":1,"counts":[1]}',
    '{"count":2,"min":1,"max":1,"sub_bits":6,"first":1,"counts":[1]}',
    '{"count":1,"min":2,"max":1,"sub_bits":6,"first":1,"counts":[1]}',
    '{"count":0,"min":1,"max":null,"sub_bits":6,"first":0,"counts":[]}',
    '{"count":1,"min":1,"max":1,"sub_bits":6,"first":3776,"counts":[1]}',
    '{"count":1,"min":1,"max":1,"sub_bits":6,"first":1,"counts":[1],"x":0}',
    '{"count":1,"min":1,"max":1,"sub_bits":6,"counts":[1]}',
    '{"count":-1,"min":1,"max":1,"sub_bits":6,"first":1,"counts":[1]}',
  ]) {
    assert.throws(() => LogHistogram.fromJSON(parseJSON(bad)), Error, bad);
  }
});

test("the README's latency example", () => {
  const h = new LogHistogram();
  h.record(100);
  h.record(300);
  assert.deepEqual([h.percentile(50), h.percentile(95), h.percentile(99)], [100, 300, 300]);
  const j = parseJSON(toJSON(h));
  assert.equal(j.first, 100);
  assert.equal(j.counts.length, 1 + bucketOf(300) - bucketOf(100));
});

test("percentiles: nearest rank, the bucket's middle clamped to min and max", () => {
  const values = [];
  let x = 7;
  for (let i = 0; i < 5000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    values.push(x % 100000);
  }
  const h = new LogHistogram();
  for (const v of values) h.record(v);
  values.sort((a, b) => a - b);
  for (const p of [1, 50, 95, 99, 100]) {
    const rank = Math.max(1, Math.ceil((values.length * p) / 100));
    const exact = values[rank - 1];
    const got = h.percentile(p);
    assert.ok(Math.abs(got - exact) <= exact / 128, `p${p}: ${got} vs ${exact}`);
    if (exact < 128) assert.equal(got, exact);
  }
});

test("huge values: exact min and max, BigInt beyond 2^53", () => {
  const h = new LogHistogram();
  h.record(2n ** 64n - 1n);
  h.record(5);
  h.record(2n ** 60n);
  assert.equal(h.min, 5);
  assert.equal(h.max, 2n ** 64n - 1n);
  assert.equal(h.percentile(50), bucketValue(bucketOf(2n ** 60n)));
  const text = toJSON(h);
  assert.match(text, /"max":18446744073709551615,/);
  assert.equal(toJSON(LogHistogram.fromJSON(parseJSON(text))), text);
});

test("merge adds counts: associative, commutative, the empty one an identity", () => {
  const parts = [[1, 2, 3], [1000, 5], [], [70000, 64, 63]].map((vs) => {
    const h = new LogHistogram();
    for (const v of vs) h.record(v);
    return h;
  });
  const all = new LogHistogram();
  for (const v of [1, 2, 3, 1000, 5, 70000, 64, 63]) all.record(v);
  const fold = (order) => {
    const h = new LogHistogram();
    for (const i of order) h.merge(LogHistogram.fromJSON(parseJSON(toJSON(parts[i]))));
    return toJSON(h);
  };
  assert.equal(fold([0, 1, 2, 3]), toJSON(all));
  assert.equal(fold([3, 2, 1, 0]), toJSON(all));
  const h = new LogHistogram();
  h.recordN(7, 3);
  h.recordN(9, 0);
  assert.equal(toJSON(h), '{"count":3,"min":7,"max":7,"sub_bits":6,"first":7,"counts":[3]}');
});

test("Histograms record blocks as LogHistogram.record does", () => {
  for (const n of [3, 700]) {
    // 700 ids x 1728 buckets is past the table's size: LogHistograms only.
    const hs = new Histograms(n);
    const want = Array.from({ length: n }, () => new LogHistogram());
    let x = 99n;
    const ints = [], floats = [], intIds = [], floatIds = [];
    for (let i = 0; i < 3000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
      const id = Number(x % BigInt(n + 1)); // n: none
      const kind = Number((x >> 8n) % 6n);
      const v = kind === 0 ? BigInt.asIntN(64, x) : kind === 1 ? (x >> 40n) : kind === 2 ? x >> 12n : (x >> 50n);
      ints.push(BigInt.asIntN(64, v));
      intIds.push(id);
      if (id < n && ints.at(-1) >= 0n) want[id].record(ints.at(-1) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ints.at(-1)) : ints.at(-1));
      const f = [Number(x >> 20n) / 7, -1.5, NaN, Infinity, 1e30, 0.5, -0, 2 ** 63][kind];
      floats.push(f);
      floatIds.push(id);
      if (id < n && f >= 0 && f !== Infinity) {
        const t = Math.trunc(f) + 0;
        want[id].record(t <= Number.MAX_SAFE_INTEGER ? t : t >= 2 ** 64 ? 2n ** 64n - 1n : BigInt(t));
      }
    }
    hs.recordInts(Uint32Array.from(intIds), BigInt64Array.from(ints));
    hs.recordNumbers(Uint32Array.from(floatIds), Float64Array.from(floats));
    for (let id = 0; id < n; id++) assert.equal(toJSON(hs.histogram(id)), toJSON(want[id]), `id ${id} of ${n}`);
  }
});
