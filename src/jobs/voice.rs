//! Everything the bot says on GitHub (bors' `comment.rs`): the progress comment in each state, the
//! "requests wait" note, every refusal and reply, the words that name a trigger, the hints that say what
//! to do after a failure, the pull request's title and the check run's title. The PR body and the check
//! run's summary are rendered from the run's evidence (`run::evidence` templates).
//!
//! Invariants:
//! - Every text a person reads is built here and snapshot-tested (insta), so a change to what users read
//!   shows in review.
//! - Untrusted text (reasons quoting GitHub or MetaGPT, step names from the agent's trace, issue titles)
//!   is shown as inline code or a block quote, or cleaned, so it can neither forge a marker nor inject
//!   markup; the bot's own markers come only from [`crate::marks`].
//! - Every comment the bot writes starts with one of its hidden markers, so intake never takes the bot's
//!   own words for a command.

use crate::config::Problem;
use crate::domain::{ControlRequest, Request, RunRequest, Trigger};
use crate::github::Permission;
use crate::marks;
use crate::run::evidence::markdown::{code, quote};
use crate::sanitize::clean_untrusted;

// ---- the progress comment ----

/// What the progress comment says.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// The run is under way, at `step`.
    Running {
        what: String,
        iteration: u32,
        step: Step,
    },
    /// Pushed and the pull request opened or updated.
    Done(Done),
    /// The run failed; `hint` says what the person can do.
    Failed {
        what: String,
        reason: String,
        hint: Hint,
    },
    /// The run was cancelled before its push; nothing was pushed.
    Stopped { what: String, by: StoppedBy },
}

/// Who cancelled a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoppedBy {
    /// `/metagpt stop` (the App).
    Command,
    /// The workflow job was cancelled or timed out (the Action: the runner sent SIGINT or SIGTERM).
    JobCancelled,
}

/// Where a running run is, as the progress comment names it.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Cloning,
    /// MetaGPT's team, before its trace names a step.
    TeamAtWork,
    /// The step MetaGPT's trace names (untrusted: shown as code).
    Agent(String),
    Publishing,
}

/// A published iteration, as the progress comment reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub what: String,
    pub iteration: u32,
    pub pr_number: u64,
    pub pr_url: String,
    pub cost_usd: f64,
    pub cumulative_usd: f64,
    pub gates_passed: bool,
    pub failed_gates: Vec<String>,
    pub check_url: Option<String>,
}

/// What a person can do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// The repository's `.github/metagpt.yml` is invalid.
    SettingsFile,
    /// The file names a model without a known price.
    LlmModel,
    /// The bot's own agent settings are incomplete: the operator's to fix.
    Operator,
    /// The repository's layout does not suit MetaGPT's incremental mode.
    Layout,
    /// The run itself failed (MetaGPT, the LLM, the budget, the time limit).
    RunFailed,
    /// The issue's branch could not take the run's commit (commits pushed meanwhile that do not merge,
    /// or a branch the server refuses).
    Branch,
}

impl Hint {
    fn text(self) -> String {
        let file = marks::SETTINGS_PATH;
        match self {
            Hint::SettingsFile => {
                format!("Fix `{file}` on the default branch, then comment `/metagpt retry`.")
            }
            Hint::LlmModel => {
                format!("Change `llm_model` in `{file}`, then comment `/metagpt retry`.")
            }
            Hint::Operator => "The bot's operator must complete its agent settings.".to_owned(),
            Hint::Layout => format!(
                "Fix the repository's layout (or `source_dir` in `{file}`), then comment \
                 `/metagpt retry`."
            ),
            Hint::RunFailed => {
                "Nothing was pushed. Comment `/metagpt retry` to run it again (calls \
                 already paid for are replayed), or `/metagpt <feedback>` to change the request."
                    .to_owned()
            }
            Hint::Branch => {
                "Nothing was pushed. Make the issue's branch mergeable again (or delete \
                 it), then comment `/metagpt retry`."
                    .to_owned()
            }
        }
    }
}

