//! Agent sessions and context depth: what a coding agent really gets from a quant.
//!
//! - `<model>/<quant>/session`: recorded multi-turn agent sessions (`prompts/sessions/*.json`,
//!   see `prompts::session`) replayed turn by turn with the prefix cache on, `repeats` times. Per turn:
//!   TTFT, new vs cached prompt tokens as the server reports them, prefill and decode rates, time
//!   to the first tool-call delta, and the ideal reusable prefix (from the server's tokenizer
//!   where it has one). Per session: effective tok/s (famstack's definition), share of time in
//!   prefill, final context, cache efficiency; intervals over the repeats ([`analysis`]).
//! - `<model>/<quant>/depth`: the context filled to depth D with a cached prefix, then a short
//!   follow-up's TTFT and a fixed-length decode at that depth.
//!
//! Both are opt-in by filter, like the load benchmarks. The suite's `sessions` workload drives the
//! requests through the shared client; every request is an ordinary `GenerationRecord` tagged with
//! a `SessionTag` or `DepthTag` (`record::tags`) and analysed only in [`analysis`].

pub mod analysis;

use serde::Serialize;

/// The benchmark names that end the workloads' ids.
pub const SESSION: &str = "session";
pub const DEPTH: &str = "depth";

/// Resolved session and depth settings of a group (see `config::RunSettings`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionSettings {
    /// Repeats of each session (R): intervals are over these.
    pub repeats: u32,
    pub mode: crate::prompts::session::Mode,
    /// Session ids to run; empty runs every session in the group's languages.
    pub ids: Vec<String>,
    /// Each repeat also runs the session with the prefix cache off, interleaved (paired ratios).
    pub cache_off_pairs: bool,
    pub depths: Vec<u32>,
    pub depth_repeats: u32,
    /// Tokens decoded at each depth (forced where the server can; see `fixed_length`).
    pub depth_decode_tokens: u32,
}

impl SessionSettings {
    pub const DEFAULT_REPEATS: u32 = 5;
    pub const DEFAULT_DEPTHS: [u32; 4] = [0, 4096, 16384, 32768];
    pub const DEFAULT_DEPTH_REPEATS: u32 = 3;
    pub const DEFAULT_DEPTH_DECODE_TOKENS: u32 = 32;
}
