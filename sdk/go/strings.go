package epochd

import (
	"sort"
	"unsafe"

	"epochd.dev/epochd/sys"
)

// Strings is a list of byte strings numbered from 0: a column's
// dictionary, or the strings a RowIDs met.
type Strings struct {
	data []byte
	ends []uint32 // string i is data[ends[i-1]:ends[i]]
}

// Len is the number of strings.
func (d *Strings) Len() int { return len(d.ends) }

// Get is string id (raw bytes: see AppendLossy); false beyond the end (None
// included). The slice must not be modified.
func (d *Strings) Get(id uint32) ([]byte, bool) {
	if uint64(id) >= uint64(len(d.ends)) {
		return nil, false
	}
	start := uint32(0)
	if id > 0 {
		start = d.ends[id-1]
	}
	end := d.ends[id]
	return d.data[start:end:end], true
}

// Find is the id of s (a linear search); false when absent.
func (d *Strings) Find(s string) (uint32, bool) {
	start := uint32(0)
	for id, end := range d.ends {
		if string(d.data[start:end]) == s {
			return uint32(id), true
		}
		start = end
	}
	return 0, false
}

// Add appends s; it returns its id.
func (d *Strings) Add(s []byte) uint32 {
	d.data = append(d.data, s...)
	d.ends = append(d.ends, uint32(len(d.data)))
	return uint32(len(d.ends) - 1)
}

// RowIDs are a string field's ids by row, read one window of rows at a
// time, so that several fields (and numeric columns) can be read side by
// side in blocks of rows that stay in the cache:
//
//	types := epochd.NewRowIDs("type")
//	ids := make([]uint32, epochd.Block)
//	for first := 0; first < rows; first += epochd.Block {
//		n := min(rows-first, epochd.Block)
//		types.Read(uint32(first), ids[:n]) // ids of rows first..first+n-1, or None
//		...
//	}
//	id := types.Get(row)               // one row's id, or None
//	name, ok := types.Strings().Get(id) // the string behind an id
//
// With a dictionary the ids are the dictionary's, and Strings holds every
// string from the start (DictLen is its size). Without one (mostly
// distinct strings), strings are interned as the windows meet them, in
// order of first appearance, so a string keeps its id across windows;
// Strings then holds those met so far.
//
// Costs per window: a dense dictionary-coded field (the usual type,
// subtype, dc) is one host copy straight into the caller's slice; a sparse
// one a binary search for the window's first value and the rows and ids of
// its values; a field without a dictionary one host call per value.
type RowIDs struct {
	col      Column
	has      bool
	dictLen  int // -1: no dictionary
	strings  *Strings
	interned map[string]uint32
	// The last window Get read: the ids of rows windowFirst...
	window      []uint32
	windowFirst uint32
	// Scratch: the rows and ids of a block of values, one value's bytes.
	rows, ids []uint32
	bytes     []byte
}

// NewRowIDs reads the string field at path (its STR column); every row is
// None when no event has a string there.
func NewRowIDs(path string) *RowIDs {
	c, ok := FindColumn(path, Str)
	return newRowIDs(c, ok)
}

// RowIDs reads a STR column's ids by row (container keys, say: "row" is
// then entry number).
func (c Column) RowIDs() *RowIDs {
	return newRowIDs(c, c.typ == Str)
}

func newRowIDs(c Column, ok bool) *RowIDs {
	r := &RowIDs{col: c, has: ok, dictLen: -1, strings: &Strings{}}
	if !ok {
		r.dictLen = 0
		return r
	}
	if d := c.Dictionary(); d != nil {
		r.strings = d
		r.dictLen = d.Len()
	}
	return r
}

// DictLen is the number of strings when every id is known before any read:
// the dictionary's size (0 without a column); false without a dictionary.
// Ids are below it, so a job can size a table by it.
func (r *RowIDs) DictLen() (int, bool) {
	return max(r.dictLen, 0), r.dictLen >= 0
}

// Strings are the strings behind the ids (see RowIDs for which).
func (r *RowIDs) Strings() *Strings { return r.strings }

