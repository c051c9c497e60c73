"""The SDK over epochd.testing's fake bindings: reads, the exports' glue."""

import sys
import types
import unittest

import epochd
from epochd import testing
from epochd.testing import Epoch, Err, Map

EVENTS = [
    {"type": "WEB", "subtype": "app", "tuning": {"wallclock": 12, "status": 200}},
    {"type": "WEB", "subtype": "api", "tuning": {"wallclock": 7.5, "status": 503}},
    {"type": "AV", "tuning": {"wallclock": -3}, "tags": ["a", 1, None],
     "experiments": Map({"e1": 1, "e2": "x"})},
    {"type": b"W\xffB", "subtype": 5, "tuning": {"status": "500"}, "tags": []},
    {"type": "WEB", "subtype": "app", "big": 1 << 63, "ok": True,
     "experiments": Map({"e3": 2.5})},
]
MODES = ("auto", "all", "none")


def module(name):
    """A fresh module to define a job in."""
    m = types.ModuleType(name)
    sys.modules[name] = m
    return m


class ReadTest(unittest.TestCase):
    def test_epoch(self):
        with Epoch(EVENTS, epoch=1234, seq=2, dc="ams4"):
            self.assertEqual((epochd.epoch(), epochd.seq(), epochd.rows(), epochd.dc()),
                             (1234, 2, 5, "ams4"))

    def test_columns(self):
        for mode in MODES:
            with Epoch(EVENTS, dictionary=mode):
                wall = epochd.column("tuning.wallclock", epochd.INT)
                self.assertEqual((len(wall), wall.dense), (2, False))
                self.assertEqual(list(wall), [12, -3])
                self.assertEqual(list(wall.rows()), [0, 2])
                self.assertEqual(wall[-1], -3)
                self.assertEqual(wall[0:1], [12])
                self.assertEqual(list(wall.items()), [(0, 12), (2, -3)])
                self.assertEqual(wall.by_row(), [12, None, -3, None, None])
                self.assertEqual(epochd.column("tuning.wallclock", epochd.FLOAT).values(), [7.5])
                self.assertIsNone(epochd.column("tuning.wallclock", epochd.STR))
                self.assertIsNone(epochd.column("nope", epochd.INT))
                t = epochd.column("type", epochd.STR)
                self.assertTrue(t.dense)
                self.assertEqual(t.values(), ["WEB", "WEB", "AV", "W\ufffdB", "WEB"])
                self.assertEqual(t.strings(), t.values())
                self.assertEqual(t.bytes(3), b"W\xffB")
                if mode != "all":  # "auto": 4 strings in 5 values do not repeat enough
                    self.assertIsNone(t.ids())
                    self.assertIsNone(t.dictionary())
                else:
                    self.assertEqual([t.dictionary()[i] for i in t.ids()], t.values())
                self.assertEqual(epochd.column("ok", epochd.BOOL).values(), [True])
                self.assertEqual(epochd.column("big", epochd.RAW).values(),
                                 [b"\xcf\x80\x00\x00\x00\x00\x00\x00\x00"])
                with self.assertRaises(IndexError):
                    wall[2]

    def test_blocks(self):
        saved = epochd.BLOCK
        epochd.BLOCK = 3
        try:
            events = [{"n": i, "s": "x%d" % (i % 4)} for i in range(10)]
            for mode in MODES:
                with Epoch(events, dictionary=mode):
                    col = epochd.column("n", epochd.INT)
                    self.assertEqual(col.values(), list(range(10)))
                    self.assertEqual(list(col), list(range(10)))
                    self.assertEqual(col[2:8], list(range(2, 8)))
                    self.assertEqual(col[::3], [0, 3, 6, 9])
                    ids = epochd.row_ids("s")
                    self.assertEqual([ids.name(i) for i in ids.ids], ["x%d" % (i % 4) for i in range(10)])
        finally:
            epochd.BLOCK = saved

    def test_row_ids(self):
        for mode in MODES:
            with Epoch(EVENTS, dictionary=mode):
                r = epochd.row_ids("subtype")
                self.assertEqual(len(r.ids), 5)
                self.assertEqual([r.name(i) for i in r.ids], ["app", "api", None, None, "app"])
                r = epochd.row_ids("type")
                self.assertEqual([r.name(i) for i in r.ids], ["WEB", "WEB", "AV", "W\ufffdB", "WEB"])
                self.assertEqual(epochd.row_ids("nothing"), epochd.RowIds([None] * 5, []))

    def test_field(self):
        with Epoch(EVENTS):
            self.assertEqual(epochd.field("tuning.status"), [200, 503, None, "500", None])
            self.assertEqual(epochd.field("subtype"), ["app", "api", None, 5, "app"])

    def test_gather_scatter(self):
        self.assertEqual(epochd.gather("abcd", [3, 0, 0]), ["d", "a", "a"])
        self.assertEqual(epochd.scatter([0] * 4, [1, 3], "xy"), [0, "x", 0, "y"])

    def test_containers(self):
        for mode in MODES:
            with Epoch(EVENTS, dictionary=mode):
                tags = epochd.container("tags", epochd.LIST)
                self.assertEqual((len(tags), tags.rows(), tags.offsets()), (2, [2, 3], [0, 3, 3]))
                self.assertEqual(list(tags), [(2, range(0, 3)), (3, range(3, 3))])
                self.assertEqual(tags.by_row(), [None, None, ["a", 1, None], [], None])
                self.assertEqual(tags.values(epochd.STR).values(), ["a"])
                self.assertEqual(list(tags.values(epochd.INT).rows()), [1])
                with self.assertRaises(epochd.HostError):
                    tags.keys()
                ex = epochd.container("experiments", epochd.MAP)
                self.assertEqual(ex.keys().values(), ["e1", "e2", "e3"])
                self.assertEqual(ex.by_row(),
                                 [None, None, {"e1": 1, "e2": "x"}, None, {"e3": 2.5}])
                self.assertIsNone(epochd.container("experiments", epochd.LIST))
                self.assertIsNone(ex.values(epochd.BOOL))

    def test_config(self):
        with Epoch(config=b"  tuning.x \n"):
            self.assertEqual(epochd.config(), b"  tuning.x \n")
            self.assertEqual(epochd.trim(epochd.config_str()), "tuning.x")
        with Epoch(config=b"ab\xffc"):
            with self.assertRaises(epochd.JobError) as cm:
                epochd.config_str()
            self.assertEqual(str(cm.exception),
                             "invalid UTF-8: invalid utf-8 sequence of 1 bytes from index 2")
        with Epoch(config=b"ab\xe2\x82"):
            with self.assertRaises(epochd.JobError) as cm:
                epochd.config_str()
            self.assertEqual(str(cm.exception),
                             "invalid UTF-8: incomplete utf-8 byte sequence from index 2")
        with Epoch(config=b' {"a": [1]} '):
            self.assertEqual(epochd.config_json(), {"a": [1]})
        with Epoch(config=b" \n"):
            self.assertIsNone(epochd.config_json())
        with Epoch(config=b"{"):
            with self.assertRaises(epochd.JobError) as cm:
                epochd.config_json()
            self.assertTrue(str(cm.exception).startswith("the job's config is not the JSON"))
        # Rust's trim keeps U+001C..U+001F, which str.strip() would drop.
        self.assertEqual(epochd.trim("\x1f a\u3000"), "\x1f a")

    def test_log(self):
        with Epoch() as ep:
            epochd.log.info("read", 3, "rows")
            epochd.log.warn("w")
            epochd.log.error("e")
            epochd.log.debug("d")
            epochd.log(epochd.log.INFO, "x")
        self.assertEqual(ep.logs, [("info", "read 3 rows"), ("warn", "w"), ("error", "e"),
                                   ("debug", "d"), ("info", "x")])

    def test_merge_epoch_is_empty(self):
        with Epoch(EVENTS, dc="x", merging=True):
            self.assertEqual((epochd.rows(), epochd.dc(), epochd.seq()), (0, "", 0))
            self.assertIsNone(epochd.column("type", epochd.STR))


