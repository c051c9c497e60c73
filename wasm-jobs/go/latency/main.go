// Command latency is the reference job `latency` in Go: p50/p95/p99 of
// tuning.wallclock (or the field named by the config) per subtype, from the
// mergeable log-linear histogram (package sketch). The same result bytes as
// wasm-jobs/latency (see wasm-jobs/README.md):
//
//	{"field":"tuning.wallclock","subtypes":{"app":{"p50":..,"p95":..,"p99":..,"histogram":{...}}}}
package main

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"epochd.dev/epochd"
	"epochd.dev/epochd/sketch"
)

//go:wasmexport epochd_run
func run() int32 { return epochd.Run(latency) }

//go:wasmexport epochd_merge
func merge() int32 { return epochd.Merge(add) }

func main() {}

const defaultField = "tuning.wallclock"

// byName is a histogram per subtype name (valid UTF-8).
type byName struct {
	index map[string]int
	names []string
	hists []*sketch.LogHistogram
}

// slot is the histogram of a name: new and empty when missing, emptied
// when reset.
func (b *byName) slot(name string, reset bool) *sketch.LogHistogram {
	if i, ok := b.index[name]; ok {
		if reset {
			*b.hists[i] = sketch.LogHistogram{}
		}
		return b.hists[i]
	}
	if b.index == nil {
		b.index = map[string]int{}
	}
	b.index[name] = len(b.names)
	b.names = append(b.names, name)
	b.hists = append(b.hists, &sketch.LogHistogram{})
	return b.hists[len(b.hists)-1]
}

func (b *byName) mergeInto(to *byName) {
	for i, name := range b.names {
		to.slot(name, false).Merge(b.hists[i])
	}
}

func write(field string, b *byName) []byte {
	order := make([]int, len(b.names))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(b.names[x], b.names[y]) })
	var j epochd.JSON
	j.BeginObject()
	j.Key("field")
	j.String(field)
	j.Key("subtypes")
	j.BeginObject()
	for _, i := range order {
		h := b.hists[i]
		if h.Count() == 0 {
			continue
		}
		j.Key(b.names[i])
		j.BeginObject()
		for _, p := range []uint64{50, 95, 99} {
			v, _ := h.Percentile(p)
			j.Key("p" + strconv.FormatUint(p, 10))
			j.Uint(v)
		}
		j.Key("histogram")
		h.WriteJSON(&j)
		j.EndObject()
	}
	j.EndObject()
	j.EndObject()
	return j.Bytes()
}

// fieldOf is the field: the config (UTF-8, trimmed of Unicode White_Space
// as Rust's str::trim) or the default.
func fieldOf() (string, error) {
	c := string(epochd.Config())
	if err := epochd.CheckUTF8(c); err != nil {
		return "", errors.New("invalid UTF-8: " + err.Error())
	}
	if c = strings.TrimFunc(c, unicode.IsSpace); c == "" {
		return defaultField, nil
	}
	return c, nil
}

// recorder records blocks of a field's values by their rows' subtypes.
type recorder struct {
	subtypes *epochd.RowIDs
	hs       sketch.ByID
	ids      []uint32
	values   []uint64 // floats' values as integers, made by the first
}

// ints records a block of INT values >= 0.
func (r *recorder) ints(rows []uint32, values []int64) {
	ids := r.ids[:len(rows)]
	r.subtypes.Lookup(rows, ids)
	r.hs.RecordInts(ids, values)
}

// floats records a block of FLOAT values >= 0, truncated toward zero and
// saturating at 2^64 - 1 (Rust's `as u64`); NaN, negative and infinite
// values are ignored.
func (r *recorder) floats(rows []uint32, values []float64) {
	if r.values == nil {
		r.values = make([]uint64, epochd.Block)
	}
	ids, us := r.ids[:len(rows)], r.values[:len(rows)]
	r.subtypes.Lookup(rows, ids)
	for i, v := range values[:len(ids)] {
		switch {
		case !(v >= 0) || math.IsInf(v, 1):
			ids[i] = epochd.None
		case v >= 18446744073709551616.0:
			us[i] = math.MaxUint64
		default:
			us[i] = uint64(v)
		}
	}
	r.hs.Record(ids, us)
}

