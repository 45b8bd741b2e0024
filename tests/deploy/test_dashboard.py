"""deploy/: the Grafana dashboard, Prometheus config, Grafana provisioning and
compose file, checked against a real Prometheus and a real kiln-server.

- deploy/grafana/dashboards/kiln.json is Grafana dashboard JSON: panels with
  targets, unique ids, non-overlapping grid positions, a Prometheus
  datasource (the provisioned one, through the `datasource` variable);
- every PromQL expression in it parses: a real Prometheus (Debian's
  /usr/bin/prometheus, started on a temporary directory and a free port)
  answers /api/v1/query without an error for each, with Grafana's variables
  substituted;
- every metric name those expressions use is exported by Kiln: a
  kiln-server with metrics on serves a model from the test repository, runs
  a few inferences, and its /metrics must name each one (histograms as
  _bucket/_sum/_count, counters' families with or without _total);
- deploy/prometheus.yml passes `promtool check config`; compose.yaml and the
  provisioning files are YAML that agree with each other and with the files
  they mount.

Environment: KILN_SERVER (default <repo>/build/kiln-server), KILN_TEST_REPO
(default: generated into <repo>/build/test_repo), PROMETHEUS / PROMTOOL
(default /usr/bin/prometheus, /usr/bin/promtool: scripts/setup installs
Debian's prometheus package).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "kiln.json"
PROMETHEUS_YML = DEPLOY / "prometheus.yml"
COMPOSE = DEPLOY / "compose.yaml"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources"
DASHBOARD_PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards"

PROMETHEUS = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("PROMTOOL", "/usr/bin/promtool")
MODEL = "tiny_cnn"          # small and quick to compile; from the test repository
START_TIMEOUT_S = 120
METRICS_WAIT_S = 15         # for families a background sampler fills in

# The panels the dashboard must have, by the metrics they are built on.
REQUIRED_METRICS = {
    "nv_inference_count",                         # throughput, batch size
    "nv_inference_exec_count",                    # average batch size
    "nv_inference_request_success",
    "kiln_request_duration_seconds_bucket",       # p50 / p90 / p99
    "kiln_queue_duration_seconds_bucket",         # queue time
    "nv_inference_queue_duration_us",
    "kiln_plan_compile_duration_seconds_bucket",  # compile time
    "kiln_accuracy_checks_total",                 # accuracy-check failures
    "kiln_plan_cache_hits_total",
    "kiln_plan_cache_misses_total",
    "kiln_plan_cache_size",
    "nv_inference_request_failure",               # failures by reason
}

# ------------------------------------------------------------------ PromQL

PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on",
                   "ignoring", "group_left", "group_right", "inf", "nan", "atan2"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
IDENTIFIER = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\()?")


def metric_names(expr):
    """The metric names a PromQL expression selects: identifiers that are not
    functions, aggregations, keywords, label names (in {...} or grouping
    clauses) or parts of numbers, durations and strings."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'", '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)      # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)     # range / subquery durations
    text = GROUPING.sub(" ", text)              # label lists
    names = set()
    for m in IDENTIFIER.finditer(text):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in PROMQL_KEYWORDS:
            continue
        names.add(name)
    # A bare {__name__="..."} selector.
    names.update(re.findall(r'__name__\s*=\s*"([^"]+)"', expr))
    return names


def substitute_grafana_variables(expr):
    """Grafana's interval variables become durations, every other variable a
    match-everything regex (the dashboard uses them only in =~ matchers)."""
    expr = re.sub(r"\$\{?__(rate_interval|interval|range|range_s|interval_ms)\}?",
                  lambda m: "1m" if not m.group(1).endswith(("_s", "_ms")) else "60", expr)
    return re.sub(r"\$\{?\w+(?::\w+)?\}?", ".*", expr)


