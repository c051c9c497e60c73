//! A small MessagePack encoder for the mock's `RAW` values.

use serde_json::Value;

/// Appends `v` as MessagePack, in the smallest forms (as rmp does).
pub(crate) fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                int(i, out);
            } else if let Some(u) = n.as_u64() {
                uint(u, out);
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.as_f64().unwrap_or(f64::NAN).to_be_bytes());
            }
        }
        Value::String(s) => {
            let len = s.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len <= u8::MAX as usize {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else if len <= u16::MAX as usize {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(a) => {
            header(a.len(), 0x90, 0xdc, 0xdd, out);
            for v in a {
                encode(v, out);
            }
        }
        Value::Object(m) => {
            header(m.len(), 0x80, 0xde, 0xdf, out);
            for (k, v) in m {
                encode(&Value::String(k.clone()), out);
                encode(v, out);
            }
        }
    }
}

fn header(len: usize, fix: u8, b16: u8, b32: u8, out: &mut Vec<u8>) {
    if len < 16 {
        out.push(fix | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(b16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn uint(u: u64, out: &mut Vec<u8>) {
    if u < 128 {
        out.push(u as u8);
    } else if u <= u64::from(u8::MAX) {
        out.extend_from_slice(&[0xcc, u as u8]);
    } else if u <= u64::from(u16::MAX) {
        out.push(0xcd);
        out.extend_from_slice(&(u as u16).to_be_bytes());
    } else if u <= u64::from(u32::MAX) {
        out.push(0xce);
        out.extend_from_slice(&(u as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

fn int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        uint(i as u64, out);
    } else if i >= -32 {
        out.push(i as i8 as u8);
    } else if i >= i64::from(i8::MIN) {
        out.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= i64::from(i16::MIN) {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= i64::from(i32::MIN) {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&v, &mut out);
        out
    }

    #[test]
    fn small_forms() {
        assert_eq!(enc(json!(null)), [0xc0]);
        assert_eq!(enc(json!(5)), [5]);
        assert_eq!(enc(json!(-1)), [0xff]);
        assert_eq!(enc(json!(200)), [0xcc, 200]);
        assert_eq!(enc(json!(-100)), [0xd0, 0x9c]);
        assert_eq!(enc(json!(u64::MAX))[0], 0xcf);
        assert_eq!(enc(json!("ab")), [0xa2, b'a', b'b']);
        assert_eq!(enc(json!([1, 2])), [0x92, 1, 2]);
        assert_eq!(enc(json!({"a": true})), [0x81, 0xa1, b'a', 0xc3]);
        assert_eq!(enc(json!(1.5)), [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
    }
}
