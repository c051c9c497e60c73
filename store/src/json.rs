//! JSON to MessagePack, streamed.
//!
//! NDJSON input is transcoded straight into MessagePack bytes, value by value,
//! through serde's visitor: no intermediate `serde_json::Value`. Integers stay
//! integers and floats stay floats, so decoding the stored event gives back
//! the same JSON value.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Appends the MessagePack encoding of the JSON text `line` to `out`.
/// On error `out` is left as it was.
pub fn transcode_line(line: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    let mut de = serde_json::Deserializer::from_slice(line);
    let result = Transcode { out }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    result.map_err(|e| {
        out.truncate(start);
        e.to_string()
    })
}

/// Writes each visited JSON value as MessagePack.
struct Transcode<'a> {
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Transcode<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

// Writes into a Vec cannot fail; rmp's error type only exists for io writers.
fn infallible<T, E: fmt::Debug>(r: Result<T, E>) -> T {
    r.expect("writing MessagePack into a Vec cannot fail")
}

/// Writes a container header for `count` items whose body already follows a
/// 5-byte placeholder at `header_at`, then closes the gap, so the encoding is
/// the smallest one (as any MessagePack encoder would write it).
fn patch_header(out: &mut Vec<u8>, header_at: usize, count: usize, is_map: bool) {
    let mut header = [0u8; 5];
    let header_len = match (count, is_map) {
        (0..=15, true) => {
            header[0] = 0x80 | count as u8;
            1
        }
        (0..=15, false) => {
            header[0] = 0x90 | count as u8;
            1
        }
        (16..=0xffff, _) => {
            header[0] = if is_map { 0xde } else { 0xdc };
            header[1..3].copy_from_slice(&(count as u16).to_be_bytes());
            3
        }
        _ => {
            header[0] = if is_map { 0xdf } else { 0xdd };
            header[1..5].copy_from_slice(&(count as u32).to_be_bytes());
            5
        }
    };
    out[header_at..header_at + header_len].copy_from_slice(&header[..header_len]);
    if header_len < 5 {
        out.copy_within(header_at + 5.., header_at + header_len);
        out.truncate(out.len() - (5 - header_len));
    }
}

impl<'de> Visitor<'de> for Transcode<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        infallible(rmp::encode::write_bool(self.out, v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        infallible(rmp::encode::write_sint(self.out, v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        infallible(rmp::encode::write_uint(self.out, v));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        infallible(rmp::encode::write_f64(self.out, v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        infallible(rmp::encode::write_str(self.out, v));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        infallible(rmp::encode::write_nil(self.out));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let header_at = self.out.len();
        self.out.extend_from_slice(&[0; 5]);
        let mut count = 0usize;
        while seq
            .next_element_seed(Transcode {
                out: &mut *self.out,
            })?
            .is_some()
        {
            count += 1;
        }
        patch_header(self.out, header_at, count, false);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let header_at = self.out.len();
        self.out.extend_from_slice(&[0; 5]);
        let mut count = 0usize;
        while map
            .next_key_seed(Transcode {
                out: &mut *self.out,
            })?
            .is_some()
        {
            map.next_value_seed(Transcode {
                out: &mut *self.out,
            })?;
            count += 1;
        }
        patch_header(self.out, header_at, count, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(json: &str) -> serde_json::Value {
        let mut out = Vec::new();
        transcode_line(json.as_bytes(), &mut out).unwrap();
        rmp_serde::from_slice(&out).unwrap()
    }

    #[test]
    fn values_survive_the_trip_with_their_types() {
        let json = r#"{"a":1,"b":-7,"c":1.0,"d":"x\u00e9\n","e":[true,false,null],"f":{},"g":[],
            "h":18446744073709551615,"i":{"j":{"k":[{"l":2.5e-3}]}}}"#;
        let expected: serde_json::Value = serde_json::from_str(json).unwrap();
        let got = round_trip(json);
        assert_eq!(got, expected);
        assert!(got["c"].is_f64(), "1.0 must stay a float");
        assert!(got["a"].is_u64(), "1 must stay an integer");
    }

    #[test]
    fn large_containers_use_wider_headers() {
        let many: Vec<String> = (0..70_000).map(|i| format!("\"k{i}\":{i}")).collect();
        let json = format!("{{{}}}", many.join(","));
        let got = round_trip(&json);
        assert_eq!(got.as_object().unwrap().len(), 70_000);
        let arr = format!(
            "[{}]",
            (0..20).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        );
        assert_eq!(round_trip(&arr).as_array().unwrap().len(), 20);
    }

    #[test]
    fn errors_leave_the_output_untouched() {
        let mut out = vec![1, 2, 3];
        for bad in [r#"{"a":"#, r#"{"a":1} x"#, "", "{'a':1}"] {
            assert!(transcode_line(bad.as_bytes(), &mut out).is_err(), "{bad}");
            assert_eq!(out, [1, 2, 3]);
        }
    }
}
