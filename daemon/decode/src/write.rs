//! Writing the merged epoch as a FlatBuffer (schema: sdk/schema/epoch.fbs).

use std::cell::RefCell;

use flatbuffers::{FlatBufferBuilder, WIPOffset};

use crate::chunk::Kind;
use crate::error::DecodeError;
use crate::merge::{Merged, OutColumn, OutContainer, OutStrs, OutValues};
use crate::schema::{
    finish_epoch_buffer, Blobs, BlobsArgs, Column, ColumnArgs, Container, ContainerArgs,
    ContainerKind, Epoch, EpochArgs, ValueType,
};

/// The layout version this module writes.
pub const LAYOUT_VERSION: u16 = 1;

/// Which (epoch, dc, seq) a decoded epoch is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochMeta {
    /// Unix second.
    pub epoch: u64,
    /// Data center.
    pub dc: String,
    /// 0 = primary commit, 1.. = supplementary.
    pub seq: u32,
}

fn blobs<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    items: &[&[u8]],
) -> Result<WIPOffset<Blobs<'b>>, DecodeError> {
    let mut offsets = Vec::with_capacity(items.len() + 1);
    let total: usize = items.iter().map(|i| i.len()).sum();
    let mut bytes = Vec::with_capacity(total);
    offsets.push(0u32);
    for item in items {
        bytes.extend_from_slice(item);
        offsets.push(u32::try_from(bytes.len()).map_err(|_| {
            DecodeError::TooLarge("more than 4 GiB of strings in one column".into())
        })?);
    }
    let offsets = fbb.create_vector(&offsets);
    let bytes = fbb.create_vector(&bytes);
    Ok(Blobs::create(
        fbb,
        &BlobsArgs {
            offsets: Some(offsets),
            bytes: Some(bytes),
        },
    ))
}

fn value_type(kind: usize) -> ValueType {
    ValueType(kind as u8)
}

fn column<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    col: &OutColumn<'_>,
) -> Result<WIPOffset<Column<'b>>, DecodeError> {
    let path = fbb.create_string(&col.path);
    let rows = (!col.dense).then(|| fbb.create_vector(&col.rows));
    let mut args = ColumnArgs {
        path: Some(path),
        type_: value_type(col.kind),
        rows,
        dense: col.dense,
        ..ColumnArgs::default()
    };
    match &col.values {
        OutValues::Int(v) => args.ints = Some(fbb.create_vector(v)),
        OutValues::Float(v) => args.floats = Some(fbb.create_vector(v)),
        OutValues::Bool(v) => args.bools = Some(fbb.create_vector(v)),
        OutValues::Str(OutStrs::Dict { dict, ids }) => {
            args.ids = Some(fbb.create_vector(ids));
            args.dict = Some(blobs(fbb, dict)?);
        }
        OutValues::Str(OutStrs::Plain(v)) | OutValues::Raw(v) => args.plain = Some(blobs(fbb, v)?),
        OutValues::Null => {}
    }
    Ok(Column::create(fbb, &args))
}

fn container<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    c: &OutContainer<'_>,
) -> Result<WIPOffset<Container<'b>>, DecodeError> {
    let values = c
        .values
        .iter()
        .map(|v| column(fbb, v))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = c.keys.as_ref().map(|k| column(fbb, k)).transpose()?;
    let path = fbb.create_string(&c.path);
    let rows = (!c.dense).then(|| fbb.create_vector(&c.rows));
    let offsets = fbb.create_vector(&c.offsets);
    let values = fbb.create_vector(&values);
    Ok(Container::create(
        fbb,
        &ContainerArgs {
            path: Some(path),
            kind: match c.kind {
                Kind::Map => ContainerKind::Map,
                Kind::List => ContainerKind::List,
            },
            rows,
            dense: c.dense,
            offsets: Some(offsets),
            keys,
            values: Some(values),
        },
    ))
}

thread_local! {
    /// One builder per decoding thread, reused: a fresh builder allocates and
    /// zero-fills a buffer the size of the epoch every time, and faulting
    /// those pages in cost ~15% of a decode.
    static BUILDER: RefCell<FlatBufferBuilder<'static>> = RefCell::new(FlatBufferBuilder::new());
}

/// Writes the epoch into this thread's builder and hands the FlatBuffer's
/// bytes to `sink`.
pub(crate) fn write<R>(
    meta: &EpochMeta,
    merged: &Merged<'_>,
    sink: impl FnOnce(&[u8]) -> R,
) -> Result<R, DecodeError> {
    BUILDER.with(|cell| {
        let mut fbb = cell.borrow_mut();
        fbb.reset();
        build(&mut fbb, meta, merged)?;
        Ok(sink(fbb.finished_data()))
    })
}

fn build(
    fbb: &mut FlatBufferBuilder<'static>,
    meta: &EpochMeta,
    merged: &Merged<'_>,
) -> Result<(), DecodeError> {
    let columns = merged
        .columns
        .iter()
        .map(|c| column(fbb, c))
        .collect::<Result<Vec<_>, _>>()?;
    let containers = merged
        .containers
        .iter()
        .map(|c| container(fbb, c))
        .collect::<Result<Vec<_>, _>>()?;
    let dc = fbb.create_string(&meta.dc);
    let columns = fbb.create_vector(&columns);
    let containers = fbb.create_vector(&containers);
    let root = Epoch::create(
        fbb,
        &EpochArgs {
            version: LAYOUT_VERSION,
            epoch: meta.epoch,
            dc: Some(dc),
            seq: meta.seq,
            rows: merged.rows,
            columns: Some(columns),
            containers: Some(containers),
        },
    );
    finish_epoch_buffer(fbb, root);
    Ok(())
}
