"""Times LivePortrait's full-size networks (random weights) on a GPU.

Usage: gpu_bench.py [--device cuda|cpu] [--iters N] [--out results.json]
                    [--onnx-dir DIR] [--compile]

What the kiosk runs per photo (appearance F, motion M) and per frame
(stitching S, then warp W and decode G fused as warping_spade), at the
sizes of architecture.py, in float32 and float16, batch 1 and 4, eager and
replayed as a CUDA graph (one launch per frame, as a TensorRT engine is).
A 4-second loop is 100 frames, so "loop" = F + M + 100 x (S + W + G).

With --onnx-dir, warping_spade is also exported to ONNX with the kiosk's
tensor names (opset 20, 5-D GridSample), converted for the GridSample3D
plugin with trt_model.py, and run once with ONNX Runtime (any provider it
has) against PyTorch's float32 result.

Each figure is printed as it is measured and the whole set is written as
JSON, so a run cut short still reports what it measured.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import architecture as arch  # noqa: E402

results = {}


def report(key, value):
    results[key] = value
    print(f"{key}: {value}", flush=True)
    if ARGS.out:
        with open(ARGS.out, "w") as f:
            json.dump(results, f, indent=1)


def timed_ms(fn, iters, device):
    """Median milliseconds of fn() over iters runs after three warm-ups."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(iters):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return round(times[len(times) // 2], 3)


def as_graph(fn, device):
    """fn replayed as one CUDA graph (static inputs), or fn itself on CPU."""
    if device != "cuda":
        return fn
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def inputs(batch, dtype, device):
    g = torch.Generator().manual_seed(batch)
    feature = torch.randn(batch, 32, 16, 64, 64, generator=g) * 0.5
    kp_s = torch.rand(batch, arch.NUM_KP, 3, generator=g) * 1.2 - 0.6
    kp_d = kp_s + torch.randn(batch, arch.NUM_KP, 3, generator=g) * 0.02
    return [t.to(device=device, dtype=dtype) for t in (feature, kp_d, kp_s)]


def flops_per_frame(model, device):
    """Multiply-adds x 2 of one frame, as PyTorch's counter sees them (grid
    sampling, norms and activations are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*inputs(1, torch.float32, device))
    return counter.get_total_flops()


def main():
    device = ARGS.device
    if device == "cuda":
        report("gpu", torch.cuda.get_device_name())
        report("torch", torch.__version__)
        report("cudnn", torch.backends.cudnn.version())
    torch.backends.cudnn.benchmark = True
    nets = {
        "F": arch.randomise(arch.Appearance(), 1),
        "M": arch.randomise(arch.Motion(), 2),
        "W": arch.randomise(arch.Warp(), 3),
        "G": arch.randomise(arch.Decoder(), 4),
        "S": arch.randomise(arch.stitching(), 5),
    }
    for k in "FMWG":
        report(f"params_M.{k}", f"{arch.params_m(nets[k]):.2f} (published {arch.expected_params[k]})")
    ws = arch.WarpingSpade().eval()
    ws.warp, ws.decode = nets["W"], nets["G"]
    ws.to(device)
    report("GFLOP_per_frame.warping_spade", round(flops_per_frame(ws, device) / 1e9, 1))

    report("cudnn_allow_tf32", torch.backends.cudnn.allow_tf32)
    for dtype_name, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
        stage(dtype_name, lambda: time_dtype(nets, dtype_name, dtype, device))

    if ARGS.onnx_dir:
        stage("onnx", lambda: onnx_check(ws, device))
    if ARGS.compile and device == "cuda":
        stage("compile", lambda: compiled_fp16(ws, device))


def time_dtype(nets, dtype_name, dtype, device):
    """Per-photo and per-frame figures in one precision."""
    for net in nets.values():
        net.to(device=device, dtype=dtype)
    with torch.no_grad():
        img = torch.rand(1, 3, 256, 256, device=device, dtype=dtype)
        per_photo = timed_ms(lambda: nets["F"](img), ARGS.iters, device) + \
            timed_ms(lambda: nets["M"](img), ARGS.iters, device)
        report(f"{dtype_name}.per_photo_F_plus_M_ms", round(per_photo, 2))
        s_in = torch.rand(1, 126, device=device, dtype=dtype)
        stitch = timed_ms(lambda: nets["S"](s_in), ARGS.iters, device)
        report(f"{dtype_name}.stitching_ms", stitch)
        for batch in (1, 4):
            feature, kp_d, kp_s = inputs(batch, dtype, device)
            warp = timed_ms(lambda: nets["W"](feature, kp_d, kp_s), ARGS.iters, device)
            seg = nets["W"](feature, kp_d, kp_s)
            decode = timed_ms(lambda: nets["G"](seg), ARGS.iters, device)
            fused = lambda: nets["G"](nets["W"](feature, kp_d, kp_s))
            eager = timed_ms(fused, ARGS.iters, device)
            graph = timed_ms(as_graph(fused, device), ARGS.iters, device)
            key = f"{dtype_name}.batch{batch}"
            report(f"{key}.warp_ms_per_frame", round(warp / batch, 2))
            report(f"{key}.decode_ms_per_frame", round(decode / batch, 2))
            report(f"{key}.warp_decode_eager_ms_per_frame", round(eager / batch, 2))
            report(f"{key}.warp_decode_graph_ms_per_frame", round(graph / batch, 2))
            best = min(eager, graph) / batch
            report(f"{key}.loop_100_frames_s", round((per_photo + 100 * (stitch + best)) / 1000, 3))
        if device == "cuda":
            report(f"{dtype_name}.peak_gpu_MiB", round(torch.cuda.max_memory_allocated() / 2**20))


def stage(name, fn):
    """Runs one optional stage; its failure is a result, not the end."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - reported, and the run goes on
        report(f"{name}.error", f"{type(e).__name__}: {e}"[:500])


