//! Every mark the bot leaves where people and later runs read it — hidden comment markers, the PR body's
//! section, branch names, the check run's name, commit trailers and merge messages, the evidence folder
//! and its file names, the queue's control actions — written and parsed here, side by side.
//!
//! Invariants:
//! - Each mark has exactly one writer and, where the bot reads it back by more than its exact text, one
//!   parser, both in this file, with a round-trip test: what the bot writes today is what it recognises
//!   tomorrow (after a restart, in another replica, in a later version reading an older branch).
//! - Every hidden comment marker starts with [`MARKER_PREFIX`]; [`neutralise`] turns any such text coming
//!   from elsewhere (an issue, the LLM, a rendered template) into a visible, inert `&lt;!-- …`, so nothing
//!   but the bot's own writers can produce a marker.
//! - The one path the bot reads from a repository, its settings file [`SETTINGS_PATH`], is named here
//!   too, so every message that tells a person to edit it names the same file.
//! - Names built from free text (local branches, local evidence folders) go through [`slug`]: lower-case
//!   ASCII letters, digits and single dashes, always a valid git ref component and path segment.

use crate::domain::RunTarget;

// ---- hidden comment markers ----

/// Every hidden marker the bot writes starts with this (comments, replies, the PR body).
pub const MARKER_PREFIX: &str = "<!-- metagpt-bot:";

/// The issue's progress comment (CONTRACT.md).
pub const PROGRESS: &str = "<!-- metagpt-bot:progress -->";

/// Starts the progress comment's "N more requests wait" note, its last part.
pub const QUEUED: &str = "<!-- metagpt-bot:queued -->";

/// The bot's short replies (refusals, "nothing to stop").
pub const REPLY: &str = "<!-- metagpt-bot:reply -->";

/// The start and end of the bot's section of a PR body; text outside them is the humans'.
pub const SECTION_START: &str = "<!-- metagpt-bot:start -->";
pub const SECTION_END: &str = "<!-- metagpt-bot:end -->";

const REPLY_TO: &str = "<!-- metagpt-bot:reply-to=";
const ISSUE: &str = "<!-- metagpt-bot:issue=";
const CLOSE: &str = " -->";

/// The second marker of a reply: the id of the command comment it answers (one reply per comment).
pub fn reply_to(comment_id: u64) -> String {
    format!("{REPLY_TO}{comment_id}{CLOSE}")
}

/// The marker that ties the bot's PR to its issue (CONTRACT.md), written into the PR body.
pub fn issue_marker(issue: u64) -> String {
    format!("{ISSUE}{issue}{CLOSE}")
}

/// The issue number of the first [`issue_marker`] in a PR body.
pub fn marked_issue(body: &str) -> Option<u64> {
    number_after(body, ISSUE)
}

fn number_after(body: &str, start: &str) -> Option<u64> {
    let rest = &body[body.find(start)? + start.len()..];
    let (number, after) = rest.split_at(rest.find(|c: char| !c.is_ascii_digit())?);
    after
        .starts_with(CLOSE)
        .then(|| number.parse().ok())
        .flatten()
}

/// `text` with every would-be marker made visible and inert (`<!-- metagpt-bot:` → `&lt;!-- metagpt-bot:`).
pub fn neutralise(text: &str) -> String {
    text.replace(MARKER_PREFIX, "&lt;!-- metagpt-bot:")
}

/// `content` as the bot's section of a PR body: exactly one start and one end marker, and no marker
/// inside but the issue marker `issue` when given (put first).
pub fn pr_section(issue: Option<u64>, content: &str) -> String {
    let content = neutralise(content);
    let marker = issue
        .map(|n| format!("{}\n", issue_marker(n)))
        .unwrap_or_default();
    format!(
        "{SECTION_START}\n{marker}{}\n{SECTION_END}",
        content.trim_end()
    )
}

/// `existing` with its bot section replaced by `new_section` (a [`pr_section`]), or `new_section`
/// appended when it has none. The section replaced is the one ending at the first end marker, starting at
/// the last start marker before it (so a start marker left behind by a hand edit is kept as text).
pub fn merge_body(existing: &str, new_section: &str) -> String {
    if let Some(end) = existing.find(SECTION_END)
        && let Some(start) = existing[..end].rfind(SECTION_START)
    {
        let after = &existing[end + SECTION_END.len()..];
        return format!("{}{new_section}{after}", &existing[..start]);
    }
    let existing = existing.trim_end();
    if existing.is_empty() {
        new_section.to_owned()
    } else {
        format!("{existing}\n\n{new_section}")
    }
}

// ---- branches ----

const ISSUE_BRANCH: &str = "metagpt/issue-";
const LOCAL_BRANCH: &str = "metagpt/local-";

/// The branch of an issue's runs (CONTRACT.md): `metagpt/issue-<N>`.
pub fn issue_branch(issue: u64) -> String {
    format!("{ISSUE_BRANCH}{issue}")
}

/// How [`issue_branch`] names are shown to people: `metagpt/issue-<N>`.
pub fn issue_branch_pattern() -> String {
    format!("{ISSUE_BRANCH}<N>")
}

