//! quantbench: statistically rigorous, criterion-based benchmarks of local LLM inference
//! endpoints (LM Studio, llama-server, mlx-lm, vllm-mlx, Ollama, vLLM), with a built-in
//! reference endpoint (llama.cpp + SmolLM2 from PyPI) so it runs on any machine.
//!
//! Data flows one way: prompts + config → client → record → summary/verdicts → reports on disk.

pub mod analysis;
pub mod baseline;
pub mod cli_args;
pub mod client;
pub mod compare;
pub mod config;
pub mod crashed;
pub mod dialect;
pub mod drift;
pub mod environment;
pub mod export;
pub mod fidelity;
pub mod gap_distribution;
pub mod headline;
pub mod load;
pub mod machine_state;
pub mod managed;
pub mod memory;
pub mod metadata;
pub mod paired;
pub mod prefill;
pub mod probe;
pub mod progress;
pub mod prompts;
pub mod quality;
pub mod record;
pub mod record_stream;
pub mod reference;
pub mod report;
pub mod roofline;
pub mod run_status;
pub mod session;
pub mod stats;
pub mod store;
pub mod suite;
pub mod summary;
pub mod sysmon;
pub mod util;
pub mod verdicts;
