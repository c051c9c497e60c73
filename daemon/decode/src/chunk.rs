//! Decoding one chunk's events into columns.
//!
//! Field paths form a tree of nodes (one per key under its parent), so a
//! leaf finds its column by hashing one short key per level, never by
//! building a path string. Values stay borrowed from the chunk's bytes until
//! the epoch is written out.

use rustc_hash::FxHashMap;

use crate::error::DecodeError;
use crate::intern::{same_bytes, Interner};
use crate::reader::{Reader, Value};

/// A map under one path with more distinct keys than this becomes a map
/// container (key + value per entry) instead of one column per key.
pub const MAX_STRUCT_KEYS: usize = 64;

/// Value types, as in the schema's `ValueType`.
pub(crate) const INT: usize = 0;
pub(crate) const FLOAT: usize = 1;
pub(crate) const BOOL: usize = 2;
pub(crate) const STR: usize = 3;
pub(crate) const NULL: usize = 4;
pub(crate) const RAW: usize = 5;
pub(crate) const TYPES: usize = 6;

const NONE: u32 = u32::MAX;
const ROOT: u32 = 0;

/// Byte strings packed end to end: value `i` is
/// `bytes[ends[i - 1]..ends[i]]` (from 0 for the first).
#[derive(Default)]
pub(crate) struct Packed {
    pub bytes: Vec<u8>,
    pub ends: Vec<u32>,
}

impl Packed {
    #[inline]
    fn push(&mut self, s: &[u8]) {
        self.bytes.extend_from_slice(s);
        // Chunks are under 4 GiB (checked by `ChunkColumns::decode`), and
        // their strings are parts of them.
        self.ends.push(self.bytes.len() as u32);
    }

    /// The `i`-th value.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        &self.bytes[start..self.ends[i] as usize]
    }
}

/// String values: dictionary-coded while most values repeat, plain once
/// most are distinct (ids would only add a hash per value and 4 bytes).
/// Plain values are copied out of the chunk as they are read, while they
/// are in the cache: copied later, column by column, they were read back
/// from memory scattered through the chunk.
pub(crate) enum StrValues<'a> {
    Dict {
        dict: Interner<'a>,
        ids: Vec<u32>,
        /// The id of the last value: columns often repeat a value, and one
        /// comparison is cheaper than hashing it.
        last: u32,
    },
    Plain(Packed),
}

impl<'a> StrValues<'a> {
    pub fn new() -> StrValues<'a> {
        StrValues::Dict {
            dict: Interner::new(),
            ids: Vec::new(),
            last: NONE,
        }
    }

    pub fn push(&mut self, s: &'a [u8]) {
        match self {
            StrValues::Dict { dict, ids, last } => {
                let id = match dict.strings().get(*last as usize) {
                    Some(prev) if same_bytes(prev, s) => *last,
                    _ => dict.intern(s),
                };
                *last = id;
                ids.push(id);
                // Checked now and then: mostly distinct values go plain.
                if ids.len() % 256 == 0
                    && dict.strings().len() > MAX_STRUCT_KEYS
                    && dict.strings().len() * 2 > ids.len()
                {
                    let mut packed = Packed::default();
                    for id in ids.iter() {
                        packed.push(dict.strings()[*id as usize]);
                    }
                    *self = StrValues::Plain(packed);
                }
            }
            StrValues::Plain(packed) => packed.push(s),
        }
    }

    /// The `i`-th value.
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        match self {
            StrValues::Dict { dict, ids, .. } => dict.strings()[ids[i] as usize],
            StrValues::Plain(packed) => packed.get(i),
        }
    }
}

/// The values of one column, by type.
pub(crate) enum Values<'a> {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Bool(Vec<u8>),
    Str(StrValues<'a>),
    Null,
    Raw(Vec<&'a [u8]>),
}

impl<'a> Values<'a> {
    fn new(kind: usize) -> Values<'a> {
        match kind {
            INT => Values::Int(Vec::new()),
            FLOAT => Values::Float(Vec::new()),
            BOOL => Values::Bool(Vec::new()),
            STR => Values::Str(StrValues::new()),
            NULL => Values::Null,
            _ => Values::Raw(Vec::new()),
        }
    }
}