def test_metric_name_extraction():
    assert metric_names(
        'histogram_quantile(0.99, sum by (model, le) '
        '(rate(kiln_request_duration_seconds_bucket{model=~"$model"}[$__rate_interval])))'
    ) == {"kiln_request_duration_seconds_bucket"}
    assert metric_names(
        "sum by (model) (rate(nv_inference_queue_duration_us[1m])) / "
        "sum by (model) (rate(nv_inference_request_success[1m])) / 1e6"
    ) == {"nv_inference_queue_duration_us", "nv_inference_request_success"}
    assert metric_names('a_metric unless on (job) group_left (x) b:rule offset 5m') == {
        "a_metric", "b:rule"}
    assert metric_names('{__name__="up", job="kiln"}') == {"up"}
    assert substitute_grafana_variables(
        'rate(x{model=~"$model",v=~"${version}"}[$__rate_interval])') == \
        'rate(x{model=~".*",v=~".*"}[1m])'


# ------------------------------------------------------------------ helpers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def stop(proc, log_path=None):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def log_tail(path, lines=80):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(cannot read {path}: {e})"


def all_targets(dashboard):
    """(panel, target) for every panel, rows' collapsed panels included."""
    for panel in dashboard["panels"]:
        for inner in [panel] + list(panel.get("panels", [])):
            for target in inner.get("targets", []):
                yield inner, target


def dashboard_queries(dashboard):
    """Every PromQL string: panel targets and the query variables."""
    queries = [t["expr"] for _, t in all_targets(dashboard)]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            # label_values(metric, label) -> the metric's selector.
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", q)
            queries.append(m.group(1) if m else q)
    return queries


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def dashboard():
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def _yaml_files(folder):
    return sorted(list(folder.glob("*.yaml")) + list(folder.glob("*.yml")))


@pytest.fixture(scope="module")
def provisioned_datasources():
    files = _yaml_files(DATASOURCES)
    assert files, f"no datasource provisioning file in {DATASOURCES}"
    return [ds for f in files for ds in yaml.safe_load(f.read_text())["datasources"]]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """A real Prometheus on a free port with an empty TSDB; yields its URL."""
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail(f"{PROMETHEUS} not found: scripts/setup installs Debian's prometheus",
                    pytrace=False)
    tmp = tmp_path_factory.mktemp("prometheus")
    config = tmp / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    log = tmp / "prometheus.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while http_get(f"{url}/-/ready", timeout=2)[0] != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prometheus did not become ready:\n{log_tail(log)}", pytrace=False)
            time.sleep(0.2)
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def test_repo():
    sys.path.insert(0, str(REPO_ROOT / "tests" / "models"))
    from make_repository import ensure_test_repository
    try:
        return ensure_test_repository()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module")
