//! Small helpers every stage uses, with no knowledge of any of them: names, serde names, secret
//! redaction, atomic file writes and time. A leaf module: it imports nothing from the crate.

use anyhow::{Context, Result};
use serde::Serialize;
use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::sync::RwLock;
use std::time::Duration;

/// Secrets of this process (the values of configured API-key variables), by variable name.
static SECRETS: RwLock<Vec<(String, String)>> = RwLock::new(Vec::new());

/// Values shorter than this are not redacted: replacing every "1" would garble the numbers.
const MIN_SECRET_CHARS: usize = 4;

/// Notes that `value`, read from environment variable `var`, is a secret: from now on
/// [`redact`] replaces it with `[redacted VAR]`, in every file written through this module, in
/// records, and on the terminal.
pub fn register_secret(var: &str, value: &str) {
    if value.chars().count() < MIN_SECRET_CHARS {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|(_, v)| v == value) {
        secrets.push((var.to_owned(), value.to_owned()));
    }
}

/// `text` with every registered secret replaced by `[redacted VAR]` — also where it appears
/// JSON-escaped, as in a stored document.
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for (var, value) in secrets.iter() {
        let escaped = serde_json::to_string(value).unwrap_or_default();
        for form in [value.as_str(), &escaped[1..escaped.len().saturating_sub(1)]] {
            if !form.is_empty() && out.contains(form) {
                out = Cow::Owned(out.replace(form, &format!("[redacted {var}]")));
            }
        }
    }
    out
}

/// Lowercase ASCII letters, digits, `_`, `-`, `.`: safe in file names, URLs and filters.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
}

/// The name serde gives a unit enum variant (e.g. `early_stop`); empty for anything else.
pub fn serde_name(value: impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Writes pretty JSON to `path` so that readers see either the old file or the new one, whole.
pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).with_context(|| format!("serializing {}", path.display()))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` through a synced temporary file in the same directory and a rename,
/// so that readers (and a process killed mid-write) see either the old file or the new one.
/// Text is written with its secrets redacted.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let redacted = std::str::from_utf8(bytes).map(redact);
    let bytes = match &redacted {
        Ok(text) => text.as_bytes(),
        Err(_) => bytes,
    };
    let write = || -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        // Temporary files are private (0600); what we write is for whoever reads the reports.
        tmp.as_file()
            .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    write().with_context(|| format!("writing {}", path.display()))
}

/// Now, as RFC 3339 UTC with milliseconds: the wall-clock times records and metadata show humans
/// (every duration is measured on the monotonic clock instead).
pub fn now() -> String {
    rfc3339(chrono::Utc::now())
}

/// `time` as RFC 3339 UTC with milliseconds.
pub fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A duration in whole nanoseconds, saturating (a record's offsets are `u64` nanoseconds).
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A duration in whole microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A fraction in [0, 1) (a threshold such as 0.05 for 5 %) given by `source`, an option or
/// variable name that the error names.
pub fn parse_fraction(source: &str, value: &str) -> anyhow::Result<f64> {
    match value.parse::<f64>() {
        Ok(t) if (0.0..1.0).contains(&t) => Ok(t),
        _ => anyhow::bail!("{source} {value:?}: expected a fraction such as 0.05 (5 %)"),
    }
}
