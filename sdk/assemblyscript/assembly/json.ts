// JSON: a compact writer with serde_json's exact bytes (escapes, integers,
// floats in ryu's shortest round-trip form), and a small reader for merge
// inputs.
import { Buf, utf8Lossy, utf8Seq, utf8Valid, bytesEqualAscii } from "./buf";

// ---------------------------------------------------------------- writer

const HEX = "0123456789abcdef";

/** Appends a JSON string literal of valid UTF-8 bytes, escaped as serde_json
 * does (`\"` `\\` `\b\f\n\r\t`, other controls `\u00xx`). */
export function jsonQuote(b: Buf, p: usize, n: i32): void {
  b.reserve(n + 2);
  b.byte(34);
  let run = 0;
  for (let i = 0; i < n; i++) {
    const c = <u32>load<u8>(p + <usize>i);
    if (c >= 0x20 && c != 34 && c != 92) continue;
    b.push(p + <usize>run, i - run);
    run = i + 1;
    b.byte(92);
    if (c == 34) b.byte(34);
    else if (c == 92) b.byte(92);
    else if (c == 8) b.byte(98);
    else if (c == 12) b.byte(102);
    else if (c == 10) b.byte(110);
    else if (c == 13) b.byte(114);
    else if (c == 9) b.byte(116);
    else {
      b.byte(117);
      b.byte(48);
      b.byte(48);
      b.byte(<u32>HEX.charCodeAt(c >> 4));
      b.byte(<u32>HEX.charCodeAt(c & 15));
    }
  }
  b.push(p + <usize>run, n - run);
  b.byte(34);
}

function quoteLossy(b: Buf, p: usize, n: i32): void {
  if (utf8Valid(p, n)) jsonQuote(b, p, n);
  else {
    const t = new Buf();
    utf8Lossy(t, p, n);
    jsonQuote(b, t.ptr, t.len);
  }
}

/** Writes compact JSON into a Buf, value by value, as serde_json would:
 * `object()`, `key("k")`, a value, ..., `endObject()`. */
export class JsonWriter {
  out: Buf;
  private first: u64 = 1; // bit d: nothing written yet at depth d
  private depth: i32 = 0;
  private afterKey: bool = false;

  constructor(out: Buf) {
    this.out = out;
  }

  private start(): void {
    if (this.afterKey) {
      this.afterKey = false;
      return;
    }
    if (this.depth > 0) {
      const bit = (<u64>1) << (<u64>(this.depth & 63));
      if (this.first & bit) this.first &= ~bit;
      else this.out.byte(44);
    }
  }
  private open(c: u32): void {
    this.start();
    this.out.byte(c);
    this.depth++;
    this.first |= (<u64>1) << (<u64>(this.depth & 63));
  }
  object(): void {
    this.open(123);
  }
  array(): void {
    this.open(91);
  }
  endObject(): void {
    this.depth--;
    this.out.byte(125);
  }
  endArray(): void {
    this.depth--;
    this.out.byte(93);
  }
  /** A key given as a string. */
  key(k: string): void {
    this.keyBuf(Buf.of(k));
  }
  /** A key given as bytes (invalid UTF-8 replaced by U+FFFD). */
  keyBytes(p: usize, n: i32): void {
    this.start();
    quoteLossy(this.out, p, n);
    this.out.byte(58);
    this.afterKey = true;
  }
  keyBuf(k: Buf): void {
    this.keyBytes(k.ptr, k.len);
  }
  string(s: string): void {
    this.stringBuf(Buf.of(s));
  }
  /** A string value given as bytes (invalid UTF-8 replaced by U+FFFD). */
  stringBytes(p: usize, n: i32): void {
    this.start();
    quoteLossy(this.out, p, n);
  }
  stringBuf(s: Buf): void {
    this.stringBytes(s.ptr, s.len);
  }
  u64(v: u64): void {
    this.start();
    this.out.u64(v);
  }
  i64(v: i64): void {
    this.start();
    this.out.i64(v);
  }
  /** The shortest form that reads back as `v` (ryu's, as serde_json):
   * `0.0075`, `1.0`, `1e-7`; NaN and infinities as `null`. */
  f64(v: f64): void {
    this.start();
    if (!isFinite(v)) this.out.str("null");
    else formatF64(this.out, v);
  }
  bool(v: bool): void {
    this.start();
    this.out.str(v ? "true" : "false");
  }
  nullValue(): void {
    this.start();
    this.out.str("null");
  }
  /** Already-encoded JSON, written as one value. */
  raw(p: usize, n: i32): void {
    this.start();
    this.out.push(p, n);
  }
}

