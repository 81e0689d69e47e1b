//! The provider key stays in the bot's process: it reaches neither the repository, the commit, the `--out`
//! files, the output, nor any prompt the LLM saw.

use super::*;

#[tokio::test]
async fn the_real_key_never_reaches_the_repository_the_commit_the_out_files_or_stderr() {
    let fx = Fixture::new(true);
    let llm = llm().await;
    let out = fx.root.path().join("out");
    let ran = run_requirement(&fx, &llm, Some(&out)).await;
    assert_eq!(ran.code, 0, "stderr:\n{}", ran.stderr);
    assert!(!ran.stderr.contains(KEY) && !ran.stdout.contains(KEY));
    let git = fx.git();
    let tip = branch_tip(&fx, &format!("metagpt/local-{SLUG}"));
    let files = all_files(&git, tip);
    assert!(files.len() > 10, "{} files", files.len());
    for (path, text) in files {
        assert!(!text.contains(KEY), "{path} holds the key");
    }
    assert!(
        !git.find_commit(tip)
            .unwrap()
            .message()
            .unwrap()
            .contains(KEY)
    );
    for entry in walk(&fx.repo).into_iter().chain(walk(&out)) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY),
            "{} holds the key",
            entry.display()
        );
    }
    for request in llm.requests() {
        assert!(
            !String::from_utf8_lossy(&request.raw).contains(KEY),
            "key in a prompt"
        );
    }
}

/// Every regular file under `dir`, `.git` included (loose objects are compressed, so the commit is
/// checked through git above).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files.extend(walk(&entry.path()));
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    files
}