class ExportTest(unittest.TestCase):
    def test_results(self):
        m = module("job_results")
        for value, want in [({"a": 0.0075, "b": [1e-7]}, b'{"a":0.0075,"b":[1e-7]}'),
                            ([1, None], b"[1,null]"), (b"\x00raw", b"\x00raw"),
                            (bytearray(b"ba"), b"ba"), ("text é", "text é".encode()),
                            (None, b""), (7, b"7")]:
            fn = lambda value=value: value  # noqa: E731
            fn.__module__ = m.__name__
            epochd.job(fn)
            self.assertEqual(testing.run(m), want)

    def test_failures(self):
        m = module("job_failures")

        def fail():
            raise epochd.JobError("no events in this epoch")
        fail.__module__ = m.__name__
        epochd.job(fail)
        with Epoch() as ep:
            with self.assertRaises(Err) as cm:
                ep.run(m)
        self.assertEqual(cm.exception.value, "no events in this epoch")

        def bug():
            return {}["missing"]
        bug.__module__ = m.__name__
        epochd.job(bug)
        with Epoch() as ep:
            with self.assertRaises(Err) as cm:
                ep.run(m)
        self.assertRegex(cm.exception.value,
                         r"^KeyError: 'missing' \(at test_sdk\.py:\d+ in bug\)$")
        self.assertEqual(ep.logs[0][0], "error")
        self.assertIn("Traceback", ep.logs[0][1])
        self.assertNotIn("_call", ep.logs[0][1])  # the SDK's frame left out
        self.assertIn("in bug", ep.logs[0][1])

        def bad_result():
            return {"x": object()}
        bad_result.__module__ = m.__name__
        epochd.job(bad_result)
        with self.assertRaises(Err) as cm:
            testing.run(m)
        self.assertEqual(cm.exception.value,
                         "the result cannot be written as JSON: TypeError: object cannot be written as JSON")

        def exits():
            sys.exit(3)
        exits.__module__ = m.__name__
        epochd.job(exits)
        with self.assertRaises(Err) as cm:
            testing.run(m)
        self.assertTrue(cm.exception.value.startswith("sys.exit(3)"))

    def test_merge_identity(self):
        m = module("job_merge")
        calls = []

        def add(a, b):
            calls.append((a, b))
            return {"n": epochd.loads(a)["n"] + epochd.loads(b)["n"]}
        add.__module__ = m.__name__
        epochd.merge(add)
        self.assertEqual(testing.merge(m, b"", b'{"n":1}'), b'{"n":1}')
        self.assertEqual(testing.merge(m, b'{"n": 1}', b""), b'{"n": 1}')
        self.assertEqual(testing.merge(m, b"", b""), b"")
        self.assertEqual(calls, [])
        self.assertEqual(testing.merge(m, b'{"n":1}', b'{"n":2}'), b'{"n":3}')
        with self.assertRaises(Err) as cm:
            testing.merge(m, b'{"n":1}', b"{")
        self.assertTrue(cm.exception.value.startswith("JSON: "), cm.exception.value)
        # no run defined
        with self.assertRaises(Err) as cm:
            testing.run(m)
        self.assertIn("no run function", cm.exception.value)

    def test_job_class(self):
        m = module("job_class")

        class WitWorld(epochd.Job):
            def run(self):
                return {"rows": epochd.rows()}

            def merge(self, a, b):
                return {"rows": epochd.loads(a)["rows"] + epochd.loads(b)["rows"]}
        m.WitWorld = WitWorld
        self.assertEqual(testing.run(m, EVENTS), b'{"rows":5}')
        self.assertEqual(testing.merge(m, b'{"rows":5}', b'{"rows":2}'), b'{"rows":7}')
        self.assertEqual(testing.merge(m, b'{"rows":5}', b""), b'{"rows":5}')

    def test_outside_a_component(self):
        with self.assertRaises(RuntimeError):
            epochd.rows()


