//! A `.github/metagpt.yml` the bot cannot even read as text (not UTF-8, over GitHub's 1 MB contents
//! limit) is the repository's mistake: reported on the issue with what to do, not retried, nothing spent.

use metagpt_bot::queue::JobState;

use crate::support::bot::Bot;

/// Serves `content` as the repository's settings, labels the issue, and returns the progress comment
/// of the failed run after checking that nothing ran.
async fn fails_with(content: &[u8]) -> String {
    let bot = Bot::start().await;
    bot.set_settings(content);
    let job = bot.label().await;
    let info = bot.wait_for(job, JobState::Failed).await;
    assert_eq!(info.attempts, 1, "the repository's mistake is not retried");
    let comments = bot.comments();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let progress = comments[0].clone();
    assert!(progress.contains("**Failed**"), "{progress}");
    assert!(progress.contains("`.github/metagpt.yml`"), "{progress}");
    assert!(progress.contains("`/metagpt retry`"), "{progress}");
    assert_eq!(bot.llm_calls(), 0, "nothing was spent");
    assert!(bot.branch_head().is_none());
    bot.finish().await;
    progress
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_config_that_is_not_utf8_is_reported_on_the_issue() {
    let progress = fails_with(b"n_round: 3\n# caf\xe9 (Latin-1)\n").await;
    assert!(progress.contains("is not UTF-8 text"), "{progress}");
    assert!(progress.contains("save it as UTF-8"), "{progress}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_config_over_one_megabyte_is_reported_on_the_issue() {
    let padding = "# a comment to pad the file\n".repeat(40_000);
    assert!(padding.len() > 1024 * 1024);
    let progress = fails_with(format!("n_round: 3\n{padding}").as_bytes()).await;
    assert!(progress.contains("over 1 MB"), "{progress}");
    assert!(progress.contains("keep it smaller"), "{progress}");
}
