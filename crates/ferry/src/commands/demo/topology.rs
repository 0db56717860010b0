//! The demo's topology: two regions (`uk` builds and runs dev, `shanghai`
//! runs prod), a replication rule carrying `prod-*` tags from uk to
//! shanghai, the myhero application from the demo repository, and its
//! pipeline (`dev` → `dev-{sha7}` in dev; `master` → `prod-{sha7}` in prod
//! once healthy in dev; `feature/*` → an environment of its own in uk).

use std::path::Path;

/// The listeners of one region.
#[derive(Debug, Clone, Copy)]
pub struct Listeners {
    pub api: u16,
    pub registry: u16,
    pub gateway: u16,
}

/// Ports of both regions: the defaults, or six consecutive ports from `base`.
pub fn ports(base: Option<u16>) -> (Listeners, Listeners) {
    match base {
        None => (
            Listeners {
                api: 7071,
                registry: 5001,
                gateway: 8081,
            },
            Listeners {
                api: 7072,
                registry: 5002,
                gateway: 8082,
            },
        ),
        Some(b) => (
            Listeners {
                api: b,
                registry: b + 1,
                gateway: b + 2,
            },
            Listeners {
                api: b + 3,
                registry: b + 4,
                gateway: b + 5,
            },
        ),
    }
}

fn region(name: &str, l: Listeners) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: {name}}}\n\
         spec:\n  dataDir: {name}\n  listeners: {{api: 127.0.0.1:{}, registry: 127.0.0.1:{}, gateway: 127.0.0.1:{}}}\n",
        l.api, l.registry, l.gateway
    )
}

/// The topology YAML for a repository at `repo`.
pub fn yaml(repo: &Path, uk: Listeners, shanghai: Listeners) -> String {
    let images: Vec<String> = super::repo::SERVICES
        .iter()
        .map(|(_, image)| {
            let short = image.rsplit('/').next().unwrap_or(image);
            format!("  - {{name: {image}, context: {short}}}\n")
        })
        .collect();
    format!(
        "# ferry demo: build in London, run in Shanghai.\n{}---\n{}---\n{}",
        region("uk", uk),
        region("shanghai", shanghai),
        format_args!(
            r#"apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: {{name: dev, labels: {{tier: dev}}}}
spec: {{region: uk}}
---
apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: {{name: prod, labels: {{tier: prod}}}}
spec: {{region: shanghai}}
---
apiVersion: ferry.dev/v1alpha1
kind: ReplicationRule
metadata: {{name: prod-to-shanghai}}
spec:
  source: {{region: uk}}
  target: {{region: shanghai}}
  repositories: ["myhero/*"]
  tags: {{include: ["prod-.*"]}}
---
apiVersion: ferry.dev/v1alpha1
kind: Application
metadata: {{name: myhero}}
spec:
  source: {{repoUrl: "{repo}", path: k8s, targetRevision: master}}
  syncPolicy: {{automated: true, selfHeal: true, prune: true}}
---
apiVersion: ferry.dev/v1alpha1
kind: Pipeline
metadata: {{name: myhero}}
spec:
  application: myhero
  buildRegion: uk
  images:
{images}  - {{name: myhero/ui, context: ui}}
  rules:
  - {{branch: dev, imageTag: "dev-{{sha7}}", environments: {{matchLabels: {{tier: dev}}}}}}
  - {{branch: master, imageTag: "prod-{{sha7}}", environments: {{matchLabels: {{tier: prod}}}}, requiresHealthyIn: dev}}
  - {{branch: "feature/*", imageTag: "feat-{{branch}}-{{sha7}}", ephemeralRegion: uk}}
"#,
            repo = repo.display(),
            images = images.concat(),
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_topology_is_valid() {
        let (uk, sh) = ports(Some(20000));
        let text = yaml(Path::new("/srv/myhero"), uk, sh);
        let t = ferry_core::topology::Topology::from_sources(&[("demo.yaml".into(), text)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.regions.len(), 2);
        assert_eq!(t.pipelines[0].spec.images.len(), 3);
        assert_eq!(t.pipelines[0].spec.rules.len(), 3);
    }
}
