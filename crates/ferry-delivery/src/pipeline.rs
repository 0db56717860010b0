//! Pipeline rules, pure: which rule a branch or tag matches, the image tag a
//! template yields for a commit, the newest tag inside a semver pattern, and
//! the record of a pipeline run with its steps (what `ferry pipeline logs`
//! streams).

use std::collections::BTreeMap;

use ferry_core::app_spec::{PipelineRule, PipelineSpec};
use globset::Glob;
use serde::{Deserialize, Serialize};

use crate::source::Refs;

/// What a rule resolved to for one environment: the git ref, its commit
/// and the rule's tag for that commit (an image the commit did not change
/// keeps an older commit's tag: see `image_tags.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `dev`, `feature/login`, `v1.2.0`.
    pub git_ref: String,
    pub commit: String,
    pub image_tag: String,
}

fn glob_match(pattern: &str, name: &str) -> bool {
    Glob::new(pattern)
        .map(|g| g.compile_matcher().is_match(name))
        .unwrap_or(pattern == name)
}

/// Whether `rule` matches branch `branch`.
pub fn matches_branch(rule: &PipelineRule, branch: &str) -> bool {
    rule.branch
        .as_deref()
        .is_some_and(|p| glob_match(p, branch))
}

/// Expands a tag template for a commit on a ref.
pub fn expand(template: &str, commit: &str, git_ref: &str) -> String {
    let semver = git_ref.strip_prefix('v').unwrap_or(git_ref);
    template
        .replace("{sha7}", &commit[..7.min(commit.len())])
        .replace("{sha}", commit)
        .replace("{branch}", &slug(git_ref))
        .replace("{semver}", semver)
}

/// A ref name made safe for tags, namespaces and labels: `feature/Login_x`
/// → `feature-login-x` (at most 40 characters).
pub fn slug(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(40);
    s.trim_matches('-').to_string()
}

/// The ref and commit a non-ephemeral rule deploys: its branch (a literal
/// name) or, for a tag pattern, the highest semantic version among the
/// matching tags.
pub fn resolve(rule: &PipelineRule, refs: &Refs) -> Option<Resolved> {
    let (git_ref, commit) = if let Some(b) = &rule.branch {
        (b.clone(), refs.branches.get(b)?.clone())
    } else {
        let pattern = rule.tag.as_deref()?;
        let best = refs
            .tags
            .iter()
            .filter(|(t, _)| glob_match(pattern, t))
            .filter_map(|(t, c)| {
                Some((
                    semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok()?,
                    t,
                    c,
                ))
            })
            .max_by(|a, b| a.0.cmp(&b.0))?;
        (best.1.clone(), best.2.clone())
    };
    let image_tag = expand(&rule.image_tag, &commit, &git_ref);
    Some(Resolved {
        git_ref,
        commit,
        image_tag,
    })
}

/// Branches matching an ephemeral rule, with what each resolves to.
pub fn ephemeral_branches(rule: &PipelineRule, refs: &Refs) -> Vec<Resolved> {
    refs.branches
        .iter()
        .filter(|(b, _)| matches_branch(rule, b))
        .map(|(b, c)| Resolved {
            git_ref: b.clone(),
            commit: c.clone(),
            image_tag: expand(&rule.image_tag, c, b),
        })
        .collect()
}

/// The rule that builds a push of `git_ref` (a branch, or `tags/<name>`).
pub fn rule_for_push<'a>(
    spec: &'a PipelineSpec,
    branch: Option<&str>,
    tag: Option<&str>,
) -> Option<&'a PipelineRule> {
    spec.rules.iter().find(|r| match (branch, tag) {
        (Some(b), _) => matches_branch(r, b),
        (_, Some(t)) => r.tag.as_deref().is_some_and(|p| glob_match(p, t)),
        _ => false,
    })
}

/// State of a step or a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Waiting,
}

/// One step of a pipeline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: String,
    pub state: StepState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub started_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    /// The step's log, oldest first: a line per change of its state or
    /// message, at most [`STEP_LOG_LINES`] (older lines are dropped and
    /// counted in `log_dropped`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<LogLine>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_dropped: u64,
}

/// Lines kept per step (runs are stored on every step change: the bound
/// keeps `runs.json` small).
pub const STEP_LOG_LINES: usize = 64;

/// Bytes kept of one log line.
pub const STEP_LOG_LINE_BYTES: usize = 1024;

/// One line of a step's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When it was written (Unix milliseconds).
    pub ms: u64,
    pub text: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Step {
    /// Appends `text` (cut to [`STEP_LOG_LINE_BYTES`]) to the log, dropping
    /// the oldest line past [`STEP_LOG_LINES`].
    pub fn log_line(&mut self, text: &str, now: u64) {
        let mut end = text.len().min(STEP_LOG_LINE_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.log.push(LogLine {
            ms: now,
            text: text[..end].to_string(),
        });
        if self.log.len() > STEP_LOG_LINES {
            let extra = self.log.len() - STEP_LOG_LINES;
            self.log.drain(..extra);
            self.log_dropped += extra as u64;
        }
    }
}

fn log_text(state: StepState, message: Option<&str>) -> String {
    match message {
        Some(m) => format!("{state:?}: {m}"),
        None => format!("{state:?}"),
    }
}

/// One run of a pipeline for one commit of one ref.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub id: u64,
    pub pipeline: String,
    pub git_ref: String,
    pub commit: String,
    /// The rule's tag template applied to `commit`.
    pub image_tag: String,
    /// Each image's own tag: the template applied to the commit its inputs
    /// last changed in (an image the commit did not touch keeps its tag).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    pub state: StepState,
    pub started_ms: u64,
    pub steps: Vec<Step>,
}

