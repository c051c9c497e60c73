// The mergeable log-linear histogram of the Rust SDK
// (epochd_job::sketch::LogHistogram), byte-compatible JSON:
// {"count":N,"min":m,"max":M,"sub_bits":6,"first":i,"counts":[...]}.
//
// Values below 64 have their own bucket; above, every power of two is split
// into 64 buckets (integer arithmetic only). A percentile is the middle of
// its bucket clamped to [min, max]: within 1/128 of the exact value, exact
// below 128. Merging adds counts (associative, commutative, exact).
import { Buf } from "./buf";
import { JsonKind, JsonValue, JsonWriter } from "./json";

export const SUB_BITS: u32 = 6;
export const BUCKETS: u32 = (64 - SUB_BITS + 1) * 64;

/** The bucket of a value. */
// @ts-ignore: decorator
@inline export function bucketOf(v: u64): u32 {
  if (v < 64) return <u32>v;
  const e = 63 - <u32>clz<u64>(v);
  const shift = e - SUB_BITS;
  const m = v >> <u64>shift;
  return (shift + 1) * 64 + <u32>(m - 64);
}

/** The value a bucket stands for: the middle of its range. */
export function bucketValue(b: u32): u64 {
  if (b < 64) return <u64>b;
  const shift = <u64>(b / 64 - 1), m = <u64>(b % 64 + 64);
  const lo = m << shift, hi = lo + ((<u64>1 << shift) - 1);
  return lo + (hi - lo) / 2;
}

export class LogHistogram {
  /** Counts per bucket from 0 (len buckets, u64 each). */
  private counts: usize = 0;
  len: u32 = 0;
  private cap: u32 = 0;
  count: u64 = 0;
  min: u64 = 0;
  max: u64 = 0;

  /** The count of bucket `b`. */
  bucket(b: u32): u64 {
    return b < this.len ? load<u64>(this.counts + (<usize>b << 3)) : 0;
  }

  private grow(len: u32): void {
    if (len > this.cap) {
      let cap = this.cap ? this.cap : 16;
      while (cap < len) cap *= 2;
      const p = heap.alloc(<usize>cap << 3);
      if (this.cap) memory.copy(p, this.counts, <usize>this.cap << 3);
      memory.fill(p + (<usize>this.cap << 3), 0, <usize>(cap - this.cap) << 3);
      if (this.counts) heap.free(this.counts);
      this.counts = p;
      this.cap = cap;
    }
    if (len > this.len) this.len = len;
  }

  /** Records `n` occurrences of `v`. */
  recordN(v: u64, n: u64): void {
    if (!n) return;
    const b = bucketOf(v);
    if (b >= this.len) this.grow(b + 1);
    const at = this.counts + (<usize>b << 3);
    store<u64>(at, load<u64>(at) + n);
    if (!this.count) {
      this.min = v;
      this.max = v;
    } else {
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
    }
    this.count += n;
  }

  /** Records `v`. The common case, a bucket the histogram has already
   * reached, is kept small so that a job's loop over a column inlines it;
   * the rest (the first value, growing) is recordN, a call. */
  @inline record(v: u64): void {
    const b = bucketOf(v);
    if (b < this.len && this.count) {
      const at = this.counts + (<usize>b << 3);
      store<u64>(at, load<u64>(at) + 1);
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      this.count++;
      return;
    }
    recordOutOfLine(this, v);
  }

  /** Adds another histogram's counts. */
  merge(o: LogHistogram): void {
    if (!o.count) return;
    this.grow(o.len);
    for (let i: u32 = 0; i < o.len; i++) {
      const at = this.counts + (<usize>i << 3);
      store<u64>(at, load<u64>(at) + load<u64>(o.counts + (<usize>i << 3)));
    }
    if (!this.count) {
      this.min = o.min;
      this.max = o.max;
    } else {
      if (o.min < this.min) this.min = o.min;
      if (o.max > this.max) this.max = o.max;
    }
    this.count += o.count;
  }

  /** The value of rank 1..=count (0 outside). */
  rank(rank: u64): u64 {
    if (rank < 1 || rank > this.count) return 0;
    if (rank == 1) return this.min;
    if (rank == this.count) return this.max;
    let seen: u64 = 0;
    for (let b: u32 = 0; b < this.len; b++) {
      seen += load<u64>(this.counts + (<usize>b << 3));
      if (seen >= rank) {
        const v = bucketValue(b);
        return v < this.min ? this.min : v > this.max ? this.max : v;
      }
    }
    return this.max;
  }

