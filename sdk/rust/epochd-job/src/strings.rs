//! String columns: dictionary ids, or bytes one value at a time.

use std::borrow::Cow;

use crate::column::{for_each_block, for_each_bytes, read_bytes, Block, Column, Iter};
use crate::host;
use crate::row_ids::RowIds;

/// The values of a `STR` column.
///
/// Strings that repeat are dictionary-coded: each value is an id into the
/// column's [`Dictionary`], and equal strings have equal ids within the
/// epoch, so a job can group by id and look each string up once. Mostly
/// distinct strings (ids, URLs) have no dictionary and are read as bytes,
/// one value at a time. [`by_row`](Self::by_row) and
/// [`for_each`](Self::for_each) work on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrColumn {
    col: Column,
    dict_len: Option<u32>,
}

impl StrColumn {
    pub(crate) fn new(col: Column) -> StrColumn {
        let code = host::dict_len(col.handle);
        let dict_len = if code == host::WRONG_TYPE {
            None
        } else {
            Some(host::expect("dict_len", code))
        };
        StrColumn { col, dict_len }
    }

    /// The untyped column: rows, density, lookups.
    pub fn column(&self) -> &Column {
        &self.col
    }

    /// The number of values.
    pub fn len(&self) -> u32 {
        self.col.len
    }

    /// Whether the column has no values.
    pub fn is_empty(&self) -> bool {
        self.col.len == 0
    }

    /// Whether every row of the space holds a value.
    pub fn is_dense(&self) -> bool {
        self.col.dense
    }

    /// Whether the values are dictionary ids.
    pub fn has_dictionary(&self) -> bool {
        self.dict_len.is_some()
    }

    /// The number of distinct strings of the dictionary, if there is one.
    pub fn dictionary_len(&self) -> Option<u32> {
        self.dict_len
    }

    /// The string of dictionary id `id`, if there is a dictionary and such
    /// an id.
    pub fn dict_entry(&self, id: u32) -> Option<Vec<u8>> {
        if id >= self.dict_len? {
            return None;
        }
        let mut buf = Vec::new();
        if let Err(code) =
            host::read_var(&mut buf, |dst| host::dict_entry(self.col.handle, id, dst))
        {
            host::expect("dict_entry", code);
        }
        Some(buf)
    }

    /// The whole dictionary (one host call per entry), if there is one.
    pub fn dictionary(&self) -> Option<Dictionary> {
        let len = self.dict_len?;
        let mut dict = Dictionary::default();
        let mut buf = Vec::new();
        for id in 0..len {
            if let Err(code) =
                host::read_var(&mut buf, |dst| host::dict_entry(self.col.handle, id, dst))
            {
                host::expect("dict_entry", code);
            }
            dict.push(&buf);
        }
        Some(dict)
    }

    /// Every `(row, dictionary id)`, if the column has a dictionary.
    pub fn ids(&self) -> Option<Iter<u32>> {
        self.dict_len.map(|_| Iter::new(self.col, true))
    }

