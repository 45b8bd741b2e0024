"""Shared helpers for Kiln's e2e tests: model configs, inputs, reference
outputs (the same model.pt run in this process by torch.jit.load), output
comparison, and the raw-protobuf request route (typed contents, BF16, bad
byte sizes — things tritonclient's high-level API cannot send)."""

import threading
from pathlib import Path

import grpc
import ml_dtypes
import numpy as np
import torchvision  # noqa: F401  (registers torchvision::nms for reference models)
import pytest
import torch
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

torch.set_num_threads(1)  # the server under test needs the cores

REPO_ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 120  # server live and its models ready
STOP_TIMEOUT_S = 60    # SIGTERM to exit

GOOD_MODELS = [
    "tiny_cnn", "resnet18", "mobilenet_v2", "two_in_two_out", "int64_embed", "all_dtypes",
    "dict_output", "dict_input", "runtime_error", "slow", "multi_version",
    "specific_version", "no_freeze", "no_freeze_cnn", "named_args", "modulated_conv", "conv1d_audio", "detector",
    "sdpa_encoder", "bert_tiny", "vit_tiny",
]
BROKEN_MODELS = ["broken_config", "corrupt_model", "not_torchscript",
                 "signature_mismatch", "bad_platform", "bad_engine_option"]
ALL_MODELS = GOOD_MODELS + BROKEN_MODELS

# At the default optimization level the engine may serve a model from a bf16
# plan, kept only when its accuracy checker passed (engine/accuracy.h): so
# float outputs are held to the checker's bf16 tolerance - allclose with
# rtol 2e-2 and atol 2e-2 x max|ref|, cosine similarity >= 0.999 and max abs
# error <= 5% of max|ref| - the promise the product makes for any plan.
BF16_RTOL = 2e-2
BF16_ATOL_FRACTION = 2e-2
MIN_COSINE = 0.999
MAX_ABS_FRACTION = 0.05

WIRE = {  # config enum name -> wire datatype
    "TYPE_BOOL": "BOOL", "TYPE_UINT8": "UINT8", "TYPE_UINT16": "UINT16",
    "TYPE_UINT32": "UINT32", "TYPE_UINT64": "UINT64", "TYPE_INT8": "INT8",
    "TYPE_INT16": "INT16", "TYPE_INT32": "INT32", "TYPE_INT64": "INT64",
    "TYPE_FP16": "FP16", "TYPE_FP32": "FP32", "TYPE_FP64": "FP64",
    "TYPE_STRING": "BYTES", "TYPE_BF16": "BF16",
}
NP = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BF16": ml_dtypes.bfloat16,
}
FLOAT_TYPES = {"FP16", "BF16", "FP32", "FP64"}


# --------------------------------------------------------------------- configs

def load_config(repo: Path, model: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse((Path(repo) / model / "config.pbtxt").read_text(),
                             model_config_pb2.ModelConfig())


def wire_dtype(tensor_cfg) -> str:
    return WIRE[model_config_pb2.DataType.Name(tensor_cfg.data_type)]


def full_shape(cfg, tensor_cfg, batch=None):
    dims = list(tensor_cfg.dims)
    if cfg.max_batch_size > 0:
        return [batch if batch is not None else -1] + dims
    return dims


def random_array(rng: np.random.Generator, dtype: str, shape, model: str = ""):
    """Values every test model accepts: non-negative floats for runtime_error,
    ids < vocabulary size for int64_embed, 0/1 for sdpa_encoder and bert_tiny, no overflow on x + 1, and floats that
    are exact in FP16/BF16."""
    if dtype == "BOOL":
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dtype in FLOAT_TYPES:
        if dtype in ("FP16", "BF16"):
            return (rng.integers(-16, 16, shape) / 4).astype(NP[dtype])
        low = 0.0 if model == "runtime_error" else -1.0
        return rng.uniform(low, 1.0, shape).astype(NP[dtype])
    if model == "int64_embed":
        return rng.integers(0, 100, shape).astype(NP[dtype])
    if model in ("sdpa_encoder", "bert_tiny"):  # token ids below the vocabulary, a 0/1 mask
        return rng.integers(0, 2, shape).astype(NP[dtype])
    low = 0 if dtype.startswith("UINT") else -50
    return rng.integers(low, 50, shape).astype(NP[dtype])


VARIABLE_DIM = 16  # what make_inputs sends for a -1 (variable) dimension


def make_inputs(repo, model, batch=None, seed=0):
    """{input name: array} for one request, shapes from the model's config file
    (VARIABLE_DIM for each variable dimension)."""
    cfg = load_config(repo, model)
    rng = np.random.default_rng(seed)
    shape = lambda t: [VARIABLE_DIM if d < 0 else d for d in full_shape(cfg, t, batch)]  # noqa: E731
    return {t.name: random_array(rng, wire_dtype(t), shape(t), model) for t in cfg.input}


# ------------------------------------------------------------------ reference

def to_torch(array: np.ndarray) -> torch.Tensor:
    if array.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array).copy())


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().contiguous()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


