//! Does the client measure what a server does, at 1, 64 and 256 streams? A scripted (simulated)
//! streaming server (`server.rs`) runs in processes of its own — single-threaded event loops,
//! each on a CPU of its own — and stamps CLOCK_MONOTONIC (shared by every process) just before
//! and just after writing each token. A token reached the client's socket no earlier than the
//! before-write stamp and no later than the after-write stamp; every error below is measured
//! against the before-write stamp, so it never flatters the client: it can exceed the client's
//! own delay by at most the write's duration, which the server table shows.
//!
//! Each level is a closed-loop level of the real load engine (`load::run_level`), every stream
//! sending `--requests` requests. Per level and client thread count it reports, in ms:
//! - TTFT error: our TTFT (first token − sent) − the server's (first token's before-write −
//!   request received), for the level's first wave and for later requests;
//! - token delay: every token's arrival at the client − its before-write stamp;
//! - gap error: |our gap − the server's gap| between consecutive tokens;
//! - send lag: `sent − scheduled` of the load tag (later requests: includes opening their
//!   connection, which the connect column shows apart);
//! - send → received: our send stamp to the server having the whole request (transit);
//! - decode error: our decode rate against the rate of the server's write stamps;
//! - client CPU (whole process) per token;
//! - the server's lag behind its own schedule and each write's duration (it kept its schedule
//!   when these are small);
//! - the table: the server's and our TTFT and decode rate, beside a plain Python asyncio
//!   client's (`--python`, `asyncio_client.py`) against the same server with the same requests.
//!
//! `cargo bench --bench client_fidelity -- [--levels 1,64,256] [--client-threads 1,2,4]
//! [--tokens 256] [--ttft-us 20000] [--gap-us 1500] [--requests 4] [--server-cpus 0-11]
//! [--server-procs K] [--spin-us 30] [--client-cpus 12-15] [--python python3] [--out FILE.json]`;
//! the built executable runs alone with the same options. With `--serve` it runs only the server
//! (prints its port, stops when stdin closes). Not part of the default `cargo bench`.

mod report;
mod server;
mod sys;

use quantbench::client::{http_client, Endpoint, Limits, Sampling};
use quantbench::dialect::{self, DialectOptions, ServerKind};
use quantbench::load::schedule::Job;
use quantbench::load::{run_level, Finished, LevelContext, LoadKind, Shape};
use quantbench::prompts::{Message, Prompt};
use quantbench::record::build::{self, SampleContext};
use report::{spread, LevelResult, PythonResult};
use server::{Schedule, Served, ServerGroup};
use std::process::{Command, Stdio};
use sys::{cpu_list, mono_ns, pin, process_cpu};

/// The server's schedule and the load to run.
#[derive(Clone, Debug)]
struct Options {
    levels: Vec<u32>,
    client_threads: Vec<usize>,
    tokens: u32,
    ttft_us: u64,
    gap_us: u64,
    spin_us: u64,
    requests: u32,
    out: Option<String>,
    /// CPUs for the server processes and for the client, e.g. `0-11` and `12-15`: apart, neither
    /// can take the other's cores, so what is left in the errors is the client's own.
    server_cpus: Vec<usize>,
    client_cpus: Vec<usize>,
    /// Server processes: one per server CPU by default, else 4.
    server_procs: Option<usize>,
    /// A Python 3 interpreter for the comparison client.
    python: Option<String>,
    /// A server process's own settings (`--serve-worker`).
    port: u16,
    cpu: Option<usize>,
}

