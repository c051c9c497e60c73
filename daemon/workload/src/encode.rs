//! The two wire encodings, written straight into a caller's buffer.
//!
//! An event describes itself once, as a sequence of calls on a [`Sink`]; MessagePack and
//! JSON are two sinks. Because both encodings are driven by the same calls, they cannot
//! disagree on keys, key order or value types, and no generic value tree is built.

/// Receives one event as a stream of structural calls.
///
/// `map(n)` must be followed by exactly `n` (`key`, value) pairs and `end_map`; `array(n)`
/// by exactly `n` values and `end_array`. MessagePack needs the lengths up front.
pub(crate) trait Sink {
    fn map(&mut self, len: u32);
    fn end_map(&mut self);
    fn array(&mut self, len: u32);
    fn end_array(&mut self);
    fn key(&mut self, key: &str);
    fn str(&mut self, value: &str);
    fn uint(&mut self, value: u64);
    fn float(&mut self, value: f64);
}

/// Writing into a `Vec<u8>` can only fail by running out of memory, which aborts first.
const VEC_WRITE: &str = "writing into a Vec<u8> cannot fail";

/// Formats `value` in decimal into `buf` (20 bytes hold any u64) without going through
/// `fmt`, which is several times slower on this hot path.
pub(crate) fn decimal(value: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    let mut v = value;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("ASCII digits are UTF-8")
}

/// MessagePack: maps with str keys, the smallest int encoding, floats always float64.
pub(crate) struct MsgPack<'a>(pub(crate) &'a mut Vec<u8>);

impl Sink for MsgPack<'_> {
    fn map(&mut self, len: u32) {
        rmp::encode::write_map_len(self.0, len).expect(VEC_WRITE);
    }

    fn end_map(&mut self) {}

    fn array(&mut self, len: u32) {
        rmp::encode::write_array_len(self.0, len).expect(VEC_WRITE);
    }

    fn end_array(&mut self) {}

    fn key(&mut self, key: &str) {
        self.str(key);
    }

    fn str(&mut self, value: &str) {
        rmp::encode::write_str(self.0, value).expect(VEC_WRITE);
    }

    fn uint(&mut self, value: u64) {
        rmp::encode::write_uint(self.0, value).expect(VEC_WRITE);
    }

    fn float(&mut self, value: f64) {
        rmp::encode::write_f64(self.0, value).expect(VEC_WRITE);
    }
}

/// Compact JSON (no spaces). The caller adds the NDJSON newline.
pub(crate) struct Json<'a> {
    out: &'a mut Vec<u8>,
    /// Whether the next key or array element needs a separating comma. A single flag is
    /// enough: opening a container clears it, finishing any value sets it.
    comma: bool,
}

impl<'a> Json<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Json { out, comma: false }
    }

    fn separate(&mut self) {
        if self.comma {
            self.out.push(b',');
        }
    }

    fn quoted(&mut self, s: &str) {
        // Generated strings almost never need escaping; copy those directly and leave
        // the rare rest (a warning with quotes, a user's dc name) to serde_json.
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.out.reserve(s.len() + 2);
            self.out.push(b'"');
            self.out.extend_from_slice(s.as_bytes());
            self.out.push(b'"');
        } else {
            serde_json::to_writer(&mut *self.out, s).expect(VEC_WRITE);
        }
    }
}

impl Sink for Json<'_> {
    fn map(&mut self, _len: u32) {
        self.separate();
        self.out.push(b'{');
        self.comma = false;
    }

    fn end_map(&mut self) {
        self.out.push(b'}');
        self.comma = true;
    }

    fn array(&mut self, _len: u32) {
        self.separate();
        self.out.push(b'[');
        self.comma = false;
    }

    fn end_array(&mut self) {
        self.out.push(b']');
        self.comma = true;
    }

    fn key(&mut self, key: &str) {
        self.separate();
        self.quoted(key);
        self.out.push(b':');
        self.comma = false;
    }

    fn str(&mut self, value: &str) {
        self.separate();
        self.quoted(value);
        self.comma = true;
    }

    fn uint(&mut self, value: u64) {
        self.separate();
        self.out
            .extend_from_slice(decimal(value, &mut [0; 20]).as_bytes());
        self.comma = true;
    }

    fn float(&mut self, value: f64) {
        debug_assert!(value.is_finite(), "JSON has no NaN or infinity");
        self.separate();
        // serde_json prints the shortest representation that reads back as the same f64
        // and always includes a '.' or an exponent ("150.0", "1e-6"), so a JSON reader
        // sees a float, as MessagePack's float64 says.
        serde_json::to_writer(&mut *self.out, &value).expect(VEC_WRITE);
        self.comma = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<S: Sink>(s: &mut S) {
        s.map(4);
        s.key("a");
        s.uint(0);
        s.key("b");
        s.array(3);
        s.str("x\"y");
        s.float(150.0);
        s.uint(u64::MAX);
        s.end_array();
        s.key("c");
        s.map(0);
        s.end_map();
        s.key("d");
        s.float(0.000001);
        s.end_map();
    }

    #[test]
    fn json_is_compact_and_valid() {
        let mut out = Vec::new();
        sample(&mut Json::new(&mut out));
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"a":0,"b":["x\"y",150.0,18446744073709551615],"c":{},"d":1e-6}"#
        );
    }

    #[test]
    fn msgpack_uses_compact_ints_and_float64() {
        let mut out = Vec::new();
        sample(&mut MsgPack(&mut out));
        assert_eq!(out[0], 0x84); // fixmap of 4
        assert_eq!(&out[1..3], b"\xa1a");
        assert_eq!(out[3], 0x00); // positive fixint 0
        let float = out
            .iter()
            .position(|&b| b == 0xcb)
            .expect("a float64 marker");
        assert_eq!(&out[float + 1..float + 9], &150f64.to_be_bytes());
    }
}
