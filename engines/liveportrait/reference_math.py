"""Independent reference values for the kiosk's LivePortrait math, in numpy.

Reads one JSON object on stdin and prints one JSON object with the results.
Written from the formulas in liveportrait-notes.md (LivePortrait's
camera.py, live_portrait_wrapper.py, live_portrait_pipeline.py, crop.py and
gradio_pipeline.py), not from the kiosk's Rust code, so the test suite can
compare the two. Input keys: bins {pitch, yaw, roll: [66]}, pose [3],
kp/exp [21][3], scale, t [3], source {...}, frame/first {scale, R, exp, t},
x_d [21][3], delta [65], lips [21][3], roll, blink, sliders {smile, wink, blink,
eyebrow, lip_open},
crop {points [[x, y]], eyes [x, y], mouth [x, y]}.
"""
import json
import math
import sys

import numpy as np


def degrees(logits):
    x = np.asarray(logits, np.float64)
    p = np.exp(x - x.max())
    p /= p.sum()
    return float((p * np.arange(66)).sum() * 3 - 97.5)


def rotation(pitch, yaw, roll):
    x, y, z = np.radians([pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, math.cos(x), -math.sin(x)], [0, math.sin(x), math.cos(x)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(z), -math.sin(z), 0], [math.sin(z), math.cos(z), 0], [0, 0, 1]])
    return (rz @ ry @ rx).T


def transform(kp, r, exp, scale, t):
    x = scale * (np.asarray(kp) @ r + np.asarray(exp))
    x[:, 0:2] += np.asarray(t)[0:2]
    return x


def relative(src, frame, first):
    r_s = rotation(src["pitch"], src["yaw"], src["roll"])
    r = np.asarray(frame["R"]) @ np.asarray(first["R"]).T @ r_s
    exp = np.asarray(src["exp"]) + np.asarray(frame["exp"]) - np.asarray(first["exp"])
    scale = src["scale"] * frame["scale"] / first["scale"]
    t = np.asarray(src["t"]) + np.asarray(frame["t"]) - np.asarray(first["t"])
    t[2] = 0
    return transform(src["kp"], r, exp, scale, t)


def stitched(x_d, delta):
    x = np.asarray(x_d, np.float64).copy()
    d = np.asarray(delta)
    x += d[:63].reshape(21, 3)
    x[:, 0:2] += d[63:65]
    return x


def sliders(v):
    # gradio_pipeline.py's update_delta_new_* functions, one per slider.
    e = np.zeros((21, 3))
    s = v["smile"]
    e[20, 1] += -0.01 * s
    e[14, 1] += -0.02 * s
    e[17, 1] += 0.0065 * s
    e[17, 2] += 0.003 * s
    e[13, 1] += -0.00275 * s
    e[16, 1] += -0.00275 * s
    e[3, 1] += -0.0035 * s
    e[7, 1] += -0.0035 * s
    w = v["wink"]
    e[11, 1] += 0.001 * w
    e[13, 1] += -0.0003 * w
    e[17, 0] += 0.0003 * w
    e[17, 1] += 0.0003 * w
    e[3, 1] += -0.0003 * w
    return e + lids(v.get("blink", 0.0)) + brow_lip(v)


def lids(v):
    # gradio_pipeline.py's blink: the lids of both eyes, nothing else.
    e = np.zeros((21, 3))
    e[11, 1] += 0.001 * v
    e[13, 1] += -0.0003 * v
    e[15, 1] += 0.001 * v
    e[16, 1] += -0.0003 * v
    return e


def brow_lip(v):
    e = np.zeros((21, 3))
    b = v["eyebrow"]
    if b > 0:
        e[1, 1] += 0.001 * b
        e[2, 1] += -0.001 * b
    a = v["lip_open"]
    e[19, 1] += 0.001 * a
    e[19, 2] += 0.0001 * a
    e[17, 1] += -0.0001 * a
    return e


def rolled(pitch, yaw, roll, kp):
    # camera.py: x = kp @ R, R = (Rz Ry Rx)^T in image axes (y down).
    return (np.asarray(kp, np.float64) @ rotation(pitch, yaw, roll)).tolist()


def crop(points, eyes, mouth, dsize=512, scale=2.3, vx=0.0, vy=-0.125):
    # crop.py: parse_rect_from_landmark + _estimate_similar_transform_from_pts
    pts = np.asarray(points, np.float64)
    uy = np.asarray(mouth, np.float64) - np.asarray(eyes, np.float64)
    norm = np.linalg.norm(uy)
    uy = uy / norm if norm > 1e-3 else np.array([0.0, 1.0])
    ux = np.array([uy[1], -uy[0]])
    angle = math.acos(ux[0])
    if ux[1] < 0:
        angle = -angle
    m = np.array([ux, uy])
    c0 = pts.mean(axis=0)
    rpts = (pts - c0) @ m.T
    lt, rb = rpts.min(axis=0), rpts.max(axis=0)
    c1 = (lt + rb) / 2
    size = (rb - lt).max() * scale
    center = c0 + ux * c1[0] + uy * c1[1]
    center = center + ux * (vx * size) + uy * (vy * size)
    s = dsize / size
    cos, sin = math.cos(angle), math.sin(angle)
    cx, cy = center
    half = dsize / 2
    m_inv = np.array([
        [s * cos, s * sin, half - s * (cos * cx + sin * cy)],
        [-s * sin, s * cos, half - s * (-sin * cx + cos * cy)],
    ])
    return m_inv


def main():
    q = json.load(sys.stdin)
    src = q["source"]
    out = {
        "bins": [degrees(q["bins"][k]) for k in ("pitch", "yaw", "roll")],
        "rotation": rotation(*q["pose"]).tolist(),
        "transform": transform(q["kp"], rotation(*q["pose"]), q["exp"], q["scale"], q["t"]).tolist(),
        "source_kp": transform(src["kp"], rotation(src["pitch"], src["yaw"], src["roll"]),
                               src["exp"], src["scale"], src["t"]).tolist(),
        "relative": relative(src, q["frame"], q["first"]).tolist(),
        "stitched": stitched(q["x_d"], q["delta"]).tolist(),
        # live_portrait_pipeline.py: x_d = stitching(x_s, x_d) + lip_delta
        "stitched_lips": (stitched(q["x_d"], q["delta"]) + np.asarray(q["lips"])).tolist(),
        "rolled": rolled(0.0, 0.0, q["roll"], q["kp"]),
        "sliders": sliders(q["sliders"]).tolist(),
        "blink": sliders({"smile": 0.0, "wink": 0.0, "eyebrow": 0.0, "lip_open": 0.0,
                          "blink": q["blink"]}).tolist(),
        "crop": crop(q["crop"]["points"], q["crop"]["eyes"], q["crop"]["mouth"]).reshape(6).tolist(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