/// One (path, type) over a row space: which rows, and their values.
pub(crate) struct ColumnBuf<'a> {
    /// The rows holding a value, ascending; left empty while they are
    /// `0..len` (most columns of a chunk are dense: a chunk holds one kind
    /// of event), so dense columns cost no row ids at all.
    rows: Vec<u32>,
    /// Values held.
    pub len: u32,
    pub values: Values<'a>,
}

impl<'a> ColumnBuf<'a> {
    pub fn new(kind: usize) -> ColumnBuf<'a> {
        ColumnBuf::of(Values::new(kind), 0)
    }

    /// A column of `len` values held by rows `0..len`.
    pub fn of(values: Values<'a>, len: u32) -> ColumnBuf<'a> {
        ColumnBuf {
            rows: Vec::new(),
            len,
            values,
        }
    }

    /// The rows holding a value: `None` when they are `0..len`.
    pub fn rows(&self) -> Option<&[u32]> {
        (!self.rows.is_empty()).then_some(&self.rows[..])
    }

    /// Adds a scalar (or raw) value at `row`, unless the row has one
    /// already: an event can give a path two values (a key repeated in one
    /// map, or two keys spelling one path), and the first one stands, so
    /// that a column never holds two values for a row. Always inlined:
    /// passed to a call, the scalar went through memory and cost a
    /// store-forwarding stall per value.
    #[inline(always)]
    fn push(&mut self, row: u32, value: Scalar<'a>) {
        if !self.rows.is_empty() {
            if self.rows.last() == Some(&row) {
                return;
            }
            self.rows.push(row);
        } else if row != self.len {
            if row < self.len {
                // Rows 0..len hold values, this one included.
                return;
            }
            // The first gap: the rows so far were 0..len.
            self.rows.reserve(self.len as usize + 1);
            self.rows.extend(0..self.len);
            self.rows.push(row);
        }
        self.len += 1;
        match (&mut self.values, value) {
            (Values::Int(v), Scalar::Int(x)) => v.push(x),
            (Values::Float(v), Scalar::Float(x)) => v.push(x),
            (Values::Bool(v), Scalar::Bool(x)) => v.push(u8::from(x)),
            (Values::Str(v), Scalar::Str(x)) => v.push(x),
            (Values::Null, Scalar::Null) => {}
            (Values::Raw(v), Scalar::Raw(x)) => v.push(x),
            _ => unreachable!("a column only receives values of its type"),
        }
    }
}

/// A scalar, or a value kept raw.
#[derive(Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'a [u8]),
    Null,
    Raw(&'a [u8]),
}

impl Scalar<'_> {
    fn kind(&self) -> usize {
        match self {
            Scalar::Int(_) => INT,
            Scalar::Float(_) => FLOAT,
            Scalar::Bool(_) => BOOL,
            Scalar::Str(_) => STR,
            Scalar::Null => NULL,
            Scalar::Raw(_) => RAW,
        }
    }
}

/// Whether a container holds maps (keyed entries) or arrays (elements).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Map,
    List,
}

/// A map with varying keys or an array, at one path: entries per row.
pub(crate) struct ContainerBuf<'a> {
    pub kind: Kind,
    pub rows: Vec<u32>,
    /// Entry offsets, one more than `rows`, starting at 0.
    pub offsets: Vec<u32>,
    /// Map keys, one per entry.
    pub keys: StrValues<'a>,
    /// Entry values, by type.
    pub values: [Option<ColumnBuf<'a>>; TYPES],
}

impl<'a> ContainerBuf<'a> {
    fn new(kind: Kind) -> ContainerBuf<'a> {
        ContainerBuf {
            kind,
            rows: Vec::new(),
            offsets: vec![0],
            keys: StrValues::new(),
            values: Default::default(),
        }
    }

    fn entries(&self) -> u32 {
        *self.offsets.last().expect("offsets start with 0")
    }

    fn push_value(&mut self, value: Scalar<'a>) {
        let entry = self.entries();
        self.values[value.kind()]
            .get_or_insert_with(|| ColumnBuf::new(value.kind()))
            .push(entry, value);
        *self.offsets.last_mut().expect("offsets start with 0") += 1;
    }
}

