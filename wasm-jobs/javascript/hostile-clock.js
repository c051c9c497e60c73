// Hostile job: reads the clocks and the random sources twice each and
// returns what it saw, so that a test can check they are deterministic
// (the daemon serves the epoch's second as the wall clock, a virtual
// monotonic clock that only sleeping moves, and a random stream seeded by
// job, epoch and dc). Built with the `clocks` and `random` features of
// componentize-js. World `job` (no merge).
//
//   {"date":[t0,t1],"performance":[p0,p1],"random":[r0,r1],"crypto":[b0,...]}
//
// `performance` is null when the runtime has no performance.now, `crypto`
// when it has no crypto.getRandomValues.
export function run() {
  const date = [Date.now(), Date.now()];
  const perf = typeof performance === "object" && typeof performance.now === "function"
    ? [performance.now(), performance.now()] : null;
  const random = [Math.random(), Math.random()];
  const crypto = typeof globalThis.crypto === "object" && typeof globalThis.crypto.getRandomValues === "function"
    ? Array.from(globalThis.crypto.getRandomValues(new Uint8Array(8))) : null;
  return new TextEncoder().encode(JSON.stringify({ date, performance: perf, random, crypto }));
}
