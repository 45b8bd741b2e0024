"""The HTTP/REST endpoint (KServe v2 REST + Triton's extensions) with
tritonclient.http, curl and plain http.client: inference in JSON and in the
binary tensor format matches the reference and the gRPC answer of the same
server, and the health, metadata, config, statistics and repository routes
answer as tritonserver's do. Error cases: test_http_errors.py."""

import json
import queue
import subprocess
import threading
import time

import numpy as np
import pytest
import tritonclient.http as httpclient

from http_testlib import (NO_JSON, UNBATCHED, Http, binary_body, expect_http_error, gc,  # noqa: F401 (fixtures)
                          grpc_inputs, hc, http_inputs, http_outputs, http_server, outputs_of,
                          raw, start_server, two_in_two_out_ok)
from kiln_testlib import (BROKEN_MODELS, GOOD_MODELS, assert_outputs_close, dtypes_of,
                          full_shape, load_config, make_inputs, result_outputs, wire_dtype)


# ------------------------------------------------------------------- inference

def _cases():
    for model in GOOD_MODELS:
        if model == "multi_version":
            continue  # versions are tested below
        for batch in ([None] if model in UNBATCHED else [1, 3]):
            for form in ("binary", "json"):
                yield pytest.param(model, batch, form,
                                   id=f"{model}-{'b%d' % batch if batch else 'nb'}-{form}")


@pytest.mark.parametrize("model,batch,form", list(_cases()))
def test_infer_matches_reference_and_grpc(hc, gc, test_repo, reference, model, batch, form):
    version = "3" if model == "specific_version" else ""
    cfg = load_config(test_repo, model)
    dtypes = dtypes_of(test_repo, model)
    inputs = make_inputs(test_repo, model, batch=batch, seed=len(model) * 7 + (batch or 0))
    binary = form == "binary"
    result = hc.infer(model, http_inputs(inputs, dtypes, binary), model_version=version,
                      outputs=http_outputs(cfg, binary), request_id=f"{model}-{form}")
    got = outputs_of(result, cfg)
    resp = result.get_response()
    assert resp["model_name"] == model
    assert resp["model_version"] == (version or "1")
    assert resp["id"] == f"{model}-{form}"
    for out in resp["outputs"]:
        expect_binary = binary or out["datatype"] in NO_JSON
        assert ("data" in out) != expect_binary, out.get("parameters")
    assert_outputs_close(model, got, reference(model, inputs, version=int(version or 1)))
    grpc_result = gc.infer(model, grpc_inputs(inputs, dtypes), model_version=version)
    assert_outputs_close(model, got, result_outputs(grpc_result))


def test_all_outputs_binary_by_default(hc, test_repo, reference):
    # No outputs named: tritonclient asks for binary_data_output.
    inputs = make_inputs(test_repo, "all_dtypes", seed=3)
    result = hc.infer("all_dtypes", http_inputs(inputs, dtypes_of(test_repo, "all_dtypes")))
    resp = result.get_response()
    assert [o["datatype"] for o in resp["outputs"]] == [
        "BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64"]
    assert all("data" not in o for o in resp["outputs"])
    got = result_outputs_http(result)
    ref = reference("all_dtypes", inputs)
    for name, want in ref.items():
        np.testing.assert_array_equal(got[name].view(np.uint8), want.view(np.uint8), err_msg=name)


def result_outputs_http(result):
    return {o["name"]: result.as_numpy(o["name"]) for o in result.get_response()["outputs"]}