if __name__ == "__main__":
    unittest.main()


class CountTest(unittest.TestCase):
    def test_count_pairs_is_counter_of_zip(self):
        import random
        from collections import Counter
        rng = random.Random(3)
        for trial in range(300):
            n = rng.choice([0, 1, 7, 200])
            na, nb = rng.choice([1, 2, 5, 16, 17, 40, 300]), rng.choice([1, 3, 6, 15, 16, 70])
            sa = ["a%d" % (i % max(1, na - 1)) for i in range(na)]  # some equal strings
            sb = ["b%d" % i for i in range(nb)]
            ids_a = [rng.randrange(na) for _ in range(n)]
            ids_b = [rng.choice([None] if trial % 5 == 0 and rng.random() < 0.2 else range(nb))
                     for _ in range(n)]
            a, b = epochd.RowIds(ids_a, sa), epochd.RowIds(ids_b, sb)
            want = Counter()
            for i, j in zip(ids_a, ids_b):
                want[(a.name(i), b.name(j))] += 1
            self.assertEqual(epochd.count_pairs(a, b), want)
            self.assertEqual(a.counts(), Counter(map(a.name, ids_a)))
            self.assertEqual(b.counts(), Counter(map(b.name, ids_b)))
        empty = epochd.RowIds([None, None], [])
        self.assertEqual(epochd.count_pairs(empty, empty), Counter({(None, None): 2}))
        ids, strings = epochd.RowIds([0], ["x"])
        self.assertEqual((ids, strings), ([0], ["x"]))
