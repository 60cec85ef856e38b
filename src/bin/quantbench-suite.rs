//! The benchmark suite as a plain binary: the same as `cargo bench --bench llm -- ARGS`, for
//! running a built suite without cargo (and for tests that drive it as a separate process).
//! Pass `--bench` to measure; without it criterion runs each benchmark once (test mode).

fn main() -> std::process::ExitCode {
    quantbench::suite::main()
}
