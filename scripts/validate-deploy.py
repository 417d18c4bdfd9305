"""The file checks of scripts/validate-deploy.sh that no tool here does: whether the deployment files agree with each
other and with the service (probe paths, ports, names, environment contract, metric names). Needs PyYAML.

    python3 scripts/validate-deploy.py compose | k8s | grafana RULES_OUT | dockerfile-env | metric-names METRICS_FILE

Each command prints what it checked, or every problem it found and exits 1.
"""
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "gruservice"
PORT = 8080
# The app option Shutdown:TimeoutSeconds and its default: grace periods must exceed it.
SHUTDOWN_TIMEOUT_VARIABLE = "Shutdown__TimeoutSeconds"
SHUTDOWN_TIMEOUT_DEFAULT = 30
# The storage contract the compose stack and the manifests hand to the service (docs/deploy.md).
STORAGE_CONTRACT = ("Storage__Provider", "Storage__Postgres__ConnectionString")
# Metric families the dashboards and alerts may use although a freshly started service does not export them yet:
# they appear with their first sample, or come with work in progress.
METRICS_APPEARING_LATER = {
    "gruservice_training_epoch_duration_seconds": "after a training job's first epoch",
    "gruservice_training_loss": "while a training job runs",
    "gruservice_inference_batch_size": "with request batching (in progress)",
    "gruservice_inference_queue_time_seconds": "with request batching (in progress)",
    "gruservice_inference_pending": "with request batching (in progress)",
}
# Prefixes of the names the service exports; other names (up, absent...) belong to Prometheus.
SERVICE_METRIC = re.compile(r"\b((?:gruservice|http_server|kestrel|dotnet|aspnetcore)_[a-z0-9_]+)")

problems: list[str] = []


def check(condition: bool, problem: str) -> None:
    if not condition:
        problems.append(problem)


def load_yaml_documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def health_paths() -> set[str]:
    """The probe paths the service maps, read from its source so the manifests cannot drift from it."""
    source = (ROOT / "src/GruService.Api/Health/HealthApi.cs").read_text()
    return set(re.findall(r'MapGet(?:AndHead)?\("(/[a-z]+)"', source))


