// JSON as serde_json writes and reads it (the Rust jobs' results).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  JSONError, compareUtf8, float, formatFloat, jsonBytes, parseJSON, quote, rawJSON, toJSON, utf8Decode, utf8Error,
} from "../epochd.js";

test("floats are written as serde_json (ryu) writes an f64", () => {
  const cases = [
    [0.0075, "0.0075"], [1.0, "1.0"], [1e-7, "1e-7"], [1.5e300, "1.5e300"],
    [0.0, "0.0"], [-0, "-0.0"], [1e16, "1e16"], [1234e7, "12340000000.0"],
    [0.1, "0.1"], [1 / 3, "0.3333333333333333"], [123.456, "123.456"], [1e-5, "0.00001"],
    [1e-6, "1e-6"], [0.0001, "0.0001"], [5e-324, "5e-324"],
    [1.7976931348623157e308, "1.7976931348623157e308"], [9007199254740993, "9007199254740992.0"],
    [1e15, "1000000000000000.0"], [100.0, "100.0"], [-2.5, "-2.5"], [1.25e17, "1.25e17"],
    [1e21, "1e21"], [1.5e-10, "1.5e-10"], [2 / 3, "0.6666666666666666"],
    [Infinity, "null"], [-Infinity, "null"], [NaN, "null"],
  ];
  for (const [v, want] of cases) assert.equal(formatFloat(v), want, `formatFloat(${v})`);
});

