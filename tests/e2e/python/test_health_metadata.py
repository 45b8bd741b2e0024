"""Health, server/model metadata, model config, repository index, statistics."""

import re

import pytest
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

from kiln_testlib import (ALL_MODELS, BROKEN_MODELS, GOOD_MODELS, dtypes_of, expect_error,
                          full_shape, load_config, make_inputs, tc_inputs, wire_dtype)

# ---------------------------------------------------------------------- health


def test_server_live(client):
    assert client.is_server_live() is True


@pytest.mark.parametrize("model", GOOD_MODELS)
def test_good_model_ready(client, model):
    assert client.is_model_ready(model) is True


@pytest.mark.parametrize("model", BROKEN_MODELS)
def test_broken_model_not_ready(client, model):
    assert client.is_model_ready(model) is False


def test_server_not_ready_with_broken_models(client):
    # --strict-readiness is the default: a model that failed to load makes
    # the server not ready, while it keeps serving the others.
    assert client.is_server_ready() is False
    assert client.is_server_live() is True


def _raw_unary(url, method, request_bytes):
    """Calls a gRPC method with hand-encoded protobuf bytes (the standard
    health and reflection services have no stubs in tritonclient)."""
    import grpc
    with grpc.insecure_channel(url) as channel:
        call = channel.unary_unary(method, request_serializer=None,
                                   response_deserializer=None)
        return call(request_bytes, timeout=10)


def test_grpc_health_service_reports_serving(server):
    # grpc.health.v1.Health/Check with an empty HealthCheckRequest; the reply
    # HealthCheckResponse{status: SERVING(1)} encodes as field 1 varint 1.
    reply = _raw_unary(server.url, "/grpc.health.v1.Health/Check", b"")
    assert reply == b"\x08\x01"


def test_server_reflection_lists_the_inference_service(server):
    import grpc
    with grpc.insecure_channel(server.url) as channel:
        call = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=None, response_deserializer=None)
        # ServerReflectionRequest{list_services: ""}: field 7, length 0.
        replies = list(call(iter([b"\x3a\x00"]), timeout=10))
    assert any(b"inference.GRPCInferenceService" in r for r in replies)
    assert any(b"grpc.health.v1.Health" in r for r in replies)


def test_model_ready_per_version(client):
    assert client.is_model_ready("multi_version", "3") is True
    assert client.is_model_ready("multi_version", "2") is True
    assert client.is_model_ready("multi_version", "1") is False
    assert client.is_model_ready("specific_version", "1") is True
    assert client.is_model_ready("specific_version", "2") is False
    assert client.is_model_ready("specific_version", "3") is True


def test_unknown_model_not_ready(client):
    # False, or a NOT_FOUND error: either way, not ready.
    try:
        assert client.is_model_ready("no_such_model") is False
    except InferenceServerException as e:
        assert str(e.status()) == "StatusCode.NOT_FOUND", e


# -------------------------------------------------------------------- metadata


def test_server_metadata(client):
    md = client.get_server_metadata()
    assert md.name == "kiln"
    assert md.version
    for ext in ("model_repository", "statistics", "model_configuration"):
        assert ext in md.extensions, f"{ext} not in {list(md.extensions)}"


def test_model_metadata_batched(client):
    md = client.get_model_metadata("tiny_cnn")
    assert md.name == "tiny_cnn"
    assert md.platform == "pytorch_libtorch"
    assert list(md.versions) == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in md.inputs] == \
        [("INPUT__0", "FP32", [-1, 3, 32, 32])]
    assert [(t.name, t.datatype, list(t.shape)) for t in md.outputs] == \
        [("OUTPUT__0", "FP32", [-1, 10])]


def test_model_metadata_unbatched(client):
    md = client.get_model_metadata("all_dtypes")
    assert md.platform == "pytorch_libtorch"
    expected = ["BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64"]
    assert [t.name for t in md.inputs] == [f"INPUT__{i}" for i in range(10)]
    assert [t.datatype for t in md.inputs] == expected
    assert [t.datatype for t in md.outputs] == expected
    assert all(list(t.shape) == [2, 3] for t in list(md.inputs) + list(md.outputs))


@pytest.mark.parametrize("model", GOOD_MODELS)
def test_model_metadata_matches_config(client, test_repo, model):
    cfg = load_config(test_repo, model)
    md = client.get_model_metadata(model)
    assert md.name == model
    assert [(t.name, t.datatype, list(t.shape)) for t in md.inputs] == \
        [(t.name, wire_dtype(t), full_shape(cfg, t)) for t in cfg.input]
    # Outputs in config order (dict_output lists "prod" before "sum").
    assert [(t.name, t.datatype, list(t.shape)) for t in md.outputs] == \
        [(t.name, wire_dtype(t), full_shape(cfg, t)) for t in cfg.output]


def test_model_metadata_versions(client):
    assert sorted(client.get_model_metadata("multi_version").versions) == ["2", "3"]
    assert sorted(client.get_model_metadata("specific_version").versions) == ["1", "3"]
    assert client.get_model_metadata("multi_version", "2").name == "multi_version"


