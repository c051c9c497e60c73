//! Same coordinates, same bytes; any event can be generated on its own.

use epochd_workload::{Format, Workload, WorkloadConfig, WORKLOAD_VERSION};

use crate::support::{both, decode_msgpack, reference, Ordered, EPOCH};

fn with_seed(seed: u64) -> Workload {
    Workload::new(WorkloadConfig {
        seed,
        ..WorkloadConfig::default()
    })
}

#[test]
fn same_seed_and_epoch_give_identical_bytes() {
    // Two independently built workloads, so nothing is shared but the config.
    let (a, b) = (reference(), reference());
    assert_eq!(both(&a, EPOCH, 2_000), both(&b, EPOCH, 2_000));
}

#[test]
fn different_seeds_or_epochs_give_different_events() {
    let a = reference().encode_epoch(EPOCH, 500, Format::MsgPack);
    let other_seed = with_seed(43).encode_epoch(EPOCH, 500, Format::MsgPack);
    let other_epoch = reference().encode_epoch(EPOCH + 1, 500, Format::MsgPack);
    assert_ne!(a, other_seed);
    assert_ne!(a[..], other_epoch[..]);
}

#[test]
fn an_epoch_does_not_depend_on_the_epochs_before_it() {
    let fresh = reference();
    let direct = fresh.encode_epoch(5, 300, Format::MsgPack);
    let warmed = reference();
    for epoch in 0..5 {
        warmed.encode_epoch(epoch, 300, Format::MsgPack);
    }
    assert_eq!(direct, warmed.encode_epoch(5, 300, Format::MsgPack));
}

#[test]
fn skipping_and_splitting_give_the_same_events_as_a_full_pass() {
    let w = reference();
    let encode = |events: &mut dyn Iterator<Item = epochd_workload::Event<'_>>| {
        let mut out = Vec::new();
        for e in events {
            e.write_msgpack(&mut out);
        }
        out
    };
    let full = encode(&mut w.epoch(EPOCH, 1_000));
    // As several threads would: each takes its own range of indexes.
    let mut split = Vec::new();
    for start in (0..1_000).step_by(300) {
        split.extend(encode(&mut w.epoch(EPOCH, 1_000).skip(start).take(300)));
    }
    assert_eq!(full, split);

    let mut events = w.epoch(EPOCH, 1_000);
    assert_eq!(events.len(), 1_000);
    let e = events.nth(999).expect("the last event");
    assert_eq!(events.len(), 0);
    assert!(events.next().is_none());
    let mut last = Vec::new();
    e.write_msgpack(&mut last);
    assert!(full.ends_with(&last));
}

#[test]
fn threads_sharing_one_workload_generate_the_same_epoch() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Workload>();
    assert_send_sync::<epochd_workload::Event<'static>>();

    let w = reference();
    let full = w.encode_epoch(EPOCH, 4_000, Format::Ndjson);
    let parts: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|part| {
                let w = &w;
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for e in w.epoch(EPOCH, 4_000).skip(part * 1_000).take(1_000) {
                        e.write_json(&mut out);
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(full, parts.concat());
}

#[test]
fn the_count_changes_only_timestamps() {
    let w = reference();
    let strip = |count| -> Vec<Ordered> {
        let events: Vec<Ordered> = decode_msgpack(&w.encode_epoch(EPOCH, count, Format::MsgPack));
        events
            .into_iter()
            .take(100)
            .map(|e| match e {
                Ordered::Map(entries) => Ordered::Map(
                    entries
                        .into_iter()
                        .filter(|(k, _)| k != "timestamp")
                        .collect(),
                ),
                other => other,
            })
            .collect()
    };
    assert_eq!(strip(100), strip(5_000));
}

/// FNV-1a, to fingerprint output without depending on a hashing crate.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[test]
fn the_reference_output_has_not_changed() {
    // Benchmarks are compared over time on this input. If a change to the generator is
    // intended, bump WORKLOAD_VERSION and update both numbers together.
    let (msgpack, ndjson) = both(&reference(), EPOCH, 1_000);
    let got = (WORKLOAD_VERSION, fnv1a(&msgpack), fnv1a(&ndjson));
    assert_eq!(
        got,
        (1, 18251826997036637788, 6019340699311689782),
        "the generated workload changed"
    );
}
