//! Does the client measure what a server does, at 1, 64 and 256 streams? A scripted (simulated)
//! streaming server runs in a process of its own — this executable started again with
//! `--serve` — with threads made beforehand that each accept a connection and answer it with
//! blocking writes, so its schedule does not depend
//! on the client's runtime. It sends each token at a fixed offset from the moment it received the
//! request, and notes (CLOCK_MONOTONIC, shared by both processes) when it really wrote it.
//!
//! Each level is a closed-loop level of the real load engine (`load::run_level`), every stream
//! sending `--requests` requests. Per level and client thread count it reports, in ms:
//! - TTFT error: our TTFT (first token − sent) − the server's (first token written − request
//!   received), for the level's first wave and for later requests;
//! - gap error: |our gap − the server's gap| between consecutive tokens;
//! - send lag: `sent − scheduled` of the load tag (later requests: includes opening their
//!   connection, which the connect column shows apart);
//! - the server's own lag behind its schedule (it kept its schedule when this is small), and
//!   the time from our send stamp to the server having the whole request (transit, or a server
//!   too busy to read it: part of the TTFT error that is not the client's);
//! - decode error: our decode rate against the rate of the server's write times;
//! - client CPU (whole process) per token.
//!
//! `cargo bench --bench client_fidelity -- [--levels 1,64,256] [--client-threads 1,2,4]
//! [--tokens 256] [--ttft-us 20000] [--gap-us 1500] [--requests 4] [--server-cpus 0-11]
//! [--client-cpus 12-15] [--out FILE.json]`; the built
//! executable runs alone with the same options. Not part of the default `cargo bench`.

use quantbench::client::{http_client, Endpoint, Limits, Sampling};
use quantbench::dialect::{self, DialectOptions, ServerKind};
use quantbench::load::schedule::Job;
use quantbench::load::{run_level, Finished, LevelContext, LoadKind, Shape};
use quantbench::prompts::{Message, Prompt};
use quantbench::record::build::{self, SampleContext};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The server's schedule and the load to run.
#[derive(Clone, Debug)]
struct Options {
    levels: Vec<u32>,
    client_threads: Vec<usize>,
    tokens: u32,
    ttft_us: u64,
    gap_us: u64,
    requests: u32,
    out: Option<String>,
    /// CPUs for the server process and for the client, e.g. `0-11` and `12-15`: apart, neither
    /// can take the other's cores, so what is left in the errors is the client's own.
    server_cpus: Option<String>,
    client_cpus: Option<String>,
}

fn parse_options(args: &[String]) -> Options {
    let mut o = Options {
        levels: vec![1, 64, 256],
        client_threads: vec![1, 2, 4],
        tokens: 256,
        ttft_us: 20_000,
        gap_us: 1_500,
        requests: 4,
        out: None,
        server_cpus: None,
        client_cpus: None,
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
            "--requests" => o.requests = value().parse().expect("--requests N"),
            "--out" => o.out = Some(value()),
            "--server-cpus" => o.server_cpus = Some(value()),
            "--client-cpus" => o.client_cpus = Some(value()),
            _ => {} // `--bench` and other arguments cargo passes
        }
    }
    o
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of `std::time::Instant` on Linux, shared by processes.
fn mono_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write to; CLOCK_MONOTONIC is always supported.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time of this whole process (all threads).
fn process_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: as above; CLOCK_PROCESS_CPUTIME_ID is always supported on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Restricts this process (and the threads it creates from now on) to `cpus`, a list such as
/// `0-7,12`.
fn pin(cpus: &str) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it for indices
    // below CPU_SETSIZE, which is checked; sched_setaffinity reads the set it is given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for part in cpus.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b): (usize, usize) = (
                a.trim().parse().expect("--*-cpus: a CPU list"),
                b.trim().parse().expect("--*-cpus: a CPU list"),
            );
            for cpu in a..=b {
                assert!(cpu < libc::CPU_SETSIZE as usize, "CPU {cpu} out of range");
                libc::CPU_SET(cpu, &mut set);
            }
        }
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "sched_setaffinity({cpus})"
        );
    }
}

// --- The server process -------------------------------------------------------------------------

/// What the server did for one request: its id (from the prompt), when it was received and
/// when each token was written, CLOCK_MONOTONIC ns.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Served {
    id: u64,
    received: u64,
    written: Vec<u64>,
}

