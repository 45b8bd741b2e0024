"""The HTTP/REST endpoint's errors: each case of test_errors.py (gRPC) with
its HTTP status (Triton's mapping) and a message naming the model and the
tensor, the HTTP-only cases (JSON, the binary tensor extension, the size
limit, routes and methods), and after each error a good request still
succeeds."""

import json

import numpy as np
import pytest
import tritonclient.http as httpclient

from http_testlib import (Http, binary_body, expect_http_error, hc, http_inputs,  # noqa: F401 (fixtures)
                          http_server, raw, start_server, still_serving)
from kiln_testlib import BROKEN_MODELS, dtypes_of, make_inputs


def test_raw_binary_body_refusals(raw):
    status, reply = raw.json("POST", "/v2/models/two_in_two_out/infer", b"\0" * 32,
                             {"Inference-Header-Content-Length": "0"})
    assert status == 400
    assert "two_in_two_out" in reply["error"] and "exactly 1 input" in reply["error"]
    status, reply = raw.json("POST", "/v2/models/tiny_cnn/infer", b"\0" * 10,
                             {"Inference-Header-Content-Length": "0"})
    assert status == 400
    assert "INPUT__0" in reply["error"] and "12288 bytes" in reply["error"]
    status, reply = raw.json("POST", "/v2/models/no_such_model/infer", b"\0" * 4,
                             {"Inference-Header-Content-Length": "0"})
    assert status == 404 and "no_such_model" in reply["error"]


def test_bad_inference_header_length(raw):
    header = json.dumps({"inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": [1, 4],
                                     "parameters": {"binary_data_size": 16}}]}).encode()
    body = header + np.full(4, 1.1, np.float32).tobytes()
    for value in ("abc", "-1", str(len(body) + 1)):
        status, reply = raw.json("POST", "/v2/models/multi_version/infer", body,
                                 {"Inference-Header-Content-Length": value})
        assert status == 400, value
        assert "Inference-Header-Content-Length" in reply["error"], reply
    # Off by a few bytes: the JSON or the binary sizes no longer add up.
    for value in (len(header) - 2, len(header) + 3):
        status, reply = raw.json("POST", "/v2/models/multi_version/infer", body,
                                 {"Inference-Header-Content-Length": str(value)})
        assert status == 400, value
        assert "multi_version" in reply["error"]
    # Binary data without the header at all.
    status, reply = raw.json("POST", "/v2/models/multi_version/infer", body)
    assert status == 400
    assert "Inference-Header-Content-Length" in reply["error"] or "JSON" in reply["error"]


def test_binary_size_mismatch(raw):
    def post(sizes, data):
        header = json.dumps({"inputs": [
            {"name": "a", "datatype": "FP32", "shape": [1, 4], "parameters": {"binary_data_size": sizes[0]}},
            {"name": "b", "datatype": "FP32", "shape": [1, 4], "parameters": {"binary_data_size": sizes[1]}},
        ]}).encode()
        return raw.json("POST", "/v2/models/two_in_two_out/infer", header + data,
                        {"Inference-Header-Content-Length": str(len(header))})
    status, reply = post((16, 16), b"\1" * 28)  # 4 bytes short
    assert status == 400 and "input 'b'" in reply["error"], reply
    status, reply = post((16, 16), b"\1" * 40)  # 8 bytes too many
    assert status == 400 and "two_in_two_out" in reply["error"], reply
    status, reply = post((12, 20), b"\1" * 32)  # sizes disagree with the shapes
    assert status == 400 and "input 'a'" in reply["error"] and "16 bytes" in reply["error"], reply



# ---------------------------------------------------------------------- errors
# Each case of test_errors.py (gRPC) with its HTTP status; afterwards the
# server still answers a good request.

def _cnn(shape, dtype=np.float32):
    return {"INPUT__0": np.zeros(shape, dtype)}


def _shape_words(message):
    return any(w in message.lower() for w in ("shape", "rank", "dim"))


