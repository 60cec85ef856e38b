//! Session files (`prompts/sessions/*.json`, documented in `docs/sessions.md`): a recorded agent
//! conversation — system prompt, tools, and turns that each append user text and/or tool results
//! and carry the assistant reply recorded for them. Loaded and checked here, before any endpoint
//! is touched; [`SessionFile::context`] builds the messages a turn sends.

use crate::prompts::Message;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// Where session files live, under the prompt directory.
pub const SESSIONS_DIR: &str = "sessions";

/// Layout version of session files.
pub const SESSION_SCHEMA: u32 = 1;

/// One session file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFile {
    pub schema: u32,
    pub id: String,
    /// `en`, `zh`, …: the language of the conversation (a group's `languages` selects by it).
    pub language: String,
    /// For humans: what the session is and what it was derived from.
    #[serde(default)]
    pub description: String,
    pub system: String,
    /// OpenAI function-tool schemas (`[{"type": "function", "function": {…}}]`); may be empty.
    #[serde(default)]
    pub tools: Vec<serde_json::Value>,
    pub turns: Vec<Turn>,
}

/// One request of the session: what it appends to the context, its budget, and the assistant
/// reply recorded for it (appended before the next turn in replay mode).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// `user` and `tool` messages, in order.
    pub append: Vec<Message>,
    pub max_tokens: u32,
    pub reply: Reply,
}

/// A recorded assistant reply: text, tool calls, or both.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub tool_calls: Vec<serde_json::Value>,
}

/// Replay (default): the recorded replies are appended, so every group sees byte-identical
/// contexts. Live: the model's own text is appended (tool calls and results stay as recorded,
/// since no tool is executed), so contexts diverge between groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Replay,
    Live,
}

impl Reply {
    /// The assistant message this reply appends; `content` replaces the recorded text (live mode).
    pub fn message(&self, content: Option<&str>) -> Message {
        let tool_calls = (!self.tool_calls.is_empty()).then(|| self.tool_calls.clone());
        Message {
            role: "assistant".into(),
            content: content.unwrap_or(&self.content).to_owned(),
            tool_calls,
            tool_call_id: None,
        }
    }
}

impl SessionFile {
    /// The messages turn `k` sends: system prompt, every earlier turn's appended messages and
    /// reply, then turn `k`'s own. `live[j]`, when given, replaces turn `j`'s recorded text.
    pub fn context(&self, k: usize, live: &[Option<String>]) -> Vec<Message> {
        let mut messages = vec![Message::text("system", self.system.clone())];
        for (j, turn) in self.turns[..=k].iter().enumerate() {
            messages.extend(turn.append.iter().cloned());
            if j < k {
                messages.push(turn.reply.message(live.get(j).and_then(|l| l.as_deref())));
            }
        }
        messages
    }

    /// Tools as the request's `tools` value; None when the session offers none.
    pub fn tools_value(&self) -> Option<serde_json::Value> {
        (!self.tools.is_empty()).then(|| serde_json::Value::Array(self.tools.clone()))
    }

    /// Checks everything a run relies on, naming the turn at fault.
    pub fn validate(&self) -> Result<()> {
        if self.schema != SESSION_SCHEMA {
            bail!(
                "session schema {} is not supported (this build reads schema {SESSION_SCHEMA})",
                self.schema
            );
        }
        if !crate::util::is_valid_name(&self.id) {
            bail!(
                "session id {:?} must be lowercase letters, digits, '_', '-' or '.'",
                self.id
            );
        }
        if self.language.is_empty() || self.system.is_empty() || self.turns.is_empty() {
            bail!("a session needs a language, a system prompt and at least one turn");
        }
        let mut names = HashSet::new();
        for tool in &self.tools {
            let name = tool.pointer("/function/name").and_then(|n| n.as_str());
            match (tool.get("type").and_then(|t| t.as_str()), name) {
                (Some("function"), Some(name)) if names.insert(name) => {}
                _ => bail!("each tool must be {{\"type\": \"function\", \"function\": {{\"name\": …}}}} with a distinct name: {tool}"),
            }
        }
        let mut open: Vec<String> = Vec::new();
        for (k, turn) in self.turns.iter().enumerate() {
            let at = format!("turn {}", k + 1);
            if turn.append.is_empty() {
                bail!("{at}: appends nothing");
            }
            if turn.max_tokens == 0 {
                bail!("{at}: max_tokens must be at least 1");
            }
            for m in &turn.append {
                match (m.role.as_str(), &m.tool_call_id) {
                    ("user", None) if m.tool_calls.is_none() => {}
                    ("tool", Some(id)) => {
                        let Some(i) = open.iter().position(|o| o == id) else {
                            bail!("{at}: tool result for {id:?}, which the previous reply did not call (or was answered already)")
                        };
                        open.remove(i);
                    }
                    _ => bail!(
                        "{at}: appended messages are `user` (text only) or `tool` (with tool_call_id); found role {:?}",
                        m.role
                    ),
                }
            }
            if !open.is_empty() {
                bail!("{at}: the previous reply's tool calls {open:?} get no result");
            }
            if turn.reply.content.is_empty() && turn.reply.tool_calls.is_empty() {
                bail!("{at}: the recorded reply is empty");
            }
            for call in &turn.reply.tool_calls {
                let id = call
                    .get("id")
                    .and_then(|i| i.as_str())
                    .with_context(|| format!("{at}: a tool call without an id"))?;
                let name = call
                    .pointer("/function/name")
                    .and_then(|n| n.as_str())
                    .unwrap_or_default();
                if !names.contains(name) {
                    bail!("{at}: tool call {id:?} names {name:?}, which is not among the session's tools");
                }
                let args = call
                    .pointer("/function/arguments")
                    .and_then(|a| a.as_str())
                    .unwrap_or_default();
                if !serde_json::from_str::<serde_json::Value>(args).is_ok_and(|v| v.is_object()) {
                    bail!("{at}: tool call {id:?}: arguments must be a JSON object in a string");
                }
                open.push(id.to_owned());
            }
        }
        Ok(())
    }
}

