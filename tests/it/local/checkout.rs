//! Where a local run branches from and what it leaves checked out: a new `metagpt/local-<slug>` starts
//! from the user's checked-out commit (local commits the remote does not have included), and once the run
//! has committed, the user's branch (or detached commit) is checked out again, clean; a run that failed
//! leaves its branch checked out with MetaGPT's work for inspection, and says how to get back.

use super::*;

/// `<root>/origin.git`, a bare clone of the fixture's repository, as its `origin` (fetched, with
/// `origin/HEAD`): the remote's default branch is at the seed.
fn add_origin(fx: &Fixture) -> git2::Oid {
    let bare = fx.root.path().join("origin.git");
    git2::build::RepoBuilder::new()
        .bare(true)
        .clone(fx.repo.to_str().unwrap(), &bare)
        .expect("bare clone");
    let git = fx.git();
    let mut remote = git
        .remote("origin", bare.to_str().unwrap())
        .expect("remote");
    remote
        .fetch(&["+refs/heads/*:refs/remotes/origin/*"], None, None)
        .expect("fetch");
    let branch = checked_out(fx);
    git.reference_symbolic(
        "refs/remotes/origin/HEAD",
        &format!("refs/remotes/origin/{branch}"),
        true,
        "origin's default branch",
    )
    .expect("origin/HEAD");
    git.refname_to_id("refs/remotes/origin/HEAD")
        .expect("origin tip")
}

#[tokio::test]
async fn a_run_branches_from_the_local_commit_and_gives_the_checkout_back() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let origin = add_origin(&fx);
    std::fs::write(fx.repo.join("shop/prices.py"), "PRICES = {}\n").unwrap();
    let local = fixture::commit_all(&fx.repo, "local work, not pushed");
    assert_eq!(origin, fx.seed);
    let before = checked_out(&fx);

    let ran = run_requirement(&fx, &llm, None).await;
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    let git = fx.git();
    let branch = format!("metagpt/local-{SLUG}");
    let tip = branch_tip(&fx, &branch);
    assert_eq!(
        git.find_commit(tip).unwrap().parent_id(0).unwrap(),
        local,
        "the run's commit sits on the user's local commit, not on origin's tip"
    );
    assert_eq!(
        file_in(&git, tip, "shop/prices.py").as_deref(),
        Some("PRICES = {}\n")
    );
    assert_eq!(checked_out(&fx), before, "back on the user's branch");
    assert_eq!(
        git.head().unwrap().peel_to_commit().unwrap().id(),
        local,
        "at the user's commit"
    );
    assert!(
        fixture_clean(&fx),
        "the work tree is the user's commit again"
    );
    assert!(
        !fx.repo.join("shop/feature.py").exists(),
        "the run's work is on its branch only"
    );
}

#[tokio::test]
async fn a_detached_checkout_is_given_back_detached() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let git = fx.git();
    git.set_head_detached(fx.seed).unwrap();
    let before = checked_out(&fx);

    let ran = run_requirement(&fx, &llm, None).await;
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert_eq!(checked_out(&fx), before);
    assert!(
        ran.stdout.contains(&format!(
            "back on the detached commit {}",
            &fx.seed.to_string()[..12]
        )),
        "{}",
        ran.stdout
    );
    let tip = branch_tip(&fx, &format!("metagpt/local-{SLUG}"));
    assert_eq!(git.find_commit(tip).unwrap().parent_id(0).unwrap(), fx.seed);
}

#[tokio::test]
async fn a_failed_run_leaves_its_branch_checked_out_and_says_how_to_get_back() {
    let fx = Fixture::new(true);
    let llm = ScriptedLlm::start().await;
    llm.set_fallback(|_| Reply::error(500, "upstream broke"));
    let before = checked_out(&fx);
    let ran = run_requirement(&fx, &llm, None).await;
    assert_eq!(ran.code, 1, "stderr:\n{}", ran.stderr);
    let branch = format!("metagpt/local-{SLUG}");
    assert_eq!(checked_out(&fx), branch, "left on the run's branch");
    assert!(
        ran.stderr
            .contains(&format!("`git checkout {before}` gets you back")),
        "{}",
        ran.stderr
    );
    assert!(
        fx.repo.join("docs/requirement.txt").is_file(),
        "MetaGPT's work is left for inspection"
    );
}
