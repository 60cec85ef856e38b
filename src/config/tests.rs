//! Unit tests of `config`.

use super::*;

fn parse(text: &str) -> Result<Config> {
    Config::parse(text, Path::new("/cfg/quantbench.toml"))
}

fn error(text: &str) -> String {
    format!("{:#}", parse(text).unwrap_err())
}

#[test]
fn shipped_config_resolves_with_layered_settings() {
    let cfg = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("quantbench.toml")).unwrap();
    let names: Vec<&str> = cfg.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names[..5],
        [
            "smollm2/q4_1",
            "smollm2/q4_k_s",
            "smollm2/q4_k_m",
            "smollm2/q6_k",
            "smollm2/q8_0"
        ],
        "file order is kept"
    );
    for expected in [
        "smollm2/q4_1",
        "smollm2/q8_0",
        "minimax/q4_k_s",
        "minimax/mlx-4bit",
        "qwen3-coder-next/q4_k_m",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let minimax = cfg.groups.iter().find(|g| g.name == "minimax/q4_k_s").unwrap();
    assert!(!minimax.default);
    assert!(
        matches!(&minimax.target, Target::External { url, kind: ServerKind::Lmstudio, .. } if url == "http://localhost:1234/v1")
    );
    assert_eq!(
        minimax.settings.sampling,
        Sampling {
            temperature: 0.7,
            top_p: 0.9,
            seed: Some(42)
        }
    );
    let mlx = cfg.groups.iter().find(|g| g.name == "smollm2/mlx-4bit").unwrap();
    assert!(!mlx.default, "MLX on a CPU is slow: only when a filter names it");
    assert_eq!(
        mlx.target,
        Target::Reference {
            backend: reference::Backend::MlxLm,
            quant: "mlx-4bit".into()
        }
    );
}

#[test]
fn every_quant_of_a_model_with_a_quality_reference_is_compared_with_it() {
    let cfg = parse("[models.m]\nreference = \"llama-server\"\nquality_reference = \"f16\"\nrun = { fidelity_tokens = 16 }\n[models.m.quants.q4_1]\n[models.m.quants.f16]\n[models.n]\nreference = \"llama-server\"\n[models.n.quants.q8_0]\n").unwrap();
    let refs: Vec<(&str, Option<&str>, u32)> = cfg
        .groups
        .iter()
        .map(|g| {
            (
                g.name.as_str(),
                g.fidelity_reference.as_deref(),
                g.settings.fidelity_tokens,
            )
        })
        .collect();
    assert_eq!(
        refs,
        [
            ("m/q4_1", Some("m/f16"), 16),
            ("m/f16", Some("m/f16"), 16),
            ("n/q8_0", None, 32)
        ]
    );
}

#[test]
fn a_quant_can_use_another_reference_backend() {
    let cfg = parse("[models.m]\nreference = \"llama-server\"\n[models.m.quants.q4_1]\n[models.m.quants.mlx-8bit]\nreference = \"mlx-lm\"\ndefault = false\n").unwrap();
    let targets: Vec<(&Target, bool)> = cfg.groups.iter().map(|g| (&g.target, g.default)).collect();
    assert_eq!(
        targets,
        [
            (
                &Target::Reference {
                    backend: reference::Backend::LlamaServer,
                    quant: "q4_1".into()
                },
                true
            ),
            (
                &Target::Reference {
                    backend: reference::Backend::MlxLm,
                    quant: "mlx-8bit".into()
                },
                false
            )
        ]
    );
}

#[test]
fn quant_overrides_model_overrides_suite() {
    let cfg = parse(
        r#"
        [run]
        samples = 20
        warmup = 2
        [models.m]
        endpoint = { url = "http://127.0.0.1:8080", kind = "openai" }
        run = { warmup = 3, max_tokens_cap = 64 }
        [models.m.quants.a]
        model_id = "a"
        run = { max_tokens_cap = 32 }
        "#,
    )
    .unwrap();
    let s = &cfg.groups[0].settings;
    assert_eq!((s.samples, s.warmup, s.max_tokens_cap), (20, 3, Some(32)));
    assert!(matches!(&cfg.groups[0].target, Target::External { url, .. } if url == "http://127.0.0.1:8080/v1"));
    assert_eq!(cfg.prompts_dir, Path::new("/cfg/prompts"));
}

#[test]
fn variants_are_groups_of_their_own() {
    let cfg = parse(
        r#"
        [models.m]
        reference = "llama-server"
        [models.m.quants.q4_1]
        run = { samples = 12 }
        variants.one-thread = { server_args = ["--threads", "1"], env = { GGML_SCHED_MAX_COPIES = "1" }, run = { warmup = 3 } }
        "#,
    )
    .unwrap();
    let names: Vec<&str> = cfg.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["m/q4_1", "m/q4_1@one-thread"]);
    let v = &cfg.groups[1];
    assert_eq!(
        (v.quant.as_str(), v.settings.samples, v.settings.warmup),
        ("q4_1@one-thread", 12, 3)
    );
    assert!(matches!(&v.target, Target::Reference { quant, .. } if quant == "q4_1"));
    let variant = v.variant.as_ref().unwrap();
    assert_eq!(
        (variant.server_args.clone(), variant.env.clone()),
        (
            vec!["--threads".to_owned(), "1".to_owned()],
            vec![("GGML_SCHED_MAX_COPIES".to_owned(), "1".to_owned())]
        )
    );
    let err = error("[models.m]\nendpoint = { url = \"http://x:1\", kind = \"ollama\" }\n[models.m.quants.a]\nmodel_id = \"a\"\nvariants.v = { env = { OLLAMA_FLASH_ATTENTION = \"1\" } }");
    assert!(
        err.contains("models.m.quants.a.variants.v: `env` and `server_args` apply only"),
        "{err}"
    );
}

