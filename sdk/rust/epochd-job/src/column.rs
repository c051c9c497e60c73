//! Columns: the values of one (path, type) over a row space.

use std::iter::FusedIterator;
use std::marker::PhantomData;

use crate::buffer::{BlockBuf, BLOCK};
use crate::host;
use crate::ValueType;

/// One column of any type: which rows of its space hold a value of its type.
///
/// A column's *space* is the epoch's rows for a field of the events, or a
/// container's entries for a container's keys and values. Values are in row
/// order and rows ascend; value `i` of a [dense](Column::is_dense) column is
/// row `i`.
///
/// Get one with [`Epoch::column`](crate::Epoch::column) (or a typed getter
/// such as [`Epoch::int`](crate::Epoch::int)), then read its values through
/// the typed view that matches [`value_type`](Column::value_type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub(crate) handle: i32,
    pub(crate) ty: ValueType,
    pub(crate) len: u32,
    pub(crate) dense: bool,
}

impl Column {
    /// Wraps a handle the host returned.
    pub(crate) fn from_handle(handle: i32, ty: ValueType) -> Column {
        let len = host::expect("column_len", host::column_len(handle));
        let dense = host::expect("column_dense", host::column_dense(handle)) == 1;
        Column {
            handle,
            ty,
            len,
            dense,
        }
    }

    /// Looks a column up; `None` when the host has none.
    pub(crate) fn find(path: &str, ty: ValueType) -> Option<Column> {
        let h = host::column(path, ty.code());
        if h == host::NOT_FOUND {
            return None;
        }
        Some(Column::from_handle(host::expect("column", h) as i32, ty))
    }

    /// The type of the column's values.
    pub fn value_type(&self) -> ValueType {
        self.ty
    }

    /// The number of values (= rows holding the field with this type).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the column has no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every row of the column's space holds a value, so that value
    /// `i` is row `i`.
    pub fn is_dense(&self) -> bool {
        self.dense
    }

    /// The raw ABI handle, for calls through `epochd-job-sys`.
    pub fn handle(&self) -> i32 {
        self.handle
    }

    /// Copies the rows of values `start..` into `dst`; returns how many.
    pub(crate) fn fill_rows(&self, start: u32, dst: &mut [u32]) -> usize {
        let n = (self.len.saturating_sub(start) as usize).min(dst.len());
        if self.dense {
            for (i, row) in dst[..n].iter_mut().enumerate() {
                *row = start + i as u32;
            }
            n
        } else {
            (host::expect(
                "column_rows",
                host::column_rows(self.handle, start, &mut dst[..n]),
            ) as usize)
                .min(n)
        }
    }

    /// The row of value `index`, if there is such a value. One host call
    /// (none when dense).
    pub fn row_of(&self, index: u32) -> Option<u32> {
        if index >= self.len {
            return None;
        }
        let mut one = [0u32];
        (self.fill_rows(index, &mut one) == 1).then_some(one[0])
    }

    /// The index of the value at `row`, if the column holds one: a binary
    /// search, about log2(len) host calls (none when dense). To read many
    /// rows, scan the column instead.
    pub fn index_of(&self, row: u32) -> Option<u32> {
        let index = self.index_from(row);
        (self.row_of(index)? == row).then_some(index)
    }