/// A node of the path tree: one key under its parent.
pub(crate) struct Node<'a> {
    pub key: &'a [u8],
    pub parent: u32,
    pub children: FxHashMap<&'a [u8], u32>,
    /// The children in the order the last map at this node listed them:
    /// events of one kind list their keys in the same order, so the i-th
    /// key is found by one comparison instead of a hash lookup.
    pub order: Vec<u32>,
    /// Column id per value type, or NONE.
    pub columns: [u32; TYPES],
    /// Container ids, or NONE.
    pub list: u32,
    pub map: u32,
}

impl<'a> Node<'a> {
    fn new(key: &'a [u8], parent: u32) -> Node<'a> {
        Node {
            key,
            parent,
            children: FxHashMap::default(),
            order: Vec::new(),
            columns: [NONE; TYPES],
            list: NONE,
            map: NONE,
        }
    }
}

/// One chunk's events as columns.
pub(crate) struct ChunkColumns<'a> {
    pub raw: &'a [u8],
    /// Where each row's event starts in `raw`.
    pub event_starts: Vec<u32>,
    pub nodes: Vec<Node<'a>>,
    /// The node of each path (as [`ChunkColumns::path`] spells it), root
    /// aside: see [`ChunkColumns::child`].
    paths: FxHashMap<String, u32>,
    pub columns: Vec<ColumnBuf<'a>>,
    pub containers: Vec<ContainerBuf<'a>>,
    /// Nodes that passed [`MAX_STRUCT_KEYS`] during the current event.
    overflowing: Vec<u32>,
}

