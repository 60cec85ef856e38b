//! `quantbench probe` against the real reference llama-server: it finds the kind by trying
//! `/props`, and reports what the server does by sending it short requests.

mod support;

use quantbench::dialect::ServerKind;
use quantbench::probe::{self, Support};

#[test]
fn probing_the_reference_llama_server() {
    let tmp = tempfile::tempdir().unwrap();
    let (rt, http, server) = support::reference_llama_server(tmp.path());
    let root = server.base_url.trim_end_matches("/v1").to_owned();

    let report = rt.block_on(probe::probe(&http, &root, None, None)).unwrap();
    eprintln!("{}", report.text());
    assert_eq!(report.kind, ServerKind::LlamaServer, "{}", report.kind_reason);
    assert_eq!(report.base_url, server.base_url);
    assert!(
        report.model_id.to_lowercase().contains("smollm2"),
        "{}",
        report.model_id
    );
    for supported in [
        "usage in streams",
        "server timings",
        "fixed-length decoding",
        "logprobs",
    ] {
        assert!(report.supports(supported), "{supported}: {:?}", report.checks);
    }
    let reasoning = report.checks.iter().find(|c| c.name == "reasoning field").unwrap();
    assert!(
        matches!(reasoning.support, Support::Unknown(_)),
        "SmolLM2 does not reason: {:?}",
        reasoning.support
    );
    let entry = report.config_entry();
    assert!(
        entry.contains("kind = \"llama-server\"") && entry.contains("fixed_length = true"),
        "{entry}"
    );
    // The suggested entry is a valid config.
    let cfg = tmp.path().join("quantbench.toml");
    std::fs::write(&cfg, entry).unwrap();
    quantbench::config::Config::load(&cfg).unwrap();

    let err = rt
        .block_on(probe::probe(&http, "http://127.0.0.1:9", None, None))
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("no OpenAI-compatible server answers at http://127.0.0.1:9/v1/models"),
        "{err:#}"
    );
    drop(server);
}
