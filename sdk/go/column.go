package epochd

import (
	"iter"
	"unsafe"

	"epochd.dev/epochd/sys"
)

// Column is one column of the epoch: the values of one field path with one
// type, in row order (or the keys or values of a container's entries). A
// Column is a small value; copying it is cheap.
type Column struct {
	h       int32
	typ     Type
	n       int
	dense   bool
	dictLen int32 // -1: no dictionary
}

// FindColumn is the column of (path, t), e.g. ("tuning.wallclock", Int);
// false when no event has a value of that type there. A path is the
// field's keys from the top of the event joined with '.'.
func FindColumn(path string, t Type) (Column, bool) {
	return columnOf(sys.Column(strPtr(path), clamp32(len(path)), int32(t)), t)
}

// columnOf wraps a column handle the host returned.
func columnOf(h int32, t Type) (Column, bool) {
	if h < 0 {
		return Column{}, false
	}
	n := sys.ColumnLen(h)
	if n < 0 {
		return Column{}, false
	}
	c := Column{h: h, typ: t, n: int(n), dense: sys.ColumnDense(h) == 1, dictLen: -1}
	if t == Str {
		if l := sys.DictLen(h); l >= 0 {
			c.dictLen = l
		}
	}
	return c, true
}

// Handle is the column's ABI handle (for package sys).
func (c Column) Handle() int32 { return c.h }

// Type is the column's value type.
func (c Column) Type() Type { return c.typ }

// Len is the number of values: the rows holding the field with this type.
func (c Column) Len() int { return c.n }

// Dense reports whether every row holds a value: value i is then row i.
func (c Column) Dense() bool { return c.dense }

// DictLen is the number of distinct strings of a dictionary-coded STR
// column (its ids are 0..n-1); false when the column has no dictionary
// (mostly distinct strings: read them with Bytes).
func (c Column) DictLen() (int, bool) {
	if c.dictLen < 0 {
		return 0, false
	}
	return int(c.dictLen), true
}

// ReadRows copies the row numbers of values start.. into dst (as many as
// fit and exist); it returns how many. 0 at the end.
func (c Column) ReadRows(start int, dst []uint32) (int, error) {
	return result(sys.ColumnRows(c.h, clamp32(start), clamp32(len(dst)), ptr(dst)))
}

// ReadInt64s copies INT values start.. into dst; it returns how many.
func (c Column) ReadInt64s(start int, dst []int64) (int, error) {
	return result(sys.ColumnI64(c.h, clamp32(start), clamp32(len(dst)), ptr(dst)))
}

// ReadFloat64s copies FLOAT values start.. into dst; it returns how many.
func (c Column) ReadFloat64s(start int, dst []float64) (int, error) {
	return result(sys.ColumnF64(c.h, clamp32(start), clamp32(len(dst)), ptr(dst)))
}

// ReadBools copies BOOL values start.. into dst; it returns how many.
func (c Column) ReadBools(start int, dst []bool) (int, error) {
	// The host writes one byte per value, 0 or 1: Go's bools.
	return result(sys.ColumnU8(c.h, clamp32(start), clamp32(len(dst)), ptr(dst)))
}

// ReadIDs copies the dictionary ids of STR values start.. into dst; it
// returns how many. ErrWrongType when the column has no dictionary.
func (c Column) ReadIDs(start int, dst []uint32) (int, error) {
	return result(sys.ColumnIDs(c.h, clamp32(start), clamp32(len(dst)), ptr(dst)))
}

// Bytes is value i of a STR or RAW column (RAW: MessagePack).
func (c Column) Bytes(i int) ([]byte, error) {
	return c.AppendBytes(nil, i)
}

// AppendBytes appends value i of a STR or RAW column to dst.
func (c Column) AppendBytes(dst []byte, i int) ([]byte, error) {
	h, index := c.h, clamp32(i)
	return readVar(dst, func(p unsafe.Pointer, n int32) int32 { return sys.ColumnBytes(h, index, p, n) })
}

// DictEntry is string id of the column's dictionary.
func (c Column) DictEntry(id uint32) ([]byte, error) {
	return c.AppendDictEntry(nil, id)
}

