//! A hand-written MessagePack scanner.
//!
//! Ingest must validate every event and find its `timestamp`, `type`,
//! `subtype` and `dc` without building a value tree (a tree costs about twice
//! the time: the decode benchmark's value-tree baseline, docs/BENCHMARKS.md).
//! The scanner walks the bytes once, checks they are
//! well-formed (lengths in bounds, UTF-8 strings, string map keys, bounded
//! depth, no extension types) and returns where the event ends, so the raw
//! bytes can be stored as they came.

use crate::error::EventError;

/// Deepest nesting accepted inside one event. Protects the scanner's stack
/// and every decoder downstream.
pub const MAX_DEPTH: usize = 64;

/// The routing fields of one event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventHeader<'a> {
    /// `timestamp` in unix seconds.
    pub timestamp: f64,
    /// `type`.
    pub event_type: &'a str,
    /// `subtype`, if present.
    pub subtype: Option<&'a str>,
    /// `dc`, if present.
    pub dc: Option<&'a str>,
}

/// Scans the event (a map) at the start of `buf` and returns its routing
/// fields and its encoded length.
pub fn scan_event(buf: &[u8]) -> Result<(EventHeader<'_>, usize), EventError> {
    let mut r = Reader { buf, pos: 0 };
    let marker = r.peek()?;
    let len = match marker {
        0x80..=0x8f => {
            r.pos += 1;
            usize::from(marker & 0x0f)
        }
        0xde => {
            r.pos += 1;
            usize::from(r.be_u16()?)
        }
        0xdf => {
            r.pos += 1;
            r.be_u32()? as usize
        }
        other => return Err(EventError::NotAMap(kind_name(other))),
    };
    let mut fields = RoutingFields::default();
    for _ in 0..len {
        let key = r.str_key()?;
        match key {
            "timestamp" => set_once(&mut fields.timestamp, "timestamp", r.number()?)?,
            "type" => set_once(&mut fields.event_type, "type", r.string("type")?)?,
            "subtype" => set_once(&mut fields.subtype, "subtype", r.string("subtype")?)?,
            "dc" => set_once(&mut fields.dc, "dc", r.string("dc")?)?,
            _ => r.skip(1)?,
        }
    }
    Ok((fields.finish()?, r.pos))
}

/// The routing fields of an event as found, before their checks. Filled by
/// the MessagePack scanner and by the JSON transcoder alike, so both apply
/// the same rules.
#[derive(Debug, Default)]
pub(crate) struct RoutingFields<'a> {
    pub timestamp: Option<Number>,
    pub event_type: Option<&'a str>,
    pub subtype: Option<&'a str>,
    pub dc: Option<&'a str>,
}

impl<'a> RoutingFields<'a> {
    /// Checks the fields: a usable timestamp and a type.
    pub fn finish(self) -> Result<EventHeader<'a>, EventError> {
        let timestamp = match self.timestamp.ok_or(EventError::MissingTimestamp)? {
            Number::Float(f) if f.is_finite() && f >= 0.0 => f,
            Number::Uint(u) => u as f64,
            Number::Float(f) => return Err(EventError::BadTimestamp(f.to_string())),
            Number::Int(i) => return Err(EventError::BadTimestamp(i.to_string())),
            Number::Other(kind) => return Err(EventError::BadTimestamp(format!("a {kind}"))),
        };
        Ok(EventHeader {
            timestamp,
            event_type: self.event_type.ok_or(EventError::MissingType)?,
            subtype: self.subtype,
            dc: self.dc,
        })
    }
}

/// Returns the length of the well-formed MessagePack value at the start of
/// `buf` (any type, same rules as events).
pub fn value_len(buf: &[u8]) -> Result<usize, EventError> {
    let mut r = Reader { buf, pos: 0 };
    r.skip(0)?;
    Ok(r.pos)
}

/// Fills a routing field, refusing a second value.
pub(crate) fn set_once<T>(
    slot: &mut Option<T>,
    field: &'static str,
    value: T,
) -> Result<(), EventError> {
    if slot.replace(value).is_some() {
        return Err(EventError::DuplicateField(field));
    }
    Ok(())
}

