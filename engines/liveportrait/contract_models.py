"""Writes small stand-ins for LivePortrait's ONNX files, for tests.

Usage: contract_models.py OUT_DIR [--dynamic-batch]

Each file has exactly the input and output names, shapes and float32 types
of FasterLivePortrait's export (liveportrait-notes.md §1.3), built from real
operators so that binding mistakes show up as wrong numbers or pixels:

- appearance_feature_extractor: the image, 4x4-averaged, copied into the
  32x16 feature volume (feature channel c holds colour c % 3);
- motion_extractor: pose bins, t, exp, scale and kp computed from the
  image's mean colour; its outputs are declared in a shuffled order, so a
  kiosk that binds outputs by position reads the wrong tensors;
- warping_spade: a real 5-D GridSample of the feature volume, displaced by
  the mean of (kp_source - kp_driving) as LivePortrait's sparse motion is,
  then decoded back to colour and resized to 512x512. Swapping kp_driving
  and kp_source moves the picture the wrong way;
- stitching, stitching_lip: a matrix product with small fixed weights.

With --dynamic-batch the first dimension of every tensor is symbolic (as a
batch-capable export would be); by default it is 1, as in the real files.
With --broken-warp the warp network answers NaN (a failing engine, for
testing the fallback).
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(20240703)
OPSET = 20


def const(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def i64(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def io(name, shape, batch):
    dims = [batch] + list(shape[1:])
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, path)


def appearance(batch):
    # Colour of feature channel c (of 32) is c % 3: 1x1 conv weights pick it.
    w = np.zeros((512, 3, 1, 1), np.float32)
    for k in range(512):
        w[k, (k // 16) % 3, 0, 0] = 1.0
    nodes = [
        helper.make_node("AveragePool", ["img"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Conv", ["pooled", "w"], ["flat"]),
        helper.make_node("Reshape", ["flat", "shape"], ["output"]),
    ]
    return helper.make_graph(
        nodes, "appearance_feature_extractor",
        [io("img", [1, 3, 256, 256], batch)],
        [io("output", [1, 32, 16, 64, 64], batch)],
        [const("w", w), i64("shape", [-1, 32, 16, 64, 64])],
    )


def canonical_kp():
    # A face-like spread of 21 points in LivePortrait's normalised space.
    a = np.linspace(0, 2 * np.pi, 21, endpoint=False)
    return np.stack([0.35 * np.cos(a), 0.45 * np.sin(a), 0.05 * np.cos(2 * a)], 1).reshape(63)


def motion(batch):
    outputs = {
        # name: (width, weight scale, bias)
        "pitch": (66, 0.5, -((np.arange(66) - 34.0) ** 2) / 8.0),  # peaks near +4.5 deg
        "yaw": (66, 0.5, -((np.arange(66) - 31.0) ** 2) / 8.0),  # near -4.5 deg
        "roll": (66, 0.5, -((np.arange(66) - 33.0) ** 2) / 8.0),  # near +1.5 deg
        "t": (3, 0.01, np.array([0.01, -0.02, 0.5])),
        "exp": (63, 0.001, 0.002 * np.sin(np.arange(63))),
        "scale": (1, 0.01, np.array([1.5])),
        "kp": (63, 0.01, canonical_kp()),
    }
    nodes = [
        helper.make_node("GlobalAveragePool", ["img"], ["mean4"]),
        helper.make_node("Flatten", ["mean4"], ["mean"]),
    ]
    inits = []
    for name, (width, scale, bias) in outputs.items():
        w = (rng.standard_normal((3, width)) * scale).astype(np.float32)
        nodes += [
            helper.make_node("MatMul", ["mean", f"{name}_w"], [f"{name}_mm"]),
            helper.make_node("Add", [f"{name}_mm", f"{name}_b"], [name]),
        ]
        inits += [const(f"{name}_w", w), const(f"{name}_b", bias)]
    # Not the order LivePortrait's export uses: outputs must be bound by name.
    order = ["kp", "scale", "pitch", "exp", "t", "yaw", "roll"]
    return helper.make_graph(
        nodes, "motion_extractor",
        [io("img", [1, 3, 256, 256], batch)],
        [io(n, [1, outputs[n][0]], batch) for n in order],
        inits,
    )


def identity_grid():
    # align_corners=0: sample centres at (2i + 1) / n - 1.
    def axis(n):
        return (2 * np.arange(n) + 1) / n - 1

    z, y, x = np.meshgrid(axis(16), axis(64), axis(64), indexing="ij")
    return np.stack([x, y, z], -1)[None].astype(np.float32)


def warping(batch, broken=False):
    w = np.zeros((3, 512, 1, 1), np.float32)
    for k in range(512):
        w[(k // 16) % 3, k, 0, 0] = 1.0
    w /= w.sum(axis=1, keepdims=True)
    nodes = [
        helper.make_node("Sub", ["kp_source", "kp_driving"], ["moved"]),
        helper.make_node("ReduceMean", ["moved", "kp_axis"], ["shift"], keepdims=1),
        helper.make_node("Reshape", ["shift", "shift_shape"], ["shift5"]),
        helper.make_node("Add", ["grid0", "shift5"], ["grid"]),
        helper.make_node("GridSample", ["feature_3d", "grid"], ["warped"],
                         mode="linear", padding_mode="zeros", align_corners=0),
        helper.make_node("Reshape", ["warped", "flat_shape"], ["flat"]),
        helper.make_node("Conv", ["flat", "w"], ["rgb64"]),
        helper.make_node("Resize", ["rgb64", "", "scales"], ["rgb512"], mode="linear"),
        helper.make_node("Clip", ["rgb512", "zero", "one"], ["clipped" if broken else "out"]),
    ]
    if broken:
        nodes.append(helper.make_node("Div", ["clipped", "zero"], ["over_zero"]))
        nodes.append(helper.make_node("Mul", ["over_zero", "zero"], ["out"]))
    return helper.make_graph(
        nodes, "warping_spade",
        [io("feature_3d", [1, 32, 16, 64, 64], batch),
         io("kp_driving", [1, 21, 3], batch),
         io("kp_source", [1, 21, 3], batch)],
        [io("out", [1, 3, 512, 512], batch)],
        [const("grid0", identity_grid()), i64("kp_axis", [1]),
         i64("shift_shape", [-1, 1, 1, 1, 3]), i64("flat_shape", [-1, 512, 64, 64]),
         const("w", w), const("scales", [1, 1, 8, 8]), const("zero", 0.0), const("one", 1.0)],
    )


def mlp(name, n_in, n_out, batch):
    w = (rng.standard_normal((n_in, n_out)) * 0.002).astype(np.float32)
    b = (rng.standard_normal(n_out) * 0.001).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["input", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["output"]),
    ]
    return helper.make_graph(
        nodes, name, [io("input", [1, n_in], batch)], [io("output", [1, n_out], batch)],
        [const("w", w), const("b", b)],
    )


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    batch = "batch" if "--dynamic-batch" in sys.argv[2:] else 1
    save(appearance(batch), f"{out}/appearance_feature_extractor.onnx")
    save(motion(batch), f"{out}/motion_extractor.onnx")
    save(warping(batch, "--broken-warp" in sys.argv[2:]), f"{out}/warping_spade.onnx")
    save(mlp("stitching", 126, 65, batch), f"{out}/stitching.onnx")
    save(mlp("stitching_lip", 65, 63, batch), f"{out}/stitching_lip.onnx")


if __name__ == "__main__":
    main()
