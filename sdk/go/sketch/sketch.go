// Package sketch is a mergeable histogram of non-negative integers with a
// bounded relative error: the Rust SDK's epochd_job::sketch::LogHistogram,
// with the same buckets, percentiles and JSON, so that results of jobs in
// either language merge with each other byte for byte.
//
// LogHistogram counts values in log-linear buckets (as HdrHistogram does):
// values below 64 each have their own bucket; above, every power of two is
// split into 64 equal buckets. A percentile is reported as the middle of
// its bucket, clamped to the exact minimum and maximum: within 1/128
// (0.79 %) of the exact value of that rank, and exact below 128. Merging
// adds counts: associative, commutative, exact.
//
// JSON: {"count":N,"min":m,"max":M,"sub_bits":6,"first":i,"counts":[...]}
// where counts[k] is the count of bucket first+k, from the first to the
// last non-empty bucket; min and max are null and counts empty when count
// is 0.
package sketch

import (
	"errors"
	"math/bits"
	"strconv"

	"epochd.dev/epochd"
)

// SubBits is the number of bits kept below a value's leading bit: each
// power of two is split into 2^SubBits = 64 buckets.
const SubBits = 6

const sub = 1 << SubBits

// Buckets is the number of buckets covering all of uint64.
const Buckets = (64 - SubBits + 1) * sub

// BucketOf is the bucket of a value: v itself below 64; above, with e the
// position of the leading bit and m = v >> (e-6) (64..127),
// (e-5)*64 + (m-64).
func BucketOf(v uint64) uint32 {
	// Without a branch, so that it costs no jump in a job's loop (see
	// ByID.Record): shift = max(e-6, 0) by arithmetic, and below 64 the
	// formula gives v itself ((0+1)*64 + v - 64).
	d := 63 - SubBits - bits.LeadingZeros64(v|1)
	shift := uint32(d &^ (d >> 63))
	return (shift+1)*sub + uint32(v>>shift) - sub
}

// BucketBounds are the smallest and largest value of a bucket.
func BucketBounds(bucket uint32) (lo, hi uint64) {
	b := uint64(bucket)
	if b < sub {
		return b, b
	}
	shift := b/sub - 1
	m := b%sub + sub
	lo = m << shift
	return lo, lo + (uint64(1)<<shift - 1)
}

// BucketValue is the value reported for a bucket: its middle, rounded down.
func BucketValue(bucket uint32) uint64 {
	lo, hi := BucketBounds(bucket)
	return lo + (hi-lo)/2
}

// LogHistogram is a histogram of uint64 values (see the package docs). The
// zero value is an empty histogram.
type LogHistogram struct {
	counts []uint64 // per bucket from 0
	count  uint64
	min    uint64
	max    uint64
}

// Record counts one value: its common case (a bucket the histogram has
// already reached) here, the rest out of line. It is too large for Go to
// inline, so a loop calling it pays a call per value: to record a block of
// values, use ByID.Record.
func (h *LogHistogram) Record(v uint64) {
	b := BucketOf(v)
	if c := h.counts; int(b) < len(c) && h.count != 0 {
		c[b]++
		h.min = min(h.min, v)
		h.max = max(h.max, v)
		h.count++
		return
	}
	h.recordSlow(v)
}

//go:noinline
func (h *LogHistogram) recordSlow(v uint64) { h.RecordN(v, 1) }

// RecordN counts a value n times.
func (h *LogHistogram) RecordN(v, n uint64) {
	if n == 0 {
		return
	}
	b := int(BucketOf(v))
	h.grow(b + 1)
	h.counts[b] += n
	if h.count == 0 {
		h.min, h.max = v, v
	} else {
		h.min, h.max = min(h.min, v), max(h.max, v)
	}
	h.count += n
}

func (h *LogHistogram) grow(n int) {
	if n > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, n-len(h.counts))...)
	}
}

// Merge adds o's counts to h's.
func (h *LogHistogram) Merge(o *LogHistogram) {
	if o.count == 0 {
		return
	}
	h.grow(len(o.counts))
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.count == 0 {
		h.min, h.max = o.min, o.max
	} else {
		h.min, h.max = min(h.min, o.min), max(h.max, o.max)
	}
	h.count += o.count
}

// Count is the number of values counted.
func (h *LogHistogram) Count() uint64 { return h.count }

