//! metagpt-bot: turns labelled GitHub issues into incremental MetaGPT runs and reviewable pull requests.
//!
//! The layout follows what a person looks for (see `docs/design.md`); dependencies point one way:
//! faces → {http, jobs} → {github, queue, run} → {workspace, repo_config} → {domain, marks, config,
//! telemetry, sanitize, redact, env_file}; inside `run`: its own files → evidence → {agent, gateway}.

pub mod config;
pub mod domain;
pub mod env_file;
pub mod faces;
pub mod github;
pub mod http;
pub mod jobs;
pub mod marks;
pub mod queue;
pub mod redact;
pub mod repo_config;
pub mod run;
pub mod sanitize;
pub mod telemetry;
pub mod workspace;

/// The house rules that a compiler does not check: dependencies point one way, and no two files of a
/// module use each other (the module's `mod.rs`, its face, may use its files and they it).
#[cfg(test)]
mod house {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Each top-level module's layer; a module may use only modules of lower layers, or the peers named
    /// in [`PEERS`]. Inside `run`, the run's own files use its agent, gateway and evidence, evidence uses
    /// the gateway's ledger, and nothing inside uses `run` itself.
    const LAYERS: &[(&str, u32)] = &[
        ("domain", 0),
        ("marks", 0),
        ("config", 0),
        ("env_file", 0),
        ("telemetry", 0),
        ("sanitize", 0),
        ("redact", 0),
        ("workspace", 1),
        ("repo_config", 1),
        ("run::agent", 2),
        ("run::gateway", 2),
        ("run::project", 2),
        ("run::evidence", 3),
        ("github", 4),
        ("queue", 4),
        ("run", 4),
        ("http", 5),
        ("jobs", 5),
        ("faces", 6),
    ];
    const PEERS: &[(&str, &str)] = &[
        ("marks", "domain"),
        ("telemetry", "config"),
        ("repo_config", "workspace"),
        ("run::project", "run::agent"),
    ];

    fn layer(module: &str) -> (&'static str, u32) {
        let found = LAYERS
            .iter()
            .filter(|(name, _)| module == *name || module.starts_with(&format!("{name}::")));
        *found
            .max_by_key(|(name, _)| name.len())
            .unwrap_or_else(|| panic!("no layer for {module}"))
    }

    /// Every `.rs` file under `src/` (but `main.rs` and `lib.rs`) as (module path, file path, text).
    fn files() -> Vec<(String, String, String)> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, String, String)>) {
            for entry in std::fs::read_dir(dir).expect("src") {
                let path = entry.expect("entry").path();
                let name = path
                    .file_stem()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                if path.is_dir() {
                    walk(&path, &format!("{prefix}{name}::"), out);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !["main", "lib"].contains(&name.as_str())
                {
                    let module = if name == "mod" {
                        prefix.trim_end_matches("::").to_owned()
                    } else {
                        format!("{prefix}{name}")
                    };
                    let text = std::fs::read_to_string(&path).expect("read");
                    out.push((module, path.display().to_string(), text));
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            "",
            &mut out,
        );
        out
    }

    /// The `crate::…` paths a file's code names (comments skipped), and its `super::x` siblings.
    fn uses(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let path = regex::Regex::new(r"\bcrate::((?:[a-z_]+::)*[a-z_]+)").expect("regex");
        let sibling = regex::Regex::new(r"\bsuper::([a-z_]+)\b").expect("regex");
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        let crate_paths = path.captures_iter(code).map(|c| c[1].to_owned()).collect();
        let mut siblings: BTreeSet<String> = sibling
            .captures_iter(code)
            .map(|c| c[1].to_owned())
            .collect();
        let braced = regex::Regex::new(r"\bsuper::\{([^}]*)\}").expect("regex");
        for list in braced.captures_iter(code) {
            for item in list[1].split(',') {
                let name = item.trim().split("::").next().unwrap_or_default();
                let module_name = name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                if !name.is_empty() && name != "self" && module_name {
                    siblings.insert(name.to_owned());
                }
            }
        }
        (crate_paths, siblings)
    }

    fn upward_imports(files: &[(String, String, String)]) -> Vec<String> {
        let mut wrong = Vec::new();
        for (module, file, text) in files {
            let (mine, my_layer) = layer(module);
            for used in uses(text).0 {
                let (theirs, their_layer) = layer(&used);
                let peer = PEERS.contains(&(mine, theirs));
                if theirs != mine && !peer && their_layer >= my_layer {
                    wrong.push(format!("{file}: {module} (layer {my_layer}) uses crate::{used} (layer {their_layer})"));
                }
            }
        }
        wrong
    }

    fn file_cycles(files: &[(String, String, String)]) -> Vec<String> {
        let modules: BTreeSet<&str> = files.iter().map(|(m, _, _)| m.as_str()).collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, _, text) in files {
            let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
            for sibling in uses(text).1 {
                let target = if parent.is_empty() {
                    sibling
                } else {
                    format!("{parent}::{sibling}")
                };
                if modules.contains(target.as_str())
                    && target != parent
                    && !modules
                        .iter()
                        .any(|m| m.starts_with(&format!("{module}::")))
                {
                    edges.entry(module.clone()).or_default().insert(target);
                }
            }
        }
        // A file is on a cycle when it can reach itself; each cycle is named by its files, in order.
        let mut cycles = BTreeSet::new();
        for start in edges.keys() {
            let mut stack = vec![vec![start.clone()]];
            while let Some(path) = stack.pop() {
                for next in edges.get(path.last().expect("path")).into_iter().flatten() {
                    if next == start {
                        let mut cycle = path.clone();
                        let first = cycle
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, m)| *m)
                            .map_or(0, |(i, _)| i);
                        cycle.rotate_left(first);
                        cycles.insert(cycle.join(" → "));
                    } else if !path.contains(next) {
                        stack.push([path.clone(), vec![next.clone()]].concat());
                    }
                }
            }
        }
        cycles.into_iter().collect()
    }

    #[test]
    fn dependencies_point_one_way() {
        let wrong = upward_imports(&files());
        assert!(
            wrong.is_empty(),
            "imports against the layers:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn no_two_files_of_a_module_use_each_other() {
        let cycles = file_cycles(&files());
        assert!(cycles.is_empty(), "file cycles:\n{}", cycles.join("\n"));
    }

    #[test]
    fn a_planted_upward_import_and_a_planted_cycle_are_caught() {
        let mut files = files();
        files.push((
            "queue::planted".into(),
            "src/queue/planted.rs".into(),
            "use crate::jobs::Failure;".into(),
        ));
        assert_eq!(
            upward_imports(&files).len(),
            1,
            "{:?}",
            upward_imports(&files)
        );
        files.push(("queue::a".into(), "a.rs".into(), "use super::b::X;".into()));
        files.push((
            "queue::b".into(),
            "b.rs".into(),
            "use super::{a::Y, c};".into(),
        ));
        files.push((
            "queue::c".into(),
            "c.rs".into(),
            "use super::{Queue, a};".into(),
        ));
        assert_eq!(
            file_cycles(&files),
            ["queue::a → queue::b", "queue::a → queue::b → queue::c"]
        );
        let peer = "use crate::queue::Queue;";
        files.push(("run::planted".into(), "r.rs".into(), peer.into()));
        assert_eq!(upward_imports(&files).len(), 2, "a peer of the same layer");
    }
}