// Shortest round-trip digits (Steele & White / dragon4 free format, exact
// big-integer arithmetic), laid out as ryu's pretty format (what serde_json
// prints). A port of sdk/c's epochd_format_f64.

const LIMBS = 80;

class Big {
  n: i32 = 0;
  d: StaticArray<u32> = new StaticArray<u32>(LIMBS);

  set(v: u64): void {
    this.n = 0;
    while (v) {
      this.d[this.n++] = <u32>v;
      v >>= 32;
    }
  }
  mulSmall(m: u32): void {
    let carry: u64 = 0;
    for (let i = 0; i < this.n; i++) {
      const t = <u64>this.d[i] * <u64>m + carry;
      this.d[i] = <u32>t;
      carry = t >> 32;
    }
    if (carry) this.d[this.n++] = <u32>carry;
  }
  shl(s: u32): void {
    if (!this.n) return;
    const w = <i32>(s / 32), bits = s % 32;
    if (bits) {
      let carry: u32 = 0;
      for (let i = 0; i < this.n; i++) {
        const nc = this.d[i] >> (32 - bits);
        this.d[i] = (this.d[i] << bits) | carry;
        carry = nc;
      }
      if (carry) this.d[this.n++] = carry;
    }
    if (w) {
      for (let i = this.n - 1; i >= 0; i--) this.d[i + w] = this.d[i];
      for (let i = 0; i < w; i++) this.d[i] = 0;
      this.n += w;
    }
  }
  cmp(b: Big): i32 {
    if (this.n != b.n) return this.n < b.n ? -1 : 1;
    for (let i = this.n - 1; i >= 0; i--) {
      const x = this.d[i], y = b.d[i];
      if (x != y) return x < y ? -1 : 1;
    }
    return 0;
  }
  /** this = a + b */
  add(a: Big, b: Big): void {
    const x = a.n >= b.n ? a : b, y = a.n >= b.n ? b : a;
    let carry: u64 = 0;
    const n = x.n;
    for (let i = 0; i < n; i++) {
      const t = <u64>x.d[i] + <u64>(i < y.n ? y.d[i] : 0) + carry;
      this.d[i] = <u32>t;
      carry = t >> 32;
    }
    this.n = n;
    if (carry) this.d[this.n++] = <u32>carry;
  }
  /** this -= b (this >= b) */
  sub(b: Big): void {
    let borrow: i64 = 0;
    for (let i = 0; i < this.n; i++) {
      let t = <i64>this.d[i] - <i64>(i < b.n ? b.d[i] : 0) - borrow;
      borrow = t < 0 ? 1 : 0;
      if (t < 0) t += <i64>1 << 32;
      this.d[i] = <u32>t;
    }
    while (this.n && !this.d[this.n - 1]) this.n--;
  }
}

const bR = new Big(), bS = new Big(), bMp = new Big(), bMm = new Big(), bT = new Big();
const DIGITS = memory.data(40);

/** Appends the shortest round-trip digits of a finite double, as ryu (and so
 * serde_json) lays them out. */