impl<'a> ChunkColumns<'a> {
    /// Decodes every event of a chunk's raw bytes.
    pub fn decode(raw: &'a [u8]) -> Result<ChunkColumns<'a>, DecodeError> {
        let mut c = ChunkColumns {
            raw,
            event_starts: Vec::new(),
            nodes: vec![Node::new(b"", NONE)],
            paths: FxHashMap::default(),
            columns: Vec::new(),
            containers: Vec::new(),
            overflowing: Vec::new(),
        };
        if u32::try_from(raw.len()).is_err() {
            return Err(DecodeError::TooLarge(format!(
                "a chunk of {} bytes; chunks are at most 4 GiB",
                raw.len()
            )));
        }
        let mut r = Reader::new(raw);
        while r.pos < raw.len() {
            let row = u32::try_from(c.event_starts.len())
                .map_err(|_| DecodeError::TooLarge("more than 2^32 events in a chunk".into()))?;
            c.event_starts.push(r.pos as u32);
            match r.next()? {
                Value::Map(n) => c.map_fields(ROOT, row, n, &mut r)?,
                other => {
                    return Err(DecodeError::Malformed(format!(
                        "event {row} is not a map: {other:?}"
                    )))
                }
            }
            while let Some(node) = c.overflowing.pop() {
                c.make_dynamic(node, row)?;
            }
        }
        Ok(c)
    }

    /// Rows (events) decoded.
    pub fn rows(&self) -> u32 {
        self.event_starts.len() as u32
    }

    /// The child of `node` under `key`, made on first use. Paths are keys
    /// joined with `.` (and keys that are not UTF-8 read with U+FFFD), so
    /// two routes can spell one path: `a.b` at the top and `b` under `a`.
    /// They share one node, hence one column per (path, type), holding one
    /// value per row (see [`ColumnBuf::push`]): two nodes of one path would
    /// give the epoch one column with two values for a row (merge.rs keys
    /// columns by path).
    fn child(&mut self, node: u32, key: &'a [u8]) -> u32 {
        if let Some(child) = self.nodes[node as usize].children.get(key) {
            return *child;
        }
        let path = if node == ROOT {
            String::from_utf8_lossy(key).into_owned()
        } else {
            format!("{}.{}", self.path(node), String::from_utf8_lossy(key))
        };
        let id = match self.paths.get(&path) {
            Some(&id) => id,
            None => {
                let id = self.nodes.len() as u32;
                self.nodes.push(Node::new(key, node));
                self.paths.insert(path, id);
                id
            }
        };
        let parent = &mut self.nodes[node as usize];
        parent.children.insert(key, id);
        if node != ROOT && parent.children.len() == MAX_STRUCT_KEYS + 1 {
            self.overflowing.push(node);
        }
        id
    }

    #[inline(always)]
    fn scalar(&mut self, node: u32, row: u32, value: Scalar<'a>) {
        let kind = value.kind();
        let mut id = self.nodes[node as usize].columns[kind];
        if id == NONE {
            id = self.columns.len() as u32;
            self.columns.push(ColumnBuf::new(kind));
            self.nodes[node as usize].columns[kind] = id;
        }
        self.columns[id as usize].push(row, value);
    }

    /// The fields of a struct map at `node`, whose header (n pairs) was read.
    fn map_fields(
        &mut self,
        node: u32,
        row: u32,
        n: usize,
        r: &mut Reader<'a>,
    ) -> Result<(), DecodeError> {
        for i in 0..n {
            let key = r.key()?;
            let child = self.child_at(node, i, key);
            self.value(child, row, r)?;
        }
        Ok(())
    }

    /// The child for the `i`-th key of a map at `node`: first a guess from
    /// the last map's key order (one comparison), then the hash map.
    fn child_at(&mut self, node: u32, i: usize, key: &'a [u8]) -> u32 {
        if let Some(&guess) = self.nodes[node as usize].order.get(i) {
            if same_bytes(self.nodes[guess as usize].key, key) {
                return guess;
            }
        }
        let child = self.child(node, key);
        let order = &mut self.nodes[node as usize].order;
        if i < order.len() {
            order[i] = child;
        } else if i == order.len() {
            order.push(child);
        }
        child
    }

    /// One value at `node` for `row`.
    fn value(&mut self, node: u32, row: u32, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        let start = r.pos;
        match r.next()? {
            Value::Map(0) if self.nodes[node as usize].map == NONE => {
                // An empty map has no leaves to be columns: keep it raw, so
                // it is not lost.
                self.scalar(node, row, Scalar::Raw(&r.buf[start..r.pos]));
                Ok(())
            }
            Value::Map(n) => {
                let map = self.nodes[node as usize].map;
                if map == NONE {
                    self.map_fields(node, row, n, r)
                } else {
                    self.container_map(map, row, n, r)
                }
            }
            Value::Array(n) => {
                let mut list = self.nodes[node as usize].list;
                if list == NONE {
                    list = self.containers.len() as u32;
                    self.containers.push(ContainerBuf::new(Kind::List));
                    self.nodes[node as usize].list = list;
                }
                self.container_list(list, row, n, r)
            }
            v => {
                let scalar = to_scalar(v, &r.buf[start..r.pos]);
                self.scalar(node, row, scalar);
                Ok(())
            }
        }
    }

    /// Reads an entry value of a container: scalars as themselves, anything
    /// nested as raw MessagePack.
    fn entry_value(r: &mut Reader<'a>) -> Result<Scalar<'a>, DecodeError> {
        let start = r.pos;
        let v = r.next()?;
        Ok(match v {
            Value::Map(_) | Value::Array(_) => {
                r.skip_rest(v, 1)?;
                Scalar::Raw(&r.buf[start..r.pos])
            }
            v => to_scalar(v, &r.buf[start..r.pos]),
        })
    }

    /// Opens `row`'s run of entries in container `id`; `None` if the row
    /// has one already (the first stands, as in [`ColumnBuf::push`]).
    fn open_row(&mut self, id: u32, row: u32) -> Option<&mut ContainerBuf<'a>> {
        let c = &mut self.containers[id as usize];
        if c.rows.last() == Some(&row) {
            return None;
        }
        c.rows.push(row);
        c.offsets.push(c.entries());
        Some(c)
    }

    fn container_map(
        &mut self,
        id: u32,
        row: u32,
        n: usize,
        r: &mut Reader<'a>,
    ) -> Result<(), DecodeError> {
        let Some(c) = self.open_row(id, row) else {
            for _ in 0..n {
                r.key()?;
                r.raw_value()?;
            }
            return Ok(());
        };
        for _ in 0..n {
            let key = r.key()?;
            c.keys.push(key);
            c.push_value(Self::entry_value(r)?);
        }
        Ok(())
    }

    fn container_list(
        &mut self,
        id: u32,
        row: u32,
        n: usize,
        r: &mut Reader<'a>,
    ) -> Result<(), DecodeError> {
        let Some(c) = self.open_row(id, row) else {
            for _ in 0..n {
                r.raw_value()?;
            }
            return Ok(());
        };
        for _ in 0..n {
            c.push_value(Self::entry_value(r)?);
        }
        Ok(())
    }

    /// The keys from the root to `node`.
    fn path_keys(&self, mut node: u32) -> Vec<&'a [u8]> {
        let mut keys = Vec::new();
        while node != ROOT {
            keys.push(self.nodes[node as usize].key);
            node = self.nodes[node as usize].parent;
        }
        keys.reverse();
        keys
    }