fn parse_options(args: &[String]) -> Options {
    let mut o = Options {
        levels: vec![1, 64, 256],
        client_threads: vec![1, 2, 4],
        tokens: 256,
        ttft_us: 20_000,
        gap_us: 1_500,
        spin_us: 30,
        requests: 4,
        out: None,
        server_cpus: Vec::new(),
        client_cpus: Vec::new(),
        server_procs: None,
        python: None,
        port: 0,
        cpu: None,
    };
    let list = |v: &str| {
        v.split(',')
            .map(|x| x.trim().parse().expect("a list of whole numbers"))
            .collect::<Vec<u64>>()
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value")).clone();
        match arg.as_str() {
            "--levels" => o.levels = list(&value()).into_iter().map(|x| x as u32).collect(),
            "--client-threads" => o.client_threads = list(&value()).into_iter().map(|x| x as usize).collect(),
            "--tokens" => o.tokens = value().parse().expect("--tokens N"),
            "--ttft-us" => o.ttft_us = value().parse().expect("--ttft-us N"),
            "--gap-us" => o.gap_us = value().parse().expect("--gap-us N"),
            "--spin-us" => o.spin_us = value().parse().expect("--spin-us N"),
            "--requests" => o.requests = value().parse().expect("--requests N"),
            "--out" => o.out = Some(value()),
            "--server-cpus" => o.server_cpus = cpu_list(&value()),
            "--client-cpus" => o.client_cpus = cpu_list(&value()),
            "--server-procs" => o.server_procs = Some(value().parse().expect("--server-procs N")),
            "--python" => o.python = Some(value()),
            "--port" => o.port = value().parse().expect("--port N"),
            "--cpu" => o.cpu = Some(value().parse().expect("--cpu N")),
            _ => {} // `--bench`, `--serve`, `--serve-worker` and other arguments cargo passes
        }
    }
    assert!(o.tokens >= 2, "--tokens: at least 2 (a decode rate needs two tokens)");
    o
}

impl Options {
    fn schedule(&self) -> Schedule {
        Schedule {
            tokens: self.tokens,
            ttft_ns: self.ttft_us * 1000,
            gap_ns: self.gap_us * 1000,
            spin_ns: self.spin_us * 1000,
        }
    }

    fn server_procs(&self) -> usize {
        self.server_procs.unwrap_or(if self.server_cpus.is_empty() {
            4
        } else {
            self.server_cpus.len()
        })
    }

    /// Starts the server's processes with this schedule.
    fn start_server(&self) -> ServerGroup {
        let schedule_args = [
            ("--tokens", u64::from(self.tokens)),
            ("--ttft-us", self.ttft_us),
            ("--gap-us", self.gap_us),
            ("--spin-us", self.spin_us),
        ]
        .into_iter()
        .flat_map(|(name, value)| [name.to_string(), value.to_string()])
        .collect::<Vec<_>>();
        ServerGroup::start(self.server_procs(), &self.server_cpus, &schedule_args)
    }
}

/// The server's TTFT and decode rate of one request, from its before-write stamps.
fn server_truth(s: &Served) -> (f64, f64) {
    let ttft_ms = (s.before[0] - s.received) as f64 / 1e6;
    let span_s = (s.before[s.before.len() - 1] - s.before[0]) as f64 / 1e9;
    (ttft_ms, (s.before.len() - 1) as f64 / span_s)
}

