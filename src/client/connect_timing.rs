//! Times the TCP connect of each request, apart from the rest of TTFT.
//!
//! A tower layer around reqwest's connector stores the connect duration in a task-local that
//! [`measured`] opens around one request. With the connection pool off (see `http_client`) hyper
//! connects inside the request's own future, so the duration lands in the right request; a
//! connect polled anywhere else finds no task-local and is simply not recorded.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

tokio::task_local! {
    static CONNECT: Cell<Option<Duration>>;
}

/// Runs `request` and returns its output with the time its new connection took, if it opened one.
pub async fn measured<T>(request: impl Future<Output = T>) -> (T, Option<Duration>) {
    CONNECT
        .scope(Cell::new(None), async {
            let output = request.await;
            (output, CONNECT.with(Cell::get))
        })
        .await
}

/// The layer given to `reqwest::ClientBuilder::connector_layer`.
#[derive(Clone, Copy, Debug)]
pub struct ConnectTiming;

impl<S> tower_layer::Layer<S> for ConnectTiming {
    type Service = TimedConnect<S>;

    fn layer(&self, inner: S) -> TimedConnect<S> {
        TimedConnect(inner)
    }
}

#[derive(Clone, Debug)]
pub struct TimedConnect<S>(S);

impl<S, R> tower_service::Service<R> for TimedConnect<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, target: R) -> Self::Future {
        let started = Instant::now();
        let connecting = self.0.call(target);
        Box::pin(async move {
            let connected = connecting.await;
            let _ = CONNECT.try_with(|c| c.set(Some(started.elapsed())));
            connected
        })
    }
}