    /// Whether `node` is `ancestor` or under it.
    fn is_under(&self, mut node: u32, ancestor: u32) -> bool {
        while node != NONE {
            if node == ancestor {
                return true;
            }
            node = self.nodes[node as usize].parent;
        }
        false
    }

    /// Turns the struct map at `node` into a map container: drops the
    /// columns under it and decodes that map again from rows 0..=`last_row`.
    pub fn make_dynamic(&mut self, node: u32, last_row: u32) -> Result<(), DecodeError> {
        if node == ROOT || self.nodes[node as usize].map != NONE {
            return Ok(());
        }
        // Drop everything below `node`: its children's columns and containers.
        let mut stack: Vec<u32> = self.nodes[node as usize]
            .children
            .values()
            .copied()
            .collect();
        while let Some(n) = stack.pop() {
            let child = &mut self.nodes[n as usize];
            for col in child.columns.iter_mut() {
                if *col != NONE {
                    self.columns[*col as usize] = ColumnBuf::new(RAW);
                    *col = NONE;
                }
            }
            for c in [&mut child.list, &mut child.map] {
                if *c != NONE {
                    self.containers[*c as usize] = ContainerBuf::new(Kind::List);
                    *c = NONE;
                }
            }
            stack.extend(child.children.values().copied());
            child.children.clear();
            child.order.clear();
        }
        self.nodes[node as usize].children.clear();
        self.nodes[node as usize].order.clear();
        let overflowing = std::mem::take(&mut self.overflowing);
        self.overflowing = overflowing
            .into_iter()
            .filter(|n| !self.is_under(*n, node))
            .collect();
        let map = self.containers.len() as u32;
        self.containers.push(ContainerBuf::new(Kind::Map));
        self.nodes[node as usize].map = map;
        // Decode the map again from the events so far.
        let path = self.path_keys(node);
        for row in 0..=last_row {
            let start = self.event_starts[row as usize] as usize;
            let mut r = Reader::new(self.raw);
            r.pos = start;
            if let Some(n) = find_map(&mut r, &path)? {
                self.container_map(map, row, n, &mut r)?;
            }
        }
        Ok(())
    }

    /// The (dotted) path of a node.
    pub fn path(&self, node: u32) -> String {
        let keys = self.path_keys(node);
        let mut path = String::new();
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                path.push('.');
            }
            path.push_str(&String::from_utf8_lossy(k));
        }
        path
    }

    /// The node of a path (as [`ChunkColumns::path`] spells it), if any.
    pub fn find_node(&self, path: &str) -> Option<u32> {
        // By the whole path, not key by key: a key may hold a `.` itself.
        match self.paths.get(path) {
            Some(&node) => Some(node),
            None => path.is_empty().then_some(ROOT),
        }
    }

    /// Paths of the map containers of this chunk.
    pub fn dynamic_paths(&self) -> Vec<String> {
        (0..self.nodes.len() as u32)
            .filter(|n| self.nodes[*n as usize].map != NONE)
            .map(|n| self.path(n))
            .collect()
    }
}

#[inline(always)]
fn to_scalar<'a>(v: Value<'a>, raw: &'a [u8]) -> Scalar<'a> {
    match v {
        Value::Nil => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(b),
        Value::Int(i) => Scalar::Int(i),
        Value::Float(f) => Scalar::Float(f),
        Value::Str(s) => Scalar::Str(s),
        _ => Scalar::Raw(raw),
    }
}

