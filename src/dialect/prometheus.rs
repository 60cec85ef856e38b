//! Just enough of the Prometheus text format to difference counters scraped before and after a
//! generation.

/// The sum of every series named exactly `name` (all label sets), if any is present.
pub fn sum(text: &str, name: &str) -> Option<f64> {
    let mut total = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let value_part = match rest.as_bytes().first() {
            Some(b' ') => rest,
            Some(b'{') => match rest.rfind('}') {
                Some(end) => &rest[end + 1..],
                None => continue,
            },
            _ => continue, // a longer metric name that starts with `name`
        };
        if let Some(v) = value_part
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite())
        {
            *total.get_or_insert(0.0) += v;
        }
    }
    total
}

/// How much a counter grew between two scrapes; absent unless the later one has it and it did
/// not go backwards (a server restart in between). A counter missing from the earlier scrape
/// counts from 0: Prometheus clients create a labelled series on its first increment (vllm-mlx's
/// token counters appear only after its first request).
pub fn delta(before: &str, after: &str, name: &str) -> Option<f64> {
    Some(sum(after, name)? - sum(before, name).unwrap_or(0.0)).filter(|d| *d >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_label_sets_and_ignores_longer_names_and_comments() {
        let text = "# HELP vllm:generation_tokens_total x\nvllm:generation_tokens_total{model_name=\"a\"} 100.0\nvllm:generation_tokens_total{model_name=\"b\"} 5e1\nvllm:generation_tokens_total_created 17e8\nvllm:num_requests_running 1\n";
        assert_eq!(sum(text, "vllm:generation_tokens_total"), Some(150.0));
        assert_eq!(sum(text, "vllm:prompt_tokens_total"), None);
        assert_eq!(
            delta(text, &text.replace("100.0", "164.0"), "vllm:generation_tokens_total"),
            Some(64.0)
        );
        assert_eq!(
            delta(&text.replace("100.0", "164.0"), text, "vllm:generation_tokens_total"),
            None,
            "went backwards"
        );
        assert_eq!(
            delta("", text, "vllm:generation_tokens_total"),
            Some(150.0),
            "created by the generation"
        );
        assert_eq!(
            delta(text, "", "vllm:generation_tokens_total"),
            None,
            "gone: not a count"
        );
    }
}
