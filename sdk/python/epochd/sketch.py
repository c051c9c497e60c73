"""A mergeable histogram of non-negative integers with a bounded relative
error: the building block of percentile jobs. The same buckets, rule and
JSON as the Rust SDK's ``epochd_job::sketch`` (and the Go SDK's), so the
results of jobs in any language merge with each other byte for byte.

Values below 64 each have their own bucket; above, every power of two is
split into 64 equal buckets (integer arithmetic only). A percentile is the
middle of its bucket clamped to the exact minimum and maximum: within
1/128 (0.79 %) of the exact value of that rank, exact below 128.

JSON (``to_json()``, or pass the histogram to ``epochd.json.dumps``)::

    {"count":N,"min":m,"max":M,"sub_bits":6,"first":i,"counts":[c_i,...]}

``counts[k]`` is the count of bucket ``first + k``, from the first to the
last non-empty bucket; ``min``/``max`` are ``null`` and ``counts`` empty
when ``count`` is 0. ``LogHistogram.from_json`` checks it is consistent.

Pure Python (standard library only).
"""

from .errors import JobError

__all__ = [
    "SUB_BITS", "BUCKETS", "RELATIVE_ERROR", "U64_MAX",
    "bucket_of", "bucket_bounds", "bucket_value", "LogHistogram",
]

SUB_BITS = 6
_SUB = 1 << SUB_BITS
RELATIVE_ERROR = 1.0 / (2 << SUB_BITS)
BUCKETS = (64 - SUB_BITS + 1) * _SUB
U64_MAX = (1 << 64) - 1


def bucket_of(v):
    """The bucket of a value (0 <= v < 2**64)."""
    if v < _SUB:
        return v
    shift = v.bit_length() - 1 - SUB_BITS
    return (shift + 1) * _SUB + ((v >> shift) - _SUB)


def bucket_bounds(bucket):
    """The smallest and largest value of a bucket."""
    if bucket < _SUB:
        return bucket, bucket
    shift = bucket // _SUB - 1
    lo = (bucket % _SUB + _SUB) << shift
    return lo, lo + ((1 << shift) - 1)


def bucket_value(bucket):
    """The value reported for a bucket: its middle, rounded down."""
    lo, hi = bucket_bounds(bucket)
    return lo + (hi - lo) // 2


