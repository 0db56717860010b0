//! The runtime's container verbs: a container's log file (current or
//! previous) and `exec` in a running container, both resolving the
//! container by name or as the pod's first.

use std::path::PathBuf;
use std::time::Duration;

use ferry_core::{Problem, Problems};
use k8s_openapi::api::core::v1::Pod;

use crate::Runtime;
use crate::error::{Error, Result};
use crate::kinds::Kind;
use crate::ops::not_found;
use crate::pod::container::Ctr;
use crate::pod::runc::ExecOutput;

impl Runtime {
    /// Log file of a container (`None`: the pod's first container).
    pub fn log_path(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        previous: bool,
    ) -> Result<PathBuf> {
        let (p, uid, cname) = self.container_of(namespace, pod, container)?;
        let _ = p;
        let ctr = Ctr::new(&self.inner.pod_dir(&uid), &uid, &cname);
        let path = if previous {
            ctr.previous_log()
        } else {
            ctr.log
        };
        if !path.exists() {
            let what = if previous {
                "previous terminated container"
            } else {
                "container"
            };
            return Err(Error::Other(format!(
                "{what} `{cname}` in pod `{pod}` has no logs yet"
            )));
        }
        Ok(path)
    }

    pub(crate) fn container_of(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
    ) -> Result<(Pod, String, String)> {
        let p: Pod = self
            .inner
            .typed(Kind::Pod, namespace, pod)
            .ok_or_else(|| not_found(Kind::Pod, namespace, pod))?;
        let uid = p.metadata.uid.clone().unwrap_or_default();
        let spec = p.spec.clone().unwrap_or_default();
        let names: Vec<String> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .map(|c| c.name.clone())
            .collect();
        let cname = match container {
            Some(c) if names.iter().any(|n| n == c) => c.to_string(),
            Some(c) => {
                return Err(Error::Invalid(Problems(vec![Problem::file(
                    "<request>",
                    format!(
                        "container `{c}` is not in pod `{pod}`; choose one of: {}",
                        names.join(", ")
                    ),
                )])));
            }
            None => spec
                .containers
                .first()
                .map(|c| c.name.clone())
                .unwrap_or_default(),
        };
        Ok((p, uid, cname))
    }

    /// Runs `command` in a container of a pod.
    pub async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: &[String],
    ) -> Result<ExecOutput> {
        let (_, uid, cname) = self.container_of(namespace, pod, container)?;
        let ctr = Ctr::new(&self.inner.pod_dir(&uid), &uid, &cname);
        self.inner
            .runc
            .exec(&ctr.id, command, Duration::from_secs(300))
            .await
    }
}
