//! Errors of decoding.

/// Why a commit could not be decoded or shared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A chunk's bytes are not valid MessagePack events.
    #[error("malformed chunk data: {0}")]
    Malformed(String),
    /// A chunk is not a valid zstd frame.
    #[error("chunk #{index} does not decompress: {reason}")]
    Chunk {
        /// The chunk's position among the commit's chunks (manifest order).
        index: usize,
        /// Why.
        reason: String,
    },
    /// A chunk's bytes are not valid MessagePack events.
    #[error("chunk #{index} holds malformed data: {reason}")]
    MalformedChunk {
        /// The chunk's position among the commit's chunks (manifest order).
        index: usize,
        /// Why.
        reason: String,
    },
    /// The epoch has more rows or bytes than the format holds (u32 offsets).
    #[error("the epoch is too large for the decoded format: {0}")]
    TooLarge(String),
    /// Creating, writing, sealing or mapping the shared memory failed.
    #[error("shared memory: {0}")]
    Shared(#[from] std::io::Error),
    /// The decoded buffer does not verify as an epoch.
    #[error("the decoded epoch does not verify: {0}")]
    Invalid(String),
}