    /// The index of the first value at `row` or after it (`len` when there
    /// is none): a binary search, about log2(len) host calls (none when
    /// dense). Where a block of rows starts in the column's values.
    pub fn index_from(&self, row: u32) -> u32 {
        if self.dense {
            return row.min(self.len);
        }
        let (mut lo, mut hi) = (0u32, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.row_of(mid) {
                Some(at) if at < row => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    /// Every row holding a value, ascending.
    pub fn rows(&self) -> Vec<u32> {
        let mut out = vec![0u32; self.len as usize];
        let mut start = 0usize;
        while start < out.len() {
            let end = (start + BLOCK).min(out.len());
            let n = self.fill_rows(start as u32, &mut out[start..end]);
            if n == 0 {
                out.truncate(start);
                break;
            }
            start += n;
        }
        out
    }

    /// The column as `INT` values, if that is its type.
    pub fn as_int(&self) -> Option<IntColumn> {
        ScalarColumn::new(*self)
    }

    /// The column as `FLOAT` values, if that is its type.
    pub fn as_float(&self) -> Option<FloatColumn> {
        ScalarColumn::new(*self)
    }

    /// The column as `BOOL` values, if that is its type.
    pub fn as_bool(&self) -> Option<BoolColumn> {
        ScalarColumn::new(*self)
    }

    /// The column as strings, if that is its type.
    pub fn as_str(&self) -> Option<crate::StrColumn> {
        (self.ty == ValueType::Str).then(|| crate::StrColumn::new(*self))
    }

    /// The column as MessagePack values, if that is its type.
    pub fn as_raw(&self) -> Option<RawColumn> {
        (self.ty == ValueType::Raw).then_some(RawColumn { col: *self })
    }
}

pub(crate) mod sealed {
    use crate::buffer::{BlockBuf, Pod};

    /// Where a scan keeps one block of values.
    pub struct Scratch {
        pub(crate) block: BlockBuf,
        pub(crate) bools: Vec<bool>,
    }

    impl Scratch {
        pub(crate) fn new<W: Pod>() -> Scratch {
            Scratch {
                block: BlockBuf::new::<W>(),
                bools: Vec::new(),
            }
        }
    }

    /// A value the SDK can copy from the host in blocks.
    pub trait Fetch: Copy + 'static {
        /// A buffer for one block.
        fn scratch() -> Scratch;
        /// Copies values `start..` into the buffer; returns how many.
        fn fetch(h: i32, start: u32, buf: &mut Scratch) -> usize;
        /// The first `n` values the last `fetch` copied.
        fn view(buf: &Scratch, n: usize) -> &[Self];
        /// Value `index` alone.
        fn fetch_one(h: i32, index: u32) -> Option<Self>;
    }
}

use sealed::{Fetch, Scratch};

/// A value type with a column of fixed-size values: `i64` (`INT`), `f64`
/// (`FLOAT`) and `bool` (`BOOL`).
pub trait Scalar: Fetch {
    /// The column type holding values of this Rust type.
    const TYPE: ValueType;
}

impl Scalar for i64 {
    const TYPE: ValueType = ValueType::Int;
}
impl Scalar for f64 {
    const TYPE: ValueType = ValueType::Float;
}
impl Scalar for bool {
    const TYPE: ValueType = ValueType::Bool;
}

fn count(call: &str, code: i32, cap: usize) -> usize {
    (host::expect(call, code) as usize).min(cap)
}

impl Fetch for i64 {
    fn scratch() -> Scratch {
        Scratch::new::<i64>()
    }
    fn fetch(h: i32, start: u32, buf: &mut Scratch) -> usize {
        let dst = buf.block.slice_mut::<i64>();
        count("column_i64", host::column_i64(h, start, dst), BLOCK)
    }
    fn view(buf: &Scratch, n: usize) -> &[i64] {
        buf.block.slice(n)
    }
    fn fetch_one(h: i32, index: u32) -> Option<i64> {
        let mut one = [0i64];
        (count("column_i64", host::column_i64(h, index, &mut one), 1) == 1).then_some(one[0])
    }
}

impl Fetch for f64 {
    fn scratch() -> Scratch {
        Scratch::new::<f64>()
    }
    fn fetch(h: i32, start: u32, buf: &mut Scratch) -> usize {
        let dst = buf.block.slice_mut::<f64>();
        count("column_f64", host::column_f64(h, start, dst), BLOCK)
    }
    fn view(buf: &Scratch, n: usize) -> &[f64] {
        buf.block.slice(n)
    }
    fn fetch_one(h: i32, index: u32) -> Option<f64> {
        let mut one = [0f64];
        (count("column_f64", host::column_f64(h, index, &mut one), 1) == 1).then_some(one[0])
    }
}

impl Fetch for bool {
    fn scratch() -> Scratch {
        Scratch::new::<u8>()
    }
    fn fetch(h: i32, start: u32, buf: &mut Scratch) -> usize {
        let dst = buf.block.slice_mut::<u8>();
        let n = count("column_u8", host::column_u8(h, start, dst), BLOCK);
        buf.bools.clear();
        buf.bools.extend(dst[..n].iter().map(|b| *b != 0));
        n
    }
    fn view(buf: &Scratch, n: usize) -> &[bool] {
        &buf.bools[..n.min(buf.bools.len())]
    }
    fn fetch_one(h: i32, index: u32) -> Option<bool> {
        let mut one = [0u8];
        (count("column_u8", host::column_u8(h, index, &mut one), 1) == 1).then_some(one[0] != 0)
    }
}

/// Dictionary ids of a string column.
impl Fetch for u32 {
    fn scratch() -> Scratch {
        Scratch::new::<u32>()
    }
    fn fetch(h: i32, start: u32, buf: &mut Scratch) -> usize {
        let dst = buf.block.slice_mut::<u32>();
        count("column_ids", host::column_ids(h, start, dst), BLOCK)
    }
    fn view(buf: &Scratch, n: usize) -> &[u32] {
        buf.block.slice(n)
    }
    fn fetch_one(h: i32, index: u32) -> Option<u32> {
        let mut one = [0u32];
        (count("column_ids", host::column_ids(h, index, &mut one), 1) == 1).then_some(one[0])
    }
}

/// One block of a scan: up to [`BLOCK`] consecutive values and their rows.
#[derive(Clone, Copy, Debug)]
pub struct Block<'a, T> {
    /// The index of the block's first value in the column.
    pub first: u32,
    /// The rows of the values (`rows[i]` holds `values[i]`), ascending.
    pub rows: &'a [u32],
    /// The values.
    pub values: &'a [T],
}

/// Scans `col` block by block.
pub(crate) fn for_each_block<T: Fetch>(col: &Column, mut f: impl FnMut(Block<'_, T>)) {
    let mut values = T::scratch();
    let mut rows = BlockBuf::new::<u32>();
    let mut start = 0u32;
    while start < col.len {
        let n = T::fetch(col.handle, start, &mut values);
        if n == 0 {
            break;
        }
        let r = col.fill_rows(start, &mut rows.slice_mut::<u32>()[..n]);
        let n = n.min(r);
        f(Block {
            first: start,
            rows: rows.slice(n),
            values: T::view(&values, n),
        });
        start += n as u32;
    }
}

/// The values of an `INT` column.
pub type IntColumn = ScalarColumn<i64>;
/// The values of a `FLOAT` column.
pub type FloatColumn = ScalarColumn<f64>;
/// The values of a `BOOL` column.
pub type BoolColumn = ScalarColumn<bool>;

/// A column of fixed-size values ([`IntColumn`], [`FloatColumn`],
/// [`BoolColumn`]), read in blocks of [`BLOCK`] values.
///
/// Scanning is the fast path: [`iter`](Self::iter) yields `(row, value)`,
/// [`values`](Self::values) the values alone, and
/// [`for_each_block`](Self::for_each_block) hands over whole blocks as
/// slices. Each makes one host call per block (two when the column is not
/// dense), whatever the column's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalarColumn<T> {
    col: Column,
    _t: PhantomData<fn() -> T>,
}

impl<T: Scalar> ScalarColumn<T> {
    pub(crate) fn new(col: Column) -> Option<ScalarColumn<T>> {
        (col.ty == T::TYPE).then_some(ScalarColumn {
            col,
            _t: PhantomData,
        })
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

    /// Every `(row, value)`, in row order.
    pub fn iter(&self) -> Iter<T> {
        Iter::new(self.col, true)
    }

    /// Every value, in row order, without their rows (one host call per
    /// block fewer on a sparse column).
    pub fn values(&self) -> Values<T> {
        Values(Iter::new(self.col, false))
    }

    /// Calls `f` with each block of up to [`BLOCK`] values and their rows:
    /// the fastest scan, for loops the compiler can vectorize.
    pub fn for_each_block(&self, f: impl FnMut(Block<'_, T>)) {
        for_each_block(&self.col, f)
    }

    /// Every value, in row order.
    pub fn to_vec(&self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.col.len as usize);
        self.for_each_block(|b| out.extend_from_slice(b.values));
        out
    }

    /// Value `index` (not row: see [`get`](Self::get)).
    pub fn value(&self, index: u32) -> Option<T> {
        if index >= self.col.len {
            return None;
        }
        T::fetch_one(self.col.handle, index)
    }

    /// The value at `row`, if the column holds one: see
    /// [`Column::index_of`] for the cost.
    pub fn get(&self, row: u32) -> Option<T> {
        self.value(self.col.index_of(row)?)
    }
}

impl<T: Scalar> IntoIterator for &ScalarColumn<T> {
    type Item = (u32, T);
    type IntoIter = Iter<T>;
    fn into_iter(self) -> Iter<T> {
        self.iter()
    }
}

/// An iterator of `(row, value)` over a column, one block at a time.
pub struct Iter<T: Fetch> {
    col: Column,
    /// Index of the next block to fetch.
    next: u32,
    /// Index of `values[0]`.
    base: u32,
    pos: usize,
    n: usize,
    values: Scratch,
    /// Row numbers of the block; `None` when dense or not wanted.
    rows: Option<BlockBuf>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Fetch> Iter<T> {
    pub(crate) fn new(col: Column, with_rows: bool) -> Iter<T> {
        Iter {
            col,
            next: 0,
            base: 0,
            pos: 0,
            n: 0,
            values: T::scratch(),
            rows: (with_rows && !col.dense).then(BlockBuf::new::<u32>),
            _t: PhantomData,
        }
    }

    fn refill(&mut self) -> bool {
        if self.next >= self.col.len {
            return false;
        }
        let mut n = T::fetch(self.col.handle, self.next, &mut self.values);
        if let Some(rows) = &mut self.rows {
            n = n.min(
                self.col
                    .fill_rows(self.next, &mut rows.slice_mut::<u32>()[..n]),
            );
        }
        if n == 0 {
            self.next = self.col.len;
            return false;
        }
        self.base = self.next;
        self.next += n as u32;
        self.pos = 0;
        self.n = n;
        true
    }
}

impl<T: Fetch> Iterator for Iter<T> {
    type Item = (u32, T);