/// Every session file in `dir`, in file-name order, checked; an absent directory holds none.
pub fn load_dir(dir: &Path) -> Result<Vec<SessionFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading the session directory {}", dir.display())),
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut sessions: Vec<SessionFile> = Vec::new();
    for path in paths {
        let parsed = std::fs::read_to_string(&path)
            .map_err(anyhow::Error::from)
            .and_then(|text| parse(&text));
        let session = parsed.with_context(|| format!("in session file {}", path.display()))?;
        if sessions.iter().any(|s| s.id == session.id) {
            bail!(
                "session id {:?} is used twice (second in {})",
                session.id,
                path.display()
            );
        }
        sessions.push(session);
    }
    Ok(sessions)
}

/// One session file's text, parsed and checked.
pub fn parse(json: &str) -> Result<SessionFile> {
    let session: SessionFile = serde_json::from_str(json)?;
    session
        .validate()
        .with_context(|| format!("session {:?}", session.id))?;
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOL: &str = r#"{"type":"function","function":{"name":"read_file","parameters":{"type":"object"}}}"#;

    fn session(turns: &str) -> String {
        format!(r#"{{"schema":1,"id":"t","language":"en","system":"s","tools":[{TOOL}],"turns":[{turns}]}}"#)
    }

    const CALL: &str = r#"{"append":[{"role":"user","content":"fix it"}],"max_tokens":8,"reply":{"content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"a.py\"}"}}]}}"#;
    const RESULT: &str = r#"{"append":[{"role":"tool","tool_call_id":"c1","content":"x = 1"}],"max_tokens":8,"reply":{"content":"done"}}"#;

    #[test]
    fn contexts_grow_by_the_recorded_replies_or_the_live_text() {
        let s = parse(&session(&format!("{CALL},{RESULT}"))).unwrap();
        let roles = |m: &[Message]| m.iter().map(|m| m.role.clone()).collect::<Vec<_>>();
        assert_eq!(roles(&s.context(0, &[])), ["system", "user"]);
        let second = s.context(1, &[]);
        assert_eq!(roles(&second), ["system", "user", "assistant", "tool"]);
        assert_eq!(second[2].tool_calls.as_ref().unwrap()[0]["id"], "c1");
        assert_eq!(s.context(1, &[Some("live text".into())])[2].content, "live text");
        assert!(
            s.context(0, &[]).iter().all(|m| s.context(1, &[])[..2].contains(m)),
            "turn 2 extends turn 1"
        );
    }

    #[test]
    fn shipped_sessions_are_valid_in_both_languages() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts").join(SESSIONS_DIR);
        let sessions = load_dir(&dir).unwrap();
        for id in [
            "fix-failing-test",
            "fix-failing-test-small",
            "refactor-multi-file",
            "refactor-multi-file-small",
            "doc-qa-gpl3",
            "doc-qa-small",
        ] {
            for lang in ["en", "zh"] {
                let s = sessions
                    .iter()
                    .find(|s| s.id == format!("{id}-{lang}"))
                    .unwrap_or_else(|| panic!("{id}-{lang} missing"));
                assert_eq!(s.language, lang);
            }
        }
        let fix = sessions.iter().find(|s| s.id == "fix-failing-test-en").unwrap();
        assert!(fix
            .turns
            .iter()
            .any(|t| t.reply.tool_calls.iter().any(|c| c["function"]["name"] == "run_tests")));
    }

    #[test]
    fn broken_sessions_name_the_turn_and_the_fault() {
        let cases = [
            (session(RESULT), "turn 1: tool result for \"c1\""),
            (
                session(&format!("{CALL},{}", CALL.replace("c1", "c2"))),
                "turn 2: the previous reply's tool calls [\"c1\"]",
            ),
            (
                session(&CALL.replace("read_file\",\"arg", "rm\",\"arg")),
                "names \"rm\"",
            ),
            (
                session(&CALL.replace(r#"{\"path\":\"a.py\"}"#, "nope")),
                "arguments must be a JSON object",
            ),
            (
                session(&RESULT.replace(r#""tool","tool_call_id":"c1""#, r#""system""#)),
                "found role \"system\"",
            ),
            (
                session(
                    &RESULT
                        .replace("\"max_tokens\":8", "\"max_tokens\":0")
                        .replace(r#""tool","tool_call_id":"c1""#, r#""user""#),
                ),
                "max_tokens",
            ),
        ];
        for (json, expected) in cases {
            let err = format!("{:#}", parse(&json).unwrap_err());
            assert!(err.contains(expected), "{err} should say {expected}");
        }
    }
}
