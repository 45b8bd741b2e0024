"""Helpers and fixtures of the HTTP/REST e2e tests (test_http.py,
test_http_errors.py): a kiln-server with HTTP on, tritonclient.http and
tritonclient.grpc clients of it, a plain keep-alive connection, and input
builders. Test modules import the fixtures they use."""

import http.client
import json
import time

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from kiln_testlib import BROKEN_MODELS, GOOD_MODELS, START_TIMEOUT_S, wire_dtype

UNBATCHED = {"all_dtypes", "slow", "conv1d_audio", "modulated_conv", "detector", "no_freeze_cnn"}
NO_JSON = {"FP16", "BF16"}  # no JSON form (as in Triton): always binary


def start_server(make_server, *args, ready=GOOD_MODELS, settled=BROKEN_MODELS):
    srv = make_server(*args, http=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    grpc_client = srv.wait_live(deadline)
    srv.wait_models(grpc_client, ready, settled=settled, deadline=deadline)
    return srv


@pytest.fixture(scope="module")
def http_server(make_server):
    """The whole test repository, gRPC and HTTP on; strict readiness."""
    srv = start_server(make_server, "--exit-on-error=false")
    yield srv
    srv.stop(expect_rc=0)


@pytest.fixture(scope="module")
def hc(http_server):
    client = httpclient.InferenceServerClient(http_server.http_url, concurrency=4,
                                              network_timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="module")
def gc(http_server):
    return grpcclient.InferenceServerClient(http_server.url)


class Http:
    """Plain HTTP calls on one keep-alive connection (what curl or a KServe
    client sends), returning (status, headers, body bytes)."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()

    def json(self, method, path, body=None, headers=None):
        status, headers, data = self.request(method, path, body, headers)
        return status, (json.loads(data) if data else None)

    def close(self):
        self.conn.close()


@pytest.fixture
def raw(http_server):
    conn = Http(http_server.http_port)
    yield conn
    conn.close()


def http_inputs(arrays: dict, dtypes: dict, binary=True):
    items = []
    for name, array in arrays.items():
        i = httpclient.InferInput(name, list(array.shape), dtypes[name])
        i.set_data_from_numpy(array, binary_data=binary or dtypes[name] in NO_JSON)
        items.append(i)
    return items


def grpc_inputs(arrays: dict, dtypes: dict):
    items = []
    for name, array in arrays.items():
        i = grpcclient.InferInput(name, list(array.shape), dtypes[name])
        i.set_data_from_numpy(array)
        items.append(i)
    return items


def http_outputs(cfg, binary):
    return [httpclient.InferRequestedOutput(
        o.name, binary_data=binary or wire_dtype(o) in NO_JSON) for o in cfg.output]


def outputs_of(result, cfg):
    return {o.name: result.as_numpy(o.name) for o in cfg.output}


def expect_http_error(fn, status, *words):
    """fn must raise InferenceServerException with HTTP `status` (int or
    tuple) and a message containing every word."""
    statuses = (status,) if isinstance(status, int) else tuple(status)
    with pytest.raises(InferenceServerException) as info:
        fn()
    err = info.value
    assert err.status() in {str(s) for s in statuses}, \
        f"HTTP status {err.status()}, expected {statuses}; message: {err.message()!r}"
    for word in words:
        assert word in (err.message() or ""), f"{word!r} not in message {err.message()!r}"
    return err


def two_in_two_out_ok(hc):
    a = np.array([[1, 2, 3, 4]], np.float32)
    b = np.array([[2, 2, 2, 2]], np.float32)
    result = hc.infer("two_in_two_out", http_inputs({"a": a, "b": b}, {"a": "FP32", "b": "FP32"}))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__0"), a + b)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT__1"), a * b)


@pytest.fixture
def still_serving(hc):
    """For error tests: afterwards a good request still succeeds."""
    yield
    two_in_two_out_ok(hc)




def binary_body(datatype, shape, data):
    header = json.dumps({"inputs": [{"name": "INPUT__0", "datatype": datatype, "shape": shape,
                                     "parameters": {"binary_data_size": len(data)}}]}).encode()
    return header + data, {"Inference-Header-Content-Length": str(len(header))}
