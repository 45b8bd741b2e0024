"""Dynamic batching, queue policies, instances and warmup through the server.

The tests write their own repository: one TorchScript model that returns, for
each row, 2*x+1 (which row is whose) and the batch size the model saw (whether
requests were batched), under several config.pbtxt variants. Integer tensors
keep the arithmetic exact whatever the engine compiles.
"""

import queue
import threading
import time

import numpy as np
import pytest
import torch
import tritonclient.grpc as tc
from torch import Tensor
from typing import Tuple

from tritonclient.grpc import service_pb2

from kiln_testlib import (START_TIMEOUT_S, expect_error, expect_rpc_error, raw_request,
                          raw_stub)


class RowsAndBatch(torch.nn.Module):
    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        seen = torch.full_like(x[:, :1], x.size(0))
        return x * 2 + 1, seen


def config(name, max_batch=8, batching="", extra="", dims="[ 4 ]"):
    return (f'name: "{name}"\nplatform: "pytorch_libtorch"\nmax_batch_size: {max_batch}\n'
            f'input [ {{ name: "INPUT__0" data_type: TYPE_INT64 dims: {dims} }} ]\n'
            'output [ { name: "OUTPUT__0" data_type: TYPE_INT64 dims: [ -1 ] },\n'
            '         { name: "OUTPUT__1" data_type: TYPE_INT64 dims: [ 1 ] } ]\n'
            + (f"dynamic_batching {{ {batching} }}\n" if batching is not None else "") + extra)


WARMUP = ('model_warmup [ { name: "b4" batch_size: 4 count: 2 inputs { key: "INPUT__0" '
          'value: { data_type: TYPE_INT64 dims: [ 4 ] zero_data: true } } } ]\n')
BAD_WARMUP = ('model_warmup [ { name: "from_file" batch_size: 1 inputs { key: "INPUT__0" '
              'value: { data_type: TYPE_INT64 dims: [ 4 ] input_data_file: "missing.bin" } } } ]\n')

VARIANTS = {
    # 200 ms of batching delay: concurrent requests meet in one batch.
    "batched": config("batched", batching="max_queue_delay_microseconds: 200000"),
    "unbatched": config("unbatched", batching=None),
    "ragged": config("ragged", dims="[ -1 ]", batching="max_queue_delay_microseconds: 200000"),
    "two_instances": config("two_instances", batching="max_queue_delay_microseconds: 1000",
                            extra="instance_group [ { count: 2 kind: KIND_CPU } ]\n"),
    "queue_full": config("queue_full", batching=(
        "max_queue_delay_microseconds: 3000000 "
        "default_queue_policy { max_queue_size: 2 }")),
    "timeouts": config("timeouts", batching=(
        "max_queue_delay_microseconds: 5000000 "
        "default_queue_policy { default_timeout_microseconds: 100000 "
        "timeout_action: REJECT allow_timeout_override: true }")),
    "warmed": config("warmed", batching="", extra=WARMUP),
    "bad_warmup": config("bad_warmup", batching="", extra=BAD_WARMUP),
}
GOOD = [m for m in VARIANTS if m != "bad_warmup"]


@pytest.fixture(scope="module")
def batching_server(make_server, tmp_path_factory):
    repo = tmp_path_factory.mktemp("batching-repo")
    module = torch.jit.script(RowsAndBatch())
    for name, text in VARIANTS.items():
        (repo / name / "1").mkdir(parents=True)
        (repo / name / "config.pbtxt").write_text(text)
        torch.jit.save(module, str(repo / name / "1" / "model.pt"))
    srv = make_server("--exit-on-error=false", repo=repo)
    deadline = time.monotonic() + START_TIMEOUT_S
    client = srv.wait_live(deadline)
    srv.wait_models(client, GOOD, settled=["bad_warmup"], deadline=deadline)
    yield srv
    srv.stop(expect_rc=0)


def rows(first, batch=1, width=4):
    return np.arange(first, first + batch * width, dtype=np.int64).reshape(batch, width)


def infer_inputs(x):
    i = tc.InferInput("INPUT__0", list(x.shape), "INT64")
    i.set_data_from_numpy(x)
    return [i]


def send_all(client, model, arrays, **kwargs):
    """Sends every array at once; returns [(array, result, error)] in order."""
    done = queue.Queue()
    for i, x in enumerate(arrays):
        client.async_infer(model, infer_inputs(x), client_timeout=60,
                           callback=lambda result, error, i=i: done.put((i, result, error)),
                           **kwargs)
    replies = {}
    for _ in arrays:
        i, result, error = done.get(timeout=90)
        assert i not in replies, f"request {i} answered twice"
        replies[i] = (result, error)
    assert done.empty()
    return [(arrays[i], *replies[i]) for i in range(len(arrays))]


def stats(client, model):
    s = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
    return {"inference": int(s.get("inference_count", 0)),
            "execution": int(s.get("execution_count", 0)),
            "batches": {int(b["batch_size"]): int(b["compute_infer"]["count"])
                        for b in s.get("batch_stats", [])}}


