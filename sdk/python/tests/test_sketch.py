"""epochd.sketch: the same buckets, percentiles and JSON as the Rust SDK."""

import random
import unittest

from epochd import JobError
from epochd.json import dumps, loads
from epochd.sketch import (BUCKETS, RELATIVE_ERROR, U64_MAX, LogHistogram, bucket_bounds,
                           bucket_of, bucket_value)


class BucketTest(unittest.TestCase):
    def test_constants(self):
        self.assertEqual(BUCKETS, 3776)
        self.assertEqual(RELATIVE_ERROR, 1 / 128)

    def test_buckets_cover_u64_in_order(self):
        last = None
        for b in range(BUCKETS):
            lo, hi = bucket_bounds(b)
            self.assertLessEqual(lo, hi)
            self.assertEqual(bucket_of(lo), b)
            self.assertEqual(bucket_of(hi), b)
            if last is not None:
                self.assertEqual(lo, last + 1)
            last = hi
        self.assertEqual(last, U64_MAX)

    def test_documented_formula(self):
        # v < 64: bucket v; else (e - 5) * 64 + (m - 64), m = v >> (e - 6).
        self.assertEqual([bucket_of(v) for v in (0, 1, 63)], [0, 1, 63])
        self.assertEqual(bucket_of(64), 64)
        self.assertEqual(bucket_of(127), 127)
        self.assertEqual(bucket_of(128), 128)
        self.assertEqual(bucket_of(129), 128)
        self.assertEqual(bucket_of(130), 129)
        self.assertEqual(bucket_of(100), 100)
        self.assertEqual(bucket_of(300), 2 * 64 + (300 >> 2) - 64 + 64)
        self.assertEqual(bucket_of(U64_MAX), BUCKETS - 1)
        self.assertEqual(bucket_bounds(128), (128, 129))
        self.assertEqual(bucket_value(128), 128)
        self.assertEqual(bucket_bounds(BUCKETS - 1), ((127 << 57), U64_MAX))

    def test_relative_error_bound(self):
        for b in range(BUCKETS):
            lo, hi = bucket_bounds(b)
            mid = bucket_value(b)
            for v in (lo, hi):
                self.assertLessEqual(abs(mid - v) / max(v, 1), RELATIVE_ERROR)


class HistogramTest(unittest.TestCase):
    def test_doc_example(self):
        h = LogHistogram()
        for ms in (12, 150, 151, 152, 900):
            h.record(ms)
        self.assertEqual(h.percentile(50), 150)
        self.assertEqual(h.percentile(100), 900)
        self.assertEqual(h.count, 5)
        back = LogHistogram.from_json(loads(dumps(h)))
        self.assertEqual(back, h)

    def test_readme_example_json(self):
        h = LogHistogram()
        h.record(100)
        h.record(300)
        j = dumps(h.to_json())
        self.assertTrue(j.startswith('{"count":2,"min":100,"max":300,"sub_bits":6,"first":100,"counts":[1,'))
        self.assertTrue(j.endswith(",1]}"))
        self.assertEqual((h.percentile(50), h.percentile(95), h.percentile(99)), (100, 300, 300))
        one = LogHistogram()
        one.record(5)
        self.assertEqual(dumps(one),
                         '{"count":1,"min":5,"max":5,"sub_bits":6,"first":5,"counts":[1]}')

    def test_empty(self):
        h = LogHistogram()
        self.assertEqual(dumps(h), '{"count":0,"min":null,"max":null,"sub_bits":6,"first":0,"counts":[]}')
        self.assertIsNone(h.percentile(50))
        self.assertEqual(LogHistogram.from_json(loads(dumps(h))), h)

    def test_percentiles_nearest_rank_within_bound(self):
        rng = random.Random(1)
        for _ in range(200):
            values = [rng.choice([rng.randrange(200), rng.randrange(1 << 20), rng.randrange(1 << 63)])
                      for _ in range(rng.randrange(1, 300))]
            h = LogHistogram()
            for v in values:
                h.record(v)
            ordered = sorted(values)
            for p in (0, 1, 50, 95, 99, 100):
                rank = max(1, -(-len(values) * p // 100))
                exact = ordered[rank - 1]
                got = h.percentile(p)
                self.assertLessEqual(abs(got - exact), exact * RELATIVE_ERROR + 0.5, (p, exact, got))
                if exact < 128:
                    self.assertEqual(got, exact)
            self.assertEqual((h.min, h.max, h.count), (ordered[0], ordered[-1], len(values)))

    def test_merge_is_union(self):
        rng = random.Random(2)
        values = [rng.randrange(5000) for _ in range(1000)]
        whole = LogHistogram()
        for v in values:
            whole.record(v)
        parts = [LogHistogram() for _ in range(4)]
        for v in values:
            parts[rng.randrange(4)].record(v)
        merged = LogHistogram()
        for p in parts:
            merged.merge(LogHistogram.from_json(loads(dumps(p))))
        self.assertEqual(merged, whole)
        self.assertEqual(dumps(merged), dumps(whole))
        empty = LogHistogram()
        self.assertEqual(empty.merge(whole), whole)

    def test_record_n_and_counts(self):
        a, b = LogHistogram(), LogHistogram()
        a.record_counts({7: 3, 1000: 2})
        for v in (7, 7, 7, 1000, 1000):
            b.record(v)
        self.assertEqual(a, b)
        with self.assertRaises(ValueError):
            a.record(-1)
        with self.assertRaises(ValueError):
            a.record(1 << 64)

    def test_from_json_checks(self):
        good = {"count": 1, "min": 5, "max": 5, "sub_bits": 6, "first": 5, "counts": [1]}
        LogHistogram.from_json(good)
        bad = [
            dict(good, sub_bits=7), dict(good, count=2), dict(good, min=None),
            dict(good, min=6, max=5), dict(good, first=BUCKETS), dict(good, counts=[1.0]),
            dict(good, extra=1), {k: v for k, v in good.items() if k != "counts"},
            dict(good, count=0, counts=[0]),
        ]
        for j in bad:
            with self.assertRaises(JobError, msg=repr(j)):
                LogHistogram.from_json(j)
        self.assertEqual(
            LogHistogram.from_json({"count": 0, "min": None, "max": None, "sub_bits": 6,
                                    "first": 0, "counts": [0, 0]}),
            LogHistogram())
        # leading and trailing zero counts are normalised away
        h = LogHistogram.from_json({"count": 1, "min": 5, "max": 5, "sub_bits": 6, "first": 3,
                                    "counts": [0, 0, 1, 0]})
        self.assertEqual(dumps(h), '{"count":1,"min":5,"max":5,"sub_bits":6,"first":5,"counts":[1]}')


if __name__ == "__main__":
    unittest.main()
