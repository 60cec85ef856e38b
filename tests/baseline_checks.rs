//! Baselines that cannot silently lie, through the whole suite against scripted servers: two
//! runs saving one baseline at once keep both, `--baseline` works without criterion's own copy,
//! empty, duplicated and zero-valued baselines stop the run before it measures, and the gate
//! fails (exit 4, not 3) when a comparison asked for did not happen. Apart from `baselines.rs`,
//! whose verdicts rest on timings that concurrent runs here would disturb.

mod support;

use support::*;

/// The suite as a separate process, as `cargo bench` runs it (criterion reads its own argv),
/// with criterion's state in `criterion_dir`: (exit code, stderr).
fn run_process(
    root: &std::path::Path,
    url: &str,
    args: &[&str],
    criterion_dir: &str,
    gate: bool,
) -> (Option<i32>, String) {
    one_model(root, url);
    let mut command = suite_command(root, &[&["--bench", "m/q/short"], args].concat());
    command.env("CRITERION_HOME", root.join(criterion_dir));
    if gate {
        command.env("QUANTBENCH_FAIL_ON_REGRESSION", "1");
    }
    let out = command.output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn baseline_works_without_criterions_copy_and_the_gate_fails_on_a_missing_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let s = jittered_server(1000);
    let (code, err) = run_process(tmp.path(), &s.url, &["--save-baseline", "half"], "criterion-a", false);
    assert_eq!(code, Some(0), "{err}");
    // criterion's copy of "half" is in criterion-a, not in this empty directory: no panic.
    // (Without the gate: whether an A/A run on a loaded machine regresses is not this test's business.)
    let (code, err) = run_process(tmp.path(), &s.url, &["--baseline", "half"], "criterion-empty", false);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("Benchmarking m/q/short: Analyzing"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The gate with nothing to compare: exit 4, not 0 and not 3 (regressed).
    let (code, err) = run_process(tmp.path(), &s.url, &["--baseline-lenient", "nope"], "criterion-a", true);
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("quantbench: baseline \"nope\" not found (--baseline-lenient)"),
        "{err}"
    );
    assert!(
        err.contains(
            "QUANTBENCH_FAIL_ON_REGRESSION is set and 1 comparison(s) asked for did not happen: the gate fails"
        ),
        "{err}"
    );
    // A broken baseline is an error before measuring: exit 2.
    let path = tmp.path().join("reports/baselines/half/generations.jsonl");
    std::fs::write(&path, "").unwrap();
    let (code, err) = run_process(tmp.path(), &s.url, &["--baseline", "half"], "criterion-a", true);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the baseline is empty (no records)"), "{err}");
}

#[test]
fn empty_duplicated_and_zero_valued_baselines_are_refused_before_measuring() {
    let tmp = tempfile::tempdir().unwrap();
    let s = jittered_server(1000);
    run_short(tmp.path(), &s.url, "--save-baseline good").unwrap();
    let reports = tmp.path().join("reports/baselines");
    let good = std::fs::read_to_string(reports.join("good/generations.jsonl")).unwrap();
    let first_ok = good.lines().position(|l| l.contains("\"ttft_s\":")).unwrap();
    let zero: String = good
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == first_ok {
                format!(
                    "{}\n",
                    regex::Regex::new(r#""ttft_s":[0-9.e-]+"#)
                        .unwrap()
                        .replace(l, "\"ttft_s\":0.0")
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let cases = [
        (
            "empty",
            String::new(),
            "generations.jsonl: the baseline is empty (no records)".to_owned(),
        ),
        (
            "tripled",
            good.repeat(3),
            format!("generations.jsonl line {}: duplicates ", good.lines().count() + 1),
        ),
        (
            "zero",
            zero,
            format!(
                "generations.jsonl line {}: ttft_s = 0 (must be a finite number above 0)",
                first_ok + 1
            ),
        ),
    ];
    let served = s.requests.load(std::sync::atomic::Ordering::SeqCst);
    for (name, text, expected) in cases {
        std::fs::create_dir_all(reports.join(name)).unwrap();
        std::fs::write(reports.join(name).join("generations.jsonl"), text).unwrap();
        let err = format!(
            "{:#}",
            run_short(tmp.path(), &s.url, &format!("--baseline {name}")).unwrap_err()
        );
        let dir = reports.join(name);
        assert!(
            err.starts_with(&format!(
                "baseline {name:?} cannot be used; remove {} and save it again with --save-baseline {name}: ",
                dir.display()
            )),
            "{err}"
        );
        assert!(err.contains(&expected), "{name}: expected {expected:?} in {err}");
    }
    assert_eq!(
        s.requests.load(std::sync::atomic::Ordering::SeqCst),
        served,
        "nothing was measured"
    );

    // A baseline of other benchmarks only: an error, not an empty verdict table.
    let both = format!("[run]\nsamples = 10\nlanguages = [\"en\"]\ncategories = [\"short\", \"code\"]\n[models.m]\nendpoint = {{ url = \"{}\", kind = \"openai\" }}\nquants.q = {{ model_id = \"m\" }}\n", s.url);
    let err = format!(
        "{:#}",
        run_suite(
            tmp.path(),
            &config(tmp.path(), &both),
            "--bench m/q/code --baseline good"
        )
        .unwrap_err()
    );
    assert_eq!(
        err,
        "baseline \"good\" has no benchmark in common with this run: it holds m/q/short; the run plans m/q/code"
    );
}

#[test]
fn two_runs_saving_one_baseline_at_once_keep_both() {
    let tmp = tempfile::tempdir().unwrap();
    let s = jittered_server(1000);
    let config = one_model(tmp.path(), &s.url);
    let runs: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|who| {
            let (config, root) = (config.clone(), tmp.path().to_owned());
            std::thread::spawn(move || {
                let args: Vec<String> = "--bench m/q/short --save-baseline shared"
                    .split(' ')
                    .map(String::from)
                    .collect();
                let cli = quantbench::cli_args::CliArgs::parse(&args).unwrap();
                let opts = quantbench::suite::SuiteOptions {
                    cli,
                    command: vec![],
                    reports_root: root.join("reports"),
                };
                let criterion = criterion::Criterion::default()
                    .output_directory(&root.join(format!("criterion-{who}")))
                    .without_plots();
                quantbench::suite::run(&config, opts, criterion)
                    .unwrap()
                    .run_dir
                    .unwrap()
            })
        })
        .collect();
    let dirs: Vec<String> = runs
        .into_iter()
        .map(|r| r.join().unwrap().file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let kept = quantbench::baseline::load(&tmp.path().join("reports"), "shared").unwrap();
    let mut ids: Vec<&str> = kept.iter().map(|r| r.run.as_str()).collect();
    ids.dedup();
    ids.sort_unstable();
    let mut expected: Vec<&str> = dirs.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected, "both runs are in the baseline");
}
