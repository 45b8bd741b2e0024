"""Many clients at once, and the bidirectional ModelStreamInfer RPC."""

import queue
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tritonclient.grpc as tc

from kiln_testlib import (assert_outputs_close, dtypes_of, make_inputs, result_outputs,
                          tc_inputs)

MIX = [("tiny_cnn", 2), ("two_in_two_out", 1), ("int64_embed", 3), ("dict_output", 2),
       ("named_args", 1), ("dict_input", 4), ("mobilenet_v2", 1), ("tiny_cnn", 1)]


def test_concurrent_clients_mixed_models(server, test_repo, reference):
    threads, per_thread = 16, 5
    # Inputs and references are computed up front, in this thread.
    jobs = []
    for t in range(threads):
        mine = []
        for r in range(per_thread):
            model, batch = MIX[(t + r) % len(MIX)]
            inputs = make_inputs(test_repo, model, batch=batch, seed=1000 * t + r)
            mine.append((model, inputs, reference(model, inputs)))
        jobs.append(mine)
    dtypes = {m: dtypes_of(test_repo, m) for m, _ in MIX}
    start = threading.Barrier(threads)

    def run(mine):
        client = server.client()
        start.wait(timeout=60)
        results = []
        for model, inputs, _ in mine:
            results.append(result_outputs(client.infer(model, tc_inputs(inputs, dtypes[model]),
                                                       client_timeout=120)))
        return results

    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(run, jobs))
    for mine, results in zip(jobs, outcomes):
        for (model, _, ref), got in zip(mine, results):
            assert_outputs_close(model, got, ref)


def test_concurrent_async_same_model(client, test_repo, reference):
    # 40 requests in flight on one channel against a model with dynamic batching.
    model, n = "tiny_cnn", 40
    dtypes = dtypes_of(test_repo, model)
    done = queue.Queue()
    cases = []
    for i in range(n):
        inputs = make_inputs(test_repo, model, batch=1 + i % 3, seed=500 + i)
        cases.append((inputs, reference(model, inputs)))
    for i, (inputs, _) in enumerate(cases):
        client.async_infer(model, tc_inputs(inputs, dtypes),
                           callback=lambda result, error, i=i: done.put((i, result, error)),
                           client_timeout=120)
    seen = {}
    for _ in range(n):
        i, result, error = done.get(timeout=120)
        assert error is None, f"request {i}: {error}"
        seen[i] = result_outputs(result)
    assert sorted(seen) == list(range(n))
    for i, (_, ref) in enumerate(cases):
        assert_outputs_close(model, seen[i], ref)


# ------------------------------------------------------------------ streaming

def _stream(server):
    client = server.client()
    responses = queue.Queue()
    client.start_stream(callback=lambda result, error: responses.put((result, error)))
    return client, responses


def test_stream_one_response_per_request(server, test_repo, reference):
    client, responses = _stream(server)
    cases = {}
    try:
        for i in range(8):
            model = ("two_in_two_out", "int64_embed", "dict_output", "tiny_cnn")[i % 4]
            inputs = make_inputs(test_repo, model, batch=1 + i % 2, seed=700 + i)
            cases[f"req-{i}"] = (model, inputs, reference(model, inputs))
            client.async_stream_infer(model, tc_inputs(inputs, dtypes_of(test_repo, model)),
                                      request_id=f"req-{i}")
        got = {}
        for _ in cases:
            result, error = responses.get(timeout=60)
            assert error is None, error
            resp = result.get_response()
            assert resp.id in cases and resp.id not in got, resp.id
            assert resp.model_name == cases[resp.id][0]
            got[resp.id] = result_outputs(result)
    finally:
        client.stop_stream()
    assert responses.empty(), "more responses than requests"
    for rid, (model, _, ref) in cases.items():
        assert_outputs_close(model, got[rid], ref)


def test_stream_error_only_for_bad_request(server, test_repo):
    client, responses = _stream(server)
    x = np.array([[1, 2, 3, 4]], np.float32)
    requests = [("ok-0", x), ("bad-neg", -x), ("ok-1", x * 2), ("bad-shape", None), ("ok-2", x)]
    try:
        for rid, data in requests:
            if data is None:  # wrong shape: [1, 5] for dims [4]
                data_in = tc.InferInput("INPUT__0", [1, 5], "FP32")
                data_in.set_data_from_numpy(np.zeros((1, 5), np.float32))
                inputs = [data_in]
            else:
                inputs = tc_inputs({"INPUT__0": data}, {"INPUT__0": "FP32"})
            client.async_stream_infer("runtime_error", inputs, request_id=rid)
        ok, errors = {}, []
        for _ in requests:
            result, error = responses.get(timeout=60)
            if error is not None:
                errors.append(error)
            else:
                ok[result.get_response().id] = result.as_numpy("OUTPUT__0")
    finally:
        client.stop_stream()
    assert sorted(ok) == ["ok-0", "ok-1", "ok-2"]
    np.testing.assert_array_equal(ok["ok-1"], x * 4)
    assert len(errors) == 2
    messages = sorted(str(e) for e in errors)
    assert any("negative input not allowed" in m for m in messages), messages
    assert any("INPUT__0" in m for m in messages), messages


def test_stream_then_unary_still_works(server, test_repo):
    # A stream closed by the client leaves the server healthy.
    client, responses = _stream(server)
    x = np.ones((1, 4), np.float32)
    client.async_stream_infer("two_in_two_out", tc_inputs({"a": x, "b": x},
                                                          {"a": "FP32", "b": "FP32"}))
    result, error = responses.get(timeout=60)
    client.stop_stream()
    assert error is None, error
    result = server.client().infer("two_in_two_out", tc_inputs({"a": x, "b": x},
                                                               {"a": "FP32", "b": "FP32"}))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__1"), x)
