//! Settings as an operator writes them: defaults, secrets, files, bad values.
use super::*;
use base64::Engine as _;

#[test]
fn defaults_match_the_contract() {
    let s = Settings::from_pairs([]).unwrap();
    assert_eq!(s.webhook_path, "/api/github/webhooks");
    assert_eq!((s.host.as_str(), s.port), ("0.0.0.0", 3000));
    assert_eq!(s.database_url.expose_secret(), DEFAULT_DATABASE_URL);
    assert_eq!(s.github_api_url, DEFAULT_GITHUB_API_URL);
    assert_eq!(s.workers, 2);
    assert_eq!(s.log_format, LogFormat::Pretty);
    assert_eq!(s.problems().len(), 3, "{:?}", s.problems());
}

#[test]
fn secrets_rotate_and_never_show_in_debug() {
    let s = Settings::from_pairs([
        ("WEBHOOK_SECRET", "old-secret, new-secret"),
        ("DATABASE_URL", "postgres://u:hunter2@db/x"),
    ])
    .unwrap();
    assert_eq!(s.webhook_secrets.len(), 2);
    assert_eq!(s.webhook_secrets[1].expose_secret(), "new-secret");
    let shown = format!("{s:?}");
    assert!(
        !shown.contains("old-secret") && !shown.contains("hunter2"),
        "{shown}"
    );
}

#[test]
fn private_key_accepts_base64_and_explains_garbage() {
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----";
    let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
    let s = Settings::from_pairs([("PRIVATE_KEY", b64.as_str())]).unwrap();
    assert_eq!(s.private_key.unwrap().expose_secret(), pem);
    let s = Settings::from_pairs([("PRIVATE_KEY", "not a key")]).unwrap();
    let problems = s.problems();
    assert!(
        problems
            .iter()
            .any(|p| p.what.contains("PRIVATE_KEY is not usable")),
        "{problems:?}"
    );
}

#[test]
fn bad_values_name_their_key() {
    let err = Settings::from_pairs([("PORT", "eighty")]).unwrap_err();
    assert!(err.contains("PORT"), "{err}");
}

#[test]
fn file_keys_are_checked_and_env_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.toml");
    std::fs::write(&path, "PORT = 8080\nWORKERS = 4\n").unwrap();
    let s = Settings::from_figment(
        Figment::new()
            .merge(Toml::file_exact(&path))
            .merge(("WORKERS", 7)),
    )
    .unwrap();
    assert_eq!((s.port, s.workers), (8080, 7));
    std::fs::write(&path, "PROT = 8080\n").unwrap();
    let err = Settings::load(Some(&path)).unwrap_err();
    assert!(err.contains("PROT"), "{err}");
}

#[test]
fn agent_sandbox_defaults_to_auto_and_names_its_key_when_wrong() {
    let s = Settings::from_pairs([]).unwrap();
    assert_eq!(s.agent_sandbox, SandboxMode::Auto);
    let s = Settings::from_pairs([("AGENT_SANDBOX", "bwrap")]).unwrap();
    assert_eq!(s.agent_sandbox, SandboxMode::Bwrap);
    let err = Settings::from_pairs([("AGENT_SANDBOX", "docker")]).unwrap_err();
    assert!(
        err.contains("AGENT_SANDBOX") && err.contains("off"),
        "{err}"
    );
}
