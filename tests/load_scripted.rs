//! The load engine against the scripted test server (a simulated endpoint with exact, known
//! schedules): per-stream timing at 16 and 64 concurrent streams, closed-loop throughput and
//! fairness, and an open-loop schedule kept while the server falls behind.

mod support;

use quantbench::client::{Endpoint, Limits, Sampling};
use quantbench::dialect::{self, DialectOptions, ServerKind};
use quantbench::load::analysis::{self, LevelResult};
use quantbench::load::schedule::{Arrivals, Job};
use quantbench::load::{run_level, Finished, LevelContext, LoadKind, Shape};
use quantbench::prompts::{Message, Prompt};
use support::*;

fn endpoint(server: &ScriptedServer) -> Endpoint {
    Endpoint {
        base_url: server.url.clone(),
        model_id: "scripted".into(),
        api_key: None,
        dialect: dialect::for_kind(ServerKind::Openai, DialectOptions::default()),
    }
}

fn prompt() -> Prompt {
    Prompt {
        id: "p".into(),
        category: "short".into(),
        lang: None,
        messages: vec![Message::text("user", "hi")],
        max_tokens: 16,
        temperature: None,
        check: None,
        set: "test".into(),
    }
}

/// Runs one level on the suite's number of threads (`load::client_threads`).
fn level(server: &ScriptedServer, kind: LoadKind, shape: Shape, requests: usize) -> Vec<Finished> {
    level_on(
        server,
        kind,
        shape,
        requests,
        quantbench::load::client_threads().unwrap(),
    )
}

fn level_on(server: &ScriptedServer, kind: LoadKind, shape: Shape, requests: usize, threads: usize) -> Vec<Finished> {
    let (endpoint, http, sampling, limits) = (
        endpoint(server),
        quantbench::client::http_client().unwrap(),
        Sampling::default(),
        Limits::default(),
    );
    let prompt = prompt();
    let jobs: Vec<Job> = (0..requests)
        .map(|_| Job {
            prompt: &prompt,
            max_tokens: 16,
        })
        .collect();
    let cx = LevelContext {
        http: &http,
        endpoint: &endpoint,
        sampling: &sampling,
        limits: &limits,
        threads,
    };
    run_level(&cx, kind, &shape, &jobs)
}

fn records(finished: Vec<Finished>) -> Vec<quantbench::record::GenerationRecord> {
    let dialect = dialect::for_kind(ServerKind::Openai, DialectOptions::default());
    finished
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let ctx = quantbench::record::build::SampleContext {
                run: "test",
                model: "m",
                quant: "q",
                category: f.tag.benchmark.name(),
                prompt_id: &f.prompt_id,
                sample: i as u32,
                warmup: false,
                started_at: String::new(),
                max_tokens: f.max_tokens,
                pair: None,
            };
            let mut r = quantbench::record::build::to_record(&ctx, f.observation, dialect.as_ref());
            r.concurrency = Some(f.tag);
            r
        })
        .collect()
}

/// Request `n` gets its own schedule: first token after 20 + 3·(n mod 7) ms, then 11 more every
/// 4 + (n mod 5) ms; the text names the request so a stream can be matched to its schedule.
fn per_request_schedule(n: usize) -> Script {
    let first = ms(20 + 3 * (n as u64 % 7));
    let gap = ms(4 + n as u64 % 5);
    let mut steps = vec![step(ms(0), role())];
    for i in 0..12u32 {
        steps.push(step(first + gap * i, content(&format!("r{n}-{i} "))));
    }
    let end = first + gap * 11;
    steps.extend([step(end, finish("length")), step(end, usage(5, 12)), step(end, done())]);
    Script::ok(steps)
}

/// Lags, milliseconds, sorted: of every token's arrival time as the client stamped it after the
/// moment the server began writing it (same process, same monotonic clock, so never negative),
/// and of each request's TTFT and inter-token gaps against the server's actual schedule.
struct Lags {
    stamps: Vec<f64>,
    ttft: Vec<f64>,
    itl: Vec<f64>,
    /// First-token lags of the level's first wave (every stream's first request) and of the rest.
    first_wave: Vec<f64>,
    later: Vec<f64>,
}

