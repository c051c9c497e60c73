// Command count is the reference job `count` in Go: events per (type,
// subtype); merge adds. The same result bytes as wasm-jobs/count (see
// wasm-jobs/README.md):
//
//	{"events":N,"counts":[{"type":"AV","subtype":"availability_cluster","count":n},...]}
//
// sorted by (type, subtype), null first, strings by bytes.
package main

import (
	"cmp"
	"errors"
	"slices"

	"epochd.dev/epochd"
)

//go:wasmexport epochd_run
func run() int32 { return epochd.Run(count) }

//go:wasmexport epochd_merge
func merge() int32 { return epochd.Merge(add) }

func main() {}

// name is a type or subtype: a string (valid UTF-8), or null.
type name struct {
	s  string
	ok bool
}

func compareNames(a, b name) int {
	if a.ok != b.ok {
		if !a.ok {
			return -1 // null first
		}
		return 1
	}
	return cmp.Compare(a.s, b.s)
}

// entry is the events of one (type, subtype).
type entry struct {
	typ, subtype name
	count        uint64
}

func compareEntries(a, b entry) int {
	if c := compareNames(a.typ, b.typ); c != 0 {
		return c
	}
	return compareNames(a.subtype, b.subtype)
}

// write sorts the entries, adds those of equal keys and writes the result.
func write(entries []entry) []byte {
	slices.SortFunc(entries, compareEntries)
	var events uint64
	for _, e := range entries {
		events += e.count
	}
	var j epochd.JSON
	j.BeginObject()
	j.Key("events")
	j.Uint(events)
	j.Key("counts")
	j.BeginArray()
	for i := 0; i < len(entries); {
		k, n := i+1, entries[i].count
		for ; k < len(entries) && compareEntries(entries[i], entries[k]) == 0; k++ {
			n += entries[k].count
		}
		if n > 0 {
			j.BeginObject()
			j.Key("type")
			writeName(&j, entries[i].typ)
			j.Key("subtype")
			writeName(&j, entries[i].subtype)
			j.Key("count")
			j.Uint(n)
			j.EndObject()
		}
		i = k
	}
	j.EndArray()
	j.EndObject()
	return j.Bytes()
}

func writeName(j *epochd.JSON, n name) {
	if n.ok {
		j.String(n.s)
	} else {
		j.Null()
	}
}

// nameOf is string id of a field's strings as valid UTF-8 (lossy), or null
// (None, or past its strings).
func nameOf(r *epochd.RowIDs, id uint32) name {
	b, ok := r.Strings().Get(id)
	if !ok {
		return name{}
	}
	return name{s: epochd.Lossy(string(b)), ok: true}
}

// tally counts the pairs (t[i], s[i]) of dictionary ids in a table of
// (nt+1) x (ns+1) cells: cell (t+1, s+1), so that None (2^32 - 1, the id
// of a row without the field; a dictionary's ids are below its length,
// sdk/ABI.md) wraps around to 0, the first cell of its side.
//
// Go's WebAssembly takes every jump through its function's block
// dispatcher (a br_table), and wasmtime checks the run's deadline at each
// loop iteration: so the loop is unrolled by eight, and the ids are made
// indices by that wrap-around, not by a min (or a comparison), which would
// cost a branch or more arithmetic per id (docs/BENCHMARKS.md, "Languages").
func tally(cells []uint64, ns uint32, t, s []uint32) {
	w := uint64(ns) + 1
	n := min(len(t), len(s))
	i := 0
	for ; i+8 <= n; i += 8 {
		a, b := (*[8]uint32)(t[i:]), (*[8]uint32)(s[i:])
		cells[uint64(a[0]+1)*w+uint64(b[0]+1)]++
		cells[uint64(a[1]+1)*w+uint64(b[1]+1)]++
		cells[uint64(a[2]+1)*w+uint64(b[2]+1)]++
		cells[uint64(a[3]+1)*w+uint64(b[3]+1)]++
		cells[uint64(a[4]+1)*w+uint64(b[4]+1)]++
		cells[uint64(a[5]+1)*w+uint64(b[5]+1)]++
		cells[uint64(a[6]+1)*w+uint64(b[6]+1)]++
		cells[uint64(a[7]+1)*w+uint64(b[7]+1)]++
	}
	for ; i < n; i++ {
		cells[uint64(t[i]+1)*w+uint64(s[i]+1)]++
	}
}

func count() ([]byte, error) {
	// Both fields read by row a block at a time, side by side (no per-row
	// array of the whole epoch), and their pairs of string ids counted: in
	// a table when both are dictionary-coded with few strings, else a map.
	rows := epochd.Rows()
	types, subtypes := epochd.NewRowIDs("type"), epochd.NewRowIDs("subtype")
	nt, typesKnown := types.DictLen()
	ns, subtypesKnown := subtypes.DictLen()
	var cells []uint64
	if typesKnown && subtypesKnown && (nt+1)*(ns+1) <= 1<<16 {
		cells = make([]uint64, (nt+1)*(ns+1))
	}
	pairs := map[uint64]uint64{}
	t, s := make([]uint32, epochd.Block), make([]uint32, epochd.Block)
	for first := 0; first < rows; first += epochd.Block {
		n := min(rows-first, epochd.Block)
		types.Read(uint32(first), t[:n])
		subtypes.Read(uint32(first), s[:n])
		if cells != nil {
			tally(cells, uint32(ns), t[:n], s[:n])
		} else {
			for i := range n {
				pairs[uint64(t[i])<<32|uint64(s[i])]++
			}
		}
	}
	var entries []entry
	if cells != nil {
		w := ns + 1
		for i, c := range cells {
			if c > 0 {
				// Cell (t+1, s+1): 0 - 1 is None again.
				entries = append(entries, entry{nameOf(types, uint32(i/w)-1), nameOf(subtypes, uint32(i%w)-1), c})
			}
		}
	} else {
		for k, c := range pairs {
			entries = append(entries, entry{nameOf(types, uint32(k>>32)), nameOf(subtypes, uint32(k)), c})
		}
	}
	return write(entries), nil
}

// parse appends a result's entries.
func parse(in []byte, entries []entry) ([]entry, error) {
	root, err := epochd.ParseJSON(in)
	if err != nil {
		return nil, err
	}
	f, err := root.Fields("Counts", "events", "counts")
	if err != nil {
		return nil, err
	}
	if _, ok := f[0].Uint64(); !ok {
		return nil, errors.New("`events` must be a u64")
	}
	if f[1].Kind() != epochd.JSONArray {
		return nil, errors.New("`counts` must be an array")
	}
	for item := range f[1].Items() {
		c, err := item.Fields("Count", "type", "subtype", "count")
		if err != nil {
			return nil, err
		}
		var e entry
		for k, to := range []*name{&e.typ, &e.subtype} {
			switch c[k].Kind() {
			case epochd.JSONInvalid, epochd.JSONNull:
			case epochd.JSONString:
				to.s, to.ok = c[k].Str()
			default:
				return nil, errors.New("`type` and `subtype` must be strings or null")
			}
		}
		var ok bool
		if e.count, ok = c[2].Uint64(); !ok {
			return nil, errors.New("`count` must be a u64")
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// add is the sum of two results.
func add(a, b []byte) ([]byte, error) {
	entries, err := parse(a, nil)
	if err == nil {
		entries, err = parse(b, entries)
	}
	if err != nil {
		return nil, errors.New("JSON: " + err.Error()) // as the Rust job's messages
	}
	return write(entries), nil
}
