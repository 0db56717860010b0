//! The demo's git repository: the myhero app as a team would keep it —
//! Kubernetes manifests under `k8s/` and one build context per service
//! (`data/`, `app/`: a Dockerfile, the Linux binary and the shared libraries
//! it links, so no base image is pulled; `ui/`: the static page served by
//! busybox httpd). A `reference-transaction` hook posts a push webhook to
//! ferry on every ref change, as a git host would, so commits deploy at once.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The UI's Dockerfile, entrypoint and page, from `examples/myhero`.
const UI_DOCKERFILE: &str =
    include_str!("../../../../../examples/myhero/myhero-ui/docker/Dockerfile");
const UI_ENTRYPOINT: &str =
    include_str!("../../../../../examples/myhero/myhero-ui/docker/entrypoint.sh");
const UI_PAGE: &str = include_str!("../../../../../examples/myhero/myhero-ui/static/index.html");

/// The Rust services the demo deploys, as (binary, image, port).
pub const SERVICES: &[(&str, &str)] =
    &[("myhero-data", "myhero/data"), ("myhero-app", "myhero/app")];

/// Runs git in `dir` with a fixed identity; returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=ferry demo",
            "-c",
            "user.email=demo@ferry.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=dev",
            "-c",
            "core.hooksPath=.git/hooks",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .context("running git (install it: apt-get install git)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Writes the whole application into `repo` (a new directory).
pub fn write(repo: &Path, bin_dir: &Path) -> anyhow::Result<()> {
    let put = |rel: &str, text: &str| -> anyhow::Result<()> {
        let p = repo.join(rel);
        std::fs::create_dir_all(p.parent().expect("relative path has a parent"))?;
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
    };
    put("README.md", README)?;
    put("k8s/data.yml", DATA_YML)?;
    put("k8s/app.yml", APP_YML)?;
    put("k8s/ui.yml", UI_YML)?;
    put("k8s/ingress.yml", INGRESS_YML)?;
    put("ui/Dockerfile", UI_DOCKERFILE)?;
    put("ui/entrypoint.sh", UI_ENTRYPOINT)?;
    put("ui/index.html", UI_PAGE)?;
    copy_exec(Path::new("/bin/busybox"), &repo.join("ui/busybox"))
        .context("the UI image needs busybox-static (apt-get install busybox-static)")?;
    // Each service is its own build context (`data/`, `app/`): a commit
    // touching one service rebuilds and restarts only that service.
    for (bin, image) in SERVICES {
        let name = image.rsplit('/').next().unwrap_or(image);
        let context = repo.join(name);
        let src = bin_dir.join(bin);
        copy_stripped(&src, &context.join(bin)).with_context(|| {
            format!(
                "{} is missing: build it with `cargo build --release -p {bin}` or pass --bin DIR",
                src.display()
            )
        })?;
        let deps = ferry_image::build::elf::dependencies(&src)
            .with_context(|| format!("finding the shared libraries {} links", src.display()))?;
        for (image_path, host) in &deps.files {
            let dest = context
                .join("sysroot")
                .join(image_path.trim_start_matches('/'));
            if !dest.exists() {
                copy_exec(host, &dest)?;
            }
        }
        put(&format!("{name}/Dockerfile"), &service_dockerfile(bin))?;
    }
    Ok(())
}

fn copy_exec(src: &Path, dest: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dest.parent().expect("has a parent"))?;
    std::fs::copy(src, dest).with_context(|| format!("copying {}", src.display()))?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Copies a binary without its debug sections when `strip` (binutils) is
/// there, as a release image would carry it; a plain copy otherwise.
fn copy_stripped(src: &Path, dest: &Path) -> anyhow::Result<()> {
    if !src.is_file() {
        bail!("not a file");
    }
    std::fs::create_dir_all(dest.parent().expect("has a parent"))?;
    let stripped = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(dest)
        .arg(src)
        .status()
        .is_ok_and(|s| s.success());
    if stripped {
        Ok(())
    } else {
        copy_exec(src, dest)
    }
}

fn service_dockerfile(bin: &str) -> String {
    let data = if bin == "myhero-data" {
        "ENV myhero_data_dir=/app/data/\n"
    } else {
        ""
    };
    format!(
        "# {bin}: its binary plus the loader and libraries it links (sysroot/),\n\
         # so the image needs no base image.\n\
         FROM scratch\nCOPY sysroot/ /\nCOPY {bin} /app/{bin}\n{data}EXPOSE 5000\n\
         ENTRYPOINT [\"/app/{bin}\"]\n"
    )
}

/// Installs the hook that tells ferry about every ref change.
pub fn install_hook(repo: &Path, api: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let hook = repo.join(".git/hooks/reference-transaction");
    let body = format!(
        "#!/bin/sh\n# Tells ferry about pushes, as a git host's webhook would.\n\
         [ \"$1\" = committed ] || exit 0\n\
         curl -fsS -m 2 -o /dev/null -X POST -H 'Content-Type: application/json' \\\n  \
         -H 'X-Gitea-Event: push' --data '{{\"repository\":{{\"clone_url\":\"{}\"}}}}' \\\n  \
         http://{api}/api/v1/hooks/git 2>/dev/null || true\n",
        repo.display()
    );
    std::fs::create_dir_all(hook.parent().expect("has a parent"))?;
    std::fs::write(&hook, body)?;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
    Ok(hook)
}

/// The one-line change the demo makes to show a change travelling:
/// the UI's default version (its heading) moves from v1 to v2.
pub fn bump_ui_version(repo: &Path) -> anyhow::Result<()> {
    let p = repo.join("ui/Dockerfile");
    let text = std::fs::read_to_string(&p)?;
    if !text.contains("ARG version=v1") {
        bail!("{}: `ARG version=v1` not found", p.display());
    }
    std::fs::write(&p, text.replace("ARG version=v1", "ARG version=v2"))?;
    Ok(())
}

const README: &str = "# myhero\n\nThe tutorial's voting app, delivered by ferry: `dev` deploys to the UK,\n`master` to Shanghai, `feature/*` branches get their own environment.\n";

const DATA_YML: &str = r#"apiVersion: v1
kind: Service
metadata: {name: myhero-data, labels: {app: myhero, tier: data}}
spec:
  ports: [{port: 80, targetPort: 5000}]
  selector: {app: myhero, tier: data}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myhero-data}
