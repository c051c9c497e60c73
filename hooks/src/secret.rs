//! The hook secret: a random key that a store and its daemon share through a file, and
//! the proofs by which each shows the other that it holds it.
//!
//! Why: the hook socket's file mode keeps other users out, but any process that can
//! open the socket and say `Hello` as a daemon would otherwise receive every commit
//! notice, and its acks would delete them from the outbox. The secret makes a daemon
//! prove that it is the one configured for this store (it can read the store's secret
//! file) before it may receive or ack anything. The secret itself never crosses the
//! socket: each side answers the other's random nonce with an HMAC-SHA256 keyed with
//! the secret.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{HookError, Role};

/// Bytes of the hook secret.
pub const SECRET_LEN: usize = 32;

/// Bytes of each side's handshake nonce ([`crate::WireMessage::Challenge`]) and of a
/// proof ([`crate::WireMessage::Proof`]).
pub const NONCE_LEN: usize = 32;

/// The largest secret file read: 64 hex digits and some whitespace fit many times over.
const MAX_SECRET_FILE_LEN: u64 = 1024;

type HmacSha256 = Hmac<Sha256>;

/// The key shared by a store and its daemon.
///
/// Kept in a file of 64 hex digits (and a newline), mode 0600, owned by the user that
/// runs both. The store creates it when it starts listening and the file is absent
/// ([`HookSecret::load_or_create`]); the daemon only reads it ([`HookSecret::load`]).
/// By default the file is the hook socket's path with `.secret` appended
/// ([`HookSecret::default_path`]), so that a store and a daemon given the same socket
/// path find the same secret without further configuration.
///
/// A file that another user owns, or that group or others may read or write, is
/// refused: its key could be known to someone else.
#[derive(Clone)]
pub struct HookSecret {
    key: [u8; SECRET_LEN],
}

impl std::fmt::Debug for HookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key, not even in a debug log.
        f.write_str("HookSecret(..)")
    }
}

impl HookSecret {
    /// The default secret file of the hook socket at `socket`: its path with `.secret`
    /// appended (`/run/epochd/hooks.sock` -> `/run/epochd/hooks.sock.secret`).
    pub fn default_path(socket: &Path) -> PathBuf {
        let mut path = socket.as_os_str().to_owned();
        path.push(".secret");
        PathBuf::from(path)
    }

    /// A new random secret (not saved anywhere).
    pub fn generate() -> Result<HookSecret, HookError> {
        Ok(HookSecret {
            key: random_bytes()?,
        })
    }

    /// Reads the secret file at `path`. Fails if it is missing, unreadable, not 64 hex
    /// digits, owned by another user, or open to group or others.
    pub fn load(path: &Path) -> Result<HookSecret, HookError> {
        let file = File::open(path).map_err(|source| HookError::SecretFile {
            action: "reading",
            path: path.into(),
            source,
        })?;
        let meta = file.metadata().map_err(|source| HookError::SecretFile {
            action: "inspecting",
            path: path.into(),
            source,
        })?;
        check_private(path, &meta)?;
        let mut text = String::new();
        file.take(MAX_SECRET_FILE_LEN)
            .read_to_string(&mut text)
            .map_err(|source| HookError::SecretFile {
                action: "reading",
                path: path.into(),
                source,
            })?;
        let key = parse_hex(text.trim()).ok_or_else(|| HookError::BadSecretFile {
            path: path.into(),
            reason: format!(
                "it must hold exactly {} hex digits (a {SECRET_LEN}-byte key); delete it and restart the store to make a new one",
                2 * SECRET_LEN
            ),
        })?;
        Ok(HookSecret { key })
    }

