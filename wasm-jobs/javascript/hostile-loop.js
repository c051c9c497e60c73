// Hostile job: loops forever. The daemon stops it at the run's deadline
// (kind `deadline`). World `job` (no merge).
export function run() {
  let n = 0;
  for (;;) n = (n + 1) | 0;
}
