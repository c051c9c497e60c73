//! A MessagePack reader for decoding: values one at a time, borrowing from
//! the chunk. The store validated every event at ingest, but a reader of
//! stored bytes still never trusts them: malformed input is an error, never a
//! panic.

use crate::error::DecodeError;

/// One MessagePack value as read (containers by their length).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a [u8]),
    Map(usize),
    Array(usize),
    /// A value kept as its MessagePack bytes: binary, extension, or an
    /// unsigned integer above `i64::MAX`.
    Other(&'a [u8]),
}

pub(crate) struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

fn truncated() -> DecodeError {
    DecodeError::Malformed("the data ends inside a value".into())
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or_else(truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    #[inline(always)]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    #[inline]
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    #[inline(always)]
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    #[inline(always)]
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    #[inline(always)]
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads the next value (for containers, only their header). Inlined:
    /// returned through memory from a call, the value cost a store-forwarding
    /// stall on every field.
    #[inline(always)]
    pub fn next(&mut self) -> Result<Value<'a>, DecodeError> {
        let start = self.pos;
        let marker = self.u8()?;
        Ok(match marker {
            0x00..=0x7f => Value::Int(i64::from(marker)),
            0xe0..=0xff => Value::Int(i64::from(marker as i8)),
            0x80..=0x8f => Value::Map(usize::from(marker & 0x0f)),
            0x90..=0x9f => Value::Array(usize::from(marker & 0x0f)),
            0xa0..=0xbf => Value::Str(self.take(usize::from(marker & 0x1f))?),
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let n = usize::from(self.u8()?);
                self.take(n)?;
                Value::Other(&self.buf[start..self.pos])
            }
            0xc5 => {
                let n = usize::from(self.u16()?);
                self.take(n)?;
                Value::Other(&self.buf[start..self.pos])
            }
            0xc6 => {
                let n = self.u32()? as usize;
                self.take(n)?;
                Value::Other(&self.buf[start..self.pos])
            }
            0xc7..=0xc9 | 0xd4..=0xd8 => {
                let n = match marker {
                    0xc7 => usize::from(self.u8()?),
                    0xc8 => usize::from(self.u16()?),
                    0xc9 => self.u32()? as usize,
                    _ => 1 << (marker - 0xd4),
                };
                self.take(n + 1)?;
                Value::Other(&self.buf[start..self.pos])
            }
            0xca => Value::Float(f64::from(f32::from_bits(self.u32()?))),
            0xcb => Value::Float(f64::from_bits(self.u64()?)),
            0xcc => Value::Int(i64::from(self.u8()?)),
            0xcd => Value::Int(i64::from(self.u16()?)),
            0xce => Value::Int(i64::from(self.u32()?)),
            0xcf => {
                let v = self.u64()?;
                match i64::try_from(v) {
                    Ok(v) => Value::Int(v),
                    Err(_) => Value::Other(&self.buf[start..self.pos]),
                }
            }
            0xd0 => Value::Int(i64::from(self.u8()? as i8)),
            0xd1 => Value::Int(i64::from(self.u16()? as i16)),
            0xd2 => Value::Int(i64::from(self.u32()? as i32)),
            0xd3 => Value::Int(self.u64()? as i64),
            0xd9 => {
                let n = usize::from(self.u8()?);
                Value::Str(self.take(n)?)
            }
            0xda => {
                let n = usize::from(self.u16()?);
                Value::Str(self.take(n)?)
            }
            0xdb => {
                let n = self.u32()? as usize;
                Value::Str(self.take(n)?)
            }
            0xdc => Value::Array(usize::from(self.u16()?)),
            0xdd => Value::Array(self.u32()? as usize),
            0xde => Value::Map(usize::from(self.u16()?)),
            0xdf => Value::Map(self.u32()? as usize),
            _ => return Err(DecodeError::Malformed("byte 0xc1 is never used".into())),
        })
    }

    /// Skips the rest of a value whose header `value` was just read.
    pub fn skip_rest(&mut self, value: Value<'a>, depth: usize) -> Result<(), DecodeError> {
        if depth > 128 {
            return Err(DecodeError::Malformed(
                "nested deeper than 128 levels".into(),
            ));
        }
        let n = match value {
            Value::Map(n) => n.checked_mul(2).ok_or_else(truncated)?,
            Value::Array(n) => n,
            _ => return Ok(()),
        };
        for _ in 0..n {
            let v = self.next()?;
            self.skip_rest(v, depth + 1)?;
        }
        Ok(())
    }

    /// Reads a whole value and returns its MessagePack bytes.
    pub fn raw_value(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let v = self.next()?;
        self.skip_rest(v, 0)?;
        Ok(&self.buf[start..self.pos])
    }

    /// Reads a map key: must be a string.
    #[inline(always)]
    pub fn key(&mut self) -> Result<&'a [u8], DecodeError> {
        // Field names are short: a fixstr, read here without the general
        // decoder.
        if let Some(&marker) = self.buf.get(self.pos) {
            if marker & 0xe0 == 0xa0 {
                let start = self.pos + 1;
                let end = start + usize::from(marker & 0x1f);
                if let Some(key) = self.buf.get(start..end) {
                    self.pos = end;
                    return Ok(key);
                }
            }
        }
        self.key_slow()
    }

    #[cold]
    fn key_slow(&mut self) -> Result<&'a [u8], DecodeError> {
        match self.next()? {
            Value::Str(s) => Ok(s),
            other => Err(DecodeError::Malformed(format!(
                "a map key is not a string: {other:?}"
            ))),
        }
    }
}