// Read writes the id of each row firstRow..firstRow+len(out)-1 into out:
// None where the row holds no string (or is past the epoch's rows).
func (r *RowIDs) Read(firstRow uint32, out []uint32) {
	if !r.has {
		fill(out, None)
		return
	}
	c := r.col
	dictionary := r.dictLen >= 0
	if dictionary && c.dense {
		// Value i is row i: the ids are by row already, one host copy.
		copied := 0
		if int(firstRow) < c.n && len(out) > 0 {
			got := sys.ColumnIDs(c.h, int32(firstRow), clamp32(len(out)), unsafe.Pointer(&out[0]))
			copied = min(len(out), int(max(got, 0)))
		}
		fill(out[copied:], None)
		return
	}
	fill(out, None)
	if r.rows == nil {
		r.rows = make([]uint32, Block)
		r.ids = make([]uint32, Block)
	}
	end := uint64(firstRow) + uint64(len(out))
	most := min(max(len(out), 1), Block)
	index := c.IndexFrom(firstRow)
	for index < c.n {
		k := int32(min(c.n-index, most))
		if dictionary {
			got := sys.ColumnIDs(c.h, int32(index), k, unsafe.Pointer(&r.ids[0]))
			if got <= 0 {
				return
			}
			k = min(k, got)
		}
		if c.dense {
			for i := range r.rows[:k] {
				r.rows[i] = uint32(index + i)
			}
		} else {
			got := sys.ColumnRows(c.h, int32(index), k, unsafe.Pointer(&r.rows[0]))
			if got <= 0 {
				return
			}
			k = min(k, got)
		}
		// The values' rows ascend: those before end are a prefix.
		rows, ids := r.rows[:k], r.ids[:k]
		last := len(rows)
		if uint64(rows[last-1]) >= end {
			last = sort.Search(len(rows), func(i int) bool { return uint64(rows[i]) >= end })
		}
		// A row before firstRow (only if the host's search failed) wraps
		// around and is skipped too.
		if dictionary {
			for i, row := range rows[:last] {
				if at := uint(row - firstRow); at < uint(len(out)) {
					out[at] = ids[i]
				}
			}
		} else {
			for i, row := range rows[:last] {
				if at := uint(row - firstRow); at < uint(len(out)) {
					out[at] = r.intern(index + i)
				}
			}
		}
		if last < len(rows) {
			return
		}
		index += int(k)
	}
}

// Get is the id of the string at row, or None. It reads a window of Block
// rows from row when row is not in the last one read, so rows visited in
// ascending order (another column's rows, say) cost one Read per window.
// It is a call (Go does not inline it): for many rows, use Lookup.
func (r *RowIDs) Get(row uint32) uint32 {
	if w, at := r.window, uint(row-r.windowFirst); at < uint(len(w)) {
		return w[at]
	}
	return r.readWindow(row)
}

// Lookup writes the id of each of rows (ascending, as a column's rows
// are) into out[:len(rows)]: Get for a block of rows, without a call per
// row. Use it in hot loops: a job's per-value loop then has no call.
func (r *RowIDs) Lookup(rows []uint32, out []uint32) {
	out = out[:len(rows)]
	for done := 0; done < len(rows); {
		if r.window != nil {
			done += lookupIn((*[Block]uint32)(r.window), r.windowFirst, rows[done:], out[done:])
			if done == len(rows) {
				return
			}
		}
		r.readWindow(rows[done]) // then rows[done] is in the window
	}
}

// lookupIn writes to out the ids of the leading rows that fall in window w
// (the ids of rows first..first+Block-1); it returns how many.
//
// Eight rows per iteration: Go's WebAssembly takes every loop iteration
// through its function's block dispatcher (a br_table) and wasmtime checks
// the run's deadline there, which costs more than looking up one row. The
// eight offsets are checked at once (their OR is below Block, a power of
// two, exactly when each is), and % Block lets the compiler drop the
// bounds checks.
func lookupIn(w *[Block]uint32, first uint32, rows, out []uint32) int {
	out = out[:len(rows)]
	i := 0
	for ; i+8 <= len(rows); i += 8 {
		r := (*[8]uint32)(rows[i:])
		a0, a1, a2, a3 := r[0]-first, r[1]-first, r[2]-first, r[3]-first
		a4, a5, a6, a7 := r[4]-first, r[5]-first, r[6]-first, r[7]-first
		if a0|a1|a2|a3|a4|a5|a6|a7 >= Block {
			break
		}
		o := (*[8]uint32)(out[i:])
		o[0], o[1], o[2], o[3] = w[a0%Block], w[a1%Block], w[a2%Block], w[a3%Block]
		o[4], o[5], o[6], o[7] = w[a4%Block], w[a5%Block], w[a6%Block], w[a7%Block]
	}
	for ; i < len(rows); i++ {
		at := rows[i] - first
		if at >= Block {
			break
		}
		out[i] = w[at%Block]
	}
	return i
}

// readWindow reads the window of rows from row; it returns row's id.
func (r *RowIDs) readWindow(row uint32) uint32 {
	if r.window == nil {
		r.window = make([]uint32, Block)
	}
	r.Read(row, r.window)
	r.windowFirst = row
	return r.window[0]
}

// intern is the id of value index's string, added if new.
func (r *RowIDs) intern(index int) uint32 {
	var err error
	if r.bytes, err = r.col.AppendBytes(r.bytes[:0], index); err != nil {
		return None
	}
	if id, ok := r.interned[string(r.bytes)]; ok {
		return id
	}
	if r.interned == nil {
		r.interned = make(map[string]uint32)
	}
	id := r.strings.Add(r.bytes)
	r.interned[string(r.bytes)] = id
	return id
}

func fill(s []uint32, v uint32) {
	for i := range s {
		s[i] = v
	}
}