export function formatF64(b: Buf, v: f64): void {
  let bits = reinterpret<u64>(v);
  if (bits >> 63) b.byte(45);
  bits &= ~((<u64>1) << 63);
  if (!bits) {
    b.str("0.0");
    return;
  }
  const be = <i32>(bits >> 52);
  let f = bits & (((<u64>1) << 52) - 1);
  let e: i32;
  if (be) {
    f |= (<u64>1) << 52;
    e = be - 1075;
  } else e = -1074;
  const even = (f & 1) == 0;
  const unequal = be > 1 && f == (<u64>1) << 52;
  const R = bR, S = bS, Mp = bMp, Mm = bMm, T = bT;
  // v = R / S; the half-gaps above and below are Mp / S and Mm / S.
  if (!unequal && e >= 0) {
    R.set(f);
    R.shl(<u32>e + 1);
    S.set(2);
    Mp.set(1);
    Mp.shl(<u32>e);
    Mm.set(1);
    Mm.shl(<u32>e);
  } else if (!unequal) {
    R.set(f);
    R.shl(1);
    S.set(1);
    S.shl(<u32>(1 - e));
    Mp.set(1);
    Mm.set(1);
  } else if (e >= 0) {
    R.set(f);
    R.shl(<u32>e + 2);
    S.set(4);
    Mp.set(1);
    Mp.shl(<u32>e + 1);
    Mm.set(1);
    Mm.shl(<u32>e);
  } else {
    R.set(f);
    R.shl(2);
    S.set(1);
    S.shl(<u32>(2 - e));
    Mp.set(2);
    Mm.set(1);
  }
  // k: the smallest with v + gap < 10^k (<= when even).
  let k = 0;
  while (true) {
    T.add(R, Mp);
    const c = T.cmp(S);
    if (even ? c >= 0 : c > 0) {
      S.mulSmall(10);
      k++;
    } else break;
  }
  while (true) {
    T.add(R, Mp);
    T.mulSmall(10);
    const c = T.cmp(S);
    if (even ? c < 0 : c <= 0) {
      R.mulSmall(10);
      Mp.mulSmall(10);
      Mm.mulSmall(10);
      k--;
    } else break;
  }
  const digits = DIGITS;
  let nd = 0;
  while (true) {
    R.mulSmall(10);
    Mp.mulSmall(10);
    Mm.mulSmall(10);
    let d = 0;
    while (R.cmp(S) >= 0) {
      R.sub(S);
      d++;
    }
    const c1 = R.cmp(Mm);
    const low = even ? c1 <= 0 : c1 < 0;
    T.add(R, Mp);
    const c2 = T.cmp(S);
    const high = even ? c2 >= 0 : c2 > 0;
    if (low || high || nd >= 17) {
      if (high && low) {
        // Round to the nearer (2R vs S); an exact tie to the even digit, as
        // ryu does.
        T.add(R, R);
        const c = T.cmp(S);
        if (c > 0 || (c == 0 && (d & 1) != 0)) d++;
      } else if (high) d++;
      store<u8>(digits + <usize>nd, <u8>(48 + d));
      nd++;
      break;
    }
    store<u8>(digits + <usize>nd, <u8>(48 + d));
    nd++;
  }
  // A carry (9 + 1) ripples up.
  for (let i = nd - 1; i > 0 && load<u8>(digits + <usize>i) > 57; i--) {
    store<u8>(digits + <usize>i, 48);
    store<u8>(digits + <usize>(i - 1), load<u8>(digits + <usize>(i - 1)) + 1);
  }
  if (load<u8>(digits) > 57) {
    store<u8>(digits, 49);
    for (let i = 1; i < nd; i++) store<u8>(digits + <usize>i, 48);
    k++;
  }
  while (nd > 1 && load<u8>(digits + <usize>(nd - 1)) == 48) nd--;
  // v = 0.d1..dn * 10^k
  const kk = k;
  if (kk >= nd && kk <= 16) {
    // integer: 1234e7 -> 12340000000.0
    b.push(digits, nd);
    for (let i = nd; i < kk; i++) b.byte(48);
    b.str(".0");
  } else if (kk > 0 && kk <= 16) {
    // 1234e-2 -> 12.34
    b.push(digits, kk);
    b.byte(46);
    b.push(digits + <usize>kk, nd - kk);
  } else if (kk > -5 && kk <= 0) {
    // 1234e-6 -> 0.001234
    b.str("0.");
    for (let i = kk; i < 0; i++) b.byte(48);
    b.push(digits, nd);
  } else {
    b.byte(load<u8>(digits));
    if (nd > 1) {
      b.byte(46);
      b.push(digits + 1, nd - 1);
    }
    b.byte(101);
    let x = kk - 1;
    if (x < 0) {
      b.byte(45);
      x = -x;
    }
    b.u64(<u64>x);
  }
}

// ---------------------------------------------------------------- reader

export const enum JsonKind {
  Null = 0,
  Bool = 1,
  Num = 2,
  Str = 3,
  Arr = 4,
  Obj = 5,
}

