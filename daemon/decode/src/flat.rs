//! A FlatBuffer writer that lays a buffer out front to back, straight into
//! its final memory.
//!
//! The `flatbuffers` builder writes back to front into a growing heap buffer
//! that must then be copied out, and it takes each vector as one slice, so a
//! column made of several chunks' parts would first be concatenated. The
//! epoch is tens of megabytes, and those two copies (plus the copy into the
//! memfd) were a quarter of a decode. This writer instead runs twice over
//! the same code: once measuring ([`Out::measure`]), once writing into
//! memory of exactly that size ([`Out::write_into`]), each vector filled in
//! place from its parts.
//!
//! Layout rules kept (those the `flatbuffers` verifier and readers rely on):
//! every table starts 8-aligned and is preceded by its own vtable; a
//! vector's length prefix is 4-aligned and its elements aligned to their
//! size; strings end with a NUL; every offset points forward, so a table is
//! written before the strings, vectors and tables it refers to, and its
//! offset fields are patched once those are placed. Every byte is written,
//! padding included, so the memory can be reused without clearing it.

use flatbuffers::VOffsetT;

/// Where the next bytes go, and the memory they go into (none while
/// measuring).
pub(crate) struct Out<'b> {
    buf: Option<&'b mut [u8]>,
    pos: usize,
}

/// A table field: its vtable slot (the generated `VT_*` constant) and its
/// size in bytes (1, 2, 4 or 8; offsets to strings, vectors and tables
/// are 4).
#[derive(Clone, Copy)]
pub(crate) struct Field {
    pub slot: VOffsetT,
    pub size: usize,
}

/// Fields per table, at most (the schema's largest table has 10).
const MAX_FIELDS: usize = 12;

/// A placed table: the absolute position of each field, in the order they
/// were given to [`Out::table`].
pub(crate) struct Table {
    at: [usize; MAX_FIELDS],
}

impl Table {
    /// The position of the `i`-th field.
    pub fn field(&self, i: usize) -> usize {
        self.at[i]
    }
}

impl Out<'static> {
    /// A pass that only measures: the same calls, no bytes written.
    pub fn measure() -> Out<'static> {
        Out { buf: None, pos: 0 }
    }
}

