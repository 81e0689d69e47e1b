//! `metagpt-bot action` end to end, as a runner starts it, in the App harness's world: a clean environment
//! with the runner's variables and inputs, the event file of a labelled issue, the job's `GITHUB_TOKEN`
//! against the fake GitHub, the repository cloned from `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY.git` (a real
//! git server that accepts that token), and the stand-in agent through the bot's LLM gateway to the
//! scripted LLM.

use crate::support::action_job::{LLM_KEY, TOKEN};
use crate::support::bot::{BRANCH, Bot, FULL_NAME, ISSUE, USAGE, alice};
use crate::support::fake_github::{TEST_APP_ID, TEST_APP_SLUG};
use crate::support::fixture::{PRICE_COMPLETION, PRICE_PROMPT};
use crate::support::interpreter::StandIn;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labelled_issue_in_a_workflow_opens_a_pull_request_and_reports_it() {
    let bot = Bot::world().await;
    let job = bot.action_job("issues", &bot.labeled_event());
    let finished = bot.run_action(&job).await;
    assert_eq!(finished.code, Some(0), "{finished:#?}");

    let pull = bot.pr();
    let cost = 3.0 * (USAGE.0 as f64 * PRICE_PROMPT + USAGE.1 as f64 * PRICE_COMPLETION) / 1e6;
    let outputs = &finished.outputs;
    assert!(
        outputs.contains(&format!("pr-number={}\n", pull.number)),
        "{outputs}"
    );
    assert!(outputs.contains("pr-url="), "{outputs}");
    assert!(outputs.contains("gates-passed=true\n"), "{outputs}");
    let cost_line = outputs
        .lines()
        .find_map(|l| l.strip_prefix("cost-usd="))
        .expect("cost-usd output");
    assert!(
        (cost_line.parse::<f64>().unwrap() - cost).abs() < 1e-6,
        "{outputs}"
    );
    assert!(
        finished.summary.contains("## MetaGPT"),
        "{}",
        finished.summary
    );
    assert!(
        finished.summary.contains("quality gates passed"),
        "{}",
        finished.summary
    );

    let comments = bot.github.state().comments_on(FULL_NAME, ISSUE);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert_eq!(comments[0].user.login, "github-actions[bot]");
    assert!(comments[0].body.contains("**Done**"));
    for text in [
        &finished.stdout,
        &finished.stderr,
        outputs,
        &finished.summary,
    ] {
        // The runner's mask commands name the secrets on purpose; nothing else may.
        let shown: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect();
        let shown = shown.join("\n");
        assert!(!shown.contains(TOKEN), "the job token leaked: {shown}");
        assert!(!shown.contains(LLM_KEY), "the LLM key leaked: {shown}");
    }
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_in_a_workflow_is_answered_with_how_to_cancel_and_runs_nothing() {
    let bot = Bot::world().await;
    let event = bot.comment_event(alice(), "/metagpt stop", None);
    let job = bot.action_job("issue_comment", &event);

    let finished = bot.run_action(&job).await;
    assert_eq!(finished.code, Some(0), "{finished:#?}");
    assert!(
        finished.stdout.contains("::notice::"),
        "{}",
        finished.stdout
    );
    assert!(
        finished.summary.contains("Actions tab"),
        "{}",
        finished.summary
    );
    let replies: Vec<String> = bot
        .github
        .state()
        .comments_on(FULL_NAME, ISSUE)
        .into_iter()
        .filter(|c| c.user.login == "github-actions[bot]")
        .map(|c| c.body)
        .collect();
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(replies[0].contains("cancel the running workflow run"));
    assert!(bot.pulls().is_empty(), "nothing ran");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_repository_config_is_a_misconfiguration_exit_2() {
    let bot = Bot::world().await;
    bot.set_settings("n_rounds: 3\n");
    let job = bot.action_job("issues", &bot.labeled_event());
    let finished = bot.run_action(&job).await;
    assert_eq!(finished.code, Some(2), "{finished:#?}");
    assert!(finished.stdout.contains("::error"), "{}", finished.stdout);
    assert!(finished.stdout.contains("n_round"), "{}", finished.stdout);
    assert!(bot.pulls().is_empty());
    bot.finish().await;
}

/// The job's `metagpt-bot action` with a hostile agent (`StandIn::Thief`, which prints every secret it
/// finds in any process's environment) and `extra` settings; what it printed.
async fn thief_in_the_job(bot: &Bot, extra: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let thief = crate::support::interpreter::install(dir.path(), StandIn::Thief);
    let mut job = bot.action_job("issues", &bot.labeled_event());
    job.set("METAGPT_PYTHON", &thief.display().to_string());
    for (name, value) in extra {
        job.set(name, value);
    }
    let finished = bot.run_action(&job).await;
    // The runner's mask commands name the secrets on purpose; nothing else may.
    let said: Vec<&str> = finished
        .stdout
        .lines()
        .chain(finished.stderr.lines())
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    let said = said.join("\n");
    assert!(
        said.contains("thief: searched"),
        "the thief never ran: {said}"
    );
    said
}

/// The Action's container runs the bot as root, and there the agent runs as its own user: with no
/// sandbox at all (`AGENT_SANDBOX=off`), code the LLM wrote cannot read the job's token or the LLM key
/// from the bot's `/proc/<pid>/environ` (nor open any process's `mem`). The control, the agent kept root
/// (`AGENT_UID=0`), finds both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_root_job_the_agent_cannot_read_the_job_token() {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: the Action's container runs the bot as root; this test must too");
        return;
    }
    let bot = Bot::world().await;
    let said = thief_in_the_job(&bot, &[("AGENT_SANDBOX", "off")]).await;
    assert!(said.contains("as uid 65534"), "{said}");
    assert!(said.contains("readable mem: 0"), "{said}");
    assert!(!said.contains("thief: found"), "{said}");
    assert!(!said.contains(TOKEN), "the job token leaked: {said}");
    assert!(!said.contains(LLM_KEY), "the LLM key leaked: {said}");

    // In each sandbox too, as root or not (here: as its own user).
    let mut modes = vec!["bwrap"];
    if crate::agent::sandbox::landlock_works() {
        modes.push("landlock");
    }
    for mode in modes {
        let path = ("PATH", "/usr/local/bin:/usr/bin:/bin");
        let said = thief_in_the_job(&bot, &[("AGENT_SANDBOX", mode), path]).await;
        // bwrap shows only the sandbox's own processes; Landlock no /proc at all.
        assert!(!said.contains("thief: found"), "{mode}: {said}");
    }

    // (The log redacts what the thief printed; the thief finding it is the point.)
    let said = thief_in_the_job(&bot, &[("AGENT_SANDBOX", "off"), ("AGENT_UID", "0")]).await;
    assert!(
        said.contains("thief: found INPUT_GITHUB-TOKEN="),
        "as root the thief finds the token: {said}"
    );
    bot.finish().await;
}

