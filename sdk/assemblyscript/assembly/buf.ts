// Bytes: a growable byte buffer in linear memory, UTF-8 helpers.

/** A growable byte buffer (heap memory; `ptr` moves when it grows). */
export class Buf {
  ptr: usize = 0;
  len: i32 = 0;
  cap: i32 = 0;

  /** A buffer holding the UTF-8 of `s`. */
  static of(s: string): Buf {
    const b = new Buf();
    b.str(s);
    return b;
  }

  /** A copy of `n` bytes at `p`. */
  static copy(p: usize, n: i32): Buf {
    const b = new Buf();
    b.push(p, n);
    return b;
  }

  /** Room for `extra` more bytes. */
  reserve(extra: i32): void {
    if (this.cap - this.len >= extra) return;
    let cap = this.cap ? this.cap * 2 : 64;
    while (cap - this.len < extra) cap *= 2;
    const p = heap.alloc(<usize>cap);
    if (this.len) memory.copy(p, this.ptr, <usize>this.len);
    if (this.ptr) heap.free(this.ptr);
    this.ptr = p;
    this.cap = cap;
  }

  push(p: usize, n: i32): void {
    if (n <= 0) return;
    this.reserve(n);
    memory.copy(this.ptr + <usize>this.len, p, <usize>n);
    this.len += n;
  }

  pushBuf(b: Buf): void {
    this.push(b.ptr, b.len);
  }

  /** Puts `s` in front of the bytes (e.g. a prefix on an error message). */
  prepend(s: string): void {
    const joined = Buf.of(s);
    joined.pushBuf(this);
    this.clear();
    this.pushBuf(joined);
  }

  @inline byte(c: u32): void {
    if (this.len == this.cap) this.reserve(1);
    store<u8>(this.ptr + <usize>this.len, <u8>c);
    this.len++;
  }

  /** Appends `s` as UTF-8 (a lone surrogate becomes U+FFFD). */
  str(s: string): void {
    const n = s.length;
    this.reserve(n);
    for (let i = 0; i < n; i++) {
      let c = <u32>s.charCodeAt(i);
      if (c < 0x80) {
        this.byte(c);
        continue;
      }
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
        const d = <u32>s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
      this.codePoint(c);
    }
  }

  /** Appends one Unicode scalar value as UTF-8. */
  codePoint(c: u32): void {
    if (c < 0x80) this.byte(c);
    else if (c < 0x800) {
      this.byte(0xc0 | (c >> 6));
      this.byte(0x80 | (c & 63));
    } else if (c < 0x10000) {
      this.byte(0xe0 | (c >> 12));
      this.byte(0x80 | ((c >> 6) & 63));
      this.byte(0x80 | (c & 63));
    } else {
      this.byte(0xf0 | (c >> 18));
      this.byte(0x80 | ((c >> 12) & 63));
      this.byte(0x80 | ((c >> 6) & 63));
      this.byte(0x80 | (c & 63));
    }
  }

  /** Appends `v` in decimal. */
  u64(v: u64): void {
    const t = memory.data(20);
    let i = 20;
    do {
      i--;
      store<u8>(t + <usize>i, <u8>(48 + <u32>(v % 10)));
      v /= 10;
    } while (v);
    this.push(t + <usize>i, 20 - i);
  }

  /** Appends `v` in decimal. */
  i64(v: i64): void {
    if (v < 0) {
      this.byte(45);
      this.u64(<u64>0 - <u64>v);
    } else this.u64(<u64>v);
  }

  @inline at(i: i32): u8 {
    return load<u8>(this.ptr + <usize>i);
  }

  clear(): void {
    this.len = 0;
  }

  equals(b: Buf): bool {
    return bytesCompare(this.ptr, this.len, b.ptr, b.len) == 0;
  }

  /** Byte-wise order, shorter first on a common prefix. */
  compare(b: Buf): i32 {
    return bytesCompare(this.ptr, this.len, b.ptr, b.len);
  }

  /** Equal to the UTF-8 of an ASCII string. */
  is(s: string): bool {
    return bytesEqualAscii(this.ptr, this.len, s);
  }

  /** The bytes decoded as UTF-8 (invalid sequences replaced). */
  toString(): string {
    const t = new Buf();
    utf8Lossy(t, this.ptr, this.len);
    return String.UTF8.decodeUnsafe(t.ptr, <usize>t.len);
  }
}

/** Byte-wise order of two byte strings. */
export function bytesCompare(a: usize, la: i32, b: usize, lb: i32): i32 {
  const n = la < lb ? la : lb;
  if (n > 0) {
    const c = memory.compare(a, b, <usize>n);
    if (c) return c < 0 ? -1 : 1;
  }
  return la < lb ? -1 : la > lb ? 1 : 0;
}

/** The bytes equal an ASCII string. */
export function bytesEqualAscii(p: usize, n: i32, s: string): bool {
  if (n != s.length) return false;
  for (let i = 0; i < n; i++) if (<u32>load<u8>(p + <usize>i) != <u32>s.charCodeAt(i)) return false;
  return true;
}

// Set by utf8Seq: the invalid sequence ran into the end of the input.
let utf8Incomplete = false;

/** The length of the valid UTF-8 sequence at p (1..4), or -(length of the
 * maximal invalid subpart, >= 1); n > 0 bytes are readable. */
export function utf8Seq(p: usize, n: i32): i32 {
  const c = <u32>load<u8>(p);
  utf8Incomplete = false;
  if (c < 0x80) return 1;
  let need: i32;
  let lo: u32 = 0x80, hi: u32 = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else return -1;
  for (let i = 1; i <= need; i++) {
    if (i >= n) {
      utf8Incomplete = true;
      return -i;
    }
    const d = <u32>load<u8>(p + <usize>i);
    if (i == 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return -i;
  }
  return need + 1;
}

/** Appends the bytes as UTF-8, each invalid sequence replaced by U+FFFD (as
 * Rust's String::from_utf8_lossy). */
export function utf8Lossy(out: Buf, p: usize, n: i32): void {
  out.reserve(n);
  let i = 0;
  while (i < n) {
    const k = utf8Seq(p + <usize>i, n - i);
    if (k > 0) {
      out.push(p + <usize>i, k);
      i += k;
    } else {
      out.byte(0xef);
      out.byte(0xbf);
      out.byte(0xbd);
      i -= k;
    }
  }
}

/** The bytes are valid UTF-8. */
export function utf8Valid(p: usize, n: i32): bool {
  let i = 0;
  while (i < n) {
    const c = load<u8>(p + <usize>i);
    if (c < 0x80) {
      i++;
      continue;
    }
    const k = utf8Seq(p + <usize>i, n - i);
    if (k < 0) return false;
    i += k;
  }
  return true;
}

/** Where the first invalid sequence starts (`utf8ErrorAt`) and its length
 * (`utf8ErrorLen`, 0 when the input ends inside it), as Rust's Utf8Error;
 * true when the bytes are valid. */
export let utf8ErrorAt: i32 = 0;
export let utf8ErrorLen: i32 = 0;
export function utf8Check(p: usize, n: i32): bool {
  let i = 0;
  while (i < n) {
    const k = utf8Seq(p + <usize>i, n - i);
    if (k < 0) {
      utf8ErrorAt = i;
      utf8ErrorLen = utf8Incomplete ? 0 : -k;
      return false;
    }
    i += k;
  }
  return true;
}
