//! Split mode under attack: silent connections, impostors without the secret, other
//! users. The socket only delivers to the configured daemon and cannot be jammed.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

use epochd_hooks::{
    connect, listen, write_frame, ConnectOptions, DispatchOptions, HookError, HookSecret,
    WireMessage, PROTOCOL_VERSION,
};
use tokio::net::{UnixListener, UnixStream};

use crate::peer::{fake_store_handshake, hello_as_daemon, Peer};
use crate::socket::{copts, daemon, serve};
use crate::support::{
    assert_contains, assert_nothing_for, eventually, ids, notice, opts, pending_ids, recv, recv_n,
    socket_path, within, Running, StoreDb,
};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o777
}

#[tokio::test]
async fn twenty_silent_connections_do_not_delay_a_daemons_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());
    let timeout = Duration::from_secs(2);
    let store = Running::spawn(
        listen(
            &path,
            s.outbox.clone(),
            s.wake.clone(),
            DispatchOptions {
                handshake_timeout_ms: timeout.as_millis() as u64,
                ..opts(1024)
            },
        )
        .unwrap(),
    );
    s.stage([1]);

    // Twenty connections that never send a byte, all ahead of the daemon.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(UnixStream::connect(&path).await.unwrap());
    }
    let started = Instant::now();
    let mut rx = daemon(&path).await;
    let first = recv(&mut rx).await;
    let took = started.elapsed();
    assert_eq!(first.commit_id(), 1);
    // One at a time, the silent ones would hold the daemon back for 20 x 2 s.
    assert!(
        took < 2 * timeout,
        "the daemon's first notice took {took:?}, handshake timeout {timeout:?}"
    );

    // Each silent connection is dropped at its own timeout, told why, and got no notice.
    for stream in silent {
        let mut peer = Peer::new(stream);
        peer.expect_store_hello_and_challenge().await;
        let message = peer.expect_error().await;
        assert!(
            message.contains("did not complete the handshake within 2000 ms"),
            "{message}"
        );
        assert_eq!(peer.until_closed().await, []);
    }
    assert!(
        started.elapsed() < 2 * timeout,
        "the silent connections were not timed out side by side: {:?}",
        started.elapsed()
    );
    store.stop().await;
}

#[tokio::test]
async fn an_impostor_without_the_secret_gets_no_notice_and_its_acks_remove_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());
    let secret_file = HookSecret::default_path(&path);
    let store = serve(&s, &path);
    s.stage(1..=3);

    // Speaks the protocol, but proves with a secret of its own, and acks at once as if
    // it had the notices.
    let mut wrong = hello_as_daemon(&path, PROTOCOL_VERSION).await;
    wrong.expect_store_hello_and_challenge().await;
    wrong
        .prove_as_daemon(&HookSecret::generate().unwrap())
        .await;
    for commit_id in 1..=3 {
        let _ = write_frame(&mut wrong.writer, &WireMessage::Ack { commit_id }).await;
    }
    let message = wrong.expect_error().await;
    assert!(
        message.contains(&format!(
            "did not prove that it holds the hook secret of {}: its Proof does not match",
            secret_file.display()
        )),
        "{message}"
    );
    assert_eq!(wrong.until_closed().await, [], "nothing after the Error");

    // Has no secret at all: acks where its proof is due.
    let mut bare = hello_as_daemon(&path, PROTOCOL_VERSION).await;
    bare.expect_store_hello_and_challenge().await;
    bare.send(&WireMessage::Ack { commit_id: 1 }).await;
    let message = bare.expect_error().await;
    assert!(
        message.contains(&format!(
            "the hook secret of {}: it sent Ack where its Proof was due",
            secret_file.display()
        )),
        "{message}"
    );
    assert_eq!(bare.until_closed().await, []);

    // Nothing was sent to either, nothing was removed.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pending_ids(&s.outbox), [1, 2, 3]);
    let snap = store.stats.snapshot();
    assert_eq!((snap.sessions, snap.sent, snap.acked), (0, 0, 0));

    // The real daemon gets every notice.
    let mut rx = daemon(&path).await;
    let got = recv_n(&mut rx, 3).await;
    assert_eq!(ids(&got), [1, 2, 3]);
    got.into_iter().for_each(|d| d.ack());
    eventually("the outbox to drain", || s.outbox.is_empty()).await;
    store.stop().await;
}

