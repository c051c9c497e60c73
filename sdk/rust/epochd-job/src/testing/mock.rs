//! The mock epoch: JSON events laid out as ABI v1 columns, and the host
//! functions over them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use epochd_job_sys::{ErrorCode, ValueType};
use serde_json::{Map, Value};

use super::msgpack;
use crate::log::Level;

const NOT_FOUND: i32 = ErrorCode::NotFound as i32;
const BAD_HANDLE: i32 = ErrorCode::BadHandle as i32;
const OUT_OF_RANGE: i32 = ErrorCode::OutOfRange as i32;
const WRONG_TYPE: i32 = ErrorCode::WrongType as i32;
const TOO_LARGE: i32 = ErrorCode::TooLarge as i32;
const NOT_NOW: i32 = ErrorCode::NotNow as i32;

/// The daemon's rule: a map under one path with more distinct keys than
/// this becomes a map container.
pub(crate) const MAX_STRUCT_KEYS: usize = 64;

/// How the mock codes string columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StrCoding {
    /// As the daemon does: a dictionary, unless the column has more than 64
    /// distinct strings and they are more than half of its values.
    #[default]
    Auto,
    /// Every string column has a dictionary.
    Dictionary,
    /// No string column has a dictionary (values are read as bytes).
    Plain,
}

#[derive(Debug)]
pub(crate) enum Strs {
    Dict { dict: Vec<Vec<u8>>, ids: Vec<u32> },
    Plain(Vec<Vec<u8>>),
}

#[derive(Debug)]
pub(crate) enum Data {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Bool(Vec<u8>),
    Str(Strs),
    Null(usize),
    Raw(Vec<Vec<u8>>),
}