fn lags(server: &ScriptedServer, finished: &[Finished]) -> Lags {
    let served = server.served();
    let mut lags = Lags {
        stamps: Vec::new(),
        ttft: Vec::new(),
        itl: Vec::new(),
        first_wave: Vec::new(),
        later: Vec::new(),
    };
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    for f in finished {
        let obs = &f.observation;
        assert!(obs.error.is_none(), "{:?}", obs.error);
        let n: usize = obs
            .output
            .content
            .trim_start_matches('r')
            .split('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let s = served.iter().find(|s| s.request == n).expect("the server served it");
        assert_eq!(obs.token_times.len(), 12);
        let sent = obs.sent.unwrap();
        assert!(sent <= s.received, "request {n} received before it was sent");
        // The server's schedule as it really wrote it (step 0 is the role chunk): a busy machine
        // makes the server late too, which is not the client's error.
        let written: Vec<std::time::Duration> = s.written[1..13].iter().map(|w| *w - sent).collect();
        for (i, (at, w)) in obs.token_times.iter().zip(&written).enumerate() {
            assert!(
                at >= w,
                "request {n} token {i} stamped {at:?} after sending, before it was written ({w:?})"
            );
            lags.stamps.push(ms(*at - *w));
        }
        lags.ttft.push(ms(obs.token_times[0] - written[0]));
        let first_wave = f.tag.level.is_some_and(|streams| f.tag.request < streams);
        if first_wave {
            &mut lags.first_wave
        } else {
            &mut lags.later
        }
        .push(ms(obs.token_times[0] - written[0]));
        for (measured, scheduled) in obs.token_times.windows(2).zip(written.windows(2)) {
            lags.itl
                .push((ms(measured[1] - measured[0]) - ms(scheduled[1] - scheduled[0])).abs());
        }
    }
    for v in [
        &mut lags.stamps,
        &mut lags.ttft,
        &mut lags.itl,
        &mut lags.first_wave,
        &mut lags.later,
    ] {
        v.sort_by(f64::total_cmp);
    }
    lags
}

/// Timing tests run one at a time: in parallel they would measure each other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn check_streams(streams: u32) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = ScriptedServer::start(per_request_schedule);
    let finished = level(
        &server,
        LoadKind::Concurrency,
        Shape::Closed { streams },
        2 * streams as usize,
    );
    assert_eq!(finished.len(), 2 * streams as usize);
    // Every token stamped no earlier than it was written (exact, checked in `lags`). At the median,
    // stamped before the server's next write (≥ 4 ms later): a client that stamped after parsing a
    // batch, or served streams in turn, would be whole gaps late. An order, not a precision claim
    // ("Timing in these tests", tests/support/mod.rs); the client's real lag (~0.1 ms at 64
    // streams) and the first wave's against later requests are measured by benches/client_fidelity/.
    let lags = lags(&server, &finished);
    for (what, e) in [
        ("timestamp", &lags.stamps),
        ("TTFT", &lags.ttft),
        ("inter-token gap", &lags.itl),
    ] {
        let (p50, p99) = (e[e.len() / 2], e[e.len() * 99 / 100]);
        println!(
            "{streams} streams: {what} lag p50 {p50:.3} ms, p99 {p99:.3} ms, max {:.3} ms (n = {})",
            e.last().unwrap(),
            e.len()
        );
        assert!(
            p50 < 4.0,
            "median {what} lag {p50:.3} ms at {streams} streams: as long as the shortest gap"
        );
    }
    // The first wave starts on connections opened before the level's clock, with its bodies
    // serialized: its first tokens are read no later than the rest's, to within one gap. (How
    // long the scripted server, sharing these cores, takes to read 64 requests at once is its
    // own delay, not the client's: that is why the lag is taken from the server's write.)
    let (first, later) = (
        lags.first_wave[lags.first_wave.len() / 2],
        lags.later[lags.later.len() / 2],
    );
    println!("{streams} streams: first-token lag, median: first wave {first:.3} ms, later {later:.3} ms");
    assert!(
        first < later + 4.0,
        "first wave {first:.3} ms vs later {later:.3} ms at {streams} streams"
    );
    let tags: Vec<_> = finished.iter().map(|f| &f.tag).collect();
    assert!(tags.iter().all(|t| t.level == Some(streams) && t.stream < streams));
    assert_eq!(
        server.connections.load(std::sync::atomic::Ordering::SeqCst),
        2 * streams as usize,
        "one connection per request"
    );
    assert!(
        finished.iter().all(|f| f.observation.connect.is_some()),
        "every request's connect time is recorded"
    );
}