fn measure(o: &Options, server: &mut ServerGroup, threads: usize, streams: u32) -> LevelResult {
    let endpoint = Endpoint {
        base_url: format!("http://127.0.0.1:{}/v1", server.port),
        model_id: "scripted".into(),
        api_key: None,
        dialect: dialect::for_kind(ServerKind::Openai, DialectOptions::default()),
    };
    let n = (streams * o.requests) as usize;
    let prompts: Vec<Prompt> = (0..n)
        .map(|i| Prompt {
            id: format!("req-{i}"),
            category: "c".into(),
            lang: None,
            // The server finds the request's id here (as in Python's requests).
            messages: vec![Message::text("user", format!("req-{i}"))],
            max_tokens: o.tokens,
            temperature: None,
            check: None,
            set: "fidelity".into(),
        })
        .collect();
    let jobs: Vec<Job> = prompts
        .iter()
        .map(|prompt| Job {
            prompt,
            max_tokens: o.tokens,
        })
        .collect();
    let (http, sampling, limits) = (http_client().unwrap(), Sampling::default(), Limits::default());
    let cx = LevelContext {
        http: &http,
        endpoint: &endpoint,
        sampling: &sampling,
        limits: &limits,
        threads,
    };
    // std and tokio Instants are CLOCK_MONOTONIC: one pair maps one onto the other.
    let (anchor, anchor_ns) = (tokio::time::Instant::now(), mono_ns());
    let raw = |i: tokio::time::Instant| {
        anchor_ns as i128 + i.duration_since(anchor).as_nanos() as i128 - anchor.duration_since(i).as_nanos() as i128
    };
    let cpu0 = process_cpu();
    let finished: Vec<Finished> = run_level(&cx, LoadKind::Concurrency, &Shape::Closed { streams }, &jobs);
    let cpu = process_cpu() - cpu0;
    let served = server.served();
    let ms = |ns: i128| ns as f64 / 1e6;
    let (mut first_wave, mut later, mut delay, mut gaps, mut lag, mut own_lag, mut connect) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut server_lag, mut write_us, mut decode, mut server_ttft, mut our_ttft, mut transit) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut server_decode, mut our_decode) = (Vec::new(), Vec::new());
    let (mut failed, mut early, mut blocked) = (0, 0, 0);
    let schedule = o.schedule();
    for (i, f) in finished.into_iter().enumerate() {
        let obs = &f.observation;
        let (Some(sent), None, Some(s)) = (obs.sent, &obs.error, served.get(&(i as u64))) else {
            failed += 1;
            continue;
        };
        let sent = raw(sent);
        let arrivals: Vec<i128> = obs.token_times.iter().map(|t| sent + t.as_nanos() as i128).collect();
        if arrivals.len() != s.before.len() {
            failed += 1;
            continue;
        }
        let before: Vec<i128> = s.before.iter().map(|&b| i128::from(b)).collect();
        let (theirs_ms, truth) = server_truth(s);
        let ours = arrivals[0] - sent;
        let error = ms(ours) - theirs_ms;
        if f.tag.request < streams {
            first_wave.push(error)
        } else {
            later.push(error)
        }
        server_ttft.push(theirs_ms);
        our_ttft.push(ms(ours));
        transit.push(ms(i128::from(s.received) - sent));
        for (k, (a, b)) in arrivals.iter().zip(&before).enumerate() {
            delay.push(ms(a - b));
            early += usize::from(a < b);
            server_lag.push(ms(b - i128::from(schedule.due(s.received, k))));
            if k > 0 {
                gaps.push(ms(((a - arrivals[k - 1]) - (b - before[k - 1])).abs()));
            }
        }
        write_us.extend(s.after.iter().zip(&s.before).map(|(a, b)| (a - b) as f64 / 1e3));
        blocked += s.blocked;
        let send_lag = ms(i128::from(f.tag.sent_ns) - i128::from(f.tag.scheduled_ns));
        lag.push(send_lag);
        // The first wave's connections were opened before the level's clock.
        let connect_in_lag = if f.tag.request < streams {
            0.0
        } else {
            obs.connect.map_or(0.0, |c| c.as_secs_f64() * 1e3)
        };
        own_lag.push(send_lag - connect_in_lag);
        connect.extend(obs.connect.map(|c| c.as_secs_f64() * 1e3));
        let ctx = SampleContext {
            run: "fidelity",
            model: "m",
            quant: "q",
            category: "c",
            prompt_id: &f.prompt_id,
            sample: 0,
            warmup: false,
            started_at: String::new(),
            max_tokens: o.tokens,
            pair: None,
        };
        let record = build::to_record(&ctx, f.observation, endpoint.dialect.as_ref());
        decode.extend(record.metrics.decode_rate.map(|r| ((r - truth) / truth * 100.0).abs()));
        server_decode.push(truth);
        our_decode.extend(record.metrics.decode_rate);
    }
    LevelResult {
        streams,
        client_threads: threads,
        requests: n,
        failed,
        ttft_error_first_wave_ms: spread(first_wave),
        ttft_error_later_ms: spread(later),
        token_delay_ms: spread(delay),
        tokens_before_write: early,
        gap_error_ms: spread(gaps),
        send_lag_ms: spread(lag),
        send_lag_less_connect_ms: spread(own_lag),
        connect_ms: spread(connect),
        sent_to_received_ms: spread(transit),
        decode_rel_error_pct: spread(decode),
        server_decode: spread(server_decode),
        our_decode: spread(our_decode),
        server_ttft_ms: spread(server_ttft),
        our_ttft_ms: spread(our_ttft),
        server_lag_ms: spread(server_lag),
        write_us: spread(write_us),
        blocked_writes: blocked,
        client_cpu_us_per_token: cpu.as_secs_f64() * 1e6 / (n as f64 * f64::from(o.tokens)),
    }
}

