//! Integration tests of epochd-hooks: real sled on temp dirs, real Unix sockets.

mod local;
mod outbox;
mod socket;
mod support;