  /** The p-th percentile (0..=100) by nearest rank, rank max(1, ceil(count *
   * p / 100)); 0 when empty or p > 100. */
  percentile(p: u64): u64 {
    if (!this.count || p > 100) return 0;
    const q = this.count / 100, r = this.count % 100;
    let rank = q * p + (r * p + 99) / 100;
    if (rank < 1) rank = 1;
    return this.rank(rank);
  }

  /** Writes the histogram's JSON (the Rust SDK's bytes). */
  writeJson(j: JsonWriter): void {
    let first: u32 = 0;
    while (first < this.len && !this.bucket(first)) first++;
    if (first == this.len) first = 0;
    let last = this.len;
    while (last > first && !this.bucket(last - 1)) last--;
    j.object();
    j.key("count");
    j.u64(this.count);
    j.key("min");
    if (this.count) j.u64(this.min);
    else j.nullValue();
    j.key("max");
    if (this.count) j.u64(this.max);
    else j.nullValue();
    j.key("sub_bits");
    j.u64(SUB_BITS);
    j.key("first");
    j.u64(first);
    j.key("counts");
    j.array();
    for (let i = first; i < last; i++) j.u64(this.bucket(i));
    j.endArray();
    j.endObject();
  }

  /** Reads a histogram's JSON with the Rust SDK's checks: the histogram, or
   * null with a message in `err`. */
  static fromJson(v: JsonValue, err: Buf): LogHistogram | null {
    const f = new Array<JsonValue | null>();
    if (!v.fields("HistogramJson", ["count", "min", "max", "sub_bits", "first", "counts"], f, err)) return null;
    const fc = f[0], fmin = f[1], fmax = f[2], fsub = f[3], ffirst = f[4], fcounts = f[5];
    const hasMin = fmin != null && !fmin.isNull, hasMax = fmax != null && !fmax.isNull;
    if (
      fc == null || !fc.isU64() || (hasMin && !fmin!.isU64()) || (hasMax && !fmax!.isU64()) ||
      fsub == null || !fsub.isU64() || fsub.toU64() > 0xffffffff || ffirst == null || !ffirst.isU64() ||
      ffirst.toU64() > 0xffffffff || fcounts == null || fcounts.kind != JsonKind.Arr
    ) {
      err.str("a histogram needs count, min, max, sub_bits, first (integers) and counts (an array)");
      return null;
    }
    const subBits = fsub.toU64();
    if (subBits != <u64>SUB_BITS) {
      err.str("a histogram with sub_bits ");
      err.u64(subBits);
      err.str(" cannot be read by this version (sub_bits 6)");
      return null;
    }
    const first = ffirst.toU64(), items = fcounts.items;
    if (first + <u64>items.length > <u64>BUCKETS) {
      err.str("histogram buckets beyond the last (3776)");
      return null;
    }
    const count = fc.toU64();
    let sum: u64 = 0;
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (!it.isU64()) {
        err.str("histogram counts must be u64");
        return null;
      }
      const c = it.toU64();
      if (sum + c < sum) {
        err.str("histogram counts overflow");
        return null;
      }
      sum += c;
    }
    if (sum != count) {
      err.str("histogram count ");
      err.u64(count);
      err.str(" is not the sum of its counts (");
      err.u64(sum);
      err.str(")");
      return null;
    }
    const min = hasMin ? fmin!.toU64() : 0, max = hasMax ? fmax!.toU64() : 0;
    if (!(count == 0 && !hasMin && !hasMax) && !(count > 0 && hasMin && hasMax && min <= max)) {
      err.str("histogram min/max do not fit its count");
      return null;
    }
    const h = new LogHistogram();
    if (items.length) h.grow(<u32>first + <u32>items.length);
    for (let i = 0; i < items.length; i++) store<u64>(h.counts + ((<usize>first + <usize>i) << 3), items[i].toU64());
    while (h.len && !h.bucket(h.len - 1)) h.len--;
    h.count = count;
    h.min = count ? min : 0;
    h.max = count ? max : 0;
    return h;
  }
}

/** LogHistogram.record's slow path, called through a function reference so
 * that it stays out of line (see RowIds.get in index.ts). */
// @ts-ignore: decorator (compiled only into the jobs that use it)
@lazy const recordOutOfLine = (h: LogHistogram, v: u64): void => h.recordN(v, 1);
