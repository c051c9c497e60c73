// Hostile job: allocates 1 MiB after 1 MiB, touching every byte, and
// keeps them all. The daemon stops it at the job's memory cap (kind
// `memory`); an engine that refuses the allocation instead throws, and
// the run fails with that error. World `job` (no merge).
export function run() {
  const keep = [];
  for (;;) {
    const block = new Uint8Array(1 << 20);
    block.fill(keep.length & 255);
    keep.push(block);
  }
}