class Reference:
    """Runs a repository's model.pt in this process, binding inputs the way the
    server must (PROTOCOL.md): forward() argument names, "<name>__<index>" by
    position, or the keys of a single Dict[str, Tensor] argument; outputs
    OUTPUT__<i> from a tuple, dict keys, or OUTPUT__0 for a lone tensor."""

    def __init__(self, repo):
        self.repo = Path(repo)
        self._modules = {}
        self._lock = threading.Lock()

    def module(self, model, version=1):
        key = (model, int(version))
        with self._lock:
            if key not in self._modules:
                m = torch.jit.load(str(self.repo / model / str(version) / "model.pt"))
                self._modules[key] = m.eval()
            return self._modules[key]

    def __call__(self, model, inputs: dict, version=1) -> dict:
        module = self.module(model, version)
        args = module.forward.schema.arguments[1:]  # drop self
        tensors = {name: to_torch(a) for name, a in inputs.items()}
        if len(args) == 1 and str(args[0].type).startswith("Dict"):
            call_args = [tensors]
        else:
            call_args = [None] * len(args)
            arg_names = [a.name for a in args]
            for name, t in tensors.items():
                if name in arg_names:
                    call_args[arg_names.index(name)] = t
                else:
                    call_args[int(name.rsplit("__", 1)[1])] = t
        with self._lock, torch.no_grad():
            result = module(*call_args)
        if isinstance(result, dict):
            return {k: to_numpy(v) for k, v in result.items()}
        if isinstance(result, (tuple, list)):
            return {f"OUTPUT__{i}": to_numpy(v) for i, v in enumerate(result)}
        return {"OUTPUT__0": to_numpy(result)}


def assert_output_close(model, name, got: np.ndarray, ref: np.ndarray):
    what = f"model {model!r} output {name!r}"
    assert got is not None, f"{what}: missing from the response"
    assert got.dtype == ref.dtype, f"{what}: dtype {got.dtype}, expected {ref.dtype}"
    assert list(got.shape) == list(ref.shape), f"{what}: shape {got.shape}, expected {ref.shape}"
    if ref.dtype.kind not in "fV" and ref.dtype != ml_dtypes.bfloat16:
        np.testing.assert_array_equal(got, ref, err_msg=what)
        return
    g = got.astype(np.float64).ravel()
    r = ref.astype(np.float64).ravel()
    scale = float(np.max(np.abs(r))) if r.size else 0.0
    np.testing.assert_allclose(g, r, rtol=BF16_RTOL, atol=BF16_ATOL_FRACTION * scale + 1e-6,
                               err_msg=what)
    if r.size:
        assert float(np.max(np.abs(g - r))) <= MAX_ABS_FRACTION * scale + 1e-6, \
            f"{what}: max abs error above {MAX_ABS_FRACTION} of max |ref| {scale}"
        norm = float(np.linalg.norm(g) * np.linalg.norm(r))
        cosine = float(np.dot(g, r) / norm) if norm > 0 else float(np.array_equal(g, r))
        assert cosine >= MIN_COSINE, f"{what}: cosine similarity {cosine} < {MIN_COSINE}" 


