//! Prompt sets: JSON files in `prompts/`, each a named set of prompts grouped by category; and
//! the recorded agent sessions of `prompts/sessions/` ([`session`]).

pub mod session;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// Layout version of prompt-set files.
pub const PROMPT_SCHEMA: u32 = 1;

/// One chat message as sent. Prompt files use `role` and `content`; agent sessions (`session`)
/// also carry the OpenAI tool-call fields, sent only when present.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: String,
    pub content: String,
    /// An assistant message's tool calls (`[{"id", "type": "function", "function": {"name",
    /// "arguments"}}]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<serde_json::Value>>,
    /// A `tool` message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A plain text message.
    pub fn text(role: &str, content: impl Into<String>) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
            ..Message::default()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    pub id: String,
    pub category: String,
    #[serde(default)]
    pub lang: Option<String>,
    pub messages: Vec<Message>,
    /// The nominal token budget; a config may cap it.
    pub max_tokens: u32,
    /// Overrides the group's temperature for this prompt (0 for the greedy quality prompts).
    #[serde(default)]
    pub temperature: Option<f64>,
    /// How to score the answer (see `quality`); prompts without one are not scored.
    #[serde(default)]
    pub check: Option<crate::quality::Check>,
    /// Set by the loader: the set this prompt came from.
    #[serde(skip_deserializing, default)]
    pub set: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromptFile {
    schema: u32,
    set: String,
    /// For humans; read so that `deny_unknown_fields` accepts it.
    #[serde(default, rename = "description")]
    _description: String,
    prompts: Vec<Prompt>,
}

/// Every prompt of every set found in a directory, in file order, and the agent sessions of
/// its `sessions/` directory.
#[derive(Clone, Debug, Default)]
pub struct PromptLibrary {
    pub prompts: Vec<Prompt>,
    pub sessions: Vec<session::SessionFile>,
}

/// Which prompts a group runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection<'a> {
    pub sets: &'a [String],
    /// Empty means every language.
    pub languages: &'a [String],
    /// Empty means every category.
    pub categories: &'a [String],
}

/// The prompts of one category, in the order they are cycled through.
#[derive(Clone, Debug, PartialEq)]
pub struct Category<'a> {
    pub name: &'a str,
    pub prompts: Vec<&'a Prompt>,
}

impl PromptLibrary {
    pub fn load_dir(dir: &Path) -> Result<Self> {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading the prompt directory {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        let mut library = PromptLibrary::default();
        for path in paths {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            library
                .add_file(&text)
                .with_context(|| format!("in prompt file {}", path.display()))?;
        }
        library.sessions = session::load_dir(&dir.join(session::SESSIONS_DIR))?;
        Ok(library)
    }

    /// Adds one file's prompts, checking them.
    pub fn add_file(&mut self, json: &str) -> Result<()> {
        let file: PromptFile = serde_json::from_str(json)?;
        if file.schema != PROMPT_SCHEMA {
            bail!(
                "prompt file schema {} is not supported (this build reads schema {PROMPT_SCHEMA})",
                file.schema
            );
        }
        if self.prompts.iter().any(|p| p.set == file.set) {
            bail!("prompt set {:?} is defined twice", file.set);
        }
        let mut ids: HashSet<String> = self.prompts.iter().map(|p| p.id.clone()).collect();
        for mut prompt in file.prompts {
            let id = prompt.id.clone();
            if !ids.insert(id.clone()) {
                bail!("prompt id {id:?} is used twice");
            }
            if !crate::util::is_valid_name(&prompt.category) {
                bail!(
                    "prompt {id:?}: category {:?} must be lowercase letters, digits, '_', '-' or '.'",
                    prompt.category
                );
            }
            if prompt.messages.is_empty() {
                bail!("prompt {id:?} has no messages");
            }
            if prompt.max_tokens == 0 {
                bail!("prompt {id:?}: max_tokens must be at least 1");
            }
            if prompt.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
                bail!("prompt {id:?}: temperature must be from 0 to 2");
            }
            prompt.set = file.set.clone();
            self.prompts.push(prompt);
        }
        Ok(())
    }

    pub fn set_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.prompts.iter().map(|p| p.set.as_str()).collect();
        names.dedup();
        names
    }

    /// The selected prompts by category, categories in first-seen order.
    pub fn select(&self, sel: &Selection<'_>) -> Result<Vec<Category<'_>>> {
        for set in sel.sets {
            if !self.prompts.iter().any(|p| &p.set == set) {
                bail!(
                    "prompt set {set:?} not found (available: {})",
                    self.set_names().join(", ")
                );
            }
        }
        let mut categories: Vec<Category<'_>> = Vec::new();
        // Sets in the order the selection names them, prompts in file order within a set.
        let chosen = sel
            .sets
            .iter()
            .flat_map(|set| self.prompts.iter().filter(move |p| &p.set == set))
            .filter(|p| {
                (sel.languages.is_empty() || p.lang.as_ref().is_some_and(|l| sel.languages.contains(l)))
                    && (sel.categories.is_empty() || sel.categories.contains(&p.category))
            });
        for prompt in chosen {
            match categories.iter_mut().find(|c| c.name == prompt.category) {
                Some(category) => category.prompts.push(prompt),
                None => categories.push(Category {
                    name: &prompt.category,
                    prompts: vec![prompt],
                }),
            }
        }
        for wanted in sel.categories {
            if !categories.iter().any(|c| c.name == wanted) {
                bail!("category {wanted:?} has no prompts in the selected sets and languages");
            }
        }
        Ok(categories)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PromptLibrary {
        PromptLibrary::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")).unwrap()
    }

    #[test]
    fn shipped_sets_have_the_seeds_categories_and_budgets() {
        let lib = shipped();
        let all = [String::from("standard"), String::from("coder")];
        let zh = [String::from("zh")];
        let cats = lib
            .select(&Selection {
                sets: &all,
                languages: &zh,
                categories: &[],
            })
            .unwrap();
        let budgets: Vec<(&str, u32)> = cats.iter().map(|c| (c.name, c.prompts[0].max_tokens)).collect();
        assert_eq!(
            budgets,
            [
                ("short", 100),
                ("code", 500),
                ("long", 2000),
                ("reasoning", 500),
                ("instruction", 400),
                ("code_agent", 1000),
                ("multi_file", 1500)
            ]
        );
        assert_eq!(cats[0].prompts[0].messages[0].content, "请用一句话解释量子计算");
    }

    #[test]
    fn bad_files_and_selections_are_explained() {
        let mut lib = shipped();
        let dup = r#"{"schema":1,"set":"mine","prompts":[{"id":"short-en","category":"short","messages":[{"role":"user","content":"x"}],"max_tokens":5}]}"#;
        assert!(lib
            .add_file(dup)
            .unwrap_err()
            .to_string()
            .contains("\"short-en\" is used twice"));
        let sets = [String::from("nope")];
        let err = lib
            .select(&Selection {
                sets: &sets,
                ..Default::default()
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"nope\" not found"), "{err}");
    }
}
