//! Each rule of `.github/metagpt.yml`, as a repository owner would meet it.

use super::*;

fn error(text: &str) -> RepoConfigError {
    match RepoConfig::parse(text) {
        Ok(config) => panic!("{text:?} parsed as {config:?}"),
        Err(error) => error,
    }
}

fn position(e: &RepoConfigError) -> (Option<usize>, Option<usize>) {
    (e.line, e.column)
}

#[test]
fn an_empty_file_or_only_comments_means_the_defaults() {
    for text in [
        "",
        "\n\n",
        "# settings\n   # none yet\n",
        "---\n# nothing\n",
        "---\n...\n",
    ] {
        assert_eq!(
            RepoConfig::parse(text).unwrap(),
            RepoConfig::default(),
            "{text:?}"
        );
    }
    let defaults = RepoConfig::default();
    assert_eq!(defaults.trigger_label, "metagpt");
    assert_eq!(defaults.bugfix_labels, ["bug", "bugfix"]);
    assert_eq!(defaults.source_dir, None);
    assert_eq!(defaults.n_round, 20);
    assert_eq!(defaults.max_cost_usd, 3.0);
    assert!(defaults.code_review && defaults.run_tests);
    assert_eq!(defaults.protected_paths, [".github/workflows/**"]);
    assert_eq!(defaults.llm_model, None);
}

#[test]
fn every_key_can_be_set_and_unset_keys_keep_their_defaults() {
    let text = "trigger_label: ai\nbugfix_labels: [defect]\nsource_dir: src/app/\nn_round: 12\n\
                max_cost_usd: 1.5\ncode_review: false\nrun_tests: no\nprotected_paths:\n  - infra/**\n\
                llm_model: gpt-4o\n";
    let config = RepoConfig::parse(text).unwrap();
    assert_eq!(
        config,
        RepoConfig {
            trigger_label: "ai".into(),
            bugfix_labels: vec!["defect".into()],
            source_dir: Some("src/app".into()),
            n_round: 12,
            max_cost_usd: 1.5,
            code_review: false,
            run_tests: false,
            protected_paths: vec!["infra/**".into()],
            llm_model: Some("gpt-4o".into()),
        }
    );
    let partial = RepoConfig::parse("n_round: 9\nsource_dir: ~\n").unwrap();
    assert_eq!(
        partial,
        RepoConfig {
            n_round: 9,
            ..RepoConfig::default()
        }
    );
}

#[test]
fn an_unknown_key_is_reported_where_it_stands_with_the_likely_fix() {
    let e = error("trigger_label: metagpt\ncode_review: true\nn_rounds: 30\n");
    assert_eq!(position(&e), (Some(3), Some(1)));
    assert!(
        e.message.starts_with("unknown key `n_rounds`; did you mean `n_round`? Known keys: trigger_label, bugfix_labels,"),
        "{}",
        e.message
    );
    assert_eq!(
        e.to_string(),
        format!("`.github/metagpt.yml` line 3, column 1: {}", e.message)
    );
    let e = error("colour: blue\n");
    assert!(
        e.message
            .starts_with("unknown key `colour`; remove it. Known keys:"),
        "{}",
        e.message
    );
    let e = error("max-cost-usd: 2\n");
    assert!(
        e.message.contains("did you mean `max_cost_usd`?"),
        "{}",
        e.message
    );
}

#[test]
fn a_value_of_the_wrong_type_is_an_error_at_that_value() {
    let e = error("code_review: true\nn_round: twenty\n");
    assert_eq!(position(&e), (Some(2), Some(10)), "{e}");
    assert!(
        e.message
            .starts_with("`n_round` must be a whole number from 1 to 100, e.g. `n_round: 20`"),
        "{e}"
    );
    let e = error("bugfix_labels: bug\n");
    assert_eq!(position(&e), (Some(1), Some(16)), "{e}");
    assert!(e.message.contains("`bugfix_labels: [bug, bugfix]`"), "{e}");
    let e = error("protected_paths:\n  - ok/**\n  - [nested]\n");
    assert_eq!(position(&e), (Some(3), Some(5)), "{e}");
    assert!(
        e.message
            .starts_with("`protected_paths` must be a list of globs"),
        "{e}"
    );
    let e = error("code_review: maybe\n");
    assert!(
        e.message.starts_with("`code_review` must be true or false"),
        "{e}"
    );
    let e = error("- a list\n- not a mapping\n");
    assert_eq!(position(&e), (Some(1), Some(1)), "{e}");
    assert!(
        e.message
            .contains("must be a mapping of settings such as `n_round: 20`"),
        "{e}"
    );
}

