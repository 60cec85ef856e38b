//! quantbench: statistically rigorous, criterion-based benchmarks of local LLM inference
//! endpoints (LM Studio, llama-server, mlx-lm, vllm-mlx, Ollama, vLLM), with a built-in
//! reference endpoint (llama.cpp + SmolLM2 from PyPI) so it runs on any machine.
//!
//! Data flows one way: prompts + config → client → record → summary → files on disk.

pub mod analysis;
pub mod cli_args;
pub mod client;
pub mod compare;
pub mod config;
pub mod counts;
pub mod dialect;
pub mod generation;
pub mod load;
pub mod managed;
pub mod metadata;
pub mod metrics;
pub mod paired;
pub mod prefill;
pub mod progress;
pub mod prompts;
pub mod record;
pub mod reference;
pub mod stats;
pub mod store;
pub mod suite;
pub mod summary;
pub mod sysmon;
