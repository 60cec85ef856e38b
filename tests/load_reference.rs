//! The load engine against the real reference llama-server started with 4 slots (continuous
//! batching): records complete at 1 and 4 concurrent streams, aggregate rates present. The rates
//! are printed, not asserted: speed depends on the machine.

use quantbench::client::{self, Endpoint, Limits, Sampling};
use quantbench::dialect::{self, DialectOptions, ServerKind};
use quantbench::load::analysis;
use quantbench::load::schedule::Job;
use quantbench::load::{run_level, LevelContext, LoadKind, Shape};
use quantbench::managed::{self, ManagedServer};
use quantbench::prompts::{Message, Prompt};
use quantbench::record::build::{self, SampleContext};
use quantbench::record::CountSource;
use quantbench::reference;

#[test]
fn four_slots_serve_four_streams_with_complete_records() {
    let manifest = reference::ensure_installed(&|m| eprintln!("{m}")).expect("reference install");
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let http = client::http_client().unwrap();
    let port = managed::free_port().unwrap();
    let spec = reference::launch_spec_with_slots(&manifest, "q4_1", port, 2, 4, tmp.path().join("server.log")).unwrap();
    let server = rt
        .block_on(ManagedServer::start(&spec, &http))
        .expect("llama-server starts");
    let endpoint = Endpoint {
        base_url: server.base_url.clone(),
        model_id: "smollm2".into(),
        api_key: None,
        dialect: dialect::for_kind(ServerKind::LlamaServer, DialectOptions::default()),
    };
    let prompt = Prompt {
        id: "story".into(),
        category: "long".into(),
        lang: Some("en".into()),
        messages: vec![Message::text(
            "user",
            "Write a long, detailed story about a lighthouse keeper and a storm.",
        )],
        max_tokens: 32,
        temperature: None,
        check: None,
        set: "test".into(),
    };
    let (sampling, limits) = (Sampling::default(), Limits::default());
    let cx = LevelContext {
        http: &http,
        endpoint: &endpoint,
        sampling: &sampling,
        limits: &limits,
        threads: 1,
    };
    let jobs: Vec<Job> = (0..8)
        .map(|_| Job {
            prompt: &prompt,
            max_tokens: 32,
        })
        .collect();
    // The first generation after start-up warms caches.
    run_level(&cx, LoadKind::Concurrency, &Shape::Closed { streams: 1 }, &jobs[..1]);
    let mut records = Vec::new();
    for streams in [1, 4] {
        for (i, f) in run_level(&cx, LoadKind::Concurrency, &Shape::Closed { streams }, &jobs)
            .into_iter()
            .enumerate()
        {
            let ctx = SampleContext {
                run: "test",
                model: "smollm2",
                quant: "q4_1",
                category: "concurrency",
                prompt_id: "story",
                sample: i as u32,
                warmup: false,
                started_at: String::new(),
                max_tokens: 32,
                pair: None,
            };
            let mut r = build::to_record(&ctx, f.observation, endpoint.dialect.as_ref());
            r.concurrency = Some(f.tag);
            records.push(r);
        }
    }
    drop(server);
    for r in &records {
        assert!(r.ok, "{:?}", r.error);
        assert_eq!(r.tokens.completion_source, Some(CountSource::Usage));
        assert!(r.metrics.ttft_s.is_some() && r.metrics.decode_rate.is_some() && r.t.connect_ns.is_some());
        assert_eq!(
            r.server.as_ref().and_then(|s| s.cache_n),
            Some(0),
            "cache_prompt=false: every request is a full prefill"
        );
    }
    let report = analysis::report("test", &records).unwrap();
    let levels = &report.benchmarks[0].levels;
    print!("{}", quantbench::report::console::load(&report));
    let (one, four) = (
        levels[0].aggregate_rate.expect("level 1 aggregate"),
        levels[1].aggregate_rate.expect("level 4 aggregate"),
    );
    println!(
        "llama-server, 4 slots: aggregate {one:.1} tok/s at 1 stream, {four:.1} tok/s at 4 streams ({:.2}×)",
        four / one
    );
}
