//! The v1 JSON encoding of records (`callrec_server::v1`): one record in the success envelope
//! (a `get_record_by_callId` answer) and a page of 100 records (a `get_records_by_filter` answer),
//! plus parsing a 100-event report body.
//!
//! `cargo bench -p callrec-server --bench wire`

use std::hint::black_box;
use std::time::Duration;

use callrec_domain::{CallResult, CallType, MediaType, Record};
use callrec_server::api::{Outcome, RecordPage, Wire as _};
use callrec_server::json::parse_object;
use callrec_server::ops::ENDPOINTS;
use callrec_server::v1::{V1, parse_event};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;

const REQUEST_ID: &str = "0123456789abcdef0123456789abcdef";

fn record(i: u64) -> Record {
    Record {
        call_id: format!("2ae7d549-c441-4a9b-87c0-{i:012x}"),
        sdkappid: 1_400_000_001,
        media_type: MediaType::Video,
        room_id: "123456".into(),
        start_ms: 1_700_000_000_999,
        accept_ms: Some(1_700_000_005_500),
        end_ms: Some(1_700_000_060_001),
        caller: "user_0042".into(),
        call_type: if i.is_multiple_of(4) {
            CallType::Group
        } else {
            CallType::Single
        },
        result: CallResult::NormalEnd,
        callees: if i.is_multiple_of(4) {
            (0..4).map(|k| format!("user_{:04}", 100 + k)).collect()
        } else {
            vec!["user_0117".into()]
        },
        room_id_type: None,
    }
}

fn report_body(n: usize) -> String {
    let mut events = Vec::with_capacity(n);
    for i in 0..n {
        let call = format!("7c9e6679-7425-40de-944b-{:012x}", i / 4);
        let t = 1_700_000_000_000_i64 + i as i64 * 1000;
        events.push(match i % 4 {
            0 => format!(
                r#"{{"callId":"{call}","type":"start","userId":"user_0001","time":{t},"eventId":"e{i}","callees":["user_0002"],"mediaType":"audio","roomId":"r{i}"}}"#
            ),
            1 => format!(r#"{{"callId":"{call}","type":"accept","userId":"user_0002","time":{t},"eventId":"e{i}"}}"#),
            2 => format!(r#"{{"callId":"{call}","type":"hangup","userId":"user_0002","time":{t},"eventId":"e{i}"}}"#),
            _ => format!(r#"{{"callId":"{call}","type":"hangup","userId":"user_0001","time":{t},"eventId":"e{i}"}}"#),
        });
    }
    format!(r#"{{"events":[{}]}}"#, events.join(","))
}

fn bench_wire(c: &mut Criterion) {
    let one = record(1);
    let page: Vec<Record> = (0..100).map(record).collect();
    let mut g = c.benchmark_group("wire");
    g.bench_function("record_envelope", |b| {
        b.iter(|| {
            let outcome = Outcome::Record(black_box(&one).clone());
            V1.success(&ENDPOINTS[0], &outcome, REQUEST_ID)
        });
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("filter_page_100_envelope", |b| {
        b.iter(|| {
            let outcome = Outcome::Page(RecordPage {
                total: Some(10_000_000),
                next_cursor: None,
                page: 3,
                records: black_box(&page).clone(),
            });
            V1.success(&ENDPOINTS[1], &outcome, REQUEST_ID)
        });
    });
    let body = report_body(100);
    g.bench_function("parse_report_100_events", |b| {
        b.iter(|| {
            let obj = parse_object(black_box(body.as_bytes())).unwrap();
            let Some(Value::Array(events)) = obj.get("events") else {
                unreachable!()
            };
            events
                .iter()
                .map(|e| parse_event(e).unwrap())
                .collect::<Vec<_>>()
        });
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_wire
}
criterion_main!(benches);
