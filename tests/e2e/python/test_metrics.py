"""Prometheus metrics on the metrics port: Triton's nv_* families with
Triton's meanings, Kiln's histograms and engine metrics, checked after known
traffic by reading /metrics, by `promtool check metrics`, and through a real
Prometheus server that scrapes Kiln.

The tests write their own repository: `counted` (dynamic batching) and
`timeouts` (a 100 ms REJECT queue timeout behind a 5 s batching delay) run
one TorchScript module that returns 2*x+1; `runtime_error` is copied from
the test repository (it raises on negative input).
"""

import json
import math
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import tritonclient.grpc as tc
from torch import Tensor

from conftest import free_ports
from kiln_testlib import START_TIMEOUT_S, expect_error

PROMTOOL = Path("/usr/bin/promtool")
PROMETHEUS = Path("/usr/bin/prometheus")

# promtool's linter flags names Kiln keeps for Triton's dashboards: counters
# without "_total", "_us" units, a gauge named *_count. Nothing else may be
# flagged, and no kiln_* name at all.
TRITON_LINT = ('counter metrics should have "_total" suffix',
               "metric names should not contain abbreviated units",
               'non-histogram and non-summary metrics should not have "_count" suffix')


class TwiceAndOne(torch.nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * 2 + 1


def config(name, batching):
    return (f'name: "{name}"\nplatform: "pytorch_libtorch"\nmax_batch_size: 8\n'
            'input [ { name: "INPUT__0" data_type: TYPE_INT64 dims: [ 4 ] } ]\n'
            'output [ { name: "OUTPUT__0" data_type: TYPE_INT64 dims: [ 4 ] } ]\n'
            f"dynamic_batching {{ {batching} }}\n")


MODELS = {
    "counted": config("counted", "max_queue_delay_microseconds: 100"),
    "timeouts": config("timeouts", (
        "max_queue_delay_microseconds: 5000000 "
        "default_queue_policy { default_timeout_microseconds: 100000 timeout_action: REJECT }")),
}

# The traffic the tests send, and what the counters must say after it.
COUNTED_BATCHES = [1, 2, 3, 1, 1]
EXPECTED = {
    ('nv_inference_request_success', 'counted', None): len(COUNTED_BATCHES),
    ('nv_inference_count', 'counted', None): sum(COUNTED_BATCHES),
    ('nv_inference_request_failure', 'counted', 'OTHER'): 1,     # invalid request
    ('nv_inference_request_failure', 'counted', 'BACKEND'): 0,
    ('nv_inference_request_failure', 'counted', 'REJECTED'): 0,
    ('nv_inference_request_success', 'runtime_error', None): 1,
    ('nv_inference_request_failure', 'runtime_error', 'BACKEND'): 1,  # the model raised
    ('nv_inference_request_failure', 'runtime_error', 'OTHER'): 0,
    ('nv_inference_request_failure', 'timeouts', 'REJECTED'): 1,  # queue timeout
    ('nv_inference_request_success', 'timeouts', None): 0,
    ('kiln_request_duration_seconds_count', 'counted', None): len(COUNTED_BATCHES),
    ('kiln_queue_duration_seconds_count', 'counted', None): len(COUNTED_BATCHES),
    ('kiln_compute_infer_duration_seconds_count', 'counted', None): len(COUNTED_BATCHES),
    ('kiln_batch_size_sum', 'counted', None): sum(COUNTED_BATCHES),
}


def ints(rows, start=0):
    return np.arange(start, start + rows * 4, dtype=np.int64).reshape(rows, 4)


def infer_input(array, dtype="INT64"):
    i = tc.InferInput("INPUT__0", list(array.shape), dtype)
    i.set_data_from_numpy(array)
    return [i]


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return r.read().decode()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """[(name, {label: value}, float)] of every sample line."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = dict(_LABEL.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def value(samples, name, **labels):
    found = [v for n, l, v in samples
             if n == name and all(l.get(k) == str(w) for k, w in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def expected_labels(model, reason):
    labels = {"model": model, "version": "1"}
    if reason:
        labels["reason"] = reason
    return labels


@pytest.fixture(scope="module")
def metrics_server(make_server, test_repo, tmp_path_factory):
    repo = tmp_path_factory.mktemp("metrics-repo")
    module = torch.jit.script(TwiceAndOne())
    for name, text in MODELS.items():
        (repo / name / "1").mkdir(parents=True)
        (repo / name / "config.pbtxt").write_text(text)
        torch.jit.save(module, str(repo / name / "1" / "model.pt"))
    shutil.copytree(test_repo / "runtime_error", repo / "runtime_error")
    (metrics_port,) = free_ports(1)
    srv = make_server("--allow-metrics=true", f"--metrics-port={metrics_port}",
                      "--metrics-address=127.0.0.1", repo=repo)
    assert srv.metrics_port == metrics_port
    deadline = time.monotonic() + START_TIMEOUT_S
    client = srv.wait_live(deadline)
    srv.wait_models(client, list(MODELS) + ["runtime_error"], deadline=deadline)
    send_known_traffic(client)
    yield srv
    srv.stop(expect_rc=0)


def send_known_traffic(client):
    for i, rows in enumerate(COUNTED_BATCHES):
        result = client.infer("counted", infer_input(ints(rows, i)))
        np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), ints(rows, i) * 2 + 1)
    # Invalid (a float tensor for an INT64 input): OTHER.
    expect_error(lambda: client.infer("counted", infer_input(np.ones((1, 4), np.float32), "FP32")),
                 "INVALID_ARGUMENT", "counted")
    # Unknown model: no model to count it against.
    expect_error(lambda: client.infer("no_such_model", infer_input(ints(1))), "NOT_FOUND")
    # The model raises: BACKEND.
    bad = np.array([[-1, 2, 3, 4]], np.float32)
    expect_error(lambda: client.infer("runtime_error", infer_input(bad, "FP32")),
                 "INTERNAL", "negative input not allowed")
    good = np.array([[1, 2, 3, 4]], np.float32)
    client.infer("runtime_error", infer_input(good, "FP32"))
    # The queue timeout expires: REJECTED.
    expect_error(lambda: client.infer("timeouts", infer_input(ints(1))),
                 "UNAVAILABLE", "Request timeout expired")


def test_metrics_text_counts_the_traffic(metrics_server):
    samples = parse(scrape(metrics_server.metrics_port))
    for (name, model, reason), expected in EXPECTED.items():
        assert value(samples, name, **expected_labels(model, reason)) == expected, \
            (name, model, reason)
    counted = {"model": "counted", "version": "1"}
    executions = value(samples, "nv_inference_exec_count", **counted)
    assert 1 <= executions <= len(COUNTED_BATCHES)
    assert value(samples, "kiln_batch_size_count", **counted) == executions
    # Every reason is exported for every model, even at 0.
    for model in list(MODELS) + ["runtime_error"]:
        reasons = {l["reason"] for n, l, _ in samples
                   if n == "nv_inference_request_failure" and l["model"] == model}
        assert reasons == {"REJECTED", "CANCELED", "BACKEND", "OTHER"}, model
    # The histograms agree with the counters they sit beside.
    assert value(samples, "kiln_request_duration_seconds_bucket", le="+Inf", **counted) == \
        len(COUNTED_BATCHES)
    us = value(samples, "nv_inference_request_duration_us", **counted)
    seconds = value(samples, "kiln_request_duration_seconds_sum", **counted)
    assert us > 0 and abs(us / 1e6 - seconds) <= 1e-5 * len(COUNTED_BATCHES), (us, seconds)
    buckets = [(float(l["le"]), v) for n, l, v in samples
               if n == "kiln_request_duration_seconds_bucket" and l["model"] == "counted"]
    assert [b for b, _ in buckets][:2] == [0.0001, 0.00025]
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "buckets not cumulative"
    # The engine built a plan per new signature; each is in the compile histogram.
    built = value(samples, "kiln_plans_built_total", **counted)
    assert built >= 1
    assert value(samples, "kiln_plan_compile_duration_seconds_count", **counted) == built
    # Gauges.
    assert value(samples, "nv_inference_pending_request_count", **counted) == 0
    assert value(samples, "nv_model_load_duration_secs", **counted) > 0
    assert 0 <= value(samples, "nv_cpu_utilization") <= 1
    assert 0 < value(samples, "nv_cpu_memory_used_bytes") < \
        value(samples, "nv_cpu_memory_total_bytes")


def test_metrics_and_model_statistics_read_the_same_counters(metrics_server):
    client = metrics_server.client()
    samples = parse(scrape(metrics_server.metrics_port))
    for model in ["counted", "runtime_error", "timeouts"]:
        s = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
        labels = {"model": model, "version": "1"}
        stats = s["inference_stats"]
        assert value(samples, "nv_inference_request_success", **labels) == \
            int(stats.get("success", {}).get("count", 0))
        failures = sum(v for n, l, v in samples
                       if n == "nv_inference_request_failure" and l["model"] == model)
        assert failures == int(stats.get("fail", {}).get("count", 0)), model
        assert value(samples, "nv_inference_count", **labels) == int(s.get("inference_count", 0))
        assert value(samples, "nv_inference_exec_count", **labels) == \
            int(s.get("execution_count", 0))


def test_promtool_accepts_the_live_metrics(metrics_server):
    if not PROMTOOL.exists():
        pytest.fail(f"{PROMTOOL} missing: scripts/setup installs Debian's prometheus package",
                    pytrace=False)
    text = scrape(metrics_server.metrics_port)
    done = subprocess.run([str(PROMTOOL), "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=60)
    # 0: clean; 3: lint problems only (1 would be a format error).
    assert done.returncode in (0, 3), f"promtool: {done.returncode}\n{done.stderr}"
    problems = [p for p in (done.stdout + done.stderr).splitlines() if p.strip()]
    for problem in problems:
        assert problem.startswith("nv_"), f"promtool flags a Kiln name: {problem}"
        assert any(t in problem for t in TRITON_LINT), f"unexpected promtool finding: {problem}"


def prometheus_query(port, query):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for_port(proc, port, deadline, what):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}", pytrace=False)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} not ready on port {port}", pytrace=False)


@pytest.fixture
def prometheus(metrics_server, tmp_path):
    """A real Prometheus scraping the server every second; stopped (then
    killed if it lingers) at the end."""
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} missing: scripts/setup installs Debian's prometheus package",
                    pytrace=False)
    (port,) = free_ports(1)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: kiln\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{metrics_server.metrics_port}']\n")
    log_path = tmp_path / "prometheus.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={config}",
             f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    try:
        wait_for_port(proc, port, time.monotonic() + 60, "prometheus")
        yield port
    except BaseException:
        print(log_path.read_text(errors="replace")[-5000:])
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def promql(name, labels):
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def test_prometheus_scrapes_and_answers_queries(metrics_server, prometheus):
    queries = {'up{job="kiln"}': 1}
    for (name, model, reason), expected in EXPECTED.items():
        queries[promql(name, expected_labels(model, reason))] = expected
    deadline = time.monotonic() + 60
    while True:
        got = {}
        for query in queries:
            result = prometheus_query(prometheus, query)
            got[query] = float(result[0]["value"][1]) if len(result) == 1 else None
        if got == {q: float(v) for q, v in queries.items()}:
            break
        if time.monotonic() > deadline:
            pytest.fail("Prometheus answers differ from the traffic sent:\n" + "\n".join(
                f"  {q}: got {got[q]}, expected {v}" for q, v in queries.items()
                if got[q] != float(v)), pytrace=False)
        time.sleep(0.5)
    # Prometheus reads the buckets as a histogram: a median within the buckets.
    median = prometheus_query(
        prometheus,
        'histogram_quantile(0.5, kiln_request_duration_seconds_bucket{model="counted"})')
    assert len(median) == 1 and 0 < float(median[0]["value"][1]) <= 30, median
    # The failure reasons as a Triton dashboard would sum them.
    by_reason = prometheus_query(prometheus, "sum by (reason) (nv_inference_request_failure)")
    totals = {r["metric"]["reason"]: float(r["value"][1]) for r in by_reason}
    assert totals == {"REJECTED": 1, "CANCELED": 0, "BACKEND": 1, "OTHER": 1}, totals
    assert not math.isnan(float(prometheus_query(prometheus, "nv_cpu_utilization")[0]["value"][1]))


def test_metrics_port_in_use_fails_startup(make_server, tmp_path):
    repo = tmp_path / "repo"
    (repo / "counted" / "1").mkdir(parents=True)
    (repo / "counted" / "config.pbtxt").write_text(MODELS["counted"])
    torch.jit.save(torch.jit.script(TwiceAndOne()), str(repo / "counted" / "1" / "model.pt"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        srv = make_server("--allow-metrics=true", f"--metrics-port={port}",
                          "--metrics-address=127.0.0.1", repo=repo)
        rc = srv.proc.wait(START_TIMEOUT_S)
    srv.kill()  # already exited; takes it off the running list
    assert rc == 1
    assert f"cannot listen on 127.0.0.1:{port}" in srv.log_path.read_text()
