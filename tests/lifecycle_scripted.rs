//! Model lifecycle (`model_lifecycle = "manage"`) through the whole suite, against scripted
//! servers that simulate LM Studio's and Ollama's model APIs (listing, load, unload) with a known
//! load delay: a model already loaded is unloaded first, the load is timed on our clock and the
//! server's figure kept beside it, the model is unloaded after the group, and a failed load
//! abandons only its group.

mod support;

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use support::*;

/// How long the simulated servers take to load a model.
const LOAD_DELAY_MS: u64 = 150;

/// One category, 1 warm-up and 10 samples per group, lifecycle managed.
const SETTINGS: &str = "[run]\nsamples = 10\nwarmup = 1\nlanguages = [\"en\"]\ncategories = [\"short\"]\nmax_tokens_cap = 8\nmodel_lifecycle = \"manage\"\n";

fn metadata(dir: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap()
}

/// Runs the one group `m/q1` (quant entry `quant`) against `url`, a server of `kind`; checks
/// nothing was abandoned and returns the group's metadata.
fn run_group(url: &str, kind: &str, quant: &str) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let body =
        format!("{SETTINGS}[models.m]\nendpoint = {{ url = \"{url}\", kind = \"{kind}\" }}\nquants.q1 = {quant}\n");
    let outcome = run_suite(tmp.path(), &config(tmp.path(), &body), "--bench ^m/").unwrap();
    assert!(outcome.abandoned.is_empty(), "{:?}", outcome.abandoned);
    let meta = metadata(&outcome.run_dir.unwrap());
    assert_eq!(meta["status"], "complete");
    meta["groups"][0].clone()
}

