//! A requirement with no configuration on each real project, then, once the maintainer merged the bot's
//! branch into `main`, a bug report in the same module: both runs give a commit a maintainer would merge
//! (the second on a repository where MetaGPT wrote one file of many, the state after its first PR).

use super::Bed;
use crate::support::projects::Project;
use crate::support::sop_llm::changes;
use crate::support::sop_llm::harness::metagpt_python;

async fn requirement_then_bug_report_after_the_merge(project: Project) {
    let Some(python) = metagpt_python() else {
        return;
    };
    let bed = Bed::new(project, python).await;

    let requirement = changes::requirement(project, &bed.repo);
    let out = bed.repo.with_file_name("out-requirement");
    let done = bed.run("--requirement", requirement.clone(), &out).await;
    bed.assert_mergeable(&done, &requirement);
    bed.merge(&done);

    // The bug's scripted fix is built on the merged file, as a model would read it.
    let bug = changes::bug_report(project, &bed.repo);
    let out = bed.repo.with_file_name("out-bug");
    let fixed = bed.run("--bugfix", bug.clone(), &out).await;
    assert_ne!(
        fixed.branch, done.branch,
        "the bug report has its own branch"
    );
    bed.assert_mergeable(&fixed, &bug);
}

#[tokio::test]
async fn iniconfig_src_layout_requirement_then_bug_report_after_the_merge() {
    requirement_then_bug_report_after_the_merge(Project::Iniconfig).await;
}

#[tokio::test]
async fn jmespath_package_named_unlike_its_repository_requirement_then_bug_report_after_the_merge()
{
    requirement_then_bug_report_after_the_merge(Project::Jmespath).await;
}

#[tokio::test]
async fn slugify_module_named_like_its_package_requirement_then_bug_report_after_the_merge() {
    requirement_then_bug_report_after_the_merge(Project::Slugify).await;
}
