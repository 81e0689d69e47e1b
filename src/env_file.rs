//! The `.env` file: read into the process environment at start, and the App's credentials merged into it
//! by `/setup`.
//!
//! Invariants:
//! - [`load`] never overrides a variable the environment already has (the environment wins); a missing
//!   file is not an error; a malformed one is, and its error names the key of the bad line, never a value.
//! - [`merge`] rewrites the file with the given keys set and the removed keys gone (every assignment of
//!   them, `export KEY=` and multi-line quoted values included), every other line and comment kept as it
//!   was and keys not present appended. The file is replaced atomically (a temporary file in the same
//!   directory, synced, renamed) and has mode 0600 afterwards, whatever it had before.
//! - [`write_private`] writes any file the same way: atomically, mode 0600.
//! - Nothing here logs, and no error carries a value: the file holds secrets.

use std::collections::BTreeSet;
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::OnceLock;

/// The names the process environment itself set when [`load`] ran (before `.env` added its own).
static OUTSIDE: OnceLock<BTreeSet<String>> = OnceLock::new();

/// Whether `key` came from the environment rather than `.env`: a value `.env` gets later would not be
/// read at the next start (the environment wins).
pub fn set_outside(key: &str) -> bool {
    OUTSIDE.get().is_some_and(|keys| keys.contains(key))
}

/// Reads `path` into the process environment, leaving variables the environment already has alone.
/// `Ok(false)` when there is no such file.
///
/// Call it before any other thread starts (it sets environment variables): `main` does, first thing.
pub fn load(path: &Path) -> Result<bool, String> {
    let _ = OUTSIDE.set(
        std::env::vars_os()
            .filter_map(|(key, _)| key.into_string().ok())
            .collect(),
    );
    match dotenvy::from_path(path) {
        Ok(()) => Ok(true),
        Err(dotenvy::Error::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        // dotenvy's error carries the bad text (for a bad value, the value: a secret), so it is not
        // shown; the line is found again and named by its number and key only.
        Err(dotenvy::Error::LineParse(..)) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let which = match bad_line(&text) {
                Some((number, Some(key))) => format!("line {number} (`{key}`)"),
                Some((number, None)) => format!("line {number}"),
                None => "a line".to_owned(),
            };
            Err(format!(
                "{} cannot be read: {which} is malformed (write KEY=value, quoting values with spaces; \
                 the value is not shown)",
                path.display()
            ))
        }
        Err(e) => Err(format!("{} cannot be read: {e}", path.display())),
    }
}

/// The first line of `text` that does not parse on its own: its number (from 1) and its key when the
/// line names one.
fn bad_line(text: &str) -> Option<(usize, Option<String>)> {
    text.lines().enumerate().find_map(|(index, line)| {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None;
        }
        let parses = dotenvy::from_read_iter(trimmed.as_bytes()).all(|item| item.is_ok());
        if parses {
            return None;
        }
        let name = trimmed.strip_prefix("export ").unwrap_or(trimmed);
        let key = name.split('=').next().unwrap_or_default().trim();
        let is_key = !key.is_empty()
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !key.starts_with(|c: char| c.is_ascii_digit());
        Some((index + 1, is_key.then(|| key.to_owned())))
    })
}

/// Sets each `(key, value)` of `set` in the file at `path` and removes every key of `remove`, keeping
/// everything else (see the module's invariants). Creates the file when it does not exist.
pub fn merge(path: &Path, set: &[(&str, &str)], remove: &[&str]) -> io::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    write_private(path, merged(&old, set, remove).as_bytes())
}

