//! The canary steps that route by request rather than by weight, in Argo
//! Rollouts' shapes: `setHeaderRoute` (requests whose headers all match go
//! to the canary, whatever the weight) and `setMirrorRoute` (a share of the
//! matching requests is copied to the canary, its answers discarded and
//! counted apart); a step naming only its route removes it. And ferry's
//! own `ferryFault` (not Argo's): a delay injected into a share of the
//! canary pods' calls to other Services. Validation names each field's
//! path (`spec.strategy.canary.steps[2].setHeaderRoute.match[0].headerName`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::rollout_spec::DurationText;

/// `setHeaderRoute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetHeaderRoute {
    pub name: String,
    /// Every header must match (none: the step removes the route).
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HeaderRoutingMatch>,
}

/// One header condition of a `setHeaderRoute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderRoutingMatch {
    pub header_name: String,
    pub header_value: StringMatch,
}

/// `{exact: V}`, `{prefix: V}` or `{regex: V}` (exactly one; a regex must
/// match the whole value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StringMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// `setMirrorRoute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetMirrorRoute {
    pub name: String,
    /// Percent of the matching requests copied (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<u32>,
    /// Any block may match (none: every request).
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<RouteMatch>,
}

impl SetMirrorRoute {
    /// A step with only the route's name removes it.
    pub fn removes(&self) -> bool {
        self.percentage.is_none() && self.matches.is_empty()
    }

    /// The share copied, 0–100.
    pub fn percent(&self) -> u32 {
        self.percentage.unwrap_or(100).min(100)
    }
}

/// One match block of a `setMirrorRoute`: every present condition holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
}

/// `ferryFault` (a ferry extension): `delay` added to `percentage` percent
/// of the canary pods' calls to Services; no `delay` removes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FerryFault {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<DurationText>,
    #[serde(default = "hundred")]
    pub percentage: u32,
}

fn hundred() -> u32 {
    100
}

/// Problems of one routing step at `at` (its path): `(field, message)`.
pub type Problems = Vec<(String, String)>;

pub(crate) fn header_route_problems(at: &str, r: &SetHeaderRoute, out: &mut Problems) {
    name_problems(at, &r.name, out);
    for (i, m) in r.matches.iter().enumerate() {
        let at = format!("{at}.match[{i}]");
        if !is_header_name(&m.header_name) {
            out.push((
                format!("{at}.headerName"),
                format!("{:?} is not an HTTP header name", m.header_name),
            ));
        }
        string_match_problems(&format!("{at}.headerValue"), &m.header_value, out);
    }
}

pub(crate) fn mirror_route_problems(at: &str, r: &SetMirrorRoute, out: &mut Problems) {
    name_problems(at, &r.name, out);
    if let Some(p) = r.percentage.filter(|p| *p > 100) {
        out.push((
            format!("{at}.percentage"),
            format!("{p} is not a percentage (0-100)"),
        ));
    }
    for (i, m) in r.matches.iter().enumerate() {
        let at = format!("{at}.match[{i}]");
        if let Some(s) = &m.method {
            string_match_problems(&format!("{at}.method"), s, out);
        }
        if let Some(s) = &m.path {
            string_match_problems(&format!("{at}.path"), s, out);
        }
        for (h, s) in &m.headers {
            if !is_header_name(h) {
                out.push((
                    format!("{at}.headers"),
                    format!("{h:?} is not an HTTP header name"),
                ));
            }
            string_match_problems(&format!("{at}.headers.{h}"), s, out);
        }
    }
}

pub(crate) fn fault_problems(at: &str, f: &FerryFault, out: &mut Problems) {
    if f.percentage > 100 {
        out.push((
            format!("{at}.percentage"),
            format!("{} is not a percentage (0-100)", f.percentage),
        ));
    }
}

/// The route names the steps so far have set, to catch a removal of a
/// route no earlier step sets (a misspelt name would leave it in force).
#[derive(Debug, Default)]
pub(crate) struct RouteNames {
    header: BTreeSet<String>,
    mirror: BTreeSet<String>,
}

impl RouteNames {
    pub(crate) fn header(&mut self, at: &str, r: &SetHeaderRoute, out: &mut Problems) {
        track(&mut self.header, at, &r.name, r.matches.is_empty(), out);
    }

    pub(crate) fn mirror(&mut self, at: &str, r: &SetMirrorRoute, out: &mut Problems) {
        track(&mut self.mirror, at, &r.name, r.removes(), out);
    }
}

fn track(names: &mut BTreeSet<String>, at: &str, name: &str, removes: bool, out: &mut Problems) {
    if !removes {
        names.insert(name.to_string());
    } else if !names.remove(name) {
        out.push((
            format!("{at}.name"),
            format!("removes route {name:?}, which no earlier step sets"),
        ));
    }
}

fn name_problems(at: &str, name: &str, out: &mut Problems) {
    if name.trim().is_empty() {
        out.push((format!("{at}.name"), "a route needs a name".into()));
    }
}