/// The issue of a branch named by [`issue_branch`] (exactly: no leading zeros, no suffix).
pub fn branch_issue(branch: &str) -> Option<u64> {
    let issue = branch.strip_prefix(ISSUE_BRANCH)?.parse::<u64>().ok()?;
    (issue_branch(issue) == branch).then_some(issue)
}

/// The branch of a local run, named after its text (e.g. the requirement's first words).
pub fn local_branch(text: &str) -> String {
    format!("{LOCAL_BRANCH}{}", slug(text))
}

/// Lower-case ASCII letters and digits joined by single dashes, at most 40 characters; `run` when the
/// text has none. Always a valid git ref component.
pub fn slug(text: &str) -> String {
    const MAX: usize = 40;
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= MAX {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "run".to_owned()
    } else {
        slug.to_owned()
    }
}

// ---- commits ----

const JOB_TRAILER: &str = "MetaGPT-Job: ";
const MERGE: &str = "metagpt: merge ";

/// The trailer that names the job a commit belongs to (`app-<job id>`, `action-<run id>`), so a retried
/// job recognises its own commit instead of running MetaGPT again.
pub fn job_trailer(job: &str) -> String {
    format!("{JOB_TRAILER}{job}")
}

/// Whether a commit message carries the [`job_trailer`] of `job` on a line of its own.
pub fn has_job_trailer(message: &str, job: &str) -> bool {
    let trailer = job_trailer(job);
    message.lines().any(|line| line.trim() == trailer)
}

/// The message of the merge the bot makes to keep commits humans pushed to its branch meanwhile.
pub fn merge_message(remote: &str, branch: &str) -> String {
    format!("{MERGE}{remote}/{branch} (commits pushed meanwhile)")
}

/// Whether a commit message is one of the bot's [`merge_message`]s.
pub fn is_bot_merge(message: &str) -> bool {
    message.starts_with(MERGE)
}

// ---- the check run ----

/// The check run on each pushed head (CONTRACT.md).
pub const CHECK_RUN_NAME: &str = "MetaGPT quality gates";

// ---- evidence ----

/// MetaGPT's project folder in a repository that does not have MetaGPT's own layout (CONTRACT.md,
/// `spec_dir`); the bot's evidence lives inside it too.
pub const SPEC_DIR: &str = ".metagpt";

/// Where every run's evidence lives in the repository.
pub const RUNS_DIR: &str = ".metagpt/runs";

/// What QA's new test file adds to the name of a project test file that already exists:
/// `test_functions.py` is the project's, `test_functions_metagpt.py` (then `_metagpt_2`, …) QA's. The
/// wrapper names the files with it (through the job file) and the test gates find them by it.
pub const QA_TEST_SUFFIX: &str = "_metagpt";

/// The evidence files of one iteration (CONTRACT.md), in the order they are listed to people.
pub const SUMMARY_MD: &str = "summary.md";
pub const GATES_JSON: &str = "gates.json";
pub const COST_JSON: &str = "cost.json";
pub const TRACE_JSONL: &str = "trace.jsonl";
pub const LLM_JSONL: &str = "llm.jsonl";
/// What the PR body and the check run were rendered from, so a publish after a crash renders the same.
pub const REPORT_JSON: &str = "report.json";
/// What a failed local run leaves in `--out` beside `cost.json` and `trace.jsonl`.
pub const FAILURE_MD: &str = "failure.md";
pub const EVIDENCE_FILES: [&str; 6] = [
    SUMMARY_MD,
    GATES_JSON,
    COST_JSON,
    TRACE_JSONL,
    LLM_JSONL,
    REPORT_JSON,
];

const LOCAL_DIR: &str = "local-";

/// The folder of a target's runs, relative to the repository: `.metagpt/runs/<N>` or
/// `.metagpt/runs/local-<slug>`.
pub fn runs_dir(target: &RunTarget) -> String {
    format!("{RUNS_DIR}/{}", target_dir(target))
}

/// The folder name of a target: the issue number, or `local-<slug>`.
pub fn target_dir(target: &RunTarget) -> String {
    match target {
        RunTarget::Issue(n) => n.to_string(),
        RunTarget::Local(text) => format!("{LOCAL_DIR}{}", slug(text)),
    }
}

/// The evidence folder of one iteration: `.metagpt/runs/<N>/<k>`.
pub fn evidence_dir(target: &RunTarget, iteration: u32) -> String {
    format!("{}/{iteration}", runs_dir(target))
}

/// The iteration an entry of [`runs_dir`] names (`1`, `2`, …), if it names one.
pub fn iteration_of(dir_name: &str) -> Option<u32> {
    let k = dir_name.parse::<u32>().ok()?;
    (k > 0 && k.to_string() == dir_name).then_some(k)
}

// ---- the repository's settings ----

/// Where a repository keeps the bot's settings, read from its default branch (CONTRACT.md).
pub const SETTINGS_PATH: &str = ".github/metagpt.yml";

// ---- the queue ----

/// The stored names of control actions: jobs that neither wait behind an issue's run nor are waited for
/// (`domain::ControlRequest`). The queue's SQL and migrations list the same names (a test keeps them
/// equal).
pub const CONTROL_ACTIONS: [&str; 2] = ["stop", "label"];

