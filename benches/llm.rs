//! `cargo bench`: one criterion group per `model/quant`, one benchmark per prompt category.
//! The filter after `--` (a regex, as criterion's) picks what runs: `cargo bench -- minimax/q4_k_s`.

fn main() -> std::process::ExitCode {
    quantbench::suite::main()
}
