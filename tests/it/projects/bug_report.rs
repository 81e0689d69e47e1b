//! A bug report with no configuration on each real project MetaGPT never worked on (no spec, no
//! `.dependencies.json`): the run gives a commit a maintainer would merge.

use super::Bed;
use crate::support::projects::Project;
use crate::support::sop_llm::changes;
use crate::support::sop_llm::harness::metagpt_python;

async fn bug_report_on_the_untouched_repository(project: Project) {
    let Some(python) = metagpt_python() else {
        return;
    };
    let bed = Bed::new(project, python).await;
    let bug = changes::bug_report(project, &bed.repo);
    let out = bed.repo.with_file_name("out-bug");
    let done = bed.run("--bugfix", bug.clone(), &out).await;
    bed.assert_mergeable(&done, &bug);
}

#[tokio::test]
async fn iniconfig_bug_report_on_the_untouched_repository() {
    bug_report_on_the_untouched_repository(Project::Iniconfig).await;
}

#[tokio::test]
async fn jmespath_bug_report_on_the_untouched_repository() {
    bug_report_on_the_untouched_repository(Project::Jmespath).await;
}

#[tokio::test]
async fn slugify_bug_report_on_the_untouched_repository() {
    bug_report_on_the_untouched_repository(Project::Slugify).await;
}
