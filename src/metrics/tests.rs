use super::*;

fn ok(ms: u64) -> Sample<'static> {
    Sample {
        latency: Some(Duration::from_millis(ms)),
        content_length: 10,
        failure: None,
    }
}

fn failed(ms: u64, message: &str) -> Sample<'_> {
    Sample {
        failure: Some(message),
        ..ok(ms)
    }
}

#[test]
fn redacted_rows_and_errors_merge_with_exact_counts() {
    let recorder = Recorder::new(2);
    let mut secrets = crate::text::Secrets::default();
    secrets.add("tok-1111");
    secrets.add("tok-2222");
    for (i, token) in ["tok-1111", "tok-2222", "tok-1111"].iter().enumerate() {
        let key = EndpointKey::new(Method::GET, format!("/a/{token}"));
        let message = format!("HTTP 500 for {token}");
        recorder.record(i, &key, ok(1));
        recorder.record(i, &key, failed(2, &message));
    }
    let snapshot = recorder.snapshot().redact(&secrets);
    assert_eq!(snapshot.endpoints.len(), 1);
    let row = &snapshot.endpoints[&EndpointKey::new(Method::GET, "/a/***")];
    assert_eq!((row.requests, row.failures), (6, 3));
    assert_eq!(snapshot.errors.len(), 1);
    assert_eq!(snapshot.errors[0].message, "HTTP 500 for ***");
    assert_eq!(snapshot.errors[0].occurrences, 3);
}

#[test]
fn rows_past_the_limit_are_counted_under_one() {
    let recorder = Recorder::new(4);
    for i in 0..MAX_ENDPOINTS + 500 {
        let key = EndpointKey::new(Method::GET, format!("/items/{i}"));
        let kept = recorder.record(i, &key, ok(1));
        assert_eq!(kept, i < MAX_ENDPOINTS, "{i}");
    }
    let snapshot = recorder.snapshot();
    assert_eq!(snapshot.endpoints.len(), MAX_ENDPOINTS + 1);
    let other = &snapshot.endpoints[&EndpointKey::new(Method::GET, OTHER_ENDPOINTS)];
    assert_eq!(other.requests, 500);
    assert_eq!(snapshot.total.requests, MAX_ENDPOINTS as u64 + 500);
    // A known row stays itself in every shard.
    assert!(recorder.record(3, &EndpointKey::new(Method::GET, "/items/0"), ok(1)));
}

#[test]
fn shards_merge_into_one_exact_snapshot() {
    let recorder = Recorder::new(4);
    let key = EndpointKey::new(Method::GET, "/a");
    for shard in 0..8 {
        recorder.record(shard, &key, ok(shard as u64 + 1));
    }
    recorder.record(
        1,
        &key,
        Sample {
            latency: Some(Duration::from_millis(3)),
            content_length: 0,
            failure: Some("500"),
        },
    );
    let snapshot = recorder.snapshot();
    let stats = &snapshot.endpoints[&key];
    assert_eq!(
        (stats.requests, stats.failures, stats.content_bytes),
        (9, 1, 80)
    );
    assert_eq!((stats.min_ms(), stats.max_ms()), (1.0, 8.0));
    assert_eq!(snapshot.total.requests, 9);
    assert_eq!(snapshot.errors.len(), 1);
    assert_eq!(snapshot.errors[0].occurrences, 1);
}

#[test]
fn histogram_keeps_large_values() {
    let mut stats = EndpointStats::default();
    stats.record(&ok(9));
    stats.record(&ok(12_000));
    assert_eq!(stats.histogram.value_at_quantile(0.0) / 1000, 9);
    assert!(stats
        .histogram
        .equivalent(stats.histogram.max(), 12_000_000));
}

#[test]
fn untimed_failures_count_but_do_not_skew_latency() {
    let mut stats = EndpointStats::default();
    stats.record(&ok(4));
    stats.record(&Sample {
        latency: None,
        content_length: 0,
        failure: Some("template"),
    });
    assert_eq!((stats.requests, stats.timed(), stats.failures), (2, 1, 1));
    assert_eq!(stats.average_ms(), 4.0);
}

#[test]
fn interval_resets_but_total_does_not() {
    let recorder = Recorder::new(2);
    let key = EndpointKey::new(Method::GET, "/a");
    recorder.record(0, &key, ok(1));
    recorder.record(1, &key, ok(2));
    let first = recorder.take_interval();
    assert_eq!((first.current.requests, first.total.requests), (2, 2));
    recorder.record(0, &key, ok(1));
    let second = recorder.take_interval();
    assert_eq!((second.current.requests, second.total.requests), (1, 3));
}

#[test]
fn a_reset_starts_the_statistics_over_but_not_the_interval() {
    let recorder = Recorder::new(2);
    let key = EndpointKey::new(Method::GET, "/a");
    recorder.record(0, &key, ok(5));
    recorder.record(
        1,
        &key,
        Sample {
            failure: Some("boom"),
            ..ok(7)
        },
    );
    recorder.reset();
    recorder.record(0, &key, ok(9));
    let snapshot = recorder.snapshot();
    assert_eq!(snapshot.total.requests, 1);
    assert_eq!(snapshot.endpoints[&key].min_micros, 9000);
    assert!(snapshot.errors.is_empty());
    let interval = recorder.take_interval();
    assert_eq!((interval.current.requests, interval.total.requests), (3, 1));
}

#[test]
fn distinct_error_messages_are_bounded() {
    let recorder = Recorder::new(1);
    let key = EndpointKey::new(Method::GET, "/a");
    for i in 0..(MAX_DISTINCT_ERRORS + 50) {
        let message = format!("error {i}");
        recorder.record(
            0,
            &key,
            Sample {
                latency: None,
                content_length: 0,
                failure: Some(&message),
            },
        );
    }
    let errors = recorder.snapshot().errors;
    assert_eq!(errors.len(), MAX_DISTINCT_ERRORS + 1);
    let other = errors.iter().find(|e| e.message == OTHER_ERRORS).unwrap();
    assert_eq!(other.occurrences, 50);
}

#[test]
fn rows_sort_by_name_then_method() {
    let mut keys = [
        EndpointKey::new(Method::POST, "/b"),
        EndpointKey::new(Method::GET, "/b"),
        EndpointKey::new(Method::POST, "/a"),
    ];
    keys.sort();
    let order: Vec<String> = keys
        .iter()
        .map(|k| format!("{} {}", k.method, k.name))
        .collect();
    assert_eq!(order, ["POST /a", "GET /b", "POST /b"]);
}
