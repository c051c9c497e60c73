package epochd

import (
	"errors"
	"runtime"
	"strconv"
	"unsafe"

	"epochd.dev/epochd/sys"
)

// Emit sets the run's result to b, replacing an earlier one. ErrTooLarge
// past the job's maximum result size, which also fails the run. Run and
// Merge emit what the job returns: most jobs never call Emit.
func Emit(b []byte) error {
	if r := sys.Emit(ptr(b), clamp32(len(b))); r < 0 {
		return Error(r)
	}
	return nil
}

// Fail sets the message explaining a failure (UTF-8, kept up to 4 KiB);
// the entry point should then return non-zero. Run and Merge call it with
// the error the job returns.
func Fail(msg string) {
	sys.Fail(strPtr(msg), clamp32(len(msg)))
}

// Log writes a log line, kept with the run's result or error (at most 64
// lines and 16 KiB per run). For a formatted line, fmt.Sprintf works (it
// adds to the module's size).
func Log(level Level, msg string) {
	sys.Log(int32(level), strPtr(msg), clamp32(len(msg)))
}

// Config is the config given at submission (nil when none); the same for
// every run.
func Config() []byte {
	n := sys.ConfigLen()
	if n <= 0 {
		return nil
	}
	b := make([]byte, n)
	got := sys.ConfigRead(ptr(b), n)
	return b[:min(max(got, 0), n)]
}

// MergeInput is merge input which (0 or 1); ErrNotNow outside a merge.
// Merge reads both for the job.
func MergeInput(which int) ([]byte, error) {
	w := int32(which)
	return readVar(nil, func(p unsafe.Pointer, n int32) int32 { return sys.MergeInput(w, p, n) })
}

// Run is the body of an epochd_run export:
//
//	//go:wasmexport epochd_run
//	func run() int32 { return epochd.Run(count) }
//
// It calls job; on success it emits the bytes job returns (nothing when
// empty) and returns 0. When job returns an error, or the host refuses the
// result (larger than the job's maximum result size), it calls Fail with
// the error's text and returns 1. A panic is recovered and fails the run
// the same way: "job panicked at FILE:LINE: MESSAGE".
func Run(job func() ([]byte, error)) (code int32) {
	defer recoverTo(&code)
	return finish(job())
}

// Merge is the body of an epochd_merge export:
//
//	//go:wasmexport epochd_merge
//	func merge() int32 { return epochd.Merge(add) }
//
// It reads both inputs and applies the ABI's identity law byte for byte
// (an empty input gives the other unchanged, so merge("", "") is ""); it
// calls merge only with two non-empty inputs. Results, errors and panics
// as Run.
func Merge(merge func(a, b []byte) ([]byte, error)) (code int32) {
	defer recoverTo(&code)
	a, err := MergeInput(0)
	if err != nil {
		return finish(nil, hostError("merge_input", err))
	}
	b, err := MergeInput(1)
	if err != nil {
		return finish(nil, hostError("merge_input", err))
	}
	if len(a) == 0 {
		return finish(b, nil)
	}
	if len(b) == 0 {
		return finish(a, nil)
	}
	return finish(merge(a, b))
}

// Init is the body of an epochd_init export, called before epochd_run (or
// epochd_merge) in every instance, e.g. to read the config once:
//
//	//go:wasmexport epochd_init
//	func initialize() int32 { return epochd.Init(readConfig) }
//
// 0 when init returns nil; otherwise Fail with its text and 1.
func Init(init func() error) (code int32) {
	defer recoverTo(&code)
	return finish(nil, init())
}

// finish emits out (nothing when empty) and returns 0, or fails with err
// (or the emit's refusal) and returns 1.
func finish(out []byte, err error) int32 {
	if err == nil && len(out) > 0 {
		if r := sys.Emit(ptr(out), clamp32(len(out))); r < 0 {
			if Error(r) == ErrTooLarge {
				err = errors.New("the result (" + strconv.Itoa(len(out)) + " bytes) is larger than the job's maximum result size")
			} else {
				err = hostError("emit", Error(r))
			}
		}
	}
	if err != nil {
		Fail(err.Error())
		return 1
	}
	return 0
}

// hostError is an unexpected answer of the host, worded as the Rust SDK's.
func hostError(call string, err error) error {
	var e Error
	if errors.As(err, &e) {
		return errors.New("the host answered `" + call + "` with " + e.Name() + " (" + strconv.Itoa(int(e)) + ")")
	}
	return err
}

// recoverTo turns a panic into Fail("job panicked at FILE:LINE: MESSAGE")
// and the entry point's return value 1.
func recoverTo(code *int32) {
	p := recover()
	if p == nil {
		return
	}
	var what string
	switch v := p.(type) {
	case error:
		what = v.Error()
	case string:
		what = v
	case interface{ String() string }:
		what = v.String()
	default:
		what = "a panic value that is neither an error nor a string"
	}
	msg := "job panicked: " + what
	if file, line, ok := panicSite(); ok {
		msg = "job panicked at " + file + ":" + strconv.Itoa(line) + ": " + what
	}
	Fail(msg)
	*code = 1
}

// panicSite is where the panic being recovered started: the first frame
// outside package runtime below runtime.gopanic.
func panicSite() (string, int, bool) {
	var pcs [64]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	panicking := false
	for {
		f, more := frames.Next()
		// Not strings.HasPrefix: package strings adds 12 KB to a module
		// that does not import it otherwise.
		if panicking && !(len(f.Function) >= 8 && f.Function[:8] == "runtime.") {
			return f.File, f.Line, f.Function != ""
		}
		if f.Function == "runtime.gopanic" {
			panicking = true
		}
		if !more {
			return "", 0, false
		}
	}
}