/// A number as encoded (or something else, by kind).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Number {
    Uint(u64),
    Int(i64),
    Float(f64),
    Other(&'static str),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn truncated() -> EventError {
    EventError::MsgPack("truncated: the data ends inside a value".into())
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Result<u8, EventError> {
        self.buf.get(self.pos).copied().ok_or_else(truncated)
    }

    fn byte(&mut self) -> Result<u8, EventError> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], EventError> {
        let end = self.pos.checked_add(n).ok_or_else(truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn be_u16(&mut self) -> Result<u16, EventError> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn be_u32(&mut self) -> Result<u32, EventError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn be_u64(&mut self) -> Result<u64, EventError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// Length of a string whose marker was just read, or None if not a string.
    fn str_len(&mut self, marker: u8) -> Result<Option<usize>, EventError> {
        Ok(Some(match marker {
            0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 => usize::from(self.byte()?),
            0xda => usize::from(self.be_u16()?),
            0xdb => self.be_u32()? as usize,
            _ => return Ok(None),
        }))
    }

    fn utf8(&mut self, len: usize) -> Result<&'a str, EventError> {
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map_err(|_| EventError::MsgPack("a string is not valid UTF-8".into()))
    }

    fn str_key(&mut self) -> Result<&'a str, EventError> {
        let marker = self.byte()?;
        match self.str_len(marker)? {
            Some(len) => self.utf8(len),
            None => Err(EventError::MsgPack(format!(
                "map keys must be strings, found {}",
                kind_name(marker)
            ))),
        }
    }

    fn string(&mut self, field: &'static str) -> Result<&'a str, EventError> {
        let marker = self.byte()?;
        match self.str_len(marker)? {
            Some(len) => self.utf8(len),
            None => Err(EventError::NotAString(field)),
        }
    }

    fn number(&mut self) -> Result<Number, EventError> {
        let marker = self.byte()?;
        let n = match marker {
            0x00..=0x7f => Number::Uint(u64::from(marker)),
            0xe0..=0xff => Number::Int(i64::from(marker as i8)),
            0xcc => Number::Uint(u64::from(self.byte()?)),
            0xcd => Number::Uint(u64::from(self.be_u16()?)),
            0xce => Number::Uint(u64::from(self.be_u32()?)),
            0xcf => Number::Uint(self.be_u64()?),
            0xd0 => Number::Int(i64::from(self.byte()? as i8)),
            0xd1 => Number::Int(i64::from(self.be_u16()? as i16)),
            0xd2 => Number::Int(i64::from(self.be_u32()? as i32)),
            0xd3 => Number::Int(self.be_u64()? as i64),
            0xca => Number::Float(f64::from(f32::from_bits(self.be_u32()?))),
            0xcb => Number::Float(f64::from_bits(self.be_u64()?)),
            other => {
                // Step back so the value is validated and skipped whole.
                self.pos -= 1;
                self.skip(1)?;
                return Ok(Number::Other(kind_name(other)));
            }
        };
        Ok(n.normalised())
    }

    /// Skips one value of any type, validating it. `depth` is the nesting of
    /// the value's container.
    fn skip(&mut self, depth: usize) -> Result<(), EventError> {
        if depth > MAX_DEPTH {
            return Err(EventError::TooDeep(MAX_DEPTH));
        }
        let marker = self.byte()?;
        if let Some(len) = self.str_len(marker)? {
            self.utf8(len)?;
            return Ok(());
        }
        let (maps, arrays) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => return Ok(()),
            0xcc | 0xd0 => return self.take(1).map(drop),
            0xcd | 0xd1 => return self.take(2).map(drop),
            0xce | 0xd2 | 0xca => return self.take(4).map(drop),
            0xcf | 0xd3 | 0xcb => return self.take(8).map(drop),
            0xc4 => {
                let n = usize::from(self.byte()?);
                return self.take(n).map(drop);
            }
            0xc5 => {
                let n = usize::from(self.be_u16()?);
                return self.take(n).map(drop);
            }
            0xc6 => {
                let n = self.be_u32()? as usize;
                return self.take(n).map(drop);
            }
            0x80..=0x8f => (usize::from(marker & 0x0f), 0),
            0xde => (usize::from(self.be_u16()?), 0),
            0xdf => (self.be_u32()? as usize, 0),
            0x90..=0x9f => (0, usize::from(marker & 0x0f)),
            0xdc => (0, usize::from(self.be_u16()?)),
            0xdd => (0, self.be_u32()? as usize),
            0xc1 => return Err(EventError::MsgPack("byte 0xc1 is never used".into())),
            other => {
                return Err(EventError::MsgPack(format!(
                    "{} values are not accepted in events",
                    kind_name(other)
                )))
            }
        };
        for _ in 0..maps {
            self.str_key()?;
            self.skip(depth + 1)?;
        }
        for _ in 0..arrays {
            self.skip(depth + 1)?;
        }
        Ok(())
    }
}

