"""Hands the warp network's 5-D GridSample nodes to the GridSample3D plugin.

Usage: trt_model.py warping_spade.onnx warping_spade-fix.onnx

TensorRT's own GridSample layer is 4-D only, so FasterLivePortrait renames
the 5-D nodes to the GridSample3D plugin (SeanWangJS/grid-sample3d-trt-plugin,
Apache-2.0; liveportrait-notes.md §1.4). ONNX Runtime's TensorRT provider
finds a plugin through a custom op of the same name in the `trt.plugins`
domain. The plugin reads integer attributes (interpolation_mode,
padding_mode, align_corners), not ONNX's strings, so they are converted
here rather than left to coincide with its defaults. 4-D GridSample nodes
stay as they are (TensorRT runs them natively).
"""
import os
import sys

import onnx
from onnx import helper, shape_inference

MODES = {"linear": 0, "bilinear": 0, "nearest": 1}
PADDING = {"zeros": 0, "border": 1, "reflection": 2}


def rank(model, name):
    for v in list(model.graph.value_info) + list(model.graph.input):
        if v.name == name and v.type.tensor_type.HasField("shape"):
            return len(v.type.tensor_type.shape.dim)
    return None


def convert(model):
    inferred = shape_inference.infer_shapes(model)
    changed = 0
    for node in model.graph.node:
        if node.op_type != "GridSample" or node.domain not in ("", "ai.onnx"):
            continue
        r = rank(inferred, node.input[0])
        if r not in (5, None):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        text = lambda v, default: (v.decode() if isinstance(v, bytes) else v) if v is not None else default
        mode = text(attrs.get("mode"), "linear")
        padding = text(attrs.get("padding_mode"), "zeros")
        if mode not in MODES or padding not in PADDING:
            sys.exit(f"trt_model: {node.name}: mode {mode} / padding {padding} has no plugin equivalent")
        del node.attribute[:]
        node.attribute.extend([
            helper.make_attribute("interpolation_mode", MODES[mode]),
            helper.make_attribute("padding_mode", PADDING[padding]),
            helper.make_attribute("align_corners", int(attrs.get("align_corners", 0))),
        ])
        node.op_type = "GridSample3D"
        node.domain = "trt.plugins"
        changed += 1
    if changed == 0:
        sys.exit("trt_model: no 5-D GridSample node found: is this the warp network?")
    if not any(o.domain == "trt.plugins" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("trt.plugins", 1))
    return changed


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, target = sys.argv[1], sys.argv[2]
    model = onnx.load(source)
    n = convert(model)
    part = target + ".part"
    onnx.save(model, part)
    os.replace(part, target)
    print(f"{n} GridSample node(s) handed to GridSample3D in {target}")


if __name__ == "__main__":
    main()