/// With inputs `app-id` and `private-key`, the job acts as the App: it finds the App's installation on
/// the repository, and clones, pushes and comments with installation tokens (so the repository's CI would
/// run on the pull request), as `<app-slug>[bot]`. The job token is never used: the one given here is
/// unknown to GitHub, so any use of it would be refused. The outputs name the branch and the evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_app_id_and_private_key_the_job_acts_as_the_app_and_names_its_branch() {
    let bot = Bot::world().await;
    let mut job = bot.action_job("issues", &bot.labeled_event());
    let key = std::fs::read_to_string(crate::support::fixture_path("keys/test-app.pem"))
        .expect("the test App's key");
    job.set("INPUT_APP-ID", &TEST_APP_ID.to_string())
        .set("INPUT_PRIVATE-KEY", &key)
        .set("INPUT_GITHUB-TOKEN", "ghs_unknownToGitHub000")
        .set("GITHUB_TOKEN", "ghs_unknownToGitHub000");
    let finished = bot.run_action(&job).await;
    assert_eq!(finished.code, Some(0), "{finished:#?}");

    let pull = bot.pr();
    let outputs = &finished.outputs;
    assert!(
        outputs.contains(&format!("pr-number={}\n", pull.number)),
        "{outputs}"
    );
    assert!(
        outputs.contains(&format!("branch-name={BRANCH}\n"))
            && outputs.contains(&format!("evidence-dir=.metagpt/runs/{ISSUE}/1\n")),
        "{outputs}"
    );
    let comments = bot.github.state().comments_on(FULL_NAME, ISSUE);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert_eq!(comments[0].user.login, format!("{TEST_APP_SLUG}[bot]"));
    assert!(comments[0].body.contains("**Done**"));
    assert!(
        bot.asked("GET", &format!("/repos/{FULL_NAME}/installation")),
        "the installation was looked up"
    );
    let shown: Vec<&str> = finished
        .stdout
        .lines()
        .chain(finished.stderr.lines())
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    let body_line = key.lines().nth(1).expect("the key's first base64 line");
    assert!(
        !shown.iter().any(|l| l.contains(body_line)),
        "the private key leaked: {shown:?}"
    );
    assert!(
        finished
            .stdout
            .contains(&format!("::add-mask::{body_line}")),
        "each line of the key is masked"
    );
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_id_without_a_private_key_is_a_misconfiguration_exit_2() {
    let bot = Bot::world().await;
    let mut job = bot.action_job("issues", &bot.labeled_event());
    job.set("INPUT_APP-ID", &TEST_APP_ID.to_string());
    let finished = bot.run_action(&job).await;
    assert_eq!(finished.code, Some(2), "{finished:#?}");
    assert!(
        finished
            .stdout
            .contains("inputs `app-id` and `private-key` go together"),
        "{}",
        finished.stdout
    );
    assert!(bot.pulls().is_empty());
    bot.finish().await;
}