/// Walks the event at the reader down `path` (map keys); if a map is there,
/// leaves the reader after its header and returns its length.
fn find_map(r: &mut Reader<'_>, path: &[&[u8]]) -> Result<Option<usize>, DecodeError> {
    let mut n = match r.next()? {
        Value::Map(n) => n,
        _ => return Ok(None),
    };
    for (depth, want) in path.iter().enumerate() {
        let mut found = false;
        for _ in 0..n {
            let key = r.key()?;
            if key == *want {
                found = true;
                break;
            }
            r.raw_value()?;
        }
        if !found {
            return Ok(None);
        }
        match r.next()? {
            Value::Map(m) => n = m,
            _ => return Ok(None),
        }
        if depth + 1 == path.len() {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::{decode_raw, Column, EpochMeta, SharedEpoch, ValueType};

    /// An event as MessagePack with its keys as given, repeats included
    /// (which no serde map can hold).
    fn event(pairs: &[(&str, Value)]) -> Vec<u8> {
        let mut out = Vec::new();
        rmp::encode::write_map_len(&mut out, pairs.len() as u32).unwrap();
        for (key, value) in pairs {
            rmp::encode::write_str(&mut out, key).unwrap();
            out.extend(rmp_serde::to_vec_named(value).unwrap());
        }
        out
    }

    fn decode(events: &[Vec<u8>]) -> SharedEpoch {
        let meta = EpochMeta {
            epoch: 1,
            dc: "dc1".into(),
            seq: 0,
        };
        decode_raw(meta, &[events.concat()]).unwrap()
    }

    /// The rows and the ints of the Int column at `path`.
    fn ints(epoch: &SharedEpoch, path: &str) -> (Vec<u32>, Vec<i64>) {
        let view = epoch.view();
        let col: Column<'_> = view
            .columns()
            .unwrap()
            .iter()
            .find(|c| c.path() == Some(path) && c.type_() == ValueType::Int)
            .unwrap_or_else(|| panic!("no Int column {path}"));
        let rows = match col.rows() {
            Some(rows) => rows.iter().collect(),
            None => (0..view.rows()).collect(),
        };
        (rows, col.ints().unwrap().iter().collect())
    }

    /// Regression (found by fuzz/columnar_decode): a key repeated in one map
    /// gave its column two values for one row; with as many rows as values
    /// the column even came out dense, the second value filed under the
    /// next event. The first value stands.
    #[test]
    fn a_repeated_key_keeps_its_first_value() {
        let epoch = decode(&[
            event(&[
                ("x", json!(1)),
                ("m", json!({"y": 1})),
                ("t", json!([1])),
                ("x", json!(2)),
                ("m", json!({"y": 2})),
                ("t", json!([2, 3])),
            ]),
            event(&[("z", json!(0))]),
        ]);
        assert_eq!(ints(&epoch, "x"), (vec![0], vec![1]));
        assert_eq!(ints(&epoch, "m.y"), (vec![0], vec![1]));
        let view = epoch.view();
        let list = view.containers().unwrap().get(0);
        assert_eq!(list.path(), Some("t"));
        assert_eq!(list.rows().unwrap().iter().collect::<Vec<_>>(), [0]);
        assert_eq!(list.offsets().unwrap().iter().collect::<Vec<_>>(), [0, 1]);
    }

    /// Regression (found by fuzz/columnar_decode): `a.b` at the top and `b`
    /// under `a` spell one path; they made two columns of that name, merged
    /// into one with two values for a row. They are one column now, first
    /// value standing.
    #[test]
    fn keys_spelling_one_path_are_one_column() {
        let epoch = decode(&[
            event(&[("a.b", json!(1)), ("a", json!({"b": 2}))]),
            event(&[("a", json!({"b": 3}))]),
            event(&[("z", json!(0))]),
            event(&[("a.b", json!(4))]),
        ]);
        assert_eq!(ints(&epoch, "a.b"), (vec![0, 1, 3], vec![1, 3, 4]));
        let view = epoch.view();
        let named: Vec<_> = view
            .columns()
            .unwrap()
            .iter()
            .filter(|c| c.path() == Some("a.b"))
            .collect();
        assert_eq!(named.len(), 1);
    }
}
