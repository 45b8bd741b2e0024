"""Inference results against the same model.pt run in this process."""

import zlib

import ml_dtypes
import numpy as np
import pytest
import tritonclient.grpc as tc

from kiln_testlib import (GOOD_MODELS, assert_outputs_close, decode_response, dtypes_of,
                          expect_error, expect_rpc_error, load_config, make_inputs,
                          raw_request, result_outputs, tc_inputs, typed_request)


def _infer(client, test_repo, model, inputs, outputs=None, version=""):
    requested = [tc.InferRequestedOutput(n) for n in outputs] if outputs else None
    return client.infer(model, tc_inputs(inputs, dtypes_of(test_repo, model)),
                        model_version=version, outputs=requested)


UNBATCHED = {"all_dtypes", "slow"}  # max_batch_size 0


def _cases():
    for model in GOOD_MODELS:
        if model == "multi_version":
            continue  # version-specific expectations below
        batches = [None] if model in UNBATCHED else [1, 3]
        for batch in batches:
            yield pytest.param(model, batch, id=f"{model}-b{batch}" if batch else model)


@pytest.mark.parametrize("model,batch", list(_cases()))
def test_infer_matches_reference(client, test_repo, reference, model, batch):
    version = "3" if model == "specific_version" else ""
    inputs = make_inputs(test_repo, model, batch=batch, seed=zlib.crc32(model.encode()))
    result = _infer(client, test_repo, model, inputs, version=version)
    ref = reference(model, inputs, version=int(version or 1))
    got = result_outputs(result)
    cfg = load_config(test_repo, model)
    assert sorted(got) == sorted(o.name for o in cfg.output)
    assert_outputs_close(model, got, ref)
    resp = result.get_response()
    assert resp.model_name == model
    assert resp.model_version == (version or "1")


def test_response_echoes_request_id(client, test_repo):
    inputs = make_inputs(test_repo, "two_in_two_out", batch=1)
    result = client.infer("two_in_two_out", tc_inputs(inputs, dtypes_of(test_repo, "two_in_two_out")),
                          request_id="req-42")
    assert result.get_response().id == "req-42"


def test_requested_output_subset(client, test_repo):
    a = np.array([[1, 2, 3, 4]], np.float32)
    b = np.array([[5, 6, 7, 8]], np.float32)
    result = _infer(client, test_repo, "two_in_two_out", {"a": a, "b": b}, outputs=["OUTPUT__1"])
    names = [o.name for o in result.get_response().outputs]
    assert names == ["OUTPUT__1"]
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__1"), a * b)
    assert result.as_numpy("OUTPUT__0") is None


def test_two_in_two_out_values(client, test_repo):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.full((3, 4), 2, np.float32)
    got = result_outputs(_infer(client, test_repo, "two_in_two_out", {"a": a, "b": b}))
    np.testing.assert_array_equal(got["OUTPUT__0"], a + b)
    np.testing.assert_array_equal(got["OUTPUT__1"], a * b)


def test_dict_output_matched_by_name(client, test_repo):
    x = np.array([[1, 2, 3, 4]], np.float32)
    y = np.array([[10, 20, 30, 40]], np.float32)
    result = _infer(client, test_repo, "dict_output", {"INPUT__0": x, "INPUT__1": y})
    np.testing.assert_array_equal(result.as_numpy("sum"), x + y)
    np.testing.assert_array_equal(result.as_numpy("prod"), x * y)
    only = _infer(client, test_repo, "dict_output", {"INPUT__0": x, "INPUT__1": y},
                  outputs=["sum"])
    assert [o.name for o in only.get_response().outputs] == ["sum"]
    np.testing.assert_array_equal(only.as_numpy("sum"), x + y)


def test_dict_input(client, test_repo):
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32)
    y = np.array([[0.5, 0.5, 0.5, 0.5], [1, 1, 1, 1]], np.float32)
    result = _infer(client, test_repo, "dict_input", {"x": x, "y": y})
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), x * 2 + y)
    # Request order must not matter either.
    result = _infer(client, test_repo, "dict_input", {"y": y, "x": x})
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), x * 2 + y)


def test_named_args_bound_by_name(client, test_repo):
    # forward(image, scale) returns image * 2 - scale; the config lists scale
    # first. Swapped binding would broadcast to the same shape but differ.
    image = np.array([[1, 2, 3, 4]], np.float32)
    scale = np.array([[10]], np.float32)
    for order in ({"scale": scale, "image": image}, {"image": image, "scale": scale}):
        result = _infer(client, test_repo, "named_args", order)
        np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), image * 2 - scale)


def test_no_freeze_served_unfrozen(client, test_repo):
    # The module mutates attributes on every call; results must not drift.
    x = np.array([[1, 2, 3, 4]], np.float32)
    for _ in range(3):
        result = _infer(client, test_repo, "no_freeze", {"INPUT__0": x})
        np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), x + 1)


# ------------------------------------------------------------------ all dtypes

