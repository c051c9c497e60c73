//! JSON to MessagePack, streamed.
//!
//! NDJSON input is transcoded straight into MessagePack bytes, value by value,
//! through serde's visitor: no intermediate `serde_json::Value`. Integers stay
//! integers and floats stay floats, so decoding the stored event gives back
//! the same JSON value. An event's routing fields are picked up on the way,
//! so its bytes need no second pass.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

use crate::error::EventError;
use crate::msgpack::{set_once, EventHeader, Number, RoutingFields, MAX_DEPTH};

/// serde_json's message with its place in the event's own line: the line
/// is parsed alone, so its "line 1" would mislead (the rejection's position
/// is the line in the batch).
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((reason, _)) if e.line() > 0 => format!("{reason} at column {}", e.column()),
        _ => text,
    }
}

/// Appends the MessagePack encoding of the JSON event (an object) `line` to
/// `out` and returns its routing fields and encoded length. On error `out` is
/// left as it was.
pub fn transcode_event<'o>(
    line: &[u8],
    out: &'o mut Vec<u8>,
) -> Result<(EventHeader<'o>, usize), EventError> {
    let start = out.len();
    let mut found = Found::default();
    let too_deep = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(line);
    let result = TopLevel {
        out: &mut *out,
        found: &mut found,
        too_deep: &too_deep,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    let error = match result {
        Err(e) => Some(found.error.take().unwrap_or_else(|| {
            if too_deep.get() {
                EventError::TooDeep(MAX_DEPTH)
            } else {
                EventError::Json(json_reason(&e))
            }
        })),
        Ok(()) => found.error.take(),
    };
    // The checks first, while `out` can still be cut back...
    let checked = RoutingFields {
        timestamp: found.timestamp,
        event_type: found.event_type.as_ref().map(|_| ""),
        ..RoutingFields::default()
    }
    .finish();
    if let Some(error) = error.or(checked.err()) {
        out.truncate(start);
        return Err(error);
    }
    // ...then the header, borrowing the written strings.
    let out: &'o Vec<u8> = out;
    let shift = found.shift;
    let text = |range: Option<Range<usize>>| {
        range.map(|r| {
            std::str::from_utf8(&out[r.start - shift..r.end - shift]).expect("written from a &str")
        })
    };
    let header = RoutingFields {
        timestamp: found.timestamp,
        event_type: text(found.event_type),
        subtype: text(found.subtype),
        dc: text(found.dc),
    }
    .finish()?;
    Ok((header, out.len() - start))
}

/// Routing fields found while transcoding; strings as their place in the output.
#[derive(Default)]
struct Found {
    timestamp: Option<Number>,
    event_type: Option<Range<usize>>,
    subtype: Option<Range<usize>>,
    dc: Option<Range<usize>>,
    /// The first routing problem (reported in place of a generic error).
    error: Option<EventError>,
    /// How far the event's body moved left when its map header was written
    /// in its smallest form: the ranges above are from before that.
    shift: usize,
}

impl Found {
    fn fail(&mut self, error: EventError) {
        self.error.get_or_insert(error);
    }
}

/// The event itself: must be an object.
struct TopLevel<'a> {
    out: &'a mut Vec<u8>,
    found: &'a mut Found,
    /// Set when a value is nested deeper than [`MAX_DEPTH`].
    too_deep: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let header_at = self.out.len();
        self.out.extend_from_slice(&[0; 5]);
        let mut count = 0usize;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            infallible(rmp::encode::write_str(self.out, &key));
            let field = match &*key {
                "timestamp" => Some(Field::Timestamp),
                "type" => Some(Field::Text("type")),
                "subtype" => Some(Field::Text("subtype")),
                "dc" => Some(Field::Text("dc")),
                _ => None,
            };
            match field {
                None => map.next_value_seed(Transcode {
                    out: &mut *self.out,
                    depth: 1,
                    too_deep: self.too_deep,
                })?,
                Some(field) => map.next_value_seed(Capture {
                    out: &mut *self.out,
                    found: &mut *self.found,
                    field,
                    too_deep: self.too_deep,
                })?,
            }
            count += 1;
        }
        self.found.shift = patch_header(self.out, header_at, count, true);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.found.fail(EventError::NotAMap("array"));
        Err(A::Error::custom("not an object"))
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.found.fail(EventError::NotAMap("string"));
        Err(E::custom("not an object"))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.found.fail(EventError::NotAMap("integer"));
        Err(E::custom("not an object"))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.found.fail(EventError::NotAMap("integer"));
        Err(E::custom("not an object"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.found.fail(EventError::NotAMap("float"));
        Err(E::custom("not an object"))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.found.fail(EventError::NotAMap("boolean"));
        Err(E::custom("not an object"))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.found.fail(EventError::NotAMap("nil"));
        Err(E::custom("not an object"))
    }
}

