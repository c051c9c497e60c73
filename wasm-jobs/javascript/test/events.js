// Epochs for the comparisons: events shaped like the reference workload
// (docs/WORKLOAD.md: type, subtype, dc, tuning.wallclock, tuning.status),
// and awkward ones (missing and non-string fields, invalid UTF-8, strings
// whose UTF-8 and UTF-16 orders differ, integer-like names, huge, negative
// and non-finite values, whole floats).
import { f } from "../../../sdk/javascript/test/mock.js";

/** A seeded generator of numbers in [0, 1). */
export function rng(seed) {
  let x = BigInt(seed) * 2654435761n + 1n;
  return () => {
    x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return Number(x >> 11n) / 2 ** 53;
  };
}

const pick = (r, xs) => xs[Math.floor(r() * xs.length)];
const WEB_SUBTYPES = ["app", "app", "app", "ajax", "ajax", "secure", "api", "mobile"];
const STATUSES = [200, 200, 200, 200, 200, 301, 404, 500, 503];

/** n events of the reference mix. */
export function workload(seed, n) {
  const r = rng(seed);
  const events = [];
  for (let i = 0; i < n; i++) {
    const web = r() < 0.4;
    const e = { type: web ? "WEB" : "AV", subtype: web ? pick(r, WEB_SUBTYPES) : "availability_cluster" };
    const ms = Math.floor(-Math.log(1 - r()) * (web ? 150 : 30));
    e.tuning = web ? { wallclock: ms, status: pick(r, STATUSES) } : { wallclock: ms };
    events.push(e);
  }
  return events;
}

const AWKWARD_NAMES = [
  "WEB", "AV", "app", "\ue000", "😀", "\uffff", "é", "Z", "404", "10", "", "a\u0000b", "tab\t\"q\"",
  new Uint8Array([0x57, 0xff]), new Uint8Array([0xed, 0xa0, 0x80]), new Uint8Array([0x57, 0x45, 0x42]),
];
const AWKWARD_VALUES = [
  0, 1, 63, 64, 127, 128, 1000, 65535, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2n ** 53n + 1n,
  9223372036854775807n, -1, -9223372036854775808n, f(0), f(-0), -0.5, 0.999, 2.5, f(100), 1e15 + 0.5,
  f(2 ** 53), f(2 ** 60), f(2 ** 63), f(1.8e19), f(2 ** 64), f(1e30), Infinity, -Infinity, NaN, "500", true, null,
];

/** n awkward events. */
export function awkward(seed, n) {
  const r = rng(seed);
  const events = [];
  for (let i = 0; i < n; i++) {
    const e = {};
    const k = r();
    if (k < 0.8) e.type = pick(r, AWKWARD_NAMES);
    else if (k < 0.9) e.type = pick(r, [5, true, null, 2.5]);
    if (r() < 0.7) e.subtype = pick(r, AWKWARD_NAMES);
    else if (r() < 0.5) e.subtype = 7;
    const t = {};
    if (r() < 0.8) t.wallclock = r() < 0.5 ? pick(r, AWKWARD_VALUES) : Math.floor(r() * 5000);
    if (r() < 0.6) t.status = r() < 0.3 ? pick(r, AWKWARD_VALUES) : pick(r, STATUSES);
    if (Object.keys(t).length > 0 && r() < 0.95) e.tuning = t;
    events.push(e);
  }
  return events;
}
