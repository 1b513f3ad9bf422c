//! Every face of a photo on one warp: a [`Rig`] per face, all on one grid.
//!
//! Each face's window is clipped by the other faces' [`Keepout`]s, so that
//! its fields are exactly zero over any other face (found faces that do not
//! animate included): a couple cheek to cheek smiles twice, and neither
//! face is dragged by the other's motion. The combined field goes through
//! the same fold guard as a single face's. A photo with one face gets the
//! very grid and field its [`Rig`] alone would give.

use super::rig::{Field, Rig};
use crate::face::Face;
use crate::motion::{Expression, Preset};

/// Pixels (as a multiple of the grid cell) around another face's
/// landmarks where a face's field is exactly zero: any grid cell that
/// holds a landmark then has all four nodes at zero, so bilinear sampling
/// gives zero there too.
const KEEPOUT_PAD_CELLS: f32 = 1.5;
/// Where two faces meet, a point belongs to the nearer one: with `a` its
/// distance to another face's landmarks (less the pad) and `b` to this
/// face's own, this face's weight rises from 0 at `a / (a + b)` =
/// `SHARE_FROM` to 1 at `SHARE_TO`. Far from both, the share is near 1/2
/// or above, so nothing is clipped; a face's own features (b ≈ 0) keep
/// their full motion however close the other face comes.
const SHARE_FROM: f32 = 0.3;
const SHARE_TO: f32 = 0.5;

/// The landmarks of one face, for distances from it.
#[derive(Debug, Clone)]
pub struct Keepout {
    points: Vec<[f32; 2]>,
    /// x0, y0, x1, y1 of the points.
    bounds: [f32; 4],
}

impl Keepout {
    pub fn new(face: &Face) -> Self {
        let points: Vec<[f32; 2]> = face
            .landmarks
            .iter()
            .map(|p| [p[0], p[1]])
            .filter(|p| p[0].is_finite() && p[1].is_finite())
            .collect();
        let bounds = face.extent();
        Self { points, bounds }
    }

    /// Distance from `p` to the nearest landmark.
    pub fn distance(&self, p: [f32; 2]) -> f32 {
        self.points
            .iter()
            .map(|q| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2))
            .fold(f32::MAX, f32::min)
            .sqrt()
    }

    /// Whether the points widened by `margin` meet the rectangle.
    fn near(&self, rect: [f32; 4], margin: f32) -> bool {
        self.bounds[0] - margin <= rect[2]
            && self.bounds[2] + margin >= rect[0]
            && self.bounds[1] - margin <= rect[3]
            && self.bounds[3] + margin >= rect[1]
    }
}

/// This face's weight at a point `other` pixels from another face's
/// landmarks and `own` pixels from its own (see [`SHARE_FROM`]).
pub fn share(other: f32, own: f32, pad: f32) -> f32 {
    let a = (other - pad).max(0.0);
    if a <= 0.0 {
        return 0.0;
    }
    smoothstep(SHARE_FROM, SHARE_TO, a / (a + own.max(0.0)))
}

/// One face's own timing: a small phase shift and strength, so that a
/// group does not smile in lockstep, and the face's own blinks. The first
/// (largest) face keeps the preset's curves exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Frames the face runs ahead of the preset (may be negative).
    pub offset: i32,
    pub amplitude: f32,
    /// Loop frames where the face's eyes are fully shut in a blink.
    pub blinks: Vec<u32>,
}

/// A blink: the lids shut for [`BLINK_SHUT_MS`] and take [`BLINK_EDGE_MS`]
/// to close and as long to open again, about 150 ms in all.
const BLINK_SHUT_MS: f32 = 40.0;
const BLINK_EDGE_MS: f32 = 60.0;
/// One blink per this many seconds of loop (people blink every 3–4 s when
/// they pose), at least one.
const SECONDS_PER_BLINK: f32 = 3.5;
/// Blinks keep this share of the loop from its start and end, so that none
/// is cut by the seam.
const BLINK_MARGIN: f32 = 0.12;

impl Timing {
    pub const EXACT: Timing = Timing {
        offset: 0,
        amplitude: 1.0,
        blinks: Vec::new(),
    };

