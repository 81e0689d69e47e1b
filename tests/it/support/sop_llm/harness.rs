//! The bench of the end-to-end agent tests: a scripted model answering from a [`Sop`], behind a real
//! gateway that prices every model at [`PRICE`], and one real MetaGPT run through `agent::run`; plus
//! checks on what the run left in the repository, the ledger and the trace.
//!
//! Invariants: each run gets its own gateway run (token, ledger) and a fresh script; a prompt the script
//! could not read fails the test with the prompt's beginning rather than waiting out MetaGPT's retries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metagpt_bot::config::SandboxMode;
use metagpt_bot::domain::{Kind, Price};
use metagpt_bot::run::agent::{AgentOptions, AgentOutcome, AgentRun, run};
use metagpt_bot::run::gateway::{
    CallRecord, Gateway, GatewayConfig, PriceTable, RunBudget, RunOptions, Step, UpstreamConfig,
};
use secrecy::SecretString;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Scenario, Sop};
use crate::support::scripted_llm::ScriptedLlm;

/// $1 per million prompt tokens and $3 per million completion tokens: every call has a visible cost,
/// and a run stays far below MetaGPT's default investment ($3), which it checks between rounds.
pub const PRICE: Price = Price {
    prompt_per_million: 1.0,
    completion_per_million: 3.0,
};

pub use crate::support::interpreter::metagpt_python;

/// A scripted model behind a gateway that prices every model at [`PRICE`].
pub struct Bench {
    python: PathBuf,
    llm: ScriptedLlm,
    gateway: Gateway,
    /// The sandbox runs use (`AGENT_SANDBOX`); `auto` unless [`Bench::sandboxed`] says otherwise.
    pub sandbox: SandboxMode,
}

/// The layout fields of an agent run (`AgentRun`), paths relative to the repository.
#[derive(Debug, Clone)]
pub struct Layout {
    pub source_dir: Option<PathBuf>,
    pub spec_dir: String,
    pub tests_dir: String,
    pub import_roots: Vec<String>,
    pub project_python: Option<PathBuf>,
}

impl Layout {
    /// MetaGPT's own layout, as the seed repository has it: bookkeeping at the root, code in `seed/`
    /// (flat modules, so `seed` is an import root too), tests in `tests/`, MetaGPT's interpreter.
    pub fn seed() -> Layout {
        Layout {
            source_dir: None,
            spec_dir: String::new(),
            tests_dir: "tests".into(),
            import_roots: vec![String::new(), super::seed::NAME.into()],
            project_python: None,
        }
    }
}

/// What one agent run left behind.
pub struct Ran {
    pub sop: Arc<Sop>,
    pub outcome: AgentOutcome,
    pub ledger: Vec<CallRecord>,
    pub trace: Vec<Value>,
}

impl Bench {
    pub async fn start(python: PathBuf) -> Bench {
        let llm = ScriptedLlm::start().await;
        let upstream = UpstreamConfig::openai(
            llm.base_url(),
            SecretString::from("sk-fake-provider-key"),
            "scripted",
        );
        let mut config = GatewayConfig::new(upstream);
        config.prices = PriceTable::default().with_override(PRICE);
        config.request_timeout = Duration::from_secs(30);
        let gateway = Gateway::start(config).await.expect("gateway starts");
        Bench {
            python,
            llm,
            gateway,
            sandbox: SandboxMode::Auto,
        }
    }

    /// The same bench, its runs in `sandbox`.
    pub fn sandboxed(self, sandbox: SandboxMode) -> Bench {
        Bench { sandbox, ..self }
    }

    /// Runs MetaGPT on `repo` (the seed's layout) with the script of `scenario` and returns what it did.
    pub async fn run(&self, repo: &Path, kind: Kind, idea: &str, scenario: Scenario) -> Ran {
        self.run_in(repo, &Layout::seed(), kind, idea, scenario)
            .await
    }

    /// [`Bench::run`] on a repository laid out as `layout` says.
    pub async fn run_in(
        &self,
        repo: &Path,
        layout: &Layout,
        kind: Kind,
        idea: &str,
        scenario: Scenario,
    ) -> Ran {
        let sop = Sop::new(scenario);
        sop.install(&self.llm);
        let handle = self
            .gateway
            .open_run(RunOptions {
                budget: RunBudget {
                    max_cost_usd: 100.0,
                },
                ledger_path: None,
                cache: None,
            })
            .expect("run opens");
        let trace_path = repo.with_extension(format!("{kind:?}.trace.jsonl"));
        let request = AgentRun {
            run_id: format!("sop-{kind:?}"),
            python: self.python.clone(),
            repo: repo.to_owned(),
            idea: idea.to_owned(),
            kind,
            options: AgentOptions {
                sandbox: self.sandbox,
                agent_uid: crate::support::interpreter::agent_uid_for(&self.python),
                ..AgentOptions::default()
            },
            gateway_url: self.gateway.base_url(),
            gateway_socket: self.gateway.socket_path().map(|p| p.to_path_buf()),
            token: handle.token().clone(),
            model: "gpt-4o-mini".into(),
            price: Some(PRICE),
            source_dir: layout.source_dir.clone(),
            spec_dir: layout.spec_dir.clone(),
            tests_dir: layout.tests_dir.clone(),
            import_roots: layout.import_roots.clone(),
            project_python: layout.project_python.clone(),
            trace_path: trace_path.clone(),
            timeout: Duration::from_secs(900),
        };
        let started = Instant::now();
        let result = run(request, CancellationToken::new()).await;
        let ledger = handle.close();
        println!(
            "{kind:?} run: {:.1} s, {} LLM calls: {:#?}",
            started.elapsed().as_secs_f64(),
            ledger.len(),
            sop.served().iter().map(|s| &s.what).collect::<Vec<_>>()
        );
        assert!(sop.unreadable().is_empty(), "{:#?}", sop.unreadable());
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => panic!("the {kind:?} run failed: {e}\n{e:?}"),
        };
        let trace = std::fs::read_to_string(&trace_path)
            .expect("trace")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a trace line is JSON"))
            .collect();
        Ran {
            sop,
            outcome,
            ledger,
            trace,
        }
    }
}

