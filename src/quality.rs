//! Scoring answers to checkable prompts: a prompt may carry a [`Check`] (its expected answer, or
//! the language of the code block it asks for), and every successful generation of it is scored
//! after its stream has ended — never on the streaming path. Pass rates then sit beside the speed
//! of the same generations, so a faster quant that answers worse shows it.

use serde::{Deserialize, Serialize};

/// What a correct answer to a prompt looks like.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// The answer's last "Answer: <value>" (or "the answer is <value>", "答案：<value>") states one
    /// of `accept`: numbers compare numerically, words ignoring case. The prompt asks for that
    /// line; an answer that states none is wrong, as it would be for a reader.
    Answer { accept: Vec<String> },
    /// The answer holds a fenced code block in `language` that the language's parser accepts
    /// (Python is parsed with `python3`'s `ast` when available; other languages are only looked
    /// for, which the score says).
    CodeBlock { language: String },
}

/// The outcome of one check on one answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// `answer` or `code_block`.
    pub check: String,
    /// Absent when the check could not be made (e.g. no parser for the language here).
    pub passed: Option<bool>,
    /// What was found, e.g. `answered "2", expected one of ["1"]`.
    pub detail: String,
}

pub fn score(check: &Check, answer: &str) -> Score {
    match check {
        Check::Answer { accept } => {
            let (passed, detail) = match final_answer(answer) {
                Some(value) => {
                    let ok = accept.iter().any(|a| same_value(a, &value));
                    (Some(ok), format!("answered {value:?}, expected one of {accept:?}"))
                }
                None => (Some(false), "no stated answer (\"Answer: …\")".to_owned()),
            };
            Score {
                check: "answer".into(),
                passed,
                detail,
            }
        }
        Check::CodeBlock { language } => {
            let (passed, detail) = code_block(language, answer);
            Score {
                check: "code_block".into(),
                passed,
                detail,
            }
        }
    }
}

/// The value after the last "Answer:" / "answer is" / "答案：": its first word or number,
/// without Markdown emphasis, currency signs or final punctuation.
fn final_answer(text: &str) -> Option<String> {
    static ANSWER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)(?:answer|答案)\**\s*(?:is\b|:|：)[\s*`]*([^\n]*)").expect("a valid pattern")
    });
    let rest = ANSWER.captures_iter(text).last()?.get(1)?.as_str();
    let start = rest.trim_start_matches(|c: char| !c.is_alphanumeric() && c != '-');
    let value: String = start
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | ',' | '-'))
        .collect();
    let value = value.trim_end_matches(['.', ',']);
    (!value.is_empty()).then(|| value.to_owned())
}

fn same_value(expected: &str, given: &str) -> bool {
    match (
        expected.trim().parse::<f64>(),
        given.trim().replace(',', "").parse::<f64>(),
    ) {
        (Ok(a), Ok(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        _ => expected.trim().eq_ignore_ascii_case(given.trim()),
    }
}

/// Fenced blocks (```lang … ```) and their language tags.
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(tag) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.trim_start().starts_with("```"))
            .collect();
        blocks.push((tag.trim().to_lowercase(), body.join("\n")));
    }
    blocks
}

fn code_block(language: &str, answer: &str) -> (Option<bool>, String) {
    let language = language.to_lowercase();
    let aliases: &[&str] = match language.as_str() {
        "python" => &["python", "py", "python3"],
        "rust" => &["rust", "rs"],
        "javascript" => &["javascript", "js"],
        _ => &[],
    };
    let blocks = fenced_blocks(answer);
    let asked = |tag: &str| tag == language || aliases.contains(&tag);
    let Some((_, body)) = blocks.iter().find(|(tag, body)| asked(tag) && !body.trim().is_empty()) else {
        return (
            Some(false),
            format!("no ```{language} block ({} other fenced block(s))", blocks.len()),
        );
    };
    if language != "python" {
        return (
            None,
            format!("a ```{language} block is present; no parser for {language} here"),
        );
    }
    match python_parses(body) {
        Some(Ok(())) => (
            Some(true),
            format!("a ```python block of {} lines parses", body.lines().count()),
        ),
        Some(Err(e)) => (Some(false), format!("the ```python block does not parse: {e}")),
        None => (
            None,
            "a ```python block is present; python3 is not available to parse it".into(),
        ),
    }
}

/// Parses Python source with `python3 -c 'import ast; ast.parse(...)'`; None without python3.
fn python_parses(source: &str) -> Option<Result<(), String>> {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(sys.stdin.read())"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let written = child.stdin.take().map(|mut stdin| stdin.write_all(source.as_bytes()));
    let out = child.wait_with_output().ok()?;
    if written.is_some_and(|w| w.is_err()) {
        return None;
    }
    if out.status.success() {
        return Some(Ok(()));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Some(Err(stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("syntax error")
        .trim()
        .to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(accept: &[&str]) -> Check {
        Check::Answer {
            accept: accept.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn answers_are_read_from_the_last_stated_answer() {
        let right = "Take one ball from the box labelled both.\n\n**Answer: 1**";
        assert_eq!(score(&answer(&["1"]), right).passed, Some(true));
        assert_eq!(
            score(&answer(&["1"]), "Answer: 3 boxes? no.\nAnswer: 1.0 draw.").passed,
            Some(true)
        );
        assert_eq!(score(&answer(&["42"]), "答案：42。").passed, Some(true));
        assert_eq!(score(&answer(&["carol"]), "So the answer is Carol.").passed, Some(true));
        assert_eq!(
            score(&answer(&["8"]), "Twelve pencils are four threes. Answer: $8").passed,
            Some(true)
        );
        let wrong = score(&answer(&["1"]), "Pencils cost 3. Answer: 3.");
        assert_eq!(
            (wrong.passed, wrong.detail.as_str()),
            (Some(false), "answered \"3\", expected one of [\"1\"]")
        );
        let missing = score(&answer(&["1"]), "The minimum number of draws is 1.");
        assert_eq!(
            (missing.passed, missing.detail.as_str()),
            (Some(false), "no stated answer (\"Answer: …\")")
        );
    }

    #[test]
    fn code_blocks_must_be_in_the_asked_language_and_parse() {
        let python = Check::CodeBlock {
            language: "python".into(),
        };
        let good = "Here:\n```python\ndef f(x):\n    return x + 1\n```\n";
        let bad = "```python\ndef f(x)\n    return x +\n```";
        let none = "def f(x): return x";
        let other = "```rust\nfn main() {}\n```";
        let has_python = std::process::Command::new("python3").arg("--version").output().is_ok();
        assert_eq!(score(&python, good).passed, has_python.then_some(true));
        if has_python {
            let s = score(&python, bad);
            assert_eq!(s.passed, Some(false), "{s:?}");
            assert!(s.detail.contains("does not parse"), "{s:?}");
        }
        assert_eq!(
            score(&python, none),
            Score {
                check: "code_block".into(),
                passed: Some(false),
                detail: "no ```python block (0 other fenced block(s))".into()
            }
        );
        assert_eq!(score(&python, other).passed, Some(false));
        let rust = Check::CodeBlock {
            language: "rust".into(),
        };
        assert_eq!(score(&rust, other).passed, None, "present but not parsed: no verdict");
    }
}