fn serve(o: &Options) {
    // Sleeps end within a few µs of their deadline instead of the default 50 µs slack; threads
    // created from here on inherit it.
    // SAFETY: prctl with PR_SET_TIMERSLACK takes one integer argument and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    if let Some(cpus) = &o.server_cpus {
        pin(cpus);
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    // A backlog for 256 connects at once (std listens with 128; a full queue drops SYNs, and a
    // dropped SYN is retried after a second).
    // SAFETY: listen on a socket this process owns, already listening: only its backlog changes.
    unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&listener), 4096) };
    println!("port {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let log: Arc<Mutex<Vec<Served>>> = Arc::default();
    // Threads made beforehand, each accepting and answering in turn: a thread spawned per
    // connection made 256 new connections wait for 256 thread creations behind one accept loop,
    // which showed as our send → the server's read. Enough for every stream of the largest level
    // and its next connection.
    let listener = Arc::new(listener);
    let threads = 2 * o.levels.iter().max().copied().unwrap_or(1) as usize + 8;
    for _ in 0..threads {
        let (listener, schedule, l) = (listener.clone(), o.clone(), log.clone());
        std::thread::spawn(move || {
            while let Ok((socket, _)) = listener.accept() {
                answer(socket, &schedule, &l);
            }
        });
    }
    // The parent asks for the log with a line "dump" and closes stdin when done.
    for line in std::io::stdin().lock().lines() {
        if line.unwrap_or_default().trim() == "dump" {
            let served = std::mem::take(&mut *log.lock().unwrap());
            let mut out = std::io::stdout().lock();
            for s in served {
                writeln!(out, "{}", serde_json::to_string(&s).unwrap()).unwrap();
            }
            writeln!(out, "end").unwrap();
            out.flush().unwrap();
        }
    }
}

/// One connection: one request, answered on schedule with one chunk per token, then closed.
fn answer(mut socket: TcpStream, o: &Options, log: &Mutex<Vec<Served>>) {
    socket.set_nodelay(true).unwrap();
    let Some((head, body)) = read_request(&mut socket) else {
        return;
    };
    let received = mono_ns();
    if head.starts_with("get ") {
        // A model listing, for clients that look before they send (the suite's preflight).
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"data\":[]}");
        return;
    }
    let id = body
        .split("req-")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse().ok())
        .unwrap_or(u64::MAX);
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let chunk = |data: &str| {
        let event = format!("data: {data}\n\n");
        format!("{:x}\r\n{event}\r\n", event.len())
    };
    if socket.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut written = Vec::with_capacity(o.tokens as usize);
    for i in 0..u64::from(o.tokens) {
        let due = received + o.ttft_us * 1000 + i * o.gap_us * 1000;
        let now = mono_ns();
        if due > now {
            std::thread::sleep(Duration::from_nanos(due - now));
        }
        if socket
            .write_all(chunk(r#"{"choices":[{"index":0,"delta":{"content":"tok "}}]}"#).as_bytes())
            .is_err()
        {
            return;
        }
        written.push(mono_ns());
    }
    let usage = format!(
        r#"{{"choices":[{{"index":0,"delta":{{}},"finish_reason":"length"}}],"usage":{{"prompt_tokens":8,"completion_tokens":{}}}}}"#,
        o.tokens
    );
    let end = format!("{}{}0\r\n\r\n", chunk(&usage), chunk("[DONE]"));
    if socket.write_all(end.as_bytes()).is_ok() {
        log.lock().unwrap().push(Served { id, received, written });
    }
}

/// Reads one request's head (lower case) and its `content-length` body; None when the peer went
/// away.
fn read_request(socket: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Some((
                    head,
                    String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned(),
                ));
            }
        }
        let n = socket.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

// --- The client process -------------------------------------------------------------------------

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    url: String,
}

impl Server {
    fn start(args: &[String]) -> Server {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .arg("--serve")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server process starts");
        let (stdin, mut stdout) = (
            child.stdin.take().unwrap(),
            BufReader::new(child.stdout.take().unwrap()),
        );
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .expect("the server says its port");
        Server {
            child,
            stdin,
            stdout,
            url: format!("http://127.0.0.1:{port}/v1"),
        }
    }