    /// Timings for `count` faces playing `preset`, from `seed` (the job
    /// id): the same job always renders the same loop. Offsets up to a
    /// tenth of the loop, strengths 0.85–1.05; each face blinks on its own
    /// moments, never during a wink.
    pub fn for_faces(count: usize, seed: u64, preset: &Preset) -> Vec<Timing> {
        let frame_count = preset.frame_count();
        let max_shift = (frame_count / 10).max(1) as i64;
        (0..count)
            .map(|k| {
                let r = splitmix(seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let mut t = if k == 0 {
                    Self::EXACT
                } else {
                    let shift = (r % (2 * max_shift as u64 + 1)) as i64 - max_shift;
                    let unit = ((r >> 32) & 0xffff) as f32 / 65535.0;
                    Timing {
                        offset: shift as i32,
                        amplitude: 0.85 + 0.2 * unit,
                        blinks: Vec::new(),
                    }
                };
                t.blinks = t.plan_blinks(preset, splitmix(r));
                t
            })
            .collect()
    }

    /// Blink moments: one in each equal part of the loop, at a seeded
    /// frame where neither eye winks nearby.
    fn plan_blinks(&self, preset: &Preset, seed: u64) -> Vec<u32> {
        let n = preset.frame_count();
        let fps = preset.fps().max(1) as f32;
        let count = ((n as f32 / fps / SECONDS_PER_BLINK).round() as u32).max(1);
        let reach = ((BLINK_SHUT_MS / 2.0 + BLINK_EDGE_MS) * fps / 1000.0).ceil() as u32 + 2;
        let margin = ((n as f32 * BLINK_MARGIN) as u32).max(reach);
        if n <= 2 * margin {
            return Vec::new();
        }
        let winking = |i: u32| {
            let e = preset.at_frame(self.frame(i, n));
            e.wink_left.max(e.wink_right) > 0.02
        };
        let span = (n - 2 * margin) / count;
        let mut r = seed;
        (0..count)
            .filter_map(|b| {
                let from = margin + b * span;
                let free: Vec<u32> = (from..from + span.max(1))
                    .filter(|&c| (c.saturating_sub(reach)..=c + reach).all(|i| !winking(i)))
                    .collect();
                r = splitmix(r);
                free.get((r % free.len().max(1) as u64) as usize).copied()
            })
            .collect()
    }

    /// How far the eyes are shut by a blink at frame `index`.
    pub fn blink(&self, index: u32, fps: u32) -> f32 {
        let ms_per_frame = 1000.0 / fps.max(1) as f32;
        self.blinks
            .iter()
            .map(|&c| {
                let t = (index as f32 - c as f32).abs() * ms_per_frame;
                (1.0 - (t - BLINK_SHUT_MS / 2.0) / BLINK_EDGE_MS).clamp(0.0, 1.0)
            })
            .fold(0.0, f32::max)
    }

    /// The preset frame this face shows at frame `index` of a loop of
    /// `frame_count` (the loop wraps, so it stays seamless).
    pub fn frame(&self, index: u32, frame_count: u32) -> u32 {
        let n = i64::from(frame_count.max(1));
        (i64::from(index) + i64::from(self.offset)).rem_euclid(n) as u32
    }

    /// This face's expression at frame `index` of `preset`, its blinks
    /// included.
    pub fn expression(&self, preset: &Preset, index: u32) -> Expression {
        let mut e = preset.at_frame(self.frame(index, preset.frame_count()));
        if self.amplitude != 1.0 {
            e = e.scaled(self.amplitude);
        }
        e.blink = e.blink.max(self.blink(index, preset.fps()));
        e
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The rigs of every animated face on one grid.
#[derive(Debug, Clone)]
pub struct Cast {
    rigs: Vec<Rig>,
    cell: usize,
    x0: f32,
    y0: f32,
    nx: usize,
    ny: usize,
}

impl Cast {
    /// Rigs for `animated` (largest first, landmarks in output pixels),
    /// each clipped away from every other face in `animated` and `still`.
    pub fn new(animated: &[Face], still: &[Face], width: u32, height: u32) -> Self {
        let keepouts: Vec<Keepout> = animated.iter().chain(still).map(Keepout::new).collect();
        let rigs: Vec<Rig> = if animated.len() == 1 && still.is_empty() {
            vec![Rig::new(&animated[0], width, height)]
        } else {
            let cell = animated.iter().map(Rig::cell_for).min().unwrap_or(2);
            let pad = KEEPOUT_PAD_CELLS * cell as f32;
            animated
                .iter()
                .enumerate()
                .map(|(k, face)| {
                    let [x0, y0, x1, y1] = face.extent();
                    let reach = 1.5 * super::rig::WINDOW_OUTER * (x1 - x0).max(y1 - y0);
                    let window = [x0 - reach, y0 - reach, x1 + reach, y1 + reach];
                    let own = &keepouts[k];
                    let others: Vec<&Keepout> = keepouts
                        .iter()
                        .enumerate()
                        .filter(|(j, o)| *j != k && o.near(window, 0.0))
                        .map(|(_, o)| o)
                        .collect();
                    let clip = |p: [f32; 2]| {
                        if others.is_empty() {
                            return 1.0;
                        }
                        let d_own = own.distance(p);
                        others
                            .iter()
                            .fold(1.0, |w, o| w * share(o.distance(p), d_own, pad))
                    };
                    let mut rig = Rig::build(face, width, height, cell, &clip);
                    let points: Vec<[f32; 2]> = others
                        .iter()
                        .flat_map(|o| o.points.iter().copied())
                        .collect();
                    rig.clear_eyes_of(&points);
                    rig
                })
                .collect()
        };
        let cell = rigs.first().map_or(2, |r| r.cell);
        let c = cell as f32;
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for r in &rigs {
            x0 = x0.min(r.x0);
            y0 = y0.min(r.y0);
            x1 = x1.max(r.x0 + ((r.nx - 1) * cell) as f32);
            y1 = y1.max(r.y0 + ((r.ny - 1) * cell) as f32);
        }
        if rigs.is_empty() {
            (x0, y0, x1, y1) = (0.0, 0.0, c, c);
        }
        Self {
            nx: ((x1 - x0) / c).round() as usize + 1,
            ny: ((y1 - y0) / c).round() as usize + 1,
            rigs,
            cell,
            x0,
            y0,
        }
    }

    pub fn rigs(&self) -> &[Rig] {
        &self.rigs
    }

    /// Learns each face (its mouth's shade, the teeth it shows, hair over
    /// its lips) from `image`, the photo at the output size.
    pub fn learn_mouths(&mut self, image: &image::RgbImage) {
        for rig in &mut self.rigs {
            rig.mouth.learn_from(image);
        }
    }

    /// The combined forward field, `expressions[k]` on face `k`; faces
    /// without an expression stay neutral. Fold-free: where the field
    /// would fold, it is calmed around the fold only (a seam between two
    /// faces never calms the whole group); the whole field is scaled back
    /// only when that is not enough.
    pub fn field(&self, expressions: &[Expression]) -> Field {
        let mut field = Field::still(self.cell, [self.x0, self.y0], [self.nx, self.ny]);
        for (rig, e) in self.rigs.iter().zip(expressions) {
            field.eyes.extend(rig.eyes_for(e));
            field.mouths.push(rig.mouth_for(e));
            field.folds.extend(rig.folds_for(e));
        }
        if self.rigs.len() == 1 {
            if let Some(e) = expressions.first() {
                self.rigs[0].add_grid(e, 1.0, &mut field);
            }
            field.unfold();
            return field;
        }
        for (rig, e) in self.rigs.iter().zip(expressions) {
            rig.add_grid(e, 1.0, &mut field);
        }
        let whole = field.d.clone();
        let mut calm = vec![1.0f32; whole.len()];
        let reach = CALM_RADIUS_CELLS as isize;
        let radius2 = (CALM_RADIUS_CELLS * CALM_RADIUS_CELLS) as f32;
        for _ in 0..CALM_ROUNDS {
            let folds = field.folded_cells(super::rig::MIN_DET);
            if folds.is_empty() {
                break;
            }
            // A smooth dip around each folded cell: the further from it,
            // the less the field there is scaled back.
            let mut dip = vec![1.0f32; whole.len()];
            for (i, j) in folds {
                for dj in -reach..=reach + 1 {
                    for di in -reach..=reach + 1 {
                        let (x, y) = (i as isize + di, j as isize + dj);
                        if x < 0 || y < 0 || x >= self.nx as isize || y >= self.ny as isize {
                            continue;
                        }
                        let r2 = ((di as f32 - 0.5).powi(2) + (dj as f32 - 0.5).powi(2)) / radius2;
                        let n = y as usize * self.nx + x as usize;
                        dip[n] = dip[n].min(1.0 - 0.2 * (-2.0 * r2).exp());
                    }
                }
            }
            for ((d, w), (a, k)) in field
                .d
                .iter_mut()
                .zip(&whole)
                .zip(calm.iter_mut().zip(&dip))
            {
                *a *= k;
                *d = [w[0] * *a, w[1] * *a];
            }
        }
        if field.min_det() < super::rig::MIN_DET {
            // Still folding after every local round: the whole field, as
            // for one face.
            field.unfold();
        }
        field
    }
}

/// Around a fold between two faces, the field is calmed within this many
/// grid cells, smoothly, so that the rest of each face keeps its motion.
const CALM_RADIUS_CELLS: usize = 4;

/// Rounds of local calming before the whole field is scaled back.
const CALM_ROUNDS: usize = 12;

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_belongs_to_the_nearer_face() {
        // On another face's landmark (and within the pad): nothing.
        assert_eq!(share(0.0, 30.0, 3.0), 0.0);
        assert_eq!(share(2.9, 30.0, 3.0), 0.0);
        // On this face's own landmark, however close the other face.
        assert_eq!(share(4.0, 0.0, 3.0), 1.0);
        // From halfway between on, this face's full weight; nearer the
        // other face it fades out.
        assert_eq!(share(53.0, 50.0, 3.0), 1.0);
        assert_eq!(share(23.0, 80.0, 3.0), 0.0);
        let mid = share(33.0, 50.0, 3.0);
        assert!(mid > 0.0 && mid < 1.0, "{mid}");
    }

    #[test]
    fn keepout_distance_is_to_the_nearest_landmark() {
        let face = Face {
            bbox: [0.0; 4],
            score: 1.0,
            landmarks: vec![[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]],
        };
        let k = Keepout::new(&face);
        assert_eq!(k.distance([10.0, 0.0]), 0.0);
        assert!((k.distance([13.0, 4.0]) - 5.0).abs() < 1e-5);
    }

    fn preset(toml: &str) -> Preset {
        Preset::from_toml(toml, std::path::Path::new("test.toml")).expect("preset")
    }

    #[test]
    fn timings_are_seeded_small_and_exact_for_the_first_face() {
        let p = preset(
            "id = \"t\"\nduration_s = 4.0\nfps = 25\nloop = \"cycle\"\n[label]\nen = \"T\"\n[curves]\nsmile = [ { t = 0.0, v = 0.0 }, { t = 2.0, v = 1.0 }, { t = 4.0, v = 0.0 } ]\n",
        );
        let a = Timing::for_faces(4, 42, &p);
        assert_eq!(a, Timing::for_faces(4, 42, &p), "same job, same loop");
        assert_eq!((a[0].offset, a[0].amplitude), (0, 1.0));
        assert_ne!(a[1..], Timing::for_faces(4, 43, &p)[1..]);
        for t in &a[1..] {
            assert!(t.offset.abs() <= 10, "{t:?}");
            assert!((0.85..=1.05).contains(&t.amplitude), "{t:?}");
        }
        // Every face blinks once in four seconds, inside the loop, each on
        // its own moment.
        for t in &a {
            assert_eq!(t.blinks.len(), 1, "{t:?}");
            assert!((12..88).contains(&t.blinks[0]), "{t:?}");
            let shut = (0..100).filter(|&i| t.blink(i, 25) > 0.0).count();
            assert_eq!(shut, 3, "about 150 ms at 25 fps");
            assert_eq!(t.blink(0, 25), 0.0);
            assert_eq!(t.blink(99, 25), 0.0);
            assert_eq!(t.expression(&p, t.blinks[0]).blink, 1.0);
        }
        let moments: std::collections::BTreeSet<u32> = a.iter().map(|t| t.blinks[0]).collect();
        assert!(moments.len() > 1, "faces blink in lockstep: {a:?}");
    }

    #[test]
    fn blinks_keep_clear_of_a_wink() {
        let p = preset(
            "id = \"t\"\nduration_s = 4.0\nfps = 25\nloop = \"cycle\"\n[label]\nen = \"T\"\n[curves]\nwink_left = [ { t = 0.0, v = 0.0 }, { t = 0.5, v = 0.0 }, { t = 1.0, v = 1.0 }, { t = 3.0, v = 1.0 }, { t = 3.5, v = 0.0 }, { t = 4.0, v = 0.0 } ]\n",
        );
        for seed in 0..50 {
            for t in Timing::for_faces(3, seed, &p) {
                for &c in &t.blinks {
                    let e = t.expression(&p, c);
                    assert!(
                        e.wink_left < 0.02,
                        "seed {seed}: blink at {c} during the wink"
                    );
                }
            }
        }
    }
}
