//! What changed in the PRD between the base commit and the run: goals and pool requirements added or
//! removed, and whether the requirement text changed. Entries compare after trimming, in order.

use serde::Serialize;

use super::sop::Prd;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpecChange {
    pub added_goals: Vec<String>,
    pub removed_goals: Vec<String>,
    pub added_requirements: Vec<String>,
    pub removed_requirements: Vec<String>,
    pub requirements_text_changed: bool,
}

impl SpecChange {
    pub fn is_empty(&self) -> bool {
        self == &SpecChange::default()
    }
}

pub fn prd_change(previous: &Prd, current: &Prd) -> SpecChange {
    let pool = |prd: &Prd| -> Vec<String> {
        prd.requirement_pool()
            .into_iter()
            .map(|i| {
                if i.priority.is_empty() {
                    i.text
                } else {
                    format!("{}: {}", i.priority, i.text)
                }
            })
            .collect()
    };
    let (old_goals, new_goals) = (previous.goals(), current.goals());
    let (old_pool, new_pool) = (pool(previous), pool(current));
    SpecChange {
        added_goals: minus(&new_goals, &old_goals),
        removed_goals: minus(&old_goals, &new_goals),
        added_requirements: minus(&new_pool, &old_pool),
        removed_requirements: minus(&old_pool, &new_pool),
        requirements_text_changed: previous.requirements().trim() != current.requirements().trim(),
    }
}

fn minus(a: &[String], b: &[String]) -> Vec<String> {
    a.iter()
        .filter(|x| !b.iter().any(|y| y.trim() == x.trim()))
        .cloned()
        .collect()
}
