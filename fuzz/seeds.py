#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from examples in the
repository (myhero manifests, Istio and Gateway API objects from the
gateway's tests, Dockerfiles from the build tests, the README's topology)
plus a few generated inputs (tar layers with whiteouts, links and
compression; OCI manifests; HTTP heads; push payloads). Deterministic:
running it again rewrites the same files. Usage: python3 fuzz/seeds.py"""

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read()


def raw_strings(path, must):
    """Rust raw string literals r#"..."# in `path` that contain `must`."""
    return [s for s in re.findall(r'r#"(.*?)"#', read(path), re.S) if must in s]


# === tar layers ===

def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            kind, name = e[0], e[1]
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.uid = info.gid = 1000
            data = b""
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "file":
                data = e[2]
                info.size, info.mode = len(data), 0o644
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e[2]
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, e[2]
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            t.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def tar_seeds():
    basic = tar([("dir", "etc/"), ("file", "etc/hostname", b"ferry\n"),
                 ("dir", "usr/bin/"), ("file", "usr/bin/app", b"\x7fELF"),
                 ("symlink", "bin", "usr/bin")])
    write("tar_unpack", "basic.tar", basic)
    write("tar_unpack", "basic.tar.gz", gzip.compress(basic, mtime=0))
    try:
        z = subprocess.run(["zstd", "-q", "-c"], input=basic, capture_output=True, check=True)
        write("tar_unpack", "basic.tar.zst", z.stdout)
    except (OSError, subprocess.CalledProcessError):
        pass
    write("tar_unpack", "whiteouts.tar", tar([
        ("dir", "app/"), ("file", "app/.wh.old", b""), ("dir", "var/"),
        ("file", "var/.wh..wh..opq", b""), ("file", "var/new", b"x"), ("file", ".wh.tmp", b"")]))
    write("tar_unpack", "links.tar", tar([
        ("file", "data", b"payload"), ("hardlink", "data2", "data"),
        ("symlink", "up", ".."), ("symlink", "abs", "/etc"),
        ("file", "abs/passwd", b"through an absolute link"), ("file", "up/escape", b"through ..")]))
    write("tar_unpack", "special.tar", tar([
        ("fifo", "pipe"), ("chr", "null"), ("dir", "d/"), ("symlink", "d/loop", "loop"),
        ("file", "./d/../e", b"dotdot")]))
    write("tar_unpack", "gnu_longname.tar", tar([("file", "a/" + "n" * 120, b"long")], tarfile.GNU_FORMAT))


# === OCI manifests, indexes, configs, references ===

def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


MEDIA = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
         "application/vnd.docker.distribution.manifest.v2+json",
         "application/vnd.docker.distribution.manifest.list.v2+json"]


def oci_seeds():
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/app"], "User": "1000:1000",
                         "ExposedPorts": {"8080/tcp": {}}, "WorkingDir": "/"},
              "rootfs": {"type": "layers", "diff_ids": [digest(b"layer")]},
              "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "COPY app /app"}]}
    cfg = json.dumps(config).encode()
    manifest = {"schemaVersion": 2, "mediaType": MEDIA[0],
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": digest(cfg), "size": len(cfg)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": digest(b"layer.gz"), "size": 8}],
                "annotations": {"org.opencontainers.image.source": "https://git.example/myhero"}}
    man = json.dumps(manifest).encode()
    index = {"schemaVersion": 2, "mediaType": MEDIA[1],
             "manifests": [{"mediaType": MEDIA[0], "digest": digest(man), "size": len(man),
                            "platform": {"architecture": "amd64", "os": "linux"}},
                           {"mediaType": MEDIA[0], "digest": digest(b"arm"), "size": 3,
                            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]}
    referrer = {"schemaVersion": 2, "mediaType": MEDIA[0], "artifactType": "application/vnd.example.sbom",
                "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                           "digest": digest(b"{}"), "size": 2},
                "layers": [], "subject": {"mediaType": MEDIA[0], "digest": digest(man), "size": len(man)}}
    docker = dict(manifest, mediaType=MEDIA[2])
    docker["config"] = dict(manifest["config"], mediaType="application/vnd.docker.container.image.v1+json")
    docker_list = dict(index, mediaType=MEDIA[3])
    foreign = dict(manifest)
    foreign["layers"] = [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                          "digest": digest(b"win"), "size": 1, "urls": ["https://example/layer"]}]
    for i, (name, doc) in enumerate([("manifest", manifest), ("index", index), ("docker", docker),
                                     ("docker_list", docker_list), ("referrer", referrer),
                                     ("foreign_layer", foreign), ("config", config)]):
        write("oci_manifest", name + ".json", bytes([i % 5]) + json.dumps(doc, indent=1).encode())
    for i, ref in enumerate(["127.0.0.1:5000/myhero/ui:v1", "docker.io/library/busybox@" + digest(b"bb"),
                             "localhost/app:dev-abc1234@" + digest(b"x"), "ui"]):
        write("oci_manifest", "ref%d" % i, b"\x04" + ref.encode())


