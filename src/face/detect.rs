//! BlazeFace post-processing, as MediaPipe specifies it for its short-range
//! (close portraits) and full-range (faces further away) detectors: SSD
//! anchors, box and keypoint decoding, score sigmoid, weighted non-maximum
//! suppression, and the merge of both. Pure functions over the raw outputs.

/// Box (4) + six keypoints (12).
pub const VALUES_PER_ANCHOR: usize = 16;
const MIN_SUPPRESSION_IOU: f32 = 0.3;

/// One detector's input and anchor layout (MediaPipe's calculator options).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// Input side in pixels.
    pub input: usize,
    strides: &'static [usize],
    /// Anchors per cell per layer (2 with the interpolated aspect ratio).
    per_layer: usize,
    min_score: f32,
}

impl Spec {
    pub fn anchor_count(&self) -> usize {
        self.strides
            .iter()
            .map(|s| (self.input / s).pow(2) * self.per_layer)
            .sum()
    }
}

/// `face_detection_short_range`: 128 px, 896 anchors.
pub const SHORT_RANGE: Spec = Spec {
    input: 128,
    strides: &[8, 16, 16, 16],
    per_layer: 2,
    min_score: 0.5,
};

/// `face_detection_full_range`: 192 px, 2304 anchors.
pub const FULL_RANGE: Spec = Spec {
    input: 192,
    strides: &[4],
    per_layer: 1,
    min_score: 0.6,
};

/// Input side of the short-range detector.
pub const INPUT: usize = SHORT_RANGE.input;
pub const NUM_ANCHORS: usize = 896;
/// Raw scores are clipped before the sigmoid (MediaPipe uses this range).
const RAW_SCORE_LIMIT: f32 = 80.0;

/// A detection in normalised [0, 1] coordinates of the (letterboxed) input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub xmin: f32,
    pub ymin: f32,
    pub xmax: f32,
    pub ymax: f32,
    pub score: f32,
    /// Right eye, left eye (subject's), nose tip, mouth, right ear, left ear.
    pub keypoints: [[f32; 2]; 6],
}

impl Detection {
    fn area(&self) -> f32 {
        (self.xmax - self.xmin).max(0.0) * (self.ymax - self.ymin).max(0.0)
    }

    /// Whether `o`'s centre lies inside this box and `o` is no larger than
    /// it: the same face seen at another scale.
    fn holds(&self, o: &Detection) -> bool {
        let (cx, cy) = ((o.xmin + o.xmax) / 2.0, (o.ymin + o.ymax) / 2.0);
        cx > self.xmin
            && cx < self.xmax
            && cy > self.ymin
            && cy < self.ymax
            && o.area() <= self.area() * 0.5
    }

    fn iou(&self, o: &Detection) -> f32 {
        let w = (self.xmax.min(o.xmax) - self.xmin.max(o.xmin)).max(0.0);
        let h = (self.ymax.min(o.ymax) - self.ymin.max(o.ymin)).max(0.0);
        let inter = w * h;
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// Anchor centres of the short-range detector.
pub fn anchors() -> Vec<[f32; 2]> {
    anchors_for(&SHORT_RANGE)
}

/// Anchor centres of a detector: layers of one stride share their cells.
pub fn anchors_for(spec: &Spec) -> Vec<[f32; 2]> {
    let strides = spec.strides;
    let mut out = Vec::with_capacity(spec.anchor_count());
    let mut layer = 0;
    while layer < strides.len() {
        let stride = strides[layer];
        let mut repeats = 0;
        let mut last = layer;
        while last < strides.len() && strides[last] == stride {
            repeats += spec.per_layer;
            last += 1;
        }
        let cells = spec.input / stride;
        for y in 0..cells {
            for x in 0..cells {
                let centre = [
                    (x as f32 + 0.5) / cells as f32,
                    (y as f32 + 0.5) / cells as f32,
                ];
                out.extend(std::iter::repeat_n(centre, repeats));
            }
        }
        layer = last;
    }
    out
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)).exp())
}

/// Decodes the short-range detector's raw `regressors` [896×16] and
/// `classificators` [896] into detections, overlaps merged.
pub fn decode(regressors: &[f32], scores: &[f32], anchors: &[[f32; 2]]) -> Vec<Detection> {
    weighted_nms(decode_raw(&SHORT_RANGE, regressors, scores, anchors))
}

/// Every anchor's detection above the score threshold (before NMS).
pub fn decode_raw(
    spec: &Spec,
    regressors: &[f32],
    scores: &[f32],
    anchors: &[[f32; 2]],
) -> Vec<Detection> {
    let scale = spec.input as f32;
    let mut found = Vec::new();
    for (i, anchor) in anchors.iter().enumerate() {
        let (Some(raw), Some(&s)) = (
            regressors.get(i * VALUES_PER_ANCHOR..(i + 1) * VALUES_PER_ANCHOR),
            scores.get(i),
        ) else {
            break;
        };
        let score = sigmoid(s);
        if score < spec.min_score {
            continue;
        }
        let cx = raw[0] / scale + anchor[0];
        let cy = raw[1] / scale + anchor[1];
        let (w, h) = (raw[2] / scale, raw[3] / scale);
        if w <= 0.0 || h <= 0.0 {
            continue;
        }
        let mut keypoints = [[0.0; 2]; 6];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = [
                raw[4 + 2 * k] / scale + anchor[0],
                raw[5 + 2 * k] / scale + anchor[1],
            ];
        }
        found.push(Detection {
            xmin: cx - w / 2.0,
            ymin: cy - h / 2.0,
            xmax: cx + w / 2.0,
            ymax: cy + h / 2.0,
            score,
            keypoints,
        });
    }
    found
}

