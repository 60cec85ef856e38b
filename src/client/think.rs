//! Reasoning sent inline in `content` as `<think>…</think>`: LM Studio without its "separate
//! reasoning_content" setting, llama-server with `reasoning_format: none`, vLLM's
//! `*_append_think` parsers, or a template that opens `<think>` in the prompt so that only the
//! closing tag is generated (MiniMax M2). Per event, the only work is a search for the closing
//! tag in the new text plus the few bytes before it (a tag may be split across events); the text
//! is moved to the reasoning channel once, when the stream is over.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

#[derive(Debug, Default)]
pub struct InlineThink {
    /// Token events that carried content so far.
    content_events: u64,
    /// Where `</think>` starts in the content, and how many content events it took to get there
    /// (the one that completed the tag included).
    close: Option<(usize, u64)>,
}

impl InlineThink {
    /// Called after a content delta was appended; it starts at byte `start` of `content`.
    pub fn on_content(&mut self, content: &str, start: usize) {
        self.content_events += 1;
        if self.close.is_some() {
            return;
        }
        let mut from = start.saturating_sub(CLOSE.len() - 1);
        while !content.is_char_boundary(from) {
            from -= 1;
        }
        if let Some(i) = content[from..].find(CLOSE) {
            self.close = Some((from + i, self.content_events));
        }
    }

    /// Moves inline reasoning from `content` to `reasoning`: everything before
    /// `</think>` (without the opening tag), or everything when the answer opened `<think>` and
    /// never closed it (cut by `max_tokens`). Nothing moves when the server already separated
    /// reasoning. Returns how many token events carried the moved reasoning.
    pub fn split(&self, content: &mut String, reasoning: &mut String) -> u64 {
        if !reasoning.is_empty() {
            return 0;
        }
        let opened = content.trim_start().starts_with(OPEN);
        let (end, events) = match self.close {
            Some((at, events)) => (at, events),
            None if opened => (content.len(), self.content_events),
            None => return 0,
        };
        let thought = content[..end].trim_start();
        *reasoning = thought.strip_prefix(OPEN).unwrap_or(thought).to_owned();
        let rest = content.get(end + CLOSE.len()..).unwrap_or("");
        *content = rest.trim_start().to_owned();
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Output {
        content: String,
        reasoning: String,
    }

    fn stream(pieces: &[&str]) -> (Output, u64) {
        let (mut think, mut output) = (InlineThink::default(), Output::default());
        for p in pieces {
            let start = output.content.len();
            output.content.push_str(p);
            think.on_content(&output.content, start);
        }
        let events = think.split(&mut output.content, &mut output.reasoning);
        (output, events)
    }

    #[test]
    fn tags_split_across_events_are_found() {
        let (out, events) = stream(&["<think>", "Let me", " see.</th", "ink>\n\n", "Answer", "."]);
        assert_eq!(
            (out.reasoning.as_str(), out.content.as_str(), events),
            ("Let me see.", "Answer.", 4)
        );
    }

    #[test]
    fn only_a_closing_tag_when_the_template_opened_it() {
        let (out, events) = stream(&["Hmm", ", é", "</think>", "Yes"]);
        assert_eq!(
            (out.reasoning.as_str(), out.content.as_str(), events),
            ("Hmm, é", "Yes", 3)
        );
    }

    #[test]
    fn an_unclosed_think_is_all_reasoning_and_plain_answers_stay() {
        let (out, events) = stream(&["<think>", "still thinking"]);
        assert_eq!(
            (out.reasoning.as_str(), out.content.as_str(), events),
            ("still thinking", "", 2)
        );
        let (out, events) = stream(&["No tags ", "<b>here</b>"]);
        assert_eq!(
            (out.reasoning.as_str(), out.content.as_str(), events),
            ("", "No tags <b>here</b>", 0)
        );
    }
}
