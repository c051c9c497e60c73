"""epochd.json: compact JSON as serde_json writes it."""

import math
import random
import struct
import unittest

from epochd import JobError
from epochd.json import dumps, format_float, loads


class FloatTest(unittest.TestCase):
    # serde_json (ryu) spellings of f64 values.
    CASES = [
        (0.0075, "0.0075"), (1e-7, "1e-7"), (1e-5, "0.00001"), (1e-4, "0.0001"),
        (0.001, "0.001"), (1.0, "1.0"), (0.0, "0.0"), (-0.0, "-0.0"), (-1.5, "-1.5"),
        (0.5, "0.5"), (100.0, "100.0"), (12340000000.0, "12340000000.0"),
        (1e15, "1000000000000000.0"), (1e16, "1e16"), (1.5e16, "1.5e16"),
        (1234567890123456.0, "1234567890123456.0"),
        (1.2345678901234568e16, "1.2345678901234568e16"),
        (1.5e300, "1.5e300"), (-2.5e-300, "-2.5e-300"), (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e308"), (2.2250738585072014e-308, "2.2250738585072014e-308"),
        (0.1, "0.1"), (1 / 3, "0.3333333333333333"), (2 / 3, "0.6666666666666666"),
        (123.456, "123.456"), (0.000123, "0.000123"), (0.0000123, "0.0000123"),
        (1.23e-6, "1.23e-6"),
        (3 / 400, "0.0075"), (1 / 7, "0.14285714285714285"),
        (float("nan"), "null"), (float("inf"), "null"), (float("-inf"), "null"),
    ]

    def test_serde_spellings(self):
        for v, want in self.CASES:
            self.assertEqual(format_float(v), want, repr(v))

    def test_layout_boundaries(self):
        # The exponent of the shortest form decides the layout: 10^-5 and
        # above in decimal, below in scientific; up to 16 integer digits.
        self.assertEqual(format_float(9.999e-6), "9.999e-6")
        self.assertEqual(format_float(1.0001e-5), "0.000010001")
        self.assertEqual(format_float(9999999999999998.0), "9999999999999998.0")
        self.assertEqual(format_float(1e17), "1e17")
        self.assertEqual(format_float(1.25e17), "1.25e17")

    def test_round_trip(self):
        rng = random.Random(7)
        for _ in range(20000):
            bits = rng.getrandbits(64)
            v = struct.unpack("<d", struct.pack("<Q", bits))[0]
            s = format_float(v)
            if math.isnan(v) or math.isinf(v):
                self.assertEqual(s, "null")
                continue
            self.assertEqual(float(s), v, s)
            self.assertEqual(struct.pack("<d", float(s)), struct.pack("<d", v), s)
            # as short as Python's repr (both are shortest round-trip)
            digits = lambda t: len(t.lstrip("-").split("e")[0].replace(".", "").strip("0"))
            self.assertEqual(digits(s), digits(repr(v)), (s, repr(v)))
        for v in (0.0075, 1e-7, 1e22, 1e21, 1e-300, 123456.789):
            self.assertEqual(float(format_float(v)), v)


class DumpsTest(unittest.TestCase):
    def test_compact(self):
        self.assertEqual(dumps({"a": [1, 2.5, None, True, False], "b": {}, "c": []}),
                         '{"a":[1,2.5,null,true,false],"b":{},"c":[]}')
        self.assertEqual(dumps({"events": 0, "counts": []}), '{"events":0,"counts":[]}')
        self.assertEqual(dumps([]), "[]")
        self.assertEqual(dumps(18446744073709551615), "18446744073709551615")
        self.assertEqual(dumps(-9223372036854775808), "-9223372036854775808")
        self.assertEqual(dumps((1, "x")), '[1,"x"]')

    def test_key_order_kept(self):
        self.assertEqual(dumps({"z": 1, "a": 2}), '{"z":1,"a":2}')

    def test_escapes_as_serde(self):
        self.assertEqual(dumps('"\\'), r'"\"\\"')
        self.assertEqual(dumps("\b\f\n\r\t"), r'"\b\f\n\r\t"')
        self.assertEqual(dumps("\x00\x01\x1f"), r'"\u0000\u0001\u001f"')
        self.assertEqual(dumps("\x7f"), '"\x7f"')  # DEL as is
        self.assertEqual(dumps("é€😀\u2028\ufffd"), '"é€😀\u2028\ufffd"')  # non-ASCII as is
        self.assertEqual(dumps("/<>&'"), '"/<>&\'"')
        self.assertEqual(dumps({"k\n": "v"}), '{"k\\n":"v"}')
        short = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}
        for c in range(0x20):
            # lowercase hex, as serde_json
            self.assertEqual(dumps(chr(c)), '"%s"' % short.get(c, "\\u%04x" % c))

    def test_int_keys_as_strings(self):
        self.assertEqual(dumps({1: 2}), '{"1":2}')
        with self.assertRaises(TypeError):
            dumps({(1, 2): 3})
        with self.assertRaises(TypeError):
            dumps({None: 3})

    def test_objects(self):
        class H:
            def __json__(self):
                return {"x": 0.5}
        self.assertEqual(dumps([H()]), '[{"x":0.5}]')
        with self.assertRaises(TypeError):
            dumps(object())
        with self.assertRaises(TypeError):
            dumps({1, 2})

    def test_bools_are_not_ints(self):
        self.assertEqual(dumps([True, 1, False, 0]), "[true,1,false,0]")


class LoadsTest(unittest.TestCase):
    def test_parses(self):
        self.assertEqual(loads(b'{"a":[1,2.5,null,true],"b":"\\u00e9"}'),
                         {"a": [1, 2.5, None, True], "b": "é"})
        self.assertEqual(loads(' {"x":18446744073709551615} '), {"x": 18446744073709551615})

    def test_refuses(self):
        for bad in (b"", b"{", b'{"a":1,"a":2}', b"NaN", b"[Infinity]", b'{"a":1} x',
                    b'"\xff"', b"[1,]"):
            with self.assertRaises(JobError) as cm:
                loads(bad)
            self.assertTrue(str(cm.exception).startswith("JSON: "), str(cm.exception))


if __name__ == "__main__":
    unittest.main()