#[test]
fn sixteen_streams_are_timed_as_the_server_wrote_them() {
    check_streams(16);
}

#[test]
fn sixty_four_streams_are_timed_as_the_server_wrote_them() {
    check_streams(64);
}

fn uniform(_: usize) -> Script {
    // 10 tokens: first at 20 ms, then every 10 ms; 110 ms a request, 9 intervals in 90 ms.
    Script::ok(answer(ms(20), ms(10), 10, Some((5, 10)), "length"))
}

#[test]
fn closed_loop_levels_scale_and_are_fair_on_a_server_with_room_for_all() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = ScriptedServer::start(uniform);
    let mut all = records(level(&server, LoadKind::Concurrency, Shape::Closed { streams: 1 }, 4));
    all.extend(records(level(
        &server,
        LoadKind::Concurrency,
        Shape::Closed { streams: 4 },
        16,
    )));
    let report = analysis::report("test", &all).unwrap();
    assert_eq!(report.benchmarks.len(), 1);
    let levels: &[LevelResult] = &report.benchmarks[0].levels;
    assert_eq!(levels.iter().map(|l| l.level).collect::<Vec<_>>(), [Some(1), Some(4)]);
    for l in levels {
        assert_eq!(l.ok, l.requests);
        // Each stream makes 10 tokens per ~110 ms (plus connect and client overhead): ~91 tok/s.
        let expected = 10.0 / 0.110 * f64::from(l.level.unwrap());
        let rate = l.aggregate_rate.unwrap();
        // 25 %: a busy machine delays the scripted server too; a client that served the streams
        // one after another would be 75 % off at 4 streams.
        assert!(
            (rate - expected).abs() / expected < 0.25,
            "level {:?}: {rate:.1} tok/s, expected about {expected:.1}",
            l.level
        );
        let decode = l.decode_rate.median().unwrap();
        assert!((decode - 100.0).abs() < 8.0, "decode {decode:.1} tok/s, scheduled 100");
        assert!(l.fairness_jain.unwrap() > 0.95);
        assert!(l.window.as_ref().unwrap().end_s > l.window.as_ref().unwrap().start_s);
        assert_eq!(l.classes.len(), 1);
        assert_eq!(l.completion_sources.get("usage"), Some(&l.ok));
    }
    let efficiency = levels[1].scaling_efficiency.unwrap();
    assert!(
        (efficiency - 1.0).abs() < 0.25,
        "efficiency {efficiency:.2}: the scripted server serves all streams at once"
    );
    let table = quantbench::report::console::load(&report);
    assert!(
        table.contains("4 streams") && table.contains("class max_tokens=16"),
        "{table}"
    );
}