impl<'b> Out<'b> {
    /// A pass that writes into `buf`: exactly as long as the measuring pass
    /// ended, 8-aligned in memory; what it held before is overwritten.
    pub fn write_into(buf: &'b mut [u8]) -> Out<'b> {
        debug_assert_eq!(buf.as_ptr() as usize % 8, 0, "the buffer is 8-aligned");
        Out {
            buf: Some(buf),
            pos: 0,
        }
    }

    /// Bytes laid out so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// Pads with zeroes so that `pos + ahead` is a multiple of `align`.
    fn align(&mut self, align: usize, ahead: usize) {
        let misalign = (self.pos + ahead) % align;
        if misalign != 0 {
            if let Some(pad) = self.take(align - misalign) {
                pad.fill(0);
            }
        }
    }

    /// Takes the next `n` bytes: the memory to fill, or `None` while
    /// measuring.
    fn take(&mut self, n: usize) -> Option<&mut [u8]> {
        let start = self.pos;
        self.pos += n;
        self.buf.as_deref_mut().map(|b| &mut b[start..start + n])
    }

    /// Writes `bytes` at an already laid-out position.
    fn put_at(&mut self, at: usize, bytes: &[u8]) {
        if let Some(b) = self.buf.as_deref_mut() {
            b[at..at + bytes.len()].copy_from_slice(bytes);
        }
    }

    /// Sets the scalar field at `at` (from [`Table::field`]).
    pub fn scalar_at<const N: usize>(&mut self, at: usize, le_bytes: [u8; N]) {
        self.put_at(at, &le_bytes);
    }

    /// Points the offset field at `at` to `target`, which lies after it.
    pub fn offset_at(&mut self, at: usize, target: usize) {
        debug_assert!(target > at, "offsets point forward");
        self.put_at(at, &((target - at) as u32).to_le_bytes());
    }

    /// The buffer's header: the offset to the root table (patched by
    /// [`Out::root`]) and the 4-byte file identifier.
    pub fn header(&mut self, identifier: &str) {
        debug_assert_eq!(self.pos, 0, "the header comes first");
        debug_assert_eq!(identifier.len(), 4, "file identifiers are 4 bytes");
        self.pos = 4;
        if let Some(dst) = self.take(4) {
            dst.copy_from_slice(identifier.as_bytes());
        }
    }

    /// Points the header at the root table.
    pub fn root(&mut self, table: usize) {
        self.offset_at(0, table);
    }

    /// Lays out a table with these fields: its vtable, then the table, 8-aligned.
    /// Returns where the table starts and where each field is; the fields
    /// are then set with [`Out::scalar_at`] / [`Out::offset_at`].
    pub fn table(&mut self, fields: &[Field]) -> (usize, Table) {
        assert!(
            fields.len() <= MAX_FIELDS,
            "a table of the schema has at most {MAX_FIELDS} fields"
        );
        // Fields placed largest first after the 4-byte vtable offset, each
        // aligned to its size (the table itself is 8-aligned).
        let mut at = [0usize; MAX_FIELDS];
        let mut end: usize = 4;
        for size in [8, 4, 2, 1] {
            for (i, f) in fields.iter().enumerate() {
                if f.size == size {
                    end = end.next_multiple_of(size);
                    at[i] = end;
                    end += size;
                }
            }
        }
        let table_len = end.next_multiple_of(4);
        let slots = fields
            .iter()
            .map(|f| usize::from(f.slot) / 2 - 1)
            .max()
            .map_or(0, |s| s + 1);
        let vtable_len = 4 + 2 * slots;

        self.align(2, 0);
        let vtable = self.pos;
        let mut entries = [0u16; MAX_FIELDS + 2];
        entries[0] = vtable_len as u16;
        entries[1] = table_len as u16;
        for (i, f) in fields.iter().enumerate() {
            entries[usize::from(f.slot) / 2] = at[i] as u16;
        }
        if let Some(dst) = self.take(vtable_len) {
            for (d, e) in dst.chunks_exact_mut(2).zip(&entries) {
                d.copy_from_slice(&e.to_le_bytes());
            }
        }
        self.align(8, 0);
        let table = self.pos;
        if let Some(dst) = self.take(table_len) {
            // Fields are set later; the padding between them stays zero.
            dst.fill(0);
            dst[..4].copy_from_slice(&((table - vtable) as i32).to_le_bytes());
        }
        for a in at.iter_mut().take(fields.len()) {
            *a += table;
        }
        (table, Table { at })
    }

    /// A string; returns its position.
    pub fn string(&mut self, s: &str) -> usize {
        self.align(4, 0);
        let at = self.pos;
        if let Some(dst) = self.take(4 + s.len() + 1) {
            dst[..4].copy_from_slice(&(s.len() as u32).to_le_bytes());
            dst[4..4 + s.len()].copy_from_slice(s.as_bytes());
            dst[4 + s.len()] = 0;
        }
        at
    }

    /// A vector of `count` elements of `width` bytes, filled by `fill` with
    /// the elements' little-endian bytes, every one of them (not called
    /// while measuring).
    /// Returns its position.
    pub fn vector(&mut self, count: usize, width: usize, fill: impl FnOnce(&mut [u8])) -> usize {
        self.align(width.max(4), 4);
        let at = self.pos;
        if let Some(dst) = self.take(4 + count * width) {
            let (len, elems) = dst.split_at_mut(4);
            len.copy_from_slice(&(count as u32).to_le_bytes());
            fill(elems);
        }
        at
    }

    /// A vector of `count` offsets to tables laid out after it; returns its
    /// position. Element `i` is at `position + 4 + 4 * i` (see
    /// [`Out::offset_at`]).
    pub fn offsets(&mut self, count: usize) -> usize {
        // Zeroes until patched: a table that is never placed would fail
        // verification instead of pointing at stale bytes.
        self.vector(count, 4, |dst| dst.fill(0))
    }
}

/// Fills `dst` with `values`' little-endian bytes, `width` bytes each.
/// (On little-endian machines this compiles to a copy.)
#[inline]
pub(crate) fn fill_le<T: Copy, const W: usize>(
    dst: &mut [u8],
    values: impl IntoIterator<Item = T>,
    le: impl Fn(T) -> [u8; W],
) -> usize {
    let mut n = 0;
    for (d, v) in dst.chunks_exact_mut(W).zip(values) {
        d.copy_from_slice(&le(v));
        n += 1;
    }
    n * W
}
