"""Models saved by today's PyTorch (2.x), served end to end and checked
against what torch 2.x computes in this process for the same input:

  sdpa_encoder  a transformer encoder layer whose attention is
                torch.nn.functional.scaled_dot_product_attention (as in
                transformers 5.x and timm 1.x), traced by torch 2.x, with a
                BERT-style padding mask, any batch and sequence length;
  bert_tiny     transformers 5.x's BertModel (small config), traced: its
                attention is transformers' SDPA path;
  vit_tiny      timm 1.x's vision transformer (small image), traced;
  resnet18      torchvision's resnet18 from the pinned torchvision wheel.

And the process the server is: LibTorch from the torch wheel, Kiln's oneDNN
beside the wheel's, one OpenMP runtime, and instances x intra-op threads
within the cores, as its log says.
"""

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import tritonclient.grpc as tc

from kiln_testlib import (START_TIMEOUT_S, assert_outputs_close, make_inputs, tc_inputs,
                          dtypes_of, result_outputs)


def _sdpa_inputs(batch, length, padded_rows, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 64, (batch, length)).astype(np.int64)
    mask = np.ones((batch, length), dtype=np.int64)
    for row, keep in padded_rows.items():
        mask[row, keep:] = 0
    return {"INPUT__0": ids, "INPUT__1": mask}


def _served(client, test_repo, model, inputs):
    result = client.infer(model, tc_inputs(inputs, dtypes_of(test_repo, model)))
    return result_outputs(result)


WIDTH = {"sdpa_encoder": 32, "bert_tiny": 64}


@pytest.mark.parametrize("model", ["sdpa_encoder", "bert_tiny", "vit_tiny"])
def test_model_holds_the_op_lib_torch_1_13_could_not_load(test_repo, model):
    module = torch.jit.load(str(Path(test_repo) / model / "1" / "model.pt"))
    assert "aten::scaled_dot_product_attention" in str(module.inlined_graph)


@pytest.mark.parametrize("model", list(WIDTH))
@pytest.mark.parametrize("batch,length,padded", [(1, 16, {}), (2, 16, {1: 9}), (3, 40, {0: 33, 2: 1})])
def test_attention_model_matches_torch(client, test_repo, reference, model, batch, length, padded):
    inputs = _sdpa_inputs(batch, length, padded, seed=batch * 100 + length)
    ref = reference(model, inputs)
    assert ref["OUTPUT__0"].shape == (batch, length, WIDTH[model])
    assert np.isfinite(ref["OUTPUT__0"]).all()
    for attempt in range(2):  # first request of a shape, then the same shape again
        got = _served(client, test_repo, model, inputs)
        try:
            assert_outputs_close(model, got, ref)
        except AssertionError as e:
            raise AssertionError(f"request {attempt + 1}: {e}") from None


def test_vit_tiny_matches_torch(client, test_repo, reference):
    for seed in (1, 2):
        inputs = make_inputs(test_repo, "vit_tiny", seed=seed)
        ref = reference("vit_tiny", inputs)
        for _ in range(2):
            assert_outputs_close("vit_tiny", _served(client, test_repo, "vit_tiny", inputs), ref)


def test_sdpa_encoder_mask_changes_the_answer(client, test_repo, reference):
    # The additive mask must reach the attention: padding a row changes its
    # unpadded positions' outputs (a served model ignoring the mask would
    # answer both requests alike).
    full = _sdpa_inputs(1, 16, {}, seed=7)
    padded = {"INPUT__0": full["INPUT__0"], "INPUT__1": full["INPUT__1"].copy()}
    padded["INPUT__1"][0, 8:] = 0
    a = _served(client, test_repo, "sdpa_encoder", full)["OUTPUT__0"]
    b = _served(client, test_repo, "sdpa_encoder", padded)["OUTPUT__0"]
    assert float(np.max(np.abs(a[0, :8] - b[0, :8]))) > 1e-2
    assert_outputs_close("sdpa_encoder", {"OUTPUT__0": b}, reference("sdpa_encoder", padded))


def test_torchvision_resnet18_matches_torch(client, test_repo, reference):
    inputs = make_inputs(test_repo, "resnet18", batch=1, seed=12)
    ref = reference("resnet18", inputs)
    for _ in range(2):
        assert_outputs_close("resnet18", _served(client, test_repo, "resnet18", inputs), ref)


# ------------------------------------------------------------- the process


def _mapped_libraries(pid):
    libs = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and ".so" in parts[5]:
            libs.add(os.path.realpath(parts[5].strip()))
    return libs