impl Number {
    /// Non-negative signed integers are reported as unsigned, so `1` is `1`
    /// whichever encoding the producer chose.
    pub(crate) fn normalised(self) -> Number {
        match self {
            Number::Int(i) if i >= 0 => Number::Uint(i as u64),
            other => other,
        }
    }
}

/// A person-readable name of the value kind that starts with `marker`.
pub(crate) fn kind_name(marker: u8) -> &'static str {
    match marker {
        0x00..=0x7f | 0xcc..=0xcf | 0xd0..=0xd3 | 0xe0..=0xff => "integer",
        0x80..=0x8f | 0xde | 0xdf => "map",
        0x90..=0x9f | 0xdc | 0xdd => "array",
        0xa0..=0xbf | 0xd9..=0xdb => "string",
        0xc0 => "nil",
        0xc2 | 0xc3 => "boolean",
        0xc4..=0xc6 => "binary",
        0xc7..=0xc9 | 0xd4..=0xd8 => "extension",
        0xca | 0xcb => "float",
        _ => "reserved byte 0xc1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &serde_json::Value) -> Vec<u8> {
        rmp_serde::to_vec(value).unwrap()
    }

    #[test]
    fn finds_routing_fields_and_the_end_of_the_event() {
        let event = serde_json::json!({
            "dc": "ams4", "nested": {"a": [1, 2.5, null, true, "x"]},
            "timestamp": 1700000000.25, "type": "WEB", "subtype": "app"
        });
        let mut bytes = encode(&event);
        let len = bytes.len();
        bytes.extend_from_slice(b"trailing");
        let (header, end) = scan_event(&bytes).unwrap();
        assert_eq!(end, len);
        assert_eq!(header.timestamp, 1700000000.25);
        assert_eq!(header.event_type, "WEB");
        assert_eq!(header.subtype, Some("app"));
        assert_eq!(header.dc, Some("ams4"));
    }

    #[test]
    fn integer_timestamps_are_accepted_in_any_width() {
        for ts in [serde_json::json!(5), serde_json::json!(1_700_000_000u64)] {
            let bytes = encode(&serde_json::json!({"timestamp": ts, "type": "AV"}));
            let (header, _) = scan_event(&bytes).unwrap();
            assert_eq!(header.timestamp, ts.as_f64().unwrap());
            assert_eq!(header.subtype, None);
        }
    }

    #[test]
    fn refuses_what_is_not_a_valid_event() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (encode(&serde_json::json!([1])), "found array"),
            (
                encode(&serde_json::json!({"type": "A"})),
                "missing \"timestamp\"",
            ),
            (
                encode(&serde_json::json!({"timestamp": 1})),
                "missing \"type\"",
            ),
            (
                encode(&serde_json::json!({"timestamp": -1, "type": "A"})),
                "non-negative",
            ),
            (
                encode(&serde_json::json!({"timestamp": "1", "type": "A"})),
                "a string",
            ),
            (
                encode(&serde_json::json!({"timestamp": 1, "type": 3})),
                "\"type\" must be a string",
            ),
            (vec![0x81, 0xa1, b'a'], "truncated"),
            (vec![0x81, 0x01, 0x01], "keys must be strings"),
            (vec![0x81, 0xa1, b'a', 0xd4, 0, 0], "extension values"),
            (vec![0x81, 0xa1, 0xff, 0x01], "UTF-8"),
        ];
        for (bytes, expected) in cases {
            let err = scan_event(&bytes).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        }
    }

    #[test]
    fn duplicate_routing_fields_are_refused() {
        // {"type": "A", "type": "B", "timestamp": 1}
        let bytes = [
            0x83, 0xa4, b't', b'y', b'p', b'e', 0xa1, b'A', 0xa4, b't', b'y', b'p', b'e', 0xa1,
            b'B', 0xa9, b't', b'i', b'm', b'e', b's', b't', b'a', b'm', b'p', 0x01,
        ];
        assert_eq!(
            scan_event(&bytes).unwrap_err(),
            EventError::DuplicateField("type")
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let mut bytes = vec![0x82, 0xa4, b't', b'y', b'p', b'e', 0xa1, b'A', 0xa1, b'x'];
        bytes.extend(std::iter::repeat_n(0x91, MAX_DEPTH + 2));
        bytes.push(0x01);
        assert_eq!(
            scan_event(&bytes).unwrap_err(),
            EventError::TooDeep(MAX_DEPTH)
        );
    }
}