#[test]
fn a_level_spread_over_threads_keeps_every_request_in_job_and_stream_order() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = ScriptedServer::start(uniform);
    // 7 streams on 3 threads (3, 2 and 2 streams each), 20 requests: job i on stream i mod 7.
    let closed = level_on(&server, LoadKind::Concurrency, Shape::Closed { streams: 7 }, 20, 3);
    assert_eq!(closed.len(), 20);
    for (i, f) in closed.iter().enumerate() {
        assert!(f.observation.error.is_none(), "{:?}", f.observation.error);
        assert_eq!(
            (f.tag.request, f.tag.stream, f.tag.level),
            (i as u32, i as u32 % 7, Some(7))
        );
        if i < 7 {
            assert_eq!(f.tag.scheduled_ns, 0, "the first wave is due at the level's start");
        } else {
            // A stream's next request is due once its previous one has ended.
            let previous = &closed[i - 7];
            let ended = previous.tag.sent_ns + quantbench::util::nanos(previous.observation.end.unwrap());
            assert!(
                f.tag.scheduled_ns >= ended,
                "request {i} was due before request {} ended",
                i - 7
            );
        }
    }
    let open = level_on(
        &server,
        LoadKind::OpenLoop,
        Shape::Open {
            rate_per_s: 100.0,
            arrivals: Arrivals::Constant,
            seed: 1,
        },
        9,
        3,
    );
    assert_eq!(open.len(), 9);
    for (i, f) in open.iter().enumerate() {
        assert!(f.observation.error.is_none(), "{:?}", f.observation.error);
        assert_eq!((f.tag.request, f.tag.scheduled_ns), (i as u32, i as u64 * 10_000_000));
        assert!(
            f.tag.sent_ns >= f.tag.scheduled_ns,
            "request {i} sent before it was due"
        );
    }
    assert_eq!(server.served().len(), 29, "every request reached the server once");
}

#[test]
fn open_loop_sends_on_schedule_while_the_server_falls_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Requests arrive every 20 ms; the server behaves like one slot taking 100 ms per request, so
    // request n waits for n earlier ones: its headers come 100 + 80·n ms after it arrived. A client
    // that waited for earlier answers would send request n at least 100 ms late; the tolerances
    // below (40 ms) separate the two clearly even on a busy machine.
    let server = ScriptedServer::start(|n| Script {
        head_delay: ms(100 + 80 * n as u64),
        ..uniform(n)
    });
    let finished = level(
        &server,
        LoadKind::OpenLoop,
        Shape::Open {
            rate_per_s: 50.0,
            arrivals: Arrivals::Constant,
            seed: 1,
        },
        12,
    );
    let records = records(finished);
    let served = server.served();
    let first = served.iter().map(|s| s.received).min().unwrap();
    for (i, r) in records.iter().enumerate() {
        assert!(r.ok, "{:?}", r.error);
        let tag = r.concurrency.as_ref().unwrap();
        assert_eq!(
            tag.scheduled_ns,
            i as u64 * 20_000_000,
            "constant arrivals, 20 ms apart"
        );
        // Sent when due, not when the server caught up (no coordinated omission).
        let lag_ms = (tag.sent_ns - tag.scheduled_ns) as f64 / 1e6;
        assert!(lag_ms < 40.0, "request {i} sent {lag_ms:.2} ms late");
        // The queue shows in the measured TTFT: the script's steps are timed from the request's
        // arrival, so the first token (due at 20 ms) leaves with the headers, 100 + 80·i ms late.
        let expected_ttft = (100.0 + 80.0 * i as f64) / 1e3;
        let ttft = r.metrics.ttft_s.unwrap();
        assert!(
            (ttft - expected_ttft).abs() < 0.040,
            "request {i}: TTFT {ttft:.3} s, scheduled {expected_ttft:.3} s"
        );
    }
    // The server received the requests on the arrival schedule.
    let mut received: Vec<f64> = served
        .iter()
        .map(|s| (s.received - first).as_secs_f64() * 1e3)
        .collect();
    received.sort_by(f64::total_cmp);
    for (i, at) in received.iter().enumerate() {
        assert!(
            (at - 20.0 * i as f64).abs() < 40.0,
            "request {i} reached the server at {at:.1} ms"
        );
    }
    let report = analysis::report("test", &records).unwrap();
    let level = &report.benchmarks[0].levels[0];
    assert_eq!(level.rate_per_s, Some(50.0));
    assert_eq!(level.client_wait_s.n, 12, "every request's schedule lag is recorded");
    assert!(level.ttft_s.p95.unwrap().point > 0.9, "the p95 TTFT shows the queue");
}

