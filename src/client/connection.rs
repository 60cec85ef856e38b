//! The timed path's HTTP/1.1 connections: opened, and timed, before a request's clock starts.
//!
//! reqwest opens a connection inside `send()`, so its TTFT would include the TCP connect (and,
//! at a load level's start, N connects at once). Here the connection is opened first with
//! hyper's low-level client API (the layer reqwest is built on), its duration kept as
//! `t.connect_ns`, and only then is the request stamped as sent. Each connection carries one
//! request: llama-server closes the connection after a streamed response while advertising
//! keep-alive, so a reused one can fail before the server sees the request.
//!
//! Where the connection's I/O runs depends on the caller ([`Connection::drive`]): inside a task
//! (a load level's stream, on its level thread's runtime) the requesting task drives it itself, so bytes are
//! read and stamped with no hand-over between tasks — on 16 cores a task of its own put 5–47 ms
//! (p50) into TTFT at 64–256 streams (docs/client.md). Outside a task (a single generation under
//! `block_on` on the suite's own thread) it runs as a task of its own on the worker threads, as
//! reqwest's does: driven on the `block_on` thread, A/A decode comparisons came out inconclusive.

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Longest wait for a TCP connection to open.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(10);

type Driver = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// An open connection, ready for one request.
pub struct Connection {
    pub sender: http1::SendRequest<Full<Bytes>>,
    /// The connection's I/O while the requesting task drives it; `None` once it ended or when it
    /// runs as a task of its own.
    driver: Option<Pin<Box<Driver>>>,
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
            .map_err(|_| {
                format!(
                    "could not connect to {}: no answer in {} s",
                    authority.0,
                    CONNECT_LIMIT.as_secs()
                )
            })?
            .map_err(|e| format!("could not connect to {}: {e}", authority.0))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("setting TCP_NODELAY: {e}"))?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {}: {e}", authority.0))?;
        Ok(Connection {
            sender,
            driver: Some(Box::pin(driver)),
        })
    }
    .await;
    Opened {
        connection,
        took: started.elapsed(),
    }
}

impl Connection {
    /// Outside a task (under `block_on`), hands the connection's I/O to a task of its own on the
    /// runtime's worker threads; inside one, leaves it to [`Connection::drive`] (see the module
    /// comment for why).
    pub fn place_driver(&mut self) {
        if tokio::task::try_id().is_none() {
            if let Some(driver) = self.driver.take() {
                // Its errors reach the request through the body.
                tokio::spawn(async move {
                    let _ = driver.await;
                });
            }
        }
    }

    /// Runs `work` while driving the connection's I/O in the same task, when this task drives
    /// it. The connection is polled first, so bytes it reads are ready when `work` is polled;
    /// once it ends (the server closed it), `work` still drains what was read.
    pub async fn drive<F: Future>(&mut self, work: F) -> F::Output {
        let mut work = pin!(work);
        poll_fn(|cx| {
            if let Some(driver) = self.driver.as_mut() {
                if driver.as_mut().poll(cx).is_ready() {
                    self.driver = None; // its error, if any, reaches `work` through the body
                }
            }
            work.as_mut().poll(cx)
        })
        .await
    }
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
        assert!(split_url("https://example.test/v1")
            .unwrap_err()
            .contains("only http://"));
        assert!(split_url("not a url").is_err());
    }
}
