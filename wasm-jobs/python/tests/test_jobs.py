"""The Python reference jobs, natively over epochd.testing's fake epoch:
the documented result formats (wasm-jobs/README.md), the same bytes
whichever strings are dictionary-coded, and the merge laws on random
splits. Run by wasm-jobs/build-py (`python3 -m unittest discover -s
python/tests` in wasm-jobs/, with ../sdk/python on PYTHONPATH)."""

import importlib.util
import math
import os
import random
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "sdk", "python"))

from epochd import testing  # noqa: E402
from epochd.testing import Err, Map  # noqa: E402


def load(job):
    name = "job_" + job.replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, "..", job, "app.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


count, latency, error_rate = load("count"), load("latency"), load("error-rate")
MODES = ("auto", "all", "none")


def run(job, events, **kw):
    outs = {testing.run(job, events, dictionary=mode, **kw) for mode in MODES}
    assert len(outs) == 1, outs
    return outs.pop()


def merge(job, a, b, **kw):
    return testing.merge(job, a, b, **kw)


def workload(rng, n):
    """Events shaped like the reference workload (docs/WORKLOAD.md)."""
    events = []
    for _ in range(n):
        if rng.random() < 0.4:
            status = 200 if rng.random() < 0.97 else rng.choice([302, 302, 404, 500, 301])
            events.append({"type": "WEB",
                           "subtype": rng.choice(["app", "ajax", "secure", "api", "mobile"]),
                           "dc": rng.choice(["ams4", "ams5"]),
                           "tuning": {"wallclock": max(1, round(math.exp(rng.gauss(5.0, 0.8)))),
                                      "status": status},
                           "experiments": Map({"exp_%d" % rng.randrange(80): rng.randrange(3)})})
        else:
            events.append({"type": "AV", "subtype": "availability_cluster"})
    return events


def awkward(rng, n):
    """Events with every oddity the jobs must handle."""
    events = []
    for _ in range(n):
        ev = {}
        t = rng.choice(["WEB", "AV", "é", b"W\xffB", b"\xff", "", None, 7, "WEB"])
        if t is not None:
            ev["type"] = t
        s = rng.choice(["app", "api", "ä", b"a\x80", "", None, 5, 1.5, True])
        if s is not None:
            ev["subtype"] = s
        tuning = {}
        w = rng.choice([rng.randrange(400), rng.randrange(1 << 40), -1, (1 << 63) - 1,
                        rng.random() * 500, -0.0, -2.5, float("inf"), float("nan"), 1e30, "12",
                        None, "absent"])
        if w != "absent":
            tuning["wallclock"] = w
        st = rng.choice([200, 500, 503, 499, 500.0, "500", -1, "absent"])
        if st != "absent":
            tuning["status"] = st
        if tuning:
            ev["tuning"] = tuning
        events.append(ev)
    return events


class CountTest(unittest.TestCase):
    def test_readme_example(self):
        events = [{"type": "AV", "subtype": "availability_cluster"}, {"type": "WEB"},
                  {"type": "WEB", "subtype": "app"}, {"type": "WEB", "subtype": "app"}]
        self.assertEqual(run(count, events),
                         b'{"events":4,"counts":[{"type":"AV","subtype":"availability_cluster","count":1},'
                         b'{"type":"WEB","subtype":null,"count":1},{"type":"WEB","subtype":"app","count":2}]}')
        self.assertEqual(run(count, []), b'{"events":0,"counts":[]}')

    def test_nulls_first_bytes_order_and_replacement(self):
        events = [{"type": "b"}, {"type": 5}, {"type": "é"}, {"type": "Z"}, {"type": b"\xff"},
                  {"type": b"\xfe"}, {}]
        self.assertEqual(run(count, events),
                         '{"events":7,"counts":[{"type":null,"subtype":null,"count":2},'
                         '{"type":"Z","subtype":null,"count":1},{"type":"b","subtype":null,"count":1},'
                         '{"type":"é","subtype":null,"count":1},'
                         '{"type":"\ufffd","subtype":null,"count":2}]}'.encode())

    def test_merge(self):
        a = run(count, [{"type": "WEB", "subtype": "app"}, {"type": "AV"}])
        b = run(count, [{"type": "WEB", "subtype": "app"}, {"subtype": "x"}])
        self.assertEqual(merge(count, a, b),
                         b'{"events":4,"counts":[{"type":null,"subtype":"x","count":1},'
                         b'{"type":"AV","subtype":null,"count":1},{"type":"WEB","subtype":"app","count":2}]}')
        with self.assertRaises(Err) as cm:
            merge(count, a, b'{"events":1}')
        self.assertTrue(cm.exception.value.startswith("JSON: "))


