"""Bad requests: the gRPC status code and a message naming the model and the
tensor; after every error the server still answers a good request."""

import numpy as np
import pytest
import tritonclient.grpc as tc
from tritonclient.utils import np_to_triton_dtype

from kiln_testlib import (BROKEN_MODELS, decode_response, expect_error, expect_rpc_error,
                          raw_request, typed_request)


@pytest.fixture(autouse=True)
def still_serving(client):
    """Runs the test, then checks a good request still succeeds."""
    yield
    a = np.array([[1, 2, 3, 4]], np.float32)
    b = np.array([[2, 2, 2, 2]], np.float32)
    result = client.infer("two_in_two_out", _inputs({"a": a, "b": b}))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), a + b)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__1"), a * b)


def _inputs(arrays: dict, dtypes: dict = None):
    items = []
    for name, array in arrays.items():
        dtype = (dtypes or {}).get(name) or np_to_triton_dtype(array.dtype)
        i = tc.InferInput(name, list(array.shape), dtype)
        i.set_data_from_numpy(array)
        items.append(i)
    return items


def _cnn(shape, dtype=np.float32):
    return {"INPUT__0": np.zeros(shape, dtype)}


def _shape_words(message):
    return any(w in message.lower() for w in ("shape", "rank", "dim"))


def test_wrong_shape(client):
    err = expect_error(lambda: client.infer("tiny_cnn", _inputs(_cnn((1, 3, 32, 31)))),
                       "INVALID_ARGUMENT", "tiny_cnn", "INPUT__0")
    assert _shape_words(err.message()), err.message()


def test_wrong_rank(client):
    err = expect_error(lambda: client.infer("tiny_cnn", _inputs(_cnn((1, 3, 32)))),
                       "INVALID_ARGUMENT", "tiny_cnn", "INPUT__0")
    assert _shape_words(err.message()), err.message()


def test_wrong_rank_unbatched(client):
    # all_dtypes has max_batch_size 0: a leading batch dim is a rank error.
    arrays = {f"INPUT__{i}": np.zeros((1, 2, 3), np.float32) for i in range(10)}
    expect_error(lambda: client.infer("all_dtypes", _inputs(arrays)),
                 "INVALID_ARGUMENT", "all_dtypes")


def test_wrong_datatype(client):
    expect_error(lambda: client.infer("tiny_cnn", _inputs(_cnn((1, 3, 32, 32), np.float64))),
                 "INVALID_ARGUMENT", "tiny_cnn", "INPUT__0", "FP64")


def test_unknown_datatype_string(stub):
    req = raw_request("tiny_cnn", _cnn((1, 3, 32, 32)), {"INPUT__0": "FP33"})
    expect_rpc_error(lambda: stub.ModelInfer(req), "INVALID_ARGUMENT", "tiny_cnn", "INPUT__0")


def test_raw_byte_size_wrong(stub):
    req = raw_request("tiny_cnn", _cnn((1, 3, 32, 32)), {"INPUT__0": "FP32"})
    req.raw_input_contents[0] = req.raw_input_contents[0][:-4]
    expect_rpc_error(lambda: stub.ModelInfer(req), "INVALID_ARGUMENT", "tiny_cnn", "INPUT__0")


def test_raw_contents_count_wrong(stub):
    x = np.zeros((1, 4), np.float32)
    req = raw_request("two_in_two_out", {"a": x, "b": x}, {"a": "FP32", "b": "FP32"})
    del req.raw_input_contents[1]
    expect_rpc_error(lambda: stub.ModelInfer(req), "INVALID_ARGUMENT", "two_in_two_out")


def test_raw_and_typed_contents_mixed(stub):
    x = np.zeros((1, 4), np.float32)
    req = raw_request("two_in_two_out", {"a": x}, {"a": "FP32"})
    t = req.inputs.add(name="b", datatype="FP32")
    t.shape.extend([1, 4])
    t.contents.fp32_contents.extend([0, 0, 0, 0])
    expect_rpc_error(lambda: stub.ModelInfer(req), "INVALID_ARGUMENT", "two_in_two_out")


def test_typed_contents_count_wrong(stub):
    x = np.zeros((1, 4), np.float32)
    req = typed_request("two_in_two_out", {"a": x, "b": x}, {"a": "FP32", "b": "FP32"})
    del req.inputs[1].contents.fp32_contents[-1]
    expect_rpc_error(lambda: stub.ModelInfer(req), "INVALID_ARGUMENT", "two_in_two_out", "b")


def test_typed_contents_wrong_field(stub):
    x = np.zeros((1, 4), np.float32)
    req = typed_request("two_in_two_out", {"a": x, "b": x}, {"a": "FP32", "b": "FP32"})
    req.inputs[0].contents.ClearField("fp32_contents")
    req.inputs[0].contents.int64_contents.extend([0, 0, 0, 0])
    expect_rpc_error(lambda: stub.ModelInfer(req), "INVALID_ARGUMENT", "two_in_two_out")


