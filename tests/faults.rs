//! Faults a server can throw at the client, from the scripted test server: each must become a
//! failed sample with a clear reason — never a panic, never a number.

mod support;

use quantbench::client::{self, Limits};
use support::*;

fn observe(script: Script, limits: &Limits) -> client::Observation {
    let server = ScriptedServer::start(move |_| script.clone());
    generate_once(&server.url, 8, limits).0
}

fn failure(steps: Vec<Step>) -> String {
    let obs = observe(
        Script::ok(steps),
        &Limits {
            max_line_bytes: 1 << 20,
            ..Limits::default()
        },
    );
    obs.error.expect("the sample must fail")
}

#[test]
fn each_fault_is_a_failed_sample_with_its_reason() {
    let ok_start = || vec![step(ms(0), role()), step(ms(1), content("a"))];
    let with = |extra: Vec<u8>| {
        let mut steps = ok_start();
        steps.push(step(ms(2), extra));
        steps
    };
    let cases: Vec<(&str, Vec<Step>, &str)> = vec![
        (
            "malformed JSON",
            with(b"data: {\"choices\": [\n\n".to_vec()),
            "malformed JSON in stream",
        ),
        (
            "non-UTF-8 bytes",
            with(b"data: {\"choices\":[{\"delta\":{\"content\":\"\xff\xfe\"}}]}\n\n".to_vec()),
            "malformed JSON in stream",
        ),
        (
            "a line over the limit",
            with([b"data: ".to_vec(), vec![b'x'; 2 << 20], b"\n\n".to_vec()].concat()),
            "exceeded",
        ),
        (
            "an in-band error",
            with(b"data: {\"error\":{\"message\":\"out of memory\"}}\n\n".to_vec()),
            "server error in stream: out of memory",
        ),
        (
            "no text at all",
            vec![step(ms(0), role()), step(ms(1), finish("stop")), step(ms(1), done())],
            "no generated text",
        ),
        (
            "a body that ends early",
            ok_start(),
            "stream ended before the answer was complete",
        ),
    ];
    for (what, steps, expected) in cases {
        let reason = failure(steps);
        assert!(reason.contains(expected), "{what}: {reason}");
    }
}

#[test]
fn http_errors_with_and_without_bodies() {
    for (status, body, expected) in [
        (
            400,
            &br#"{"error":{"message":"bad request: max_tokens"}}"#[..],
            "HTTP 400: bad request: max_tokens",
        ),
        (
            404,
            &br#"{"error":"model 'nope' not found"}"#[..],
            "HTTP 404: model 'nope' not found",
        ),
        (429, &b""[..], "HTTP 429: Too Many Requests"),
        (500, &b"internal"[..], "HTTP 500: internal"),
        (
            503,
            &br#"{"error":{"code":503,"message":"Loading model"}}"#[..],
            "HTTP 503: Loading model",
        ),
    ] {
        let steps = if body.is_empty() {
            vec![]
        } else {
            vec![step(ms(0), body)]
        };
        let obs = observe(
            Script {
                status,
                steps,
                ..Script::default()
            },
            &Limits::default(),
        );
        assert_eq!(obs.http_status, Some(status));
        assert_eq!(obs.error.as_deref(), Some(expected));
    }
}

#[test]
fn connection_refused_is_a_failure_not_a_panic() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (obs, _) = generate_once(&format!("http://127.0.0.1:{port}/v1"), 8, &Limits::default());
    let reason = obs.error.unwrap();
    assert!(
        reason.starts_with("could not connect to 127.0.0.1:") && reason.contains("refused"),
        "{reason}"
    );
}

#[test]
fn the_api_key_is_sent_but_never_written() {
    let secret = "qb-test-secret-4f1c9a";
    // Process-wide, so a name no other test reads.
    std::env::set_var("QB_FAULTS_TEST_KEY", secret);
    let server = ScriptedServer::start(|_| Script::ok(answer(ms(1), ms(1), 4, Some((3, 4)), "length")));
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "[run]\nsamples = 10\nwarmup = 1\nlanguages = [\"en\"]\ncategories = [\"short\"]\nmax_tokens_cap = 4\n\
         [models.m]\nendpoint = {{ url = \"{}\", kind = \"openai\", api_key_env = \"QB_FAULTS_TEST_KEY\" }}\nquants.q = {{ model_id = \"m\" }}\n",
        server.url
    );
    let outcome = run_suite(tmp.path(), &config(tmp.path(), &body), "--bench m/q").unwrap();
    let served = server.served();
    assert!(
        served
            .iter()
            .all(|s| s.head.contains(&format!("authorization: Bearer {secret}"))),
        "{}",
        served[0].head
    );
    // Every file of the run, its reports and the page listing all runs.
    let run_dir = outcome.run_dir.unwrap();
    let files = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .chain([tmp.path().join("reports/index.html")]);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(secret), "{} contains the key", path.display());
    }
    let meta = std::fs::read_to_string(run_dir.join("metadata.json")).unwrap();
    assert!(meta.contains("QB_FAULTS_TEST_KEY"), "the variable's name is recorded");
}

#[test]
fn an_unset_api_key_variable_stops_the_run_before_anything_is_sent() {
    let server = ScriptedServer::start(|_| Script::ok(answer(ms(1), ms(1), 4, Some((3, 4)), "length")));
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "[models.m]\nendpoint = {{ url = \"{}\", kind = \"lmstudio\", api_key_env = \"QB_SURELY_UNSET_KEY\" }}\nquants.q = {{ model_id = \"m\" }}\n",
        server.url
    );
    let err = format!(
        "{:#}",
        run_suite(tmp.path(), &config(tmp.path(), &body), "--bench m/q").unwrap_err()
    );
    assert!(
        err.contains("m/q: the API key variable QB_SURELY_UNSET_KEY is not set"),
        "{err}"
    );
    assert_eq!(server.connections.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn a_server_silent_before_its_headers_times_out() {
    let script = Script {
        head_delay: ms(3000),
        ..Script::ok(answer(ms(1), ms(1), 4, Some((3, 4)), "length"))
    };
    let obs = observe(
        script,
        &Limits {
            idle: std::time::Duration::from_millis(300),
            ..Limits::default()
        },
    );
    assert_eq!(obs.http_status, None);
    assert_eq!(
        obs.error.as_deref(),
        Some("timed out: no bytes for 0.3 s waiting for response headers")
    );
}