# === Dockerfiles ===

def dockerfile_seeds():
    write("dockerfile", "myhero-ui", read("examples/myhero/myhero-ui/docker/Dockerfile"))
    for path in ["crates/ferry-build/tests/parse.rs", "crates/ferry-build/tests/build.rs"]:
        text = read(path)
        found = raw_strings(path, "FROM") + [
            s.encode().decode("unicode_escape") for s in re.findall(r'"((?:[^"\\]|\\.)*FROM(?:[^"\\]|\\.)*)"', text)]
        for i, s in enumerate(found[:14]):
            write("dockerfile", "%s-%d" % (os.path.basename(path)[:-3], i), s)
    write("dockerfile", "dockerignore", "# comment\n*.md\n!README.md\ntarget/**\n.git\n")


# === YAML: ferry kinds and Kubernetes kinds ===

TOPOLOGY = """apiVersion: ferry.dev/v1alpha1
kind: Region
metadata: {name: uk}
spec:
  dataDir: ./data/uk
  listeners: {api: 127.0.0.1:7071, registry: 127.0.0.1:5001, gateway: 127.0.0.1:8081}
---
apiVersion: ferry.dev/v1alpha1
kind: Region
metadata: {name: shanghai}
spec:
  dataDir: shanghai
  listeners: {api: 127.0.0.1:7072, registry: 127.0.0.1:5002, gateway: 127.0.0.1:8082}
---
apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: {name: dev, labels: {tier: dev}}
spec: {region: uk}
---
apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: {name: prod, labels: {tier: prod}}
spec: {region: shanghai}
---
apiVersion: ferry.dev/v1alpha1
kind: ReplicationRule
metadata: {name: prod-to-shanghai}
spec:
  source: {region: uk}
  target: {region: shanghai}
  repositories: ["myhero/*"]
  tags: {include: ["prod-.*"], exclude: ["-dev$"]}
---
apiVersion: ferry.dev/v1alpha1
kind: Application
metadata: {name: myhero}
spec:
  source: {repoUrl: "/srv/myhero", path: k8s, targetRevision: master}
  syncPolicy: {automated: true, selfHeal: true, prune: true}
---
apiVersion: ferry.dev/v1alpha1
kind: Pipeline
metadata: {name: myhero}
spec:
  application: myhero
  buildRegion: uk
  images:
  - {name: myhero/ui, context: ui}
  rules:
  - {branch: dev, imageTag: "dev-{sha7}", environments: {matchLabels: {tier: dev}}}
  - {branch: master, imageTag: "prod-{sha7}", environments: {matchLabels: {tier: prod}}, requiresHealthyIn: dev}
  - {branch: "feature/*", imageTag: "feat-{branch}-{sha7}", ephemeralRegion: uk}
"""

