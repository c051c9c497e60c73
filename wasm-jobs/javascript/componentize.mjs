// Builds components with componentize-js (the version in package-lock.json
// beside this file), for wasm-jobs/build-js:
//
//   node componentize.mjs WIT_DIR '[{"src":..., "out":..., "world":..., "disable":[...]}, ...]'
//
// in one process (the engine and its bindings generator load once). Paths
// are relative to the current directory, which must hold every source and
// what it imports: componentize-js maps it into the build as "/" and
// resolves relative imports there (so the jobs import the SDK as
// ../../sdk/javascript/epochd.js, with no bundler).
//
// The output is not byte-reproducible: the engine is snapshotted (wizer)
// after it started with WASI randomness, and the work directory's random
// name is in the snapshot. build-js therefore rebuilds only when its
// inputs change.
import { componentize } from "@bytecodealliance/componentize-js";
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";

const [witPath, spec] = process.argv.slice(2);
for (const job of JSON.parse(spec)) {
  const started = Date.now();
  const { component } = await componentize({
    sourcePath: resolve(job.src),
    witPath: resolve(witPath),
    worldName: job.world,
    disableFeatures: job.disable,
  });
  await writeFile(job.out, component);
  if (process.env.EPOCHD_BUILD_VERBOSE) {
    console.error(`${job.src}: ${component.length} bytes in ${Date.now() - started} ms`);
  }
}