@pytest.mark.usefixtures("still_serving")
class TestErrors:
    def test_wrong_shape(self, hc):
        err = expect_http_error(lambda: hc.infer("tiny_cnn", http_inputs(
            _cnn((1, 3, 32, 31)), {"INPUT__0": "FP32"})), 400, "tiny_cnn", "INPUT__0")
        assert _shape_words(err.message())

    def test_wrong_rank(self, hc):
        err = expect_http_error(lambda: hc.infer("tiny_cnn", http_inputs(
            _cnn((1, 3, 32)), {"INPUT__0": "FP32"})), 400, "tiny_cnn", "INPUT__0")
        assert _shape_words(err.message())

    def test_wrong_rank_unbatched(self, hc):
        arrays = {f"INPUT__{i}": np.zeros((1, 2, 3), np.float32) for i in range(10)}
        expect_http_error(lambda: hc.infer("all_dtypes", http_inputs(
            arrays, {k: "FP32" for k in arrays})), 400, "all_dtypes")

    def test_wrong_datatype(self, hc):
        expect_http_error(lambda: hc.infer("tiny_cnn", http_inputs(
            _cnn((1, 3, 32, 32), np.float64), {"INPUT__0": "FP64"})),
            400, "tiny_cnn", "INPUT__0", "FP64")

    def test_unknown_datatype_string(self, raw):
        for body, headers in (
                (json.dumps({"inputs": [{"name": "INPUT__0", "datatype": "FP33",
                                         "shape": [1, 1], "data": [1]}]}), {}),
                (binary_body("FP33", [1, 3, 32, 32], b"\0" * 12288))):
            status, reply = raw.json("POST", "/v2/models/tiny_cnn/infer", body, headers)
            assert status == 400
            assert "tiny_cnn" in reply["error"] and "INPUT__0" in reply["error"]
            assert "FP33" in reply["error"]

    def test_raw_byte_size_wrong(self, raw):
        status, reply = raw.json("POST", "/v2/models/tiny_cnn/infer",
                                 *binary_body("FP32", [1, 3, 32, 32], b"\0" * (12288 - 4)))
        assert status == 400
        assert "tiny_cnn" in reply["error"] and "INPUT__0" in reply["error"]

    def test_json_and_binary_mixed_is_allowed(self, hc):
        # gRPC refuses raw + typed contents; Triton's HTTP allows JSON and
        # binary inputs side by side.
        a = np.array([[1, 2, 3, 4]], np.float32)
        b = np.array([[5, 5, 5, 5]], np.float32)
        ia = httpclient.InferInput("a", [1, 4], "FP32").set_data_from_numpy(a, binary_data=True)
        ib = httpclient.InferInput("b", [1, 4], "FP32").set_data_from_numpy(b, binary_data=False)
        result = hc.infer("two_in_two_out", [ia, ib])
        np.testing.assert_array_equal(result.as_numpy("OUTPUT__1"), a * b)

    def test_data_count_wrong(self, raw):
        status, reply = raw.json("POST", "/v2/models/two_in_two_out/infer", json.dumps({"inputs": [
            {"name": "a", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0, 0]},
            {"name": "b", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0]}]}))
        assert status == 400
        assert "two_in_two_out" in reply["error"] and "'b'" in reply["error"]
        assert "3 values" in reply["error"]

    def test_data_wrong_type(self, raw):
        status, reply = raw.json("POST", "/v2/models/two_in_two_out/infer", json.dumps({"inputs": [
            {"name": "a", "datatype": "FP32", "shape": [1, 4], "data": ["0", "0", "0", "0"]},
            {"name": "b", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0, 0]}]}))
        assert status == 400
        assert "two_in_two_out" in reply["error"] and "'a'" in reply["error"]

    def test_missing_input(self, hc):
        expect_http_error(lambda: hc.infer("named_args", http_inputs(
            {"image": np.zeros((1, 4), np.float32)}, {"image": "FP32"})),
            400, "named_args", "scale")

    def test_extra_input(self, hc):
        arrays = {"image": np.zeros((1, 4), np.float32), "scale": np.zeros((1, 1), np.float32),
                  "EXTRA_TENSOR": np.zeros((1, 4), np.float32)}
        expect_http_error(lambda: hc.infer("named_args", http_inputs(
            arrays, {k: "FP32" for k in arrays})), 400, "named_args", "EXTRA_TENSOR")

    def test_duplicate_input(self, raw):
        tensor = {"name": "a", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0, 0]}
        status, reply = raw.json("POST", "/v2/models/two_in_two_out/infer",
                                 json.dumps({"inputs": [tensor, tensor]}))
        assert status == 400 and "two_in_two_out" in reply["error"]

    def test_unknown_output_requested(self, hc):
        expect_http_error(lambda: hc.infer(
            "tiny_cnn", http_inputs(_cnn((1, 3, 32, 32)), {"INPUT__0": "FP32"}),
            outputs=[httpclient.InferRequestedOutput("OUTPUT__7")]), 400, "tiny_cnn", "OUTPUT__7")

    def test_batch_over_max_batch_size(self, hc):
        err = expect_http_error(lambda: hc.infer("runtime_error", http_inputs(
            {"INPUT__0": np.ones((5, 4), np.float32)}, {"INPUT__0": "FP32"})),
            400, "runtime_error")
        assert "batch" in err.message().lower()

    def test_batch_at_max_batch_size_ok(self, hc):
        x = np.ones((4, 4), np.float32)
        result = hc.infer("runtime_error", http_inputs({"INPUT__0": x}, {"INPUT__0": "FP32"}))
        np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), x * 2)

    def test_unknown_model(self, hc):
        expect_http_error(lambda: hc.infer("no_such_model", http_inputs(
            _cnn((1, 4)), {"INPUT__0": "FP32"})), 404, "no_such_model")

    def test_unknown_version(self, hc):
        expect_http_error(lambda: hc.infer("tiny_cnn", http_inputs(
            _cnn((1, 3, 32, 32)), {"INPUT__0": "FP32"}), model_version="7"), 404, "tiny_cnn", "7")

    def test_non_numeric_version(self, hc):
        # As tritonserver's routes: versions are digits, anything else is no route.
        expect_http_error(lambda: hc.infer("tiny_cnn", http_inputs(
            _cnn((1, 3, 32, 32)), {"INPUT__0": "FP32"}), model_version="latest"), 404, "Not Found")

    @pytest.mark.parametrize("model", BROKEN_MODELS)
    def test_broken_model_unavailable(self, hc, model):
        expect_http_error(lambda: hc.infer(model, http_inputs(
            _cnn((1, 4)), {"INPUT__0": "FP32"})), 503, model)

    def test_runtime_error_in_model(self, hc):
        expect_http_error(lambda: hc.infer("runtime_error", http_inputs(
            {"INPUT__0": np.array([[-1, 2, 3, 4]], np.float32)}, {"INPUT__0": "FP32"})),
            500, "negative input not allowed")
        x = np.array([[1, 2, 3, 4]], np.float32)
        result = hc.infer("runtime_error", http_inputs({"INPUT__0": x}, {"INPUT__0": "FP32"}))
        np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), x * 2)

    def test_runtime_error_repeated(self, hc):
        for _ in range(10):
            expect_http_error(lambda: hc.infer("runtime_error", http_inputs(
                {"INPUT__0": np.full((2, 4), -1, np.float32)}, {"INPUT__0": "FP32"})), 500)

    def test_out_of_range_token_id(self, hc):
        expect_http_error(lambda: hc.infer("int64_embed", http_inputs(
            {"INPUT__0": np.full((1, 16), 1000, np.int64)}, {"INPUT__0": "INT64"})),
            500, "int64_embed")

    # HTTP-only cases.

    def test_invalid_json(self, raw):
        for body in ("{", "", "[1, 2]", '{"inputs": 5}'):
            status, reply = raw.json("POST", "/v2/models/tiny_cnn/infer", body)
            assert status == 400, body
            assert "tiny_cnn" in reply["error"], reply

    def test_out_of_range_integer_in_json(self, raw):
        status, reply = raw.json("POST", "/v2/models/all_dtypes/infer", json.dumps({"inputs": [
            {"name": "INPUT__2", "datatype": "INT8", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 300]}]}))
        assert status == 400
        assert "INPUT__2" in reply["error"] and "300" in reply["error"]

    def test_fp16_input_as_json_refused(self, raw):
        status, reply = raw.json("POST", "/v2/models/all_dtypes/infer", json.dumps({"inputs": [
            {"name": "INPUT__6", "datatype": "FP16", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}]}))
        assert status == 400
        assert "INPUT__6" in reply["error"] and "FP16" in reply["error"]

    def test_fp16_output_as_json_refused(self, hc, test_repo):
        inputs = make_inputs(test_repo, "all_dtypes", seed=3)
        expect_http_error(lambda: hc.infer(
            "all_dtypes", http_inputs(inputs, dtypes_of(test_repo, "all_dtypes")),
            outputs=[httpclient.InferRequestedOutput("OUTPUT__6", binary_data=False)]),
            400, "OUTPUT__6", "FP16")

    def test_classification_refused(self, hc):
        expect_http_error(lambda: hc.infer(
            "tiny_cnn", http_inputs(_cnn((1, 3, 32, 32)), {"INPUT__0": "FP32"}),
            outputs=[httpclient.InferRequestedOutput("OUTPUT__0", class_count=3)]),
            501, "tiny_cnn", "OUTPUT__0", "classification")

    def test_reserved_parameter_refused(self, raw):
        status, reply = raw.json("POST", "/v2/models/multi_version/infer", json.dumps({
            "parameters": {"triton_enable_empty_final_response": True},
            "inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": [1, 4],
                        "data": [1, 2, 3, 4]}]}))
        assert status == 400 and "reserved" in reply["error"]

    def test_priority_and_timeout_parameters(self, hc):
        x = np.array([[1, 2, 3, 4]], np.float32)
        result = hc.infer("multi_version",
                          http_inputs({"INPUT__0": x}, {"INPUT__0": "FP32"}),
                          priority=1, timeout=10_000_000)
        np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), x + 3)