def assert_outputs_close(model, got: dict, ref: dict, names=None):
    for name in names if names is not None else ref:
        assert_output_close(model, name, got.get(name), ref[name])


# ------------------------------------------------------------ error checking

def expect_error(fn, codes, *words):
    """Calls fn, which must raise InferenceServerException with a status in
    `codes` (e.g. "INVALID_ARGUMENT") and a message containing every word."""
    codes = (codes,) if isinstance(codes, str) else tuple(codes)
    with pytest.raises(InferenceServerException) as info:
        fn()
    err = info.value
    status = str(err.status())
    assert any(status == f"StatusCode.{c}" for c in codes), \
        f"status {status}, expected one of {codes}; message: {err.message()!r}"
    for word in words:
        assert word in (err.message() or ""), f"{word!r} not in message {err.message()!r}"
    return err


def expect_rpc_error(fn, codes, *words):
    """Like expect_error for calls made through the raw stub (grpc.RpcError)."""
    codes = (codes,) if isinstance(codes, str) else tuple(codes)
    with pytest.raises(grpc.RpcError) as info:
        fn()
    err = info.value
    assert err.code().name in codes, \
        f"status {err.code().name}, expected one of {codes}; message: {err.details()!r}"
    for word in words:
        assert word in (err.details() or ""), f"{word!r} not in message {err.details()!r}"
    return err


# ------------------------------------------------------------ raw proto route

def raw_stub(url):
    options = [("grpc.max_send_message_length", 2**31 - 1),
               ("grpc.max_receive_message_length", 2**31 - 1)]
    channel = grpc.insecure_channel(url, options=options)
    return channel, service_pb2_grpc.GRPCInferenceServiceStub(channel)


def raw_request(model, inputs: dict, dtypes: dict, outputs=None, version="", id=""):
    """ModelInferRequest with every input as raw bytes (the route BF16 needs)."""
    req = service_pb2.ModelInferRequest(model_name=model, model_version=version, id=id)
    for name, array in inputs.items():
        t = req.inputs.add(name=name, datatype=dtypes[name])
        t.shape.extend(array.shape)
        req.raw_input_contents.append(np.ascontiguousarray(array).tobytes())
    for name in outputs or []:
        req.outputs.add(name=name)
    return req


_CONTENTS_FIELD = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
    "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
    "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents",
}


def typed_request(model, inputs: dict, dtypes: dict, version=""):
    """ModelInferRequest with every input in InferTensorContents (typed fields)."""
    req = service_pb2.ModelInferRequest(model_name=model, model_version=version)
    for name, array in inputs.items():
        t = req.inputs.add(name=name, datatype=dtypes[name])
        t.shape.extend(array.shape)
        getattr(t.contents, _CONTENTS_FIELD[dtypes[name]]).extend(array.flatten().tolist())
    return req


def decode_response(resp) -> dict:
    """{output name: array} from a ModelInferResponse (raw or typed outputs)."""
    out = {}
    for i, o in enumerate(resp.outputs):
        dtype = NP[o.datatype]
        if i < len(resp.raw_output_contents):
            arr = np.frombuffer(resp.raw_output_contents[i], dtype=dtype)
        else:
            arr = np.array(getattr(o.contents, _CONTENTS_FIELD[o.datatype]), dtype=dtype)
        out[o.name] = arr.reshape(list(o.shape))
    return out


def result_outputs(result) -> dict:
    """{output name: array} from a tritonclient InferResult."""
    resp = result.get_response()
    return {o.name: result.as_numpy(o.name) for o in resp.outputs}


def tc_inputs(inputs: dict, dtypes: dict):
    import tritonclient.grpc as tc
    items = []
    for name, array in inputs.items():
        i = tc.InferInput(name, list(array.shape), dtypes[name])
        i.set_data_from_numpy(array)
        items.append(i)
    return items


def dtypes_of(repo, model) -> dict:
    return {t.name: wire_dtype(t) for t in load_config(repo, model).input}