def seconds(value) -> float:
    """Compose durations: 45, "45s", "1m30s"."""
    if isinstance(value, (int, float)):
        return float(value)
    total, units = 0.0, {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", str(value)):
        total += float(number) * units[unit]
    return total


def environment_of(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return env


def check_compose() -> str:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    app = services[SERVICE]
    check(app.get("deploy", {}).get("replicas") == 3, "compose: gruservice should run 3 replicas (deploy.replicas)")
    check("ports" not in app, "compose: gruservice replicas must not publish host ports (they would clash); nginx does")
    env = environment_of(app)
    for name in STORAGE_CONTRACT:
        check(name in env, f"compose: gruservice lacks the storage contract variable {name}")
    check(env.get("Storage__Provider") == "Postgres", "compose: Storage__Provider should be Postgres")
    check("Host=postgres" in str(env.get("Storage__Postgres__ConnectionString")), "compose: the connection string should name the postgres service")
    timeout = float(env.get(SHUTDOWN_TIMEOUT_VARIABLE, SHUTDOWN_TIMEOUT_DEFAULT))
    check(seconds(app.get("stop_grace_period", 10)) > timeout, f"compose: stop_grace_period must exceed the service's shutdown timeout ({timeout:g} s)")
    check(services["postgres"]["image"].startswith("postgres:16"), "compose: postgres should be postgres:16")
    check(any(str(v).endswith(":/var/lib/postgresql/data") for v in services["postgres"].get("volumes", [])), "compose: postgres needs a data volume")

    # Every file mounted from the repository exists.
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                check((ROOT / source).exists(), f"compose: {name} mounts {source}, which does not exist")

    # nginx and Prometheus reach the replicas by the compose service name and the container port.
    nginx = (ROOT / "deploy/nginx/nginx.conf").read_text()
    check(re.search(rf"^\s*server\s+{SERVICE}:{PORT}\b[^;]*\bmax_fails=\d+[^;]*\bfail_timeout=\w+", nginx, re.M) is not None,
          f"nginx: the upstream should be server {SERVICE}:{PORT} with max_fails and fail_timeout")
    check(re.search(r"^\s*resolver\s+127\.0\.0\.11\b", nginx, re.M) is not None, "nginx: resolver 127.0.0.11 (Docker's DNS) is missing")
    check(re.search(r"^\s*zone\s+\w+", nginx, re.M) is not None, "nginx: `server ... resolve` needs a shared-memory zone in the upstream")
    nginx_ports = services["nginx"].get("ports", [])
    check(any(str(p).endswith(":8080") for p in nginx_ports) and re.search(r"^\s*listen\s+8080\s*;", nginx, re.M) is not None,
          "nginx: should listen on 8080, published by compose")
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    job = next((j for j in prometheus["scrape_configs"] if j["job_name"] == SERVICE), None)
    check(job is not None, "prometheus: no gruservice scrape job")
    if job:
        sd = (job.get("dns_sd_configs") or [{}])[0]
        check(sd.get("names") == [SERVICE] and sd.get("type") == "A" and sd.get("port") == PORT,
              f"prometheus: the gruservice job should discover the replicas by DNS: names [{SERVICE}], type A, port {PORT}")
    return (f"compose: {len(services)} services; gruservice x{app.get('deploy', {}).get('replicas')}, storage contract, grace period, "
          "mounted files, nginx upstream and Prometheus discovery agree")


def check_k8s() -> str:
    directory = ROOT / "deploy/k8s"
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    listed = set(kustomization.get("resources", []))
    files = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    check(listed == files, f"k8s: kustomization.yaml resources {sorted(listed)} differ from the manifests {sorted(files)}")
    objects: dict[str, list[dict]] = {}
    for path in sorted(directory.glob("*.yaml")):
        for doc in load_yaml_documents(path):
            for key in ("apiVersion", "kind"):
                check(key in doc, f"k8s: {path.name} has a document without {key}")
            if doc.get("kind") != "Kustomization":
                check(bool(doc.get("metadata", {}).get("name")), f"k8s: {path.name}: a {doc.get('kind')} without metadata.name")
            objects.setdefault(doc.get("kind"), []).append(doc)

    deployment = objects["Deployment"][0]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    check(spec["selector"]["matchLabels"].items() <= labels.items(), "k8s: the Deployment's selector does not match its pod labels")
    container = pod["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    check(PORT in ports.values(), f"k8s: the container should expose {PORT}, the image's port")

    served = health_paths()
    expected = {"startupProbe": None, "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    for probe, path in expected.items():
        get = container.get(probe, {}).get("httpGet")
        check(get is not None, f"k8s: the container has no {probe} with httpGet")
        if get:
            check(get["path"] in served, f"k8s: {probe} probes {get['path']}, which the service does not serve ({sorted(served)})")
            check(path is None or get["path"] == path, f"k8s: {probe} should probe {path}")
            check(get["port"] in ports or get["port"] in ports.values(), f"k8s: {probe} names port {get['port']}, which the container lacks")

    env = {e["name"]: e for e in container.get("env", [])}
    for name in STORAGE_CONTRACT:
        check(name in env, f"k8s: the container lacks the storage contract variable {name}")
    timeout = float(env.get(SHUTDOWN_TIMEOUT_VARIABLE, {}).get("value", SHUTDOWN_TIMEOUT_DEFAULT))
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(grace > timeout + pre_stop, f"k8s: terminationGracePeriodSeconds {grace} must exceed the shutdown timeout {timeout:g} s plus the preStop sleep {pre_stop} s")
    secrets = {s["metadata"]["name"]: {**s.get("data", {}), **s.get("stringData", {})} for s in objects.get("Secret", [])}
    for e in env.values():
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            check(ref["key"] in secrets.get(ref["name"], {}), f"k8s: {e['name']} reads {ref['name']}/{ref['key']}, which no manifest defines")

    security = pod.get("securityContext", {})
    check(security.get("runAsNonRoot") is True, "k8s: the pod should set runAsNonRoot: true")
    check(security.get("runAsUser", 0) != 0, "k8s: runAsUser must not be 0")
    container_security = container.get("securityContext", {})
    check(container_security.get("readOnlyRootFilesystem") is True, "k8s: the container should have a read-only root filesystem")
    check(container_security.get("allowPrivilegeEscalation") is False, "k8s: allowPrivilegeEscalation should be false")
    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    storage_root = env.get("Storage__Root", {}).get("value")
    check(storage_root in mounts, f"k8s: the storage root {storage_root} must be a mounted volume (the root filesystem is read-only)")
    check("/tmp" in mounts, "k8s: /tmp must be a mounted volume (the root filesystem is read-only)")
    check("cpu" in container.get("resources", {}).get("requests", {}), "k8s: a CPU request is needed for the autoscaler's utilisation target")

    service = objects["Service"][0]
    check(service["spec"]["selector"].items() <= labels.items(), "k8s: the Service's selector does not match the pods")
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        check(target in ports or target in ports.values(), f"k8s: the Service targets port {target}, which the container lacks")

    hpa = objects["HorizontalPodAutoscaler"][0]
    check(hpa["apiVersion"] == "autoscaling/v2", "k8s: the HorizontalPodAutoscaler should be autoscaling/v2")
    target = hpa["spec"]["scaleTargetRef"]
    check(target["kind"] == "Deployment" and target["name"] == deployment["metadata"]["name"], "k8s: the autoscaler does not target the Deployment")
    check(any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"]["metrics"]), "k8s: the autoscaler should scale on CPU")
    for budget in objects.get("PodDisruptionBudget", []):
        check(budget["spec"]["selector"]["matchLabels"].items() <= labels.items(), "k8s: the PodDisruptionBudget does not select the pods")

    count = sum(len(v) for k, v in objects.items() if k != "Kustomization")
    kinds = ", ".join(sorted(k for k in objects if k != "Kustomization"))
    probed = ", ".join(f"{p}={container.get(p, {}).get('httpGet', {}).get('path')}" for p in expected)
    return (f"k8s: {count} objects parse ({kinds}); probes {probed} are served ({', '.join(sorted(served))}); "
            f"grace {grace} s > shutdown {timeout:g} s + preStop {pre_stop} s; non-root, read-only root; selectors, ports and the Secret agree")


def dashboards() -> list[tuple[str, dict]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))]


def dashboard_expressions(board: dict) -> list[tuple[str, str]]:
    found = []
    for panel in board.get("panels", []):
        for target in panel.get("targets", []):
            if target.get("expr"):
                found.append((panel["title"], target["expr"]))
    return found


def grafana_to_promql(expr: str) -> str:
    """A dashboard query as Prometheus would receive it: Grafana's variables with plausible values."""
    return expr.replace("$__rate_interval", "1m").replace("$instance", ".*").replace("$route", ".*").replace("$model", ".*")


def check_grafana(rules_out: Path) -> str:
    sources = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"]
    uids = {s["uid"] for s in sources}
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/gruservice.yml").read_text())["providers"][0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in compose["volumes"]}
    check(mounts.get(provider["options"]["path"]) == "./deploy/grafana/dashboards",
          f"grafana: the dashboard provider reads {provider['options']['path']}, where compose does not mount deploy/grafana/dashboards")
    home = compose.get("environment", {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        check((ROOT / "deploy/grafana/dashboards" / Path(home).name).exists(), f"grafana: the home dashboard {home} does not exist")

    rules, seen_uids, total = [], set(), 0
    for name, board in dashboards():
        check(board.get("uid") not in seen_uids, f"grafana: {name} repeats uid {board.get('uid')}")
        seen_uids.add(board.get("uid"))
        ids = [p["id"] for p in board["panels"]]
        check(len(ids) == len(set(ids)), f"grafana: {name} has repeated panel ids")
        for panel in board["panels"]:
            for target in [panel] + panel.get("targets", []):
                ds = target.get("datasource")
                if ds:
                    check(ds.get("uid") in uids, f"grafana: {name} / {panel['title']} uses data source {ds.get('uid')}, which is not provisioned")
        for variable in board.get("templating", {}).get("list", []):
            ds = variable.get("datasource")
            check(not ds or ds.get("uid") in uids, f"grafana: {name} variable {variable['name']} uses an unprovisioned data source")
        for i, (title, expr) in enumerate(dashboard_expressions(board)):
            rules.append({"record": f"dashboard:{Path(name).stem.replace('-', '_')}:{i}", "expr": grafana_to_promql(expr)})
            total += 1
    # promtool parses every query as a recording rule: a PromQL syntax error in a dashboard fails the check.
    rules_out.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, sort_keys=False))
    return f"grafana: {len(seen_uids)} dashboards, {total} queries; data sources, provider path and mounts agree"


def check_metric_names(metrics_file: Path) -> str:
    """Every service metric the dashboards and alerts name is one the running service exports (or will)."""
    exported = set(re.findall(r"^# TYPE (\S+) ", metrics_file.read_text(), re.M))
    queries = [expr for _, board in dashboards() for _, expr in dashboard_expressions(board)]
    for group in yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]:
        queries += [rule["expr"] for rule in group["rules"]]
    used = {re.sub(r"_(bucket|count|sum)$", "", name) for q in queries for name in SERVICE_METRIC.findall(q)}
    later = sorted(name for name in used - exported if name in METRICS_APPEARING_LATER)
    for name in sorted(used - exported - set(METRICS_APPEARING_LATER)):
        problems.append(f"metrics: {name} is used by a dashboard or alert but the service does not export it")
    return "\n".join([f"metrics: {len(used)} service metric families used by dashboards and alerts, {len(used) - len(later)} exported by the running service"]
                     + [f"  not yet exported (expected): {name}, {METRICS_APPEARING_LATER[name]}" for name in later])


def dockerfile_env() -> None:
    """The runtime stage's ENV as NAME=VALUE lines, with its USER, so the non-root run mirrors the image."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    runtime = text.split("\nFROM ")[-1]
    for line in runtime.splitlines():
        if line.startswith("ENV "):
            for pair in re.findall(r"(\w+)=(\S+)", line[4:]):
                print(f"{pair[0]}={pair[1]}")
    user = re.search(r"^USER\s+(\S+)", runtime, re.M)
    healthcheck = re.search(r"^HEALTHCHECK\b.*\bCMD\s+(\[.*\])", runtime, re.M)
    check(user is not None and user.group(1) not in ("root", "0"), "Dockerfile: the runtime stage should switch to a non-root USER")
    check(healthcheck is not None and "--healthcheck" in json.loads(healthcheck.group(1)), "Dockerfile: HEALTHCHECK should run the app's --healthcheck in exec form")
    check(re.search(rf"^EXPOSE\s+{PORT}\b", runtime, re.M) is not None, f"Dockerfile: the runtime stage should EXPOSE {PORT}")
    check(re.search(r"^VOLUME\s+\S+", runtime, re.M) is not None, "Dockerfile: the storage root should be a VOLUME")


def main() -> int:
    command, *rest = sys.argv[1:]
    summary = {"compose": check_compose, "k8s": check_k8s, "dockerfile-env": dockerfile_env,
     "grafana": lambda: check_grafana(Path(rest[0])), "metric-names": lambda: check_metric_names(Path(rest[0]))}[command]()
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    if summary and not problems:
        print(summary)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
