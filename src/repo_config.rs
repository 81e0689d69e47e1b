//! PLACEHOLDER until the real module lands (helper h2).
#[derive(Debug, Clone)]
pub struct RepoConfig {
    pub trigger_label: String,
    pub bugfix_labels: Vec<String>,
    pub source_dir: Option<String>,
    pub n_round: u32,
    pub max_cost_usd: f64,
    pub code_review: bool,
    pub run_tests: bool,
    pub protected_paths: Vec<String>,
    pub llm_model: Option<String>,
}
impl Default for RepoConfig {
    fn default() -> Self {
        Self {
            trigger_label: "metagpt".into(),
            bugfix_labels: vec!["bug".into(), "bugfix".into()],
            source_dir: None,
            n_round: 20,
            max_cost_usd: 3.0,
            code_review: true,
            run_tests: true,
            protected_paths: vec![".github/workflows/**".into()],
            llm_model: None,
        }
    }
}
#[derive(Debug, Clone)]
pub struct RepoConfigError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}
impl std::fmt::Display for RepoConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl RepoConfig {
    pub fn parse(_text: &str) -> Result<Self, RepoConfigError> {
        Ok(Self::default())
    }
}