def test_model_metadata_backend_spelling(client):
    # two_in_two_out's config says backend: "pytorch" instead of platform.
    md = client.get_model_metadata("two_in_two_out")
    assert md.platform == "pytorch_libtorch"
    assert [t.name for t in md.inputs] == ["a", "b"]


# ---------------------------------------------------------------- model config


@pytest.mark.parametrize("model", ["tiny_cnn", "all_dtypes", "two_in_two_out", "dict_output",
                                   "named_args", "multi_version", "specific_version"])
def test_model_config_matches_file(client, test_repo, model):
    want = load_config(test_repo, model)
    got = client.get_model_config(model).config
    assert got.name == model
    assert got.max_batch_size == want.max_batch_size
    assert [(t.name, t.data_type, list(t.dims)) for t in got.input] == \
        [(t.name, t.data_type, list(t.dims)) for t in want.input]
    assert [(t.name, t.data_type, list(t.dims)) for t in got.output] == \
        [(t.name, t.data_type, list(t.dims)) for t in want.output]
    if want.HasField("version_policy"):
        assert got.version_policy == want.version_policy
    assert got.platform == "pytorch_libtorch" or got.backend == "pytorch"


def test_model_config_unknown_model(client):
    expect_error(lambda: client.get_model_config("no_such_model"), "NOT_FOUND", "no_such_model")


# ----------------------------------------------------------- repository index

REASON_CHECKS = {
    "broken_config": lambda r: "config.pbtxt" in r,
    "corrupt_model": lambda r: len(r) > 0,
    "not_torchscript": lambda r: len(r) > 0,
    "signature_mismatch": lambda r: re.search(r"\b[yz]\b", r) is not None,
    "bad_platform": lambda r: "tensorflow_savedmodel" in r or "platform" in r.lower(),
    "bad_engine_option": lambda r: "KILN_PRECISION" in r and "'fp16'" in r,
}


def _index(client):
    entries = {}
    for m in client.get_model_repository_index(as_json=False).models:
        entries.setdefault(m.name, []).append(m)
    return entries


def test_repository_index_lists_every_model(client):
    entries = _index(client)
    missing = [m for m in ALL_MODELS if m not in entries]
    assert not missing, f"not in the index: {missing}; index: {sorted(entries)}"


@pytest.mark.parametrize("model", GOOD_MODELS)
def test_repository_index_good_ready(client, model):
    states = {(e.version, e.state) for e in _index(client)[model]}
    assert any(state == "READY" for _, state in states), states


def test_repository_index_versions(client):
    entries = _index(client)
    ready = lambda m: sorted(e.version for e in entries[m] if e.state == "READY")
    assert ready("multi_version") == ["2", "3"]
    assert ready("specific_version") == ["1", "3"]


@pytest.mark.parametrize("model", BROKEN_MODELS)
def test_repository_index_broken_unavailable(client, model):
    entries = _index(client)[model]
    assert all(e.state == "UNAVAILABLE" for e in entries), [(e.version, e.state) for e in entries]
    reasons = " | ".join(e.reason for e in entries)
    assert any(e.reason for e in entries), f"{model}: empty reason"
    assert REASON_CHECKS[model](reasons), f"{model}: reason does not name the problem: {reasons!r}"


def test_repository_index_ready_filter(client, stub):
    names = {m.name for m in client.get_model_repository_index(as_json=False).models}
    resp = stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(ready=True))
    ready = {m.name for m in resp.models}
    assert set(GOOD_MODELS) <= ready
    assert not (set(BROKEN_MODELS) & ready)
    assert ready <= names


# ------------------------------------------------------------------ statistics


def _stats(client, model, version="1"):
    resp = client.get_inference_statistics(model, version, as_json=False)
    matching = [s for s in resp.model_stats if s.name == model and s.version == version]
    assert len(matching) == 1, resp
    return matching[0]


def test_statistics_count_inferences(client, test_repo):
    model, n = "int64_embed", 5
    before = _stats(client, model)
    for i in range(n):
        inputs = make_inputs(test_repo, model, batch=1, seed=100 + i)
        client.infer(model, tc_inputs(inputs, dtypes_of(test_repo, model)))
    after = _stats(client, model)
    assert after.inference_count - before.inference_count >= n
    assert after.inference_stats.success.count - before.inference_stats.success.count >= n
    assert after.execution_count - before.execution_count >= 1
    assert after.inference_stats.success.ns > before.inference_stats.success.ns
    assert after.last_inference > 0


def test_statistics_count_batch_items(client, test_repo):
    # inference_count counts batch items: one request of batch 3 adds 3.
    model = "dict_input"
    before = _stats(client, model)
    inputs = make_inputs(test_repo, model, batch=3, seed=7)
    client.infer(model, tc_inputs(inputs, dtypes_of(test_repo, model)))
    after = _stats(client, model)
    assert after.inference_count - before.inference_count >= 3
    assert after.inference_stats.success.count - before.inference_stats.success.count >= 1


def test_statistics_all_models(client):
    resp = client.get_inference_statistics(as_json=False)
    names = {s.name for s in resp.model_stats}
    assert set(GOOD_MODELS) <= names
    assert not set(BROKEN_MODELS) & names