def test_one_openmp_runtime_and_both_onednns(server, client, test_repo):
    # After a compiled model has run (resnet18 above or here): LibTorch from
    # the torch wheel, Debian's oneDNN for Kiln's plans (the wheel's oneDNN is
    # built into libtorch_cpu), one libgomp for both.
    inputs = make_inputs(test_repo, "tiny_cnn", batch=1, seed=3)
    _served(client, test_repo, "tiny_cnn", inputs)
    libs = _mapped_libraries(server.proc.pid)
    names = [os.path.basename(p) for p in libs]
    torch_cpu = [p for p in libs if os.path.basename(p) == "libtorch_cpu.so"]
    assert len(torch_cpu) == 1 and "site-packages/torch/lib" in torch_cpu[0], torch_cpu
    assert any(n.startswith("libdnnl.so") for n in names), sorted(names)
    gomp = sorted(p for p in libs if os.path.basename(p).startswith("libgomp"))
    assert len(gomp) == 1, f"OpenMP runtimes mapped: {gomp}"
    assert not any(n.startswith(("libiomp", "libomp")) for n in names), sorted(names)


THREAD_MODEL = ('name: "{name}"\nplatform: "pytorch_libtorch"\nmax_batch_size: 4\n'
                'input [ {{ name: "INPUT__0" data_type: TYPE_FP32 dims: [ 3, 32, 32 ] }} ]\n'
                'output [ {{ name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 10 ] }} ]\n'
                'instance_group [ {{ count: {count} kind: KIND_CPU }} ]\n')


def test_instances_times_intra_op_threads_within_cores(make_server, test_repo, tmp_path):
    cores = os.cpu_count()
    model_pt = Path(test_repo) / "tiny_cnn" / "1" / "model.pt"
    counts = {"one_instance": 1, "two_instances": 2, "many_instances": cores + 1}
    # Triton's INTER_OP_THREAD_COUNT sizes LibTorch's process-wide inter-op
    # pool (LibTorch 2.x would start it with one thread per core).
    inter_op = 'parameters: { key: "INTER_OP_THREAD_COUNT" value: { string_value: "1" } }\n'
    for name, count in counts.items():
        (tmp_path / name / "1").mkdir(parents=True)
        (tmp_path / name / "config.pbtxt").write_text(
            THREAD_MODEL.format(name=name, count=count) + (inter_op if count == 1 else ""))
        (tmp_path / name / "1" / "model.pt").write_bytes(model_pt.read_bytes())
    srv = make_server(repo=tmp_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    client = srv.wait_live(deadline)
    srv.wait_models(client, list(counts), deadline=deadline)
    log = srv.log_path.read_text(errors="replace")
    for name, count in counts.items():
        found = re.search(rf"loading model '{name}' version \S+ from \S+ \((\d+) instance\(s\), "
                          r"(\d+) intra-op thread\(s\) each",
                          log)
        assert found, f"no thread line for {name} in the log"
        instances, threads = int(found.group(1)), int(found.group(2))
        assert instances == count
        assert threads >= 1
        # More instances than cores: one thread each, the most the rule allows.
        assert instances * threads <= max(cores, instances), (name, instances, threads, cores)
        if count <= cores:
            assert threads == cores // count, (name, threads, cores)
        pool = re.search(rf"model '{name}' version 1: (\d+) intra-op thread\(s\) per run; "
                         r"inter-op pool: (.*)", log)
        assert pool, f"no engine thread line for {name} in the log"
        assert int(pool.group(1)) == threads
        if count == 1:
            assert pool.group(2).startswith("1 thread(s) (process-wide, sized by this model)"), \
                pool.group(2)
        # Every instance answers, each on its own threads.
        x = np.random.default_rng(count).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
        inp = tc.InferInput("INPUT__0", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        for _ in range(count + 1):
            assert client.infer(name, [inp]).as_numpy("OUTPUT__0").shape == (2, 10)
    srv.stop(expect_rc=0)


def test_log_says_which_backends_and_operator_libraries_loaded(server):
    # The same binary on any host: here the wheel's CUDA backend is present
    # and no GPU is (CI never has one), and torchvision's operators load from
    # the torchvision wheel (the detector needs torchvision::nms).
    log = server.log_path.read_text(errors="replace")
    cuda = re.search(r"loaded LibTorch's CUDA backend \(libtorch_cuda\.so, libtorch\.so\): "
                     r"(\d+) CUDA device\(s\)", log)
    assert cuda, "no CUDA backend line in the log"
    if not Path("/dev/nvidia0").exists():
        assert cuda.group(1) == "0"
        assert "models run on the CPU" in log
    assert re.search(r"loaded operator library \S*site-packages/torchvision/_C\S*\.so", log), \
        "torchvision's operator library not loaded"
    assert "could not load operator library" not in log
