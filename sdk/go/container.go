package epochd

import "epochd.dev/epochd/sys"

// Container is a map whose keys vary from event to event (Map), or an
// array (List). Each holding row has a run of entries; the entries' keys
// and values are columns over the entries ("row" there means entry
// number). See sdk/ABI.md, "Containers".
type Container struct {
	h    int32
	kind Kind
	n    int
}

// FindContainer is the container of (path, kind); false when none.
func FindContainer(path string, kind Kind) (Container, bool) {
	h := sys.Container(strPtr(path), clamp32(len(path)), int32(kind))
	if h < 0 {
		return Container{}, false
	}
	n := sys.ContainerLen(h)
	if n < 0 {
		return Container{}, false
	}
	return Container{h: h, kind: kind, n: int(n)}, true
}

// Handle is the container's ABI handle (for package sys).
func (c Container) Handle() int32 { return c.h }

// Kind is Map or List.
func (c Container) Kind() Kind { return c.kind }

// Len is the number of rows holding the container.
func (c Container) Len() int { return c.n }

// ReadRows copies the holding rows start.. into dst; it returns how many.
func (c Container) ReadRows(start int, dst []uint32) (int, error) {
	return result(sys.ContainerRows(c.h, clamp32(start), clamp32(len(dst)), ptr(dst)))
}

// ReadOffsets copies entry offsets start.. into dst; it returns how many.
// There are Len()+1: the entries of the i-th holding row are
// offsets[i]..offsets[i+1]-1.
func (c Container) ReadOffsets(start int, dst []uint32) (int, error) {
	return result(sys.ContainerOffsets(c.h, clamp32(start), clamp32(len(dst)), ptr(dst)))
}

// Rows are all the holding rows (ascending).
func (c Container) Rows() ([]uint32, error) {
	return readAll(make([]uint32, c.n), c.ReadRows)
}

// Offsets are all Len()+1 entry offsets.
func (c Container) Offsets() ([]uint32, error) {
	return readAll(make([]uint32, c.n+1), c.ReadOffsets)
}

func readAll(dst []uint32, read func(int, []uint32) (int, error)) ([]uint32, error) {
	for at := 0; at < len(dst); {
		n, err := read(at, dst[at:])
		if err != nil {
			return dst[:at], err
		}
		if n == 0 {
			return dst[:at], nil
		}
		at += n
	}
	return dst, nil
}

// Keys are a map's keys: a dense STR column over the entries (false for a
// list).
func (c Container) Keys() (Column, bool) {
	return columnOf(sys.ContainerKeys(c.h), Str)
}

// Values are the entries' values of type t: a column over the entries
// (possibly sparse: its rows are entry numbers); false when none.
func (c Container) Values(t Type) (Column, bool) {
	return columnOf(sys.ContainerValues(c.h, int32(t)), t)
}
