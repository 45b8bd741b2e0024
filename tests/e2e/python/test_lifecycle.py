"""Model control (explicit load/unload, refused in mode none) and shutdown
with requests in flight. Each server here is its own process."""

import queue
import re
import time
import urllib.request

import numpy as np
import pytest

from kiln_testlib import (START_TIMEOUT_S, assert_outputs_close, dtypes_of, expect_error, make_inputs,
                          result_outputs, tc_inputs)


@pytest.fixture(scope="module")
def explicit_server(make_server):
    srv = make_server("--model-control-mode=explicit", "--load-model=two_in_two_out")
    deadline = time.monotonic() + START_TIMEOUT_S
    client = srv.wait_live(deadline)
    srv.wait_models(client, ["two_in_two_out"], deadline=deadline)
    yield srv
    srv.stop(expect_rc=0)


@pytest.fixture
def explicit_client(explicit_server):
    return explicit_server.client()


def _wait_ready(client, model, want, timeout=60):
    deadline = time.monotonic() + timeout
    while client.is_model_ready(model) != want:
        assert time.monotonic() < deadline, f"{model} ready != {want} after {timeout} s"
        time.sleep(0.1)


def _infer_two(client):
    a = np.array([[1, 2, 3, 4]], np.float32)
    b = np.array([[3, 3, 3, 3]], np.float32)
    result = client.infer("two_in_two_out", tc_inputs({"a": a, "b": b}, {"a": "FP32", "b": "FP32"}))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), a + b)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__1"), a * b)


# ------------------------------------------------------------- explicit mode

def test_explicit_initial_state(explicit_client):
    assert explicit_client.is_server_live()
    assert explicit_client.is_model_ready("two_in_two_out")
    for model in ("tiny_cnn", "int64_embed", "broken_config"):
        assert explicit_client.is_model_ready(model) is False
    _infer_two(explicit_client)


def test_explicit_not_loaded_model_unavailable(explicit_client, test_repo):
    inputs = make_inputs(test_repo, "int64_embed", batch=1)
    expect_error(lambda: explicit_client.infer("int64_embed",
                                               tc_inputs(inputs, dtypes_of(test_repo,
                                                                           "int64_embed"))),
                 ("UNAVAILABLE", "NOT_FOUND"), "int64_embed")


def test_explicit_index_lists_unloaded_models(explicit_client):
    names = {m.name for m in explicit_client.get_model_repository_index(as_json=False).models}
    assert {"two_in_two_out", "tiny_cnn", "broken_config"} <= names


def test_explicit_load_infer_unload(explicit_client, test_repo, reference):
    model = "tiny_cnn"
    explicit_client.load_model(model)
    assert explicit_client.is_model_ready(model)
    inputs = make_inputs(test_repo, model, batch=2, seed=9)
    result = explicit_client.infer(model, tc_inputs(inputs, dtypes_of(test_repo, model)))
    assert_outputs_close(model, result_outputs(result), reference(model, inputs))
    md = explicit_client.get_model_metadata(model)
    assert [list(t.shape) for t in md.inputs] == [[-1, 3, 32, 32]]

    explicit_client.unload_model(model)
    _wait_ready(explicit_client, model, False)
    expect_error(lambda: explicit_client.infer(model, tc_inputs(inputs,
                                                                dtypes_of(test_repo, model))),
                 ("UNAVAILABLE", "NOT_FOUND"), model)
    index = {m.name: m for m in explicit_client.get_model_repository_index(as_json=False).models}
    assert index[model].state != "READY"
    _infer_two(explicit_client)  # the other model is untouched


def test_explicit_reload(explicit_client, test_repo, reference):
    # Loading twice is fine (Triton reloads); the model serves afterwards.
    model = "dict_output"
    explicit_client.load_model(model)
    explicit_client.load_model(model)
    assert explicit_client.is_model_ready(model)
    inputs = make_inputs(test_repo, model, batch=1, seed=4)
    result = explicit_client.infer(model, tc_inputs(inputs, dtypes_of(test_repo, model)))
    assert_outputs_close(model, result_outputs(result), reference(model, inputs))
    explicit_client.unload_model(model)
    _wait_ready(explicit_client, model, False)


@pytest.mark.parametrize("model", ["broken_config", "corrupt_model", "not_torchscript",
                                   "signature_mismatch", "bad_platform"])