def _all_dtypes_inputs(test_repo):
    return make_inputs(test_repo, "all_dtypes", seed=3)


def _assert_all_dtypes(got, inputs, reference):
    ref = reference("all_dtypes", inputs)
    for i in range(10):
        name = f"OUTPUT__{i}"
        assert got[name].dtype == ref[name].dtype, (name, got[name].dtype, ref[name].dtype)
        assert got[name].shape == (2, 3)
        # Exact: compare the bits (x + 1 on these values is exact in every dtype).
        np.testing.assert_array_equal(got[name].view(np.uint8), ref[name].view(np.uint8),
                                      err_msg=name)
    np.testing.assert_array_equal(got["OUTPUT__0"], ~inputs["INPUT__0"])
    np.testing.assert_array_equal(got["OUTPUT__7"].astype(np.float32),
                                  inputs["INPUT__7"].astype(np.float32) + 1)


def test_all_dtypes_tritonclient(client, test_repo, reference):
    inputs = _all_dtypes_inputs(test_repo)
    assert inputs["INPUT__7"].dtype == ml_dtypes.bfloat16
    result = _infer(client, test_repo, "all_dtypes", inputs)
    resp = result.get_response()
    assert [o.datatype for o in resp.outputs] == [
        "BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64"]
    _assert_all_dtypes(result_outputs(result), inputs, reference)


def test_all_dtypes_raw_protos(stub, test_repo, reference):
    # BF16 travels as raw 16-bit words built without ml_dtypes' help.
    inputs = _all_dtypes_inputs(test_repo)
    dtypes = dtypes_of(test_repo, "all_dtypes")
    req = raw_request("all_dtypes", inputs, dtypes)
    bf16_words = (inputs["INPUT__7"].astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    assert req.raw_input_contents[7] == bf16_words.tobytes()
    resp = stub.ModelInfer(req)
    assert len(resp.raw_output_contents) == 10
    _assert_all_dtypes(decode_response(resp), inputs, reference)


# ------------------------------------------------------------- typed contents

@pytest.mark.parametrize("model,batch", [("two_in_two_out", 2), ("int64_embed", 3),
                                         ("tiny_cnn", 2), ("dict_input", 1)])
def test_typed_contents(stub, test_repo, reference, model, batch):
    inputs = make_inputs(test_repo, model, batch=batch, seed=11)
    resp = stub.ModelInfer(typed_request(model, inputs, dtypes_of(test_repo, model)))
    # Triton answers raw_output_contents whatever the request used.
    assert len(resp.raw_output_contents) == len(resp.outputs)
    assert_outputs_close(model, decode_response(resp), reference(model, inputs))


# -------------------------------------------------------------------- versions

def test_multi_version_latest(client, test_repo):
    x = np.array([[1, 2, 3, 4]], np.float32)
    for version, add in (("", 3), ("3", 3), ("2", 2)):
        result = _infer(client, test_repo, "multi_version", {"INPUT__0": x}, version=version)
        np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), x + add,
                                      err_msg=f"version {version!r}")
        assert result.get_response().model_version == (version or "3")


def test_multi_version_old_version_not_served(client, test_repo):
    x = np.array([[1, 2, 3, 4]], np.float32)
    expect_error(lambda: _infer(client, test_repo, "multi_version", {"INPUT__0": x}, version="1"),
                 ("NOT_FOUND", "UNAVAILABLE"), "multi_version")


def test_multi_version_ignored_folders(client, test_repo):
    # "01" would answer x + 100 if it were (wrongly) taken for version 1.
    expect_error(lambda: _infer(client, test_repo, "multi_version",
                                {"INPUT__0": np.zeros((1, 4), np.float32)}, version="01"),
                 ("NOT_FOUND", "UNAVAILABLE", "INVALID_ARGUMENT"), "multi_version")


def test_specific_version(client, test_repo):
    x = np.array([[1, 2, 3, 4]], np.float32)
    for version, add in (("1", 1), ("3", 3), ("", 3)):
        result = _infer(client, test_repo, "specific_version", {"INPUT__0": x}, version=version)
        np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), x + add,
                                      err_msg=f"version {version!r}")
    expect_error(lambda: _infer(client, test_repo, "specific_version", {"INPUT__0": x},
                                version="2"),
                 ("NOT_FOUND", "UNAVAILABLE"), "specific_version")


def test_version_through_raw_route(stub):
    x = np.array([[1, 2, 3, 4]], np.float32)
    resp = stub.ModelInfer(raw_request("multi_version", {"INPUT__0": x}, {"INPUT__0": "FP32"},
                                       version="2"))
    np.testing.assert_array_equal(decode_response(resp)["OUTPUT__0"], x + 2)
    expect_rpc_error(lambda: stub.ModelInfer(raw_request(
        "multi_version", {"INPUT__0": x}, {"INPUT__0": "FP32"}, version="1")),
        ("NOT_FOUND", "UNAVAILABLE"))