# ---------------------------------------------------------- routes and methods

def test_unknown_routes_404(raw):
    for path in ("/", "/v1/models", "/v2/models/tiny_cnn/predict", "/v2/health",
                 "/v2/models/tiny_cnn/versions/x", "/v2/systemsharedmemory/status"):
        status, reply = raw.json("GET", path)
        assert status == 404, path
        assert reply == {"error": "Not Found"}


def test_wrong_method_405(raw):
    for method, path in (("GET", "/v2/models/tiny_cnn/infer"),
                         ("POST", "/v2/health/live"),
                         ("PUT", "/v2/models/tiny_cnn"),
                         ("DELETE", "/v2/models/tiny_cnn/config"),
                         ("GET", "/v2/repository/index"),
                         ("GET", "/v2/repository/models/tiny_cnn/load")):
        status, reply = raw.json(method, path)
        assert status == 405, (method, path)
        assert reply == {"error": "Method Not Allowed"}



# ------------------------------------------------- own servers: limits, control

def test_request_size_limit(make_server):
    srv = start_server(make_server, "--model-control-mode=explicit", "--load-model=two_in_two_out",
                 "--http-max-input-size=2000", ready=["two_in_two_out"], settled=())
    try:
        conn = Http(srv.http_port)
        big = {"inputs": [
            {"name": "a", "datatype": "FP32", "shape": [8, 4], "data": [1.123456789] * 32},
            {"name": "b", "datatype": "FP32", "shape": [8, 4], "data": [1.123456789] * 32}],
            "id": "x" * 2000}
        status, reply = conn.json("POST", "/v2/models/two_in_two_out/infer", json.dumps(big))
        assert status == 413
        assert "--http-max-input-size" in reply["error"] and "2000" in reply["error"]
        # Binary tensors do not count against the JSON limit.
        a = np.ones((8, 4), np.float32)
        hc = httpclient.InferenceServerClient(srv.http_url)
        result = hc.infer("two_in_two_out", http_inputs({"a": a, "b": a}, {"a": "FP32", "b": "FP32"}))
        np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), a + a)
        # The connection is still usable after the refusal.
        status, reply = conn.json("POST", "/v2/models/two_in_two_out/infer", json.dumps(
            {"inputs": [{"name": n, "datatype": "FP32", "shape": [1, 4], "data": [1, 1, 1, 1]}
                        for n in ("a", "b")]}))
        assert status == 200, reply
        conn.close()
    finally:
        srv.stop(expect_rc=0)