spec:
  replicas: 1
  selector: {matchLabels: {app: myhero, tier: data}}
  template:
    metadata: {labels: {app: myhero, tier: data}}
    spec:
      containers:
      - name: myhero-data
        image: myhero/data
        ports: [{containerPort: 5000, name: http}]
        env:
        - {name: myhero_data_key, value: SecureData}
        readinessProbe: {httpGet: {path: /hero_list, port: 5000}, periodSeconds: 1}
        volumeMounts: [{name: data, mountPath: /app/data}]
      volumes: [{name: data, emptyDir: {}}]
"#;

const APP_YML: &str = r#"apiVersion: v1
kind: Service
metadata: {name: myhero-app, labels: {app: myhero, tier: app}}
spec:
  ports: [{port: 80, targetPort: 5000, name: http}]
  selector: {app: myhero, tier: app}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myhero-app}
spec:
  replicas: 1
  selector: {matchLabels: {app: myhero, tier: app}}
  template:
    metadata: {labels: {app: myhero, tier: app}}
    spec:
      containers:
      - name: myhero-app
        image: myhero/app
        ports: [{containerPort: 5000, name: http}]
        env:
        - {name: myhero_data_srv, value: myhero-data}
        - {name: myhero_data_key, value: SecureData}
        - {name: myhero_app_key, value: SecureApp}
        - {name: myhero_app_mode, value: direct}
        readinessProbe: {httpGet: {path: /health, port: 5000}, periodSeconds: 1}
"#;

const UI_YML: &str = r#"apiVersion: v1
kind: Service
metadata: {name: myhero-ui, labels: {app: myhero, tier: ui}}
spec:
  ports: [{port: 80, targetPort: 80, name: http}]
  selector: {app: myhero, tier: ui}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myhero-ui}
spec:
  replicas: 1
  selector: {matchLabels: {app: myhero, tier: ui}}
  template:
    metadata: {labels: {app: myhero, tier: ui}}
    spec:
      containers:
      - name: myhero-ui
        image: myhero/ui
        ports: [{containerPort: 80, name: http}]
        env:
        - {name: myhero_app_server, value: "http://myhero-app.myhero.local"}
        - {name: myhero_app_key, value: SecureApp}
        readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 1}
"#;

const INGRESS_YML: &str = r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: myhero-ingress}
spec:
  rules:
  - host: myhero-app.myhero.local
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: myhero-app, port: {number: 80}}}}
  - host: myhero-ui.myhero.local
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: myhero-ui, port: {number: 80}}}}
"#;