def test_bool_and_int64_in_json(hc, test_repo, reference):
    inputs = make_inputs(test_repo, "all_dtypes", seed=5)
    dtypes = dtypes_of(test_repo, "all_dtypes")
    cfg = load_config(test_repo, "all_dtypes")
    # JSON for every input that has a JSON form, binary for FP16/BF16: a
    # mixed request, which Triton allows.
    result = hc.infer("all_dtypes", http_inputs(inputs, dtypes, binary=False),
                      outputs=http_outputs(cfg, binary=False))
    outs = {o["name"]: o for o in result.get_response()["outputs"]}
    assert outs["OUTPUT__0"]["data"] == (~inputs["INPUT__0"]).flatten().tolist()
    assert all(isinstance(v, bool) for v in outs["OUTPUT__0"]["data"])
    assert outs["OUTPUT__5"]["data"] == (inputs["INPUT__5"] + 1).flatten().tolist()
    ref = reference("all_dtypes", inputs)
    for name, want in ref.items():
        np.testing.assert_array_equal(result.as_numpy(name).view(np.uint8),
                                      want.view(np.uint8), err_msg=name)


def test_requested_output_subset_and_id(hc):
    a = np.array([[1, 2, 3, 4]], np.float32)
    b = np.array([[5, 6, 7, 8]], np.float32)
    result = hc.infer("two_in_two_out", http_inputs({"a": a, "b": b}, {"a": "FP32", "b": "FP32"}),
                      outputs=[httpclient.InferRequestedOutput("OUTPUT__1", binary_data=False)],
                      request_id="req-42")
    resp = result.get_response()
    assert resp["id"] == "req-42"
    assert [o["name"] for o in resp["outputs"]] == ["OUTPUT__1"]
    assert resp["outputs"][0]["data"] == (a * b).flatten().tolist()
    assert result.as_numpy("OUTPUT__0") is None


def test_versions(hc):
    x = np.array([[1, 2, 3, 4]], np.float32)
    for version, add in (("", 3), ("3", 3), ("2", 2)):
        result = hc.infer("multi_version", http_inputs({"INPUT__0": x}, {"INPUT__0": "FP32"}),
                          model_version=version)
        np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), x + add)
        assert result.get_response()["model_version"] == (version or "3")
    expect_http_error(lambda: hc.infer("multi_version", http_inputs(
        {"INPUT__0": x}, {"INPUT__0": "FP32"}), model_version="1"), (404, 503), "multi_version")


def test_compressed_request_and_response(hc):
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    b = np.ones((2, 4), np.float32)
    for algorithm in ("gzip", "deflate"):
        for binary in (True, False):
            result = hc.infer("two_in_two_out",
                              http_inputs({"a": a, "b": b}, {"a": "FP32", "b": "FP32"}, binary),
                              outputs=[httpclient.InferRequestedOutput("OUTPUT__0", binary)],
                              request_compression_algorithm=algorithm,
                              response_compression_algorithm=algorithm)
            np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), a + b)


def test_concurrent_requests(hc, test_repo, reference):
    # tritonclient.http's pool (concurrency=4) keeps its connections alive.
    cases = [make_inputs(test_repo, "tiny_cnn", batch=1 + i % 3, seed=500 + i) for i in range(24)]
    dtypes = dtypes_of(test_repo, "tiny_cnn")
    pending = [hc.async_infer("tiny_cnn", http_inputs(c, dtypes)) for c in cases]
    for inputs, p in zip(cases, pending):
        got = {"OUTPUT__0": p.get_result(timeout=120).as_numpy("OUTPUT__0")}
        assert_outputs_close("tiny_cnn", got, reference("tiny_cnn", inputs))


def test_keep_alive_many_requests_one_connection(raw):
    # More requests than the per-connection cap: the server closes with
    # Connection: close and http.client reconnects; every answer is right.
    body = json.dumps({"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
        {"name": "b", "datatype": "FP32", "shape": [1, 4], "data": [1, 1, 1, 1]}]})
    for _ in range(120):
        status, reply = raw.json("POST", "/v2/models/two_in_two_out/infer", body)
        assert status == 200, reply
        assert reply["outputs"][0]["data"] == [2, 3, 4, 5]


# ------------------------------------------------------ binary tensor extension