/// Both detectors' results as one list: short range where it saw a face
/// (it is the sharper one for close portraits, and a portrait keeps the
/// very box it always had), full range for the faces only it found.
/// Both are normalised to the same letterbox, so boxes compare directly.
pub fn merge(short: Vec<Detection>, full: Vec<Detection>) -> Vec<Detection> {
    let mut out = weighted_nms(short);
    let extra: Vec<Detection> = weighted_nms(full)
        .into_iter()
        .filter(|f| {
            out.iter()
                .all(|s| s.iou(f) <= MIN_SUPPRESSION_IOU && !s.holds(f))
        })
        .collect();
    out.extend(extra);
    out
}

/// MediaPipe's weighted NMS: each cluster of overlapping detections becomes
/// their score-weighted average, with the best score of the cluster.
pub fn weighted_nms(mut dets: Vec<Detection>) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(best) = dets.first().copied() {
        let (cluster, rest): (Vec<Detection>, Vec<Detection>) = dets
            .into_iter()
            .partition(|d| best.iou(d) > MIN_SUPPRESSION_IOU);
        dets = rest;
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        let mut merged = Detection {
            score: best.score,
            ..best
        };
        if total > 0.0 {
            let avg = |f: &dyn Fn(&Detection) -> f32| {
                cluster.iter().map(|d| f(d) * d.score).sum::<f32>() / total
            };
            merged.xmin = avg(&|d| d.xmin);
            merged.ymin = avg(&|d| d.ymin);
            merged.xmax = avg(&|d| d.xmax);
            merged.ymax = avg(&|d| d.ymax);
            for k in 0..6 {
                merged.keypoints[k] = [avg(&|d| d.keypoints[k][0]), avg(&|d| d.keypoints[k][1])];
            }
        }
        out.push(merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_match_the_ssd_layout() {
        let a = anchors();
        assert_eq!(a.len(), NUM_ANCHORS);
        // 16×16 cells × 2, then 8×8 cells × 6.
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[1], a[0]);
        assert_eq!(a[512], [0.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[517], a[512]);
        assert_eq!(a[895], [7.5 / 8.0, 7.5 / 8.0]);
    }

    fn raw_face(anchor: usize, dx: f32, size: f32) -> (Vec<f32>, Vec<f32>) {
        let mut reg = vec![0.0; NUM_ANCHORS * VALUES_PER_ANCHOR];
        let mut scores = vec![-10.0; NUM_ANCHORS];
        let r = &mut reg[anchor * 16..anchor * 16 + 16];
        r[0] = dx;
        r[2] = size;
        r[3] = size;
        r[4] = -10.0; // right eye 10 px left of the anchor
        r[6] = 10.0;
        scores[anchor] = 3.0;
        (reg, scores)
    }

    #[test]
    fn decodes_a_box_around_its_anchor() {
        let (reg, scores) = raw_face(300, 6.4, 64.0);
        let a = anchors();
        let d = decode(&reg, &scores, &a);
        assert_eq!(d.len(), 1);
        let cx = a[300][0] + 0.05;
        assert!(((d[0].xmin + d[0].xmax) / 2.0 - cx).abs() < 1e-6);
        assert!((d[0].xmax - d[0].xmin - 0.5).abs() < 1e-6);
        assert!((d[0].keypoints[0][0] - (a[300][0] - 10.0 / 128.0)).abs() < 1e-6);
        assert!((d[0].score - sigmoid(3.0)).abs() < 1e-6);
        assert!(
            decode(&reg[..10], &scores, &a).is_empty(),
            "short input is not a panic"
        );
    }

    #[test]
    fn full_range_anchors_are_one_per_cell() {
        let a = anchors_for(&FULL_RANGE);
        assert_eq!(a.len(), 2304);
        assert_eq!(a[0], [0.5 / 48.0, 0.5 / 48.0]);
        assert_eq!(a[2303], [47.5 / 48.0, 47.5 / 48.0]);
        assert_eq!(SHORT_RANGE.anchor_count(), NUM_ANCHORS);
    }

    #[test]
    fn merge_keeps_short_range_boxes_and_adds_only_new_faces() {
        let at = |x: f32, size: f32, score: f32| Detection {
            xmin: x,
            ymin: 0.2,
            xmax: x + size,
            ymax: 0.2 + size,
            score,
            keypoints: [[x + size / 2.0, 0.3]; 6],
        };
        let short = vec![at(0.1, 0.3, 0.9)];
        // The same face a little shifted, the same face smaller (inside
        // it), and a far face only full range sees.
        let full = vec![at(0.12, 0.3, 0.95), at(0.2, 0.1, 0.8), at(0.7, 0.08, 0.7)];
        let out = merge(short.clone(), full);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], short[0], "the portrait keeps its short-range box");
        assert_eq!(out[1].xmin, 0.7);
    }

    #[test]
    fn overlapping_detections_merge_by_score() {
        let base = Detection {
            xmin: 0.0,
            ymin: 0.0,
            xmax: 1.0,
            ymax: 1.0,
            score: 0.9,
            keypoints: [[0.5; 2]; 6],
        };
        let shifted = Detection {
            xmin: 0.1,
            xmax: 1.1,
            score: 0.6,
            ..base
        };
        let far = Detection {
            xmin: 5.0,
            xmax: 6.0,
            score: 0.7,
            ..base
        };
        let out = weighted_nms(vec![shifted, far, base]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        assert!((out[0].xmin - 0.04).abs() < 1e-6, "{:?}", out[0]);
        assert_eq!(out[1].xmin, 5.0);
    }
}
