//! Every field of docs/WORKLOAD.md is there, with its type and range.

use std::collections::HashSet;

use epochd_workload::{Event, Format, Kind};

use crate::support::{decode_msgpack, reference, Ordered, EPOCH};

fn decoded(count: usize) -> Vec<Ordered> {
    decode_msgpack(&reference().encode_epoch(EPOCH, count, Format::MsgPack))
}

fn in_range(what: &str, v: u64, lo: u64, hi: u64) {
    assert!((lo..=hi).contains(&v), "{what} = {v}, expected {lo}..={hi}");
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn timestamps_are_inside_their_epoch_and_non_decreasing() {
    let w = reference();
    for count in [1, 10, 20_000] {
        let events: Vec<Event<'_>> = w.epoch(EPOCH, count).collect();
        assert_eq!(events.len(), count);
        let mut last = f64::MIN;
        for e in &events {
            let t = e.timestamp();
            assert_eq!(e.epoch(), EPOCH);
            assert!(t >= EPOCH as f64 && t < (EPOCH + 1) as f64, "{t}");
            // Whole microseconds: at most 6 decimals in the shortest text of the float.
            let text = serde_json::to_string(&t).unwrap();
            let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
            assert!(decimals <= 6, "{text}");
            assert!(t >= last, "{t} after {last}");
            last = t;
        }
    }
    // The encoded field is the accessor's value.
    for (e, d) in w.epoch(EPOCH, 200).zip(decoded(200)) {
        assert_eq!(d.float("timestamp"), e.timestamp());
    }
}

#[test]
fn accessors_agree_with_the_encoded_fields() {
    for (e, d) in reference().epoch(EPOCH, 2_000).zip(decoded(2_000)) {
        assert_eq!(d.uint("epoch"), e.epoch());
        assert_eq!(d.str("type"), e.kind().as_str());
        assert_eq!(d.str("subtype"), e.subtype());
        assert_eq!(d.str("dc"), e.dc());
        assert_eq!(d.str("host"), e.host());
        if e.kind() == Kind::Web {
            assert_eq!(Some(d.uint("tuning.status")), e.status());
            assert_eq!(Some(d.uint("tuning.wallclock")), e.wallclock_ms());
        }
    }
}

#[test]
fn av_events_have_every_field_in_range() {
    let events = decoded(5_000);
    let mut hosts = HashSet::new();
    for e in events.iter().filter(|e| e.str("type") == "AV") {
        assert_eq!(
            e.keys(),
            [
                "epoch",
                "timestamp",
                "type",
                "subtype",
                "dc",
                "host",
                "hotel_id",
                "nr_rooms",
                "latency_ms",
                "cache_hit"
            ]
        );
        assert_eq!(e.str("subtype"), "availability_cluster");
        let host = e.str("host");
        let n: u64 = host
            .strip_prefix("avc-")
            .and_then(|h| h.strip_suffix(&format!(".{}", e.str("dc"))))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad AV host {host}"));
        in_range("avc-N", n, 1, 400);
        hosts.insert(host.to_string());
        assert!(e.uint("hotel_id") < 3_000_000);
        in_range("nr_rooms", e.uint("nr_rooms"), 1, 20);
        assert!(e.float("latency_ms") > 0.0);
        in_range("cache_hit", e.uint("cache_hit"), 0, 1);
    }
    assert!(
        hosts.len() > 500,
        "hosts spread over the dcs: {}",
        hosts.len()
    );
}

#[test]
fn web_events_have_every_field_with_its_type_and_range() {
    let events = decoded(5_000);
    let web: Vec<&Ordered> = events.iter().filter(|e| e.str("type") == "WEB").collect();
    assert!(web.len() > 1_500);
    let mut leaves = 0;
    for e in &web {
        assert_eq!(
            e.keys(),
            [
                "epoch",
                "timestamp",
                "type",
                "subtype",
                "dc",
                "host",
                "pid",
                "persona",
                "action",
                "tuning",
                "http",
                "experiments",
                "warnings"
            ]
        );
        let dc = e.str("dc");
        let host = e.str("host");
        let suffix = format!(".{dc}.prod.epochd.internal");
        let n = host
            .strip_prefix("app-")
            .and_then(|h| h.strip_suffix(&suffix));
        assert!(n.is_some_and(|n| n.len() == 3), "bad web host {host}");
        in_range("app-NNN", n.unwrap().parse().unwrap(), 1, 900);
        in_range("pid", e.uint("pid"), 1000, 61000);
        assert!(["web", "search", "book", "admin"].contains(&e.str("persona")));

        let name = e.str("action.name");
        assert_eq!(
            name.starts_with("ajax_"),
            e.str("subtype") == "ajax",
            "{name}"
        );
        for flag in ["is_normal_user", "is_robot", "is_internal"] {
            in_range(flag, e.uint(&format!("action.{flag}")), 0, 1);
        }
        assert!(is_hex(e.str("action.pageview_id"), 16));
        let session = e.str("action.session_id");
        assert!(is_hex(session, 32));
        let lang = e.str("action.lang");
        assert_eq!(e.str("action.currency").len(), 3);
        assert_eq!(e.str("action.country").len(), 2);
        in_range("affiliate_id", e.uint("action.affiliate_id"), 1, 2_000_000);
        assert!(e.uint("action.user_id") < 300_000_000);
        in_range("stage", e.uint("action.stage"), 0, 3);
        assert!(e.uint("action.ab_seed") < 1 << 31);

        let request = e.str("tuning.the_request");
        let method = e.str("http.method");
        assert!(["GET", "POST"].contains(&method));
        assert!(
            request.starts_with(&format!("{method} /{name}.{lang}.")),
            "{request}"
        );
        assert!(request.contains(&format!(";sid={session}")) && request.ends_with(" HTTP/1.1"));
        e.uint("tuning.bytes_body");
        in_range("bytes_header", e.uint("tuning.bytes_header"), 300, 900);
        let wallclock = e.uint("tuning.wallclock");
        assert!(wallclock >= 1);
        for time in [
            "utime",
            "stime",
            "db_time",
            "memcached_time",
            "template_time",
        ] {
            let t = e.float(&format!("tuning.{time}"));
            assert!(
                t >= 0.0 && t <= wallclock as f64 / 1000.0 * 0.75,
                "{time} = {t}"
            );
        }
        e.uint("tuning.nr_queries");
        e.uint("tuning.nr_memcached");
        in_range("rss_mb", e.uint("tuning.rss_mb"), 300, 800);
        in_range("gc_count", e.uint("tuning.gc_count"), 0, 4);
        assert!([200, 301, 302, 404, 500].contains(&e.uint("tuning.status")));

        let referer = e.str("http.referer");
        assert!(
            referer.is_empty() || referer.starts_with("https://"),
            "{referer}"
        );
        assert!(e.str("http.user_agent").starts_with("Mozilla/5.0 ("));
        let octets: Vec<u8> = e
            .str("http.ip")
            .split('.')
            .map(|o| o.parse().expect("an octet"))
            .collect();
        assert_eq!(octets.len(), 4);
        assert_eq!(e.str("http.accept_language"), format!("{lang},en;q=0.9"));
        assert_eq!(e.str("http.proto"), "https");

        let experiments = e.entries("experiments");
        in_range("experiments", experiments.len() as u64, 3, 10);
        let names: HashSet<&str> = experiments.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names.len(),
            experiments.len(),
            "experiment keys are distinct"
        );
        for (key, value) in experiments {
            let (word, hex) = key
                .strip_prefix("exp_")
                .and_then(|rest| rest.rsplit_once('_'))
                .unwrap_or_else(|| panic!("bad experiment {key}"));
            assert!(
                !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()),
                "{key}"
            );
            assert!(is_hex(hex, 6), "{key}");
            assert!(matches!(value, Ordered::UInt(0..=2)), "{key} = {value:?}");
        }

        let warnings = e.items("warnings");
        assert_eq!(warnings.len() as u64, e.uint("tuning.nr_warnings"));
        in_range("nr_warnings", warnings.len() as u64, 0, 3);
        assert!(warnings
            .iter()
            .all(|w| matches!(w, Ordered::Str(s) if s.contains(" line "))));

        leaves += 8 + 13 + 15 + 6 + experiments.len() + warnings.len();
    }
    let mean_leaves = leaves as f64 / web.len() as f64;
    println!("WEB leaves per event: {mean_leaves:.1}");
    assert!((45.0..=53.0).contains(&mean_leaves), "{mean_leaves}");
}

#[test]
fn skewed_fields_are_skewed_and_cover_their_dictionaries() {
    let events = decoded(20_000);
    let web: Vec<&Ordered> = events.iter().filter(|e| e.str("type") == "WEB").collect();
    let distinct = |path: &str| {
        web.iter()
            .map(|e| e.str(path))
            .collect::<HashSet<_>>()
            .len()
    };
    assert!(distinct("action.lang") >= 35);
    assert_eq!(distinct("action.currency"), 20);
    assert!(distinct("action.country") >= 70);
    assert!(distinct("http.user_agent") >= 55);
    assert!(distinct("action.name") >= 250);
    let experiments: HashSet<&str> = web
        .iter()
        .flat_map(|e| e.entries("experiments").iter().map(|(k, _)| k.as_str()))
        .collect();
    assert!(
        experiments.len() > 1_500,
        "{} experiment names seen",
        experiments.len()
    );
    // Zipf: the most common language is far more common than the median one.
    let en = web
        .iter()
        .filter(|e| e.str("action.lang") == "en-gb")
        .count();
    let ca = web.iter().filter(|e| e.str("action.lang") == "ca").count();
    assert!(en > 20 * ca.max(1), "en-gb {en}, ca {ca}");
}