// Min is the smallest value counted, exactly; false when empty.
func (h *LogHistogram) Min() (uint64, bool) { return h.min, h.count > 0 }

// Max is the largest value counted, exactly; false when empty.
func (h *LogHistogram) Max() (uint64, bool) { return h.max, h.count > 0 }

// ValueAtRank is the value of rank 1 (the smallest) .. Count (the
// largest), within 1/128; false outside that range.
func (h *LogHistogram) ValueAtRank(rank uint64) (uint64, bool) {
	if rank == 0 || rank > h.count {
		return 0, false
	}
	if rank == 1 {
		return h.min, true
	}
	if rank == h.count {
		return h.max, true
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(BucketValue(uint32(b)), h.min), h.max), true
		}
	}
	return h.max, true
}

// Quantile is the num/den quantile by nearest rank: the value of rank
// max(1, ceil(Count*num/den)); false when empty or num/den is not in 0..1.
func (h *LogHistogram) Quantile(num, den uint64) (uint64, bool) {
	if den == 0 || num > den || h.count == 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(h.count, num)
	q, r := bits.Div64(hi, lo, den) // hi < den: count*num/den fits
	if r != 0 {
		q++
	}
	return h.ValueAtRank(max(q, 1))
}

// Percentile is the p-th percentile (0..100) by nearest rank (Quantile).
func (h *LogHistogram) Percentile(p uint64) (uint64, bool) {
	return h.Quantile(p, 100)
}

// WriteJSON writes the histogram's JSON.
func (h *LogHistogram) WriteJSON(j *epochd.JSON) {
	c := h.counts
	first := 0
	for first < len(c) && c[first] == 0 {
		first++
	}
	if first == len(c) {
		first = 0
	}
	last := len(c)
	for last > first && c[last-1] == 0 {
		last--
	}
	j.BeginObject()
	j.Key("count")
	j.Uint(h.count)
	j.Key("min")
	if h.count > 0 {
		j.Uint(h.min)
	} else {
		j.Null()
	}
	j.Key("max")
	if h.count > 0 {
		j.Uint(h.max)
	} else {
		j.Null()
	}
	j.Key("sub_bits")
	j.Uint(SubBits)
	j.Key("first")
	j.Uint(uint64(first))
	j.Key("counts")
	j.Uints(c[first:last])
	j.EndObject()
}

// ByID is a histogram per small id (a string field's id by row, say),
// grown as ids appear. Its Record takes a block of values at once: in Go,
// a call per value in a job's hot loop costs more than the recording.
type ByID []LogHistogram

// Record records values[i] into histogram ids[i] for every i, skipping
// the ids that are epochd.None.
func (hs *ByID) Record(ids []uint32, values []uint64) {
	h := *hs
	values = values[:len(ids)]
	for i := 0; i < len(ids); {
		// Four values per iteration when they all go to buckets their
		// histograms already have (nearly always, once a few values are
		// in): Go's WebAssembly takes every loop iteration through its
		// function's block dispatcher and wasmtime checks the run's
		// deadline there, which costs as much as recording a value. The
		// checks come first, so the four may share a histogram.
		if i+4 <= len(ids) {
			d, v := (*[4]uint32)(ids[i:]), (*[4]uint64)(values[i:])
			if int(d[0]) < len(h) && int(d[1]) < len(h) && int(d[2]) < len(h) && int(d[3]) < len(h) {
				x0, x1, x2, x3 := &h[d[0]], &h[d[1]], &h[d[2]], &h[d[3]]
				b0, b1, b2, b3 := BucketOf(v[0]), BucketOf(v[1]), BucketOf(v[2]), BucketOf(v[3])
				c0, c1, c2, c3 := x0.counts, x1.counts, x2.counts, x3.counts
				if int(b0) < len(c0) && int(b1) < len(c1) && int(b2) < len(c2) && int(b3) < len(c3) &&
					x0.count != 0 && x1.count != 0 && x2.count != 0 && x3.count != 0 {
					c0[b0]++
					c1[b1]++
					c2[b2]++
					c3[b3]++
					x0.min, x0.max, x0.count = min(x0.min, v[0]), max(x0.max, v[0]), x0.count+1
					x1.min, x1.max, x1.count = min(x1.min, v[1]), max(x1.max, v[1]), x1.count+1
					x2.min, x2.max, x2.count = min(x2.min, v[2]), max(x2.max, v[2]), x2.count+1
					x3.min, x3.max, x3.count = min(x3.min, v[3]), max(x3.max, v[3]), x3.count+1
					i += 4
					continue
				}
			}
		}
		// One value.
		id, v := ids[i], values[i]
		i++
		if int(id) < len(h) {
			x := &h[id]
			// LogHistogram.Record's common case, written out.
			b := BucketOf(v)
			if c := x.counts; int(b) < len(c) && x.count != 0 {
				c[b]++
				x.min = min(x.min, v)
				x.max = max(x.max, v)
				x.count++
				continue
			}
		} else if id == epochd.None {
			continue
		}
		h = hs.recordSlow(id, v)
	}
}