    /// Everything the server has served since the last call.
    fn served(&mut self) -> HashMap<u64, Served> {
        writeln!(self.stdin, "dump").unwrap();
        let mut served = HashMap::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.stdout.read_line(&mut line).unwrap();
            if line.trim() == "end" || line.is_empty() {
                return served;
            }
            let s: Served = serde_json::from_str(&line).unwrap();
            served.insert(s.id, s);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Quantiles of one measure, milliseconds.
#[derive(Debug, Default, serde::Serialize)]
struct Spread {
    n: usize,
    p50: f64,
    p99: f64,
    max: f64,
}

fn spread(mut v: Vec<f64>) -> Spread {
    if v.is_empty() {
        return Spread::default();
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    Spread {
        n: v.len(),
        p50: q(0.5),
        p99: q(0.99),
        max: v[v.len() - 1],
    }
}

#[derive(Debug, serde::Serialize)]
struct LevelResult {
    streams: u32,
    client_threads: usize,
    requests: usize,
    failed: usize,
    ttft_error_first_wave_ms: Spread,
    ttft_error_later_ms: Spread,
    gap_error_ms: Spread,
    send_lag_ms: Spread,
    /// Send lag less the request's connect: the client's own delay.
    send_lag_less_connect_ms: Spread,
    connect_ms: Spread,
    server_lag_ms: Spread,
    /// Request sent (our stamp) → received whole by the server: transit, and a server too busy
    /// to read it.
    sent_to_received_ms: Spread,
    decode_rel_error_pct: Spread,
    /// Decode rates, tokens/s: of the server's write times, and ours.
    server_decode: Spread,
    our_decode: Spread,
    server_ttft_ms: Spread,
    our_ttft_ms: Spread,
    client_cpu_us_per_token: f64,
}

fn measure(o: &Options, server: &mut Server, threads: usize, streams: u32) -> LevelResult {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    let endpoint = Endpoint {
        base_url: server.url.clone(),
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
    };
    // std and tokio Instants are CLOCK_MONOTONIC: one pair maps one onto the other.
    let (anchor, anchor_ns) = (tokio::time::Instant::now(), mono_ns());
    let raw = |i: tokio::time::Instant| {
        anchor_ns as i128 + i.duration_since(anchor).as_nanos() as i128 - anchor.duration_since(i).as_nanos() as i128
    };
    let cpu0 = process_cpu();
    let finished: Vec<Finished> = rt.block_on(run_level(&cx, LoadKind::Concurrency, &Shape::Closed { streams }, &jobs));
    let cpu = process_cpu() - cpu0;
    let served = server.served();
    let ms = |ns: i128| ns as f64 / 1e6;
    let (mut first_wave, mut later, mut gaps, mut lag, mut own_lag, mut connect) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut server_lag, mut decode, mut server_ttft, mut our_ttft, mut transit) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut server_decode, mut our_decode) = (Vec::new(), Vec::new());
    let mut failed = 0;
    for (i, f) in finished.into_iter().enumerate() {
        let obs = &f.observation;
        let (Some(sent), None, Some(s)) = (obs.sent, &obs.error, served.get(&(i as u64))) else {
            failed += 1;
            continue;
        };
        let sent = raw(sent);
        let arrivals: Vec<i128> = obs.token_times.iter().map(|t| sent + t.as_nanos() as i128).collect();
        if arrivals.len() != s.written.len() {
            failed += 1;
            continue;
        }
        let theirs = i128::from(s.written[0]) - i128::from(s.received);
        let ours = arrivals[0] - sent;
        if f.tag.request < streams {
            first_wave.push(ms(ours - theirs))
        } else {
            later.push(ms(ours - theirs))
        }
        server_ttft.push(ms(theirs));
        transit.push(ms(i128::from(s.received) - sent));
        our_ttft.push(ms(ours));
        for k in 1..arrivals.len() {
            gaps.push(ms(((arrivals[k] - arrivals[k - 1])
                - (i128::from(s.written[k]) - i128::from(s.written[k - 1])))
            .abs()));
        }
        for (k, w) in s.written.iter().enumerate() {
            let due = i128::from(s.received) + i128::from(o.ttft_us * 1000 + k as u64 * o.gap_us * 1000);
            server_lag.push(ms(i128::from(*w) - due));
        }
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
        let truth = (s.written.len() - 1) as f64 / ((s.written[s.written.len() - 1] - s.written[0]) as f64 / 1e9);
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
        gap_error_ms: spread(gaps),
        send_lag_ms: spread(lag),
        send_lag_less_connect_ms: spread(own_lag),
        connect_ms: spread(connect),
        server_lag_ms: spread(server_lag),
        sent_to_received_ms: spread(transit),
        decode_rel_error_pct: spread(decode),
        server_decode: spread(server_decode),
        our_decode: spread(our_decode),
        server_ttft_ms: spread(server_ttft),
        our_ttft_ms: spread(our_ttft),
        client_cpu_us_per_token: cpu.as_secs_f64() * 1e6 / (n as f64 * f64::from(o.tokens)),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = parse_options(&args);
    if args.iter().any(|a| a == "--serve") {
        return serve(&o);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()); // before pinning
    let levels = o.levels.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let mut server_args: Vec<String> = [
        "--tokens",
        &o.tokens.to_string(),
        "--ttft-us",
        &o.ttft_us.to_string(),
        "--gap-us",
        &o.gap_us.to_string(),
        "--levels",
        &levels,
    ]
    .map(String::from)
    .to_vec();
    if let Some(cpus) = &o.server_cpus {
        server_args.extend(["--server-cpus".into(), cpus.clone()]);
    }
    let mut server = Server::start(&server_args);
    if let Some(cpus) = &o.client_cpus {
        pin(cpus); // after the server started, which would otherwise inherit it
    }
    println!(
        "client fidelity: {} tokens per request, server TTFT {} ms, a token every {} ms, {} requests per stream, {cores} logical cores, server CPUs {}, client CPUs {}, load average {}",
        o.tokens,
        o.ttft_us as f64 / 1e3,
        o.gap_us as f64 / 1e3,
        o.requests,
        o.server_cpus.as_deref().unwrap_or("any"),
        o.client_cpus.as_deref().unwrap_or("any"),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!("all times ms, p50 / p99; TTFT error = our TTFT − the server's; server lag = its writes behind its own schedule");
    println!(
        "{:>7} {:>7} {:>17} {:>17} {:>15} {:>17} {:>15} {:>15} {:>15} {:>15} {:>15} {:>9} {:>6}",
        "streams",
        "threads",
        "TTFT err 1st wave",
        "TTFT err later",
        "gap error",
        "send lag",
        "lag − connect",
        "connect",
        "server lag",
        "sent→received",
        "decode err %",
        "CPU µs/tok",
        "failed"
    );
    let pair = |s: &Spread| format!("{:.3} / {:.3}", s.p50, s.p99);
    let mut results = Vec::new();
    for &threads in &o.client_threads {
        measure(
            &Options {
                requests: 1,
                ..o.clone()
            },
            &mut server,
            threads,
            1,
        ); // warm-up
        for &streams in &o.levels {
            let r = measure(&o, &mut server, threads, streams);
            println!(
                "{:>7} {:>7} {:>17} {:>17} {:>15} {:>17} {:>15} {:>15} {:>15} {:>15} {:>15} {:>9.2} {:>6}",
                r.streams,
                r.client_threads,
                pair(&r.ttft_error_first_wave_ms),
                pair(&r.ttft_error_later_ms),
                pair(&r.gap_error_ms),
                pair(&r.send_lag_ms),
                pair(&r.send_lag_less_connect_ms),
                pair(&r.connect_ms),
                pair(&r.server_lag_ms),
                pair(&r.sent_to_received_ms),
                format!("{:.3} / {:.3}", r.decode_rel_error_pct.p50, r.decode_rel_error_pct.p99),
                r.client_cpu_us_per_token,
                r.failed
            );
            results.push(r);
        }
    }
    println!(
        "\nas the issue's table: TTFT p50 / p99 ms, the server's and ours; decode p50 tokens/s, the server's and ours"
    );
    println!(
        "{:>7} {:>7} {:>17} {:>17} {:>17}",
        "streams", "threads", "server TTFT", "our TTFT", "decode server/ours"
    );
    for r in &results {
        let decode = format!("{:.1} / {:.1}", r.server_decode.p50, r.our_decode.p50);
        println!(
            "{:>7} {:>7} {:>17} {:>17} {:>17}",
            r.streams,
            r.client_threads,
            pair(&r.server_ttft_ms),
            pair(&r.our_ttft_ms),
            decode
        );
    }
    if let Some(path) = &o.out {
        let json = serde_json::json!({ "cores": cores, "server_cpus": o.server_cpus, "client_cpus": o.client_cpus, "tokens": o.tokens, "ttft_us": o.ttft_us, "gap_us": o.gap_us, "requests_per_stream": o.requests, "levels": results });
        std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).expect("writing --out");
    }
}
