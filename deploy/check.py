#!/usr/bin/env python3
"""Offline checks of the deployment files (run by `make lint`, which CI runs).

For each overlay in deploy/k8s/overlays: `kubectl kustomize` builds it, `kubernetes-validate
--strict` validates every object against the Kubernetes schemas, and the rules below hold for
every Deployment. Also: the Dockerfile's shape, the NATS Helm values, the copy of the city's
configuration. Exits non-zero with one line per violation.

Usage: deploy/check.py [--kubernetes-version 1.31.0]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "k8s")
SERVICES = ["intake", "routing", "opd-case", "notification", "sla-monitor"]
# Services that scale horizontally (consumers share durable subscriptions, deliveries are
# leased); sla-monitor runs a fixed pair.
AUTOSCALED = {"intake", "routing", "opd-case", "notification"}
GRPC_PORT = 50051

problems = []


def fail(msg):
    problems.append(msg)


def build(overlay):
    out = subprocess.run(
        ["kubectl", "kustomize", os.path.join(K8S, "overlays", overlay)],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        fail(f"{overlay}: kubectl kustomize failed: {out.stderr.strip()}")
        return None, []
    return out.stdout, [d for d in yaml.safe_load_all(out.stdout) if d]


def validate(overlay, text, version):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        out = subprocess.run(
            ["kubernetes-validate", "--strict", "--quiet", "-k", version, path],
            check=False,
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(path)
    report = (out.stdout + out.stderr).strip()
    # Custom resources (CloudNativePG) have no schema here: a warning, checked by rules below.
    for line in report.splitlines():
        if line.startswith("WARN") and "Couldn't find schema for kind" in line and (
            "cnpg.io" in line or "monitoring.coreos.com" in line
        ):
            continue
        if line.strip():
            fail(f"{overlay}: kubernetes-validate: {line.strip()}")
    if out.returncode != 0 and not report:
        fail(f"{overlay}: kubernetes-validate exited {out.returncode}")


def selects(selector, labels):
    match = (selector or {}).get("matchLabels", {})
    return all(labels.get(k) == v for k, v in match.items())


def env_of(docs, name):
    """The ConfigMap env of a service as a dict."""
    for d in docs:
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == f"{name}-env":
            return d.get("data", {})
    return {}


def check_deployment(overlay, docs, dep):
    name = dep["metadata"]["name"]
    where = f"{overlay}: Deployment {name}"
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    labels = pod["metadata"].get("labels", {})
    if spec.get("automountServiceAccountToken") is not False:
        fail(f"{where}: automountServiceAccountToken must be false")
    sa = spec.get("serviceAccountName")
    sas = [d for d in docs if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == sa]
    if not sas:
        fail(f"{where}: ServiceAccount {sa!r} missing")
    elif sas[0].get("automountServiceAccountToken") is not False:
        fail(f"{where}: ServiceAccount {sa} must not automount its token")
    psc = spec.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        fail(f"{where}: pod securityContext.runAsNonRoot must be true")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail(f"{where}: pod seccompProfile must be RuntimeDefault")
    if not spec.get("topologySpreadConstraints"):
        fail(f"{where}: topologySpreadConstraints missing")
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        cw = f"{where} container {c['name']}"
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(kind, {}):
                    fail(f"{cw}: resources.{kind}.{r} missing")
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(f"{cw}: allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            fail(f"{cw}: readOnlyRootFilesystem must be true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            fail(f"{cw}: capabilities must drop ALL")
        if sc.get("privileged"):
            fail(f"{cw}: must not be privileged")
        if not (sc.get("runAsNonRoot") is True or psc.get("runAsNonRoot") is True):
            fail(f"{cw}: must run as non-root")
        image = c.get("image", "")
        if overlay == "production" and (":" not in image.split("/")[-1] or image.endswith(":latest")):
            fail(f"{cw}: production image must be pinned to a tag or digest, got {image!r}")
    # Probes and shutdown timing for lapor's own services.
    if name in SERVICES:
        c = spec["containers"][0]
        for probe in ("readinessProbe", "livenessProbe"):
            p = c.get(probe)
            if not p or p.get("grpc", {}).get("port") != GRPC_PORT:
                fail(f"{where}: {probe} must be a gRPC probe (grpc.health.v1) on {GRPC_PORT}")
        env = env_of(docs, name)
        prefix = "LAPOR_" + name.upper().replace("-", "_") + "__"
        drain = int(env.get(prefix + "DRAIN_MS", "1000")) / 1000
        grace = int(env.get(prefix + "SHUTDOWN_GRACE_SECS", "20"))
        flush = int(env.get(prefix + "TELEMETRY__EXPORT_TIMEOUT_MS", "5000")) / 1000
        tgp = spec.get("terminationGracePeriodSeconds", 30)
        if tgp <= drain + grace + flush:
            fail(
                f"{where}: terminationGracePeriodSeconds {tgp} must exceed drain {drain} s + "
                f"grace {grace} s + telemetry flush {flush} s"
            )
        if overlay == "production":
            if env.get(prefix + "NATS__STREAM_REPLICAS") != "3":
                fail(f"{where}: the event stream must be created with 3 replicas in production")
            if dep["spec"].get("replicas", 1) < 2:
                fail(f"{where}: production runs at least 2 replicas")
            hpas = [
                d
                for d in docs
                if d["kind"] == "HorizontalPodAutoscaler" and d["spec"]["scaleTargetRef"]["name"] == name
            ]
            if name in AUTOSCALED and not hpas:
                fail(f"{where}: HorizontalPodAutoscaler missing")
            for h in hpas:
                if h["spec"].get("minReplicas", 1) < 2:
                    fail(f"{where}: HPA minReplicas must be at least 2")
    # Disruption budget and network policy selecting these pods.
    if not any(
        d["kind"] == "PodDisruptionBudget" and selects(d["spec"].get("selector"), labels) for d in docs
    ):
        fail(f"{where}: no PodDisruptionBudget selects its pods")
    own = [
        d
        for d in docs
        if d["kind"] == "NetworkPolicy"
        and d["spec"].get("podSelector", {}).get("matchLabels")
        and selects(d["spec"]["podSelector"], labels)
    ]
    if not own:
        fail(f"{where}: no NetworkPolicy of its own")
    for np in own:
        if set(np["spec"].get("policyTypes", [])) != {"Ingress", "Egress"}:
            fail(f"{where}: NetworkPolicy {np['metadata']['name']} must govern Ingress and Egress")


def check_overlay(overlay, version):
    text, docs = build(overlay)
    if text is None:
        return
    validate(overlay, text, version)
    kinds = {}
    for d in docs:
        kinds.setdefault(d["kind"], []).append(d)
    # Namespace: restricted pod security, default deny, DNS allowed.
    ns = [d for d in kinds.get("Namespace", []) if d["metadata"]["name"] == "lapor"]
    if not ns or ns[0]["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") != "restricted":
        fail(f"{overlay}: namespace lapor must enforce the restricted Pod Security Standard")
    deny = [
        d
        for d in kinds.get("NetworkPolicy", [])
        if d["spec"].get("podSelector") == {}
        and set(d["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not d["spec"].get("ingress")
        and not d["spec"].get("egress")
    ]
    if not deny:
        fail(f"{overlay}: default-deny NetworkPolicy missing")
    for d in docs:
        if d["metadata"].get("namespace") not in (None, "lapor") and d["kind"] != "Namespace":
            fail(f"{overlay}: {d['kind']} {d['metadata']['name']} outside namespace lapor")
        if d["kind"] == "Secret" and (d.get("data") or d.get("stringData")):
            fail(f"{overlay}: Secret {d['metadata']['name']} has committed data; reference Secrets instead")
    deps = {d["metadata"]["name"]: d for d in kinds.get("Deployment", [])}
    for s in SERVICES:
        if s not in deps:
            fail(f"{overlay}: Deployment {s} missing")
        svc = [d for d in kinds.get("Service", []) if d["metadata"]["name"] == s]
        if not svc:
            fail(f"{overlay}: Service {s} missing")
    for dep in deps.values():
        check_deployment(overlay, docs, dep)
    if overlay == "production":
        clusters = [d for d in docs if d["kind"] == "Cluster" and d["apiVersion"].startswith("postgresql.cnpg.io/")]
        if not clusters:
            fail("production: CloudNativePG Cluster missing")
        for c in clusters:
            if c["spec"].get("instances", 1) < 3:
                fail("production: PostgreSQL cluster needs 3 instances")
            if not c["spec"].get("backup"):
                fail("production: PostgreSQL cluster has no backup")
        if "otel-collector" not in deps:
            fail("production: OpenTelemetry Collector missing")
        if not any(d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "nats" for d in docs):
            fail("production: NATS NetworkPolicy missing")
        rules = [d for d in docs if d["kind"] == "PrometheusRule"]
        alerts = [r.get("alert") for d in rules for g in d["spec"]["groups"] for r in g["rules"]]
        if not alerts or any(not a for a in alerts):
            fail("production: PrometheusRule with named alerts missing")
        with open(os.path.join(ROOT, "docs", "operations.md")) as f:
            guide = f.read()
        for a in alerts:
            if a and a not in guide:
                fail(f"production: alert {a} is not explained in docs/operations.md")


def check_nats_values():
    with open(os.path.join(K8S, "dependencies", "nats-values.yaml")) as f:
        v = yaml.safe_load(f)
    cfg = v.get("config", {})
    if not cfg.get("cluster", {}).get("enabled") or cfg["cluster"].get("replicas") != 3:
        fail("nats-values.yaml: a 3-replica cluster is required")
    js = cfg.get("jetstream", {})
    if not js.get("enabled") or js.get("merge", {}).get("sync_interval") != "always":
        fail("nats-values.yaml: JetStream with sync_interval: always is required")
    tag = v.get("container", {}).get("image", {}).get("tag", "")
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", tag)
    if not m or tuple(map(int, m.groups())) < (2, 12, 3):
        fail(f"nats-values.yaml: NATS server 2.12.3 or newer required, got {tag!r}")


def check_dockerfile():
    path = os.path.join(ROOT, "deploy", "docker", "Dockerfile")
    with open(path) as f:
        text = f.read()
    lines = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    instr = [l.split()[0].upper() for l in lines if not l.startswith((" ", "\t"))]
    known = {"FROM", "ARG", "RUN", "COPY", "WORKDIR", "USER", "EXPOSE", "ENTRYPOINT", "LABEL", "ENV", "CMD"}
    for i in instr:
        if i not in known and not i.startswith("&&"):
            fail(f"Dockerfile: unknown instruction {i}")
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M | re.I)
    for ref in re.findall(r"--from=(\S+)", text):
        if ref not in stages:
            fail(f"Dockerfile: COPY --from={ref} names no stage")
    if "cargo chef cook" not in text:
        fail("Dockerfile: the dependency layer must be cached (cargo chef cook)")
    # Patched crates are not workspace members, so cargo-chef's recipe has no skeleton of them:
    # their sources must be copied in before the dependency layer is cooked.
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        patch = re.search(r"^\[patch\.crates-io\]\n(.*?)(?=^\[|\Z)", f.read(), re.M | re.S)
    cook = text.find("cargo chef cook")
    for path in re.findall(r'path\s*=\s*"([^"]+)"', patch.group(1) if patch else ""):
        top = path.split("/")[0]
        copied = [m.start() for m in re.finditer(rf"^COPY\s+{re.escape(top)}/?\s", text, re.M)]
        if not any(c < cook for c in copied):
            fail(f"Dockerfile: patched crate {path} must be copied before cargo chef cook")
    if not re.search(r"^ARG SERVICE\b", text, re.M):
        fail("Dockerfile: ARG SERVICE missing")
    last_from = [l for l in lines if l.upper().startswith("FROM")][-1]
    if "distroless" not in last_from and "scratch" not in last_from:
        fail("Dockerfile: runtime stage must be minimal (distroless or scratch)")
    user = [l for l in lines if l.upper().startswith("USER")]
    if not user or user[-1].split()[1].split(":")[0] in ("0", "root"):
        fail("Dockerfile: runtime must run as a non-root user")
    if not os.path.exists(os.path.join(ROOT, ".dockerignore")):
        fail(".dockerignore missing")
    for s in SERVICES:
        cargo = os.path.join(ROOT, "services", s, "Cargo.toml")
        with open(cargo) as f:
            if f'name = "lapor-{s}"' not in f.read():
                fail(f"Dockerfile: services/{s} has no binary lapor-{s}")


def check_city_copy():
    with open(os.path.join(ROOT, "config", "bontang.toml")) as a, open(os.path.join(K8S, "base", "city.toml")) as b:
        if a.read() != b.read():
            fail("deploy/k8s/base/city.toml differs from config/bontang.toml: copy it again")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubernetes-version", default="1.31.0")
    args = ap.parse_args()
    overlays = sorted(os.listdir(os.path.join(K8S, "overlays")))
    if set(overlays) != {"dev", "production"}:
        fail(f"overlays must be dev and production, found {overlays}")
    for o in overlays:
        check_overlay(o, args.kubernetes_version)
    check_nats_values()
    check_dockerfile()
    check_city_copy()
    for p in problems:
        print(p)
    if problems:
        print(f"deploy check: {len(problems)} problem(s)")
        return 1
    print(f"deploy check: overlays {', '.join(overlays)} build, validate and follow the rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
