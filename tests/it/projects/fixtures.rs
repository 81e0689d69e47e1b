//! The vendored projects are the pinned upstream trees, cloned as a maintainer has them, and the facts the
//! end-to-end tests check a run against agree with those trees.

use crate::support::projects::{Project, git};

/// The upstream tree ids (`tests/fixtures/projects/README.md`).
fn upstream_tree(project: Project) -> &'static str {
    match project {
        Project::Iniconfig => "47bf57eba5e000b683de54cdcdf499dc07748778",
        Project::Jmespath => "2ec8f174f5ffd5ad768e81286bf55c668e424b5d",
        Project::Slugify => "964a93edaaf1d317fd0de7e9d43c69435d071d0e",
    }
}

#[test]
fn each_project_is_its_upstream_tree_on_main_with_origin_and_the_layout_the_tests_expect() {
    let dir = tempfile::tempdir().expect("tempdir");
    for project in Project::ALL {
        let work = project.clone_into(dir.path());
        let name = project.repo_name();
        assert_eq!(work.file_name().and_then(|n| n.to_str()), Some(name));
        assert_eq!(
            git(&work, &["rev-parse", "HEAD^{tree}"]).trim(),
            upstream_tree(project)
        );
        assert_eq!(
            git(&work, &["rev-list", "--count", "HEAD"]).trim(),
            "1",
            "{name}"
        );
        assert_eq!(
            git(&work, &["symbolic-ref", "HEAD"]).trim(),
            "refs/heads/main"
        );
        let origin = git(&work, &["remote", "get-url", "origin"]);
        assert_eq!(
            origin.trim(),
            project.bare(dir.path()).display().to_string()
        );
        assert!(git(&work, &["status", "--porcelain"]).is_empty(), "{name}");

        let source = work.join(project.source_dir());
        assert!(source.join("__init__.py").is_file(), "{name}: no package");
        let import_root = work.join(project.import_root());
        assert_eq!(source, import_root.join(project.package()), "{name}");
        for file in project.dependency_files() {
            assert!(work.join(file).is_file(), "{name}: no {file}");
        }
        let suite_target = project.suite().last().expect("a suite");
        assert!(
            work.join(suite_target).exists(),
            "{name}: no {suite_target}"
        );
        assert!(
            !work.join(".github/metagpt.yml").exists(),
            "{name} is configured"
        );
        assert!(!work.join(project.spec_dir()).exists(), "{name} has a spec");
    }
}