def test_explicit_load_broken_fails(explicit_client, model):
    err = expect_error(lambda: explicit_client.load_model(model),
                       ("INVALID_ARGUMENT", "INTERNAL", "UNAVAILABLE", "FAILED_PRECONDITION",
                        "NOT_FOUND"))
    assert err.message(), "load error without a message"
    assert explicit_client.is_model_ready(model) is False
    index = {m.name: m for m in explicit_client.get_model_repository_index(as_json=False).models}
    assert index[model].state == "UNAVAILABLE"
    assert index[model].reason
    _infer_two(explicit_client)


def test_explicit_load_unknown_model(explicit_client):
    expect_error(lambda: explicit_client.load_model("no_such_model"),
                 ("NOT_FOUND", "INVALID_ARGUMENT", "UNAVAILABLE", "INTERNAL"), "no_such_model")


def test_load_refused_in_mode_none(client):
    # The default server runs with --model-control-mode=none.
    expect_error(lambda: client.load_model("tiny_cnn"),
                 ("UNAVAILABLE", "FAILED_PRECONDITION", "UNIMPLEMENTED", "INVALID_ARGUMENT"))
    expect_error(lambda: client.unload_model("tiny_cnn"),
                 ("UNAVAILABLE", "FAILED_PRECONDITION", "UNIMPLEMENTED", "INVALID_ARGUMENT"))
    assert client.is_model_ready("tiny_cnn")


# ------------------------------------------------------------------- shutdown

def _slow_counts(metrics_port):
    """(requests queued, requests succeeded) for the slow model, from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()

    def value(name):
        m = re.search(rf'^{name}{{model="slow",version="1"}} (\S+)$', text, re.M)
        return int(float(m.group(1))) if m else 0
    return value("nv_inference_pending_request_count"), value("nv_inference_request_success")


def _wait_all_received(metrics_port, sent, warmups, timeout=60):
    # One instance runs the slow model: while requests are queued one is
    # running, so queued + finished >= sent - 1 with something queued means
    # every request has reached the server (or all finished).
    deadline = time.monotonic() + timeout
    while True:
        queued, succeeded = _slow_counts(metrics_port)
        finished = succeeded - warmups
        if (queued >= 1 and queued + finished >= sent - 1) or finished >= sent:
            return
        assert time.monotonic() < deadline, f"only {queued} queued, {finished} finished"
        time.sleep(0.02)


def test_sigterm_with_requests_in_flight(make_server, test_repo, reference):
    srv = make_server("--model-control-mode=explicit", "--load-model=slow", "--allow-metrics=true")
    deadline = time.monotonic() + START_TIMEOUT_S
    client = srv.wait_live(deadline)
    srv.wait_models(client, ["slow"], deadline=deadline)
    dtypes = dtypes_of(test_repo, "slow")
    cases = [make_inputs(test_repo, "slow", seed=300 + i) for i in range(6)]
    # Warm up: the first request may build a plan; the test is about shutdown.
    client.infer("slow", tc_inputs(cases[0], dtypes), client_timeout=60)

    done = queue.Queue()
    sent = time.monotonic()
    for i, inputs in enumerate(cases):
        client.async_infer("slow", tc_inputs(inputs, dtypes), client_timeout=120,
                           callback=lambda result, error, i=i: done.put((i, result, error)))
    # All six must reach the server before SIGTERM (a call that arrives after
    # it is refused, rightly): the first runs ~300 ms, the others queue. A
    # fixed sleep was not enough on a loaded machine; the server's own
    # counters say when they are in.
    _wait_all_received(srv.metrics_port, sent=len(cases), warmups=1)
    srv.terminate()

    results = {}
    for _ in cases:
        i, result, error = done.get(timeout=120)
        assert error is None, f"request {i} failed during shutdown: {error}"
        results[i] = result_outputs(result)
    elapsed = time.monotonic() - sent
    rc = srv.stop(expect_rc=0)  # already signalled once: only waits for the exit
    assert rc == 0
    for i, inputs in enumerate(cases):
        assert_outputs_close("slow", results[i], reference("slow", inputs))
    # Six ~300 ms requests on one instance: the server kept working after SIGTERM.
    assert elapsed > 0.3, f"all six answered in {elapsed:.3f} s; is 'slow' slow?"


def test_sigterm_idle_exits_zero(make_server):
    srv = make_server("--model-control-mode=explicit")
    client = srv.wait_live(time.monotonic() + START_TIMEOUT_S)
    assert client.is_server_live()
    assert srv.stop(expect_rc=0) == 0
