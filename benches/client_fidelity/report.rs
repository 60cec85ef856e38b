//! What a level measured, and the Markdown tables that show it.

/// Quantiles of one measure (ms unless its name says otherwise).
#[derive(Debug, Default, serde::Serialize)]
pub struct Spread {
    pub n: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn spread(mut v: Vec<f64>) -> Spread {
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

/// One level (streams) with one client thread count, quantbench's load engine as the client.
#[derive(Debug, serde::Serialize)]
pub struct LevelResult {
    pub streams: u32,
    pub client_threads: usize,
    pub requests: usize,
    pub failed: usize,
    /// Our TTFT (first token − sent) − the server's (first token's before-write − received).
    pub ttft_error_first_wave_ms: Spread,
    pub ttft_error_later_ms: Spread,
    /// Every token: our arrival stamp − the server's before-write stamp.
    pub token_delay_ms: Spread,
    /// Tokens we stamped before the server began writing them: 0 unless the clocks disagree.
    pub tokens_before_write: usize,
    /// |our gap − the server's gap| between consecutive tokens (before-write stamps).
    pub gap_error_ms: Spread,
    pub send_lag_ms: Spread,
    /// Send lag less the request's connect: the client's own delay.
    pub send_lag_less_connect_ms: Spread,
    pub connect_ms: Spread,
    /// Request sent (our stamp) → received whole by the server: transit, and a server too busy
    /// to read it.
    pub sent_to_received_ms: Spread,
    /// |our decode rate − the rate of the server's before-write stamps| / the latter.
    pub decode_rel_error_pct: Spread,
    /// Decode rates, tokens/s: of the server's write stamps, and ours.
    pub server_decode: Spread,
    pub our_decode: Spread,
    pub server_ttft_ms: Spread,
    pub our_ttft_ms: Spread,
    /// The server's before-write stamp − when the token was due: it kept its schedule when small.
    pub server_lag_ms: Spread,
    /// The server's after-write − before-write stamps, µs: how long each token's write took.
    pub write_us: Spread,
    /// The server's writes the kernel did not take whole (a client not reading).
    pub blocked_writes: u32,
    pub client_cpu_us_per_token: f64,
}

/// One level with the plain Python asyncio client, against the same server.
#[derive(Debug, serde::Serialize)]
pub struct PythonResult {
    pub streams: u32,
    pub requests: usize,
    pub failed: usize,
    pub server_ttft_ms: Spread,
    pub ttft_ms: Spread,
    pub server_decode: Spread,
    pub decode: Spread,
}

/// "p50 / p99", or "–" for a measure with no values (no later requests with `--requests 1`).
pub fn pair(s: &Spread) -> String {
    if s.n == 0 {
        return "–".into();
    }
    format!("{:.3} / {:.3}", s.p50, s.p99)
}

/// A decode rate's p50, tokens/s, or "–".
fn median(s: &Spread) -> String {
    if s.n == 0 {
        return "–".into();
    }
    format!("{:.1}", s.p50)
}

/// "p50 / p99 / max" with `decimals`, or "–".
fn triple(s: &Spread, decimals: usize) -> String {
    if s.n == 0 {
        return "–".into();
    }
    format!("{:.decimals$} / {:.decimals$} / {:.decimals$}", s.p50, s.p99, s.max)
}

/// Prints a Markdown table under a heading.
fn table(title: &str, header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    println!(
        "\n### {title}\n\n| {} |\n|{}",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for row in rows {
        println!("| {} |", row.join(" | "));
    }
}

/// The client's errors, whether the server kept its schedule, and the issue's table.
pub fn print_tables(results: &[LevelResult], python: &[PythonResult]) {
    let errors = [
        "streams",
        "client threads",
        "TTFT error, first wave",
        "TTFT error, later",
        "token delay",
        "gap error",
        "send lag",
        "send lag − connect",
        "connect",
        "send → received",
        "decode error %",
        "client CPU µs/token",
        "failed",
    ];
    table(
        "The client's errors (ms, p50 / p99)",
        &errors,
        results.iter().map(|r| {
            let mut row = vec![r.streams.to_string(), r.client_threads.to_string()];
            row.extend(
                [
                    &r.ttft_error_first_wave_ms,
                    &r.ttft_error_later_ms,
                    &r.token_delay_ms,
                    &r.gap_error_ms,
                    &r.send_lag_ms,
                    &r.send_lag_less_connect_ms,
                    &r.connect_ms,
                    &r.sent_to_received_ms,
                    &r.decode_rel_error_pct,
                ]
                .map(pair),
            );
            row.extend([format!("{:.2}", r.client_cpu_us_per_token), r.failed.to_string()]);
            row
        }),
    );
    let schedule = [
        "streams",
        "client threads",
        "server lag ms, p50 / p99 / max",
        "write µs, p50 / p99 / max",
        "writes not taken whole",
        "tokens stamped before their write",
    ];
    table(
        "Did the server keep its schedule? (during the runs above)",
        &schedule,
        results.iter().map(|r| {
            vec![
                r.streams.to_string(),
                r.client_threads.to_string(),
                triple(&r.server_lag_ms, 3),
                triple(&r.write_us, 1),
                r.blocked_writes.to_string(),
                r.tokens_before_write.to_string(),
            ]
        }),
    );
    let issue = [
        "streams",
        "client threads",
        "server's TTFT",
        "quantbench TTFT",
        "Python client TTFT",
        "decode: server / quantbench / Python",
    ];
    table(
        "As the issue's table (TTFT ms p50 / p99; decode p50, tokens/s)",
        &issue,
        results.iter().map(|r| {
            let py = python.iter().find(|p| p.streams == r.streams);
            vec![
                r.streams.to_string(),
                r.client_threads.to_string(),
                pair(&r.server_ttft_ms),
                pair(&r.our_ttft_ms),
                py.map_or("–".into(), |p| pair(&p.ttft_ms)),
                format!(
                    "{} / {} / {}",
                    median(&r.server_decode),
                    median(&r.our_decode),
                    py.map_or("–".into(), |p| median(&p.decode))
                ),
            ]
        }),
    );
    if !python.is_empty() {
        let own = [
            "streams",
            "requests",
            "failed",
            "server's TTFT",
            "Python TTFT",
            "decode p50: server / Python",
        ];
        table(
            "The Python client's own runs (the server's TTFT and decode during them)",
            &own,
            python.iter().map(|p| {
                vec![
                    p.streams.to_string(),
                    p.requests.to_string(),
                    p.failed.to_string(),
                    pair(&p.server_ttft_ms),
                    pair(&p.ttft_ms),
                    format!("{} / {}", median(&p.server_decode), median(&p.decode)),
                ]
            }),
        );
    }
}