impl Run {
    /// Starts (or updates) step `name`, logging the change.
    pub fn step(&mut self, name: &str, state: StepState, message: Option<String>, now: u64) {
        let line = log_text(state, message.as_deref());
        match self.steps.iter_mut().find(|s| s.name == name) {
            Some(s) => {
                s.log_line(&line, now);
                s.state = state;
                s.message = message;
                if matches!(state, StepState::Succeeded | StepState::Failed) {
                    s.finished_ms = Some(now);
                }
            }
            None => {
                let mut s = Step {
                    name: name.to_string(),
                    state,
                    message,
                    started_ms: now,
                    finished_ms: matches!(state, StepState::Succeeded | StepState::Failed)
                        .then_some(now),
                    log: Vec::new(),
                    log_dropped: 0,
                };
                s.log_line(&line, now);
                self.steps.push(s);
            }
        }
        self.state = if self.steps.iter().any(|s| s.state == StepState::Failed) {
            StepState::Failed
        } else if self.steps.iter().all(|s| s.state == StepState::Succeeded) {
            StepState::Succeeded
        } else if self.steps.iter().any(|s| s.state == StepState::Waiting) {
            StepState::Waiting
        } else {
            StepState::Running
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(branch: Option<&str>, tag: Option<&str>, template: &str) -> PipelineRule {
        PipelineRule {
            branch: branch.map(str::to_string),
            tag: tag.map(str::to_string),
            image_tag: template.into(),
            environments: Default::default(),
            requires_healthy_in: None,
            manual_approval: false,
            ephemeral_region: None,
        }
    }

    fn refs() -> Refs {
        let mut r = Refs::default();
        r.branches.insert("dev".into(), "1234567abcdef".into());
        r.branches
            .insert("feature/Login_x".into(), "abcdef0123".into());
        r.tags.insert("v1.2.0".into(), "aaaaaaa1".into());
        r.tags.insert("v1.10.0".into(), "bbbbbbb2".into());
        r.tags.insert("v2.0.0-rc.1".into(), "ccccccc3".into());
        r.tags.insert("other".into(), "ddddddd4".into());
        r
    }

    #[test]
    fn branch_rule_expands_template() {
        let r = resolve(&rule(Some("dev"), None, "dev-{sha7}"), &refs()).unwrap();
        assert_eq!(r.image_tag, "dev-1234567");
        assert!(resolve(&rule(Some("gone"), None, "x"), &refs()).is_none());
    }

    #[test]
    fn tag_rule_picks_highest_semver() {
        let r = resolve(&rule(None, Some("v1.*"), "{semver}"), &refs()).unwrap();
        assert_eq!(r.git_ref, "v1.10.0");
        assert_eq!(r.image_tag, "1.10.0");
        let any = resolve(&rule(None, Some("v*"), "{semver}"), &refs()).unwrap();
        assert_eq!(any.git_ref, "v2.0.0-rc.1");
    }

    #[test]
    fn ephemeral_branches_are_slugged() {
        let e = ephemeral_branches(
            &rule(Some("feature/*"), None, "feat-{branch}-{sha7}"),
            &refs(),
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].image_tag, "feat-feature-login-x-abcdef0");
        assert_eq!(slug("feature/Login_x"), "feature-login-x");
    }

    #[test]
    fn run_state_follows_steps() {
        let mut run = Run {
            id: 1,
            pipeline: "p".into(),
            git_ref: "dev".into(),
            commit: "c".into(),
            image_tag: "t".into(),
            images: Default::default(),
            state: StepState::Pending,
            started_ms: 0,
            steps: vec![],
        };
        run.step("build", StepState::Running, None, 1);
        assert_eq!(run.state, StepState::Running);
        run.step("build", StepState::Succeeded, None, 2);
        assert_eq!(run.state, StepState::Succeeded);
        run.step("deploy dev", StepState::Failed, Some("x".into()), 3);
        assert_eq!(run.state, StepState::Failed);
        let texts: Vec<&str> = run.steps[0].log.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["Running", "Succeeded"]);
        assert_eq!(run.steps[1].log[0].text, "Failed: x");
    }

    #[test]
    fn a_steps_log_is_bounded_in_lines_and_bytes() {
        let mut s = Step {
            name: "gate dev".into(),
            state: StepState::Waiting,
            message: None,
            started_ms: 0,
            finished_ms: None,
            log: vec![],
            log_dropped: 0,
        };
        for i in 0..(STEP_LOG_LINES as u64 + 10) {
            s.log_line(&format!("line {i}"), i);
        }
        assert_eq!(s.log.len(), STEP_LOG_LINES);
        assert_eq!(s.log_dropped, 10);
        assert_eq!(s.log[0].text, "line 10", "the oldest lines go first");
        s.log_line(&"é".repeat(STEP_LOG_LINE_BYTES), 99);
        let last = &s.log.last().unwrap().text;
        assert!(last.len() <= STEP_LOG_LINE_BYTES && last.starts_with('é'));
    }
}