/// One level with the plain Python asyncio client (`asyncio_client.py`, run by `python`).
fn measure_python(o: &Options, server: &mut ServerGroup, python: &str, streams: u32) -> PythonResult {
    let output = Command::new(python)
        .arg("-c")
        .arg(include_str!("asyncio_client.py"))
        .args(["127.0.0.1".to_string(), server.port.to_string()])
        .args([streams, o.requests, o.tokens].map(|x| x.to_string()))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("--python {python}: {e}"));
    assert!(output.status.success(), "the Python client failed: {}", output.status);
    let served = server.served();
    let (mut failed, mut ttft, mut decode, mut server_ttft, mut server_decode) = (0, vec![], vec![], vec![], vec![]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("the Python client's JSON lines"))
        .collect();
    for line in &lines {
        let tokens: Vec<u64> = line["tokens"]
            .as_array()
            .map(|t| t.iter().filter_map(|x| x.as_u64()).collect())
            .unwrap_or_default();
        let s = line["id"].as_u64().and_then(|id| served.get(&id));
        let (Some(sent), Some(s), true) = (line["sent"].as_u64(), s, tokens.len() == o.tokens as usize) else {
            failed += 1;
            continue;
        };
        let (theirs_ms, truth) = server_truth(s);
        server_ttft.push(theirs_ms);
        server_decode.push(truth);
        ttft.push((tokens[0] - sent) as f64 / 1e6);
        decode.push((tokens.len() - 1) as f64 / ((tokens[tokens.len() - 1] - tokens[0]) as f64 / 1e9));
    }
    PythonResult {
        streams,
        requests: lines.len(),
        failed,
        server_ttft_ms: spread(server_ttft),
        ttft_ms: spread(ttft),
        server_decode: spread(server_decode),
        decode: spread(decode),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = parse_options(&args);
    if args.iter().any(|a| a == "--serve-worker") {
        return server::run_worker(o.port, o.cpu, o.schedule());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()); // before pinning
    let mut server = o.start_server();
    if args.iter().any(|a| a == "--serve") {
        // Only the server, e.g. as an external endpoint of the suite, until stdin closes.
        println!("port {}", server.port);
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        return;
    }
    if !o.client_cpus.is_empty() {
        pin(&o.client_cpus); // after the server started, which would otherwise inherit it
    }
    println!(
        "client fidelity: {} tokens per request, server TTFT {} ms, a token every {} ms, {} requests per stream, {cores} logical cores, {} server processes on CPUs {:?}, client CPUs {:?}, load average {}",
        o.tokens,
        o.ttft_us as f64 / 1e3,
        o.gap_us as f64 / 1e3,
        o.requests,
        o.server_procs(),
        o.server_cpus,
        o.client_cpus,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let mut results = Vec::new();
    for &threads in &o.client_threads {
        let warm_up = Options {
            requests: 1,
            ..o.clone()
        };
        measure(&warm_up, &mut server, threads, 1);
        for &streams in &o.levels {
            let r = measure(&o, &mut server, threads, streams);
            eprintln!(
                "{streams} streams, {threads} client threads: TTFT error later {}, send lag {}, decode error % {}, server lag {} (p50 / p99)",
                report::pair(&r.ttft_error_later_ms),
                report::pair(&r.send_lag_ms),
                report::pair(&r.decode_rel_error_pct),
                report::pair(&r.server_lag_ms)
            );
            results.push(r);
        }
    }
    let python: Vec<PythonResult> = match &o.python {
        Some(python) => o
            .levels
            .iter()
            .map(|&streams| measure_python(&o, &mut server, python, streams))
            .collect(),
        None => Vec::new(),
    };
    report::print_tables(&results, &python);
    if let Some(path) = &o.out {
        let json = serde_json::json!({ "cores": cores, "server_procs": o.server_procs(), "server_cpus": o.server_cpus, "client_cpus": o.client_cpus, "tokens": o.tokens, "ttft_us": o.ttft_us, "gap_us": o.gap_us, "spin_us": o.spin_us, "requests_per_stream": o.requests, "levels": results, "python": python });
        std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).expect("writing --out");
    }
}
