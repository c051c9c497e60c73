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
    let daemon = Proc::daemon(socket, &url, &daemon_data, &[], &daemon_log);
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
    let daemon = Proc::daemon(socket, &url, &daemon_data, &[], &second_log);
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
    let daemon = Proc::daemon(
        socket,
        &store_url,
        &dir.path().join("daemon"),
        &[],
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

/// Forwards every connection on `listener` to `to`, byte for byte, until
/// the test ends.
fn forward(listener: std::net::TcpListener, to: String) {
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&to) else {
                continue;
            };
            for (mut from, mut into) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

#[test]
fn a_commit_the_daemon_cannot_read_yet_is_retried_until_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hooks.sock");
    let socket = socket.to_str().unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    std::fs::write(jobs.join("count.wasm"), crate::jobs::wasm("count")).unwrap();
    let (store, url) = Proc::node(
        &[
            "store",
            "--data",
            dir.path().join("data").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--grace-ms",
            "0",
            "--hook-socket",
            socket,
        ],
        &dir.path().join("store.log"),
    );
    // The daemon reads commits through a port where nothing answers yet.
    let relay_port = free_port();
    let daemon_log = dir.path().join("daemon.log");
    let daemon = Proc::daemon(
        socket,
        &format!("http://127.0.0.1:{relay_port}"),
        &dir.path().join("daemon"),
        &["--jobs-dir", jobs.to_str().unwrap(), "--no-cgroups"],
        &daemon_log,
    );
    post(&url, now() - 10);
    wait_until(10, "the daemon to fail reading", || {
        std::fs::read_to_string(&daemon_log)
            .unwrap()
            .contains("trying again")
    });
    assert_eq!(
        metric(&url, "epochd_store_hook_backlog"),
        Some(4.0),
        "nothing acknowledged yet"
    );
    // The store becomes reachable: the held commits are processed and acknowledged.
    let relay = std::net::TcpListener::bind(("127.0.0.1", relay_port)).unwrap();
    forward(relay, url.trim_start_matches("http://").to_owned());
    wait_until(40, "the backlog to drain", || {
        metric(&url, "epochd_store_hook_backlog") == Some(0.0)
    });
    let log = std::fs::read_to_string(&daemon_log).unwrap();
    assert_eq!(
        log.matches("job=count").count(),
        4,
        "one count result per dc: {log}"
    );
    daemon.stop();
    store.stop();
}
