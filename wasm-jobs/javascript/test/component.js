// Runs a built component (wasm-jobs/out/javascript/<job>.wasm) in Node:
// transpiled with jco into core modules and JavaScript glue, instantiated
// afresh for every call (as the daemon does) with the fake epoch of
// sdk/javascript/test/mock.js behind `epochd:job/*`, and a minimal,
// deterministic WASI 0.2 (the interfaces componentize-js's engine imports:
// stdout/stderr to a log, no stdin, no files, the epoch as the clock, a
// seeded random stream). Not the daemon's host, but the same contract:
// enough to check the components run and give the bytes the Rust jobs do.
import { transpile } from "@bytecodealliance/jco";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { witEpoch, witHost } from "../../../sdk/javascript/test/mock.js";

/** Transpiles a component; returns {instantiate(mock) -> exports, dir}. */
export async function loadComponent(wasm, name = "job") {
  const { files } = await transpile(wasm, { name, instantiation: { tag: "async" }, noTypescript: true, quiet: true });
  const dir = mkdtempSync(join(tmpdir(), "epochd-js-"));
  for (const [file, bytes] of Object.entries(files)) {
    mkdirSync(join(dir, file, ".."), { recursive: true });
    writeFileSync(join(dir, file), bytes);
  }
  const glue = await import(pathToFileURL(join(dir, `${name}.js`)).href);
  const modules = new Map();
  for (const [file, bytes] of Object.entries(files)) {
    if (file.endsWith(".wasm")) modules.set(file, await WebAssembly.compile(bytes));
  }
  return {
    dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
    /** A fresh instance over `mock`; `out` collects logs and standard output. */
    async instantiate(mock, out = { logs: [], stdout: "", stderr: "" }) {
      const imports = {
        "epochd:job/types": {},
        "epochd:job/epoch": witEpoch(mock),
        "epochd:job/host": witHost(mock, out.logs),
        ...wasi(mock, out),
      };
      const memories = [];
      const instantiateCore = async (module, imports) => {
        const instance = await WebAssembly.instantiate(module, imports);
        for (const x of Object.values(instance.exports)) if (x instanceof WebAssembly.Memory) memories.push(x);
        return instance;
      };
      const exports = await glue.instantiate((file) => modules.get(file), imports, instantiateCore);
      // The size of the engine's linear memory now (in bytes).
      Object.defineProperty(exports, "memoryBytes", {
        value: () => Math.max(0, ...memories.map((m) => m.buffer.byteLength)),
      });
      return exports;
    },
  };
}

/** The WASI 0.2 interfaces the engine may import, minimal and deterministic. */
function wasi(mock, out) {
  class Pollable {
    ready() { return true; }
    block() {}
  }
  class IoError {
    toDebugString() { return "io error"; }
  }
  class InputStream {
    read() { throw { tag: "closed" }; }
    blockingRead() { throw { tag: "closed" }; }
    subscribe() { return new Pollable(); }
  }
  const dec = new TextDecoder();
  class OutputStream {
    constructor(fd) { this.fd = fd; }
    checkWrite() { return 1n << 20n; }
    write(bytes) { out[this.fd === 1 ? "stdout" : "stderr"] += dec.decode(bytes); }
    blockingWriteAndFlush(bytes) { this.write(bytes); }
    flush() {}
    blockingFlush() {}
    subscribe() { return new Pollable(); }
  }
  let state = 0x9e3779b97f4a7c15n ^ BigInt(mock.epoch);
  const next = () => {
    state = (state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return state;
  };
  const epochNs = BigInt(mock.epoch) * 1000000000n;
  return {
    "wasi:cli/stdin": { getStdin: () => new InputStream() },
    "wasi:cli/stdout": { getStdout: () => new OutputStream(1) },
    "wasi:cli/stderr": { getStderr: () => new OutputStream(2) },
    "wasi:cli/terminal-input": { TerminalInput: class {} },
    "wasi:cli/terminal-output": { TerminalOutput: class {} },
    "wasi:cli/terminal-stdin": { getTerminalStdin: () => undefined },
    "wasi:cli/terminal-stdout": { getTerminalStdout: () => undefined },
    "wasi:cli/terminal-stderr": { getTerminalStderr: () => undefined },
    "wasi:filesystem/preopens": { getDirectories: () => [] },
    "wasi:filesystem/types": { Descriptor: class {}, filesystemErrorCode: () => undefined },
    "wasi:io/error": { Error: IoError },
    "wasi:io/poll": { Pollable, poll: (list) => Uint32Array.from(list.keys()) },
    "wasi:io/streams": { InputStream, OutputStream },
    "wasi:random/random": {
      getRandomBytes: (n) => Uint8Array.from({ length: Number(n) }, () => Number(next() >> 56n)),
      getRandomU64: () => next(),
    },
    "wasi:clocks/wall-clock": {
      now: () => ({ seconds: BigInt(mock.epoch), nanoseconds: 0 }),
      resolution: () => ({ seconds: 0n, nanoseconds: 1 }),
    },
    "wasi:clocks/monotonic-clock": {
      now: () => (epochNs === 0n ? 1n : epochNs),
      resolution: () => 1n,
      subscribeDuration: () => new Pollable(),
      subscribeInstant: () => new Pollable(),
    },
  };
}
