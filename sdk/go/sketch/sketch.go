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
func BucketOf(v uint64) uint32 { return uint32(bucketOf(v)) }

// bucketOf is BucketOf in the machine's word, which Go's WebAssembly
// computes without masking every step to 32 bits, and without a branch, so
// that it costs no jump in a job's loop (see ByID.Record): with
// shift = max(e-6, 0) by arithmetic, (e-5)*64 + (m-64) is shift*64 + m,
// and below 64 it gives v itself.
func bucketOf(v uint64) uint {
	d := 63 - SubBits - bits.LeadingZeros64(v|1)
	shift := uint(d &^ (d >> 63))
	// & 63: the shift is below 64, which spares Go's check of it.
	return shift<<SubBits + uint(v>>(shift&63))
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
	// Per bucket from 0, up to at least the largest value's; empty exactly
	// when the histogram is (count 0, min and max unset).
	counts []uint64
	count  uint64
	min    uint64
	max    uint64
	// The buckets of min and max (0 and 0 when empty): a value in a bucket
	// strictly between them changes neither, which spares the fast paths
	// (Record, ByID.Record) comparing and storing both for most values.
	minBucket, maxBucket uint
}

// setBounds sets min and max, and their buckets; the counts reach max's
// bucket (even a parsed histogram's whose max is beyond its counts), so
// that the fast paths index them safely.
func (h *LogHistogram) setBounds(lo, hi uint64) {
	h.min, h.max = lo, hi
	h.minBucket, h.maxBucket = bucketOf(lo), bucketOf(hi)
	h.grow(int(h.maxBucket) + 1)
}

// Record counts one value: its common case (a bucket the histogram has
// already reached) here, the rest out of line. It is too large for Go to
// inline, so a loop calling it pays a call per value: to record a block of
// values, use ByID.Record.
func (h *LogHistogram) Record(v uint64) {
	b := bucketOf(v)
	switch {
	case h.minBucket < b && b < h.maxBucket:
		// Between the buckets of min and max: neither changes.
	case int(b) < len(h.counts):
		// A histogram with buckets is not empty: min and max are set.
		h.min, h.max = min(h.min, v), max(h.max, v)
		h.minBucket, h.maxBucket = min(h.minBucket, b), max(h.maxBucket, b)
	default:
		h.recordSlow(v)
		return
	}
	h.counts[b]++
	h.count++
}

//go:noinline
func (h *LogHistogram) recordSlow(v uint64) { h.RecordN(v, 1) }

// RecordN counts a value n times.
func (h *LogHistogram) RecordN(v, n uint64) {
	if n == 0 {
		return
	}
	// Grown to the end of b's power of two: a histogram's buckets
	// are then out of reach of the fast paths (Record, ByID.Record) once
	// per power of two its values reach, not once per bucket.
	b := int(BucketOf(v))
	h.grow(min((b/sub+1)*sub, Buckets))
	h.counts[b] += n
	if h.count == 0 {
		h.setBounds(v, v)
	} else {
		h.setBounds(min(h.min, v), max(h.max, v))
	}
	h.count += n
}

// grow makes the counts reach bucket n-1, and as far as their memory goes
// beyond that (zeros, up to the last bucket): a histogram then leaves the
// fast paths to grow its counts only as often as append reallocates them.
func (h *LogHistogram) grow(n int) {
	if n > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, n-len(h.counts))...)
		h.counts = h.counts[:max(n, min(cap(h.counts), Buckets))]
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
		h.setBounds(o.min, o.max)
	} else {
		h.setBounds(min(h.min, o.min), max(h.max, o.max))
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
func (hs *ByID) Record(ids []uint32, values []uint64) { record(hs, ids, values) }

// RecordInts is Record for signed values: it also skips the negative ones
// (an INT column's values, say), without a pass of its own over them.
func (hs *ByID) RecordInts(ids []uint32, values []int64) { record(hs, ids, values) }

// record is Record and RecordInts: V is uint64 or int64 (whose negative
// values it skips).
func record[V uint64 | int64](hs *ByID, ids []uint32, values []V) {
	h := *hs
	values = values[:len(ids)]
	for i := 0; i < len(ids); {
		// Four values per iteration when each lies in a bucket strictly
		// between those of its histogram's min and max (nearly always,
		// once a few values are in), so that only counts change: Go's
		// WebAssembly takes every loop iteration through its function's
		// block dispatcher and wasmtime checks the run's deadline there,
		// which costs as much as recording a value. The checks come
		// first, so the four may share a histogram.
		if i+4 <= len(ids) {
			d, v := (*[4]uint32)(ids[i:]), (*[4]V)(values[i:])
			if int(d[0]) < len(h) && int(d[1]) < len(h) && int(d[2]) < len(h) && int(d[3]) < len(h) &&
				v[0] >= 0 && v[1] >= 0 && v[2] >= 0 && v[3] >= 0 {
				x0, x1, x2, x3 := &h[d[0]], &h[d[1]], &h[d[2]], &h[d[3]]
				u0, u1, u2, u3 := uint64(v[0]), uint64(v[1]), uint64(v[2]), uint64(v[3])
				b0, b1, b2, b3 := bucketOf(u0), bucketOf(u1), bucketOf(u2), bucketOf(u3)
				if x0.minBucket < b0 && b0 < x0.maxBucket && x1.minBucket < b1 && b1 < x1.maxBucket &&
					x2.minBucket < b2 && b2 < x2.maxBucket && x3.minBucket < b3 && b3 < x3.maxBucket {
					x0.counts[b0]++
					x1.counts[b1]++
					x2.counts[b2]++
					x3.counts[b3]++
					x0.count++
					x1.count++
					x2.count++
					x3.count++
					i += 4
					continue
				}
			}
		}
		// One value.
		id, v := ids[i], values[i]
		i++
		if v < 0 {
			continue
		}
		switch {
		case int(id) < len(h):
			h[id].Record(uint64(v))
		case id != epochd.None:
			h = hs.recordSlow(id, uint64(v))
		}
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
	if len(counts) > 0 {
		h.counts = make([]uint64, int(first)+len(counts))
		copy(h.counts[first:], counts)
	}
	// No trailing zeros (as the Rust SDK keeps them).
	for len(h.counts) > 0 && h.counts[len(h.counts)-1] == 0 {
		h.counts = h.counts[:len(h.counts)-1]
	}
	if count > 0 {
		h.setBounds(lo, hi)
	}
	return h, nil
}
