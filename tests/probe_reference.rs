//! `quantbench probe` against the real reference llama-server: it finds the kind by trying
//! `/props`, and reports what the server does by sending it short requests.

use quantbench::client;
use quantbench::dialect::ServerKind;
use quantbench::managed::{self, ManagedServer};
use quantbench::probe::{self, Support};
use quantbench::reference;

#[test]
fn probing_the_reference_llama_server() {
    let manifest = reference::ensure_installed(&|m| eprintln!("{m}")).expect("reference install");
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let http = client::http_client().unwrap();
    let port = managed::free_port().unwrap();
    let spec = reference::launch_spec(&manifest, "q4_1", port, 2, tmp.path().join("server.log")).unwrap();
    let server = rt.block_on(ManagedServer::start(&spec, &http)).expect("llama-server starts");

    let report = rt.block_on(probe::probe(&http, &format!("http://127.0.0.1:{port}"), None, None)).unwrap();
    eprintln!("{}", report.text());
    assert_eq!(report.kind, ServerKind::LlamaServer, "{}", report.kind_reason);
    assert_eq!(report.base_url, format!("http://127.0.0.1:{port}/v1"));
    assert!(report.model_id.to_lowercase().contains("smollm2"), "{}", report.model_id);
    for supported in ["usage in streams", "server timings", "fixed-length decoding", "logprobs"] {
        assert!(report.supports(supported), "{supported}: {:?}", report.checks);
    }
    let reasoning = report.checks.iter().find(|c| c.name == "reasoning field").unwrap();
    assert!(matches!(reasoning.support, Support::Unknown(_)), "SmolLM2 does not reason: {:?}", reasoning.support);
    let entry = report.config_entry();
    assert!(entry.contains("kind = \"llama-server\"") && entry.contains("fixed_length = true"), "{entry}");
    // The suggested entry is a valid config.
    let cfg = tmp.path().join("quantbench.toml");
    std::fs::write(&cfg, entry).unwrap();
    quantbench::config::Config::load(&cfg).unwrap();

    let err = rt.block_on(probe::probe(&http, "http://127.0.0.1:9", None, None)).unwrap_err();
    assert!(format!("{err:#}").contains("no OpenAI-compatible server answers at http://127.0.0.1:9/v1/models"), "{err:#}");
    drop(server);
}