#[test]
fn a_draft_variant_names_a_llama_server_quant_and_may_be_opt_in() {
    let cfg = parse("[models.m]\nreference = \"llama-server\"\n[models.m.quants.f16]\nvariants.spec = { draft = \"q2_k\", default = false }\n").unwrap();
    let spec = &cfg.groups[1];
    assert_eq!(
        (spec.name.as_str(), spec.default, cfg.groups[0].default),
        ("m/f16@spec", false, true)
    );
    assert_eq!(spec.variant.as_ref().unwrap().draft.as_deref(), Some("q2_k"));
    let err =
        error("[models.m]\nreference = \"llama-server\"\n[models.m.quants.f16]\nvariants.spec = { draft = \"q3\" }\n");
    assert!(
        err.contains("draft = \"q3\" is not a quant of the llama-server reference"),
        "{err}"
    );
    let err =
        error("[models.m]\nreference = \"mlx-lm\"\n[models.m.quants.mlx-4bit]\nvariants.spec = { draft = \"q2_k\" }\n");
    assert!(
        err.contains("`draft` applies only to the llama-server reference"),
        "{err}"
    );
}

#[test]
fn bad_configs_name_file_entry_and_problem() {
    let ep = r#"endpoint = { url = "http://localhost:1234/v1", kind = "lmstudio" }"#;
    let cases = [
        ("[models.m]\nendpoint = { url = \"http://x:1\", kind = \"tgi\" }\n[models.m.quants.a]\nmodel_id = \"a\"".to_string(), "unknown variant `tgi`"),
        (format!("[models.m]\n{ep}\n[models.m.quants.a]\n"), "models.m.quants.a: `model_id`"),
        ("[models.m]\nendpoint = { url = \"localhost:1234\", kind = \"openai\" }\n[models.m.quants.a]\nmodel_id = \"a\"".to_string(), "models.m.quants.a: endpoint url"),
        (format!("[models.m]\n{ep}\nrun = {{ samples = \"ten\" }}\n[models.m.quants.a]\nmodel_id = \"a\""), "invalid type: string \"ten\""),
        (format!("[models.m]\n{ep}\nrun = {{ samples = 5 }}\n[models.m.quants.a]\nmodel_id = \"a\""), "models.m.run: samples = 5"),
        (format!("[models.m]\n{ep}\nrun = {{ total_timeout_s = 1e20 }}\n[models.m.quants.a]\nmodel_id = \"a\""), "total_timeout_s = 100000000000000000000"),
        (format!("[models.m]\n{ep}\n[models.m.quants.a]\nmodel_id = \"a\"\n[models.m.quants.a]\nmodel_id = \"b\""), "duplicate key"),
        (format!("[models.M]\n{ep}\n[models.M.quants.a]\nmodel_id = \"a\""), "models.M: the name"),
        ("[models.m]\nreference = \"llama-server\"\n[models.m.quants.q3]\n".into(), "has no quant \"q3\""),
        ("[models.m]\nreference = \"llama-server\"\nquality_reference = \"f32\"\n[models.m.quants.q4_1]\n".into(), "quality_reference = \"f32\" is not one of its quants (q4_1)"),
        ("[run]\nfidelity_top_k = 1\n[models.m]\nreference = \"llama-server\"\n[models.m.quants.q4_1]\n".into(), "fidelity_top_k = 1: must be from 2 to 100"),
        ("[models.m]\nreference = \"llama-server\"\n[models.m.quants.mlx-4bit]\n".into(), "the llama-server reference has no quant \"mlx-4bit\""),
        (format!("[models.m]\n{ep}\n[models.m.quants.a]\nreference = \"mlx-lm\""), "a reference model's quants cannot name an endpoint"),
        (format!("[models.m]\n{ep}\n[models.m.quants.a]\nmodel_id = \"a\"\ncolour = 1"), "unknown field `colour`"),
    ];
    for (text, expected) in cases {
        let err = error(&text);
        assert!(
            err.contains("/cfg/quantbench.toml") && err.contains(expected),
            "expected {expected:?} in: {err}"
        );
    }
}