def test_binary_body_by_hand(raw, test_repo, reference):
    x = make_inputs(test_repo, "tiny_cnn", batch=2, seed=9)["INPUT__0"]
    header = json.dumps({
        "inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": list(x.shape),
                    "parameters": {"binary_data_size": x.nbytes}}],
        "outputs": [{"name": "OUTPUT__0", "parameters": {"binary_data": True}}]}).encode()
    status, headers, body = raw.request(
        "POST", "/v2/models/tiny_cnn/infer", header + x.tobytes(),
        {"Inference-Header-Content-Length": str(len(header))})
    assert status == 200, body
    assert headers["Content-Type"] == "application/octet-stream"
    json_size = int(headers["Inference-Header-Content-Length"])
    reply = json.loads(body[:json_size])
    out = reply["outputs"][0]
    assert out["parameters"]["binary_data_size"] == len(body) - json_size == 2 * 10 * 4
    got = np.frombuffer(body[json_size:], np.float32).reshape(out["shape"])
    assert_outputs_close("tiny_cnn", {"OUTPUT__0": got}, reference("tiny_cnn", {"INPUT__0": x}))


def test_raw_binary_body_single_input(raw, test_repo, reference):
    # Inference-Header-Content-Length: 0: the body is the one input's bytes;
    # the shape is [1] + dims and every output comes back binary.
    x = make_inputs(test_repo, "tiny_cnn", batch=1, seed=10)["INPUT__0"]
    status, headers, body = raw.request("POST", "/v2/models/tiny_cnn/infer", x.tobytes(),
                                        {"Inference-Header-Content-Length": "0"})
    assert status == 200, body
    json_size = int(headers["Inference-Header-Content-Length"])
    reply = json.loads(body[:json_size])
    assert reply["outputs"][0]["shape"] == [1, 10]
    got = np.frombuffer(body[json_size:], np.float32).reshape(1, 10)
    assert_outputs_close("tiny_cnn", {"OUTPUT__0": got}, reference("tiny_cnn", {"INPUT__0": x}))



# ------------------------------------------------------------ health, metadata

def test_health(hc, raw):
    assert hc.is_server_live() is True
    # Strict readiness and broken models: not ready, still live.
    assert hc.is_server_ready() is False
    assert raw.request("GET", "/v2/health/live")[0] == 200
    status, _, body = raw.request("GET", "/v2/health/ready")
    assert status == 400 and body == b""


@pytest.mark.parametrize("model", GOOD_MODELS)
def test_good_model_ready(hc, model):
    assert hc.is_model_ready(model) is True


@pytest.mark.parametrize("model", BROKEN_MODELS + ["no_such_model"])
def test_not_ready_model(hc, raw, model):
    assert hc.is_model_ready(model) is False
    status, reply = raw.json("GET", f"/v2/models/{model}/ready")
    assert status == 400 and model in reply["error"]


def test_model_ready_per_version(hc):
    assert hc.is_model_ready("multi_version", "3") is True
    assert hc.is_model_ready("multi_version", "2") is True
    assert hc.is_model_ready("multi_version", "1") is False
    assert hc.is_model_ready("specific_version", "1") is True
    assert hc.is_model_ready("specific_version", "2") is False


def test_server_metadata(hc, gc):
    md = hc.get_server_metadata()
    assert md["name"] == "kiln"
    assert md["version"] == gc.get_server_metadata().version
    for ext in ("model_repository", "statistics", "model_configuration", "binary_tensor_data"):
        assert ext in md["extensions"]


@pytest.mark.parametrize("model", GOOD_MODELS)
def test_model_metadata_matches_config_and_grpc(hc, gc, test_repo, model):
    cfg = load_config(test_repo, model)
    md = hc.get_model_metadata(model)
    assert md["name"] == model
    assert md["platform"] == "pytorch_libtorch"
    assert [(t["name"], t["datatype"], t["shape"]) for t in md["inputs"]] == \
        [(t.name, wire_dtype(t), full_shape(cfg, t)) for t in cfg.input]
    assert [(t["name"], t["datatype"], t["shape"]) for t in md["outputs"]] == \
        [(t.name, wire_dtype(t), full_shape(cfg, t)) for t in cfg.output]
    assert md["versions"] == list(gc.get_model_metadata(model).versions)


