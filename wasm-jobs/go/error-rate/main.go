// Command error-rate is the reference job `error-rate` in Go: the share of
// WEB events whose tuning.status is an integer >= 500, per dc; merge adds
// per dc and recomputes the rates. The same result bytes as
// wasm-jobs/error-rate (see wasm-jobs/README.md):
//
//	{"web":400,"errors":3,"rate":0.0075,"dcs":{"ams4":{"web":400,"errors":3,"rate":0.0075}}}
package main

import (
	"errors"
	"slices"
	"strings"

	"epochd.dev/epochd"
)

//go:wasmexport epochd_run
func run() int32 { return epochd.Run(errorRate) }

//go:wasmexport epochd_merge
func merge() int32 { return epochd.Merge(add) }

func main() {}

// errorStatus is the status from which a response is an error.
const errorStatus = 500

type rate struct{ web, errors uint64 }

// rates are the counts per dc (valid UTF-8).
type rates struct {
	index  map[string]int
	dcs    []string
	counts []rate
}

// add adds x to dc's counts (after emptying them when replace).
func (r *rates) add(dc string, x rate, replace bool) {
	i, ok := r.index[dc]
	if !ok {
		if r.index == nil {
			r.index = map[string]int{}
		}
		i = len(r.dcs)
		r.index[dc] = i
		r.dcs = append(r.dcs, dc)
		r.counts = append(r.counts, rate{})
	}
	if replace {
		r.counts[i] = rate{}
	}
	r.counts[i].web += x.web
	r.counts[i].errors += x.errors
}

func writeRate(j *epochd.JSON, x rate) {
	j.Key("web")
	j.Uint(x.web)
	j.Key("errors")
	j.Uint(x.errors)
	j.Key("rate")
	if x.web > 0 {
		j.Float(float64(x.errors) / float64(x.web))
	} else {
		j.Null()
	}
}

func write(r *rates) []byte {
	var total rate
	for _, x := range r.counts {
		total.web += x.web
		total.errors += x.errors
	}
	order := make([]int, len(r.dcs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(r.dcs[x], r.dcs[y]) })
	var j epochd.JSON
	j.BeginObject()
	writeRate(&j, total)
	j.Key("dcs")
	j.BeginObject()
	for _, i := range order {
		j.Key(r.dcs[i])
		j.BeginObject()
		writeRate(&j, r.counts[i])
		j.EndObject()
	}
	j.EndObject()
	j.EndObject()
	return j.Bytes()
}

// countEqual is how many of ids are id: branch-free, eight per iteration
// (every loop head of a compiled job checks the run's deadline: fewer,
// wider iterations pay for it less often; docs/BENCHMARKS.md, "Languages").
func countEqual(ids []uint32, id uint32) uint64 {
	var n0, n1, n2, n3 uint32
	i := 0
	for ; i+8 <= len(ids); i += 8 {
		x := (*[8]uint32)(ids[i:])
		n0 += eq(x[0], id) + eq(x[4], id)
		n1 += eq(x[1], id) + eq(x[5], id)
		n2 += eq(x[2], id) + eq(x[6], id)
		n3 += eq(x[3], id) + eq(x[7], id)
	}
	n := uint64(n0) + uint64(n1) + uint64(n2) + uint64(n3)
	for _, x := range ids[i:] {
		n += uint64(eq(x, id))
	}
	return n
}

// eq is 1 when a == b, else 0 (a select, not a branch).
func eq(a, b uint32) uint32 {
	if a == b {
		return 1
	}
	return 0
}

func errorRate() ([]byte, error) {
	// WEB events counted on the ids of `type`, read a block of rows at a
	// time; then the type of each error looked up (errors are few).
	rows := epochd.Rows()
	types := epochd.NewRowIDs("type")
	var x rate
	webID, known := uint32(0), false
	ids := make([]uint32, epochd.Block)
	for first := 0; first < rows; first += epochd.Block {
		n := min(rows-first, epochd.Block)
		types.Read(uint32(first), ids[:n])
		// Known from the start with a dictionary; else once a row has it.
		if !known {
			webID, known = types.Strings().Find("WEB")
		}
		if known {
			x.web += countEqual(ids[:n], webID)
		}
	}
	if known {
		if status, ok := epochd.FindColumn("tuning.status", epochd.Int); ok {
			at := make([]uint32, epochd.Block)
			s := status.Scan()
			for s.Next() {
				rows := s.Rows()
				for _, i := range at[:errorsIn(s.Int64s(), at)] {
					if types.Get(rows[i]) == webID {
						x.errors++
					}
				}
			}
			if err := s.Err(); err != nil {
				return nil, err
			}
		}
	}
	var r rates
	r.add(epochd.Lossy(epochd.DC()), x, false)
	return write(&r), nil
}

// errorsIn writes the indices of the error statuses to at; it returns how
// many. Errors are few: eight statuses per iteration, compared with their
// largest only, and looked at one by one when that is an error (fewer
// loop iterations, which cost a jump through the function's block
// dispatcher each in Go's WebAssembly; see countEqual).
func errorsIn(statuses []int64, at []uint32) int {
	at = at[:len(statuses)]
	n, i := 0, 0
	for ; i+8 <= len(statuses); i += 8 {
		s := (*[8]int64)(statuses[i:])
		if max(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]) < errorStatus {
			continue
		}
		for k, v := range s {
			if v >= errorStatus {
				at[n] = uint32(i + k)
				n++
			}
		}
	}
	for ; i < len(statuses); i++ {
		if statuses[i] >= errorStatus {
			at[n] = uint32(i)
			n++
		}
	}
	return n
}

// isFloat is a float or null (or absent: serde's Option).
func isFloat(v epochd.Value) bool {
	k := v.Kind()
	return k == epochd.JSONInvalid || k == epochd.JSONNull || k == epochd.JSONNumber
}

func isUint(v epochd.Value) bool {
	_, ok := v.Uint64()
	return ok
}

// parse adds one result's counts to r.
func parse(in []byte, r *rates) error {
	root, err := epochd.ParseJSON(in)
	if err != nil {
		return err
	}
	f, err := root.Fields("ErrorRate", "web", "errors", "rate", "dcs")
	if err != nil {
		return err
	}
	if !isUint(f[0]) || !isUint(f[1]) || !isFloat(f[2]) || f[3].Kind() != epochd.JSONObject {
		return errors.New("expected web, errors (u64), rate (f64 or null), dcs (object)")
	}
	var mine rates
	for dc, v := range f[3].Entries() {
		c, err := v.Fields("Rate", "web", "errors", "rate")
		if err != nil {
			return err
		}
		if !isUint(c[0]) || !isUint(c[1]) || !isFloat(c[2]) {
			return errors.New("expected web, errors (u64), rate (f64 or null)")
		}
		web, _ := c[0].Uint64()
		errs, _ := c[1].Uint64()
		// A repeated dc within one result: the last one counts (serde's map).
		mine.add(dc, rate{web, errs}, true)
	}
	for i, dc := range mine.dcs {
		r.add(dc, mine.counts[i], false)
	}
	return nil
}

// add adds two results per dc.
func add(a, b []byte) ([]byte, error) {
	var r rates
	err := parse(a, &r)
	if err == nil {
		err = parse(b, &r)
	}
	if err != nil {
		return nil, errors.New("JSON: " + err.Error()) // as the Rust job's messages
	}
	return write(&r), nil
}
