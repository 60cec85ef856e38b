//! Escaping and table helpers shared by the HTML pages and the Markdown summary: text from
//! servers and configs is data, escaped for each sink here and nowhere else.

use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A CSS class name made only of `[a-z0-9_-]`, whatever the input.
pub fn css_class(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The start of an HTML page: doctype, title and the shared style sheet.
pub fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(title)
    )
}

pub const STYLE: &str = "body{font-family:sans-serif;margin:1.5em auto;max-width:1200px;color:#222;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.num{text-align:right;white-space:nowrap}\
.status{font-size:.6em;padding:2px 8px;border-radius:4px;background:#ddd;vertical-align:middle}\
.status.complete{background:#cdeccd}.status.interrupted,.status.running,.status.partial{background:#fde7b0}.status.failed{background:#f7c5c5}\
.warning{color:#a40000}.info{color:#555}.box{border:1px solid #e0b000;background:#fff8e0;padding:.5em 1em;margin:1em 0}\
tr.regressed td{background:#fbd5d5}tr.improved td{background:#d5f1d5}tr.inconclusive td{background:#f7f7f7}\
.group{white-space:nowrap}.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.3em;vertical-align:baseline}\
pre{white-space:pre-wrap;background:#f7f7f7;padding:.5em;max-height:14em;overflow:auto;font-size:.85em}\
svg{max-width:100%;height:auto;display:block;margin:.5em 0}.nav{font-size:.9em}.small{font-size:.85em;color:#555}";

pub fn table(page: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    page.push_str("<table><tr>");
    for h in headers {
        let _ = write!(page, "<th>{}</th>", escape(h));
    }
    page.push_str("</tr>\n");
    for row in rows {
        page.push_str("<tr>");
        for cell in row {
            page.push_str(cell);
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}

pub fn td(text: &str) -> String {
    format!("<td>{}</td>", escape(text))
}

pub fn td_num(text: &str) -> String {
    format!("<td class=\"num\">{}</td>", escape(text))
}

/// Text safe inside a Markdown table cell: no pipes, no line breaks.
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
