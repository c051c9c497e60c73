//! Split mode: store and daemon over a Unix socket.

use std::path::Path;
use std::time::Duration;

use epochd_hooks::{
    connect, listen, ConnectOptions, HookError, HookSecret, Receiver, Role, WireMessage,
    MAX_FRAME_LEN, PROTOCOL_VERSION,
};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;

use crate::peer::{authenticated_daemon, fake_store_handshake, hello_as_daemon, store_secret};
use crate::support::{
    assert_contains, assert_nothing_for, eventually, ids, opts, pending_ids, recv, recv_n,
    socket_path, within, Running, StoreDb,
};

pub fn copts() -> ConnectOptions {
    ConnectOptions {
        node: "node-1".into(),
        backoff_initial_ms: 10,
        backoff_max_ms: 100,
        ..ConnectOptions::default()
    }
}

pub async fn daemon(path: &Path) -> Receiver {
    connect(path, copts()).await
}

pub fn serve(s: &StoreDb, path: &Path) -> Running {
    Running::spawn(listen(path, s.outbox.clone(), s.wake.clone(), opts(1024)).unwrap())
}

#[tokio::test]
async fn commits_made_while_no_daemon_is_connected_are_delivered_when_one_connects() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());
    let store = serve(&s, &path);

    // The store keeps committing without a receiver; the backlog grows on disk.
    s.stage(1..=5);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let snap = store.stats.snapshot();
    assert_eq!((snap.backlog, snap.sent, snap.connected), (5, 0, false));

    let mut rx = daemon(&path).await;
    let got = recv_n(&mut rx, 5).await;
    assert_eq!(ids(&got), [1, 2, 3, 4, 5]);
    assert!(rx.is_connected());
    got.into_iter().for_each(|d| d.ack());
    eventually("the backlog to drain", || s.outbox.is_empty()).await;

    // And new commits keep flowing on the live connection.
    s.stage([6]);
    assert_eq!(recv(&mut rx).await.commit_id(), 6);
    store.stop().await;
}

#[tokio::test]
async fn a_daemon_that_reconnects_gets_every_unacked_commit_again_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());
    let store = serve(&s, &path);
    s.stage(1..=6);

    let mut rx = daemon(&path).await;
    let got = recv_n(&mut rx, 3).await;
    assert_eq!(ids(&got), [1, 2, 3]);
    let mut got = got.into_iter();
    got.next().unwrap().ack();
    got.next().unwrap().ack();
    eventually("all six sent", || store.stats.snapshot().sent == 6).await;
    // The daemon goes away mid-stream: 3 taken but not acked, 4..6 sent but not taken.
    drop(got);
    drop(rx);

    let mut rx = daemon(&path).await;
    let again = recv_n(&mut rx, 4).await;
    assert_eq!(ids(&again), [3, 4, 5, 6]);
    assert_nothing_for(&mut rx, Duration::from_millis(100)).await;
    let snap = store.stats.snapshot();
    assert_eq!((snap.acked, snap.redelivered, snap.sessions), (2, 4, 2));
    assert_eq!(pending_ids(&s.outbox), [3, 4, 5, 6]);
    store.stop().await;
}

#[tokio::test]
async fn a_daemon_keeps_retrying_through_a_store_restart_and_gets_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(dir.path());
    let mut rx;
    {
        let s = StoreDb::open(dir.path());
        let store = serve(&s, &path);
        s.stage(1..=3);
        rx = daemon(&path).await;
        let got = recv_n(&mut rx, 3).await;
        let mut got = got.into_iter();
        got.next().unwrap().ack();
        eventually("the ack to be applied", || {
            store.stats.snapshot().acked == 1
        })
        .await;
        drop(got);
        // The store process goes down: dispatcher, socket and db all dropped.
        store.stop().await;
    }
    eventually("the daemon to notice", || !rx.is_connected()).await;
    // Retrying against a dead socket for a while must not end the receiver.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let s = StoreDb::open(dir.path());
    // Commits made after the restart, before the daemon is back.
    s.stage(4..=5);
    let store = serve(&s, &path);
    let rest = recv_n(&mut rx, 4).await;
    assert_eq!(ids(&rest), [2, 3, 4, 5]);
    assert!(rx.is_connected());
    rest.into_iter().for_each(|d| d.ack());
    eventually("the outbox to drain", || s.outbox.is_empty()).await;
    store.stop().await;
}

#[tokio::test]
async fn acks_made_before_a_reconnection_still_count_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(dir.path());
    let s = StoreDb::open(dir.path());
    let store = serve(&s, &path);
    s.stage(1..=2);
    let mut rx = daemon(&path).await;
    let held = recv_n(&mut rx, 2).await;

    // The store restarts while the daemon still works on both commits.
    store.stop().await;
    let store = serve(&s, &path);
    eventually("the daemon to reconnect", || {
        store.stats.snapshot().connected
    })
    .await;

    // Acks by commit id go out on the new connection. The new session also resends
    // both (at-least-once); the resent copies' acks are no-ops.
    held.into_iter().for_each(|d| d.ack());
    eventually("both acks applied", || s.outbox.is_empty()).await;
    for d in recv_n(&mut rx, 2).await {
        d.ack();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.stats.snapshot().acked, 2);
    store.stop().await;
}