// recordSlow records v into histogram id, growing the set; it returns the set.
//
//go:noinline
func (hs *ByID) recordSlow(id uint32, v uint64) ByID {
	if int(id) >= len(*hs) {
		*hs = append(*hs, make([]LogHistogram, int(id)+1-len(*hs))...)
	}
	(*hs)[id].RecordN(v, 1)
	return *hs
}

// Parse reads a histogram's JSON with the Rust SDK's checks (unknown and
// repeated fields refused, sub_bits 6, counts adding up to count, min and
// max present exactly when count > 0).
func Parse(v epochd.Value) (LogHistogram, error) {
	f, err := v.Fields("HistogramJson", "count", "min", "max", "sub_bits", "first", "counts")
	if err != nil {
		return LogHistogram{}, err
	}
	shape := errors.New("a histogram needs count, min, max, sub_bits, first (integers) and counts (an array)")
	optional := func(x epochd.Value) (uint64, bool, error) {
		if !x.Exists() || x.IsNull() {
			return 0, false, nil
		}
		n, ok := x.Uint64()
		if !ok {
			return 0, false, shape
		}
		return n, true, nil
	}
	required := func(x epochd.Value, limit uint64) (uint64, error) {
		n, ok := x.Uint64()
		if !ok || n > limit {
			return 0, shape
		}
		return n, nil
	}
	count, err := required(f[0], ^uint64(0))
	if err != nil {
		return LogHistogram{}, err
	}
	lo, hasMin, err := optional(f[1])
	if err != nil {
		return LogHistogram{}, err
	}
	hi, hasMax, err := optional(f[2])
	if err != nil {
		return LogHistogram{}, err
	}
	subBits, err := required(f[3], 0xffffffff)
	if err != nil {
		return LogHistogram{}, err
	}
	first, err := required(f[4], 0xffffffff)
	if err != nil {
		return LogHistogram{}, err
	}
	if f[5].Kind() != epochd.JSONArray {
		return LogHistogram{}, shape
	}
	if subBits != SubBits {
		return LogHistogram{}, errors.New("a histogram with sub_bits " + strconv.FormatUint(subBits, 10) +
			" cannot be read by this version (sub_bits 6)")
	}
	if first+uint64(f[5].Len()) > Buckets {
		return LogHistogram{}, errors.New("histogram buckets beyond the last (" + strconv.Itoa(Buckets) + ")")
	}
	counts := make([]uint64, 0, f[5].Len())
	var sum uint64
	for item := range f[5].Items() {
		c, ok := item.Uint64()
		if !ok {
			return LogHistogram{}, errors.New("histogram counts must be u64")
		}
		var carry uint64
		if sum, carry = bits.Add64(sum, c, 0); carry != 0 {
			return LogHistogram{}, errors.New("histogram counts overflow")
		}
		counts = append(counts, c)
	}
	if sum != count {
		return LogHistogram{}, errors.New("histogram count " + strconv.FormatUint(count, 10) +
			" is not the sum of its counts (" + strconv.FormatUint(sum, 10) + ")")
	}
	if !(count == 0 && !hasMin && !hasMax) && !(count > 0 && hasMin && hasMax && lo <= hi) {
		return LogHistogram{}, errors.New("histogram min/max do not fit its count")
	}
	h := LogHistogram{count: count}
	if count > 0 {
		h.min, h.max = lo, hi
	}
	if len(counts) > 0 {
		h.counts = make([]uint64, int(first)+len(counts))
		copy(h.counts[first:], counts)
	}
	// No trailing zeros (as the Rust SDK keeps them).
	for len(h.counts) > 0 && h.counts[len(h.counts)-1] == 0 {
		h.counts = h.counts[:len(h.counts)-1]
	}
	return h, nil
}