impl Ran {
    pub fn steps(&self) -> Vec<Step> {
        self.ledger.iter().map(|r| r.step).collect()
    }

    pub fn served(&self) -> Vec<String> {
        self.sop.served().into_iter().map(|s| s.what).collect()
    }

    /// The ledger holds exactly the calls the script answered, with the usage it reported, each priced
    /// by the table; MetaGPT's own counters agree on the tokens.
    pub fn assert_costs_match_the_script(&self) {
        let served = self.sop.served();
        let served_steps: Vec<Step> = served.iter().map(|s| s.step).collect();
        assert_eq!(self.steps(), served_steps, "ledger and script disagree");
        for (record, answer) in self.ledger.iter().zip(&served) {
            assert_eq!(record.status, 200, "{record:?}");
            assert!(record.usage_reported && record.priced, "{record:?}");
            assert_eq!(
                (record.prompt_tokens, record.completion_tokens),
                (answer.prompt_tokens, answer.completion_tokens),
                "{record:?}"
            );
            let price = PRICE.cost_usd(answer.prompt_tokens, answer.completion_tokens);
            assert!((record.cost_usd - price).abs() < 1e-12, "{record:?}");
        }
        let (prompt, completion) = self.sop.usage_total();
        let ledger_prompt: u64 = self.ledger.iter().map(|r| r.prompt_tokens).sum();
        let ledger_completion: u64 = self.ledger.iter().map(|r| r.completion_tokens).sum();
        assert_eq!((ledger_prompt, ledger_completion), (prompt, completion));
        let cost: f64 = self.ledger.iter().map(|r| r.cost_usd).sum();
        assert!(cost > 0.0);
        assert!(
            (cost - PRICE.cost_usd(prompt, completion)).abs() < 1e-9,
            "{cost}"
        );
        let metagpt = self.outcome.metagpt_cost;
        assert_eq!(
            (metagpt.prompt_tokens, metagpt.completion_tokens),
            (prompt, completion),
            "MetaGPT's own counters"
        );
    }

    /// Every role of the team published at least one message (MetaGPT writes a role as `Engineer` or
    /// as `Alice(Product Manager)`).
    pub fn assert_roles_spoke(&self, roles: &[&str]) {
        let spoke: Vec<&str> = self
            .trace
            .iter()
            .filter_map(|m| m["role"].as_str())
            .collect();
        for role in roles {
            let named = format!("({role})");
            assert!(
                spoke.iter().any(|r| r == role || r.ends_with(&named)),
                "no message from {role} in {spoke:?}"
            );
        }
    }
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The JSON documents in `<repo>/<dir>`.
pub fn json_docs(repo: &Path, dir: &str) -> Vec<Value> {
    let entries = std::fs::read_dir(repo.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
    entries
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| serde_json::from_str(&read(&p)).expect("a JSON document"))
        .collect()
}

/// The test output QA saved for `test_file` passed and was sent to no one.
pub fn assert_test_passed(repo: &Path, test_file: &str) {
    assert_test_passed_in(repo, "", test_file);
}

/// [`assert_test_passed`] with MetaGPT's bookkeeping in `<repo>/<spec_dir>/`.
pub fn assert_test_passed_in(repo: &Path, spec_dir: &str, test_file: &str) {
    let output: Value = serde_json::from_str(&read(
        &repo
            .join(spec_dir)
            .join(format!("test_outputs/{test_file}.json")),
    ))
    .expect("test output JSON");
    let stderr = output["stderr"].as_str().unwrap_or_default();
    assert!(stderr.contains("\n\nOK"), "{test_file}: {stderr}");
    let summary = output["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("## Send To:\nNoOne"), "{summary}");
}

/// The code MetaGPT saved strips the fenced block's last newline.
pub fn assert_code(repo: &Path, file: &str, expected: &str) {
    assert_eq!(
        read(&repo.join(file)).trim_end(),
        expected.trim_end(),
        "{file}"
    );
}
