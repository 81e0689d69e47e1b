//! Cleaning of untrusted text (issue bodies, comments) before an LLM reads it: whatever a person looking
//! at the rendered issue on GitHub would not see is removed, so nobody can hide instructions for the
//! agents in plain sight. The markdown and HTML rules follow the sanitizer of
//! anthropics/claude-code-action (`src/github/utils/sanitizer.ts`); the character rules go further.
//!
//! The rules, each applied to the whole text:
//! 1. Hidden characters are dropped: C0 controls except `\n` and `\t` (so `\r\n` becomes `\n` and a lone
//!    `\r` disappears), DEL and the C1 controls (U+007F–U+009F); zero-width space, non-joiner and joiner
//!    (U+200B–U+200D); word joiner and the invisible operators (U+2060–U+2064); the byte order mark
//!    (U+FEFF); the soft hyphen (U+00AD); the tag characters (U+E0000–U+E007F, which spell invisible
//!    ASCII); and the bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C),
//!    which reorder what is displayed. Variation selectors stay (emoji need them).
//! 2. Numeric character references (`&#60;`, `&#x3C;`) are decoded when they name printable ASCII and
//!    dropped otherwise (`&#8203;` is an invisible space). Named ones (`&lt;`) stay as written.
//! 3. HTML comments are dropped: `<!--` up to the next `-->` (or the abrupt `<!-->` and `<!--->`), and
//!    an unterminated one up to the end of the text. They are found after rule 2, so `&#60;!-- … --&#62;`
//!    is dropped too (GitHub would show it as text; kept, it would read as a comment next time).
//! 4. The alt text of markdown images is dropped (`![hidden](url)` becomes `![](url)`): it is not shown
//!    while the image loads.
//! 5. The titles of inline markdown links are dropped (`[a](url "hidden")` becomes `[a](url)`): they
//!    show only on hover.
//! 6. Inside HTML tags, the attributes that carry unseen text are dropped: `alt`, `title`, `aria-label`,
//!    `placeholder` and `data-*`, quoted or not. (claude-code-action strips these anywhere; here only
//!    inside `<tag …>`, so code such as `plot(x, title="a")` in an issue is left intact.)
//!
//! Invariants: cleaning never panics, only ever removes or shortens text (never adds), and is
//! idempotent: `clean_untrusted(clean_untrusted(t)) == clean_untrusted(t)`. Removing one construct can
//! join its neighbours into another (`<!<!-- -->--`), so the rules are applied again until nothing
//! changes; a text still changing after `MAX_PASSES` passes is built to nest constructs, and then loses
//! every `<`, `&` and `[`, after which no rule can match. Secrets are not this module's concern
//! (`gateway::redact` handles them).

use std::sync::LazyLock;

use regex::Regex;

/// Ordinary text settles in two passes; a nesting trick costs one pass per level.
const MAX_PASSES: usize = 8;

/// The text with everything a reader of the rendered markdown would not see removed (see the module
/// documentation for the rules).
pub fn clean_untrusted(text: &str) -> String {
    let mut current = pass(text);
    for _ in 1..MAX_PASSES {
        let next = pass(&current);
        if next == current {
            return current;
        }
        current = next;
    }
    current.replace(['<', '&', '['], "")
}

/// Every rule once, in order.
fn pass(text: &str) -> String {
    let visible: String = text.chars().filter(|c| !is_hidden_char(*c)).collect();
    let text = decode_and_uncomment(&visible);
    let text = IMAGE_ALT.replace_all(&text, "![](");
    let text = LINK_TITLE.replace_all(&text, "$link");
    strip_hidden_attributes(&text)
}

/// Rule 1.
fn is_hidden_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{ad}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{61c}'
        | '\u{feff}'
        | '\u{e0000}'..='\u{e007f}')
}

/// Rules 2 and 3 in one scan, comments seen after decoding. The output is kept reduced as it grows: a
/// reference completed at its end is decoded at once, and a `<!--` appearing at its end (also one formed
/// by a decoded `<`) moves the scan into the comment, whose text is decoded the same way until it ends.
fn decode_and_uncomment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut comment: Option<String> = None;
    for c in text.chars() {
        match &mut comment {
            None => {
                push_decoded(&mut out, c);
                if out.ends_with("<!--") {
                    out.truncate(out.len() - "<!--".len());
                    comment = Some(String::new());
                }
            }
            Some(inside) => {
                push_decoded(inside, c);
                if inside.ends_with("-->") || inside == ">" || inside == "->" {
                    comment = None;
                }
            }
        }
    }
    out
}

fn push_decoded(out: &mut String, c: char) {
    out.push(c);
    if c == ';' {
        decode_reference_at_end(out);
    }
}

/// Longest reference body decoded (`#x` and digits); longer ones stay as written.
const MAX_REFERENCE_BODY: usize = 40;

/// Decodes `&#…;` at the end of `out`, again if the decoded character is itself a `;` that ends one.
fn decode_reference_at_end(out: &mut String) {
    loop {
        let bytes = out.as_bytes();
        let Some(body_end) = bytes.len().checked_sub(1) else {
            return;
        };
        let body_len = bytes[..body_end]
            .iter()
            .rev()
            .take(MAX_REFERENCE_BODY + 1)
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'#')
            .count();
        let body_start = body_end - body_len;
        if body_len > MAX_REFERENCE_BODY || body_start == 0 || bytes[body_start - 1] != b'&' {
            return;
        }
        let Some(value) = reference_value(&out[body_start..body_end]) else {
            return;
        };
        out.truncate(body_start - 1);
        match char::from_u32(value).filter(|c| (' '..='~').contains(c)) {
            Some(';') => out.push(';'),
            Some(c) => return out.push(c),
            None => return,
        }
    }
}

/// The code point of `#60` or `#x3C`; `u32::MAX` for one too large to name a character.
fn reference_value(body: &str) -> Option<u32> {
    let digits = body.strip_prefix('#')?;
    let (digits, radix) = match digits.strip_prefix(['x', 'X']) {
        Some(hex) => (hex, 16),
        None => (digits, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(u32::from_str_radix(digits, radix).unwrap_or(u32::MAX))
}

/// Rule 4: `![alt](` with any alt text.
static IMAGE_ALT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"!\[[^\]]*\]\(").expect("a valid constant pattern"));

/// Rule 5: a link's target followed by a quoted title (`"…"` or `'…'`).
static LINK_TITLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?P<link>\[[^\]]*\]\([^)]+?)\s+(?:"[^"]*"|'[^']*')"#)
        .expect("a valid constant pattern")
});

/// An HTML start tag.
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<[A-Za-z][^<>]*>").expect("a valid constant pattern"));

/// Rule 6: an attribute that carries unseen text, with its value.
static HIDDEN_ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)\s(?:alt|title|aria-label|placeholder|data-[a-z0-9-]+)\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+)"#,
    )
    .expect("a valid constant pattern")
});

fn strip_hidden_attributes(text: &str) -> String {
    TAG.replace_all(text, |tag: &regex::Captures<'_>| {
        HIDDEN_ATTRIBUTE.replace_all(&tag[0], "").into_owned()
    })
    .into_owned()
}

#[cfg(test)]
#[path = "sanitize_tests.rs"]
mod tests;