def test_model_metadata_errors(hc):
    expect_http_error(lambda: hc.get_model_metadata("no_such_model"), 404, "no_such_model")
    expect_http_error(lambda: hc.get_model_metadata("corrupt_model"), 503, "corrupt_model")
    assert hc.get_model_metadata("multi_version", "2")["name"] == "multi_version"


@pytest.mark.parametrize("model", ["tiny_cnn", "all_dtypes", "two_in_two_out", "dict_output",
                                   "multi_version", "specific_version", "resnet18"])
def test_model_config_matches_file(hc, gc, test_repo, model):
    want = load_config(test_repo, model)
    got = hc.get_model_config(model)
    assert got["name"] == model
    assert got["max_batch_size"] == want.max_batch_size
    assert [(t["name"], t["data_type"], t["dims"]) for t in got["input"]] == \
        [(t.name, model_config_type(t), list(t.dims)) for t in want.input]
    assert [(t["name"], t["data_type"], t["dims"]) for t in got["output"]] == \
        [(t.name, model_config_type(t), list(t.dims)) for t in want.output]
    # The same config gRPC answers, in Triton's JSON form.
    from google.protobuf import json_format
    grpc_json = json_format.MessageToDict(gc.get_model_config(model).config,
                                          preserving_proto_field_name=True)
    _assert_contains(got, _numbers(grpc_json))