#[test]
fn the_suite_runs_load_benchmarks_only_when_named_and_keeps_them_apart() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = ScriptedServer::start(uniform);
    let tmp = tempfile::tempdir().unwrap();
    let config = config(
        tmp.path(),
        &format!(
            "[run]\nconcurrency_levels = [1, 2]\nconcurrency_requests = 4\nload_mix = [8, 16]\nwarmup = 1\nlanguages = [\"en\"]\n[models.m]\nendpoint = {{ url = {:?}, kind = \"openai\" }}\n[models.m.quants.q]\nmodel_id = \"scripted\"\n",
            server.url
        ),
    );
    let prompts = quantbench::prompts::PromptLibrary::load_dir(&config.prompts_dir).unwrap();
    let plan = |filter: &str| {
        let cli = quantbench::cli_args::CliArgs::parse(&[filter.to_owned(), "--bench".into()]).unwrap();
        quantbench::suite::plan(&config, &prompts, &cli.filter)
            .unwrap()
            .into_iter()
            .map(|p| (p.categories.len(), p.load))
            .collect::<Vec<_>>()
    };
    assert!(
        plan("m/q").iter().all(|(_, load)| load.is_empty()),
        "a group filter means its prompt categories"
    );
    assert_eq!(plan("m/q/concurrency"), [(0, vec![LoadKind::Concurrency])]);
    assert_eq!(
        plan("m/q/(concurrency|prefill)"),
        [(0, vec![LoadKind::Concurrency, LoadKind::Prefill])]
    );

    let outcome = run_suite(tmp.path(), &config, "--bench m/q/(concurrency|prefill)").unwrap();
    let dir = outcome.run_dir.unwrap();
    let records = quantbench::store::read_records(&dir.join("generations.jsonl")).unwrap();
    let tagged: Vec<_> = records
        .iter()
        .filter_map(|r| r.concurrency.as_ref().map(|t| (r.warmup, t.level, t.class_max_tokens)))
        .collect();
    assert_eq!(
        tagged.len(),
        1 + 4 + 4,
        "one warm-up, then 4 requests at each of 2 levels"
    );
    assert_eq!(
        tagged.iter().filter(|t| t.2 == 8).count(),
        5,
        "the mix alternates its classes"
    );
    let report: analysis::LoadReport =
        serde_json::from_str(&std::fs::read_to_string(dir.join("concurrency.json")).unwrap()).unwrap();
    assert_eq!(
        report.benchmarks[0]
            .levels
            .iter()
            .map(|l| (l.level, l.ok))
            .collect::<Vec<_>>(),
        [(Some(1), 4), (Some(2), 4)]
    );
    assert_eq!(
        report.benchmarks[0].levels[0]
            .classes
            .iter()
            .map(|c| c.max_tokens)
            .collect::<Vec<_>>(),
        [8, 16]
    );
    // The scripted server counts every prompt as 5 tokens: no calibration is possible, and the
    // prefill benchmark says so instead of guessing sizes.
    let abandoned: Vec<_> = outcome
        .abandoned
        .iter()
        .map(|(g, c, reason)| (g.as_str(), c.as_str(), reason.as_str()))
        .collect();
    assert!(
        matches!(abandoned[..], [("m/q", "prefill", reason)] if reason.contains("calibration failed")),
        "{abandoned:?}"
    );
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert!(
        !summary.contains("\"category\": \"concurrency\""),
        "load records stay out of the summary"
    );
    // The run page shows the levels: throughput, decode and TTFT against concurrency, and a table.
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let section = &page[page
        .find("<h2>Concurrency (closed loop)</h2>")
        .expect("a concurrency section")..];
    assert_eq!(
        section.matches("<svg").count(),
        3,
        "aggregate rate, decode, TTFT percentiles"
    );
    assert!(section.contains("<h3>m/q</h3>") && section.contains("<td class=\"num\">4/4</td>"));
    let csv = std::fs::read_to_string(dir.join("generations.csv")).unwrap();
    assert_eq!(
        csv.lines().filter(|l| l.contains(",concurrency,")).count(),
        9,
        "every load record, tagged"
    );
}
