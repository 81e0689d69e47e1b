//! Secrets in the changed files: exact known values (the run's own keys and tokens), private key PEM
//! headers, and credential shapes (`ghp_`/`ghs_`/`github_pat_…`, `sk-…`, `AKIA…` and the others the
//! gateway's redaction knows; its `redact` is the single definition of those shapes).
//!
//! Invariants: a finding never contains the secret, only where it is and at most its first four
//! characters; symlinks, missing (deleted) files, non-UTF-8 (binary) files and files above
//! [`MAX_SCANNED_BYTES`] are not read (the last two are reported as unscanned).

use std::path::Path;

pub const MAX_SCANNED_BYTES: u64 = 2 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFinding {
    pub path: String,
    /// 1-based.
    pub line: usize,
    pub what: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretScan {
    pub findings: Vec<SecretFinding>,
    /// Changed files that were not scanned, with why.
    pub unscanned: Vec<String>,
}

/// Scans the changed files under `root`.
pub fn scan(root: &Path, changed_paths: &[String], known: &[String]) -> SecretScan {
    let mut scan = SecretScan::default();
    for path in changed_paths {
        let full = root.join(path);
        let Ok(meta) = full.symlink_metadata() else {
            continue; // deleted
        };
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_SCANNED_BYTES {
            scan.unscanned.push(format!("{path} (larger than 2 MiB)"));
            continue;
        }
        match std::fs::read(&full).map(String::from_utf8) {
            Ok(Ok(text)) => scan.findings.extend(scan_text(path, &text, known)),
            Ok(Err(_)) => scan.unscanned.push(format!("{path} (binary)")),
            Err(e) => scan.unscanned.push(format!("{path} (unreadable: {e})")),
        }
    }
    scan
}

/// The findings in `text`, the content of `path`.
pub fn scan_text(path: &str, text: &str, known: &[String]) -> Vec<SecretFinding> {
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| {
            finding(line, known).map(|what| SecretFinding {
                path: path.to_owned(),
                line: n + 1,
                what,
            })
        })
        .collect()
}

fn finding(line: &str, known: &[String]) -> Option<String> {
    if known
        .iter()
        .any(|k| k.len() >= 4 && line.contains(k.as_str()))
    {
        return Some("a known secret value".to_owned());
    }
    if line.contains("-----BEGIN") && line.contains("PRIVATE KEY") {
        return Some("a private key".to_owned());
    }
    let redacted = crate::redact::redact(line, &[]);
    // Redaction only replaces tokens, so the first difference is where the first token starts.
    let at = line
        .char_indices()
        .zip(redacted.chars())
        .find(|((_, a), b)| a != b)
        .map(|((i, _), _)| i)?;
    let head: String = line[at..].chars().take(4).collect();
    Some(format!("a credential-shaped token (`{head}…`)"))
}