/** A parsed JSON value: strings decoded (UTF-8), numbers kept as their text. */
export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  boolValue: bool = false;
  /** Str: the decoded bytes; Num: the token's text. */
  text: Buf = new Buf();
  /** Arr/Obj: the values, in order. */
  items: Array<JsonValue> = [];
  /** Obj: keys[i] is items[i]'s key (decoded). */
  keys: Array<Buf> = [];

  get isNull(): bool {
    return this.kind == JsonKind.Null;
  }
  /** A non-negative integer token that fits u64 (as serde reads a u64). */
  isU64(): bool {
    if (this.kind != JsonKind.Num) return false;
    const t = this.text;
    if (!t.len || t.at(0) == 45) return false;
    let x: u64 = 0;
    for (let i = 0; i < t.len; i++) {
      const c = <u64>t.at(i);
      if (c < 48 || c > 57) return false;
      if (x > (U64.MAX_VALUE - (c - 48)) / 10) return false;
      x = x * 10 + (c - 48);
    }
    return true;
  }
  /** The value of a u64 token (check with isU64 first; 0 otherwise). */
  toU64(): u64 {
    if (!this.isU64()) return 0;
    let x: u64 = 0;
    const t = this.text;
    for (let i = 0; i < t.len; i++) x = x * 10 + (<u64>t.at(i) - 48);
    return x;
  }
  /** The value of `key` in an object (the last one if repeated), or null. */
  get(key: string): JsonValue | null {
    if (this.kind != JsonKind.Obj) return null;
    let found: JsonValue | null = null;
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i].is(key)) found = this.items[i];
    return found;
  }
  /** Checks an object against struct fields as serde's deny_unknown_fields
   * does: fills `out` (one slot per name, null when absent); false with a
   * message in `err` on an unknown or repeated field or a non-object. */
  fields(what: string, names: string[], out: Array<JsonValue | null>, err: Buf): bool {
    out.length = 0;
    for (let i = 0; i < names.length; i++) out.push(null);
    if (this.kind != JsonKind.Obj) {
      err.str("invalid type: expected struct ");
      err.str(what);
      return false;
    }
    for (let k = 0; k < this.keys.length; k++) {
      let hit = -1;
      const key = this.keys[k];
      for (let i = 0; i < names.length; i++) if (key.is(names[i])) hit = i;
      if (hit < 0) {
        err.str("unknown field `");
        err.pushBuf(key);
        err.str("` in ");
        err.str(what);
        return false;
      }
      if (out[hit] != null) {
        err.str("duplicate field `");
        err.str(names[hit]);
        err.str("` in ");
        err.str(what);
        return false;
      }
      out[hit] = this.items[k];
    }
    return true;
  }
}