// AppendDictEntry appends string id of the column's dictionary to dst.
func (c Column) AppendDictEntry(dst []byte, id uint32) ([]byte, error) {
	h := c.h
	return readVar(dst, func(p unsafe.Pointer, n int32) int32 { return sys.DictEntry(h, int32(id), p, n) })
}

// Dictionary reads every string of the column's dictionary (one host call
// per string); nil when the column has none.
func (c Column) Dictionary() *Strings {
	if c.dictLen < 0 {
		return nil
	}
	d := &Strings{}
	for id := range uint32(c.dictLen) {
		var err error
		start := len(d.data)
		if d.data, err = c.AppendDictEntry(d.data, id); err != nil {
			// Not for an id below DictLen; were it refused, its string
			// would read as empty rather than shift the later ids.
			d.data = d.data[:start]
		}
		d.ends = append(d.ends, uint32(len(d.data)))
	}
	return d
}

// rowAt is the row of value i, or false.
func (c Column) rowAt(i int) (uint32, bool) {
	var at [1]uint32
	if sys.ColumnRows(c.h, clamp32(i), 1, unsafe.Pointer(&at[0])) != 1 {
		return 0, false
	}
	return at[0], true
}

// IndexFrom is the index of the first value at row or after it (Len when
// none): where a window of rows starts among the values. Direct for a
// dense column, else a binary search over host calls.
func (c Column) IndexFrom(row uint32) int {
	if c.dense {
		return min(int(row), c.n)
	}
	lo, hi := 0, c.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if at, ok := c.rowAt(mid); ok && at < row {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// IndexOf is the index of the value at row; false when row holds none.
func (c Column) IndexOf(row uint32) (int, bool) {
	i := c.IndexFrom(row)
	if i >= c.n {
		return 0, false
	}
	if c.dense {
		return i, true
	}
	if at, ok := c.rowAt(i); !ok || at != row {
		return 0, false
	}
	return i, true
}

// Scan reads the column in blocks of up to Block values:
//
//	s := col.Scan()
//	for s.Next() {
//		rows, values := s.Rows(), s.Int64s()
//		...
//	}
//	if err := s.Err(); err != nil { ... }
func (c Column) Scan() *Scanner {
	s := &Scanner{}
	s.Reset(c)
	return s
}

// Scanner reads a column a block of values at a time into buffers it
// reuses (96 KiB): the values' rows (Rows) and the values (Int64s for INT,
// Float64s for FLOAT, Bools for BOOL, IDs for a STR column with a
// dictionary; only rows for NULL, a plain STR and RAW columns; asking for
// another type's values panics). The slices are valid until the next call
// of Next.
type Scanner struct {
	col       Column
	start, n  int
	done      bool
	rowsReady bool
	err       error
	rows      []uint32
	values    []uint64
}

// Reset starts the scanner over c, keeping its buffers.
func (s *Scanner) Reset(c Column) {
	*s = Scanner{col: c, rows: s.rows, values: s.values}
	if s.rows == nil {
		s.rows = make([]uint32, Block)
		s.values = make([]uint64, Block)
	}
}

// Next reads the next block; false at the end (or on an error: see Err).
func (s *Scanner) Next() bool {
	if s.done {
		return false
	}
	c := s.col
	start := s.start + s.n
	s.start, s.n, s.rowsReady = start, 0, false
	if start >= c.n {
		s.done = true
		return false
	}
	want := int32(min(c.n-start, Block))
	at, dst := int32(start), unsafe.Pointer(&s.values[0])
	var got int32
	switch {
	case c.typ == Int:
		got = sys.ColumnI64(c.h, at, want, dst)
	case c.typ == Float:
		got = sys.ColumnF64(c.h, at, want, dst)
	case c.typ == Bool:
		got = sys.ColumnU8(c.h, at, want, dst)
	case c.typ == Str && c.dictLen >= 0:
		got = sys.ColumnIDs(c.h, at, want, dst)
	default:
		got = want
	}
	if got <= 0 {
		return s.stop(got)
	}
	if !c.dense {
		r := sys.ColumnRows(c.h, at, got, unsafe.Pointer(&s.rows[0]))
		if r <= 0 {
			return s.stop(r)
		}
		got = min(got, r)
		s.rowsReady = true
	}
	s.n = int(got)
	return true
}

func (s *Scanner) stop(code int32) bool {
	if code < 0 {
		s.err = Error(code)
	}
	s.done = true
	return false
}

// Err is the error that ended the scan, if any.
func (s *Scanner) Err() error { return s.err }

// Start is the index of the block's first value.
func (s *Scanner) Start() int { return s.start }

// Len is the number of values in the block.
func (s *Scanner) Len() int { return s.n }

// Rows are the rows of the block's values (ascending).
func (s *Scanner) Rows() []uint32 {
	rows := s.rows[:s.n]
	if !s.rowsReady {
		// A dense column: value i is row i.
		first := uint32(s.start)
		for i := range rows {
			rows[i] = first + uint32(i)
		}
		s.rowsReady = true
	}
	return rows
}

// Int64s are the block's values of an INT column.
func (s *Scanner) Int64s() []int64 {
	s.check("Int64s", Int)
	return unsafe.Slice((*int64)(unsafe.Pointer(&s.values[0])), s.n)
}

// Float64s are the block's values of a FLOAT column.
func (s *Scanner) Float64s() []float64 {
	s.check("Float64s", Float)
	return unsafe.Slice((*float64)(unsafe.Pointer(&s.values[0])), s.n)
}

// Bools are the block's values of a BOOL column.
func (s *Scanner) Bools() []bool {
	s.check("Bools", Bool)
	return unsafe.Slice((*bool)(unsafe.Pointer(&s.values[0])), s.n)
}

// IDs are the block's dictionary ids of a STR column with a dictionary.
func (s *Scanner) IDs() []uint32 {
	s.check("IDs", Str)
	return unsafe.Slice((*uint32)(unsafe.Pointer(&s.values[0])), s.n)
}

// check panics unless the column is of type t (a STR column: with a
// dictionary). The values buffer holds what Next copied for the column's
// type: read as another type's, it would be garbage, not an error.
func (s *Scanner) check(method string, t Type) {
	if s.col.typ != t || t == Str && s.col.dictLen < 0 {
		s.mismatch(method)
	}
}

// mismatch panics for check, out of line: the accessors stay small.
//
//go:noinline
func (s *Scanner) mismatch(method string) {
	of := s.col.typ.String()
	if s.col.typ == Str && s.col.dictLen < 0 {
		of += " without a dictionary"
	}
	panic("epochd: " + method + " of a column of type " + of)
}

// Int64s yields the rows and values of an INT column, in row order:
//
//	for row, v := range col.Int64s() { ... }
//
// It reads blocks of Block values as Scan does, but runs the loop's body
// as a call per value: in a hot loop, Scan and work on whole blocks. It
// panics when the column is not an INT column, or when the host refuses a
// copy (which it does not for a column it returned).
func (c Column) Int64s() iter.Seq2[uint32, int64] {
	return func(yield func(uint32, int64) bool) { each(c, (*Scanner).Int64s, yield) }
}

// Float64s yields the rows and values of a FLOAT column (see Int64s).
func (c Column) Float64s() iter.Seq2[uint32, float64] {
	return func(yield func(uint32, float64) bool) { each(c, (*Scanner).Float64s, yield) }
}

// Bools yields the rows and values of a BOOL column (see Int64s).
func (c Column) Bools() iter.Seq2[uint32, bool] {
	return func(yield func(uint32, bool) bool) { each(c, (*Scanner).Bools, yield) }
}

// IDs yields the rows and dictionary ids of a STR column with a
// dictionary (see Int64s); Dictionary has the strings.
func (c Column) IDs() iter.Seq2[uint32, uint32] {
	return func(yield func(uint32, uint32) bool) { each(c, (*Scanner).IDs, yield) }
}

// each scans c and yields each value of the slices values gives, with its
// row.
func each[T any](c Column, values func(*Scanner) []T, yield func(uint32, T) bool) {
	s := c.Scan()
	values(s) // checks the column's type, even when it has no values
	for s.Next() {
		vs := values(s)
		rows := s.Rows()[:len(vs)]
		for i, v := range vs {
			if !yield(rows[i], v) {
				return
			}
		}
	}
	if err := s.Err(); err != nil {
		panic(err)
	}
}