/// Ollama's `/api/chat` stream: 4 lines 1 ms apart, then the final statistics.
fn ollama_chat() -> Script {
    let line = |v: Value| format!("{v}\n").into_bytes();
    let mut steps: Vec<Step> = (0..4)
        .map(|i| {
            step(
                ms(2 + i),
                line(json!({"message": {"role": "assistant", "content": format!("t{i} ")}, "done": false})),
            )
        })
        .collect();
    steps.push(step(ms(5), line(json!({"message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "length", "prompt_eval_count": 9, "eval_count": 4}))));
    Script::ok(steps)
}

fn posts(server: &ScriptedServer) -> Vec<(String, Value)> {
    server
        .routed
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| (r.path.clone(), r.body.clone()))
        .collect()
}

#[test]
fn lmstudio_unloads_the_old_instance_loads_once_with_the_context_length_and_unloads_after() {
    const KEY: &str = "org/model@q4_k_m";
    // The simulated LM Studio: instance id → context length. The user left the model loaded.
    let loaded = Arc::new(Mutex::new(vec![(KEY.to_owned(), 4096u64)]));
    let state = loaded.clone();
    let server = ScriptedServer::with_routes(
        move |method, path, body| {
            let mut loaded = state.lock().unwrap();
            match (method, path) {
                ("GET", "/api/v1/models") => {
                    let instances: Vec<Value> = loaded
                        .iter()
                        .map(|(id, n)| json!({"id": id, "config": {"context_length": n}}))
                        .collect();
                    Some(json_reply(
                        200,
                        ms(0),
                        &json!({"models": [{"type": "llm", "key": KEY, "format": "gguf", "size_bytes": 1000, "loaded_instances": instances}]}),
                    ))
                }
                ("POST", "/api/v1/models/load") => {
                    // LM Studio names a second instance of a key `key:2`; this one is told apart on purpose.
                    loaded.push((format!("{KEY}:2"), body["context_length"].as_u64().unwrap_or(4096)));
                    let answer = json!({"type": "llm", "instance_id": format!("{KEY}:2"), "load_time_seconds": 0.123, "status": "loaded"});
                    Some(json_reply(200, ms(LOAD_DELAY_MS), &answer))
                }
                ("POST", "/api/v1/models/unload") => {
                    let id = body["instance_id"].as_str().unwrap_or_default();
                    loaded.retain(|(i, _)| i != id);
                    Some(json_reply(200, ms(0), &json!({"instance_id": id})))
                }
                _ => None,
            }
        },
        |_| lmstudio_chat(),
    );
    let group = run_group(
        &server.url,
        "lmstudio",
        &format!("{{ model_id = \"{KEY}\", run = {{ context_length = 8192 }} }}"),
    );

    let posts = posts(&server);
    assert_eq!(
        posts,
        [
            ("/api/v1/models/unload".to_owned(), json!({"instance_id": KEY})),
            (
                "/api/v1/models/load".to_owned(),
                json!({"model": KEY, "context_length": 8192})
            ),
            (
                "/api/v1/models/unload".to_owned(),
                json!({"instance_id": format!("{KEY}:2")})
            ),
        ],
        "the old instance unloaded, one load with the configured context, the new instance unloaded"
    );
    assert!(loaded.lock().unwrap().is_empty(), "nothing left loaded");
    // Load before the first generation, unload after the last.
    let routed = server.routed.lock().unwrap().clone();
    let load = routed.iter().find(|r| r.path == "/api/v1/models/load").unwrap();
    let unload = routed.iter().rfind(|r| r.path == "/api/v1/models/unload").unwrap();
    let chats = server.served();
    assert_eq!(chats.len(), 11, "1 warm-up and 10 samples");
    assert!(chats.iter().all(|c| c.head.starts_with("POST /api/v1/chat ")
        && c.received > load.received
        && c.received < unload.received));

    // Our clock spans the server's 150 ms delay, which starts after the request has arrived:
    // at least 150 ms; at most 10 s (a loaded machine, never a tight bound).
    let wall = group["load_time_s"].as_f64().unwrap();
    assert!((LOAD_DELAY_MS as f64 / 1000.0..10.0).contains(&wall), "{wall}");
    assert_eq!(
        group["load_time_server_s"], 0.123,
        "the server's figure as it reported it"
    );
    assert_eq!(group["load_time_server_source"], "lmstudio load_time_seconds");
    assert!(
        group["load_time_source"]
            .as_str()
            .unwrap()
            .contains("POST /api/v1/models/load"),
        "{}",
        group["load_time_source"]
    );
    assert!(
        group["lifecycle_notes"][0]
            .as_str()
            .unwrap()
            .contains(&format!("unloaded the instance {KEY:?}")),
        "{}",
        group["lifecycle_notes"]
    );
    assert_eq!(
        group["server_description"]["context_length"], 8192,
        "described after the load: the new instance"
    );
}

#[test]
fn ollama_loads_with_an_empty_prompt_and_keep_alive_and_unloads_with_keep_alive_0() {
    // The simulated Ollama already runs the model (as `llama3:latest`, its name for `llama3`).
    let running = Arc::new(Mutex::new(vec!["llama3:latest".to_owned()]));
    let state = running.clone();
    let server = ScriptedServer::with_routes(
        move |method, path, body| {
            let mut running = state.lock().unwrap();
            match (method, path) {
                ("GET", "/api/ps") => Some(json_reply(
                    200,
                    ms(0),
                    &json!({"models": running.iter().map(|n| json!({"name": n, "model": n, "size": 1000})).collect::<Vec<_>>()}),
                )),
                ("POST", "/api/generate") if body["prompt"] == "" && body["keep_alive"] == 0 => {
                    let name = body["model"].as_str().unwrap_or_default();
                    running.retain(|n| n.as_str() != name && *n != format!("{name}:latest"));
                    Some(json_reply(
                        200,
                        ms(0),
                        &json!({"model": name, "response": "", "done": true, "done_reason": "unload"}),
                    ))
                }
                ("POST", "/api/generate") if body["prompt"] == "" => {
                    running.push("llama3:latest".into());
                    Some(json_reply(
                        200,
                        ms(LOAD_DELAY_MS),
                        &json!({"model": body["model"], "response": "", "done": true, "done_reason": "load"}),
                    ))
                }
                _ => None,
            }
        },
        |_| ollama_chat(),
    );
    let group = run_group(&server.url, "ollama", "{ model_id = \"llama3\" }");

    let posts = posts(&server);
    let generate = |model: &str, keep_alive: Value| {
        (
            "/api/generate".to_owned(),
            json!({"model": model, "prompt": "", "keep_alive": keep_alive, "stream": false}),
        )
    };
    assert_eq!(
        posts,
        [
            generate("llama3:latest", json!(0)),
            generate("llama3", json!("30m")),
            generate("llama3", json!(0))
        ]
    );
    assert!(running.lock().unwrap().is_empty(), "nothing left loaded");
    assert!(server.served().iter().all(|c| c.head.starts_with("POST /api/chat ")));

    let wall = group["load_time_s"].as_f64().unwrap();
    assert!((LOAD_DELAY_MS as f64 / 1000.0..10.0).contains(&wall), "{wall}");
    // Ollama's load answer carries no load_duration: no server figure, none made up.
    assert!(
        group["load_time_server_s"].is_null() && group["load_time_server_source"].is_null(),
        "{group}"
    );
    assert!(
        group["load_time_source"]
            .as_str()
            .unwrap()
            .contains("done_reason \"load\""),
        "{}",
        group["load_time_source"]
    );
}

#[test]
fn a_failed_load_abandons_its_group_with_the_reason_and_the_run_goes_on() {
    // Simulated LM Studio whose loads fail: `bad/500` with HTTP 500, `bad/garbled` with a body
    // that is not JSON. Nothing is loaded; chat requests would be answered.
    let failing = ScriptedServer::with_routes(
        |method, path, body| match (method, path) {
            ("GET", "/api/v1/models") => Some(json_reply(200, ms(0), &json!({"models": []}))),
            ("POST", "/api/v1/models/load") if body["model"] == "bad/500" => Some(json_reply(
                500,
                ms(0),
                &json!({"error": {"message": "not enough memory to load the model"}}),
            )),
            ("POST", "/api/v1/models/load") => Some(Script::ok(vec![step(ms(0), &b"<html>proxy error"[..])])),
            _ => None,
        },
        |_| lmstudio_chat(),
    );
    let healthy = ScriptedServer::start(|_| Script::ok(answer(ms(2), ms(1), 4, Some((9, 4)), "length")));
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "{SETTINGS}[models.bad]\nendpoint = {{ url = \"{}\", kind = \"lmstudio\" }}\nquants.q1 = {{ model_id = \"bad/500\" }}\nquants.q2 = {{ model_id = \"bad/garbled\" }}\n[models.ok]\nendpoint = {{ url = \"{}\", kind = \"openai\" }}\nrun = {{ model_lifecycle = \"leave\" }}\nquants.q1 = {{ model_id = \"ok\" }}\n",
        failing.url, healthy.url
    );
    let outcome = run_suite(tmp.path(), &config(tmp.path(), &body), "--bench ^(bad|ok)/").unwrap();

    let reason = |group: &str| {
        outcome
            .abandoned
            .iter()
            .find(|(g, ..)| g == group)
            .map(|(.., r)| r.clone())
            .unwrap_or_default()
    };
    let (r500, garbled) = (reason("bad/q1"), reason("bad/q2"));
    assert!(
        r500.contains("model_lifecycle = \"manage\": the model was not loaded")
            && r500.contains("HTTP 500: not enough memory to load the model"),
        "{r500}"
    );
    // An HTML body is reduced to its title (none here), not quoted.
    assert!(
        garbled.contains("the answer is not JSON: an HTML page without a title"),
        "{garbled}"
    );
    assert_eq!(
        failing.requests.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no generation against a model that did not load"
    );
    assert!(
        posts(&failing).iter().all(|(path, _)| path == "/api/v1/models/load"),
        "nothing loaded, nothing to unload"
    );

    let summary = outcome.summary.unwrap();
    let ok = summary.benchmarks.iter().find(|b| b.group == "ok/q1").unwrap();
    assert_eq!((ok.ok, ok.failed), (10, 0), "the next group ran");
    let meta = metadata(&outcome.run_dir.unwrap());
    assert_eq!(meta["status"], "partial", "two groups did not start");
    let names: Vec<&str> = meta["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ok/q1"], "no server record for groups whose model never loaded");
}

#[test]
fn a_server_that_cannot_load_models_is_noted_once_and_measured_as_found() {
    let server = ScriptedServer::start(|_| Script::ok(answer(ms(2), ms(1), 4, Some((9, 4)), "length")));
    let group = run_group(&server.url, "vllm", "{ model_id = \"m\" }");
    assert_eq!(server.served().len(), 11);
    let notes = group["lifecycle_notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0]
            .as_str()
            .unwrap()
            .contains("a vllm server cannot load or unload models over HTTP"),
        "{notes:?}"
    );
    for field in ["load_time_s", "load_time_source", "load_time_server_s"] {
        assert!(group[field].is_null(), "{field}: no figure invented: {group}");
    }
}

#[test]
fn a_failed_unload_is_a_warning_in_the_metadata_not_a_failure() {
    // Simulated LM Studio that loads but then refuses to unload.
    let server = ScriptedServer::with_routes(
        |method, path, _| match (method, path) {
            ("GET", "/api/v1/models") => Some(json_reply(200, ms(0), &json!({"models": []}))),
            ("POST", "/api/v1/models/load") => Some(json_reply(
                200,
                ms(0),
                &json!({"type": "llm", "instance_id": "m", "load_time_seconds": 0.01, "status": "loaded"}),
            )),
            ("POST", "/api/v1/models/unload") => Some(json_reply(503, ms(0), &json!({"error": "busy"}))),
            _ => None,
        },
        |_| lmstudio_chat(),
    );
    let group = run_group(&server.url, "lmstudio", "{ model_id = \"m\" }");
    let note = group["lifecycle_notes"][0].as_str().unwrap();
    assert!(
        note.contains("the model was not unloaded after the group") && note.contains("HTTP 503: busy"),
        "{note}"
    );
    assert!(
        group["load_time_s"].as_f64().is_some(),
        "the load and the measurements stand"
    );
}
