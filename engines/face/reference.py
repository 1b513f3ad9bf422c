"""Runs an original MediaPipe .tflite model in LiteRT on a raw input tensor.

Usage: reference.py MODEL.tflite INPUT.f32 SIDE
INPUT.f32 holds 3*SIDE*SIDE little-endian float32 values in NCHW order (as
the kiosk feeds its ONNX models); LiteRT takes NHWC. Prints every output as
JSON {name: [values...]}. The test suite compares these with the kiosk's
ONNX Runtime outputs to prove the conversion and the binding are right.
"""
import json
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter

model, raw, side = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.fromfile(raw, dtype="<f4").reshape(1, 3, side, side).transpose(0, 2, 3, 1).copy()
interpreter = Interpreter(model_path=model)
interpreter.allocate_tensors()
interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
interpreter.invoke()
print(json.dumps({d["name"]: interpreter.get_tensor(d["index"]).flatten().tolist()
                  for d in interpreter.get_output_details()}))
