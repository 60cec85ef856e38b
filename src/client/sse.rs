//! An incremental Server-Sent Events decoder over raw bytes.
//!
//! Bytes are pushed as they arrive; complete events come out through a callback, so one network
//! read costs one scan of its bytes. Lines may end in `\n`, `\r\n` or `\r`; `data:` lines of one
//! event are joined with `\n`; comment lines (`: keepalive`) are reported so callers can ignore
//! them explicitly. A line, or an event's joined data, longer than the configured limit is an
//! error rather than unbounded memory.
//!
//! The same line framing decodes NDJSON (Ollama's native API): there every non-empty line is one
//! event's data.

use thiserror::Error;

#[derive(Debug, PartialEq, Eq)]
pub enum SseItem<'a> {
    /// A dispatched event: its `event:` name, if any, and its joined `data:`.
    Event { name: Option<&'a str>, data: &'a [u8] },
    /// A comment line (starting with `:`), such as a keep-alive.
    Comment,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SseError {
    #[error("an SSE line exceeded {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("an SSE event's data exceeded {limit} bytes")]
    EventTooLarge { limit: usize },
}

pub struct SseDecoder {
    /// Bytes of the line not yet terminated.
    pending: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    name: Option<String>,
    /// A `\r` ended the last line; a following `\n` belongs to it.
    after_cr: bool,
    max_line: usize,
    /// Every non-empty line is an event (NDJSON) instead of SSE fields.
    ndjson: bool,
}

impl SseDecoder {
    pub fn new(max_line: usize) -> Self {
        SseDecoder {
            pending: Vec::new(),
            data: Vec::new(),
            has_data: false,
            name: None,
            after_cr: false,
            max_line,
            ndjson: false,
        }
    }

    /// A decoder of newline-delimited JSON: each non-empty line comes out as an unnamed event.
    pub fn ndjson(max_line: usize) -> Self {
        SseDecoder {
            ndjson: true,
            ..SseDecoder::new(max_line)
        }
    }

    /// Feed bytes; `on_item` is called for every complete event or comment they finish.
    pub fn push(&mut self, mut bytes: &[u8], on_item: &mut dyn FnMut(SseItem<'_>)) -> Result<(), SseError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            let terminator = bytes[end];
            if self.pending.is_empty() {
                self.check_len(end)?;
                self.line(&bytes[..end], on_item)?;
            } else {
                self.check_len(self.pending.len() + end)?;
                self.pending.extend_from_slice(&bytes[..end]);
                let line = std::mem::take(&mut self.pending);
                let done = self.line(&line, on_item);
                self.pending = line;
                self.pending.clear();
                done?;
            }
            bytes = &bytes[end + 1..];
            if terminator == b'\r' {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        self.check_len(self.pending.len() + bytes.len())?;
        self.pending.extend_from_slice(bytes);
        Ok(())
    }

    /// Bytes received but not yet part of a dispatched event (a stream cut mid-event).
    pub fn has_partial_event(&self) -> bool {
        !self.pending.is_empty() || self.has_data
    }

    fn check_len(&self, len: usize) -> Result<(), SseError> {
        if len > self.max_line {
            return Err(SseError::LineTooLong { limit: self.max_line });
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8], on_item: &mut dyn FnMut(SseItem<'_>)) -> Result<(), SseError> {
        if self.ndjson {
            if !line.is_empty() {
                on_item(SseItem::Event { name: None, data: line });
            }
            return Ok(());
        }
        if line.is_empty() {
            if self.has_data {
                on_item(SseItem::Event {
                    name: self.name.as_deref(),
                    data: &self.data,
                });
            }
            self.data.clear();
            self.has_data = false;
            self.name = None;
            return Ok(());
        }
        if line[0] == b':' {
            on_item(SseItem::Comment);
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.max_line {
                    return Err(SseError::EventTooLarge { limit: self.max_line });
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.name = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // `id:`, `retry:` and unknown fields carry nothing we measure.
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> Vec<String> {
        let mut d = SseDecoder::new(1 << 20);
        let mut out = Vec::new();
        for p in pieces {
            d.push(p, &mut |item| {
                out.push(match item {
                    SseItem::Event { name, data } => {
                        format!("{}|{}", name.unwrap_or("-"), String::from_utf8_lossy(data))
                    }
                    SseItem::Comment => "comment".into(),
                })
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn events_split_anywhere_decode_the_same() {
        let stream = b": keepalive 1/3\n\ndata: {\"a\":1}\n\nevent: chat.end\ndata: x\ndata: y\n\ndata: [DONE]\n\n";
        let whole = decode(&[stream]);
        assert_eq!(whole, vec!["comment", "-|{\"a\":1}", "chat.end|x\ny", "-|[DONE]"]);
        for cut in 1..stream.len() {
            assert_eq!(decode(&[&stream[..cut], &stream[cut..]]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        assert_eq!(
            decode(&[b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"]),
            vec!["-|a", "-|b", "-|c"]
        );
        assert_eq!(decode(&[b"data: a\r", b"\n\r", b"\n"]), vec!["-|a"]);
    }

    #[test]
    fn overlong_lines_and_events_are_errors_however_they_arrive() {
        let mut d = SseDecoder::new(8);
        assert_eq!(
            d.push(b"data: 0123456789", &mut |_| {}),
            Err(SseError::LineTooLong { limit: 8 })
        );
        let mut d = SseDecoder::new(8);
        assert_eq!(
            d.push(b"data: 0123456789abcdef\n\n", &mut |_| {}),
            Err(SseError::LineTooLong { limit: 8 })
        );
        let mut d = SseDecoder::new(16);
        assert_eq!(
            d.push(&b"data: 0123\n".repeat(5), &mut |_| {}),
            Err(SseError::EventTooLarge { limit: 16 })
        );
    }

    #[test]
    fn an_empty_read_between_cr_and_lf_changes_nothing() {
        assert_eq!(decode(&[b"data: a\r", b"", b"\ndata: b\n\n"]), vec!["-|a\nb"]);
    }

    #[test]
    fn ndjson_lines_are_events() {
        let mut d = SseDecoder::ndjson(64);
        let mut out = Vec::new();
        for piece in [&b"{\"a\":1}\n{\"b"[..], b"\":2}\r\n\n{\"c\""] {
            d.push(piece, &mut |item| {
                if let SseItem::Event { data, .. } = item {
                    out.push(String::from_utf8_lossy(data).into_owned());
                }
            })
            .unwrap();
        }
        assert_eq!(out, ["{\"a\":1}", "{\"b\":2}"]);
        assert!(d.has_partial_event(), "the unterminated last line");
    }

    #[test]
    fn a_cut_mid_event_is_visible() {
        let mut d = SseDecoder::new(64);
        d.push(b"data: {\"cho", &mut |_| {}).unwrap();
        assert!(d.has_partial_event());
    }
}
