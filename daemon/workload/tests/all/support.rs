//! Shared builders and decoders.

use std::fmt;

use epochd_workload::{Format, Workload, WorkloadConfig};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// An epoch in the range real deployments use (Unix seconds), so that ints and floats
/// have their realistic encoded sizes.
pub const EPOCH: u64 = 1_700_000_000;

pub fn reference() -> Workload {
    Workload::new(WorkloadConfig::default())
}

/// A decoded value that, unlike `serde_json::Value`, keeps map key order and tells
/// unsigned ints, signed ints and floats apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Ordered {
    Null,
    Bool(bool),
    UInt(u64),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Ordered>),
    Map(Vec<(String, Ordered)>),
}

impl Ordered {
    pub fn get(&self, path: &str) -> &Ordered {
        path.split('.').fold(self, |v, key| match v {
            Ordered::Map(entries) => entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no key {key} in {path}")),
            other => panic!("{path}: not a map at {key}: {other:?}"),
        })
    }

    pub fn uint(&self, path: &str) -> u64 {
        match self.get(path) {
            Ordered::UInt(v) => *v,
            other => panic!("{path}: expected an unsigned int, got {other:?}"),
        }
    }

    pub fn float(&self, path: &str) -> f64 {
        match self.get(path) {
            Ordered::Float(v) => *v,
            other => panic!("{path}: expected a float, got {other:?}"),
        }
    }

    pub fn str(&self, path: &str) -> &str {
        match self.get(path) {
            Ordered::Str(v) => v,
            other => panic!("{path}: expected a string, got {other:?}"),
        }
    }

    pub fn entries(&self, path: &str) -> &[(String, Ordered)] {
        match self.get(path) {
            Ordered::Map(v) => v,
            other => panic!("{path}: expected a map, got {other:?}"),
        }
    }

    pub fn items(&self, path: &str) -> &[Ordered] {
        match self.get(path) {
            Ordered::Array(v) => v,
            other => panic!("{path}: expected an array, got {other:?}"),
        }
    }

    pub fn keys(&self) -> Vec<&str> {
        match self {
            Ordered::Map(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("expected a map, got {other:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_unit<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
        Ok(Ordered::Bool(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
        Ok(Ordered::UInt(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
        Ok(Ordered::Int(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
        Ok(Ordered::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
        Ok(Ordered::Str(v.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Ordered::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Ordered>()? {
            entries.push((k, v));
        }
        Ok(Ordered::Map(entries))
    }
}

/// Decodes concatenated MessagePack maps.
pub fn decode_msgpack<T: for<'de> Deserialize<'de>>(mut bytes: &[u8]) -> Vec<T> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        out.push(rmp_serde::from_read(&mut bytes).expect("valid MessagePack"));
    }
    out
}

/// Decodes NDJSON, checking that every line, the last included, ends in a newline.
pub fn decode_ndjson<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Vec<T> {
    assert_eq!(bytes.last(), Some(&b'\n'), "NDJSON ends with a newline");
    bytes[..bytes.len() - 1]
        .split(|&b| b == b'\n')
        .map(|line| serde_json::from_slice(line).expect("valid JSON line"))
        .collect()
}

/// Both encodings of the same epoch.
pub fn both(workload: &Workload, epoch: u64, count: usize) -> (Vec<u8>, Vec<u8>) {
    (
        workload.encode_epoch(epoch, count, Format::MsgPack),
        workload.encode_epoch(epoch, count, Format::Ndjson),
    )
}