func latency() ([]byte, error) {
	field, err := fieldOf()
	if err != nil {
		return nil, err
	}
	// The subtype of each value's row, read a window of rows at a time as
	// the values' rows ascend.
	subtypes := epochd.NewRowIDs("subtype")
	known, _ := subtypes.DictLen()
	r := recorder{
		subtypes: subtypes,
		hs:       make(sketch.ByID, known),
		ids:      make([]uint32, epochd.Block),
	}
	if col, ok := epochd.FindColumn(field, epochd.Int); ok {
		s := col.Scan()
		for s.Next() {
			r.ints(s.Rows(), s.Int64s())
		}
	}
	if col, ok := epochd.FindColumn(field, epochd.Float); ok {
		s := col.Scan()
		for s.Next() {
			r.floats(s.Rows(), s.Float64s())
		}
	}
	hs := r.hs
	// Distinct raw strings with the same lossy UTF-8 form are one subtype.
	var b byName
	for id := range hs {
		name, ok := subtypes.Strings().Get(uint32(id))
		if !ok {
			continue
		}
		b.slot(epochd.Lossy(string(name)), false).Merge(&hs[id])
	}
	return write(field, &b), nil
}

// debugString is Rust's {:?} of a string (printable non-ASCII kept as is).
func debugString(s string) string {
	out := []byte{'"'}
	for _, r := range s {
		switch {
		case r == '"':
			out = append(out, '\\', '"')
		case r == '\\':
			out = append(out, '\\', '\\')
		case r == '\n':
			out = append(out, '\\', 'n')
		case r == '\r':
			out = append(out, '\\', 'r')
		case r == '\t':
			out = append(out, '\\', 't')
		case r == 0:
			out = append(out, '\\', '0')
		case r < 0x20 || r == 0x7f || r >= 0x80 && !strconv.IsPrint(r):
			out = append(out, "\\u{"...)
			out = strconv.AppendUint(out, uint64(r), 16)
			out = append(out, '}')
		default:
			out = utf8.AppendRune(out, r)
		}
	}
	return string(append(out, '"'))
}

// parse reads one result: its field, and its histograms added to b.
func parse(in []byte, b *byName) (string, error) {
	root, err := epochd.ParseJSON(in)
	if err != nil {
		return "", err
	}
	f, err := root.Fields("Latency", "field", "subtypes")
	if err != nil {
		return "", err
	}
	field, ok := f[0].Str()
	if !ok || f[1].Kind() != epochd.JSONObject {
		return "", errors.New("expected field (a string) and subtypes (an object)")
	}
	var mine byName
	for subtype, summary := range f[1].Entries() {
		s, err := summary.Fields("Summary", "p50", "p95", "p99", "histogram")
		if err != nil {
			return "", err
		}
		for _, p := range s[:3] {
			if _, ok := p.Uint64(); !ok {
				return "", errors.New("expected p50, p95, p99 (u64) and histogram")
			}
		}
		if !s[3].Exists() {
			return "", errors.New("expected p50, p95, p99 (u64) and histogram")
		}
		h, err := sketch.Parse(s[3])
		if err != nil {
			return "", err
		}
		// A repeated subtype within one result: the last one counts (serde's map).
		*mine.slot(subtype, true) = h
	}
	mine.mergeInto(b)
	return field, nil
}

// add adds two results' histograms.
func add(a, b []byte) ([]byte, error) {
	var all, other byName
	fa, err := parse(a, &all)
	var fb string
	if err == nil {
		fb, err = parse(b, &other)
	}
	if err != nil {
		return nil, errors.New("JSON: " + err.Error()) // as the Rust job's messages
	}
	if fa != fb {
		return nil, errors.New("cannot merge latencies of " + debugString(fa) + " and " + debugString(fb))
	}
	other.mergeInto(&all)
	return write(fa, &all), nil
}
