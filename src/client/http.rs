//! The HTTP client itself, and JSON requests outside every timed path.

use super::chunk;
use std::time::Duration;

/// Builds the shared HTTP client for everything outside the timed path (server info, native
/// APIs, metrics scrapes): no proxy (endpoints are local), and a new connection for every request
/// — llama-server (build 11434) closes the connection after a streamed response while advertising
/// keep-alive, so a reused connection can fail before the server sees the request. Generations
/// use their own connections (`connection`).
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .build()?)
}

/// A request to a server's native JSON API, outside every timed path: GET without a body, POST
/// with one. The answer's JSON, or an error naming the URL with the status and the server's
/// message.
pub async fn native_json(
    http: &reqwest::Client,
    root: &str,
    api_key: Option<&str>,
    path: &str,
    body: Option<&serde_json::Value>,
    limit: Duration,
) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let url = format!("{root}{path}");
    let builder = match body {
        Some(body) => http.post(&url).json(body),
        None => http.get(&url),
    };
    let builder = match api_key {
        Some(key) => builder.bearer_auth(key),
        None => builder,
    };
    let response = builder
        .timeout(limit)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("no answer from {url}: {}", error_chain(&e)))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("reading the answer from {url}"))?;
    if !status.is_success() {
        anyhow::bail!("{url}: HTTP {}: {}", status.as_u16(), chunk::error_message(&text));
    }
    serde_json::from_str(&text)
        .with_context(|| format!("{url}: the answer is not JSON: {}", chunk::error_message(&text)))
}

/// An error with its causes, e.g. "error sending request: connection refused".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