/// Whether [`merge`] could write `path` now: its directory takes new files and an existing file can be
/// read. Checked before anything irreversible happens (GitHub's one-time manifest code).
pub fn check_writable(path: &Path) -> io::Result<()> {
    match std::fs::read_to_string(path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    tempfile::NamedTempFile::new_in(directory(path))?;
    Ok(())
}

/// Replaces the file at `path` with `contents` atomically; the file has mode 0600 afterwards.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    // NamedTempFile is created with mode 0600, and the rename keeps it.
    let mut file = tempfile::NamedTempFile::new_in(directory(path))?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The text of the file after [`merge`].
fn merged(old: &str, set: &[(&str, &str)], remove: &[&str]) -> String {
    let mut out = String::new();
    let mut written = Vec::new();
    let mut lines = old.lines();
    while let Some(line) = lines.next() {
        let Some((key, value)) = assignment(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let replaced = set.iter().find(|(k, _)| *k == key);
        if replaced.is_none() && !remove.contains(&key) {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // Skip the rest of a multi-line quoted value of a key being replaced or removed.
        if let Some(quote) = open_quote(value) {
            for rest in lines.by_ref() {
                if rest.contains(quote) {
                    break;
                }
            }
        }
        if let Some((key, value)) = replaced
            && !written.contains(key)
        {
            out.push_str(&format!("{key}={}\n", quoted(value)));
            written.push(*key);
        }
    }
    for (key, value) in set {
        if !written.contains(key) {
            out.push_str(&format!("{key}={}\n", quoted(value)));
        }
    }
    out
}

/// `(key, value text)` of a `KEY=value` or `export KEY=value` line.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') {
        return None;
    }
    let trimmed = trimmed.strip_prefix("export ").unwrap_or(trimmed);
    let (key, value) = trimmed.split_once('=')?;
    let key = key.trim();
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    plain.then_some((key, value.trim()))
}

/// The quote character of a value that opens a quote and does not close it on its own line.
fn open_quote(value: &str) -> Option<char> {
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &value[1..];
    (!rest.contains(quote)).then_some(quote)
}

/// `value` as a `.env` value that reads back as exactly `value`.
fn quoted(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@+,".contains(c));
    if plain {
        value.to_owned()
    } else if !value.contains(['\'', '\n', '\r']) {
        format!("'{value}'")
    } else {
        let mut out = String::from('"');
        for c in value.chars() {
            match c {
                '\\' | '"' | '$' => {
                    out.push('\\');
                    out.push(c);
                }
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn parse(text: &str) -> Vec<(String, String)> {
        dotenvy::from_read_iter(text.as_bytes())
            .collect::<Result<_, _>>()
            .expect("the file parses")
    }

    #[test]
    fn merging_keeps_other_lines_replaces_and_appends() {
        let old = "# bot settings\nexport APP_ID=1\nLLM_MODEL=gpt-4o\n\nPRIVATE_KEY=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\nWEBHOOK_SECRET=old\nAPP_ID=2\n";
        let new = merged(
            old,
            &[("APP_ID", "42"), ("PRIVATE_KEY_PATH", "my app.pem")],
            &["PRIVATE_KEY", "WEBHOOK_SECRET"],
        );
        assert_eq!(
            new,
            "# bot settings\nAPP_ID=42\nLLM_MODEL=gpt-4o\n\nPRIVATE_KEY_PATH='my app.pem'\n"
        );
        let pairs = parse(&new);
        assert_eq!(pairs.len(), 3, "{pairs:?}");
    }

    #[test]
    fn every_value_reads_back_as_written() {
        for value in [
            "plain-1.2",
            "with space",
            "it's \"quoted\" $HOME \\ back",
            "line\nbreak",
            "#not-a-comment",
        ] {
            let text = merged("", &[("KEY", value)], &[]);
            assert_eq!(
                parse(&text),
                [("KEY".to_owned(), value.to_owned())],
                "{text}"
            );
        }
    }

    #[test]
    fn the_written_file_is_private_and_loading_leaves_the_environment_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "KEEP=1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        merge(&path, &[("ENV_FILE_TEST_SET", "from-file")], &[]).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "KEEP=1\nENV_FILE_TEST_SET=from-file\n"
        );
        assert!(check_writable(&path).is_ok());
        assert!(check_writable(&path.join("under-a-file")).is_err());
        assert_eq!(load(&dir.path().join("absent")), Ok(false));
    }

    #[test]
    fn a_malformed_file_names_the_key_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "ENV_FILE_TEST_BAD='hunter2\n").unwrap();
        let error = load(&path).unwrap_err();
        assert!(error.contains("line 1 (`ENV_FILE_TEST_BAD`)"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        // A bad character inside a value: dotenvy's own error holds the value itself.
        std::fs::write(
            &path,
            "# settings\nENV_FILE_TEST_OK=1\nENV_FILE_TEST_KEY=sk-abc def\n",
        )
        .unwrap();
        let error = load(&path).unwrap_err();
        assert!(error.contains("line 3 (`ENV_FILE_TEST_KEY`)"), "{error}");
        assert!(!error.contains("sk-abc"), "{error}");
    }
}
