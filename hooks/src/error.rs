//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in the hook outbox, its delivery and its wire protocol.
///
/// Every message says what went wrong and, where the caller can do something about it,
/// what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// sled failed to read or write the hook outbox (I/O error, corruption, disk full).
    #[error("the hook outbox in sled failed: {0}; check the store's data directory (free space, permissions, disk health)")]
    Storage(#[from] sled::Error),

    /// A commit notice carries a version this build does not know.
    #[error("commit notice version {found} is not supported: this build reads version {supported}; run the same epochd release for the store and the daemon of a node")]
    UnknownNoticeVersion {
        /// The version found in the notice.
        found: u16,
        /// The version this build reads and writes ([`crate::NOTICE_VERSION`]).
        supported: u16,
    },

    /// Bytes that should hold a MessagePack value of the given kind could not be decoded.
    #[error("could not decode {what} as MessagePack: {source}")]
    Decode {
        /// What was being decoded ("a commit notice", "a hook protocol frame", ...).
        what: &'static str,
        /// The decoder's error.
        #[source]
        source: rmp_serde::decode::Error,
    },

    /// A value could not be encoded as MessagePack (should not happen for the crate's types).
    #[error("could not encode {what} as MessagePack: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: rmp_serde::encode::Error,
    },

    /// An outbox entry cannot be read. It stays in the outbox (nothing is deleted
    /// behind the operator's back) and is skipped by delivery until it is dealt with.
    #[error("hook outbox entry for commit {commit_id} is unreadable: {source}; it is skipped and kept in the outbox, remove it with an explicit ack once the commit has been handled by hand")]
    BadEntry {
        /// The commit id (the entry's key).
        commit_id: u64,
        /// Why it could not be read.
        #[source]
        source: Box<HookError>,
    },

    /// An outbox key is not an 8-byte big-endian commit id: something else wrote into
    /// the `hook_outbox` tree.
    #[error("hook outbox key {key:02x?} is not an 8-byte commit id; only epochd-hooks may write to the `hook_outbox` tree")]
    BadKey {
        /// The offending key.
        key: Vec<u8>,
    },

    /// An outbox entry's key and the commit id inside its notice differ: something other
    /// than [`crate::Outbox::stage`] wrote it. It is skipped and kept, like a bad entry.
    #[error("hook outbox entry under commit id {key} holds the notice of commit {notice}; only epochd-hooks may write to the `hook_outbox` tree")]
    MismatchedEntry {
        /// The commit id of the key.
        key: u64,
        /// The commit id inside the notice.
        notice: u64,
    },

    /// The two ends of a hook connection speak different protocol versions.
    #[error("hook protocol version mismatch: this side speaks version {ours}, the peer speaks version {theirs}; run the same epochd release for the store and the daemon of a node")]
    ProtocolVersion {
        /// This side's version ([`crate::PROTOCOL_VERSION`]).
        ours: u16,
        /// The version the peer announced.
        theirs: u16,
    },

    /// The peer on the hook socket announced the wrong role (for example a daemon
    /// connected to another daemon's socket).
    #[error("the peer on the hook socket says it is a {theirs:?}, expected a {expected:?}; check that the daemon's hook socket path is the one its store listens on")]
    WrongRole {
        /// The role this side expected.
        expected: crate::Role,
        /// The role the peer announced.
        theirs: crate::Role,
    },

    /// A frame announced a body larger than [`crate::MAX_FRAME_LEN`]: the peer is broken
    /// or is not an epochd hook endpoint. The connection is dropped.
    #[error("hook protocol frame of {len} bytes exceeds the limit of {max} bytes; the peer is not a compatible epochd hook endpoint")]
    FrameTooLarge {
        /// The announced (or attempted) body length.
        len: u64,
        /// The limit.
        max: u32,
    },

    /// The peer sent a message that is not valid at this point of the protocol.
    #[error("unexpected hook protocol message: expected {expected}, got {got}")]
    UnexpectedMessage {
        /// What this side was waiting for.
        expected: &'static str,
        /// What arrived.
        got: &'static str,
    },

    /// The peer refused the connection and said why (for example, another daemon is
    /// already receiving this store's hooks).
    #[error("the hook peer refused the connection: {message}")]
    Refused {
        /// The peer's explanation.
        message: String,
    },

    /// The peer did not complete the handshake in time.
    #[error("the hook peer did not complete the handshake within {after_ms} ms")]
    HandshakeTimeout {
        /// The timeout that expired, in milliseconds.
        after_ms: u64,
    },

    /// The connection closed in the middle of a frame or before the handshake ended.
    #[error("the hook connection closed unexpectedly")]
    ConnectionClosed,

    /// Reading from or writing to an established hook connection failed.
    #[error("the hook connection failed: {0}")]
    Connection(#[source] std::io::Error),

    /// An I/O operation on the hook socket path failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("binding the hook socket", ...).
        action: &'static str,
        /// The socket path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Another store is already listening on the hook socket path.
    #[error("another store is already listening on the hook socket {}; give each store its own socket path", path.display())]
    SocketInUse {
        /// The socket path.
        path: PathBuf,
    },

    /// The hook socket path exists and is not a socket; it is left alone.
    #[error("{} exists and is not a Unix socket; refusing to delete it: choose another hook socket path or remove the file yourself", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },

    /// The hook secret file could not be read or created.
    #[error("{action} the hook secret file {}: {source}; the store creates it (mode 0600) when it starts listening, and its daemon must read the same file (`--hook-secret-file`; by default both use the hook socket's path with `.secret` appended)", path.display())]
    SecretFile {
        /// What was being done ("reading", "creating", ...).
        action: &'static str,
        /// The secret file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The hook secret file exists but cannot be trusted or used (wrong owner, open to
    /// other users, not 64 hex digits). It is left alone.
    #[error("the hook secret file {} is refused: {reason}", path.display())]
    BadSecretFile {
        /// The secret file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },

    /// The operating system's random number generator failed (nonces, new secrets).
    #[error("the operating system's random number generator failed: {reason}")]
    Random {
        /// The generator's error.
        reason: String,
    },

    /// The peer on the hook socket did not prove that it holds this side's hook secret.
    /// It received no commit notice and no ack of it counted.
    #[error("the hook peer did not prove that it holds the hook secret of {}: {reason}; the store and its daemon must use the same secret file (`--hook-secret-file`; by default both use the hook socket's path with `.secret` appended)", secret_file.display())]
    Unauthenticated {
        /// What the peer did wrong.
        reason: String,
        /// The secret file this side reads.
        secret_file: PathBuf,
    },

    /// A process of another user connected to the hook socket.
    #[error("a process of uid {theirs} connected to the hook socket, which serves only processes of uid {ours} (the store's user): run the daemon as the store's user")]
    PeerUid {
        /// The peer's uid.
        theirs: u32,
        /// The store's (effective) uid.
        ours: u32,
    },

    /// An option is out of its valid range.
    #[error("invalid hook option `{field}`: {reason}")]
    InvalidOption {
        /// The option's name.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

impl HookError {
    /// Wraps an I/O error with what was being done on which socket path.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> HookError {
        HookError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// True for errors that retrying the same connection cannot fix: the two ends are
    /// from incompatible releases or the path points at the wrong kind of peer.
    pub fn is_incompatible(&self) -> bool {
        matches!(
            self,
            HookError::ProtocolVersion { .. }
                | HookError::UnknownNoticeVersion { .. }
                | HookError::WrongRole { .. }
        )
    }
}