impl Status {
    /// The comment's markdown, marker first.
    pub fn render(&self) -> String {
        let text = match self {
            Status::Running {
                what,
                iteration,
                step,
            } => format!(
                "🏃 **Running** iteration {iteration}: {what}.\n\nCurrent step: {}. This comment is \
                 updated as the run goes; `/metagpt stop` cancels it.",
                step_text(step)
            ),
            Status::Done(done) => render_done(done),
            Status::Failed { what, reason, hint } => {
                format!(
                    "❌ **Failed**: {what}.\n\n{}\n\n{}",
                    quote(reason),
                    hint.text()
                )
            }
            Status::Stopped {
                what,
                by: StoppedBy::Command,
            } => format!(
                "⏹️ **Stopped**: {what} was cancelled by `/metagpt stop`. Nothing was pushed. \
                 `/metagpt retry` runs it again."
            ),
            Status::Stopped {
                what,
                by: StoppedBy::JobCancelled,
            } => format!(
                "⏹️ **Cancelled**: {what} ended with its workflow job, which was cancelled or ran out \
                 of time; MetaGPT was stopped. Nothing was pushed. Re-run the job, or comment \
                 `/metagpt retry`, to run it again."
            ),
        };
        format!("{}\n{text}\n", marks::PROGRESS)
    }
}

fn step_text(step: &Step) -> String {
    match step {
        Step::Cloning => "cloning the repository".to_owned(),
        Step::TeamAtWork => {
            "MetaGPT's team at work (product manager → architect → project manager → \
                             engineer with code review → QA with tests)"
                .to_owned()
        }
        // From the agent's trace: shown as code, so it cannot add markup.
        Step::Agent(step) => code(step),
        Step::Publishing => "pushing and opening the pull request".to_owned(),
    }
}

fn render_done(done: &Done) -> String {
    let verdict = if done.gates_passed {
        "✅ all quality gates passed".to_owned()
    } else {
        let names: Vec<String> = done.failed_gates.iter().map(|g| code(g)).collect();
        format!(
            "❌ quality gates failed: {} (the PR stays a draft)",
            names.join(", ")
        )
    };
    let check = done
        .check_url
        .as_ref()
        .map(|url| format!(" · [check run]({url})"))
        .unwrap_or_default();
    format!(
        "✅ **Done**: {}, iteration {}.\n\nPull request: #{} ({})\n\n{verdict}{check}\n\nCost: \
         ${:.4} this iteration, ${:.4} in all iterations.\n\nComment `/metagpt <feedback>` to run \
         another iteration on the same branch.",
        done.what, done.iteration, done.pr_number, done.pr_url, done.cost_usd, done.cumulative_usd
    )
}

/// `body` (a progress comment) with its "requests wait" note replaced by one for `waiting` queued runs,
/// or removed when none wait. The note is the comment's last part, after [`marks::QUEUED`], so the
/// status above it is never touched.
pub fn with_queued_note(body: &str, waiting: i64) -> String {
    let status = body
        .find(marks::QUEUED)
        .map_or(body, |at| &body[..at])
        .trim_end();
    if waiting <= 0 {
        return format!("{status}\n");
    }
    let runs = if waiting == 1 {
        "1 more request for this issue waits".to_owned()
    } else {
        format!("{waiting} more requests for this issue wait")
    };
    format!(
        "{status}\n\n{}\n⏳ {runs} behind this run and starts when it has finished.\n",
        marks::QUEUED
    )
}

/// The bot's own agent settings' problems, each with its fix, as a failed run tells them.
pub fn incomplete_agent_settings(problems: &[Problem]) -> String {
    let list: Vec<String> = problems.iter().map(|p| format!("- {p}")).collect();
    format!(
        "the bot's agent settings are incomplete:\n{}",
        list.join("\n")
    )
}

/// A few words naming what a trigger asked for, for the progress comment.
pub fn what(trigger: &Trigger) -> String {
    let who = &trigger.sender_login;
    match &trigger.request {
        Request::Run(RunRequest::Labeled { .. }) => format!("run for @{who}'s label"),
        Request::Run(RunRequest::Iterate { .. }) => format!("iteration asked by @{who}"),
        Request::Run(RunRequest::Retry { .. }) => format!("retry asked by @{who}"),
        Request::Control(ControlRequest::Stop { .. }) => format!("stop asked by @{who}"),
        Request::Control(ControlRequest::LabelCheck { .. }) => {
            format!("label check for @{who}'s label")
        }
    }
}

// ---- replies ----

/// A reply comment: the reply marker, the marker naming the command comment it answers (when a comment
/// asked), then the text.
pub fn reply(answers: Option<u64>, text: &str) -> String {
    let answered = answers
        .map(|comment| format!("{}\n", marks::reply_to(comment)))
        .unwrap_or_default();
    format!("{}\n{answered}{text}", marks::REPLY)
}

fn is_stop(trigger: &Trigger) -> bool {
    matches!(
        trigger.request,
        Request::Control(ControlRequest::Stop { .. })
    )
}