class LogHistogram:
    """A histogram of u64 values (see the module's docs)."""

    __slots__ = ("counts", "count", "min", "max")

    def __init__(self):
        # Count per bucket, indexed from 0; no trailing zeros.
        self.counts = []
        self.count = 0
        self.min = None
        self.max = None

    def record(self, v, n=1):
        """Counts the value ``v`` (an int, 0 <= v < 2**64) ``n`` times."""
        if n <= 0:
            return
        if not 0 <= v <= U64_MAX:
            raise ValueError("a histogram holds values 0..2**64-1, not %r" % (v,))
        b = bucket_of(v)
        counts = self.counts
        if b >= len(counts):
            counts.extend([0] * (b + 1 - len(counts)))
        counts[b] += n
        if self.count == 0:
            self.min = self.max = v
        else:
            if v < self.min:
                self.min = v
            if v > self.max:
                self.max = v
        self.count += n

    def record_counts(self, counts):
        """Counts every value of a mapping ``{value: times}`` (e.g. a
        ``collections.Counter`` of the values): the fast way to fill a
        histogram from many values with repeats."""
        for v, n in counts.items():
            self.record(v, n)

    def merge(self, other):
        """Adds ``other``'s counts to this one's."""
        if other.count == 0:
            return self
        counts = self.counts
        if len(counts) < len(other.counts):
            counts.extend([0] * (len(other.counts) - len(counts)))
        for i, c in enumerate(other.counts):
            if c:
                counts[i] += c
        if self.count == 0:
            self.min, self.max = other.min, other.max
        else:
            self.min = min(self.min, other.min)
            self.max = max(self.max, other.max)
        self.count += other.count
        return self

    def __len__(self):
        return self.count

    def __bool__(self):
        return self.count > 0

    def __eq__(self, other):
        if not isinstance(other, LogHistogram):
            return NotImplemented
        return (self.count, self.min, self.max, self.counts) == (
            other.count, other.min, other.max, other.counts)

    def __repr__(self):
        return "LogHistogram(%s)" % self.to_json()

    def buckets(self):
        """``(bucket, count)`` of each non-empty bucket, ascending."""
        return [(b, c) for b, c in enumerate(self.counts) if c]

    def value_at_rank(self, rank):
        """The value of rank ``rank`` (1 = the smallest, ``count`` = the
        largest), within ``RELATIVE_ERROR``; None outside 1..count."""
        if rank <= 0 or rank > self.count:
            return None
        if rank == 1:
            return self.min
        if rank == self.count:
            return self.max
        seen = 0
        for b, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                v = bucket_value(b)
                return self.min if v < self.min else self.max if v > self.max else v
        return self.max

    def quantile(self, numerator, denominator):
        """The ``numerator / denominator`` quantile by nearest rank: the
        value of rank ``max(1, ceil(count * numerator / denominator))``;
        None when empty or when the fraction is not in 0..1."""
        if denominator == 0 or numerator > denominator or self.count == 0:
            return None
        rank = max(1, -(-self.count * numerator // denominator))
        return self.value_at_rank(rank)

    def percentile(self, p):
        """The ``p``-th percentile (0..100) by nearest rank."""
        return self.quantile(p, 100)

    def to_json(self):
        """The JSON form, as a dict (keys in the documented order)."""
        counts = self.counts
        first = next((i for i, c in enumerate(counts) if c), 0)
        last = len(counts)
        while last > first and counts[last - 1] == 0:
            last -= 1
        return {
            "count": self.count,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            "sub_bits": SUB_BITS,
            "first": first,
            "counts": counts[first:last],
        }

    __json__ = to_json

    @classmethod
    def from_json(cls, j):
        """A histogram from its JSON form (a parsed dict); a ``JobError``
        (the Rust SDK's message) when it is not one."""
        if not isinstance(j, dict):
            raise JobError("JSON: a histogram must be an object")
        fields = ("count", "min", "max", "sub_bits", "first", "counts")
        for k in j:
            if k not in fields:
                raise JobError("JSON: unknown field `%s` in a histogram" % k)
        for k in fields:
            if k not in j and k not in ("min", "max"):
                raise JobError("JSON: missing field `%s` in a histogram" % k)
        count, lo, hi = j["count"], j.get("min"), j.get("max")
        sub_bits, first, counts = j["sub_bits"], j["first"], j["counts"]
        if not _is_u64(count) or not _is_u32(sub_bits) or not _is_u32(first):
            raise JobError("JSON: histogram count, sub_bits and first must be unsigned integers")
        if lo is not None and not _is_u64(lo) or hi is not None and not _is_u64(hi):
            raise JobError("JSON: histogram min and max must be u64 or null")
        if not isinstance(counts, list) or not all(_is_u64(c) for c in counts):
            raise JobError("JSON: histogram counts must be an array of u64")
        if sub_bits != SUB_BITS:
            raise JobError(
                "JSON: a histogram with sub_bits %d cannot be read by this version (sub_bits %d)"
                % (sub_bits, SUB_BITS))
        if first + len(counts) > BUCKETS:
            raise JobError("JSON: histogram buckets beyond the last (%d)" % BUCKETS)
        total = sum(counts)
        if total > U64_MAX:
            raise JobError("JSON: histogram counts overflow")
        if total != count:
            raise JobError("JSON: histogram count %d is not the sum of its counts (%d)"
                           % (count, total))
        if count == 0 and lo is None and hi is None:
            lo = hi = None
        elif count > 0 and lo is not None and hi is not None and lo <= hi:
            pass
        else:
            raise JobError("JSON: histogram min/max do not fit its count")
        h = cls()
        full = [0] * first + counts
        while full and full[-1] == 0:
            full.pop()
        h.counts, h.count, h.min, h.max = full, count, lo, hi
        return h


def _is_u64(v):
    return type(v) is int and 0 <= v <= U64_MAX


def _is_u32(v):
    return type(v) is int and 0 <= v < 1 << 32
