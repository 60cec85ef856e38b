//! Bytes per token on the real reference models (SmolLM2-135M-Instruct in every quant of the
//! reference install): the GGUF reader's tensor sizes, from ggml's type table, must tile each
//! file's data section exactly as the offsets written by llama.cpp say (each tensor ends before
//! the next begins, within the alignment; the last ends at the end of the file), and SmolLM2's
//! tied embedding makes every weight count per token.

use quantbench::roofline::{self, gguf};

#[test]
fn reference_gguf_tensor_sizes_tile_the_files_and_give_bytes_per_token() {
    let manifest = quantbench::reference::ensure_installed(&|m| eprintln!("{m}")).expect("reference install");
    assert!(manifest.models.len() >= 2, "{:?}", manifest.models);
    for model in &manifest.models {
        let header = gguf::read(&model.path).unwrap();
        let file_len = std::fs::metadata(&model.path).unwrap().len();
        let data = file_len - header.data_start();
        let mut tensors: Vec<&gguf::TensorInfo> = header.tensors.iter().collect();
        tensors.sort_by_key(|t| t.offset);
        for pair in tensors.windows(2) {
            let end = pair[0].offset + pair[0].bytes().unwrap();
            assert!(
                end <= pair[1].offset && pair[1].offset - end < 32,
                "{}: {} ends at {end}, {} starts at {}",
                model.quant,
                pair[0].name,
                pair[1].name,
                pair[1].offset
            );
        }
        let last = tensors.last().unwrap();
        let end = last.offset + last.bytes().unwrap();
        assert!(
            end <= data && data - end < 32,
            "{}: the tensors end at {end} of {data} data bytes",
            model.quant
        );
        let w = roofline::weights_per_token(&model.path).unwrap();
        assert!(w.tied_embedding && w.experts.is_none(), "{}: {w:?}", model.quant);
        assert_eq!(w.bytes_per_token, w.total_bytes);
        assert_eq!(w.total_bytes, tensors.iter().map(|t| t.bytes().unwrap()).sum::<u64>());
        eprintln!(
            "{}: {} tensors, {:.1} MB per token of a {:.1} MB file ({})",
            model.quant,
            tensors.len(),
            w.bytes_per_token as f64 / 1e6,
            file_len as f64 / 1e6,
            w.source
        );
    }
}
