//! The fidelity pass through the whole suite against simulated llama-servers (`/apply-template`,
//! `/tokenize`, `/completion` with `n_probs`) whose "models" are known functions: the quant that
//! disagrees at one position is restarted there and scored on every position once; a quant that
//! tokenizes the prompt differently and one whose server fails are recorded with their reasons,
//! and the run goes on.

mod support;

use quantbench::fidelity::FidelityReport;
use serde_json::{json, Value};
use support::*;

const TOKENS: u32 = 6;

/// A simulated model: the greedy next token after a context, and whether this model prefers
/// another token at that context length (then it puts 0.5 on token + 1 and 0.4 on the token).
fn next(context: &[u64], disagree_at_len: Option<usize>) -> Value {
    let token = context.iter().sum::<u64>() % 50 + 100;
    let top = if disagree_at_len == Some(context.len()) {
        [(token + 1, 0.5f64), (token, 0.4), (token + 2, 0.05)]
    } else {
        [(token, 0.7f64), (token + 1, 0.2), (token + 2, 0.05)]
    };
    let top: Vec<Value> = top
        .iter()
        .map(|(id, p)| json!({"id": id, "token": format!("t{id}"), "logprob": p.ln()}))
        .collect();
    json!({"id": top[0]["id"], "token": top[0]["token"], "logprob": top[0]["logprob"], "top_logprobs": top})
}

/// A simulated llama-server. `prompt` is what `/tokenize` answers; `disagree_at_len`, see `next`;
/// `broken` answers HTTP 500 to `/completion`.
fn llama_server(prompt: &'static [u64], disagree_at_len: Option<usize>, broken: bool) -> ScriptedServer {
    ScriptedServer::with_routes(
        move |method, path, body| match (method, path) {
            ("POST", "/apply-template") => Some(json_reply(200, ms(0), &json!({"prompt": "<|user|>hi<|assistant|>"}))),
            ("POST", "/tokenize") => Some(json_reply(200, ms(0), &json!({"tokens": prompt}))),
            ("POST", "/completion") if broken => Some(json_reply(
                500,
                ms(0),
                &json!({"error": {"code": 500, "message": "simulated failure"}}),
            )),
            ("POST", "/completion") => {
                let mut context: Vec<u64> = body["prompt"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_u64().unwrap())
                    .collect();
                let mut steps = Vec::new();
                for _ in 0..body["n_predict"].as_u64().unwrap() {
                    let step = next(&context, disagree_at_len);
                    context.push(step["id"].as_u64().unwrap());
                    steps.push(step);
                }
                Some(json_reply(200, ms(0), &json!({"completion_probabilities": steps})))
            }
            _ => None,
        },
        |_| Script::ok(vec![]),
    )
}

