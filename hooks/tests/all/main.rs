//! Integration tests of epochd-hooks: real sled on temp dirs, real Unix sockets.

mod local;
mod outbox;
mod peer;
mod socket;
mod socket_guard;
mod support;
