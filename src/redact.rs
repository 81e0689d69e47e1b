//! Redaction of secrets from anything the gateway writes or returns.
//!
//! Invariants: every known secret (the provider key, every run token) is replaced wherever it occurs, and
//! so is anything shaped like a credential: `Bearer <token>`, OpenAI-style `sk-…`, GitHub `ghp_`/`ghs_`/
//! `github_pat_…`, Slack `xox?-…`, AWS `AKIA…` keys and this gateway's own `mgb-…` run tokens. Redaction only ever shortens text to a marker; it
//! never fails.

pub const MARK: &str = "[REDACTED]";

/// Prefixes of well-known credential formats; a match needs at least `MIN_TAIL` token characters after.
const PREFIXES: &[&str] = &[
    "Bearer ",
    "bearer ",
    "sk-",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "AKIA",
    "mgb-",
];
const MIN_TAIL: usize = 12;

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '/' | '=')
}

/// Replaces `known` secrets (skipping empty ones) and credential-shaped words in `text`.
pub fn redact(text: &str, known: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in known.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, MARK);
    }
    redact_shapes(&out)
}

fn redact_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for prefix in PREFIXES {
            if let Some(after) = rest.strip_prefix(prefix) {
                let tail = after.find(|c| !is_token_char(c)).unwrap_or(after.len());
                if tail >= MIN_TAIL && at_word_start(&out) {
                    out.push_str(MARK);
                    rest = &after[tail..];
                    continue 'scan;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

fn at_word_start(before: &str) -> bool {
    before
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_and_credential_shapes_are_replaced() {
        let text = "key=s3cret-value auth: Bearer abcdefghijklmnop sk-proj-ABCDEFGHIJKLMNOP ghs_0123456789abcdef";
        let out = redact(text, &["s3cret-value", ""]);
        assert_eq!(out, format!("key={MARK} auth: {MARK} {MARK} {MARK}"));
    }

    #[test]
    fn ordinary_words_survive() {
        let text = "ask-me about tasks: risk-free, Bearer short";
        assert_eq!(redact(text, &[]), text);
    }
}