    /// Reads the secret file at `path`, or creates it with a new random secret (mode
    /// 0600) when there is none. The store calls this when it starts listening.
    ///
    /// Creation is atomic: the file is written and synced under a temporary name, then
    /// linked into place without replacing anything, so a daemon never reads a partial
    /// file and two stores racing on one path end up with the same secret.
    pub fn load_or_create(path: &Path) -> Result<HookSecret, HookError> {
        match HookSecret::load(path) {
            Err(HookError::SecretFile { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                HookSecret::create(path)
            }
            other => other,
        }
    }

    fn create(path: &Path) -> Result<HookSecret, HookError> {
        let secret = HookSecret::generate()?;
        let creating = |source| HookError::SecretFile {
            action: "creating",
            path: path.into(),
            source,
        };
        let name = path.file_name().ok_or_else(|| {
            creating(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path names no file",
            ))
        })?;
        let mut staged = name.to_owned();
        staged.push(format!(".{}.new", hex(&random_bytes::<6>()?)));
        let staged = path.with_file_name(staged);
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&staged)?;
            file.write_all(format!("{}\n", hex(&secret.key)).as_bytes())?;
            file.sync_all()?;
            std::fs::hard_link(&staged, path)
        })();
        let _ = std::fs::remove_file(&staged);
        match written {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created the hook secret (mode 0600): the daemon must be able to read this file");
                Ok(secret)
            }
            // Another store created it in the meantime: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => HookSecret::load(path),
            Err(e) => Err(creating(e)),
        }
    }

    /// The proof that `prover` holds this secret, for the handshake whose store sent
    /// `store_nonce` and whose daemon sent `daemon_nonce`: HMAC-SHA256 keyed with the
    /// secret over a label naming the prover's role, then both nonces.
    ///
    /// The label keeps one side's proof from being replayed as the other's; the two
    /// fresh nonces keep a proof from being replayed in another handshake.
    pub fn proof(&self, prover: Role, store_nonce: &[u8], daemon_nonce: &[u8]) -> [u8; NONCE_LEN] {
        self.mac(prover, store_nonce, daemon_nonce)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `proof` is `prover`'s proof for these nonces. Compares in constant time.
    pub(crate) fn verify(
        &self,
        prover: Role,
        store_nonce: &[u8],
        daemon_nonce: &[u8],
        proof: &[u8],
    ) -> bool {
        self.mac(prover, store_nonce, daemon_nonce)
            .verify_slice(proof)
            .is_ok()
    }

    fn mac(&self, prover: Role, store_nonce: &[u8], daemon_nonce: &[u8]) -> HmacSha256 {
        let label: &[u8] = match prover {
            Role::Store => b"epochd-hooks v2 store proof\0",
            Role::Daemon => b"epochd-hooks v2 daemon proof\0",
        };
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(label);
        mac.update(store_nonce);
        mac.update(daemon_nonce);
        mac
    }
}

/// Refuses a secret file that is not a regular file of ours, closed to group and others.
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), HookError> {
    let bad = |reason: String| HookError::BadSecretFile {
        path: path.into(),
        reason,
    };
    if !meta.is_file() {
        return Err(bad("it is not a regular file".into()));
    }
    let ours = rustix::process::geteuid().as_raw();
    if meta.uid() != ours {
        return Err(bad(format!(
            "it is owned by uid {}, not by this process's uid {ours}: run the store and the daemon as the secret file's owner",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(bad(format!(
            "its mode is {mode:04o}, so other users may read or change it: `chmod 600 {}`, or delete it and restart the store to make a new one",
            path.display()
        )));
    }
    Ok(())
}

/// `N` bytes from the operating system's random number generator.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], HookError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| HookError::Random {
        reason: e.to_string(),
    })?;
    Ok(bytes)
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(text: &str) -> Option<[u8; SECRET_LEN]> {
    let text = text.as_bytes();
    if text.len() != 2 * SECRET_LEN {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut key = [0u8; SECRET_LEN];
    for (byte, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let key: [u8; SECRET_LEN] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(parse_hex(&hex(&key)), Some(key));
        assert_eq!(parse_hex(&hex(&key).to_uppercase()), Some(key));
        assert_eq!(parse_hex("00"), None);
        assert_eq!(parse_hex(&"zz".repeat(SECRET_LEN)), None);
    }

    #[test]
    fn proofs_depend_on_the_key_the_role_and_both_nonces() {
        let a = HookSecret::generate().unwrap();
        let b = HookSecret::generate().unwrap();
        let (ns, nd) = ([1u8; NONCE_LEN], [2u8; NONCE_LEN]);
        let p = a.proof(Role::Daemon, &ns, &nd);
        assert!(a.verify(Role::Daemon, &ns, &nd, &p));
        assert!(!b.verify(Role::Daemon, &ns, &nd, &p));
        assert!(!a.verify(Role::Store, &ns, &nd, &p));
        assert!(!a.verify(Role::Daemon, &nd, &ns, &p));
        assert!(!a.verify(Role::Daemon, &ns, &nd, &p[..31]));
        assert!(!a.verify(Role::Daemon, &ns, &nd, &[]));
    }
}
