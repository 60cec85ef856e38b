//! Model lifecycle on servers the user runs (opt-in: `model_lifecycle = "manage"`). Before a
//! group the server is told to load the group's model — any instance of it already loaded is
//! unloaded first, so the load is cold and no second copy holds memory — and the load is timed;
//! after the group the model is unloaded, so the next quant starts from the same memory. The
//! suite's own reference servers are started and stopped per group anyway (`managed`).
//!
//! Load time is measured the same way on every server: the monotonic clock from sending the load
//! request until the answer that the model is loaded has been read. A server's own figure, where
//! its answer carries one, is kept beside it, never instead of it. How each server kind loads and
//! unloads is in its dialect file ([`ModelLifecycle`], chosen by [`super::lifecycle`]).

use super::JsonCall;
use anyhow::{Context, Result};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Longest wait for a listing or an unload; a load may take up to the group's `total_timeout_s`.
const SHORT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a load answer says.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The handle [`ModelLifecycle::unload_call`] takes (LM Studio's instance id, Ollama's model name).
    pub instance: String,
    /// The server's own load time, when its answer carries one.
    pub server_load_s: Option<f64>,
}

/// How one server kind lists, loads and unloads models over HTTP.
pub trait ModelLifecycle: Send + Sync {
    /// Path (GET) of the listing of loaded models.
    fn listing_path(&self) -> &'static str;
    /// Handles of `model_id`'s instances that the listing shows loaded.
    fn loaded_instances(&self, model_id: &str, listing: &Value) -> Vec<String>;
    fn load_call(&self, model_id: &str, context_length: Option<u32>) -> JsonCall;
    /// Reads the load answer; an error when it does not confirm the load.
    fn parse_load(&self, model_id: &str, answer: &Value) -> Result<Loaded>;
    fn unload_call(&self, instance: &str) -> JsonCall;
    /// What `load_time_s` spans on this server, for the metadata.
    fn load_time_source(&self) -> &'static str;
    /// The name of the server's own load-time figure, when its load answer carries one.
    fn server_figure(&self) -> Option<&'static str>;
}

/// Where a server's native API is and how to authenticate.
#[derive(Clone, Debug)]
pub struct Server {
    /// Base URL without `/v1`.
    pub root: String,
    pub api_key: Option<String>,
}

impl Server {
    /// GET (no body) or POST a JSON body to a path from the root.
    async fn request(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value> {
        crate::client::http::native_json(http, &self.root, self.api_key.as_deref(), path, body, timeout).await
    }
}

/// A model the suite loaded for a group, to be unloaded after it.
pub struct Held {
    pub group: String,
    pub server: Server,
    pub lifecycle: &'static dyn ModelLifecycle,
    pub instance: String,
}

/// The load as measured, for the group's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasuredLoad {
    /// Sent → load confirmed, monotonic clock.
    pub wall: Duration,
    pub loaded: Loaded,
    /// Instances that were loaded before and were unloaded first.
    pub unloaded_before: Vec<String>,
}

/// Unloads whatever instances of `model_id` the server has loaded, then loads it once and times
/// the load. Errors say which step failed and what the server answered.
pub async fn load(
    http: &reqwest::Client,
    server: &Server,
    lifecycle: &'static dyn ModelLifecycle,
    model_id: &str,
    context_length: Option<u32>,
    timeout: Duration,
) -> Result<MeasuredLoad> {
    let listing = server
        .request(http, lifecycle.listing_path(), None, SHORT_TIMEOUT)
        .await
        .context("listing the loaded models")?;
    let unloaded_before = lifecycle.loaded_instances(model_id, &listing);
    for instance in &unloaded_before {
        let call = lifecycle.unload_call(instance);
        server.request(http, &call.path, Some(&call.body), SHORT_TIMEOUT)
            .await
            .with_context(|| format!("unloading the instance {instance:?} that was already loaded (a load on top of it would not be cold)"))?;
    }
    let call = lifecycle.load_call(model_id, context_length);
    let started = Instant::now();
    let answer = server
        .request(http, &call.path, Some(&call.body), timeout)
        .await
        .with_context(|| format!("loading {model_id:?}"))?;
    let wall = started.elapsed();
    let loaded = lifecycle.parse_load(model_id, &answer).with_context(|| {
        format!(
            "loading {model_id:?}: the answer to POST {} does not confirm the load",
            call.path
        )
    })?;
    Ok(MeasuredLoad {
        wall,
        loaded,
        unloaded_before,
    })
}

impl Held {
    /// Unloads the instance the suite loaded.
    pub async fn unload(&self, http: &reqwest::Client) -> Result<()> {
        let call = self.lifecycle.unload_call(&self.instance);
        self.server
            .request(http, &call.path, Some(&call.body), SHORT_TIMEOUT)
            .await
            .with_context(|| format!("unloading {:?}", self.instance))?;
        Ok(())
    }
}