def kiln_metrics(test_repo, tmp_path_factory):
    """The /metrics text of a kiln-server (metrics on, one model) after a few
    inferences: the first builds a plan, the others run it."""
    import tritonclient.grpc as grpcclient

    binary = Path(os.environ.get("KILN_SERVER", REPO_ROOT / "build" / "kiln-server"))
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"kiln-server not found at {binary}: build it or set KILN_SERVER",
                    pytrace=False)
    tmp = tmp_path_factory.mktemp("kiln")
    repo = tmp / "repo"
    shutil.copytree(test_repo / MODEL, repo / MODEL)
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    args = [str(binary), f"--model-repository={repo}", f"--grpc-port={grpc_port}",
            f"--http-port={http_port}", "--allow-http=false", "--allow-metrics=true",
            f"--metrics-port={metrics_port}"]
    log = tmp / "kiln-server.log"
    with open(log, "wb") as out:
        out.write(("$ " + " ".join(args) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"kiln-server exited with {proc.returncode}:\n{log_tail(log)}",
                            pytrace=False)
            try:
                if client.is_model_ready(MODEL):
                    break
            except Exception:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{MODEL} not ready after {START_TIMEOUT_S} s:\n{log_tail(log)}",
                            pytrace=False)
            time.sleep(0.2)
        rng = np.random.default_rng(0)
        for batch in (1, 1, 2):
            x = rng.random((batch, 3, 32, 32), dtype=np.float32)
            inp = grpcclient.InferInput("INPUT__0", list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            client.infer(MODEL, [inp])
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        status, text = http_get(url)
        if status != 200:
            pytest.fail(f"GET {url}: {status or 'no answer'} {text[:300]}\n"
                        f"--- kiln-server log ---\n{log_tail(log)}", pytrace=False)

        def refetch():
            return http_get(url)[1]
        yield text, refetch
    finally:
        stop(proc)


# ------------------------------------------------------------------ dashboard

def test_dashboard_is_grafana_json(dashboard, provisioned_datasources):
    for key in ("title", "uid", "panels", "schemaVersion", "templating", "time"):
        assert key in dashboard, f"dashboard has no {key!r}"
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["panels"], "no panels"

    # The datasource: a `datasource` variable of type prometheus whose default
    # is the provisioned datasource's uid; panels and targets use it.
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds_var = variables.get("datasource")
    assert ds_var and ds_var["type"] == "datasource" and ds_var["query"] == "prometheus"
    provisioned_uids = {ds["uid"] for ds in provisioned_datasources if ds["type"] == "prometheus"}
    assert ds_var["current"]["value"] in provisioned_uids

    def check_ds(ds, where):
        assert isinstance(ds, dict) and ds.get("type") == "prometheus", f"{where}: datasource {ds}"
        assert ds.get("uid") in {"${datasource}", "$datasource"} | provisioned_uids, \
            f"{where}: datasource uid {ds.get('uid')}"

    ids = []
    cells = []
    for panel in dashboard["panels"]:
        for p in [panel] + list(panel.get("panels", [])):
            where = f"panel {p.get('id')} {p.get('title')!r}"
            assert isinstance(p.get("id"), int), f"{where}: no integer id"
            ids.append(p["id"])
            assert p.get("type") and p.get("title"), f"{where}: type and title"
            pos = p.get("gridPos", {})
            assert all(isinstance(pos.get(k), int) for k in "hwxy"), f"{where}: gridPos {pos}"
            assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, f"{where}: gridPos {pos}"
            if p is panel:
                cells.append((pos, where))
            if p["type"] == "row":
                continue
            check_ds(p.get("datasource"), where)
            assert p.get("targets"), f"{where}: no targets"
            refs = [t.get("refId") for t in p["targets"]]
            assert all(refs) and len(set(refs)) == len(refs), f"{where}: refIds {refs}"
            for t in p["targets"]:
                assert t.get("expr", "").strip(), f"{where}: target {t.get('refId')} has no expr"
                check_ds(t.get("datasource", p["datasource"]), f"{where} {t.get('refId')}")
    assert len(set(ids)) == len(ids), f"duplicate panel ids: {sorted(ids)}"

    for i, (a, wa) in enumerate(cells):
        for b, wb in cells[i + 1:]:
            overlap = (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and
                       a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])
            assert not overlap, f"{wa} and {wb} overlap"

    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            check_ds(var.get("datasource"), f"variable {var['name']}")


def test_dashboard_covers_the_required_panels(dashboard):
    exprs = [t["expr"] for _, t in all_targets(dashboard)]
    used = set().union(*(metric_names(e) for e in exprs))
    missing = REQUIRED_METRICS - used
    assert not missing, f"the dashboard uses none of {sorted(missing)}"
    joined = "\n".join(exprs)
    for q in ("0.5", "0.9", "0.99"):
        assert re.search(rf"histogram_quantile\(\s*{re.escape(q)}\s*,[^\n]*"
                         r"kiln_request_duration_seconds_bucket", joined), f"no p{q} latency"
    assert re.search(r'kiln_accuracy_checks_total\{[^}]*result\s*=\s*"fail"', joined)
    assert re.search(r"rate\(nv_inference_count[^)]*\)\s*\)\s*/\s*sum by \(model\) \("
                     r"rate\(nv_inference_exec_count", joined), "no average batch size"


def test_every_query_parses(dashboard, prometheus):
    errors = []
    queries = dashboard_queries(dashboard)
    assert len(queries) > 10
    for expr in queries:
        query = substitute_grafana_variables(expr)
        url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        status, body = http_get(url)
        try:
            reply = json.loads(body)
        except ValueError:
            reply = {"error": body}
        if status != 200 or reply.get("status") != "success":
            errors.append(f"{expr}\n  -> {status} {reply.get('errorType')}: {reply.get('error')}")
    assert not errors, "queries Prometheus rejects:\n" + "\n".join(errors)