class Parser {
  p: usize;
  end: usize;
  start: usize;
  err: Buf;
  depth: i32 = 0;
  constructor(p: usize, n: i32, err: Buf) {
    this.p = p;
    this.start = p;
    this.end = p + <usize>n;
    this.err = err;
  }
  @inline peek(): u32 {
    return <u32>load<u8>(this.p);
  }
  fail(msg: string): bool {
    if (!this.err.len) {
      this.err.str(msg);
      this.err.str(" at byte ");
      this.err.u64(<u64>(this.p - this.start));
    }
    return false;
  }
  ws(): void {
    while (this.p < this.end) {
      const c = this.peek();
      if (c != 32 && c != 10 && c != 13 && c != 9) break;
      this.p++;
    }
  }
  hex4(): i32 {
    if (this.end - this.p < 4) {
      this.fail("EOF while parsing a string");
      return -1;
    }
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = <i32>load<u8>(this.p++);
      v <<= 4;
      if (c >= 48 && c <= 57) v |= c - 48;
      else if (c >= 97 && c <= 102) v |= c - 87;
      else if (c >= 65 && c <= 70) v |= c - 55;
      else {
        this.fail("invalid escape");
        return -1;
      }
    }
    return v;
  }
  string(out: Buf): bool {
    this.p++; // the opening quote
    while (true) {
      if (this.p >= this.end) return this.fail("EOF while parsing a string");
      const c = this.peek();
      if (c == 34) {
        this.p++;
        return true;
      }
      if (c < 0x20) return this.fail("control character (\\u0000-\\u001F) found while parsing a string");
      if (c == 92) {
        this.p++;
        if (this.p >= this.end) return this.fail("EOF while parsing a string");
        const e = <u32>load<u8>(this.p++);
        if (e == 34 || e == 92 || e == 47) out.byte(e);
        else if (e == 98) out.byte(8);
        else if (e == 102) out.byte(12);
        else if (e == 110) out.byte(10);
        else if (e == 114) out.byte(13);
        else if (e == 116) out.byte(9);
        else if (e == 117) {
          let u = this.hex4();
          if (u < 0) return false;
          if (u >= 0xdc00 && u <= 0xdfff) return this.fail("lone leading surrogate in hex escape");
          if (u >= 0xd800 && u <= 0xdbff) {
            if (this.end - this.p < 2 || load<u8>(this.p) != 92 || load<u8>(this.p + 1) != 117)
              return this.fail("unexpected end of hex escape");
            this.p += 2;
            const l = this.hex4();
            if (l < 0) return false;
            if (l < 0xdc00 || l > 0xdfff) return this.fail("lone leading surrogate in hex escape");
            u = 0x10000 + ((u - 0xd800) << 10) + (l - 0xdc00);
          }
          out.codePoint(<u32>u);
        } else return this.fail("invalid escape");
        continue;
      }
      const k = utf8Seq(this.p, <i32>(this.end - this.p));
      if (k < 0) return this.fail("invalid unicode code point");
      out.push(this.p, k);
      this.p += <usize>k;
    }
  }
  digits(): void {
    while (this.p < this.end && this.peek() >= 48 && this.peek() <= 57) this.p++;
  }
  startsWith(word: string): bool {
    const l = word.length;
    if (<i32>(this.end - this.p) < l) return false;
    return bytesEqualAscii(this.p, l, word);
  }
  value(v: JsonValue): bool {
    this.ws();
    if (this.p >= this.end) return this.fail("EOF while parsing a value");
    const c = this.peek();
    if (c == 123 || c == 91) {
      if (++this.depth > 128) return this.fail("recursion limit exceeded");
      v.kind = c == 123 ? JsonKind.Obj : JsonKind.Arr;
      const close: u32 = c == 123 ? 125 : 93;
      this.p++;
      this.ws();
      if (this.p < this.end && this.peek() == close) {
        this.p++;
        this.depth--;
        return true;
      }
      while (true) {
        if (v.kind == JsonKind.Obj) {
          this.ws();
          if (this.p >= this.end || this.peek() != 34) return this.fail("key must be a string");
          const key = new Buf();
          if (!this.string(key)) return false;
          v.keys.push(key);
          this.ws();
          if (this.p >= this.end || this.peek() != 58) return this.fail("expected `:`");
          this.p++;
        }
        const item = new JsonValue();
        v.items.push(item);
        if (!this.value(item)) return false;
        this.ws();
        if (this.p >= this.end) return this.fail("EOF while parsing a list or an object");
        if (this.peek() == 44) {
          this.p++;
          continue;
        }
        if (this.peek() == close) {
          this.p++;
          this.depth--;
          return true;
        }
        return this.fail("expected `,` or the end of a list or an object");
      }
    }
    if (c == 34) {
      v.kind = JsonKind.Str;
      return this.string(v.text);
    }
    if (this.startsWith("null")) {
      this.p += 4;
      v.kind = JsonKind.Null;
      return true;
    }
    if (this.startsWith("true")) {
      this.p += 4;
      v.kind = JsonKind.Bool;
      v.boolValue = true;
      return true;
    }
    if (this.startsWith("false")) {
      this.p += 5;
      v.kind = JsonKind.Bool;
      return true;
    }
    if (c == 45 || (c >= 48 && c <= 57)) {
      const s = this.p;
      if (c == 45) this.p++;
      if (this.p >= this.end || this.peek() < 48 || this.peek() > 57) return this.fail("invalid number");
      if (this.peek() == 48) {
        this.p++;
        if (this.p < this.end && this.peek() >= 48 && this.peek() <= 57) return this.fail("invalid number");
      } else this.digits();
      if (this.p < this.end && this.peek() == 46) {
        this.p++;
        if (this.p >= this.end || this.peek() < 48 || this.peek() > 57) return this.fail("invalid number");
        this.digits();
      }
      if (this.p < this.end && (this.peek() == 101 || this.peek() == 69)) {
        this.p++;
        if (this.p < this.end && (this.peek() == 43 || this.peek() == 45)) this.p++;
        if (this.p >= this.end || this.peek() < 48 || this.peek() > 57) return this.fail("invalid number");
        this.digits();
      }
      v.kind = JsonKind.Num;
      v.text.push(s, <i32>(this.p - s));
      return true;
    }
    return this.fail("expected value");
  }
}

/** Parses a whole JSON text (nesting up to 128 levels): the value, or null
 * with a message in `err`. */
export function parseJson(p: usize, n: i32, err: Buf): JsonValue | null {
  const ps = new Parser(p, n, err);
  const v = new JsonValue();
  if (!ps.value(v)) return null;
  ps.ws();
  if (ps.p != ps.end) {
    ps.fail("trailing characters");
    return null;
  }
  return v;
}

/** parseJson over a Buf. */
export function parseJsonBuf(b: Buf, err: Buf): JsonValue | null {
  return parseJson(b.ptr, b.len, err);
}
