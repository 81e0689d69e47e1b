//! A small reader for this repository's Dockerfile: instructions with their continuation lines joined,
//! grouped by stage. Enough to check what the image runs against what the repository tests; hadolint
//! checks the syntax.

/// One instruction, e.g. `RUN` with its arguments on one line.
#[derive(Debug, Clone)]
pub struct Instruction {
    pub keyword: String,
    pub args: String,
}

#[derive(Debug)]
pub struct Stage {
    pub name: String,
    pub base: String,
    pub instructions: Vec<Instruction>,
}

impl Stage {
    /// Arguments of every instruction with `keyword`.
    pub fn all(&self, keyword: &str) -> Vec<&str> {
        self.instructions
            .iter()
            .filter(|i| i.keyword == keyword)
            .map(|i| i.args.as_str())
            .collect()
    }

    /// The last instruction with `keyword` (the one in force), if any.
    pub fn last(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).pop()
    }
}

pub fn stages(text: &str) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && logical.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            logical.push_str(head);
            logical.push(' ');
            continue;
        }
        logical.push_str(trimmed);
        let (keyword, args) = logical.split_once(' ').unwrap_or((logical.as_str(), ""));
        let instruction = Instruction {
            keyword: keyword.to_uppercase(),
            args: args.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        if instruction.keyword == "FROM" {
            let words: Vec<&str> = instruction.args.split(' ').collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                _ => String::new(),
            };
            stages.push(Stage {
                name,
                base: words[0].to_owned(),
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(instruction);
        }
        logical.clear();
    }
    stages
}

/// Parses an exec-form array such as `["metagpt-bot"]`.
pub fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not an exec-form array: {args}: {e}"))
}
