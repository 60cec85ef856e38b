//! A run's status against scripted servers: `complete` only when every planned benchmark ran,
//! `partial` with counts when a group did not start, `failed` when nothing was measured — each
//! on the history page with its counts. A model the endpoint does not list stops its group
//! before any generation; a server that rejects every request stops the group after its
//! warm-ups, with one message.

mod support;

use quantbench::metadata::RunStatus;
use serde_json::json;
use std::sync::atomic::Ordering;
use support::*;

/// A server listing `served` at `GET /v1/models` and answering every chat request.
fn listing(served: &'static [&'static str]) -> ScriptedServer {
    let models: Vec<serde_json::Value> = served.iter().map(|id| json!({"id": id, "object": "model"})).collect();
    ScriptedServer::with_routes(
        move |method, path, _| {
            (method == "GET" && path == "/v1/models")
                .then(|| json_reply(200, ms(0), &json!({"object": "list", "data": models})))
        },
        |_| Script::ok(answer(ms(1), ms(1), 4, Some((3, 4)), "length")),
    )
}

fn two_groups(dir: &std::path::Path, a: &str, b: &str) -> quantbench::config::Config {
    let body = format!(
        "[run]\nsamples = 10\nwarmup = 1\nlanguages = [\"en\"]\ncategories = [\"short\", \"code\"]\nmax_tokens_cap = 4\n\
         [models.a]\nendpoint = {{ url = \"{a}\", kind = \"vllm\" }}\nquants.q = {{ model_id = \"a-model\" }}\n\
         [models.b]\nendpoint = {{ url = \"{b}\", kind = \"vllm\" }}\nquants.q = {{ model_id = \"b-model\" }}\n"
    );
    config(dir, &body)
}

#[test]
fn status_and_counts_for_all_ran_one_group_not_started_and_nothing_measured() {
    let tmp = tempfile::tempdir().unwrap();
    let a = listing(&["a-model"]);
    let b = listing(&["b-model"]);
    let wrong = listing(&["other-model", "b-model-q8"]);
    let mut statuses = Vec::new();
    for (a_url, b_url) in [(&a.url, &b.url), (&a.url, &wrong.url), (&wrong.url, &wrong.url)] {
        let outcome = run_suite(tmp.path(), &two_groups(tmp.path(), a_url, b_url), "--bench ^[ab]/q/").unwrap();
        statuses.push((
            outcome.status.clone().unwrap(),
            quantbench::suite::exit_code(&outcome),
            outcome,
        ));
        std::thread::sleep(std::time::Duration::from_millis(1100)); // run ids are per second
    }
    let [(complete, 0, _), (partial, 1, partial_run), (failed, 2, _)] = statuses.as_slice() else {
        panic!("{statuses:#?}")
    };
    assert_eq!(complete.0, RunStatus::Complete);
    assert_eq!(complete.1.text(), "all 4 benchmarks ran");
    assert_eq!((complete.1.samples_ok, complete.1.samples_attempted), (40, 40));
    assert_eq!(partial.0, RunStatus::Partial);
    assert_eq!(
        partial.1.text(),
        "1 of 2 groups did not start; 2 of 4 benchmarks did not run"
    );
    assert_eq!(
        (partial.1.samples_ok, partial.1.samples_attempted),
        (20, 40),
        "the planned samples of the group that did not start count as attempted"
    );
    assert_eq!(failed.0, RunStatus::Failed);
    assert_eq!(
        failed.1.text(),
        "2 of 2 groups did not start; 4 of 4 benchmarks did not run"
    );

    // The wrong model fails its group before any generation, listing what the server serves.
    assert_eq!(
        wrong.requests.load(Ordering::SeqCst),
        0,
        "no generation was sent to the server without the model"
    );
    let [stop] = partial_run.group_stops.as_slice() else {
        panic!("{:?}", partial_run.group_stops)
    };
    assert_eq!((stop.group.as_str(), stop.started), ("b/q", false));
    assert!(
        stop.reason.contains(r#"does not serve the model_id "b-model""#)
            && stop.reason.contains(r#""other-model", "b-model-q8""#),
        "{}",
        stop.reason
    );

    let history = std::fs::read_to_string(tmp.path().join("reports/index.html")).unwrap();
    for row in [
        "complete</td>",
        "partial: 1 of 2 groups did not start; 2 of 4 benchmarks did not run</td>",
        "failed: 2 of 2 groups did not start; 4 of 4 benchmarks did not run</td>",
    ] {
        assert!(history.contains(row), "{row} missing from the history page:\n{history}");
    }
    for samples in ["40 / 40", "20 / 40", "0 / 40"] {
        assert!(
            history.contains(&format!("<td class=\"num\">{samples}</td>")),
            "{samples} missing from the history page"
        );
    }
}

#[test]
fn a_server_that_rejects_every_request_stops_the_group_after_its_warmups_with_one_message() {
    let page = "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>";
    let server = ScriptedServer::start(move |_| Script {
        status: 404,
        steps: vec![step(ms(0), page)],
        ..Script::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "[run]\nsamples = 10\nwarmup = 3\nmax_failures = 5\nlanguages = [\"en\"]\ncategories = [\"short\", \"code\", \"long\"]\nmax_tokens_cap = 4\n\
         [models.m]\nendpoint = {{ url = \"{}\", kind = \"openai\" }}\nquants.q = {{ model_id = \"m\" }}\n",
        server.url
    );
    let outcome = run_suite(tmp.path(), &config(tmp.path(), &body), "--bench ^m/q/").unwrap();
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        3,
        "only the warm-ups of the first benchmark were sent"
    );
    let [stop] = outcome.group_stops.as_slice() else {
        panic!("{:?}", outcome.group_stops)
    };
    assert!(stop.started);
    assert_eq!(
        stop.reason,
        r#"all 3 warm-ups of its first benchmark were rejected: HTTP 404: an HTML page titled "404 Not Found""#
    );
    assert_eq!(outcome.status.as_ref().unwrap().0, RunStatus::Failed);
    let dir = outcome.run_dir.unwrap();
    for report in ["index.html", "summary.md"] {
        let text = std::fs::read_to_string(dir.join(report)).unwrap();
        assert_eq!(
            text.matches("warm-ups of its first benchmark were rejected").count(),
            1,
            "{report}:\n{text}"
        );
        assert!(!text.contains("requested URL"), "{report} quotes the HTML page");
    }
}