const LABEL_CHECK: &str = "label-check-";

/// The delivery id under which the label check with job id `check_job` records the run it starts, so a
/// retried check finds it instead of starting another.
pub fn label_check_delivery(check_job: i64) -> String {
    format!("{LABEL_CHECK}{check_job}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_markers_round_trip_and_share_the_prefix() {
        for marker in [PROGRESS, QUEUED, REPLY, SECTION_START, SECTION_END] {
            assert!(marker.starts_with(MARKER_PREFIX), "{marker}");
            assert!(marker.ends_with(CLOSE), "{marker}");
        }
        assert_eq!(
            marked_issue(&format!("Closes #5\n{}", issue_marker(5))),
            Some(5)
        );
        assert!(issue_marker(5).starts_with(MARKER_PREFIX));
        assert!(reply_to(1).starts_with(MARKER_PREFIX));
        // Near misses are not marks.
        assert_eq!(marked_issue("<!-- metagpt-bot:issue=5-->"), None);
        assert_eq!(marked_issue("<!-- metagpt-bot:issue= 5 -->"), None);
        assert_eq!(marked_issue("<!-- metagpt-bot:issue=x -->"), None);
    }

    #[test]
    fn neutralised_text_holds_no_marker() {
        let forged = format!("{} {} {}", issue_marker(9), PROGRESS, SECTION_END);
        let inert = neutralise(&forged);
        assert!(!inert.contains(MARKER_PREFIX), "{inert}");
        assert_eq!(marked_issue(&inert), None);
    }

    #[test]
    fn a_pr_section_has_one_start_one_end_and_only_its_own_issue_marker() {
        let untrusted = format!("text {SECTION_END} {} {SECTION_START}", issue_marker(9));
        let section = pr_section(Some(5), &untrusted);
        assert_eq!(section.matches(SECTION_START).count(), 1);
        assert_eq!(section.matches(SECTION_END).count(), 1);
        assert_eq!(marked_issue(&section), Some(5));
        assert_eq!(section.matches(MARKER_PREFIX).count(), 3, "{section}");
    }

    #[test]
    fn merging_replaces_only_the_bots_section() {
        let first = pr_section(Some(5), "one");
        let body = format!("Human intro.\n\n{first}\n\nHuman notes.");
        let second = pr_section(Some(5), "two");
        let merged = merge_body(&body, &second);
        assert_eq!(merged, format!("Human intro.\n\n{second}\n\nHuman notes."));
        assert_eq!(merge_body("", &second), second);
        assert_eq!(
            merge_body("Only human text.\n", &second),
            format!("Only human text.\n\n{second}")
        );
    }

    #[test]
    fn branches_round_trip() {
        assert_eq!(issue_branch(12), "metagpt/issue-12");
        assert_eq!(branch_issue(&issue_branch(12)), Some(12));
        for not_ours in [
            "metagpt/issue-012",
            "metagpt/issue-12x",
            "metagpt/issue-",
            "feature/issue-12",
            "metagpt/local-12",
        ] {
            assert_eq!(branch_issue(not_ours), None, "{not_ours}");
        }
        assert_eq!(
            local_branch("Add a /login page, please!"),
            "metagpt/local-add-a-login-page-please"
        );
        assert_eq!(slug("  ¿¡ !! "), "run");
        assert!(slug(&"word ".repeat(40)).len() <= 40);
    }

    #[test]
    fn commit_marks_round_trip() {
        let message = format!(
            "metagpt: issue #5, iteration 1\n\nbody\n\n{}\n",
            job_trailer("app-7")
        );
        assert!(has_job_trailer(&message, "app-7"));
        assert!(!has_job_trailer(&message, "app-70"));
        assert!(!has_job_trailer("MetaGPT-Job: app-7 and more", "app-7"));
        assert!(is_bot_merge(&merge_message("origin", "metagpt/issue-5")));
        assert!(!is_bot_merge("Merge branch 'main'"));
    }

    #[test]
    fn evidence_paths_round_trip() {
        let issue = RunTarget::Issue(5);
        assert_eq!(evidence_dir(&issue, 2), ".metagpt/runs/5/2");
        let local = RunTarget::Local("Add a timer!".into());
        assert_eq!(evidence_dir(&local, 1), ".metagpt/runs/local-add-a-timer/1");
        let dir = evidence_dir(&issue, 3);
        let last = dir.rsplit('/').next().unwrap();
        assert_eq!(iteration_of(last), Some(3));
        for not_an_iteration in ["0", "03", "x", "", "-1"] {
            assert_eq!(iteration_of(not_an_iteration), None, "{not_an_iteration}");
        }
    }

    #[test]
    fn a_reply_and_a_label_checks_run_are_named_by_what_they_answer() {
        // Both are found again by their exact text (a comment search, a delivery lookup).
        assert_eq!(reply_to(42), "<!-- metagpt-bot:reply-to=42 -->");
        assert_ne!(reply_to(4), reply_to(42));
        assert_eq!(label_check_delivery(17), "label-check-17");
    }
}
