//! A string field's ids by row, read one window of rows at a time.

use std::collections::HashMap;

use crate::buffer::BLOCK;
use crate::column::read_bytes;
use crate::host;
use crate::strings::{Dictionary, RowStrings, StrColumn};

/// The string ids of a field's rows, read a window of rows at a time: what
/// [`RowStrings`] holds for the whole epoch, without its `4 * rows` bytes,
/// so that several fields (and numeric columns) can be read side by side
/// in blocks of rows that stay in the cache. Made by
/// [`Epoch::row_ids`](crate::Epoch::row_ids).
///
/// With a dictionary, ids are the dictionary's and
/// [`strings`](Self::strings) holds every string from the start. Without
/// one (mostly distinct strings), strings are interned as the windows meet
/// them, in order of first appearance, so a string keeps its id across
/// windows; [`strings`](Self::strings) then holds those met so far.
///
/// Costs, per window: a dense dictionary-coded field (the usual `type`,
/// `subtype`, `dc`) is one host copy straight into the window; a sparse one
/// a binary search for the window's first value (about log2(values) host
/// calls) and the rows and ids of its values; a field without a dictionary
/// one host call per value.
#[derive(Debug)]
pub struct RowIds {
    col: Option<StrColumn>,
    strings: Dictionary,
    /// With a dictionary: its size.
    dictionary_len: Option<u32>,
    /// Without one: the id of each string met so far.
    interned: HashMap<Vec<u8>, u32>,
    /// The last window [`get`](Self::get) read: the ids of rows
    /// `window_first ..`.
    window: Vec<u32>,
    window_first: u32,
    /// Scratch: the rows and ids of a block of values, and one value's bytes.
    rows: Vec<u32>,
    ids: Vec<u32>,
    bytes: Vec<u8>,
}

impl RowIds {
    /// The ids of `col`'s rows; every row none when there is no column.
    pub fn new(col: Option<StrColumn>) -> RowIds {
        let dictionary = col.as_ref().and_then(StrColumn::dictionary);
        RowIds {
            dictionary_len: match (&col, &dictionary) {
                (Some(_), Some(d)) => Some(d.len()),
                (Some(_), None) => None,
                (None, _) => Some(0),
            },
            strings: dictionary.unwrap_or_default(),
            col,
            interned: HashMap::new(),
            window: Vec::new(),
            window_first: 0,
            rows: Vec::new(),
            ids: Vec::new(),
            bytes: Vec::new(),
        }
    }

    /// The number of strings when every id is known before any read: the
    /// size of the dictionary (0 without a column), `None` without one.
    /// Ids are below it, so a job can size a table by it.
    pub fn dictionary_len(&self) -> Option<u32> {
        self.dictionary_len
    }

    /// The strings behind the ids (see [the type's docs](Self) for which).
    pub fn strings(&self) -> &Dictionary {
        &self.strings
    }

    /// The strings behind the ids, by value.
    pub fn into_strings(self) -> Dictionary {
        self.strings
    }

    /// Writes the id of each row `first_row .. first_row + out.len()` into
    /// `out`: [`RowStrings::NONE`] where the row holds no string (or is past
    /// the epoch's rows).
    pub fn read(&mut self, first_row: u32, out: &mut [u32]) {
        let Some(col) = self.col else {
            out.fill(RowStrings::NONE);
            return;
        };
        let (h, len) = (col.column().handle(), col.len());
        if self.dictionary_len.is_some() && col.is_dense() {
            // Value `i` is row `i`: the ids are by row already.
            let copied = if first_row < len {
                host::expect("column_ids", host::column_ids(h, first_row, out)) as usize
            } else {
                0
            };
            let n = copied.min(out.len());
            out[n..].fill(RowStrings::NONE);
            return;
        }
        out.fill(RowStrings::NONE);
        let end = u64::from(first_row) + out.len() as u64;
        let block = out.len().clamp(1, BLOCK);
        self.rows.resize(block, 0);
        self.ids.resize(block, 0);
        let mut index = col.column().index_from(first_row);
        while index < len {
            let mut n = block;
            if self.dictionary_len.is_some() {
                let fetched = host::column_ids(h, index, &mut self.ids[..block]);
                n = host::expect("column_ids", fetched) as usize;
            }
            let n = col
                .column()
                .fill_rows(index, &mut self.rows[..n.min(block)]);
            if n == 0 {
                break;
            }
            for i in 0..n {
                let row = self.rows[i];
                if u64::from(row) >= end {
                    return;
                }
                let id = match self.dictionary_len {
                    Some(_) => self.ids[i],
                    None => self.intern(h, index + i as u32),
                };
                out[(row - first_row) as usize] = id;
            }
            index += n as u32;
        }
    }

    /// The id of the string at `row`, if it holds one. Reads a window of
    /// [`BLOCK`] rows from `row` when `row` is not in the last one read, so
    /// rows visited in ascending order (another column's rows, say) cost
    /// one [`read`](Self::read) per window.
    #[inline]
    pub fn get(&mut self, row: u32) -> Option<u32> {
        let at = row.wrapping_sub(self.window_first) as usize;
        let id = match self.window.get(at) {
            Some(id) => *id,
            None => self.read_window(row),
        };
        (id != RowStrings::NONE).then_some(id)
    }

    /// Reads the window of rows from `row`; returns `row`'s id.
    #[cold]
    fn read_window(&mut self, row: u32) -> u32 {
        let mut window = std::mem::take(&mut self.window);
        window.resize(BLOCK, RowStrings::NONE);
        self.read(row, &mut window);
        self.window = window;
        self.window_first = row;
        self.window[0]
    }

    /// The id of value `index`'s string, interning it if it is new.
    fn intern(&mut self, h: i32, index: u32) -> u32 {
        read_bytes(h, index, &mut self.bytes);
        if let Some(id) = self.interned.get(&self.bytes) {
            return *id;
        }
        let id = self.strings.len();
        self.strings.push(&self.bytes);
        self.interned.insert(self.bytes.clone(), id);
        id
    }
}