def compiled_fp16(ws, device):
    # Inductor's fused kernels, as LivePortrait's own speed table uses.
    t = time.perf_counter()
    compiled = torch.compile(ws.to(device=device, dtype=torch.float16))
    feature, kp_d, kp_s = inputs(1, torch.float16, device)
    with torch.no_grad():
        compiled(feature, kp_d, kp_s)
        report("fp16.compile_s", round(time.perf_counter() - t, 1))
        report("fp16.batch1.warp_decode_compiled_ms_per_frame",
               timed_ms(lambda: compiled(feature, kp_d, kp_s), ARGS.iters, device))


def onnx_check(ws, device):
    import numpy as np
    import onnxruntime as ort
    import trt_model
    import onnx

    os.makedirs(ARGS.onnx_dir, exist_ok=True)
    path = os.path.join(ARGS.onnx_dir, "warping_spade.onnx")
    ws = ws.to(device="cpu", dtype=torch.float32)
    feature, kp_d, kp_s = inputs(1, torch.float32, "cpu")
    t = time.perf_counter()
    torch.onnx.export(ws, (feature, kp_d, kp_s), path, opset_version=20, dynamo=True, external_data=False,
                      input_names=["feature_3d", "kp_driving", "kp_source"], output_names=["out"])
    report("onnx.export_s", round(time.perf_counter() - t, 1))
    report("onnx.MB", round(os.path.getsize(path) / 1e6))
    model = onnx.load(path)
    ops = [n.op_type for n in model.graph.node]
    report("onnx.gridsample_nodes", ops.count("GridSample"))
    fixed = trt_model.convert(model)
    report("onnx.gridsample3d_nodes_after_trt_model", fixed)
    report("ort.version", ort.__version__)
    report("ort.providers", ort.get_available_providers())
    with torch.no_grad():
        torch.backends.cudnn.allow_tf32 = False
        expected = ws(feature, kp_d, kp_s).numpy()
    session = ort.InferenceSession(path, providers=ort.get_available_providers())
    report("ort.inputs", [(i.name, i.shape) for i in session.get_inputs()])
    report("ort.outputs", [(o.name, o.shape) for o in session.get_outputs()])
    feeds = {"feature_3d": feature.numpy(), "kp_driving": kp_d.numpy(), "kp_source": kp_s.numpy()}
    t = time.perf_counter()
    got = session.run(["out"], feeds)[0]
    report("ort.first_run_ms", round((time.perf_counter() - t) * 1000))
    t = time.perf_counter()
    session.run(["out"], feeds)
    report("ort.second_run_ms", round((time.perf_counter() - t) * 1000))
    report("ort.max_abs_diff_vs_torch", float(np.abs(got - expected).max()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--out")
    parser.add_argument("--onnx-dir")
    parser.add_argument("--compile", action="store_true")
    ARGS = parser.parse_args()
    main()
