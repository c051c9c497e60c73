package sketch

import (
	"math"
	"math/rand"
	"testing"

	"epochd.dev/epochd"
)

func TestBucketsCoverUint64InOrder(t *testing.T) {
	var last uint64
	for b := uint32(0); b < Buckets; b++ {
		lo, hi := BucketBounds(b)
		if lo > hi || BucketOf(lo) != b || BucketOf(hi) != b {
			t.Fatalf("bucket %d: %d..%d", b, lo, hi)
		}
		if b > 0 && lo != last+1 {
			t.Fatalf("bucket %d starts at %d after %d", b, lo, last)
		}
		last = hi
		mid := BucketValue(b)
		for _, v := range []uint64{lo, hi} {
			d := float64(max(mid, v) - min(mid, v))
			if d/float64(max(v, 1)) > 1.0/128 {
				t.Fatalf("bucket %d: %d for %d", b, mid, v)
			}
		}
	}
	if last != math.MaxUint64 {
		t.Fatal(last)
	}
}

func TestPercentilesAndJSONAsTheRustSDK(t *testing.T) {
	var h LogHistogram
	for _, ms := range []uint64{12, 150, 151, 152, 900} {
		h.Record(ms)
	}
	if p, _ := h.Percentile(50); p != 150 {
		t.Error(p)
	}
	if p, _ := h.Percentile(100); p != 900 {
		t.Error(p)
	}
	if p, _ := h.Percentile(0); p != 12 {
		t.Error(p)
	}
	var j epochd.JSON
	h.WriteJSON(&j)
	text := string(j.Bytes())
	v, err := epochd.ParseJSON(j.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(v)
	if err != nil {
		t.Fatal(err)
	}
	j.Reset()
	back.WriteJSON(&j)
	if string(j.Bytes()) != text {
		t.Errorf("%s\n%s", j.Bytes(), text)
	}
	var empty LogHistogram
	j.Reset()
	empty.WriteJSON(&j)
	if got := string(j.Bytes()); got != `{"count":0,"min":null,"max":null,"sub_bits":6,"first":0,"counts":[]}` {
		t.Error(got)
	}
	for _, bad := range []string{
		`{"count":1,"min":1,"max":1,"sub_bits":5,"first":1,"counts":[1]}`,
		`{"count":2,"min":1,"max":1,"sub_bits":6,"first":1,"counts":[1]}`,
		`{"count":1,"min":2,"max":1,"sub_bits":6,"first":1,"counts":[1]}`,
		`{"count":0,"min":1,"max":null,"sub_bits":6,"first":0,"counts":[]}`,
		`{"count":1,"min":1,"max":1,"sub_bits":6,"first":3776,"counts":[1]}`,
		`{"count":1,"min":1,"max":1,"sub_bits":6,"first":1,"counts":[1],"x":0}`,
	} {
		v, err := epochd.ParseJSON([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(v); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestByIDRecordsAsRecord(t *testing.T) {
	var hs ByID
	var want [5]LogHistogram
	ids := []uint32{3, 0, epochd.None, 3, 4, 1, 0, 3, epochd.None, 2}
	values := []uint64{5, 1000, 7, 6, 1 << 40, 0, 999, 5, 8, math.MaxUint64}
	for round := 0; round < 3; round++ {
		hs.Record(ids, values)
		for i, id := range ids {
			if id != epochd.None {
				want[id].Record(values[i])
			}
		}
	}
	// Blocks long enough for the four-at-a-time path, with None, new
	// histograms and new buckets met on the way.
	r := rand.New(rand.NewSource(1))
	for range 50 {
		n := r.Intn(40)
		ids, values := make([]uint32, n), make([]uint64, n)
		for i := range ids {
			ids[i] = uint32(r.Intn(5))
			if r.Intn(10) == 0 {
				ids[i] = epochd.None
			}
			values[i] = uint64(r.Intn(1000)) << r.Intn(40)
		}
		hs.Record(ids, values)
		for i, id := range ids {
			if id != epochd.None {
				want[id].Record(values[i])
			}
		}
	}
	sameHistograms(t, hs, want[:])
}

// sameHistograms checks that got and want are as many histograms, each
// with the same JSON.
func sameHistograms(t *testing.T, got, want []LogHistogram) {
	t.Helper()
	if len(got) != len(want) || len(got) == 0 {
		t.Fatal(len(got), len(want))
	}
	for id := range want {
		var a, b epochd.JSON
		got[id].WriteJSON(&a)
		want[id].WriteJSON(&b)
		if string(a.Bytes()) != string(b.Bytes()) {
			t.Errorf("%d: %s\n%s", id, a.Bytes(), b.Bytes())
		}
	}
}

// RecordInts is Record of the values that are not negative.
func TestByIDRecordIntsSkipsNegativeValues(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	var ints, uints ByID
	for range 50 {
		n := r.Intn(40)
		ids, values := make([]uint32, n), make([]int64, n)
		for i := range ids {
			ids[i] = uint32(r.Intn(4))
			values[i] = int64(r.Intn(1000)) << r.Intn(40)
			if r.Intn(5) == 0 {
				values[i] = -values[i] - 1
			}
		}
		kept, us := []uint32{}, []uint64{}
		for i, v := range values {
			if v >= 0 {
				kept, us = append(kept, ids[i]), append(us, uint64(v))
			}
		}
		ints.RecordInts(ids, values)
		uints.Record(kept, us)
	}
	sameHistograms(t, ints, uints)
}

// A parsed histogram whose max lies past its counts (the Rust SDK accepts
// it: only the counts' sum is checked) still records values between its
// min and max, where the fast paths index its counts without a check.
func TestAParsedMaxPastTheCountsRecords(t *testing.T) {
	v, err := epochd.ParseJSON([]byte(`{"count":1,"min":5,"max":1000000,"sub_bits":6,"first":5,"counts":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	h, err := Parse(v)
	if err != nil {
		t.Fatal(err)
	}
	h.Record(500000)
	hs := ByID{h}
	hs.Record([]uint32{0, 0, 0, 0, 0}, []uint64{999999, 600000, 700000, 800000, 6})
	if c := hs[0].Count(); c != 7 {
		t.Fatal(c)
	}
	if p, _ := hs[0].Percentile(100); p != 1000000 {
		t.Error(p)
	}
}
