//! The durable outbox on its own.

use epochd_hooks::{HookError, Outbox};
use sled::transaction::{abort, ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::support::{notice, pending_ids, stage, StoreDb};

#[test]
fn pending_is_in_commit_order_and_ack_removes() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    // Staged out of order: the big-endian keys still iterate in commit-id order.
    stage(&s.db, &s.outbox, [3, 1, 258, 2]);

    assert_eq!(pending_ids(&s.outbox), [1, 2, 3, 258]);
    let from: Vec<u64> = s
        .outbox
        .pending_from(3)
        .map(|n| n.unwrap().commit_id)
        .collect();
    assert_eq!(from, [3, 258]);
    assert_eq!(s.outbox.len(), 4);
    assert_eq!(s.outbox.oldest().unwrap(), Some(notice(1)));
    assert_eq!(s.outbox.pending().next().unwrap().unwrap(), notice(1));

    assert!(s.outbox.ack(2).unwrap());
    assert!(!s.outbox.ack(2).unwrap(), "a repeated ack changes nothing");
    assert!(
        !s.outbox.ack(99).unwrap(),
        "acking an unknown id changes nothing"
    );
    assert_eq!(pending_ids(&s.outbox), [1, 3, 258]);

    for id in [1, 3, 258] {
        s.outbox.ack(id).unwrap();
    }
    assert!(s.outbox.is_empty());
    assert_eq!(s.outbox.oldest().unwrap(), None);
}

#[test]
fn pending_survives_reopening_the_db() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = StoreDb::open(dir.path());
        stage(&s.db, &s.outbox, 1..=5);
        s.outbox.ack(2).unwrap();
        s.db.flush().unwrap();
    }
    let s = StoreDb::open(dir.path());
    assert_eq!(pending_ids(&s.outbox), [1, 3, 4, 5]);
    assert_eq!(s.outbox.oldest().unwrap(), Some(notice(1)));
}

#[test]
fn stage_commits_or_aborts_with_the_stores_own_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let manifests = s.db.open_tree("manifests").unwrap();

    let aborted: Result<(), TransactionError<&str>> =
        (&manifests, s.outbox.tree()).transaction(|(m, o)| {
            m.insert(&b"m1"[..], &b"chunks"[..])?;
            Outbox::stage(o, &notice(1))?;
            abort("the manifest failed validation")
        });
    assert!(aborted.is_err());
    assert!(s.outbox.is_empty() && manifests.is_empty());

    (&manifests, s.outbox.tree())
        .transaction(|(m, o)| {
            m.insert(&b"m1"[..], &b"chunks"[..])?;
            Outbox::stage(o, &notice(1))?;
            Ok::<_, ConflictableTransactionError>(())
        })
        .unwrap();
    assert_eq!(pending_ids(&s.outbox), [1]);
    assert_eq!(manifests.len(), 1);
}

#[test]
fn an_unreadable_entry_is_reported_with_its_commit_id_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    stage(&s.db, &s.outbox, [1, 3]);
    s.outbox
        .tree()
        .insert(2u64.to_be_bytes(), &b"not msgpack"[..])
        .unwrap();

    let items: Vec<_> = s.outbox.pending().collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap().commit_id, 1);
    match &items[1] {
        Err(HookError::BadEntry { commit_id: 2, .. }) => {}
        other => panic!("expected BadEntry for commit 2, got {other:?}"),
    }
    assert_eq!(items[2].as_ref().unwrap().commit_id, 3);
}

#[test]
fn a_notice_of_an_unknown_version_in_the_outbox_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = StoreDb::open(dir.path());
    let mut future = notice(1);
    future.version = 7;
    s.outbox
        .tree()
        .insert(1u64.to_be_bytes(), future.encode())
        .unwrap();

    let err = s.outbox.oldest().unwrap_err();
    match &err {
        HookError::BadEntry {
            commit_id: 1,
            source,
        } => assert!(matches!(
            **source,
            HookError::UnknownNoticeVersion {
                found: 7,
                supported: 1
            }
        )),
        other => panic!("expected BadEntry, got {other:?}"),
    }
    crate::support::assert_contains(&err, "version 7");
}
