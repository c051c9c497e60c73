package epochd

// Every export (epochd_run, epochd_merge, epochd_init) runs on the
// goroutine that ran the package inits in _initialize, and starts with the
// stack that goroutine had then. The daemon runs _initialize once, at
// submission, and starts every run from the memory it left (sdk/ABI.md,
// "_initialize"): so a stack grown here is one that every run has from its
// start, where a run used to grow it again from a few KiB, copying it each
// time it doubled (a twentieth of a Go count job's run; docs/BENCHMARKS.md,
// "Languages").
func init() { growStack() }

// stackReserve is the stack room init leaves every export: the SDK's
// calls and a job's own frames rarely need more.
const stackReserve = 64 << 10

// growStack makes the goroutine's stack larger than stackReserve: Go
// grows a stack (doubling) to hold this frame, and does not shrink it
// until a garbage collection finds it mostly unused.
//
//go:noinline
func growStack() byte {
	var frame [stackReserve]byte
	return lastByte(frame[:])
}

// lastByte reads frame, so that the compiler keeps it (on the stack: b
// does not escape).
//
//go:noinline
func lastByte(b []byte) byte { return b[len(b)-1] }
