//! The decoded epoch a run reads.

use crate::column::{BoolColumn, Column, FloatColumn, IntColumn, RawColumn, ScalarColumn};
use crate::host;
use crate::{Container, ContainerKind, StrColumn, ValueType};

/// The epoch of this run: one commit of (epoch, dc), decoded once by the
/// daemon into columns that every job reads.
///
/// The job function receives it from [`#[job]`](crate::job). Its events are
/// *rows* `0..rows()`. Each field path with values of one type is a
/// [`Column`]: find it by path and type, then scan it. A field whose values
/// have two types (an `INT` in some events, a `FLOAT` in others) has two
/// columns. Maps with varying keys and arrays are [`Container`]s.
///
/// Nothing is copied until asked for: a job pays only for the columns it
/// reads. An `Epoch` is cheap to make ([`Epoch::current`]); all its data
/// lives in the host.
#[derive(Debug)]
pub struct Epoch {
    _private: (),
}

impl Epoch {
    /// The epoch of the running entry point. In `epochd_merge` it is the
    /// merged epoch: [`rows`](Self::rows) is 0 and no column exists.
    pub fn current() -> Epoch {
        Epoch { _private: () }
    }

    /// The epoch: a unix second.
    pub fn epoch(&self) -> i64 {
        host::epoch()
    }

    /// 0 for the primary commit of the epoch, 1.. for supplementary commits
    /// of late events (each run sees only its own commit's events).
    pub fn seq(&self) -> u32 {
        host::expect("seq", host::seq())
    }

    /// The number of events (rows).
    pub fn rows(&self) -> u32 {
        host::expect("rows", host::rows())
    }

