//! Embedded mode: dispatcher and receiver in one process.

use std::time::Duration;

use epochd_hooks::{local, DispatchOptions, HookError};

use crate::support::{
    assert_contains, assert_nothing_for, eventually, ids, notice, opts, pending_ids, recv, recv_n,
    within, Running, StoreDb,
};

#[tokio::test]
async fn delivers_in_commit_order_and_ack_removes() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    s.stage([5, 1, 3, 2, 4]);
    let (dispatcher, mut receiver) = local(s.outbox.clone(), s.wake.clone(), opts(1024));
    let running = Running::spawn(dispatcher);

    let got = recv_n(&mut receiver, 5).await;
    assert_eq!(ids(&got), [1, 2, 3, 4, 5]);
    assert_eq!(got[0].notice(), &notice(1));
    for d in got.into_iter().filter(|d| d.commit_id() % 2 == 1) {
        d.ack();
    }
    eventually("three acks applied", || running.stats.snapshot().acked == 3).await;
    let snap = running.stats.snapshot();
    assert_eq!(pending_ids(&s.outbox), [2, 4]);
    assert_eq!((snap.sent, snap.backlog, snap.redelivered), (5, 2, 0));
    assert!(snap.connected && receiver.is_connected());
    running.stop().await;
}

#[tokio::test]
async fn commits_after_start_are_delivered_on_wake() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    // No polling: only the wake can bring the new commits.
    let opts = DispatchOptions {
        poll_interval_ms: 0,
        ..opts(1024)
    };
    let (dispatcher, mut receiver) = local(s.outbox.clone(), s.wake.clone(), opts);
    let running = Running::spawn(dispatcher);
    assert_nothing_for(&mut receiver, Duration::from_millis(50)).await;

    s.stage([1, 2]);
    assert_eq!(ids(&recv_n(&mut receiver, 2).await), [1, 2]);
    // The store's commit path is a plain thread: waking needs no runtime.
    let (db, outbox, wake) = (s.db.clone(), s.outbox.clone(), s.wake.clone());
    std::thread::spawn(move || {
        crate::support::stage(&db, &outbox, [3]);
        wake.wake();
    })
    .join()
    .unwrap();
    assert_eq!(recv(&mut receiver).await.commit_id(), 3);
    running.stop().await;
}

#[tokio::test]
async fn never_more_than_the_window_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    s.stage(1..=10);
    let (dispatcher, mut receiver) = local(s.outbox.clone(), s.wake.clone(), opts(3));
    let running = Running::spawn(dispatcher);

    let first = recv_n(&mut receiver, 3).await;
    assert_eq!(ids(&first), [1, 2, 3]);
    // Wakes and polls must not push a fourth while three are unacknowledged.
    s.wake.wake();
    assert_nothing_for(&mut receiver, Duration::from_millis(200)).await;
    assert_eq!(running.stats.snapshot().in_flight, 3);

    let mut held = first.into_iter();
    held.next().unwrap().ack();
    let fourth = recv(&mut receiver).await;
    assert_eq!(fourth.commit_id(), 4);
    assert_nothing_for(&mut receiver, Duration::from_millis(100)).await;
    fourth.ack();

    // Acking in any order frees slots; delivery stays in commit order.
    let mut rest: Vec<_> = held.collect();
    rest.reverse();
    for d in rest {
        d.ack();
    }
    let next = recv_n(&mut receiver, 3).await;
    assert_eq!(ids(&next), [5, 6, 7]);
    assert_nothing_for(&mut receiver, Duration::from_millis(50)).await;
    assert!(running.stats.snapshot().in_flight <= 3);
    running.stop().await;
}

#[tokio::test]
async fn unacked_commits_are_redelivered_after_a_store_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = StoreDb::open(dir.path());
        s.stage(1..=5);
        let (dispatcher, mut receiver) = local(s.outbox.clone(), s.wake.clone(), opts(1024));
        let running = Running::spawn(dispatcher);
        let got = recv_n(&mut receiver, 5).await;
        let mut got = got.into_iter();
        got.next().unwrap().ack();
        got.next().unwrap().ack();
        eventually("two acks applied", || running.stats.snapshot().acked == 2).await;
        // The store goes down with commits 3..5 still being processed by the daemon.
        running.stop().await;
        drop(got);
        drop(receiver);
        s.db.flush().unwrap();
    }
    let s = StoreDb::open(dir.path());
    assert_eq!(pending_ids(&s.outbox), [3, 4, 5]);
    let (dispatcher, mut receiver) = local(s.outbox.clone(), s.wake.clone(), opts(1024));
    let running = Running::spawn(dispatcher);
    assert_eq!(ids(&recv_n(&mut receiver, 3).await), [3, 4, 5]);
    assert_nothing_for(&mut receiver, Duration::from_millis(50)).await;
    running.stop().await;
}

#[tokio::test]
async fn a_dropped_delivery_frees_its_slot_and_stays_in_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    s.stage(1..=3);
    let (dispatcher, mut receiver) = local(s.outbox.clone(), s.wake.clone(), opts(1));
    let running = Running::spawn(dispatcher);

    let first = recv(&mut receiver).await;
    assert_eq!(first.commit_id(), 1);
    drop(first);
    // The window of one is free again: the stream goes on instead of stalling.
    let second = recv(&mut receiver).await;
    assert_eq!(second.commit_id(), 2);
    second.ack();
    recv(&mut receiver).await.ack();
    eventually("two acks applied", || running.stats.snapshot().acked == 2).await;
    let snap = running.stats.snapshot();
    assert_eq!((snap.released, snap.backlog), (1, 1));
    assert_eq!(pending_ids(&s.outbox), [1]);
    running.stop().await;
    drop(receiver);

    // The next session (here: a new dispatcher) delivers it again.
    let (dispatcher, mut receiver) = local(s.outbox.clone(), s.wake.clone(), opts(1));
    let running = Running::spawn(dispatcher);
    assert_eq!(recv(&mut receiver).await.commit_id(), 1);
    running.stop().await;
}

#[tokio::test]
async fn an_unreadable_entry_is_skipped_and_counted_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    s.stage([1, 3]);
    s.outbox
        .tree()
        .insert(2u64.to_be_bytes(), &b"garbage"[..])
        .unwrap();
    let (dispatcher, mut receiver) = local(s.outbox.clone(), s.wake.clone(), opts(1024));
    let running = Running::spawn(dispatcher);
    assert_eq!(ids(&recv_n(&mut receiver, 2).await), [1, 3]);
    assert_eq!(running.stats.snapshot().skipped, 1);
    assert_eq!(s.outbox.len(), 3, "the bad entry is kept for the operator");
    running.stop().await;
}

#[tokio::test]
async fn dropping_the_receiver_ends_the_dispatcher_after_its_queued_acks() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    s.stage(1..=3);
    let (dispatcher, mut receiver) = local(s.outbox.clone(), s.wake.clone(), opts(1024));
    let task = tokio::spawn(dispatcher.run());
    let got = recv_n(&mut receiver, 3).await;
    for d in got {
        d.ack();
    }
    drop(receiver);
    within("the dispatcher to end", task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.outbox.is_empty(),
        "acks queued before the drop are applied"
    );
}

#[tokio::test]
async fn invalid_options_fail_run_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let (dispatcher, mut receiver) = local(s.outbox.clone(), s.wake.clone(), opts(0));
    let err = dispatcher.run().await.unwrap_err();
    assert!(matches!(
        err,
        HookError::InvalidOption {
            field: "window",
            ..
        }
    ));
    assert_contains(&err, "1 to 1048576");
    assert!(receiver.recv().await.is_none());
}