def check_rows(x, result):
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), 2 * x + 1)
    return int(result.as_numpy("OUTPUT__1")[0, 0])


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(batching_server):
    client = batching_server.client()
    arrays = [rows(100 * i, batch=1 + i % 2) for i in range(8)]  # 12 items, max batch 8
    seen = []
    for x, result, error in send_all(client, "batched", arrays):
        assert error is None, error
        seen.append(check_rows(x, result))
    assert max(seen) > 1, f"no request was batched: {seen}"
    assert all(s <= 8 for s in seen), seen
    s = stats(client, "batched")
    assert s["inference"] == 12
    assert s["execution"] < 8
    assert sum(size * n for size, n in s["batches"].items()) == 12
    assert s["execution"] == sum(s["batches"].values())


def test_without_dynamic_batching_each_request_runs_alone(batching_server):
    client = batching_server.client()
    arrays = [rows(10 * i, batch=2) for i in range(6)]
    for x, result, error in send_all(client, "unbatched", arrays):
        assert error is None, error
        assert check_rows(x, result) == 2
    s = stats(client, "unbatched")
    assert (s["inference"], s["execution"], s["batches"]) == (12, 6, {2: 6})


def test_requests_with_different_shapes_are_not_batched_together(batching_server):
    client = batching_server.client()
    arrays = [rows(10 * i, width=4 if i % 2 else 6) for i in range(8)]
    for x, result, error in send_all(client, "ragged", arrays):
        assert error is None, error
        assert check_rows(x, result) <= 4  # only the 4 requests of its width


def test_many_clients_on_two_instances_lose_nothing(batching_server):
    client = batching_server.client()
    arrays = [rows(1000 * i, batch=1 + i % 3) for i in range(64)]
    results = send_all(client, "two_instances", arrays)
    for x, result, error in results:
        assert error is None, error
        check_rows(x, result)
    s = stats(client, "two_instances")
    assert s["inference"] == sum(x.shape[0] for x in arrays)
    assert s["execution"] <= 64


def test_full_queue_is_refused_with_unavailable(batching_server):
    client = batching_server.client()
    done = queue.Queue()
    for i in range(2):  # held by the 3 s batching delay
        client.async_infer("queue_full", infer_inputs(rows(i)), client_timeout=60,
                           callback=lambda result, error: done.put(error))
    time.sleep(0.3)
    expect_error(lambda: client.infer("queue_full", infer_inputs(rows(7))),
                 "UNAVAILABLE", "Exceeds maximum queue size")
    assert [done.get(timeout=30), done.get(timeout=30)] == [None, None]


def test_queue_timeouts_reject_with_unavailable(batching_server):
    client = batching_server.client()
    start = time.monotonic()
    expect_error(lambda: client.infer("timeouts", infer_inputs(rows(1))),
                 "UNAVAILABLE", "Request timeout expired")
    # The 100 ms default timeout, not the 5 s batching delay, ended the wait.
    assert time.monotonic() - start < 3
    # A request may ask for a shorter timeout.
    start = time.monotonic()
    expect_error(lambda: client.infer("timeouts", infer_inputs(rows(1)), timeout=20000),
                 "UNAVAILABLE", "Request timeout expired")
    assert time.monotonic() - start < 3
    s = client.get_inference_statistics("timeouts", as_json=True)["model_stats"][0]
    assert int(s["inference_stats"]["fail"]["count"]) == 2


def test_warmup_runs_before_ready_and_a_failing_warmup_fails_the_load(batching_server):
    client = batching_server.client()
    assert client.is_model_ready("warmed")
    log = batching_server.log_path.read_text()
    assert "warmup 'b4' (batch 4, 2 run(s))" in log
    ready_at = log.index("model 'warmed' version 1 is READY")
    assert log.index("warmup 'b4'") < ready_at
    # Warmup runs are not requests: the statistics start at zero.
    assert stats(client, "warmed")["inference"] == 0
    assert not client.is_model_ready("bad_warmup")
    index = client.get_model_repository_index(as_json=True)["models"]
    bad = [m for m in index if m["name"] == "bad_warmup"][0]
    assert bad["state"] == "UNAVAILABLE"
    assert "missing.bin" in bad.get("reason", ""), bad


def test_priority_and_timeout_parameters_must_be_non_negative_integers(batching_server):
    client = batching_server.client()
    check_rows(rows(3), client.infer("batched", infer_inputs(rows(3)), priority=1))
    channel, stub = raw_stub(batching_server.url)
    try:
        for name, value in [("priority", service_pb2.InferParameter(int64_param=-1)),
                            ("timeout", service_pb2.InferParameter(string_param="soon"))]:
            request = raw_request("batched", {"INPUT__0": rows(3)}, {"INPUT__0": "INT64"})
            request.parameters[name].CopyFrom(value)
            expect_rpc_error(lambda: stub.ModelInfer(request, timeout=30),
                             "INVALID_ARGUMENT", f"'{name}'", "non-negative integer")
    finally:
        channel.close()