#[tokio::test]
async fn the_socket_and_the_secret_file_are_private_to_the_stores_user() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());
    let secret_file = HookSecret::default_path(&path);
    let store = serve(&s, &path);

    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(mode(&path), 0o600, "socket mode {:04o}", mode(&path));
    assert!(std::fs::symlink_metadata(&secret_file).unwrap().is_file());
    assert_eq!(
        mode(&secret_file),
        0o600,
        "secret mode {:04o}",
        mode(&secret_file)
    );
    let text = std::fs::read_to_string(&secret_file).unwrap();
    assert_eq!(text.len(), 65, "64 hex digits and a newline: {text:?}");
    assert!(text.trim_end().bytes().all(|b| b.is_ascii_hexdigit()));
    // The private directory the socket was bound in is gone.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["db", "hook.sock", "hook.sock.secret"]);

    // A restarted store keeps its secret, so a running daemon's stays valid.
    store.stop().await;
    let store = serve(&s, &path);
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), text);
    assert_eq!(mode(&path), 0o600);
    store.stop().await;
}

#[tokio::test]
async fn listen_refuses_a_secret_file_others_can_read_or_that_is_garbled() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());
    let secret_file = HookSecret::default_path(&path);
    let key = format!("{}\n", "ab".repeat(32));
    std::fs::write(&secret_file, &key).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let err = listen(&path, s.outbox.clone(), s.wake.clone(), opts(8)).unwrap_err();
    assert!(matches!(err, HookError::BadSecretFile { .. }), "{err}");
    assert_contains(&err, "its mode is 0644");
    assert_contains(&err, &format!("chmod 600 {}", secret_file.display()));
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), key);
    assert!(!path.exists(), "no socket before the secret is sound");

    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&secret_file, "not a key\n").unwrap();
    let err = listen(&path, s.outbox.clone(), s.wake.clone(), opts(8)).unwrap_err();
    assert!(matches!(err, HookError::BadSecretFile { .. }), "{err}");
    assert_contains(&err, "exactly 64 hex digits");
}

#[tokio::test]
async fn a_daemon_takes_no_notice_from_a_store_that_cannot_prove_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(dir.path());
    HookSecret::load_or_create(&HookSecret::default_path(&path)).unwrap();
    let listener = UnixListener::bind(&path).unwrap();
    let fake_store = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = fake_store_handshake(stream, &HookSecret::generate().unwrap()).await;
        let _ = write_frame(&mut peer.writer, &WireMessage::Notice(notice(7))).await;
        peer.until_closed().await
    });

    let mut rx = daemon(&path).await;
    assert_nothing_for(&mut rx, Duration::from_millis(300)).await;
    let said = within("the fake store", fake_store).await.unwrap();
    match &said[..] {
        [WireMessage::Error { message }] => {
            assert!(
                message.contains("the store's Proof does not match"),
                "{message}"
            )
        }
        other => panic!("expected the daemon's Error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_daemon_started_before_its_store_gets_in_once_the_store_made_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());
    // Neither the socket nor the secret exists yet: the daemon waits.
    let mut rx = daemon(&path).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!rx.is_connected());

    let store = serve(&s, &path);
    s.stage([1]);
    assert_eq!(recv(&mut rx).await.commit_id(), 1);
    store.stop().await;
}

#[tokio::test]
async fn explicit_secret_files_are_used_and_a_daemon_with_another_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let path = socket_path(dir.path());
    let store_file = dir.path().join("store.secret");
    let store = Running::spawn(
        listen(
            &path,
            s.outbox.clone(),
            s.wake.clone(),
            DispatchOptions {
                secret_file: Some(store_file.clone()),
                ..opts(1024)
            },
        )
        .unwrap(),
    );
    assert!(store_file.exists());
    assert!(!HookSecret::default_path(&path).exists());
    s.stage([1]);

    let other_file = dir.path().join("other.secret");
    HookSecret::load_or_create(&other_file).unwrap();
    let mut wrong = connect(
        &path,
        ConnectOptions {
            secret_file: Some(other_file),
            ..copts()
        },
    )
    .await;
    assert_nothing_for(&mut wrong, Duration::from_millis(300)).await;
    assert_eq!(store.stats.snapshot().sent, 0);
    drop(wrong);

    let mut right = connect(
        &path,
        ConnectOptions {
            secret_file: Some(store_file),
            ..copts()
        },
    )
    .await;
    assert_eq!(recv(&mut right).await.commit_id(), 1);
    store.stop().await;
}
