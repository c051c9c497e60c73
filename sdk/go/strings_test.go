package epochd

import (
	"math/rand"
	"testing"
)

func TestLookupInStopsAtTheFirstRowOutsideTheWindow(t *testing.T) {
	var w [Block]uint32
	for i := range w {
		w[i] = uint32(i) * 3
	}
	r := rand.New(rand.NewSource(1))
	for range 2000 {
		first := uint32(r.Intn(3 * Block))
		rows := make([]uint32, r.Intn(40))
		for i := range rows {
			// Mostly in the window, some before or past it, in any order.
			rows[i] = first + uint32(r.Intn(Block+Block/8)) - uint32(r.Intn(2))*uint32(r.Intn(Block/8))
		}
		out := make([]uint32, len(rows))
		n := lookupIn(&w, first, rows, out)
		want := 0
		for want < len(rows) && rows[want]-first < Block {
			want++
		}
		if n != want {
			t.Fatalf("first %d, rows %v: %d rows looked up, want %d", first, rows, n, want)
		}
		for i, row := range rows[:n] {
			if out[i] != w[row-first] {
				t.Fatalf("row %d: id %d, want %d", row, out[i], w[row-first])
			}
		}
	}
}
