use epochd_job::log::Level;
use epochd_job::testing::{self, MockEpoch};
use epochd_job::{Epoch, JobError, Json, Output};
use serde_json::json;

fn epoch() -> MockEpoch {
    MockEpoch::from_events(100, "ams4", [json!({"a": 1})])
}

#[test]
fn ok_result_is_emitted() {
    let out = epoch().run(|e: &Epoch| -> Result<Json<serde_json::Value>, JobError> {
        Ok(Json(json!({"rows": e.rows(), "dc": e.dc()})))
    });
    assert_eq!(out.code, 0);
    assert_eq!(out.result, br#"{"dc":"ams4","rows":1}"#);
    assert_eq!(out.failure, None);
}

#[test]
fn every_output_kind_converts() {
    let e = epoch();
    assert_eq!(
        e.run(|_: &Epoch| Ok::<_, JobError>("text")).unwrap(),
        b"text"
    );
    assert_eq!(
        e.run(|_: &Epoch| Ok::<_, JobError>(String::from("s")))
            .unwrap(),
        b"s"
    );
    assert_eq!(
        e.run(|_: &Epoch| Ok::<_, JobError>(vec![1u8, 2])).unwrap(),
        [1, 2]
    );
    assert_eq!(
        e.run(|_: &Epoch| Ok::<_, JobError>(&b"b"[..])).unwrap(),
        b"b"
    );
    assert_eq!(
        e.run(|_: &Epoch| Ok::<_, JobError>(Output::bytes("o")))
            .unwrap(),
        b"o"
    );
    assert!(e.run(|_: &Epoch| Ok::<_, JobError>(())).unwrap().is_empty());
    // Any error converting into JobError.
    let out = e.run(|_: &Epoch| Err::<(), _>("plain &str error"));
    assert_eq!(out.failure.as_deref(), Some("plain &str error"));
}

#[test]
fn an_error_is_reported_with_fail_and_a_non_zero_return() {
    let out = epoch()
        .run(|_: &Epoch| -> Result<(), JobError> { epochd_job::bail!("no {} here", "luck") });
    assert_eq!(out.code, 1);
    assert_eq!(out.failure.as_deref(), Some("no luck here"));
    assert!(out.result.is_empty());
}

#[test]
fn a_result_over_the_limit_fails_the_run() {
    let e = MockEpoch::builder(1, "x").max_result_size(10).build();
    let out = e.run(|_: &Epoch| Ok::<_, JobError>(vec![0u8; 11]));
    assert_eq!(out.code, 1);
    assert!(out.result.is_empty());
    assert_eq!(
        out.failure.as_deref(),
        Some("the result (11 bytes) is larger than the job's maximum result size")
    );
    assert!(e.run(|_: &Epoch| Ok::<_, JobError>(vec![0u8; 10])).is_ok());
}

#[test]
fn config_and_logs() {
    let e = MockEpoch::builder(1, "x")
        .config(r#"{"field": "tuning.wallclock"}"#)
        .build();
    let out = e.run(|_: &Epoch| -> Result<String, JobError> {
        #[derive(serde::Deserialize)]
        struct Config {
            field: String,
        }
        let c: Config = epochd_job::config_json()?.expect("a config");
        epochd_job::info!("field {}", c.field);
        epochd_job::warn!("careful");
        for i in 0..100 {
            epochd_job::debug!("line {i}");
        }
        Ok(c.field)
    });
    assert_eq!(out.result, b"tuning.wallclock");
    assert_eq!(
        out.logs[0],
        (Level::Info, "field tuning.wallclock".to_owned())
    );
    assert_eq!(out.logs[1], (Level::Warn, "careful".to_owned()));
    assert_eq!(out.logs.len(), 64, "the host keeps 64 lines");

    let none = epoch().run(|_: &Epoch| -> Result<String, JobError> {
        assert_eq!(epochd_job::config_json::<serde_json::Value>()?, None);
        epochd_job::config_str()
    });
    assert_eq!(none.unwrap(), b"");

    let bad = MockEpoch::builder(1, "x").config("{not json").build();
    let out = bad.run(|_: &Epoch| -> Result<(), JobError> {
        epochd_job::config_json::<serde_json::Value>()?;
        Ok(())
    });
    assert!(out
        .failure
        .unwrap()
        .starts_with("the job's config is not the JSON it expects"));
}

fn concat(a: &[u8], b: &[u8]) -> Result<Vec<u8>, JobError> {
    assert!(
        !a.is_empty() && !b.is_empty(),
        "the glue handles empty inputs"
    );
    Ok([a, b"+", b].concat())
}

#[test]
fn merge_calls_the_function_and_applies_the_identity_law_itself() {
    assert_eq!(testing::merge(concat, b"a", b"b").unwrap(), b"a+b");
    assert_eq!(testing::merge(concat, b"", b"b").unwrap(), b"b");
    assert_eq!(testing::merge(concat, b"a", b"").unwrap(), b"a");
    assert_eq!(testing::merge(concat, b"", b"").unwrap(), b"");
}

#[test]
fn merge_sees_the_epoch_without_rows() {
    let e = epoch();
    let out = e.merge(
        |a: &[u8], _b: &[u8]| -> Result<Vec<u8>, JobError> {
            let epoch = Epoch::current();
            assert_eq!(epoch.rows(), 0);
            assert!(epoch.int("a").is_none());
            assert_eq!(epoch.epoch(), 100);
            Ok(a.to_vec())
        },
        b"x",
        b"y",
    );
    assert_eq!(out.unwrap(), b"x");
}

#[test]
fn merge_errors_are_reported() {
    let out = testing::merge(
        |a: &[u8], _: &[u8]| -> Result<Json<u64>, JobError> {
            Ok(Json(Json::<u64>::parse(a)? + 1))
        },
        b"nope",
        b"1",
    );
    assert_eq!(out.code, 1);
    assert!(out.failure.unwrap().starts_with("JSON: "));
}

#[test]
#[should_panic(expected = "outside a job run")]
fn reading_the_epoch_outside_a_run_panics_clearly() {
    Epoch::current().rows();
}

#[test]
fn a_panicking_job_leaves_no_host_behind() {
    let e = epoch();
    let caught =
        std::panic::catch_unwind(|| e.run(|_: &Epoch| -> Result<(), JobError> { panic!("boom") }));
    assert!(caught.is_err());
    // The next run on this thread works.
    assert!(e.run(|_: &Epoch| Ok::<_, JobError>(())).is_ok());
}
