//! Split mode: the store keeps committing while the daemon is down; the
//! backlog is redelivered in commit order when the daemon returns.

use epochd_workload::{Format, Workload, WorkloadConfig};

use crate::support::*;

fn post(url: &str, epoch: u64) {
    let body = Workload::new(WorkloadConfig::default()).encode_epoch(epoch, 200, Format::MsgPack);
    post_committed(url, body, "application/msgpack");
}

#[test]
fn the_backlog_is_redelivered_in_commit_order_after_the_daemon_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = dir.path().join("hooks.sock");
    let socket = socket.to_str().unwrap();
    let (store, url) = Proc::node(
        &[
            "store",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--grace-ms",
            "0",
            "--hook-socket",
            socket,
        ],
        &dir.path().join("store.log"),
    );
    let daemon_log = dir.path().join("daemon-1.log");
    let daemon_data = dir.path().join("daemon");
    let daemon_args = [
        "daemon",
        "--hook-socket",
        socket,
        "--store-url",
        &url,
        "--data",
        daemon_data.to_str().unwrap(),
    ];
    let (daemon, _) = Proc::start(&daemon_args, &daemon_log);
    let first = now() - 30;
    post(&url, first);
    wait_until(10, "4 commits at the first daemon", || {
        received(&daemon_log).len() == 4
    });
    wait_until(10, "the acks to reach the store", || {
        metric(&url, "epochd_store_hook_backlog") == Some(0.0)
    });

    // The daemon crashes; the store keeps committing.
    daemon.kill9();
    for e in 1..=3 {
        post(&url, first + e);
    }
    assert_eq!(
        metric(&url, "epochd_store_hook_backlog"),
        Some(12.0),
        "3 epochs x 4 dcs wait"
    );

    let second_log = dir.path().join("daemon-2.log");
    let (daemon, _) = Proc::start(&daemon_args, &second_log);
    wait_until(10, "the backlog at the new daemon", || {
        received(&second_log).len() >= 12
    });
    let got = received(&second_log);
    let ids: Vec<u64> = got.iter().map(|r| r.commit_id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "redelivered in commit order");
    assert!(
        got.iter().all(|r| r.epoch > first),
        "acknowledged commits are not sent again"
    );
    assert_eq!(got.iter().map(|r| r.epoch).min(), Some(first + 1));
    wait_until(10, "the backlog to drain", || {
        metric(&url, "epochd_store_hook_backlog") == Some(0.0)
    });
    daemon.stop();
    store.stop();
}

#[test]
fn the_daemon_waits_for_a_store_that_starts_later() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = dir.path().join("hooks.sock");
    let socket = socket.to_str().unwrap();
    let daemon_log = dir.path().join("daemon.log");
    let listen = format!("127.0.0.1:{}", free_port());
    let store_url = format!("http://{listen}");
    let daemon_data = dir.path().join("daemon");
    let (daemon, _) = Proc::start(
        &[
            "daemon",
            "--hook-socket",
            socket,
            "--store-url",
            &store_url,
            "--data",
            daemon_data.to_str().unwrap(),
        ],
        &daemon_log,
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (store, url) = Proc::node(
        &[
            "store",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            &listen,
            "--grace-ms",
            "0",
            "--hook-socket",
            socket,
        ],
        &dir.path().join("store.log"),
    );
    post(&url, now() - 10);
    wait_until(15, "4 commits at the daemon", || {
        received(&daemon_log).len() == 4
    });
    daemon.stop();
    store.stop();
}