impl Data {
    fn len(&self) -> usize {
        match self {
            Data::Int(v) => v.len(),
            Data::Float(v) => v.len(),
            Data::Bool(v) => v.len(),
            Data::Str(Strs::Dict { ids, .. }) => ids.len(),
            Data::Str(Strs::Plain(v)) => v.len(),
            Data::Null(n) => *n,
            Data::Raw(v) => v.len(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct MockColumn {
    path: String,
    ty: ValueType,
    rows: Vec<u32>,
    dense: bool,
    data: Data,
}

#[derive(Debug)]
pub(crate) struct MockContainer {
    path: String,
    kind: i32,
    rows: Vec<u32>,
    offsets: Vec<u32>,
    keys: Option<MockColumn>,
    values: Vec<MockColumn>,
}

/// The decoded epoch of the mock.
#[derive(Debug)]
pub(crate) struct EpochData {
    pub(crate) epoch: i64,
    pub(crate) dc: String,
    pub(crate) seq: u32,
    pub(crate) rows: u32,
    columns: Vec<MockColumn>,
    containers: Vec<MockContainer>,
}

// ---------------------------------------------------------------------------
// Building: JSON events to columns, following sdk/schema/epoch.fbs and the
// daemon's decoder (daemon/decode).

enum Scalar {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(Vec<u8>),
    Null,
    Raw(Vec<u8>),
}

impl Scalar {
    fn of(v: &Value) -> Scalar {
        match v {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Scalar::Int(i),
                // Integers above 2^63 - 1 have no column form.
                (None, _) if n.is_u64() => Scalar::Raw(raw(v)),
                (None, Some(f)) => Scalar::Float(f),
                (None, None) => Scalar::Raw(raw(v)),
            },
            Value::String(s) => Scalar::Str(s.as_bytes().to_vec()),
            Value::Array(_) | Value::Object(_) => Scalar::Raw(raw(v)),
        }
    }

    fn ty(&self) -> ValueType {
        match self {
            Scalar::Int(_) => ValueType::Int,
            Scalar::Float(_) => ValueType::Float,
            Scalar::Bool(_) => ValueType::Bool,
            Scalar::Str(_) => ValueType::Str,
            Scalar::Null => ValueType::Null,
            Scalar::Raw(_) => ValueType::Raw,
        }
    }
}

fn raw(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    msgpack::encode(v, &mut out);
    out
}

struct ColBuf {
    rows: Vec<u32>,
    data: Data,
    strs: Vec<Vec<u8>>,
}

impl ColBuf {
    fn new(ty: ValueType) -> ColBuf {
        ColBuf {
            rows: Vec::new(),
            data: match ty {
                ValueType::Int => Data::Int(Vec::new()),
                ValueType::Float => Data::Float(Vec::new()),
                ValueType::Bool => Data::Bool(Vec::new()),
                ValueType::Str => Data::Str(Strs::Plain(Vec::new())),
                ValueType::Null => Data::Null(0),
                ValueType::Raw => Data::Raw(Vec::new()),
            },
            strs: Vec::new(),
        }
    }

    fn push(&mut self, row: u32, s: Scalar) {
        self.rows.push(row);
        match (&mut self.data, s) {
            (Data::Int(v), Scalar::Int(x)) => v.push(x),
            (Data::Float(v), Scalar::Float(x)) => v.push(x),
            (Data::Bool(v), Scalar::Bool(x)) => v.push(u8::from(x)),
            (Data::Str(_), Scalar::Str(x)) => self.strs.push(x),
            (Data::Null(n), Scalar::Null) => *n += 1,
            (Data::Raw(v), Scalar::Raw(x)) => v.push(x),
            _ => unreachable!("a column receives values of its type only"),
        }
    }

    fn finish(self, path: String, ty: ValueType, space: u32, coding: StrCoding) -> MockColumn {
        let dense = self.rows.len() == space as usize;
        let data = match self.data {
            Data::Str(_) => Data::Str(code_strings(self.strs, coding)),
            other => other,
        };
        MockColumn {
            path,
            ty,
            rows: self.rows,
            dense,
            data,
        }
    }
}

fn code_strings(values: Vec<Vec<u8>>, coding: StrCoding) -> Strs {
    let mut index: HashMap<&[u8], u32> = HashMap::new();
    for v in &values {
        let next = index.len() as u32;
        index.entry(v.as_slice()).or_insert(next);
    }
    let distinct = index.len();
    let plain = match coding {
        StrCoding::Auto => distinct > MAX_STRUCT_KEYS && distinct * 2 > values.len(),
        StrCoding::Dictionary => false,
        StrCoding::Plain => true,
    };
    if plain {
        return Strs::Plain(values);
    }
    let ids: Vec<u32> = values.iter().map(|v| index[v.as_slice()]).collect();
    let mut dict = vec![Vec::new(); distinct];
    for (s, id) in index {
        dict[id as usize] = s.to_vec();
    }
    Strs::Dict { dict, ids }
}

struct ContBuf {
    rows: Vec<u32>,
    offsets: Vec<u32>,
    keys: Vec<Vec<u8>>,
    values: BTreeMap<ValueType, ColBuf>,
}

impl ContBuf {
    fn new() -> ContBuf {
        ContBuf {
            rows: Vec::new(),
            offsets: vec![0],
            keys: Vec::new(),
            values: BTreeMap::new(),
        }
    }

    fn entries(&self) -> u32 {
        *self.offsets.last().expect("offsets start with 0")
    }

    /// An entry value: scalars as themselves, anything nested raw.
    fn push_value(&mut self, v: &Value) {
        let entry = self.entries();
        let s = Scalar::of(v);
        self.values
            .entry(s.ty())
            .or_insert_with(|| ColBuf::new(s.ty()))
            .push(entry, s);
        *self.offsets.last_mut().expect("offsets start with 0") += 1;
    }
}

struct Builder {
    dynamic: HashSet<String>,
    columns: BTreeMap<(String, ValueType), ColBuf>,
    /// (path, kind code) -> container.
    containers: BTreeMap<(String, i32), ContBuf>,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The paths whose maps have more than [`MAX_STRUCT_KEYS`] distinct keys
/// (over the whole epoch) and no such ancestor: the map containers.
fn dynamic_paths(events: &[Value]) -> HashSet<String> {
    fn visit(prefix: &str, obj: &Map<String, Value>, keys: &mut HashMap<String, BTreeSet<String>>) {
        if !prefix.is_empty() {
            keys.entry(prefix.to_owned())
                .or_default()
                .extend(obj.keys().cloned());
        }
        for (k, v) in obj {
            if let Value::Object(m) = v {
                visit(&join(prefix, k), m, keys);
            }
        }
    }
    let mut keys = HashMap::new();
    for e in events {
        if let Value::Object(m) = e {
            visit("", m, &mut keys);
        }
    }
    let over: HashSet<String> = keys
        .into_iter()
        .filter(|(_, k)| k.len() > MAX_STRUCT_KEYS)
        .map(|(p, _)| p)
        .collect();
    over.iter()
        .filter(|p| {
            !over.iter().any(|a| {
                p.len() > a.len() && p.starts_with(a.as_str()) && p.as_bytes()[a.len()] == b'.'
            })
        })
        .cloned()
        .collect()
}

impl Builder {
    fn scalar(&mut self, path: &str, row: u32, s: Scalar) {
        self.columns
            .entry((path.to_owned(), s.ty()))
            .or_insert_with(|| ColBuf::new(s.ty()))
            .push(row, s);
    }

    fn fields(&mut self, prefix: &str, obj: &Map<String, Value>, row: u32) {
        for (k, v) in obj {
            self.value(&join(prefix, k), v, row);
        }
    }

    fn value(&mut self, path: &str, v: &Value, row: u32) {
        match v {
            Value::Object(m) if self.dynamic.contains(path) => {
                let c = self
                    .containers
                    .entry((path.to_owned(), 0))
                    .or_insert_with(ContBuf::new);
                c.rows.push(row);
                c.offsets.push(c.entries());
                for (k, v) in m {
                    c.keys.push(k.as_bytes().to_vec());
                    c.push_value(v);
                }
            }
            // An empty map has no leaves to be columns: kept raw.
            Value::Object(m) if m.is_empty() => self.scalar(path, row, Scalar::Raw(raw(v))),
            Value::Object(m) => self.fields(path, m, row),
            Value::Array(a) => {
                let c = self
                    .containers
                    .entry((path.to_owned(), 1))
                    .or_insert_with(ContBuf::new);
                c.rows.push(row);
                c.offsets.push(c.entries());
                for v in a {
                    c.push_value(v);
                }
            }
            _ => self.scalar(path, row, Scalar::of(v)),
        }
    }
}

impl EpochData {
    pub(crate) fn build(
        epoch: i64,
        dc: String,
        seq: u32,
        events: &[Value],
        coding: StrCoding,
    ) -> EpochData {
        let rows = u32::try_from(events.len()).expect("fewer than 2^32 events");
        let mut b = Builder {
            dynamic: dynamic_paths(events),
            columns: BTreeMap::new(),
            containers: BTreeMap::new(),
        };
        for (row, e) in events.iter().enumerate() {
            match e {
                Value::Object(m) => b.fields("", m, row as u32),
                other => panic!("MockEpoch: event {row} is not a JSON object: {other}"),
            }
        }
        let columns = b
            .columns
            .into_iter()
            .map(|((path, ty), buf)| buf.finish(path, ty, rows, coding))
            .collect();
        let containers = b
            .containers
            .into_iter()
            .map(|((path, kind), c)| {
                let entries = c.entries();
                let keys = (kind == 0).then(|| {
                    let mut keys = ColBuf::new(ValueType::Str);
                    for (i, k) in c.keys.into_iter().enumerate() {
                        keys.push(i as u32, Scalar::Str(k));
                    }
                    keys.finish(String::new(), ValueType::Str, entries, coding)
                });
                MockContainer {
                    path,
                    kind,
                    rows: c.rows,
                    offsets: c.offsets,
                    keys,
                    values: c
                        .values
                        .into_iter()
                        .map(|(ty, buf)| buf.finish(String::new(), ty, entries, coding))
                        .collect(),
                }
            })
            .collect();
        EpochData {
            epoch,
            dc,
            seq,
            rows,
            columns,
            containers,
        }
    }

    /// Whether a string column at `path` has a dictionary (for tests).
    pub(crate) fn has_dictionary(&self, path: &str) -> Option<bool> {
        self.columns
            .iter()
            .find(|c| c.path == path && c.ty == ValueType::Str)
            .map(|c| matches!(c.data, Data::Str(Strs::Dict { .. })))
    }
}

// ---------------------------------------------------------------------------
// The host functions.

#[derive(Clone, Copy)]
enum ColRef {
    Top(usize),
    Keys(usize),
    Values(usize, usize),
}

#[derive(Clone, Copy)]
enum Target {
    Column(ColRef),
    Container(usize),
}

/// One run's host: the epoch plus what the run emitted.
pub(crate) struct MockHost {
    data: Rc<EpochData>,
    config: Rc<[u8]>,
    max_result_size: usize,
    merge_inputs: Option<[Vec<u8>; 2]>,
    handles: Vec<Target>,
    pub(crate) result: Vec<u8>,
    pub(crate) failure: Option<String>,
    pub(crate) logs: Vec<(Level, String)>,
    log_bytes: usize,
}

/// What the host keeps of a run's logs (ABI v1).
const MAX_LOG_LINES: usize = 64;
const MAX_LOG_BYTES: usize = 16 * 1024;

fn copy<T: Copy>(src: &[T], start: i32, count: i32, dst: &mut [T]) -> i32 {
    let (Ok(start), Ok(count)) = (usize::try_from(start), usize::try_from(count)) else {
        return OUT_OF_RANGE;
    };
    if start > src.len() {
        return OUT_OF_RANGE;
    }
    let n = count.min(src.len() - start).min(dst.len());
    dst[..n].copy_from_slice(&src[start..start + n]);
    n as i32
}

fn copy_bytes(src: &[u8], dst: &mut [u8]) -> i32 {
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
    i32::try_from(src.len()).unwrap_or(i32::MAX)
}

impl MockHost {
    pub(crate) fn new(
        data: Rc<EpochData>,
        config: Rc<[u8]>,
        max_result_size: usize,
        merge_inputs: Option<[Vec<u8>; 2]>,
    ) -> MockHost {
        MockHost {
            data,
            config,
            max_result_size,
            merge_inputs,
            handles: Vec::new(),
            result: Vec::new(),
            failure: None,
            logs: Vec::new(),
            log_bytes: 0,
        }
    }

    fn merging(&self) -> bool {
        self.merge_inputs.is_some()
    }

    fn handle(&mut self, t: Target) -> i32 {
        self.handles.push(t);
        (self.handles.len() - 1) as i32
    }

    fn col(&self, h: i32) -> Result<&MockColumn, i32> {
        let t = usize::try_from(h)
            .ok()
            .and_then(|h| self.handles.get(h))
            .ok_or(BAD_HANDLE)?;
        let Target::Column(c) = *t else {
            return Err(BAD_HANDLE);
        };
        Ok(match c {
            ColRef::Top(i) => &self.data.columns[i],
            ColRef::Keys(i) => self.data.containers[i]
                .keys
                .as_ref()
                .expect("keys handles are only made for maps"),
            ColRef::Values(i, j) => &self.data.containers[i].values[j],
        })
    }

    fn cont(&self, h: i32) -> Result<(usize, &MockContainer), i32> {
        let t = usize::try_from(h)
            .ok()
            .and_then(|h| self.handles.get(h))
            .ok_or(BAD_HANDLE)?;
        match *t {
            Target::Container(i) => Ok((i, &self.data.containers[i])),
            Target::Column(_) => Err(BAD_HANDLE),
        }
    }

    pub(crate) fn epoch(&mut self) -> i64 {
        self.data.epoch
    }

    pub(crate) fn seq(&mut self) -> i32 {
        self.data.seq as i32
    }

    pub(crate) fn rows(&mut self) -> i32 {
        if self.merging() {
            0
        } else {
            self.data.rows as i32
        }
    }

    pub(crate) fn dc(&mut self, dst: &mut [u8]) -> i32 {
        copy_bytes(self.data.dc.as_bytes(), dst)
    }

    pub(crate) fn column(&mut self, path: &[u8], ty: i32) -> i32 {
        if self.merging() {
            return NOT_FOUND;
        }
        let Some(ty) = ValueType::from_code(ty) else {
            return NOT_FOUND;
        };
        match self
            .data
            .columns
            .binary_search_by(|c| (c.path.as_bytes(), c.ty).cmp(&(path, ty)))
        {
            Ok(i) => self.handle(Target::Column(ColRef::Top(i))),
            Err(_) => NOT_FOUND,
        }
    }

    pub(crate) fn column_len(&mut self, h: i32) -> i32 {
        self.col(h).map_or_else(|e| e, |c| c.data.len() as i32)
    }

    pub(crate) fn column_dense(&mut self, h: i32) -> i32 {
        self.col(h).map_or_else(|e| e, |c| i32::from(c.dense))
    }

    pub(crate) fn column_rows(&mut self, h: i32, start: i32, count: i32, dst: &mut [u32]) -> i32 {
        self.col(h)
            .map_or_else(|e| e, |c| copy(&c.rows, start, count, dst))
    }

    pub(crate) fn column_i64(&mut self, h: i32, start: i32, count: i32, dst: &mut [i64]) -> i32 {
        match self.col(h) {
            Ok(MockColumn {
                data: Data::Int(v), ..
            }) => copy(v, start, count, dst),
            Ok(_) => WRONG_TYPE,
            Err(e) => e,
        }
    }

    pub(crate) fn column_f64(&mut self, h: i32, start: i32, count: i32, dst: &mut [f64]) -> i32 {
        match self.col(h) {
            Ok(MockColumn {
                data: Data::Float(v),
                ..
            }) => copy(v, start, count, dst),
            Ok(_) => WRONG_TYPE,
            Err(e) => e,
        }
    }

    pub(crate) fn column_u8(&mut self, h: i32, start: i32, count: i32, dst: &mut [u8]) -> i32 {
        match self.col(h) {
            Ok(MockColumn {
                data: Data::Bool(v),
                ..
            }) => copy(v, start, count, dst),
            Ok(_) => WRONG_TYPE,
            Err(e) => e,
        }
    }

    pub(crate) fn column_ids(&mut self, h: i32, start: i32, count: i32, dst: &mut [u32]) -> i32 {
        match self.col(h) {
            Ok(MockColumn {
                data: Data::Str(Strs::Dict { ids, .. }),
                ..
            }) => copy(ids, start, count, dst),
            Ok(_) => WRONG_TYPE,
            Err(e) => e,
        }
    }

    pub(crate) fn dict_len(&mut self, h: i32) -> i32 {
        match self.col(h) {
            Ok(MockColumn {
                data: Data::Str(Strs::Dict { dict, .. }),
                ..
            }) => dict.len() as i32,
            Ok(_) => WRONG_TYPE,
            Err(e) => e,
        }
    }

    pub(crate) fn dict_entry(&mut self, h: i32, id: i32, dst: &mut [u8]) -> i32 {
        match self.col(h) {
            Ok(MockColumn {
                data: Data::Str(Strs::Dict { dict, .. }),
                ..
            }) => match usize::try_from(id).ok().and_then(|i| dict.get(i)) {
                Some(s) => copy_bytes(s, dst),
                None => OUT_OF_RANGE,
            },
            Ok(_) => WRONG_TYPE,
            Err(e) => e,
        }
    }

    pub(crate) fn column_bytes(&mut self, h: i32, index: i32, dst: &mut [u8]) -> i32 {
        let c = match self.col(h) {
            Ok(c) => c,
            Err(e) => return e,
        };
        let Ok(i) = usize::try_from(index) else {
            return OUT_OF_RANGE;
        };
        let value = match &c.data {
            Data::Str(Strs::Dict { dict, ids }) => ids.get(i).map(|id| &dict[*id as usize]),
            Data::Str(Strs::Plain(v)) | Data::Raw(v) => v.get(i),
            _ => return WRONG_TYPE,
        };
        match value {
            Some(s) => copy_bytes(s, dst),
            None => OUT_OF_RANGE,
        }
    }

    pub(crate) fn container(&mut self, path: &[u8], kind: i32) -> i32 {
        if self.merging() || !(0..=1).contains(&kind) {
            return NOT_FOUND;
        }
        match self
            .data
            .containers
            .binary_search_by(|c| (c.path.as_bytes(), c.kind).cmp(&(path, kind)))
        {
            Ok(i) => self.handle(Target::Container(i)),
            Err(_) => NOT_FOUND,
        }
    }

    pub(crate) fn container_len(&mut self, h: i32) -> i32 {
        self.cont(h)
            .map_or_else(|e| e, |(_, c)| c.rows.len() as i32)
    }

    pub(crate) fn container_rows(
        &mut self,
        h: i32,
        start: i32,
        count: i32,
        dst: &mut [u32],
    ) -> i32 {
        self.cont(h)
            .map_or_else(|e| e, |(_, c)| copy(&c.rows, start, count, dst))
    }

    pub(crate) fn container_offsets(
        &mut self,
        h: i32,
        start: i32,
        count: i32,
        dst: &mut [u32],
    ) -> i32 {
        self.cont(h)
            .map_or_else(|e| e, |(_, c)| copy(&c.offsets, start, count, dst))
    }

    pub(crate) fn container_keys(&mut self, h: i32) -> i32 {
        match self.cont(h) {
            Ok((i, c)) if c.keys.is_some() => self.handle(Target::Column(ColRef::Keys(i))),
            Ok(_) => WRONG_TYPE,
            Err(e) => e,
        }
    }

    pub(crate) fn container_values(&mut self, h: i32, ty: i32) -> i32 {
        let found = match self.cont(h) {
            Ok((i, c)) => c
                .values
                .iter()
                .position(|v| v.ty.code() == ty)
                .map(|j| (i, j)),
            Err(e) => return e,
        };
        match found {
            Some((i, j)) => self.handle(Target::Column(ColRef::Values(i, j))),
            None => NOT_FOUND,
        }
    }

    pub(crate) fn emit(&mut self, bytes: &[u8]) -> i32 {
        if bytes.len() > self.max_result_size {
            return TOO_LARGE;
        }
        self.result = bytes.to_vec();
        0
    }

    pub(crate) fn fail(&mut self, message: &[u8]) {
        self.failure = Some(String::from_utf8_lossy(message).into_owned());
    }

    pub(crate) fn log(&mut self, level: i32, message: &[u8]) {
        if self.logs.len() >= MAX_LOG_LINES || self.log_bytes + message.len() > MAX_LOG_BYTES {
            return;
        }
        let level = match level {
            0 => Level::Error,
            1 => Level::Warn,
            2 => Level::Info,
            _ => Level::Debug,
        };
        self.log_bytes += message.len();
        self.logs
            .push((level, String::from_utf8_lossy(message).into_owned()));
    }

    pub(crate) fn config_len(&mut self) -> i32 {
        self.config.len() as i32
    }

    pub(crate) fn config_read(&mut self, dst: &mut [u8]) -> i32 {
        copy_bytes(&self.config, dst)
    }

    pub(crate) fn merge_input(&mut self, which: i32, dst: &mut [u8]) -> i32 {
        match &self.merge_inputs {
            None => NOT_NOW,
            Some(inputs) => match usize::try_from(which).ok().and_then(|w| inputs.get(w)) {
                Some(input) => copy_bytes(input, dst),
                None => OUT_OF_RANGE,
            },
        }
    }
}
