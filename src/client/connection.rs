//! The timed path's HTTP/1.1 connections: opened, and timed, before a request's clock starts.
//!
//! reqwest opens a connection inside `send()`, so its TTFT would include the TCP connect (and,
//! at a load level's start, N connects at once). Here the connection is opened first with
//! hyper's low-level client API (the layer reqwest is built on), its duration kept as
//! `t.connect_ns`, and only then is the request stamped as sent. Each connection carries one
//! request: llama-server closes the connection after a streamed response while advertising
//! keep-alive, so a reused one can fail before the server sees the request.
//!

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Longest wait for a TCP connection to open.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// An open connection, ready for one request.
pub struct Connection {
    pub sender: http1::SendRequest<Full<Bytes>>,
}

/// A connection attempt: the connection or why it failed, and how long the attempt took.
pub struct Opened {
    pub connection: Result<Connection, String>,
    pub took: Duration,
}

/// Where requests go: `host:port` to connect to (and send as `Host`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority(pub String);

/// Opens a TCP connection to `authority` and completes the HTTP/1.1 handshake (no bytes are
/// sent: hyper's handshake only sets up the state machine).
pub async fn open(authority: &Authority) -> Opened {
    let started = Instant::now();
    let connection = async {
        let stream = tokio::time::timeout(CONNECT_LIMIT, TcpStream::connect(authority.0.as_str()))
            .await
            .map_err(|_| format!("could not connect to {}: no answer in {} s", authority.0, CONNECT_LIMIT.as_secs()))?
            .map_err(|e| format!("could not connect to {}: {e}", authority.0))?;
        stream.set_nodelay(true).map_err(|e| format!("setting TCP_NODELAY: {e}"))?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("HTTP handshake with {}: {e}", authority.0))?;
        // The connection's I/O runs as a task of its own on the runtime's worker threads, which
        // also run the I/O driver, as reqwest does; its errors reach the request through the body.
        tokio::spawn(async move {
            let _ = driver.await;
        });
        Ok(Connection { sender })
    }
    .await;
    Opened { connection, took: started.elapsed() }
}

/// Splits `http://host[:port]/path` into the authority to connect to and the path to request.
/// Only plain HTTP: endpoints are local servers, and this build has no TLS.
pub fn split_url(url: &str) -> Result<(Authority, String), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url:?}: only http:// endpoints are supported"));
    }
    let host = uri.host().ok_or_else(|| format!("{url:?} has no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    Ok((Authority(format!("{host}:{port}")), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        let (a, p) = split_url("http://127.0.0.1:8080/v1/chat/completions").unwrap();
        assert_eq!((a.0.as_str(), p.as_str()), ("127.0.0.1:8080", "/v1/chat/completions"));
        let (a, p) = split_url("http://localhost/api/chat?x=1").unwrap();
        assert_eq!((a.0.as_str(), p.as_str()), ("localhost:80", "/api/chat?x=1"));
        assert!(split_url("https://example.test/v1").unwrap_err().contains("only http://"));
        assert!(split_url("not a url").is_err());
    }
}