test("every float round-trips, laid out as ryu lays it out", () => {
  const buf = new DataView(new ArrayBuffer(8));
  let seed = 1n;
  for (let i = 0; i < 100000; i++) {
    seed = (seed * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    buf.setBigUint64(0, seed);
    const v = buf.getFloat64(0);
    if (!Number.isFinite(v)) continue;
    const s = formatFloat(v);
    assert.equal(Number(s), v, s);
    assert.match(s, /^-?(\d+\.\d+|\d(\.\d+)?e-?\d+)$/, s);
    // Decimal from 1e-5 up to (not including) 1e16, exponent form outside.
    const a = Math.abs(v);
    if (a !== 0) assert.equal(s.includes("e"), a < 1e-5 || a >= 1e16, s);
  }
});

test("strings are escaped as serde_json escapes them", () => {
  const cases = [
    ["", '""'], ["app", '"app"'], ['a"b\\c', '"a\\"b\\\\c"'], ["\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'],
    ["\u0000\u0007\u000b\u001f", '"\\u0000\\u0007\\u000b\\u001f"'], ["\u007f é ✓ 😀", '"\u007f é ✓ 😀"'],
    ["/", '"/"'], ["a\ud800b", '"a\ufffdb"'], ["\udc00\ud83d\ude00", '"\ufffd😀"'],
  ];
  for (const [s, want] of cases) assert.equal(quote(s), want, JSON.stringify(s));
});

test("toJSON writes compact JSON in the order given", () => {
  const v = {
    events: 4,
    counts: [{ type: null, subtype: "app", count: 2 }, [], -3],
    rate: float(0.0075),
    whole: float(1),
    big: 18446744073709551615n,
    m: new Map([["b", 1], ["a", 2], ["10", 3]]),
    skipped: undefined,
    raw: rawJSON('{"x":1.10}'),
    t: true,
    f: false,
    u: new Uint32Array([1, 2]),
    s: new Set(["x"]),
    n: 2.5,
    unsafe: 2 ** 60,
  };
  assert.equal(toJSON(v),
    '{"events":4,"counts":[{"type":null,"subtype":"app","count":2},[],-3],"rate":0.0075,"whole":1.0,' +
    '"big":18446744073709551615,"m":{"b":1,"a":2,"10":3},"raw":{"x":1.10},"t":true,"f":false,' +
    '"u":[1,2],"s":["x"],"n":2.5,"unsafe":1.152921504606847e18}');
  assert.equal(toJSON([undefined, -0, NaN]), "[null,0,null]");
  assert.deepEqual(jsonBytes({ a: "é" }), new TextEncoder().encode('{"a":"é"}'));
  assert.equal(toJSON({ toJSON: () => [1] }), "[1]");
});

test("parseJSON reads serde_json's JSON, big integers as BigInt", () => {
  const v = parseJSON(new TextEncoder().encode(
    ' {"a":[1,-2,3.5,1e2,-0.0,true,false,null],"b":{"c":"x\\n\\u00e9\\ud83d\\ude00"},' +
    '"big":18446744073709551615,"neg":-9223372036854775808,"safe":9007199254740991,"a":7} '));
  assert.deepEqual(v, {
    a: 7, b: { c: "x\né😀" }, big: 18446744073709551615n, neg: -9223372036854775808n, safe: 9007199254740991,
  });
  assert.deepEqual(parseJSON('{"__proto__":1}'), JSON.parse('{"__proto__":1}'));
  assert.equal(Object.getPrototypeOf(parseJSON('{"__proto__":{"x":1}}')), Object.prototype);
  for (const [bad, msg] of [
    ["", /EOF while parsing a value/], ["[1,]", /trailing comma/], ["{1:2}", /key must be a string/],
    ["[1 2]", /expected `,` or `]`/], ['"\\ud800"', /hex escape/], ["01", /invalid number|trailing/],
    ["1 2", /trailing characters/], ['"a\u0001"', /control character/], ["nul", /EOF|expected ident/],
    ["[", /EOF/], ['{"a" 1}', /expected `:`/], ["1e999", /out of range/],
  ]) {
    assert.throws(() => parseJSON(bad), (e) => e instanceof JSONError && msg.test(e.message), bad);
  }
  assert.throws(() => parseJSON(new Uint8Array([0x22, 0xff, 0x22])), JSONError);
  let deep = "1";
  for (let i = 0; i < 200; i++) deep = `[${deep}]`;
  assert.throws(() => parseJSON(deep), /recursion limit/);
});

test("toJSON and parseJSON round-trip", () => {
  const text = '{"field":"tuning.wallclock","subtypes":{"api":{"p50":5,"histogram":{"count":1,"min":null}}},' +
    '"x":[1.5,1e-7,18446744073709551615,"\\u0001\\"\\\\"]}';
  assert.equal(toJSON(parseJSON(text)), text);
});

test("compareUtf8 orders strings by their UTF-8 bytes", () => {
  const strings = ["b", "a", "", "ab", "\uffff", "😀", "\ue000", "é", "Z", "\u007f", "a\u0000"];
  const bytes = (s) => Array.from(new TextEncoder().encode(s));
  const byBytes = [...strings].sort((x, y) => {
    const a = bytes(x), b = bytes(y);
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  });
  assert.deepEqual([...strings].sort(compareUtf8), byBytes);
  assert.notDeepEqual([...strings].sort(), byBytes); // UTF-16 order differs
  assert.equal(compareUtf8("x", "x"), 0);
});

test("utf8Decode replaces invalid UTF-8 as Rust's from_utf8_lossy, or refuses it", () => {
  assert.equal(utf8Decode(new Uint8Array([0x61, 0xe2, 0x82, 0x41, 0xed, 0xa0, 0x80])), "a\ufffdA\ufffd\ufffd\ufffd");
  const cases = [
    [[0x6f, 0x6b], null],
    [[0x61, 0xff, 0x62], "invalid utf-8 sequence of 1 bytes from index 1"],
    [[0x61, 0x62, 0xe2, 0x82], "incomplete utf-8 byte sequence from index 2"],
    [[0xe2, 0x82, 0x41], "invalid utf-8 sequence of 2 bytes from index 0"],
    [[0xed, 0xa0, 0x80], "invalid utf-8 sequence of 1 bytes from index 0"],
    [[0xf0, 0x9f, 0x98, 0x41], "invalid utf-8 sequence of 3 bytes from index 0"],
    [[0xf4, 0x90, 0x80, 0x80], "invalid utf-8 sequence of 1 bytes from index 0"],
    [[0xc0, 0x80], "invalid utf-8 sequence of 1 bytes from index 0"],
    [[0xf0, 0x9f, 0x98, 0x80], null],
  ];
  for (const [bytes, want] of cases) {
    assert.equal(utf8Error(new Uint8Array(bytes)), want, String(bytes));
    if (want === null) assert.equal(utf8Decode(new Uint8Array(bytes), true), new TextDecoder().decode(new Uint8Array(bytes)));
    else assert.throws(() => utf8Decode(new Uint8Array(bytes), true), { message: `invalid UTF-8: ${want}` });
  }
});
