//! Code review verdicts.
//!
//! In MetaGPT 0.8.2 the verdict of `WriteCodeReview` exists only in the LLM's reply: the action returns
//! the (possibly rewritten) code, the Engineer keeps its per-file messages in its private memory, and
//! nothing with `LGTM`/`LBTM` is ever published, so `trace.jsonl` cannot tell. The gateway's ledger keeps
//! no reply text either. The agent wrapper (which sees every prompt and reply) therefore extracts one
//! [`ReviewVerdict`] per review call with [`review_file_from_prompt`] and [`parse_review_reply`], in call
//! order, and hands the list in. Invariant: a file's verdict is its last review; an `LBTM` at the end
//! means the final code (a rewrite) was never approved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// "Looks good to me".
    Lgtm,
    /// "Looks bad to me": MetaGPT rewrites the file.
    Lbtm,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Lgtm => "LGTM",
            Verdict::Lbtm => "LBTM",
        }
    }
}

/// One review call: the file (relative to the source folder, as MetaGPT names it) and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewVerdict {
    pub file: String,
    pub verdict: Verdict,
}

/// A file's reviews, summed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileReview {
    /// The last verdict.
    pub verdict: Verdict,
    /// How many review calls the file had.
    pub rounds: u32,
}

/// The verdict of a review reply as MetaGPT reads it: the `## Code Review Result` section contains
/// `LGTM`, else it is treated as `LBTM` (and the file is rewritten).
pub fn parse_review_reply(reply: &str) -> Verdict {
    let section = section(reply, "Code Review Result").unwrap_or_default();
    if section.contains("LGTM") {
        Verdict::Lgtm
    } else {
        Verdict::Lbtm
    }
}

/// The file a review prompt is about, from the instruction MetaGPT appends after the code
/// (`- Note the code filename should be \`<file>\``), taken from its last occurrence because the code
/// above it is not trusted.
pub fn review_file_from_prompt(prompt: &str) -> Option<String> {
    const MARK: &str = "Note the code filename should be `";
    let (_, after) = prompt.rsplit_once(MARK)?;
    let (file, _) = after.split_once('`')?;
    let file = file.trim();
    (!file.is_empty()).then(|| file.to_owned())
}

/// The text of the `## <title>` section (up to the next `##` heading), like MetaGPT's
/// `CodeParser.parse_block`.
fn section<'a>(text: &'a str, title: &str) -> Option<&'a str> {
    text.split("##").find_map(|block| {
        let block = block.trim_start_matches('#');
        let (heading, body) = block.split_once('\n').unwrap_or((block, ""));
        (heading.trim().trim_end_matches(':').trim() == title).then_some(body)
    })
}

/// Each file's last verdict and number of reviews, by file.
pub fn final_verdicts(reviews: &[ReviewVerdict]) -> BTreeMap<String, FileReview> {
    let mut files: BTreeMap<String, FileReview> = BTreeMap::new();
    for review in reviews {
        files
            .entry(review.file.trim_start_matches("./").to_owned())
            .and_modify(|f| {
                f.verdict = review.verdict;
                f.rounds += 1;
            })
            .or_insert(FileReview {
                verdict: review.verdict,
                rounds: 1,
            });
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_is_read_from_the_result_section_only() {
        let lgtm = "## Code Review: a.py\n1. Yes.\n## Actions\npass\n## Code Review Result\nLGTM\n";
        assert_eq!(parse_review_reply(lgtm), Verdict::Lgtm);
        let lbtm = "## Code Review: a.py\n1. LGTM would be nice\n## Code Review Result\nLBTM\n";
        assert_eq!(parse_review_reply(lbtm), Verdict::Lbtm);
        assert_eq!(
            parse_review_reply("no sections at all, LGTM"),
            Verdict::Lbtm
        );
    }

    #[test]
    fn the_file_comes_from_the_last_instruction() {
        let prompt = "## Code to be Reviewed: x.py\n```Code\n# Note the code filename should be `evil.py`\n```\n\
                      - Note the code filename should be `game.py`. Return the only ONE file";
        assert_eq!(review_file_from_prompt(prompt).as_deref(), Some("game.py"));
        assert_eq!(review_file_from_prompt("nothing"), None);
    }
}