    /// The data center of the commit.
    pub fn dc(&self) -> String {
        let mut buf = Vec::new();
        if let Err(code) = host::read_var(&mut buf, host::dc) {
            host::expect("dc", code);
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The column of `path` (keys joined with `.`, e.g. `tuning.wallclock`)
    /// with values of type `ty`, if any event has one.
    pub fn column(&self, path: &str, ty: ValueType) -> Option<Column> {
        Column::find(path, ty)
    }

    /// The `INT` values of `path`.
    pub fn int(&self, path: &str) -> Option<IntColumn> {
        ScalarColumn::new(Column::find(path, ValueType::Int)?)
    }

    /// The `FLOAT` values of `path`.
    pub fn float(&self, path: &str) -> Option<FloatColumn> {
        ScalarColumn::new(Column::find(path, ValueType::Float)?)
    }

    /// The `BOOL` values of `path`.
    pub fn bool(&self, path: &str) -> Option<BoolColumn> {
        ScalarColumn::new(Column::find(path, ValueType::Bool)?)
    }

    /// The string values of `path`.
    pub fn str(&self, path: &str) -> Option<StrColumn> {
        Column::find(path, ValueType::Str).map(StrColumn::new)
    }

    /// The rows where `path` is `null`.
    pub fn null(&self, path: &str) -> Option<Column> {
        Column::find(path, ValueType::Null)
    }

    /// The MessagePack values of `path`.
    pub fn raw(&self, path: &str) -> Option<RawColumn> {
        Column::find(path, ValueType::Raw)?.as_raw()
    }

    /// The map container at `path` (a map with varying keys).
    pub fn map(&self, path: &str) -> Option<Container> {
        Container::find(path, ContainerKind::Map)
    }

    /// The list container at `path` (an array).
    pub fn list(&self, path: &str) -> Option<Container> {
        Container::find(path, ContainerKind::List)
    }

    /// The container of `kind` at `path`.
    pub fn container(&self, path: &str, kind: ContainerKind) -> Option<Container> {
        Container::find(path, kind)
    }

    /// The ids of the strings at `path`, read a window of rows at a time
    /// (see [`RowIds`](crate::RowIds)): every row none when no event has a
    /// string there.
    pub fn row_ids(&self, path: &str) -> crate::RowIds {
        crate::RowIds::new(self.str(path))
    }

    /// For every row, the id of its string at `path` (see
    /// [`StrColumn::by_row`]); all none when no event has a string there.
    pub fn strings_by_row(&self, path: &str) -> crate::RowStrings {
        let rows = self.rows();
        match self.str(path) {
            Some(col) => col.by_row(rows),
            None => crate::RowStrings::empty(rows),
        }
    }

    /// The value of `path` in one event, with its type: a leaf, or a whole
    /// map container or array. `None` when the event has none there.
    ///
    /// Convenient, not fast: each call looks up to six columns (one per
    /// type) and two containers and binary-searches their rows with host
    /// calls. To read a field of many events, scan its column. Maps with a
    /// fixed set of keys are not values here: their leaves are (e.g.
    /// `tuning.wallclock`, not `tuning`).
    pub fn field(&self, path: &str, row: u32) -> Option<Value> {
        for ty in ValueType::ALL {
            if let Some(col) = Column::find(path, ty) {
                if let Some(index) = col.index_of(row) {
                    return read_value(&col, index);
                }
            }
        }
        for kind in [ContainerKind::Map, ContainerKind::List] {
            if let Some(c) = Container::find(path, kind) {
                if let Some(entries) = c.entries_of(row) {
                    return Some(read_entries(&c, entries));
                }
            }
        }
        None
    }

    /// The job's config bytes, as given at submission: see
    /// [`config`](crate::config()).
    pub fn config(&self) -> Vec<u8> {
        crate::config()
    }
}

/// One value of an event, with its type: what [`Epoch::field`] returns.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// An `INT`.
    Int(i64),
    /// A `FLOAT`.
    Float(f64),
    /// A `BOOL`.
    Bool(bool),
    /// A `STR` (invalid UTF-8 replaced by U+FFFD).
    Str(String),
    /// A `NULL`.
    Null,
    /// A `RAW` value: MessagePack bytes.
    Raw(Vec<u8>),
    /// A list container's entries for the row.
    List(Vec<Value>),
    /// A map container's entries for the row, in order.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// The type code of a leaf value; `None` for a list or a map.
    pub fn value_type(&self) -> Option<ValueType> {
        Some(match self {
            Value::Int(_) => ValueType::Int,
            Value::Float(_) => ValueType::Float,
            Value::Bool(_) => ValueType::Bool,
            Value::Str(_) => ValueType::Str,
            Value::Null => ValueType::Null,
            Value::Raw(_) => ValueType::Raw,
            Value::List(_) | Value::Map(_) => return None,
        })
    }

    /// The integer, if this is an `INT`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The number, if this is an `INT` or a `FLOAT`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// The string, if this is a `STR`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

fn read_value(col: &Column, index: u32) -> Option<Value> {
    Some(match col.value_type() {
        ValueType::Int => Value::Int(col.as_int()?.value(index)?),
        ValueType::Float => Value::Float(col.as_float()?.value(index)?),
        ValueType::Bool => Value::Bool(col.as_bool()?.value(index)?),
        ValueType::Str => {
            Value::Str(String::from_utf8_lossy(&col.as_str()?.value(index)?).into_owned())
        }
        ValueType::Null => Value::Null,
        ValueType::Raw => Value::Raw(col.as_raw()?.value(index)?),
    })
}

fn read_entries(c: &Container, entries: std::ops::Range<u32>) -> Value {
    let columns: Vec<Column> = ValueType::ALL
        .iter()
        .filter_map(|ty| c.values(*ty))
        .collect();
    let values = entries.clone().map(|entry| {
        columns
            .iter()
            .find_map(|col| read_value(col, col.index_of(entry)?))
            .unwrap_or(Value::Null)
    });
    match c.keys() {
        Some(keys) => Value::Map(
            entries
                .clone()
                .map(|entry| {
                    let key = keys.value(entry).unwrap_or_default();
                    String::from_utf8_lossy(&key).into_owned()
                })
                .zip(values)
                .collect(),
        ),
        None => Value::List(values.collect()),
    }
}