/// Which routing field a value is.
#[derive(Clone, Copy)]
enum Field {
    Timestamp,
    Text(&'static str),
}

/// Transcodes one routing field's value (a value of the event's top
/// level) and records it.
struct Capture<'a> {
    out: &'a mut Vec<u8>,
    found: &'a mut Found,
    field: Field,
    too_deep: &'a Cell<bool>,
}

impl<'a> Capture<'a> {
    /// Writes the value itself, at depth 1.
    fn transcode(self) -> Transcode<'a> {
        Transcode {
            out: self.out,
            depth: 1,
            too_deep: self.too_deep,
        }
    }

    fn number(&mut self, n: Number) {
        match self.field {
            Field::Timestamp => {
                if let Err(e) = set_once(&mut self.found.timestamp, "timestamp", n.normalised()) {
                    self.found.fail(e);
                }
            }
            Field::Text(name) => self.found.fail(EventError::NotAString(name)),
        }
    }

    fn other(&mut self, kind: &'static str) {
        self.number(Number::Other(kind));
    }
}

impl<'de> DeserializeSeed<'de> for Capture<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Capture<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(mut self, v: bool) -> Result<(), E> {
        self.other("boolean");
        self.transcode().visit_bool(v)
    }

    fn visit_i64<E: serde::de::Error>(mut self, v: i64) -> Result<(), E> {
        self.number(Number::Int(v));
        self.transcode().visit_i64(v)
    }

    fn visit_u64<E: serde::de::Error>(mut self, v: u64) -> Result<(), E> {
        self.number(Number::Uint(v));
        self.transcode().visit_u64(v)
    }

    fn visit_f64<E: serde::de::Error>(mut self, v: f64) -> Result<(), E> {
        self.number(Number::Float(v));
        self.transcode().visit_f64(v)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        infallible(rmp::encode::write_str(self.out, v));
        let range = self.out.len() - v.len()..self.out.len();
        match self.field {
            Field::Timestamp => {
                if let Err(e) = set_once(
                    &mut self.found.timestamp,
                    "timestamp",
                    Number::Other("string"),
                ) {
                    self.found.fail(e);
                }
            }
            Field::Text(name) => {
                let slot = match name {
                    "type" => &mut self.found.event_type,
                    "subtype" => &mut self.found.subtype,
                    _ => &mut self.found.dc,
                };
                if let Err(e) = set_once(slot, name, range) {
                    self.found.fail(e);
                }
            }
        }
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(mut self) -> Result<(), E> {
        self.other("nil");
        self.transcode().visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, seq: A) -> Result<(), A::Error> {
        self.other("array");
        self.transcode().visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<(), A::Error> {
        self.other("map");
        self.transcode().visit_map(map)
    }
}

/// Writes each visited JSON value as MessagePack.
struct Transcode<'a> {
    out: &'a mut Vec<u8>,
    /// The value's nesting: 1 for the event's fields. Bounded as the
    /// MessagePack scanner bounds it, so every event stored from JSON scans
    /// again when the write-ahead log is replayed or the chunk is verified.
    depth: usize,
    too_deep: &'a Cell<bool>,
}

impl<'a> Transcode<'a> {
    /// The writer of a value inside this one.
    fn inner(&mut self) -> Transcode<'_> {
        Transcode {
            out: &mut *self.out,
            depth: self.depth + 1,
            too_deep: self.too_deep,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Transcode<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        if self.depth > MAX_DEPTH {
            self.too_deep.set(true);
            return Err(D::Error::custom(format!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
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
/// Returns how many bytes the body moved left.
fn patch_header(out: &mut Vec<u8>, header_at: usize, count: usize, is_map: bool) -> usize {
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
    5 - header_len
}

impl<'de> Visitor<'de> for Transcode<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        infallible(rmp::encode::write_bool(self.out, v));
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        infallible(rmp::encode::write_sint(self.out, v));
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        infallible(rmp::encode::write_uint(self.out, v));
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        infallible(rmp::encode::write_f64(self.out, v));
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        infallible(rmp::encode::write_str(self.out, v));
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        infallible(rmp::encode::write_nil(self.out));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let header_at = self.out.len();
        self.out.extend_from_slice(&[0; 5]);
        let mut count = 0usize;
        while seq.next_element_seed(self.inner())?.is_some() {
            count += 1;
        }
        patch_header(self.out, header_at, count, false);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let header_at = self.out.len();
        self.out.extend_from_slice(&[0; 5]);
        let mut count = 0usize;
        while map.next_key_seed(self.inner())?.is_some() {
            map.next_value_seed(self.inner())?;
            count += 1;
        }
        patch_header(self.out, header_at, count, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