#[tokio::test]
async fn a_second_daemon_is_refused_with_a_clear_error_and_gets_in_later() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());
    let store = serve(&s, &path);
    s.stage([1]);
    let mut first = daemon(&path).await;
    let held = recv(&mut first).await;

    // A second daemon that holds the secret: authenticated, then refused.
    let mut other = authenticated_daemon(&path, &store_secret(&path)).await;
    let message = other.expect_error().await;
    assert!(
        message.contains("already delivers its commits to daemon"),
        "{message}"
    );
    assert!(message.contains("one daemon at a time"), "{message}");
    assert_eq!(other.until_closed().await, []);

    let mut second = daemon(&path).await;
    assert_nothing_for(&mut second, Duration::from_millis(200)).await;
    drop(held);
    drop(first);
    assert_eq!(recv(&mut second).await.commit_id(), 1);
    store.stop().await;
}

#[tokio::test]
async fn the_store_refuses_a_daemon_of_another_protocol_version() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());
    let store = serve(&s, &path);
    s.stage([1]);

    let mut peer = hello_as_daemon(&path, PROTOCOL_VERSION + 98).await;
    peer.expect_store_hello_and_challenge().await;
    let message = peer.expect_error().await;
    assert!(
        message.contains(&format!(
            "this side speaks version {PROTOCOL_VERSION}, the peer speaks version {}",
            PROTOCOL_VERSION + 98
        )),
        "{message}"
    );
    assert_eq!(peer.until_closed().await, []);

    // The store is unharmed and serves a compatible daemon.
    let mut rx = daemon(&path).await;
    assert_eq!(recv(&mut rx).await.commit_id(), 1);
    store.stop().await;
}

#[tokio::test]
async fn a_daemon_facing_a_store_of_another_protocol_version_stops_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(dir.path());
    HookSecret::load_or_create(&HookSecret::default_path(&path)).unwrap();
    let listener = UnixListener::bind(&path).unwrap();
    let fake_store = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (rd, mut wr) = stream.into_split();
        let hello = WireMessage::Hello {
            protocol_version: 99,
            node: "future".into(),
            role: Role::Store,
        };
        epochd_hooks::write_frame(&mut wr, &hello).await.unwrap();
        let mut reader = epochd_hooks::FrameReader::new(rd);
        let _ = reader.next().await;
        // Keep the connection open: the daemon must give up on its own.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });

    let mut rx = daemon(&path).await;
    assert!(within("the receiver to end", rx.recv()).await.is_none());
    let err = rx.error().expect("an error is recorded");
    assert!(matches!(
        err,
        HookError::ProtocolVersion {
            ours: PROTOCOL_VERSION,
            theirs: 99
        }
    ));
    assert_contains(
        err,
        &format!("this side speaks version {PROTOCOL_VERSION}, the peer speaks version 99"),
    );
    fake_store.abort();
}

#[tokio::test]
async fn the_store_drops_a_daemon_that_sends_an_oversized_frame() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());
    let store = serve(&s, &path);
    s.stage([1]);

    let mut peer = authenticated_daemon(&path, &store_secret(&path)).await;
    assert!(matches!(peer.next().await, Some(WireMessage::Notice(_))));
    // A header announcing one byte more than the limit; no body needed.
    peer.writer
        .write_all(&(MAX_FRAME_LEN + 1).to_be_bytes())
        .await
        .unwrap();
    let message = peer.expect_error().await;
    assert!(
        message.contains("exceeds the limit of 16777216 bytes"),
        "{message}"
    );
    assert_eq!(peer.until_closed().await, []);

    let mut rx = daemon(&path).await;
    assert_eq!(recv(&mut rx).await.commit_id(), 1);
    store.stop().await;
}

#[tokio::test]
async fn the_daemon_drops_a_store_that_sends_an_oversized_frame_and_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(dir.path());
    let secret = HookSecret::load_or_create(&HookSecret::default_path(&path)).unwrap();
    let listener = UnixListener::bind(&path).unwrap();
    let fake_store = tokio::spawn(async move {
        // First connection: an oversized frame after the handshake.
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = fake_store_handshake(stream, &secret).await;
        peer.writer
            .write_all(&u32::MAX.to_be_bytes())
            .await
            .unwrap();
        // The daemon must close it and come back.
        assert!(peer.reader.next().await.unwrap_or(None).is_none());
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = fake_store_handshake(stream, &secret).await;
        peer.send(&WireMessage::Notice(crate::support::notice(7)))
            .await;
        // Wait for the ack.
        peer.reader.next().await.unwrap()
    });

    let mut rx = daemon(&path).await;
    let d = recv(&mut rx).await;
    assert_eq!(d.commit_id(), 7);
    d.ack();
    let reply = within("the fake store", fake_store).await.unwrap();
    assert_eq!(reply, Some(WireMessage::Ack { commit_id: 7 }));
}

#[tokio::test]
async fn listen_replaces_a_stale_socket_but_not_a_live_one_nor_a_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());

    // A socket file left behind by a store that is gone.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let store = serve(&s, &path);

    let err = listen(&path, s.outbox.clone(), s.wake.clone(), opts(8)).unwrap_err();
    assert!(matches!(err, HookError::SocketInUse { .. }), "{err}");
    assert_contains(&err, "another store is already listening");
    store.stop().await;

    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, b"precious").unwrap();
    let err = listen(&file, s.outbox.clone(), s.wake.clone(), opts(8)).unwrap_err();
    assert!(matches!(err, HookError::NotASocket { .. }), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
}