fn string_match_problems(at: &str, s: &StringMatch, out: &mut Problems) {
    let set = [&s.exact, &s.prefix, &s.regex]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if set != 1 {
        out.push((
            at.to_string(),
            format!("set exactly one of exact, prefix and regex ({set} are)"),
        ));
    }
    if let Some(re) = &s.regex
        && let Err(e) = regex::Regex::new(re)
    {
        out.push((format!("{at}.regex"), format!("invalid regex: {e}")));
    }
}

/// RFC 9110 token characters, at least one.
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use crate::rollout_spec::{CanaryStep, CanaryStrategy};

    fn strategy(steps: &str) -> CanaryStrategy {
        serde_saphyr::from_str(&format!("steps: {steps}\n")).unwrap()
    }

    #[test]
    fn argo_shapes_parse_and_a_name_alone_removes() {
        let c = strategy(
            "[{setHeaderRoute: {name: t, match: [{headerName: X-Tester, headerValue: {exact: 'yes'}}]}}, {setMirrorRoute: {name: m, percentage: 35, match: [{method: {exact: GET}, path: {prefix: /api}, headers: {agent: {regex: 'fire.*'}}}]}}, {setHeaderRoute: {name: t}}, {setMirrorRoute: {name: m}}, {ferryFault: {delay: 200ms, percentage: 50}}]",
        );
        let CanaryStep::SetHeaderRoute(h) = &c.steps[0] else {
            panic!("{:?}", c.steps[0])
        };
        assert_eq!(h.matches[0].header_name, "X-Tester");
        assert_eq!(h.matches[0].header_value.exact.as_deref(), Some("yes"));
        let CanaryStep::SetMirrorRoute(m) = &c.steps[1] else {
            panic!("{:?}", c.steps[1])
        };
        assert_eq!((m.percent(), m.removes()), (35, false));
        assert_eq!(
            m.matches[0].headers["agent"].regex.as_deref(),
            Some("fire.*")
        );
        assert!(matches!(&c.steps[2], CanaryStep::SetHeaderRoute(h) if h.matches.is_empty()));
        assert!(matches!(&c.steps[3], CanaryStep::SetMirrorRoute(m) if m.removes()));
        let CanaryStep::FerryFault(f) = &c.steps[4] else {
            panic!("{:?}", c.steps[4])
        };
        assert_eq!(f.delay.unwrap().0.as_millis(), 200);
        assert!(c.problems().is_empty(), "{:?}", c.problems());
    }

    #[test]
    fn an_environment_with_a_bad_route_is_refused_with_the_field_path() {
        let text = "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec: {listeners: {api: 127.0.0.1:7071, registry: 127.0.0.1:5001, gateway: 127.0.0.1:8081}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  region: uk\n  strategy: {canary: {steps: [{setWeight: 5}, {setHeaderRoute: {name: t, match: [{headerName: 'x y', headerValue: {exact: a}}]}}]}}\n";
        let sources = [("topo.yaml".to_string(), text.to_string())];
        let Err(crate::Error::Invalid(p)) = crate::topology::Topology::from_sources(&sources)
        else {
            panic!("accepted");
        };
        let paths: Vec<_> = p.0.iter().filter_map(|p| p.path.as_deref()).collect();
        assert_eq!(
            paths,
            ["spec.strategy.canary.steps[1].setHeaderRoute.match[0].headerName"]
        );
    }

    #[test]
    fn removing_a_route_no_earlier_step_sets_is_a_problem() {
        let c = strategy(
            "[{setMirrorRoute: {name: m, percentage: 5}}, {setHeaderRoute: {name: m}}, {setMirrorRoute: {name: m}}, {setMirrorRoute: {name: m}}]",
        );
        let p = c.problems();
        let fields: Vec<&str> = p.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.strategy.canary.steps[1].setHeaderRoute.name",
                "spec.strategy.canary.steps[3].setMirrorRoute.name",
            ]
        );
        assert_eq!(p[0].1, "removes route \"m\", which no earlier step sets");
    }

    #[test]
    fn bad_routes_name_their_field_paths() {
        let c = strategy(
            "[{setWeight: 5}, {setHeaderRoute: {name: t, match: [{headerName: x, headerValue: {exact: a}}, {headerName: 'bad name', headerValue: {exact: a, prefix: b}}]}}, {setMirrorRoute: {name: '', percentage: 120, match: [{path: {regex: '('}}]}}, {ferryFault: {delay: 1s, percentage: 101}}]",
        );
        let problems = c.problems();
        let fields: Vec<&str> = problems.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.strategy.canary.steps[1].setHeaderRoute.match[1].headerName",
                "spec.strategy.canary.steps[1].setHeaderRoute.match[1].headerValue",
                "spec.strategy.canary.steps[2].setMirrorRoute.name",
                "spec.strategy.canary.steps[2].setMirrorRoute.percentage",
                "spec.strategy.canary.steps[2].setMirrorRoute.match[0].path.regex",
                "spec.strategy.canary.steps[3].ferryFault.percentage",
            ]
        );
        let unknown = serde_saphyr::from_str::<CanaryStrategy>(
            "steps: [{setHeaderRoute: {name: t, match: [{header: x}]}}]\n",
        );
        assert!(unknown.is_err(), "unknown fields are refused");
    }
}
