//! `dsim export`: Chrome trace JSON that Perfetto opens, and ShiViz logs whose vector
//! clocks are consistent.

mod common;
use common::*;

use std::collections::BTreeMap;

const SLOPPY: &str = "../../scenarios/quorum/nwr-sloppy.toml";

#[test]
fn chrome_trace_has_a_track_per_node_spans_and_message_flows() {
    let (code, out, err) = dsim(&[
        "export",
        SLOPPY,
        "--seed",
        "3",
        "--format",
        "chrome",
        "--max-messages",
        "2000",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let events = v["traceEvents"].as_array().expect("traceEvents");
    let count = |ph: &str| events.iter().filter(|e| e["ph"] == ph).count();
    let threads: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert!(
        threads.contains(&"replica-1") && threads.contains(&"client-3"),
        "{threads:?}"
    );
    assert!(count("X") > 0, "role spans");
    // Every flow has a start and an end, the end no earlier than the start.
    let mut flows: BTreeMap<u64, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for e in events.iter().filter(|e| e["ph"] == "s" || e["ph"] == "f") {
        let slot = flows.entry(e["id"].as_u64().unwrap()).or_default();
        let ts = e["ts"].as_f64();
        if e["ph"] == "s" {
            slot.0 = ts;
        } else {
            slot.1 = ts;
        }
    }
    assert!(count("s") > 0);
    for (id, (s, f)) in &flows {
        let (s, f) = (s.expect("a start"), f.expect("an end"));
        assert!(f >= s, "flow {id} ends before it starts");
    }
    assert!(
        events
            .iter()
            .any(|e| e["cat"] == "fault" || e["name"].as_str().unwrap_or("").starts_with("dropped")),
        "faults or drops are marked"
    );
    for e in events.iter().filter(|e| e["ph"] == "X") {
        assert!(e["dur"].as_f64().unwrap() > 0.0, "{e}");
    }
    assert_eq!(v["otherData"]["seed"], 3);
}

#[test]
fn shiviz_clocks_tick_per_event_and_receives_dominate_their_sends() {
    let (code, out, err) = dsim(&[
        "export",
        SLOPPY,
        "--seed",
        "3",
        "--format",
        "shiviz",
        "--max-messages",
        "3000",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})")
    );
    assert_eq!(lines.next(), Some(""));
    let rest: Vec<&str> = lines.collect();
    assert!(rest.len() > 100 && rest.len().is_multiple_of(2));
    let mut own: BTreeMap<String, u64> = BTreeMap::new();
    let mut last: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    // The clock each message carried, by its #number.
    let mut sent: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut receives = 0;
    // Per host, the (event index, receive-first) of its last line: a host's lines must be
    // in the order it executed them (a reply sent while handling a request comes after
    // the request's receive, in the same event).
    let mut order: BTreeMap<String, (u64, u8)> = BTreeMap::new();
    for pair in rest.chunks(2) {
        let (event, stamp) = (pair[0], pair[1]);
        let (host, clock) = stamp.split_once(' ').expect("host {clock}");
        let clock: BTreeMap<String, u64> = serde_json::from_str(clock).expect("clock JSON");
        // The host's own entry goes up by exactly one per event.
        let n = own.entry(host.to_string()).or_insert(0);
        *n += 1;
        assert_eq!(clock[host], *n, "{event}");
        // A clock never goes back in any component.
        if let Some(prev) = last.get(host) {
            for (k, v) in prev {
                assert!(clock.get(k).copied().unwrap_or(0) >= *v, "{event}");
            }
        }
        let tag = event
            .split_whitespace()
            .nth(1)
            .expect("#number")
            .to_string();
        let index: u64 = event
            .rsplit("(event ")
            .next()
            .and_then(|t| t.trim_end_matches(')').parse().ok())
            .expect("(event N)");
        let step = (index, u8::from(event.starts_with("send ")));
        if let Some(prev) = order.insert(host.to_string(), step) {
            assert!(
                prev <= step,
                "{host} logs {event} after a later step {prev:?}"
            );
        }
        if event.starts_with("send ") {
            sent.insert(tag, clock.clone());
        } else {
            assert!(event.starts_with("recv "), "{event}");
            // Causality: a receive follows its send, and its clock dominates the send's.
            let at_send = sent
                .get(&tag)
                .unwrap_or_else(|| panic!("{event} before its send"));
            for (k, v) in at_send {
                assert!(clock.get(k).copied().unwrap_or(0) >= *v, "{event}: {k}");
            }
            receives += 1;
        }
        last.insert(host.to_string(), clock);
    }
    assert!(receives > 50, "{receives} receives checked");
}