    #[inline]
    fn next(&mut self) -> Option<(u32, T)> {
        if self.pos == self.n && !self.refill() {
            return None;
        }
        let i = self.pos;
        self.pos += 1;
        let row = match &self.rows {
            Some(rows) => rows.slice::<u32>(self.n)[i],
            None => self.base + i as u32,
        };
        Some((row, T::view(&self.values, self.n)[i]))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.col.len - self.next) as usize + (self.n - self.pos);
        (left, Some(left))
    }
}

impl<T: Fetch> ExactSizeIterator for Iter<T> {}
impl<T: Fetch> FusedIterator for Iter<T> {}

/// An iterator of the values of a column, one block at a time.
pub struct Values<T: Fetch>(Iter<T>);

impl<T: Fetch> Iterator for Values<T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.0.next().map(|(_, v)| v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<T: Fetch> ExactSizeIterator for Values<T> {}
impl<T: Fetch> FusedIterator for Values<T> {}

/// Reads value `index` of a `STR` or `RAW` column as bytes into `buf`.
pub(crate) fn read_bytes(handle: i32, index: u32, buf: &mut Vec<u8>) {
    if let Err(code) = host::read_var(buf, |dst| host::column_bytes(handle, index, dst)) {
        host::expect("column_bytes", code);
    }
}

/// Calls `f(row, bytes)` for every value of a `STR` or `RAW` column, one
/// host call per value (plus one per block of rows).
pub(crate) fn for_each_bytes(col: &Column, mut f: impl FnMut(u32, &[u8])) {
    let mut rows = BlockBuf::new::<u32>();
    let mut buf = Vec::new();
    let mut start = 0u32;
    while start < col.len {
        let n = col.fill_rows(start, rows.slice_mut::<u32>());
        if n == 0 {
            break;
        }
        for (i, row) in rows.slice::<u32>(n).iter().enumerate() {
            read_bytes(col.handle, start + i as u32, &mut buf);
            f(*row, &buf);
        }
        start += n as u32;
    }
}

/// The values of a `RAW` column: one MessagePack value each (maps or arrays
/// inside arrays or map entries, binary values, integers above 2^63 - 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawColumn {
    col: Column,
}

impl RawColumn {
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

    /// The MessagePack bytes of value `index`.
    pub fn value(&self, index: u32) -> Option<Vec<u8>> {
        if index >= self.col.len {
            return None;
        }
        let mut buf = Vec::new();
        read_bytes(self.col.handle, index, &mut buf);
        Some(buf)
    }

    /// The MessagePack bytes of the value at `row`, if any: see
    /// [`Column::index_of`] for the cost.
    pub fn get(&self, row: u32) -> Option<Vec<u8>> {
        self.value(self.col.index_of(row)?)
    }

    /// Calls `f(row, bytes)` for every value, in row order (one host call
    /// per value).
    pub fn for_each(&self, f: impl FnMut(u32, &[u8])) {
        for_each_bytes(&self.col, f)
    }
}