fn command(trigger: &Trigger) -> &'static str {
    if is_stop(trigger) {
        "`/metagpt stop`"
    } else {
        "`/metagpt`"
    }
}

fn nothing(trigger: &Trigger) -> &'static str {
    if is_stop(trigger) {
        "Nothing was stopped."
    } else {
        "Nothing was run."
    }
}

/// The sender may not ask for this.
pub fn refused_permission(trigger: &Trigger, permission: Permission) -> String {
    format!(
        "@{} asked for {} but has {permission} permission on {}; only users with write, maintain or \
         admin permission can {}. {}",
        trigger.sender_login,
        command(trigger),
        trigger.repo.full_name(),
        if is_stop(trigger) {
            "stop a run"
        } else {
            "run the bot"
        },
        nothing(trigger)
    )
}

/// A command on the bot's pull request whose body lost the issue marker.
pub fn refused_lost_marker(trigger: &Trigger, issue: u64) -> String {
    format!(
        "this pull request's description lost the bot's hidden marker `{}`, so {} cannot be lined up \
         with issue #{issue}'s runs; comment on issue #{issue} instead. {}",
        marks::issue_marker(issue),
        command(trigger),
        nothing(trigger)
    )
}

/// A command on a pull request that is not the bot's.
pub fn refused_not_ours(trigger: &Trigger, head_ref: &str, head_repo: Option<&str>) -> String {
    format!(
        "{} works on the bot's own pull requests (branch `{}` of {}); this one is {} from {}. Comment \
         on the issue instead. {}",
        command(trigger),
        marks::issue_branch_pattern(),
        trigger.repo.full_name(),
        code(head_ref),
        head_repo.unwrap_or("a deleted fork"),
        nothing(trigger)
    )
}

/// A stop that found no run of the issue.
pub fn nothing_to_stop(sender: &str, issue: u64) -> String {
    format!("@{sender} nothing to stop: no run of #{issue} is queued or running.")
}

/// A stop that came after the run had passed its point of no return (pushing and publishing).
pub fn too_late_to_stop(sender: &str, issue: u64) -> String {
    format!(
        "@{sender} too late to stop: the run of #{issue} was already pushing its commit and opening or \
         updating its pull request. Nothing else was stopped. Close the pull request if you do not want \
         it, or comment `/metagpt <feedback>` for another iteration."
    )
}

/// `/metagpt stop` inside a GitHub Actions workflow.
pub const STOP_IN_ACTION: &str = "`/metagpt stop` cannot stop a run from inside a GitHub Actions \
     workflow: cancel the running workflow run from the repository's Actions tab instead.";

// ---- the pull request and the check run ----

/// The pull request's title: `MetaGPT: <issue title> (#N)`, the title cleaned of hidden markup.
pub fn pr_title(issue_title: &str, issue: u64) -> String {
    format!(
        "MetaGPT: {} (#{issue})",
        clean_untrusted(issue_title).trim()
    )
}