def _assert_contains(got, want, path="config"):
    """Every field protobuf's JSON prints (it leaves defaults out; Triton's
    form prints them) has the same value in `got`."""
    if isinstance(want, dict):
        assert isinstance(got, dict), path
        for key, value in want.items():
            assert key in got, f"{path}.{key} missing"
            _assert_contains(got[key], value, f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_contains(g, w, f"{path}[{i}]")
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


def model_config_type(tensor):
    from tritonclient.grpc import model_config_pb2
    return model_config_pb2.DataType.Name(tensor.data_type)


def _numbers(value):
    """protobuf's JSON prints 64-bit integers as strings; Triton's as numbers."""
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def test_model_config_unknown(hc):
    expect_http_error(lambda: hc.get_model_config("no_such_model"), 404, "no_such_model")


def test_statistics_count_http_inferences(hc, test_repo):
    model = "int64_embed"
    dtypes = dtypes_of(test_repo, model)

    def stats():
        s = hc.get_inference_statistics(model, "1")["model_stats"]
        assert len(s) == 1 and s[0]["name"] == model and s[0]["version"] == "1"
        return s[0]
    before = stats()
    for i in range(3):
        hc.infer(model, http_inputs(make_inputs(test_repo, model, batch=2, seed=700 + i), dtypes))
    after = stats()
    assert after["inference_count"] - before["inference_count"] >= 6
    assert (after["inference_stats"]["success"]["count"]
            - before["inference_stats"]["success"]["count"]) >= 3
    assert after["inference_stats"]["success"]["ns"] > before["inference_stats"]["success"]["ns"]
    assert after["last_inference"] > 0
    assert any(b["batch_size"] >= 1 for b in after["batch_stats"])


def test_statistics_all_models(hc):
    names = {s["name"] for s in hc.get_inference_statistics()["model_stats"]}
    assert set(GOOD_MODELS) <= names
    assert not set(BROKEN_MODELS) & names
    expect_http_error(lambda: hc.get_inference_statistics("no_such_model"), 404)


def test_repository_index(hc, raw):
    index = hc.get_model_repository_index()
    states = {}
    for entry in index:
        states.setdefault(entry["name"], set()).add(entry["state"])
    for model in GOOD_MODELS:
        assert "READY" in states[model], model
    for model in BROKEN_MODELS:
        assert states[model] == {"UNAVAILABLE"}, model
    assert all(e["reason"] for e in index if e["name"] in BROKEN_MODELS)
    status, ready = raw.json("POST", "/v2/repository/index", json.dumps({"ready": True}))
    assert status == 200
    assert {e["name"] for e in ready} == set(GOOD_MODELS)


def test_load_unload_refused_in_mode_none(hc):
    expect_http_error(lambda: hc.load_model("tiny_cnn"), 503, "explicit")
    expect_http_error(lambda: hc.unload_model("tiny_cnn"), 503, "explicit")
    assert hc.is_model_ready("tiny_cnn")


# --------------------------------------------------------------------- curl

def _curl(*args):
    done = subprocess.run(["curl", "-sS", "-i", *args], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    return status, headers, body


def test_curl_json_inference(http_server):
    url = f"http://{http_server.http_url}"
    body = json.dumps({"id": "c1", "inputs": [
        {"name": "a", "datatype": "FP32", "shape": [2, 4], "data": [[1, 2, 3, 4], [5, 6, 7, 8]]},
        {"name": "b", "datatype": "FP32", "shape": [2, 4], "data": [1, 1, 1, 1, 2, 2, 2, 2]}]})
    status, headers, out = _curl("-X", "POST", "-H", "Content-Type: application/json",
                                 "-d", body, f"{url}/v2/models/two_in_two_out/infer")
    assert status == 200
    assert headers["content-type"] == "application/json"
    reply = json.loads(out)
    assert reply["id"] == "c1" and reply["model_name"] == "two_in_two_out"
    assert reply["outputs"][0] == {"name": "OUTPUT__0", "datatype": "FP32", "shape": [2, 4],
                                   "data": [2, 3, 4, 5, 7, 8, 9, 10]}
    assert reply["outputs"][1]["data"] == [1, 2, 3, 4, 10, 12, 14, 16]


def test_curl_binary_and_raw_inference(http_server, tmp_path, test_repo, reference):
    url = f"http://{http_server.http_url}"
    x = make_inputs(test_repo, "tiny_cnn", batch=1, seed=77)["INPUT__0"]
    (tmp_path / "raw.bin").write_bytes(x.tobytes())
    status, headers, out = _curl("-X", "POST", "-H", "Inference-Header-Content-Length: 0",
                                 "--data-binary", f"@{tmp_path / 'raw.bin'}",
                                 f"{url}/v2/models/tiny_cnn/infer")
    assert status == 200
    assert headers["content-type"] == "application/octet-stream"
    n = int(headers["inference-header-content-length"])
    got = np.frombuffer(out[n:], np.float32).reshape(json.loads(out[:n])["outputs"][0]["shape"])
    assert_outputs_close("tiny_cnn", {"OUTPUT__0": got}, reference("tiny_cnn", {"INPUT__0": x}))

    body, hdrs = binary_body("FP32", [1, 3, 32, 32], x.tobytes())
    (tmp_path / "body.bin").write_bytes(body)
    status, headers, out = _curl("-X", "POST", "-H",
                                 f"Inference-Header-Content-Length: {hdrs['Inference-Header-Content-Length']}",
                                 "--data-binary", f"@{tmp_path / 'body.bin'}",
                                 f"{url}/v2/models/tiny_cnn/infer")
    assert status == 200
    assert headers["content-type"] == "application/json"  # JSON outputs by default
    got = np.array(json.loads(out)["outputs"][0]["data"], np.float32).reshape(1, 10)
    assert_outputs_close("tiny_cnn", {"OUTPUT__0": got}, reference("tiny_cnn", {"INPUT__0": x}))


def test_curl_other_routes(http_server):
    url = f"http://{http_server.http_url}"
    assert _curl(f"{url}/v2/health/live")[0] == 200
    status, _, body = _curl(f"{url}/v2/models/tiny_cnn/ready")
    assert status == 200 and body == b""
    status, headers, body = _curl(f"{url}/v2")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body)["name"] == "kiln"
    # POST without a body (no Content-Length), as Triton's docs show it.
    status, _, body = _curl("-X", "POST", f"{url}/v2/repository/index")
    assert status == 200 and isinstance(json.loads(body), list)
    status, _, body = _curl(f"{url}/v2/models/tiny_cnn/versions/1/stats")
    assert status == 200 and json.loads(body)["model_stats"][0]["name"] == "tiny_cnn"
    status, _, body = _curl(f"{url}/v2/models/stats")
    assert status == 200 and len(json.loads(body)["model_stats"]) >= len(GOOD_MODELS)
    status, _, body = _curl(f"{url}/v2/models/tiny_cnn/config")
    assert status == 200 and json.loads(body)["input"][0]["dims"] == [3, 32, 32]


# ------------------------------------------------- own servers: limits, control


def test_explicit_load_unload(make_server, test_repo, reference):
    srv = start_server(make_server, "--model-control-mode=explicit", "--load-model=two_in_two_out",
                 ready=["two_in_two_out"], settled=())
    try:
        hc = httpclient.InferenceServerClient(srv.http_url)
        model = "int64_embed"
        assert hc.is_model_ready(model) is False
        hc.load_model(model)
        assert hc.is_model_ready(model) is True
        inputs = make_inputs(test_repo, model, batch=2, seed=31)
        result = hc.infer(model, http_inputs(inputs, dtypes_of(test_repo, model)))
        assert_outputs_close(model, {"OUTPUT__0": result.as_numpy("OUTPUT__0")},
                             reference(model, inputs))
        hc.unload_model(model)
        deadline = time.monotonic() + 60
        while hc.is_model_ready(model):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        expect_http_error(lambda: hc.infer(model, http_inputs(inputs, dtypes_of(test_repo, model))),
                          (404, 503), model)
        expect_http_error(lambda: hc.load_model("no_such_model"), (400, 404, 503), "no_such_model")
        expect_http_error(lambda: hc.load_model(model, config="{}"), 400, "parameters")
        expect_http_error(lambda: hc.load_model("corrupt_model"), (400, 500, 503), "corrupt_model")
        # A repository name in the path is not supported (as Triton).
        status, reply = Http(srv.http_port).json("POST", "/v2/repository/r/models/x/load")
        assert status == 501 and "repository name" in reply["error"]
        two_in_two_out_ok(hc)
    finally:
        srv.stop(expect_rc=0)


def test_sigterm_finishes_http_requests_in_flight(make_server, test_repo, reference):
    srv = start_server(make_server, "--model-control-mode=explicit", "--load-model=slow",
                 ready=["slow"], settled=())
    dtypes = dtypes_of(test_repo, "slow")
    cases = [make_inputs(test_repo, "slow", seed=900 + i) for i in range(4)]
    httpclient.InferenceServerClient(srv.http_url).infer(
        "slow", http_inputs(cases[0], dtypes))  # warm up (plan build)
    done = queue.Queue()

    def call(inputs):
        # One client per thread: tritonclient.http runs on gevent.
        client = httpclient.InferenceServerClient(srv.http_url, network_timeout=120)
        try:
            done.put((inputs, client.infer("slow", http_inputs(inputs, dtypes))
                      .as_numpy("OUTPUT__0")))
        except Exception as e:  # noqa: BLE001 - reported below
            done.put((inputs, e))
    threads = [threading.Thread(target=call, args=(c,)) for c in cases]
    sent = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(0.1)  # four ~300 ms requests on one instance: all in flight
    srv.terminate()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - sent
    assert srv.stop(expect_rc=0) == 0
    assert done.qsize() == len(cases)
    while not done.empty():
        inputs, got = done.get()
        assert not isinstance(got, Exception), f"request failed during shutdown: {got}"
        assert_outputs_close("slow", {"OUTPUT__0": got}, reference("slow", inputs))
    assert elapsed > 0.3, f"all answered in {elapsed:.3f} s; is 'slow' slow?"
