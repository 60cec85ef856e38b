//! Property tests of the stream parser: arbitrary bytes cut anywhere never panic, and a valid
//! stream decodes the same however the network splits it.

use proptest::prelude::*;
use quantbench::client::{Observation, StreamParser};
use std::time::Duration;

fn parse(bytes: &[u8], cuts: &[usize]) -> Observation {
    let mut parser = StreamParser::new(Observation::default(), 4096, 1000);
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut start = 0;
    for (i, &cut) in cuts.iter().chain([bytes.len()].iter()).enumerate() {
        parser.push(&bytes[start..cut.max(start)], Duration::from_millis(i as u64));
        start = cut.max(start);
    }
    parser.end_of_body(Duration::from_secs(1));
    parser.finish()
}

fn sse(texts: &[String]) -> Vec<u8> {
    let mut out = b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n: keepalive\n\n".to_vec();
    for t in texts {
        let chunk = serde_json::json!({"choices":[{"delta":{"content":t}}]});
        out.extend_from_slice(format!("data: {chunk}\r\n\r\n").as_bytes());
    }
    out.extend_from_slice(b"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cuts in proptest::collection::vec(any::<usize>(), 0..16)) {
        let obs = parse(&bytes, &cuts);
        prop_assert!(obs.error.is_some() || obs.events.token_events > 0);
    }

    #[test]
    fn arbitrary_sse_like_text_never_panics(lines in proptest::collection::vec("(data: |: |event: |)[ -~]{0,40}(\n|\r\n|\r|\n\n)", 0..40), cuts in proptest::collection::vec(any::<usize>(), 0..16)) {
        let bytes = lines.concat().into_bytes();
        let _ = parse(&bytes, &cuts);
    }

    #[test]
    fn splitting_never_changes_what_is_decoded(texts in proptest::collection::vec("[a-z é😀\"\\\\]{1,8}", 1..30), cuts in proptest::collection::vec(any::<usize>(), 0..24)) {
        let bytes = sse(&texts);
        let whole = parse(&bytes, &[]);
        let split = parse(&bytes, &cuts);
        prop_assert!(whole.error.is_none(), "{:?}", whole.error);
        prop_assert_eq!(&split.error, &None);
        prop_assert_eq!(split.output.content, texts.concat());
        prop_assert_eq!(split.events.token_events, texts.len() as u64);
        prop_assert_eq!(split.finish_reason.as_deref(), Some("stop"));
    }
}

/// The corpus in `fixtures/fuzz/`, each file with its expected outcome, cut at every byte.
#[test]
fn regression_corpus() {
    let expected: [(&str, Result<&str, &str>); 8] = [
        ("malformed-json.sse", Err("malformed JSON")),
        ("non-utf8.sse", Err("malformed JSON")),
        ("cut-mid-event.sse", Err("cut in the middle of an event")),
        ("cr-line-endings.sse", Ok("a")),
        ("comments-only.sse", Err("no finish_reason")),
        ("named-events-and-reasoning.sse", Ok("a")),
        ("done-without-space.sse", Ok("a")),
        ("no-done-marker.sse", Ok("ab")),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fuzz");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        expected.len(),
        "every corpus file has an expectation"
    );
    for (name, outcome) in expected {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        for cut in 0..=bytes.len() {
            let obs = parse(&bytes, &[cut]);
            match outcome {
                Ok(content) => assert_eq!(
                    (obs.error.as_deref(), obs.output.content.as_str()),
                    (None, content),
                    "{name} cut at {cut}"
                ),
                Err(reason) => assert!(
                    obs.error.as_deref().is_some_and(|e| e.contains(reason)),
                    "{name} cut at {cut}: {:?}",
                    obs.error
                ),
            }
        }
    }
}
