//! The front door: `quantbench run --url … --model …` against a scripted server that speaks LM
//! Studio's dialect (detected, not told), the same records and summary as the configured path;
//! paths that follow the current directory; every command's `--help`; `--noise-threshold`.

mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use support::*;

/// The run settings both paths share: one category, 1 warm-up and 10 samples.
const SETTINGS: &str =
    "[run]\nsamples = 10\nwarmup = 1\nlanguages = [\"en\"]\ncategories = [\"short\"]\nmax_tokens_cap = 8\n";

/// A simulated LM Studio: its native model listings (which the kind detection and the model
/// check read) and its `/api/v1/chat` stream: 4 deltas 1 ms apart, then `chat.end` with stats.
fn lmstudio(models: &'static [&'static str]) -> ScriptedServer {
    ScriptedServer::with_routes(
        move |method, path, _| match (method, path) {
            ("GET", "/api/v0/models") => Some(json_reply(
                200,
                ms(0),
                &json!({"data": models.iter().map(|m| json!({"id": m, "quantization": "Q4_K_M"})).collect::<Vec<_>>()}),
            )),
            ("GET", "/api/v1/models") => Some(json_reply(
                200,
                ms(0),
                &json!({"models": models.iter().map(|m| json!({"key": m, "format": "gguf"})).collect::<Vec<_>>()}),
            )),
            _ => None,
        },
        |_| lmstudio_chat(),
    )
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// A summary's benchmarks without the group name: what the two paths must agree on.
fn shape(summary: &Value) -> Vec<Value> {
    let benchmarks = summary["benchmarks"].as_array().unwrap();
    benchmarks
        .iter()
        .map(|b| {
            let metrics: Vec<&String> = b["metrics"].as_object().unwrap().keys().collect();
            let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
            json!({"keys": keys, "category": b["category"], "attempted": b["attempted"], "ok": b["ok"], "failed": b["failed"], "warmups": b["warmups"],
                   "metrics": metrics, "sources": b["completion_sources"]})
        })
        .collect()
}

/// The sorted field names of a measured record.
fn record_fields(run_dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run_dir.join("generations.jsonl")).unwrap();
    let record: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["warmup"] == false)
        .unwrap();
    let mut keys: Vec<String> = record.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn run_gives_the_same_records_and_summary_as_the_configured_path() {
    let server = lmstudio(&["m"]);
    let configured = tempfile::tempdir().unwrap();
    let body = format!("{SETTINGS}[models.scripted]\nendpoint = {{ url = \"{}\", kind = \"lmstudio\" }}\nquants.m = {{ model_id = \"m\" }}\n", server.url);
    let config = config(configured.path(), &body);
    let a = run_suite(configured.path(), &config, "--bench ^scripted/").unwrap();

    let direct = tempfile::tempdir().unwrap();
    let run = quantbench::suite::endpoint::EndpointRun {
        url: server.url.clone(),
        models: vec!["m".into()],
        config: Some(configured.path().join("quantbench.toml")),
        reports_root: direct.path().join("reports"),
        ..Default::default()
    };
    let b = run.run(run.criterion()).unwrap();
    let (a_dir, b_dir) = (a.run_dir.unwrap(), b.run_dir.unwrap());
    let (a_summary, b_summary) = (
        read_json(&a_dir.join("summary.json")),
        read_json(&b_dir.join("summary.json")),
    );
    assert_eq!(shape(&a_summary), shape(&b_summary));
    assert_eq!(b_summary["benchmarks"][0]["ok"], 10, "{b_summary}");
    assert_eq!(b_summary["benchmarks"][0]["group"], "lmstudio/m");
    assert_eq!(record_fields(&a_dir), record_fields(&b_dir));
    let kinds = |dir: &Path| read_json(&dir.join("metadata.json"))["groups"][0]["kind"].clone();
    assert_eq!(
        kinds(&a_dir),
        kinds(&b_dir),
        "the kind was detected as the one configured"
    );
    assert_eq!(read_json(&b_dir.join("metadata.json"))["status"], "complete");
}

/// The installed binary run from an empty directory: no config there, so the built-in one (its
/// prompts built in too); the reports land in `./target-reports` of that directory.
#[test]
fn run_from_an_empty_directory_uses_the_built_in_config_and_writes_there() {
    let server = lmstudio(&["org/model@q4_k_m"]);
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quantbench"))
        .args([
            "run",
            "--url",
            &server.url,
            "--model",
            "org/model@q4_k_m",
            "--categories",
            "short",
        ])
        .current_dir(cwd.path())
        .env_remove("QUANTBENCH_CONFIG")
        .env_remove("QUANTBENCH_REPORTS_DIR")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let tail: Vec<&str> = stdout
        .lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    eprintln!("--- the console's last 15 lines ---\n{}", tail.join("\n"));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("is taken for lmstudio"), "{stderr}");
    assert!(!stderr.contains("Gnuplot"), "{stderr}");
    let reports = cwd.path().join("target-reports");
    let runs: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("generations.jsonl").exists())
        .collect();
    assert_eq!(runs.len(), 1, "one run directory in ./target-reports");
    let summary = read_json(&runs[0].path().join("summary.json"));
    // The built-in config: 10 samples, both languages of the standard set's short category.
    assert_eq!(
        (
            summary["benchmarks"][0]["group"].as_str(),
            summary["benchmarks"][0]["ok"].as_u64()
        ),
        (Some("model/q4_k_m"), Some(10)),
        "{summary}"
    );
    assert!(reports.join("index.html").exists());
    assert!(
        !cwd.path().join("target").exists(),
        "criterion's files stay under the reports directory"
    );
}