#[test]
fn lifecycle_settings_are_layered_and_checked() {
    let ep = r#"endpoint = { url = "http://localhost:1234/v1", kind = "lmstudio" }"#;
    let cfg = parse(&format!("[run]\nmodel_lifecycle = \"manage\"\n[models.m]\n{ep}\n[models.m.quants.a]\nmodel_id = \"a\"\nrun = {{ context_length = 8192 }}\n[models.m.quants.b]\nmodel_id = \"b\"\nrun = {{ model_lifecycle = \"leave\" }}")).unwrap();
    let s: Vec<(Lifecycle, Option<u32>)> = cfg
        .groups
        .iter()
        .map(|g| (g.settings.model_lifecycle, g.settings.context_length))
        .collect();
    assert_eq!(s, [(Lifecycle::Manage, Some(8192)), (Lifecycle::Leave, None)]);
    let default = parse(&format!("[models.m]\n{ep}\n[models.m.quants.a]\nmodel_id = \"a\"")).unwrap();
    assert_eq!(default.groups[0].settings.model_lifecycle, Lifecycle::Leave, "opt-in");
    let ollama = r#"endpoint = { url = "http://localhost:11434", kind = "ollama" }"#;
    let cases = [
        (format!("[models.m]\n{ep}\n[models.m.quants.a]\nmodel_id = \"a\"\nrun = {{ context_length = 4096 }}"), "models.m.quants.a: context_length = 4096 is sent when the suite loads the model: set model_lifecycle = \"manage\""),
        (format!("[models.m]\n{ollama}\nrun = {{ model_lifecycle = \"manage\", context_length = 4096 }}\n[models.m.quants.a]\nmodel_id = \"a\""), "models.m.quants.a: context_length applies only to lmstudio endpoints"),
        ("[models.m]\nreference = \"llama-server\"\n[models.m.quants.q4_1]\nrun = { context_length = 2048 }".into(), "--ctx-size"),
        (format!("[models.m]\n{ep}\nrun = {{ model_lifecycle = \"manage\", context_length = 0 }}\n[models.m.quants.a]\nmodel_id = \"a\""), "models.m.run: context_length must be at least 1"),
        (format!("[models.m]\n{ep}\nrun = {{ model_lifecycle = \"load\" }}\n[models.m.quants.a]\nmodel_id = \"a\""), "unknown variant `load`"),
    ];
    for (text, expected) in cases {
        let err = error(&text);
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
    }
}

#[test]
fn load_settings_have_defaults_and_are_checked() {
    let ep = r#"endpoint = { url = "http://localhost:1234/v1", kind = "lmstudio" }"#;
    let cfg = parse(&format!("[models.m]\n{ep}\n[models.m.quants.a]\nmodel_id = \"a\"")).unwrap();
    let load = &cfg.groups[0].settings.load;
    assert_eq!(
        (load.concurrency_levels.as_slice(), load.load_mix.as_slice()),
        (&[1, 2, 4, 8, 16][..], &[100, 500, 2000][..])
    );
    assert_eq!(
        load.kinds(),
        [crate::load::LoadKind::Concurrency, crate::load::LoadKind::Prefill],
        "open loop only with rates"
    );
    let cases = [
        ("concurrency_levels = []", "concurrency_levels = []"),
        ("concurrency_levels = [0, 4]", "concurrency_levels = [0, 4]"),
        ("load_mix = [100, 0]", "load_mix = [100, 0]"),
        ("open_loop_rates = [-1.0]", "open_loop_rates = [-1.0]"),
        ("open_loop_arrivals = \"bursty\"", "unknown variant `bursty`"),
        ("prefill_sizes = []", "prefill_sizes = []"),
    ];
    for (setting, expected) in cases {
        let err = error(&format!(
            "[run]\n{setting}\n[models.m]\n{ep}\n[models.m.quants.a]\nmodel_id = \"a\""
        ));
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
    }
}

#[test]
fn paired_sessions_take_side_a_repeats_and_need_one_session_mode() {
    let models = "[models.m]\nreference = \"llama-server\"\n[models.m.quants.q4_1]\n[models.m.quants.q8_0]\nrun = { session_repeats = 7 }\n";
    let pair = "[[paired]]\nname = \"p\"\na = \"m/q4_1\"\nb = \"m/q8_0\"\n";
    let cfg = parse(&format!(
        "{models}{pair}workload = \"session\"\nsessions = [\"doc-qa-small-en\"]\n"
    ))
    .unwrap();
    let p = &cfg.paired[0];
    assert_eq!(
        (p.workload, p.pairs),
        (PairedWorkload::Session, 5),
        "side A's session_repeats"
    );
    assert_eq!(p.sessions, ["doc-qa-small-en"]);
    assert_eq!(parse(&format!("{models}{pair}")).unwrap().paired[0].pairs, 20);
    let live = models.replace(
        "[models.m.quants.q8_0]\n",
        "[models.m.quants.q8_0]\nrun = { session_mode = \"live\" }\n",
    );
    let live = live.replace("run = { session_repeats = 7 }\n", "");
    for (text, expected) in [
        (
            format!("{live}{pair}workload = \"session\"\n"),
            "replay sessions differently",
        ),
        (
            format!("{models}{pair}sessions = [\"x\"]\n"),
            "`sessions` needs workload = \"session\"",
        ),
        (
            format!("{models}{pair}workload = \"depth\"\n"),
            "unknown variant `depth`",
        ),
    ] {
        let err = error(&text);
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
    }
}