KUBE = """apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {pod-security.kubernetes.io/enforce: baseline}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: shop}
data: {app.conf: "port=8080\\n"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
type: Opaque
stringData: {token: s3cret}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 1000, fsGroup: 2000}
      containers:
      - name: web
        image: 127.0.0.1:5000/web:v1
        ports: [{containerPort: 8080}]
        env: [{name: MODE, valueFrom: {configMapKeyRef: {name: cfg, key: app.conf}}}]
        volumeMounts: [{name: conf, mountPath: /etc/app, subPath: app.conf}, {name: tmp, mountPath: /tmp}]
        resources: {limits: {cpu: 200m, memory: 64Mi}}
        readinessProbe: {httpGet: {path: /healthz, port: 8080}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
      volumes:
      - {name: conf, configMap: {name: cfg, items: [{key: app.conf, path: app.conf}]}}
      - {name: tmp, emptyDir: {}}
      - {name: creds, secret: {secretName: creds}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


def yaml_seeds():
    write("yaml_kinds", "topology.yaml", TOPOLOGY)
    write("yaml_kinds", "kube.yaml", KUBE)
    for d in ["examples/myhero/k8s", "examples/myhero/k8s/istio"]:
        for f in sorted(os.listdir(os.path.join(REPO, d))):
            if f.endswith((".yml", ".yaml")):
                write("yaml_kinds", f, read(os.path.join(d, f)))
    fixtures = "/work/shared/fixtures/seed-myhero"
    if os.path.isdir(fixtures):
        for f in sorted(os.listdir(fixtures)):
            with open(os.path.join(fixtures, f), encoding="utf-8") as src:
                write("yaml_kinds", "fixture-" + f, src.read())


def route_seeds():
    d = "examples/myhero/k8s/istio"
    for f in sorted(os.listdir(os.path.join(REPO, d))):
        write("route_compile", f, read(os.path.join(d, f)))
    write("route_compile", "myhero-ingress.yml", read("examples/myhero/k8s/myhero-ingress.yml"))
    tests = "crates/ferry-gateway/tests"
    n = 0
    for f in sorted(os.listdir(os.path.join(REPO, tests))):
        if f.endswith(".rs"):
            for s in raw_strings(os.path.join(tests, f), "kind:"):
                write("route_compile", "%s-%d.yaml" % (f[:-3], n), s)
                n += 1


# === HTTP heads, ranges, webhooks ===

def http_seeds():
    reqs = [b"GET / HTTP/1.1\r\nHost: ui.example.test\r\n\r\n",
            b"POST /api HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello",
            b"PUT /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\n\r\n",
            b"\r\nGET http://b.example:8080/x?y=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"]
    for i, r in enumerate(reqs):
        write("http_head", "request%d" % i, bytes([0, 7 * i + 3]) + r)
    resps = [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok",
             b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
             b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
             b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil close",
             b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 10\r\n\r\n"]
    for i, r in enumerate(resps):
        write("http_head", "response%d" % i, bytes([1, i]) + r)
    chunks = [b"5\r\nhello\r\n0\r\n\r\n", b"3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\nNEXT",
              b"a\r\n0123456789\r\n"]
    for i, c in enumerate(chunks):
        write("http_head", "chunked%d" % i, bytes([2, 4 + i]) + c)


def range_seeds():
    for i, (size, text) in enumerate([(100, "bytes=0-9"), (100, "bytes=90-"), (100, "bytes=-10"),
                                      (0, "bytes=0-0"), (1 << 40, "bytes=0-99,200-299"),
                                      (1024, "0-1023"), (1024, "bytes 0-511/1024"), (7, "items=0-1")]):
        write("range", "range%d" % i, struct.pack("<Q", size) + bytes([2 * i + 1]) + text.encode())


def webhook_seeds():
    github = {"ref": "refs/heads/dev", "after": "a" * 40,
              "repository": {"clone_url": "https://git.example/org/myhero.git",
                             "ssh_url": "git@git.example:org/myhero.git",
                             "html_url": "https://git.example/org/myhero"}}
    gitlab = {"ref": "refs/heads/master", "checkout_sha": "b" * 40,
              "project": {"git_http_url": "https://gitlab.example/org/myhero.git",
                          "git_ssh_url": "git@gitlab.example:org/myhero.git",
                          "web_url": "https://gitlab.example/org/myhero"}}
    gitea = {"ref": "refs/heads/feature/x", "after": "c" * 40,
             "repository": {"clone_url": "http://127.0.0.1:3000/org/myhero.git", "url": "file:///srv/myhero"}}
    for i, body in enumerate([github, gitlab, gitea, github]):
        secret = b"hook-secret"[: 3 * i + 2]
        write("webhook", "push%d.json" % i, bytes([i, len(secret)]) + secret + json.dumps(body).encode())


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    tar_seeds()
    oci_seeds()
    dockerfile_seeds()
    yaml_seeds()
    route_seeds()
    http_seeds()
    range_seeds()
    webhook_seeds()


if __name__ == "__main__":
    main()