    /// Calls `f` with each block of up to [`BLOCK`](crate::BLOCK) dictionary
    /// ids and their rows; `false` (and no call) without a dictionary.
    pub fn for_each_ids_block(&self, f: impl FnMut(Block<'_, u32>)) -> bool {
        if self.dict_len.is_none() {
            return false;
        }
        for_each_block(&self.col, f);
        true
    }

    /// The bytes of value `index` (not row: see [`get`](Self::get)).
    pub fn value(&self, index: u32) -> Option<Vec<u8>> {
        if index >= self.col.len {
            return None;
        }
        if self.dict_len.is_some() {
            let id = <u32 as crate::column::sealed::Fetch>::fetch_one(self.col.handle, index)?;
            return self.dict_entry(id);
        }
        let mut buf = Vec::new();
        read_bytes(self.col.handle, index, &mut buf);
        Some(buf)
    }

    /// The bytes of the value at `row`, if the column holds one: see
    /// [`Column::index_of`] for the cost.
    pub fn get(&self, row: u32) -> Option<Vec<u8>> {
        self.value(self.col.index_of(row)?)
    }

    /// Calls `f(row, bytes)` for every value, in row order: by dictionary id
    /// (one host call per block and per distinct string) or, without a
    /// dictionary, one host call per value.
    pub fn for_each(&self, mut f: impl FnMut(u32, &[u8])) {
        match self.dictionary() {
            Some(dict) => for_each_block::<u32>(&self.col, |b| {
                for (row, id) in b.rows.iter().zip(b.values) {
                    f(*row, dict.get(*id).unwrap_or_default());
                }
            }),
            None => for_each_bytes(&self.col, f),
        }
    }

    /// For every row of the column's space, a small id of its string (or
    /// none): the way to group or join by a string field.
    ///
    /// `space` is the number of rows of the column's space:
    /// [`Epoch::rows`](crate::Epoch::rows) for a field of the events,
    /// [`Container::entries`](crate::Container::entries) for a container's
    /// keys or values. With a dictionary the ids are the dictionary's;
    /// without one the strings are interned in order of first appearance.
    /// Costs `4 * space` bytes.
    pub fn by_row(&self, space: u32) -> RowStrings {
        let mut ids = vec![RowStrings::NONE; space as usize];
        let mut reader = RowIds::new(Some(*self));
        reader.read(0, &mut ids);
        RowStrings {
            ids,
            strings: reader.into_strings(),
        }
    }
}

/// The distinct strings of a column, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dictionary {
    bytes: Vec<u8>,
    /// `len + 1` offsets into `bytes`.
    offsets: Vec<u32>,
}

impl Dictionary {
    pub(crate) fn push(&mut self, s: &[u8]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.bytes.extend_from_slice(s);
        self.offsets.push(self.bytes.len() as u32);
    }

    /// The number of strings.
    pub fn len(&self) -> u32 {
        self.offsets.len().saturating_sub(1) as u32
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of string `id`.
    pub fn get(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        let (start, end) = (*self.offsets.get(i)?, *self.offsets.get(i + 1)?);
        self.bytes.get(start as usize..end as usize)
    }

    /// String `id` as text (invalid UTF-8 replaced by U+FFFD).
    pub fn get_str(&self, id: u32) -> Option<Cow<'_, str>> {
        self.get(id).map(String::from_utf8_lossy)
    }

    /// The id of a string, if it is in the dictionary (a linear search:
    /// look up the few strings a job compares with once, then compare ids).
    pub fn find(&self, s: impl AsRef<[u8]>) -> Option<u32> {
        let s = s.as_ref();
        (0..self.len()).find(|id| self.get(*id) == Some(s))
    }

    /// Every `(id, bytes)`.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u8])> + '_ {
        (0..self.len()).map(|id| (id, self.get(id).unwrap_or_default()))
    }
}

/// A string column spread over its rows: for each row, the id of its string
/// in [`strings`](Self::strings), or none. Made by [`StrColumn::by_row`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowStrings {
    ids: Vec<u32>,
    strings: Dictionary,
}

impl RowStrings {
    /// The id of a row without a string, in [`ids`](Self::ids).
    pub const NONE: u32 = u32::MAX;

    /// An empty mapping over `space` rows: for a field no event has.
    pub fn empty(space: u32) -> RowStrings {
        RowStrings {
            ids: vec![RowStrings::NONE; space as usize],
            strings: Dictionary::default(),
        }
    }

    /// The id of the string at `row`, if the row has one.
    #[inline]
    pub fn id(&self, row: u32) -> Option<u32> {
        self.ids
            .get(row as usize)
            .copied()
            .filter(|id| *id != RowStrings::NONE)
    }

    /// The bytes of the string at `row`, if the row has one.
    pub fn get(&self, row: u32) -> Option<&[u8]> {
        self.strings.get(self.id(row)?)
    }

    /// Every row's id ([`NONE`](Self::NONE) where there is no string).
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The strings, by id.
    pub fn strings(&self) -> &Dictionary {
        &self.strings
    }

    /// The id of a string, if any row has it (or, with a dictionary, if the
    /// dictionary has it).
    pub fn find(&self, s: impl AsRef<[u8]>) -> Option<u32> {
        self.strings.find(s)
    }
}