/// A config copied out of the repository, with a relative `prompts_dir` beside it holding a set
/// of its own: the directory is found relative to the config, and the built-in sets stay there.
#[test]
fn a_copied_config_finds_its_prompts_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mine")).unwrap();
    let set = r#"{"schema":1,"set":"own","prompts":[{"id":"own-1","category":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":4}]}"#;
    std::fs::write(dir.path().join("mine/own.json"), set).unwrap();
    let text = "prompts_dir = \"mine\"\n[run]\nprompt_sets = [\"own\", \"standard\"]\n[models.x]\nendpoint = { url = \"http://127.0.0.1:9/v1\", kind = \"openai\" }\nquants.q = { model_id = \"q\" }\n";
    std::fs::write(dir.path().join("copied.toml"), text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quantbench-suite"))
        .arg("--list")
        .current_dir(std::env::temp_dir())
        .env("QUANTBENCH_CONFIG", dir.path().join("copied.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("x/q/tiny: benchmark") && stdout.contains("x/q/short: benchmark"),
        "{stdout}"
    );
}

#[test]
fn every_command_has_help_that_names_its_arguments() {
    let quantbench = env!("CARGO_BIN_EXE_quantbench");
    let help = |args: &[&str]| {
        let out = Command::new(quantbench).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = help(&["--help"]);
    assert!(
        top.starts_with("How to run a benchmark:\n  quantbench run --url"),
        "{top}"
    );
    let expected: [(&str, &[&str]); 9] = [
        (
            "run",
            &[
                "--url",
                "--model",
                "--kind",
                "--categories",
                "--samples",
                "--baseline",
                "--save-baseline",
                "--config",
                "--reports-dir",
            ],
        ),
        ("install-reference", &[]),
        ("reference-info", &[]),
        ("install-reference-mlx", &[]),
        ("reference-info-mlx", &[]),
        ("summary", &["RUN_DIR"]),
        ("report", &["RUN_DIR"]),
        ("probe", &["URL", "--kind", "--model"]),
        ("compare", &["OLD", "NEW", "--noise-threshold"]),
    ];
    for (command, arguments) in expected {
        assert!(top.contains(command), "{command} is listed: {top}");
        let text = help(&[command, "--help"]);
        for a in arguments {
            assert!(text.contains(a), "{command} --help names {a}: {text}");
        }
    }
    let suite = Command::new(env!("CARGO_BIN_EXE_quantbench-suite"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&suite.stdout);
    assert!(suite.status.success());
    for wanted in [
        "--sample-size N",
        "[default: 10, the config's `samples`]",
        "--noise-threshold F",
        "[default: 0.05",
        "QUANTBENCH_REPORTS_DIR",
        "QUANTBENCH_CONFIG",
    ] {
        assert!(text.contains(wanted), "{wanted}: {text}");
    }
    assert!(
        !text.contains("default: 100"),
        "criterion's defaults are not this suite's"
    );
}

/// `compare --noise-threshold` moves a verdict computed from stored runs: a regression whose
/// interval lies beyond 5 % but within a wider threshold is no longer called one.
#[test]
fn the_noise_threshold_option_changes_a_verdict() {
    let runs = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runs");
    let (old, new) = (runs.join("reference-2-threads-a"), runs.join("reference-1-thread"));
    let rows = quantbench::compare::compare(
        &quantbench::store::read_records(&old.join("generations.jsonl")).unwrap(),
        &quantbench::store::read_records(&new.join("generations.jsonl")).unwrap(),
        0.05,
    );
    // The regression nearest to the threshold: how far its interval stays from a ratio of 1.
    let margin = |r: &quantbench::compare::Comparison| {
        if r.interval.lower > 1.0 {
            r.interval.lower - 1.0
        } else {
            1.0 - r.interval.upper
        }
    };
    let nearest = rows
        .iter()
        .filter(|r| r.verdict == quantbench::compare::Verdict::Regressed)
        .map(margin)
        .fold(f64::INFINITY, f64::min);
    let wider = format!("{:.3}", nearest + 0.001);
    let regressions = |threshold: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_quantbench"))
            .args([
                "compare",
                old.to_str().unwrap(),
                new.to_str().unwrap(),
                "--noise-threshold",
                threshold,
            ])
            .env_remove("QUANTBENCH_FAIL_ON_REGRESSION")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("regressed"))
            .count()
    };
    assert!(regressions("0.05") > regressions(&wider), "threshold {wider}");
    let bad = Command::new(env!("CARGO_BIN_EXE_quantbench"))
        .args(["compare", "a", "b", "--noise-threshold", "5"])
        .output()
        .unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("expected a fraction"));
}