class LatencyTest(unittest.TestCase):
    def test_readme_example(self):
        events = [{"subtype": "api", "tuning": {"wallclock": 5}},
                  {"subtype": "app", "tuning": {"wallclock": 100}},
                  {"subtype": "app", "tuning": {"wallclock": 300}}]
        out = run(latency, events)
        self.assertTrue(out.startswith(
            b'{"field":"tuning.wallclock","subtypes":{"api":{"p50":5,"p95":5,"p99":5,"histogram":'
            b'{"count":1,"min":5,"max":5,"sub_bits":6,"first":5,"counts":[1]}},"app":{"p50":100,'
            b'"p95":300,"p99":300,"histogram":{"count":2,"min":100,"max":300,"sub_bits":6,"first":100,'
            b'"counts":[1,0,0,'), out)
        self.assertEqual(run(latency, []), b'{"field":"tuning.wallclock","subtypes":{}}')

    def test_values_counted(self):
        events = [{"subtype": "a", "tuning": {"wallclock": v}}
                  for v in (3, -1, 2.9, -0.0, -0.5, float("inf"), float("nan"), "7", 1e30)]
        events.append({"subtype": 5, "tuning": {"wallclock": 9}})
        events.append({"tuning": {"wallclock": 9}})
        out = run(latency, events)
        self.assertEqual(out.count(b'"count":'), 1)
        self.assertIn(b'"histogram":{"count":4,"min":0,"max":18446744073709551615,', out)

    def test_config_field(self):
        events = [{"subtype": "a", "latency_ms": 12}]
        self.assertIn(b'"field":"latency_ms","subtypes":{"a":{"p50":12,',
                      run(latency, events, config=b" latency_ms\n"))
        with self.assertRaises(Err) as cm:
            testing.run(latency, events, config=b"\xff")
        self.assertEqual(cm.exception.value,
                         "invalid UTF-8: invalid utf-8 sequence of 1 bytes from index 0")

    def test_merge_refuses_other_fields(self):
        a = run(latency, [], config=b"a")
        b = run(latency, [], config=b'b"\tc\n')  # trimmed: b"<tab>c
        with self.assertRaises(Err) as cm:
            merge(latency, a, b)
        self.assertEqual(cm.exception.value, 'cannot merge latencies of "a" and "b\\"\\tc"')


class ErrorRateTest(unittest.TestCase):
    def test_readme_example(self):
        events = [{"type": "WEB", "tuning": {"status": 500 if i < 3 else 200}} for i in range(400)]
        self.assertEqual(run(error_rate, events, dc="ams4"),
                         b'{"web":400,"errors":3,"rate":0.0075,"dcs":{"ams4":{"web":400,"errors":3,"rate":0.0075}}}')
        self.assertEqual(run(error_rate, [{"type": "AV"}], dc="x"),
                         b'{"web":0,"errors":0,"rate":null,"dcs":{"x":{"web":0,"errors":0,"rate":null}}}')

    def test_only_integer_statuses_of_web_events(self):
        events = [{"type": "WEB", "tuning": {"status": s}} for s in (500, 599, 499, 500.0, "500")]
        events += [{"type": "AV", "tuning": {"status": 500}}, {"type": "web", "tuning": {"status": 500}}]
        self.assertEqual(run(error_rate, events, dc="d"),
                         b'{"web":5,"errors":2,"rate":0.4,"dcs":{"d":{"web":5,"errors":2,"rate":0.4}}}')

    def test_merge(self):
        a = run(error_rate, [{"type": "WEB", "tuning": {"status": 500}}], dc="b")
        b = run(error_rate, [{"type": "WEB"}, {"type": "WEB"}], dc="a")
        self.assertEqual(merge(error_rate, a, b),
                         b'{"web":3,"errors":1,"rate":0.3333333333333333,"dcs":{"a":{"web":2,"errors":0,'
                         b'"rate":0.0},"b":{"web":1,"errors":1,"rate":1.0}}}')


class MergeLawsTest(unittest.TestCase):
    def test_splits(self):
        rng = random.Random(11)
        for trial in range(12):
            events = (workload if trial % 2 else awkward)(rng, rng.choice([0, 3, 40, 400]))
            for job in (count, latency, error_rate):
                whole = run(job, events, dc="all")
                parts = [[], [], []]
                for ev in events:
                    parts[rng.randrange(3)].append(ev)
                results = [run(job, p, dc="all") for p in parts]
                left = merge(job, merge(job, results[0], results[1]), results[2])
                right = merge(job, results[0], merge(job, results[1], results[2]))
                self.assertEqual(left, right)
                self.assertEqual(merge(job, results[2], merge(job, results[0], results[1])), left)
                self.assertEqual(merge(job, left, b""), left)
                self.assertEqual(merge(job, b"", left), left)
                if job is not error_rate:  # its dcs follow the commits'
                    self.assertEqual(left, whole)


if __name__ == "__main__":
    unittest.main()