def _exported(text):
    """(sample names, {family: type}) of a Prometheus text exposition."""
    samples, types = set(), {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                types[parts[2]] = parts[3]
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[a-zA-Z_:][\w:]*", line).group(0))
    return samples, types


def _is_exported(name, samples, types):
    if name in samples or name in types:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return suffix != "_bucket" or types[base] == "histogram"
    if name.endswith("_total") and types.get(name[: -len("_total")]) == "counter":
        return True  # OpenMetrics-style family name
    return False


def test_every_metric_in_the_dashboard_is_exported(dashboard, kiln_metrics):
    names = set().union(*(metric_names(q) for q in dashboard_queries(dashboard)))
    odd = {n for n in names if not n.startswith(("nv_", "kiln_"))}
    assert not odd, f"not Kiln metric names (or a query the extractor misreads): {odd}"
    text, refetch = kiln_metrics
    deadline = time.monotonic() + METRICS_WAIT_S
    while True:
        samples, types = _exported(text)
        missing = sorted(n for n in names if not _is_exported(n, samples, types))
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
        text = refetch()
    assert not missing, (f"metrics the dashboard queries that Kiln's /metrics does not export: "
                         f"{missing}\n(exported families: {sorted(types)})")
    # The inferences this test made are counted.
    assert re.search(rf'^nv_inference_count\{{[^}}]*model="{MODEL}"[^}}]*\}} [1-9]', text, re.M), \
        "no nonzero nv_inference_count for " + MODEL


# ------------------------------------------------------------------ config files

def test_prometheus_config_is_valid():
    assert os.access(PROMTOOL, os.X_OK), f"{PROMTOOL} not found (Debian's prometheus package)"
    done = subprocess.run([PROMTOOL, "check", "config", str(PROMETHEUS_YML)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert "kiln" in jobs
    assert jobs["kiln"].get("metrics_path", "/metrics") == "/metrics"
    targets = [t for sc in jobs["kiln"]["static_configs"] for t in sc["targets"]]
    assert targets and all(t.endswith(":8002") for t in targets), targets


def _bind_mounts(service):
    """{target: source} of a compose service's short-syntax bind mounts."""
    mounts = {}
    for v in service.get("volumes", []):
        # Compose's ${VAR:-default} interpolation, with the defaults.
        v = re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", v)
        parts = v.split(":")
        if parts[0].startswith((".", "/", "$")):
            mounts[parts[1]] = parts[0]
    return mounts


def test_compose_file(compose, provisioned_datasources):
    services = compose["services"]
    assert {"kiln", "prometheus", "grafana"} <= set(services)

    kiln = services["kiln"]
    assert kiln["image"] == "kiln:cpu"
    assert (COMPOSE.parent / kiln["build"]["context"] / kiln["build"].get("dockerfile", "Dockerfile")).is_file()
    assert {p.split(":")[-1] for p in kiln["ports"]} >= {"8000", "8001", "8002"}
    assert "/models" in _bind_mounts(kiln)

    prom = services["prometheus"]
    assert prom["image"].startswith("prom/prometheus")
    mounts = _bind_mounts(prom)
    assert (COMPOSE.parent / mounts["/etc/prometheus/prometheus.yml"]).resolve() == PROMETHEUS_YML
    # prometheus.yml scrapes the compose service `kiln`.
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    hosts = {t.split(":")[0] for j in config["scrape_configs"] if j["job_name"] == "kiln"
             for sc in j["static_configs"] for t in sc["targets"]}
    assert hosts == {"kiln"}, hosts

    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana")
    mounts = _bind_mounts(grafana)
    assert (COMPOSE.parent / mounts["/etc/grafana/provisioning"]).resolve() == DATASOURCES.parent
    dashboards_dir = next(t for t, s in mounts.items()
                          if (COMPOSE.parent / s).resolve() == DASHBOARD.parent)
    # The provider loads from where the dashboards are mounted.
    providers = [p for f in _yaml_files(DASHBOARD_PROVIDERS)
                 for p in yaml.safe_load(f.read_text())["providers"]]
    assert providers and all(p["options"]["path"] == dashboards_dir for p in providers)
    # The datasource points at the compose service `prometheus`.
    urls = {ds["url"] for ds in provisioned_datasources if ds["type"] == "prometheus"}
    assert urls == {"http://prometheus:9090"}, urls