#[test]
fn a_key_set_twice_is_an_error() {
    let e = error("n_round: 5\nn_round: 6\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("`n_round` is set twice"), "{e}");
}

#[test]
fn n_round_is_from_1_to_100() {
    for ok in [1, 100] {
        assert_eq!(
            RepoConfig::parse(&format!("n_round: {ok}"))
                .unwrap()
                .n_round,
            ok
        );
    }
    for bad in ["0", "101", "-3", "99999999999"] {
        let e = error(&format!("run_tests: true\nn_round: {bad}\n"));
        assert_eq!(position(&e), (Some(2), Some(10)), "{e}");
        assert!(e.message.contains("from 1 to 100"), "{e}");
    }
}

#[test]
fn max_cost_usd_is_a_finite_amount_above_zero() {
    assert_eq!(
        RepoConfig::parse("max_cost_usd: 0.25")
            .unwrap()
            .max_cost_usd,
        0.25
    );
    assert_eq!(
        RepoConfig::parse("max_cost_usd: 7").unwrap().max_cost_usd,
        7.0
    );
    for bad in ["0", "-1", ".inf", ".nan"] {
        let e = error(&format!("max_cost_usd: {bad}\n"));
        assert_eq!(position(&e), (Some(1), Some(15)), "{e}");
        assert!(e.message.contains("above 0"), "{e}");
    }
}

#[test]
fn source_dir_is_a_relative_folder_inside_the_repository() {
    let dir = |text: &str| RepoConfig::parse(text).unwrap().source_dir;
    assert_eq!(dir("source_dir: app"), Some("app".into()));
    assert_eq!(dir("source_dir: ./src/app/"), Some("src/app".into()));
    for bad in ["/etc", "../elsewhere", "src/../../x", "''", "'C:\\code'"] {
        let e = error(&format!("source_dir: {bad}\n"));
        assert_eq!(position(&e), (Some(1), Some(13)), "{bad}: {e}");
        assert!(e.message.contains("inside the repository"), "{e}");
    }
}

#[test]
fn protected_paths_must_be_valid_globs_and_replace_the_default() {
    let globs = RepoConfig::parse("protected_paths: ['.github/**', 'secrets/*.env']")
        .unwrap()
        .protected_paths;
    assert_eq!(globs, [".github/**", "secrets/*.env"]);
    let e = error("protected_paths:\n  - ok/**\n  - 'broken/[a'\n");
    assert_eq!(position(&e), (Some(3), Some(5)), "{e}");
    assert!(
        e.message.contains("broken/[a") && e.message.contains("write globs like"),
        "{e}"
    );
    let e = error("protected_paths: ['']\n");
    assert!(e.message.contains("empty glob"), "{e}");
}

#[test]
fn labels_and_the_model_must_not_be_empty() {
    let e = error("trigger_label: '  '\n");
    assert_eq!(position(&e), (Some(1), Some(16)), "{e}");
    let e = error("bugfix_labels: [bug, '']\n");
    assert_eq!(e.line, Some(1), "{e}");
    assert!(e.message.contains("`bugfix_labels`"), "{e}");
    let long = "x".repeat(51);
    assert!(
        error(&format!("trigger_label: {long}\n"))
            .message
            .contains("1 to 50")
    );
    let e = error("llm_model: ''\n");
    assert!(e.message.contains("`llm_model` is empty"), "{e}");
}

#[test]
fn control_characters_in_the_file_never_reach_the_message() {
    let e = error("\"\\u001b[31mtrigger\": x\n");
    assert!(
        e.message.starts_with("unknown key `\\u{1b}[31mtrigger`"),
        "{e:?}"
    );
    assert!(!e.to_string().chars().any(char::is_control), "{e:?}");
}

#[test]
fn the_example_file_documents_every_key_and_parses() {
    let text = include_str!("../../config/metagpt.example.yml");
    assert_eq!(
        RepoConfig::parse(text).unwrap(),
        RepoConfig::default(),
        "the example shows the defaults"
    );
    for key in [
        "trigger_label",
        "bugfix_labels",
        "source_dir",
        "n_round",
        "max_cost_usd",
        "code_review",
        "run_tests",
        "protected_paths",
        "llm_model",
    ] {
        assert!(
            text.contains(&format!("\n{key}: ")) || text.contains(&format!("\n{key}:\n")),
            "the example lacks `{key}`"
        );
    }
}

#[test]
fn the_trigger_label_is_compared_ascii_case_insensitively() {
    let mut config = RepoConfig::default();
    assert!(config.is_trigger("MetaGPT"));
    config.trigger_label = "ai-help".into();
    assert!(!config.is_trigger("metagpt"));
    assert!(config.is_trigger("AI-Help"));
}
