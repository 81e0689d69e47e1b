//! The repository's own trigger label: `.github/metagpt.yml`'s `trigger_label` and `bugfix_labels`,
//! honoured by the App after the webhook was answered (a label check), while labels that mean nothing to
//! the bot leave nothing on GitHub.

use metagpt_bot::queue::JobState;
use serde_json::{Value, json};

use super::fake_github::ReactionOn;
use super::webhook;
use super::world::{FULL_NAME, ISSUE, World};
use super::{BRANCH, bot_comments};

/// `issues.labeled` with `label` on issue #5, which then carries `labels` (on the fake GitHub too).
pub(crate) fn labeled(world: &World, label: &str, labels: &[&str]) -> Value {
    let mut payload = world.labeled();
    webhook::set(&mut payload, "/label/name", json!(label));
    let template = payload["issue"]["labels"][0].clone();
    let all: Vec<Value> = labels
        .iter()
        .map(|name| {
            let mut each = template.clone();
            each["name"] = json!(name);
            each
        })
        .collect();
    webhook::set(&mut payload, "/issue/labels", Value::Array(all));
    let mut state = world.github.state();
    let issue = state.repo_mut(FULL_NAME).issues.get_mut(&ISSUE).unwrap();
    issue.labels = labels.iter().map(|name| name.to_string()).collect();
    payload
}

pub(crate) fn set_settings(world: &World, yaml: &str) {
    world
        .github
        .state()
        .set_file(FULL_NAME, "main", ".github/metagpt.yml", yaml.as_bytes());
}

/// Requests that changed something on GitHub (minting installation tokens aside).
fn writes(world: &World) -> Vec<String> {
    world
        .github
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/access_tokens"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn issue_reactions(world: &World) -> Vec<String> {
    let on = ReactionOn::Issue {
        repo: FULL_NAME.into(),
        number: ISSUE,
    };
    world.github.state().reactions_on(&on)
}

/// Delivers a label check, waits for it, and returns the run job it enqueued (if any).
async fn check(world: &World, payload: &Value) -> Option<i64> {
    let job = world.deliver("issues", payload).await.expect("a check job");
    let outcome = world.wait_for(job, JobState::Done).await.outcome.unwrap();
    outcome["run_job_id"].as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositorys_trigger_label_runs_and_the_default_one_does_nothing_there() {
    let world = World::start().await;
    set_settings(&world, "trigger_label: ai\n");

    // `metagpt` is not this repository's trigger: the run ends before anything visible.
    let default = world
        .deliver("issues", &labeled(&world, "metagpt", &["metagpt"]))
        .await
        .expect("a run job");
    let outcome = world
        .wait_for(default, JobState::Done)
        .await
        .outcome
        .unwrap();
    let skipped = outcome["skipped"].as_str().unwrap_or_default();
    assert!(skipped.contains("`trigger_label: ai`"), "{outcome}");
    assert_eq!(writes(&world), Vec::<String>::new());
    assert!(issue_reactions(&world).is_empty());
    assert!(bot_comments(&world).is_empty());
    assert!(world.llm.requests().is_empty(), "nothing was spent");

    // `AI` is (labels compare case-insensitively): one run, one pull request.
    let run = check(&world, &labeled(&world, "AI", &["metagpt", "AI"]))
        .await
        .expect("the check enqueued a run");
    let info = world.wait_for(run, JobState::Done).await;
    assert_eq!(info.outcome.unwrap()["gates_passed"], true);
    let pulls = world.github.state().pulls_of(FULL_NAME);
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let body = pulls[0].body.clone().unwrap_or_default();
    assert!(body.contains("Closes #5"), "{body}");
    assert_eq!(issue_reactions(&world), ["eyes"], "the run acknowledged");
    assert!(bot_comments(&world)[0].contains("**Done**"));
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositorys_bug_labels_make_the_run_a_bugfix() {
    let world = World::start().await;
    set_settings(&world, "trigger_label: ai\nbugfix_labels: [defect]\n");
    let run = check(&world, &labeled(&world, "ai", &["defect", "ai"]))
        .await
        .expect("the check enqueued a run");
    world.wait_for(run, JobState::Done).await;

    let head = world.branch_head(BRANCH).expect("pushed");
    let repo = git2::Repository::open_bare(&world.bare).unwrap();
    let tree = repo.find_commit(head).unwrap().tree().unwrap();
    let path = |p: &str| tree.get_path(std::path::Path::new(p)).is_ok();
    assert!(
        path("docs/bugfix.txt"),
        "a bugfix run writes docs/bugfix.txt"
    );
    let pulls = world.github.state().pulls_of(FULL_NAME);
    let body = pulls[0].body.clone().unwrap_or_default();
    assert!(body.contains("Fixes #5"), "{body}");
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrelated_label_is_checked_quietly_and_leaves_nothing_on_github() {
    let world = World::start().await;
    let (status, answer) = world
        .deliver_answer(
            "issues",
            &labeled(&world, "documentation", &["documentation"]),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["outcome"], "accepted", "{answer}");
    assert_eq!(answer["action"], "label", "{answer}");
    assert_eq!(answer["queued_behind"], 0, "{answer}");
    let job = answer["job_id"].as_i64().expect("the check's job id");

    let info = world.wait_for(job, JobState::Done).await;
    let outcome = info.outcome.unwrap();
    assert_eq!(outcome["started"], false, "{outcome}");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not the trigger label `metagpt`"),
        "{outcome}"
    );
    assert_eq!(info.action, "label");
    assert_eq!(writes(&world), Vec::<String>::new());
    assert!(issue_reactions(&world).is_empty());
    assert!(bot_comments(&world).is_empty());
    world.github.assert_no_unexpected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_check_with_an_invalid_settings_file_stays_quiet() {
    let world = World::start().await;
    set_settings(&world, "trigger_label: ai\nn_rounds: 3\n");
    let payload = labeled(&world, "ai", &["ai"]);
    let job = world
        .deliver("issues", &payload)
        .await
        .expect("a check job");
    let outcome = world.wait_for(job, JobState::Done).await.outcome.unwrap();
    assert_eq!(outcome["started"], false, "{outcome}");
    let reason = outcome["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("line 2, column 1"), "{outcome}");
    assert_eq!(writes(&world), Vec::<String>::new());
    assert!(bot_comments(&world).is_empty());
    world.github.assert_no_unexpected();
}