/// The check run's title.
pub fn check_title(passed: bool, failed: usize, iteration: u32) -> String {
    if passed {
        format!("All quality gates passed (iteration {iteration})")
    } else {
        format!("{failed} quality gate(s) failed (iteration {iteration})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Kind, RepoRef};

    fn trigger(request: Request) -> Trigger {
        Trigger {
            delivery_id: "d".into(),
            installation_id: Some(1),
            repo: RepoRef {
                id: 2,
                owner: "octo".into(),
                name: "shop".into(),
            },
            issue_number: 5,
            is_pull_request: false,
            sender_id: 7,
            sender_login: "alice".into(),
            request,
            work_issue: None,
        }
    }

    fn labeled() -> Trigger {
        trigger(Request::Run(RunRequest::Labeled {
            kind: Kind::Requirement,
            label: Some("metagpt".into()),
        }))
    }

    fn stop() -> Trigger {
        trigger(Request::Control(ControlRequest::Stop { comment_id: 9 }))
    }

    fn done(passed: bool) -> Done {
        Done {
            what: what(&labeled()),
            iteration: 2,
            pr_number: 12,
            pr_url: "https://github.com/octo/shop/pull/12".into(),
            cost_usd: 0.01234,
            cumulative_usd: 0.05,
            gates_passed: passed,
            failed_gates: if passed {
                vec![]
            } else {
                vec!["tests_pass".into(), "code_reviewed".into()]
            },
            check_url: Some("https://github.com/octo/shop/runs/3".into()),
        }
    }

    #[test]
    fn progress_comment_in_every_state() {
        let what = what(&labeled());
        let running = |step| Status::Running {
            what: what.clone(),
            iteration: 1,
            step,
        };
        insta::assert_snapshot!("running_cloning", running(Step::Cloning).render());
        insta::assert_snapshot!("running_team", running(Step::TeamAtWork).render());
        insta::assert_snapshot!(
            "running_agent_step",
            running(Step::Agent("Engineer: Write`Code` <b>".into())).render()
        );
        insta::assert_snapshot!("running_publishing", running(Step::Publishing).render());
        insta::assert_snapshot!("done_passed", Status::Done(done(true)).render());
        insta::assert_snapshot!("done_failed", Status::Done(done(false)).render());
        for hint in [
            Hint::SettingsFile,
            Hint::LlmModel,
            Hint::Operator,
            Hint::Layout,
            Hint::RunFailed,
            Hint::Branch,
        ] {
            let failed = Status::Failed {
                what: what.clone(),
                reason: "MetaGPT failed: <!-- metagpt-bot:progress -->\nline two".into(),
                hint,
            };
            insta::assert_snapshot!(format!("failed_{hint:?}"), failed.render());
        }
        let stopped = |by| Status::Stopped {
            what: what.clone(),
            by,
        };
        insta::assert_snapshot!("stopped", stopped(StoppedBy::Command).render());
        insta::assert_snapshot!(
            "stopped_job_cancelled",
            stopped(StoppedBy::JobCancelled).render()
        );
    }

    #[test]
    fn a_quoted_reason_cannot_forge_a_marker() {
        let failed = Status::Failed {
            what: "w".into(),
            reason: format!("{} {}", marks::PROGRESS, marks::issue_marker(3)),
            hint: Hint::RunFailed,
        };
        let body = failed.render();
        assert_eq!(body.matches(marks::MARKER_PREFIX).count(), 1, "{body}");
    }

    #[test]
    fn the_queued_note_follows_the_status_and_is_replaced_or_removed() {
        let status = Status::Stopped {
            what: "w".into(),
            by: StoppedBy::Command,
        }
        .render();
        let one = with_queued_note(&status, 1);
        insta::assert_snapshot!("queued_one", one);
        let two = with_queued_note(&one, 2);
        insta::assert_snapshot!("queued_two", two);
        assert_eq!(two.matches(marks::QUEUED).count(), 1);
        assert_eq!(with_queued_note(&two, 0), status);
    }

    #[test]
    fn what_each_trigger_is_called() {
        let names: Vec<String> = [
            labeled(),
            trigger(Request::Run(RunRequest::Iterate {
                feedback: "f".into(),
                comment_id: 1,
            })),
            trigger(Request::Run(RunRequest::Retry { comment_id: 1 })),
            stop(),
            trigger(Request::Control(ControlRequest::LabelCheck {
                label: "ai".into(),
            })),
        ]
        .iter()
        .map(what)
        .collect();
        insta::assert_snapshot!("what", names.join("\n"));
    }

    #[test]
    fn replies_and_refusals() {
        let iterate = trigger(Request::Run(RunRequest::Iterate {
            feedback: "f".into(),
            comment_id: 4,
        }));
        let texts = [
            refused_permission(&iterate, Permission::Read),
            refused_permission(&stop(), Permission::Triage),
            refused_lost_marker(&iterate, 5),
            refused_not_ours(&iterate, "feature/x", Some("fork/shop")),
            refused_not_ours(&stop(), "main", None),
            nothing_to_stop("alice", 5),
            too_late_to_stop("alice", 5),
            STOP_IN_ACTION.to_owned(),
        ];
        insta::assert_snapshot!("refusals", texts.join("\n\n"));
        let body = reply(Some(4), &texts[0]);
        assert!(body.starts_with(marks::REPLY));
        assert!(body.contains(&marks::reply_to(4)), "{body}");
        insta::assert_snapshot!("reply", body);
    }

    #[test]
    fn the_bots_incomplete_agent_settings() {
        let problems = [
            Problem::new("METAGPT_PYTHON is not set", "point it at the venv's python"),
            Problem::new("LLM_API_KEY is not set", "set the provider's key"),
        ];
        insta::assert_snapshot!(
            "incomplete_agent_settings",
            incomplete_agent_settings(&problems)
        );
    }

    #[test]
    fn titles() {
        let titles = [
            pr_title("Add a\u{200b} timer <!-- hidden -->", 5),
            check_title(true, 0, 1),
            check_title(false, 2, 3),
        ];
        insta::assert_snapshot!("titles", titles.join("\n"));
    }
}
