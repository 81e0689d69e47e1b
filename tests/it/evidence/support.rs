//! Shared set-up for the evidence tests: a copy of `tests/fixtures/metagpt_run/repo` in a temporary
//! directory, the paths the run changed, and gate inputs that pass.

use std::path::{Path, PathBuf};

use metagpt_bot::domain::Kind;
use metagpt_bot::run::evidence::{
    Budget, GateInputs, GateReport, Places, ReviewVerdict, Verdict, collect, evaluate,
};

pub const SOURCE_DIR: &str = "calc";

pub struct Run {
    pub dir: tempfile::TempDir,
    pub changed: Vec<String>,
    pub reviews: Vec<ReviewVerdict>,
    pub protected: Vec<String>,
    pub known: Vec<String>,
    pub budget: Budget,
    pub kind: Kind,
}

impl Run {
    /// The fixture repository as the run left it; every file but `.gitignore` counts as changed.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(&fixture_path("repo"), dir.path());
        let mut changed = Vec::new();
        list_files(dir.path(), dir.path(), &mut changed);
        changed.retain(|p| p != ".gitignore");
        changed.sort();
        let reviews = ["history.py", "calculator.py", "main.py"]
            .iter()
            .map(|f| ReviewVerdict {
                file: (*f).into(),
                verdict: Verdict::Lgtm,
            })
            .collect();
        Self {
            dir,
            changed,
            reviews,
            protected: Vec::new(),
            known: vec!["sk-provider-key-0123456789".into()],
            budget: Budget {
                spent_usd: 0.0019,
                max_usd: 3.0,
                exhausted: false,
            },
            kind: Kind::Requirement,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `path` in the repository and marks it changed.
    pub fn write(&mut self, path: &str, contents: &str) {
        let full = self.root().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, contents).expect("write");
        if !self.changed.iter().any(|p| p == path) {
            self.changed.push(path.to_owned());
        }
    }

    pub fn gates(&self) -> GateReport {
        let artifacts = collect(self.root(), &Places::default(), &self.changed).expect("collect");
        evaluate(self.root(), &artifacts, &self.inputs())
    }

    pub fn inputs(&self) -> GateInputs<'_> {
        GateInputs {
            kind: self.kind,
            source_dir: SOURCE_DIR,
            changed_paths: &self.changed,
            reviews: &self.reviews,
            code_review: true,
            run_tests: true,
            budget: self.budget,
            protected_touched: &self.protected,
            known_secrets: &self.known,
        }
    }
}

/// `tests/fixtures/metagpt_run/<relative>`.
pub fn fixture_path(relative: &str) -> PathBuf {
    crate::support::fixture_path("metagpt_run").join(relative)
}

/// The gate's detail when it failed; panics with the whole report when it passed.
pub fn failed_detail(report: &GateReport, name: &str) -> String {
    let gate = report.get(name).unwrap_or_else(|| panic!("no gate {name}"));
    assert!(!gate.passed, "{name} should fail: {report:#?}");
    assert!(!report.passed);
    gate.detail.clone()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if path.is_dir() {
            list_files(root, &path, out);
        } else {
            let relative = path.strip_prefix(root).expect("prefix");
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}