def test_missing_input(client):
    arrays = {"image": np.zeros((1, 4), np.float32)}
    expect_error(lambda: client.infer("named_args", _inputs(arrays)),
                 "INVALID_ARGUMENT", "named_args", "scale")


def test_extra_input(client):
    arrays = {"image": np.zeros((1, 4), np.float32), "scale": np.zeros((1, 1), np.float32),
              "EXTRA_TENSOR": np.zeros((1, 4), np.float32)}
    expect_error(lambda: client.infer("named_args", _inputs(arrays)),
                 "INVALID_ARGUMENT", "named_args", "EXTRA_TENSOR")


def test_duplicate_input(stub):
    x = np.zeros((1, 4), np.float32)
    req = raw_request("two_in_two_out", {"a": x, "b": x}, {"a": "FP32", "b": "FP32"})
    req.inputs[1].name = "a"
    expect_rpc_error(lambda: stub.ModelInfer(req), "INVALID_ARGUMENT", "two_in_two_out")


def test_unknown_output_requested(client):
    outputs = [tc.InferRequestedOutput("OUTPUT__7")]
    expect_error(lambda: client.infer("tiny_cnn", _inputs(_cnn((1, 3, 32, 32))), outputs=outputs),
                 "INVALID_ARGUMENT", "tiny_cnn", "OUTPUT__7")


def test_batch_over_max_batch_size(client):
    arrays = {"INPUT__0": np.ones((5, 4), np.float32)}  # runtime_error: max_batch_size 4
    err = expect_error(lambda: client.infer("runtime_error", _inputs(arrays)),
                       "INVALID_ARGUMENT", "runtime_error")
    assert "batch" in err.message().lower(), err.message()


def test_batch_at_max_batch_size_ok(client):
    arrays = {"INPUT__0": np.ones((4, 4), np.float32)}
    result = client.infer("runtime_error", _inputs(arrays))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), arrays["INPUT__0"] * 2)


def test_unknown_model(client):
    expect_error(lambda: client.infer("no_such_model", _inputs(_cnn((1, 4)))),
                 "NOT_FOUND", "no_such_model")


def test_unknown_version(client):
    expect_error(lambda: client.infer("tiny_cnn", _inputs(_cnn((1, 3, 32, 32))),
                                      model_version="7"),
                 "NOT_FOUND", "tiny_cnn", "7")


def test_non_numeric_version(client):
    expect_error(lambda: client.infer("tiny_cnn", _inputs(_cnn((1, 3, 32, 32))),
                                      model_version="latest"),
                 ("NOT_FOUND", "INVALID_ARGUMENT"), "tiny_cnn")


@pytest.mark.parametrize("model", BROKEN_MODELS)
def test_broken_model_unavailable(client, model):
    expect_error(lambda: client.infer(model, _inputs(_cnn((1, 4)))), "UNAVAILABLE", model)


def test_runtime_error_in_model(client):
    arrays = {"INPUT__0": np.array([[-1, 2, 3, 4]], np.float32)}
    expect_error(lambda: client.infer("runtime_error", _inputs(arrays)),
                 "INTERNAL", "negative input not allowed")
    # The same model keeps serving good inputs.
    arrays = {"INPUT__0": np.array([[1, 2, 3, 4]], np.float32)}
    result = client.infer("runtime_error", _inputs(arrays))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), arrays["INPUT__0"] * 2)


def test_runtime_error_repeated(client):
    # Many failures in a row neither crash nor wedge the model.
    for _ in range(10):
        expect_error(lambda: client.infer("runtime_error", _inputs(
            {"INPUT__0": np.full((2, 4), -1, np.float32)})), "INTERNAL")


def test_out_of_range_token_id(client):
    # Embedding index out of range: TorchScript raises, the server answers INTERNAL.
    arrays = {"INPUT__0": np.full((1, 16), 1000, np.int64)}
    expect_error(lambda: client.infer("int64_embed", _inputs(arrays)), "INTERNAL", "int64_embed")


def test_error_then_raw_success(stub):
    x = np.array([[1, 2, 3, 4]], np.float32)
    bad = raw_request("runtime_error", {"INPUT__0": -x}, {"INPUT__0": "FP32"})
    expect_rpc_error(lambda: stub.ModelInfer(bad), "INTERNAL", "negative input not allowed")
    good = raw_request("runtime_error", {"INPUT__0": x}, {"INPUT__0": "FP32"})
    np.testing.assert_array_equal(decode_response(stub.ModelInfer(good))["OUTPUT__0"], x * 2)
