//! `generations.jsonl` read as a stream: one line parsed at a time, so a reader of a long run
//! holds what it keeps of each record, never the whole file. A last line without its newline is
//! a record a killed process was writing: it is skipped, with a warning.

use crate::record::GenerationRecord;
use anyhow::{Context, Result};
use std::io::BufRead;
use std::path::Path;

/// Calls `each` with every record of the file and its line index (from 0), in file order; an
/// unreadable record is an error naming its line.
pub fn for_each(path: &Path, mut each: impl FnMut(usize, GenerationRecord) -> Result<()>) -> Result<()> {
    for_each_line(path, |index, line| {
        let record = serde_json::from_slice(line).with_context(|| format!("{} line {}", path.display(), index + 1))?;
        each(index, record)
    })
}

/// Every record without its bulk (see [`GenerationRecord::without_bulk`]): what the summary,
/// the verdicts and the charts need, a fraction of the file's size.
pub fn read_without_bulk(path: &Path) -> Result<Vec<GenerationRecord>> {
    let mut records = Vec::new();
    for_each(path, |_, r| {
        records.push(r.without_bulk());
        Ok(())
    })?;
    Ok(records)
}

/// The whole records at the given line indices, in file order; only those lines are parsed.
pub fn read_lines(path: &Path, wanted: &[usize]) -> Result<Vec<(usize, GenerationRecord)>> {
    let mut wanted = wanted.to_vec();
    wanted.sort_unstable();
    let mut found = Vec::new();
    for_each_line(path, |index, line| {
        if wanted.binary_search(&index).is_ok() {
            found.push((
                index,
                serde_json::from_slice(line).with_context(|| format!("{} line {}", path.display(), index + 1))?,
            ));
        }
        Ok(())
    })?;
    Ok(found)
}

/// Calls `each` with every complete, non-blank line (without its newline) and its index.
fn for_each_line(path: &Path, mut each: impl FnMut(usize, &[u8]) -> Result<()>) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    for index in 0.. {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", path.display()))?
            == 0
        {
            break;
        }
        let blank = line.iter().all(u8::is_ascii_whitespace);
        if line.last() != Some(&b'\n') {
            if !blank {
                eprintln!(
                    "quantbench: {}: ignoring an unfinished last line ({} bytes)",
                    path.display(),
                    line.len()
                );
            }
            break;
        }
        if !blank {
            each(index, &line[..line.len() - 1])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_lines_come_back_whole_and_the_rest_without_bulk() {
        let lines: Vec<&str> = include_str!("../fixtures/runs/reference-1-thread/generations.jsonl")
            .lines()
            .collect();
        let all: Vec<GenerationRecord> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("generations.jsonl");
        // A blank line counts as a line: indices are the file's.
        std::fs::write(&path, format!("{}\n\n{}\n", lines[0], lines[1..].join("\n"))).unwrap();
        let found = read_lines(&path, &[2, 0]).unwrap();
        assert_eq!(found, vec![(0, all[0].clone()), (2, all[1].clone())]);
        let slim = read_without_bulk(&path).unwrap();
        assert_eq!(slim.len(), all.len());
        assert!(slim.iter().all(|r| r.itl_us.is_empty() && r.output.content.is_empty()));
        assert_eq!(slim[3].metrics, all[3].metrics);
    }
}