#[test]
fn each_quant_is_forced_along_the_reference_answer_and_failures_are_recorded_with_reasons() {
    const PROMPT: &[u64] = &[1, 2, 3];
    let reference = llama_server(PROMPT, None, false);
    let disagrees = llama_server(PROMPT, Some(PROMPT.len() + 2), false);
    let other_tokenizer = llama_server(&[1, 2, 3, 4], None, false);
    let broken = llama_server(PROMPT, None, true);
    let endpoint = |s: &ScriptedServer| {
        format!(
            "{{ model_id = \"m\", endpoint = {{ url = \"{}\", kind = \"llama-server\" }} }}",
            s.url
        )
    };
    let body = format!(
        "[run]\nlanguages = [\"en\"]\ncategories = [\"short\"]\nfidelity_tokens = {TOKENS}\n[models.m]\nquality_reference = \"ref\"\n[models.m.quants]\nclose = {}\ntokenizer = {}\nbroken = {}\nref = {}\n",
        endpoint(&disagrees),
        endpoint(&other_tokenizer),
        endpoint(&broken),
        endpoint(&reference)
    );
    let tmp = tempfile::tempdir().unwrap();
    let outcome = run_suite(tmp.path(), &config(tmp.path(), &body), "fidelity").unwrap();
    let run_dir = outcome.run_dir.unwrap();
    let report: FidelityReport = quantbench::fidelity::read_report(&run_dir).unwrap().unwrap();
    let names: Vec<&str> = report.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(
        names,
        ["m/ref", "m/close", "m/tokenizer", "m/broken"],
        "the reference runs first"
    );

    let noise_floor = &report.groups[0].prompts[0];
    assert_eq!(
        (
            noise_floor.positions,
            noise_floor.first_divergence,
            noise_floor.top1_agreement,
            noise_floor.requests
        ),
        (TOKENS, None, Some(1.0), 1)
    );

    // Disagreeing at answer position 2: restarted once, every position scored once.
    let close = &report.groups[1].prompts[0];
    assert_eq!(
        (close.positions, close.first_divergence, close.requests),
        (TOKENS, Some(2), 2)
    );
    assert!((close.top1_agreement.unwrap() - 5.0 / 6.0).abs() < 1e-9, "{close:?}");
    let kl_at_2 = 0.7 * (0.7f64 / 0.4).ln()
        + 0.2 * (0.2f64 / 0.5).ln()
        + 0.05 * (0.05f64 / 0.05).ln()
        + 0.05 * (0.05f64 / 0.05).ln();
    assert!(
        (close.kl_mean.unwrap() - kl_at_2 / 6.0).abs() < 1e-9,
        "{} vs {}",
        close.kl_mean.unwrap(),
        kl_at_2 / 6.0
    );
    // The second request carried the reference's first three answer tokens after the prompt.
    let completions: Vec<Value> = disagrees
        .routed
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/completion")
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(completions.len(), 2);
    assert_eq!(completions[1]["prompt"].as_array().unwrap().len(), PROMPT.len() + 3);
    assert!(completions
        .iter()
        .all(|c| c["cache_prompt"] == false && c["ignore_eos"] == true && c["temperature"] == 0));

    // Not comparable, and failed: no numbers, the reasons kept.
    let tokenizer = &report.groups[2];
    assert!(
        tokenizer.summary.is_none()
            && tokenizer.prompts[0]
                .error
                .as_deref()
                .unwrap()
                .contains("tokenizes differently"),
        "{tokenizer:?}"
    );
    let failed = &report.groups[3];
    assert!(
        failed.summary.is_none()
            && failed.prompts[0]
                .error
                .as_deref()
                .unwrap()
                .contains("HTTP 500: simulated failure"),
        "{failed:?}"
    );

    // The run completed, and its page says why two groups have no fidelity figures.
    assert!(outcome.abandoned.is_empty());
    let page = std::fs::read_to_string(run_dir.join("index.html")).unwrap();
    assert!(page.contains("not measured: the prompt tokenizes differently") && page.contains("simulated failure"));
}

#[test]
fn the_reference_group_runs_its_pass_first_whatever_the_filter_selects() {
    let tmp = tempfile::tempdir().unwrap();
    // Per planned group: name, categories, whether its fidelity pass runs; the quants in `order`.
    let plan = |order: &str, filter: &str| {
        let body = format!("[run]\nlanguages = [\"en\"]\n[models.m]\nreference = \"llama-server\"\nquality_reference = \"f16\"\n[models.m.quants]\n{order}");
        let config = config(tmp.path(), &body);
        let prompts = quantbench::prompts::PromptLibrary::load_dir(&config.prompts_dir).unwrap();
        let cli = quantbench::cli_args::CliArgs::parse(&[filter.to_owned(), "--bench".into()]).unwrap();
        let planned = quantbench::suite::plan(&config, &prompts, &cli.filter).unwrap();
        planned
            .into_iter()
            .map(|p| (p.group.name.clone(), p.categories.len(), p.fidelity.is_some()))
            .collect::<Vec<_>>()
    };
    let s = |name: &str, categories: usize, fidelity: bool| (name.to_owned(), categories, fidelity);
    let (reference_last, reference_first) = ("q4_1 = {}\nq8_0 = {}\nf16 = {}\n", "f16 = {}\nq4_1 = {}\n");
    // Left out by the filter: added with only its pass, before the group compared with it.
    assert_eq!(
        plan(reference_last, "q8_0/fidelity"),
        [s("m/f16", 0, true), s("m/q8_0", 0, true)]
    );
    // Listed last in the config: moved before the first group compared with it.
    assert_eq!(
        plan(reference_last, "m/"),
        [s("m/f16", 5, true), s("m/q4_1", 5, true), s("m/q8_0", 5, true)]
    );
    // Run earlier for its speed only: its pass is added there.
    assert_eq!(
        plan(reference_first, "f16/short|q4_1/fidelity"),
        [s("m/f16", 1, true), s("m/q4_1", 0, true)]
    );
    // Without a filter naming a pass, none runs.
    assert_eq!(plan(reference_last, "m/q4_1/short"), [s("m/q4_1", 1, false)]);
}
