//! Encoded sizes match the reference measurements (docs/WORKLOAD.md, "Sizes").

use epochd_workload::{Format, Kind};

use crate::support::{decode_msgpack, reference, Ordered, EPOCH};

const N: usize = 20_000;
/// The reference figures were measured on real-looking data; ours must land within 12%.
const TOLERANCE: f64 = 0.12;

fn assert_near(what: &str, got: f64, reference: f64) {
    println!("{what}: {got:.1} B (reference {reference} B)");
    assert!(
        (got / reference - 1.0).abs() <= TOLERANCE,
        "{what}: {got:.1} B is more than {}% from {reference} B",
        TOLERANCE * 100.0
    );
}

#[test]
fn average_sizes_match_the_reference() {
    let w = reference();
    let (mut web, mut av) = ((0usize, 0usize), (0usize, 0usize));
    let (mut msgpack_total, mut json_total) = (0usize, 0usize);
    let mut buf = Vec::new();
    for e in w.epoch(EPOCH, N) {
        buf.clear();
        e.write_msgpack(&mut buf);
        let size = buf.len();
        msgpack_total += size;
        let slot = match e.kind() {
            Kind::Web => &mut web,
            Kind::Av => &mut av,
        };
        slot.0 += size;
        slot.1 += 1;
        buf.clear();
        e.write_json(&mut buf);
        json_total += buf.len();
    }
    assert_near("MessagePack WEB", web.0 as f64 / web.1 as f64, 1240.0);
    assert_near("MessagePack AV", av.0 as f64 / av.1 as f64, 150.0);
    assert_near("MessagePack all", msgpack_total as f64 / N as f64, 584.0);
    assert_near("JSON all", json_total as f64 / N as f64, 686.0);
}

#[test]
fn the_request_line_is_about_230_bytes() {
    let events: Vec<Ordered> =
        decode_msgpack(&reference().encode_epoch(EPOCH, 5_000, Format::MsgPack));
    let lines: Vec<usize> = events
        .iter()
        .filter(|e| e.str("type") == "WEB")
        .map(|e| e.str("tuning.the_request").len())
        .collect();
    let mean = lines.iter().sum::<usize>() as f64 / lines.len() as f64;
    let (min, max) = (lines.iter().min().unwrap(), lines.iter().max().unwrap());
    println!("the_request: mean {mean:.1} B, min {min}, max {max}");
    assert!((mean / 230.0 - 1.0).abs() <= TOLERANCE, "mean {mean}");
}
