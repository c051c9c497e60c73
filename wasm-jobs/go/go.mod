// The reference jobs in Go (count, latency, error-rate), one main package
// each, with the Go SDK of this checkout (sdk/go). wasm-jobs/build-go
// builds them into wasm-jobs/out/go/<job>.wasm.
module epochd.dev/wasm-jobs

go 1.24

require epochd.dev/epochd v0.0.0

replace epochd.dev/epochd => ../../sdk/go
