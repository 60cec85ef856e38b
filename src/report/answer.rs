//! The headline (`headline::findings`) rendered for each sink: the console's last lines, the top
//! of `index.html` (with the `regressed` badge) and the top of `summary.md`.

use super::markup::escape;
use super::sanitize::{markdown as cell, terminal};
use super::RunData;
use crate::headline::{self, Finding, Kind};

fn findings(run: &RunData) -> Vec<Finding> {
    headline::findings(&run.summary, run.comparison.as_ref(), run.fidelity.as_ref())
}

/// The console's closing block; empty when nothing was measured.
pub fn console(run: &RunData) -> String {
    let found = findings(run);
    if found.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = found
        .iter()
        .map(|f| format!("  {}{}", marker(f.kind), terminal(&f.text)))
        .collect();
    format!("\nquantbench answer:\n{}\n", lines.join("\n"))
}

fn marker(kind: Kind) -> &'static str {
    match kind {
        Kind::Regressed => "REGRESSED ",
        Kind::Improved => "improved ",
        _ => "",
    }
}

/// The box at the top of the run page.
pub fn html(run: &RunData) -> String {
    let found = findings(run);
    if found.is_empty() {
        return String::new();
    }
    let items: String = found
        .iter()
        .map(|f| format!("<li class=\"{}\">{}</li>", class(f.kind), escape(&f.text)))
        .collect();
    format!("<div class=\"answer\"><b>The answer</b><ul>{items}</ul></div>\n")
}

fn class(kind: Kind) -> &'static str {
    match kind {
        Kind::Fastest => "fastest",
        Kind::MostFaithful => "faithful",
        Kind::Regressed => "regressed",
        Kind::Improved => "improved",
        Kind::Note => "info",
    }
}

/// The badge beside the run's status: `regressed` (red) when a verdict says so.
pub fn badge(run: &RunData) -> &'static str {
    if headline::regressed(run.comparison.as_ref()) {
        " <span class=\"status regressed\">regressed</span>"
    } else {
        ""
    }
}

/// The list at the top of `summary.md`.
pub fn markdown(run: &RunData) -> String {
    let found = findings(run);
    if found.is_empty() {
        return String::new();
    }
    let items: Vec<String> = found.iter().map(|f| format!("- {}", cell(&f.text))).collect();
    format!("## The answer\n\n{}\n\n", items.join("\n"))
}
