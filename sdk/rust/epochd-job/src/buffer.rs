//! Page-aligned buffers the host copies blocks of values into.

use std::mem::size_of;

/// How many values one host call copies when the SDK scans a column: the
/// block size ABI v1 recommends. Scans hold one block of values (64 KiB for
/// 8-byte values) and one of row numbers (32 KiB), whatever the column's
/// length.
pub const BLOCK: usize = 8192;

const PAGE: usize = 4096;

/// One 4 KiB page: the unit of the buffers, so they are 4 KiB-aligned
/// (ABI v1: "a buffer aligned to 8 bytes (4 KiB is best)").
#[repr(C, align(4096))]
#[derive(Clone, Copy)]
struct Page([u8; PAGE]);

/// A value type any bit pattern of which is valid, so the host may write
/// into a buffer viewed as a slice of it.
///
/// # Safety
/// Implementors must be plain old data: no padding, no invalid bit
/// patterns, alignment at most 4096.
pub(crate) unsafe trait Pod: Copy + 'static {}

// SAFETY: every bit pattern is a valid u8; alignment 1.
unsafe impl Pod for u8 {}
// SAFETY: every bit pattern is a valid u32; alignment 4.
unsafe impl Pod for u32 {}
// SAFETY: every bit pattern is a valid i64; alignment 8.
unsafe impl Pod for i64 {}
// SAFETY: every bit pattern is a valid f64 (some are NaNs); alignment 8.
unsafe impl Pod for f64 {}

/// A zeroed, page-aligned buffer of [`BLOCK`] values of up to 8 bytes.
pub(crate) struct BlockBuf {
    pages: Box<[Page]>,
}

impl BlockBuf {
    /// A buffer for [`BLOCK`] values of `T`.
    pub(crate) fn new<T: Pod>() -> BlockBuf {
        let bytes = BLOCK * size_of::<T>();
        BlockBuf {
            pages: vec![Page([0; PAGE]); bytes.div_ceil(PAGE)].into_boxed_slice(),
        }
    }

    fn capacity<T: Pod>(&self) -> usize {
        (self.pages.len() * PAGE / size_of::<T>()).min(BLOCK)
    }

    /// The whole buffer as [`BLOCK`] (or fewer, if it was made for a smaller
    /// type) values of `T`, for the host to write into.
    pub(crate) fn slice_mut<T: Pod>(&mut self) -> &mut [T] {
        let len = self.capacity::<T>();
        // SAFETY: the pages are one allocation of `pages.len() * PAGE`
        // initialized bytes, aligned to 4096 >= align_of::<T>(); `len`
        // values of `T` fit in it; `T: Pod` makes every byte pattern a valid
        // `T`; the returned borrow is tied to `&mut self`, so it is unique.
        unsafe { std::slice::from_raw_parts_mut(self.pages.as_mut_ptr().cast::<T>(), len) }
    }

    /// The first `n` values of `T`.
    pub(crate) fn slice<T: Pod>(&self, n: usize) -> &[T] {
        let len = n.min(self.capacity::<T>());
        // SAFETY: as in `slice_mut`, for a shared borrow of `len` values.
        unsafe { std::slice::from_raw_parts(self.pages.as_ptr().cast::<T>(), len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_sized() {
        let mut b = BlockBuf::new::<i64>();
        assert_eq!(b.slice_mut::<i64>().len(), BLOCK);
        assert_eq!(b.slice_mut::<u32>().len(), BLOCK);
        assert_eq!(b.slice_mut::<i64>().as_ptr() as usize % PAGE, 0);
        let mut small = BlockBuf::new::<u32>();
        assert_eq!(small.slice_mut::<u32>().len(), BLOCK);
        assert_eq!(small.slice_mut::<i64>().len(), BLOCK / 2);
        b.slice_mut::<i64>()[3] = -7;
        assert_eq!(b.slice::<i64>(4), &[0, 0, 0, -7]);
    }
}
