//! An opening mouth, exact per pixel like the eyelids: the lower lip and
//! the jaw below it move down as a piece (the lip is moved, not stretched),
//! the upper lip stays, and the gap between them shows a mouth interior: a
//! dark, softly shaded cavity, with the photo's own teeth moved along where
//! the photo's mouth is already open (upper teeth with the upper lip, lower
//! teeth with the jaw). Where the photo shows no teeth, the upper part of
//! the opening shows upper teeth in the face's own light tone: a smile that
//! parts the lips shows teeth, and a bare dark gap reads as a gape or a
//! grimace. Where hair hides the lips (a moustache) the mouth opens under
//! the hair's lower edge, as wide as the lips show there, and the hair
//! stays with the upper lip.

use super::basis::smoothstep;
use crate::face::{mesh, Face};

/// Inner lip contours, from the subject's right corner to the left.
const UPPER_INNER: [usize; 11] = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308];
const LOWER_INNER: [usize; 11] = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308];
/// Bottom of the lower lip (outer contour, middle).
const LOWER_LIP_BOTTOM: usize = 17;
/// The widest opening (mouth_open = 1) in eye distances.
const OPEN_IOD: f32 = 0.2;
/// How the opening narrows toward the corners: (1 − (u/W)²)^this. At 1
/// or more its slope stays finite at the corners (below 1 the corner
/// columns would shear without bound and tear).
const OPEN_SHAPE: f32 = 1.2;
/// Below the lower lip the jaw's move fades out over this many eye
/// distances beyond the chin.
const JAW_FADE_IOD: f32 = 0.35;
/// The cavity's darkness: its colour is the lips' times this at the
/// deepest, lighter toward the lips.
const CAVITY_DEEP: f32 = 0.16;
const CAVITY_EDGE: f32 = 0.4;
/// Teeth: this much brighter than the darker lip (luma), and greyer than
/// this share of their brightest channel; followed down at most this
/// many eye distances.
const TEETH_OVER_LIPS: f32 = 30.0;
const TEETH_CHROMA: f32 = 0.32;
const TEETH_MAX_IOD: f32 = 0.15;
/// Teeth are looked for this far below the mesh's lip line.
const TEETH_SKIP_IOD: f32 = 0.1;
/// Lips this colourful (chroma) mark a colour photo.
const LIPS_CHROMA: f32 = 0.2;
/// The brightest lips the cavity's shade is taken from (luma).
const MAX_LIPS_LUMA: f32 = 110.0;
/// Hair over the lips (see [`Mouth::learn_hair`]): the mesh's lips are
/// this much lighter (luma) than the shadow this far (eye distances) below
/// the lower lip, and no darker than what lies this far above the line.
const HAIR_OVER_SHADOW: f32 = 30.0;
const SHADOW_BELOW_IOD: f32 = 0.1;
const HAIR_ABOVE_IOD: f32 = 0.1;
/// The mouth opens under the hair where its lower edge is at most this
/// far below the upper lip's line, and the dark under it this deep.
const HAIR_EDGE_IOD: f32 = 0.12;
const SHADOW_DEPTH_IOD: f32 = 0.05;
/// A smile shows under a moustache only as lips parting beneath it: the
/// mouth opens at least this much per unit of smile there.
const HIDDEN_SMILE_OPEN: f32 = 0.3;
/// Under hair the mouth opens this much wider than the preset says: the
/// hair's edge hangs over the opening's upper part.
const HIDDEN_OPEN_GAIN: f32 = 2.0;
/// Upper teeth where the photo shows none: in this share of the opening
/// from the upper lip (fading out over its last 40 %), darker toward the
/// corners by this share.
const TEETH_SHARE: f32 = 0.7;
const TEETH_SIDE_SHADE: f32 = 0.35;
/// Under hair they show in this share of the opening from the hair's
/// edge (which hangs over the opening's top), in the hair's tone times
/// this.
const HIDDEN_TEETH_SHARE: f32 = 0.6;
const HIDDEN_TEETH_TONE: f32 = 0.85;
/// Under visible lips they are the face's light tone (the mean colour of
/// the pixels between these luma percentiles around the mouth, see
/// [`DARKEST_REACH_IOD`]), with this share of its colourfulness (teeth
/// are greyer than skin).
const LIGHT_PERCENTILES: [f32; 2] = [0.75, 0.95];
const TEETH_CHROMA_SHARE: f32 = 0.25;
/// Under hair the opening lies in the hair's shadow: the cavity is the
/// shadow's colour times this at the deepest and at its edges (a black
/// line under a soft grey moustache looks drawn on), and it fades in
/// from the hair's edge and the lower lip over this many eye distances
/// (strands hang over it, and the shadow blurs the lip).
const HIDDEN_DEEP: f32 = 0.55;
const HIDDEN_EDGE: f32 = 0.8;
const HAIR_FEATHER_IOD: f32 = 0.04;
/// The cavity is no darker than this share of the face's darkest tone
/// (its 1st percentile of luma, over this many eye distances around the
/// mouth): a faded print has no black, and a black mouth in it looks
/// painted on.
const DARKEST_SHARE: f32 = 0.8;
const DARKEST_PERCENTILE: f32 = 0.01;
const DARKEST_REACH_IOD: f32 = 1.0;
/// Lips' colour until the photo's is known.
const DEFAULT_LIPS: [f32; 3] = [150.0, 80.0, 80.0];

#[derive(Debug, Clone, Copy)]
pub struct Mouth {
    mid: [f32; 2],
    u: [f32; 2],
    v: [f32; 2],
    iod: f32,
    /// (u, v) of the inner contours in the mouth's axes.
    upper: [[f32; 2]; 11],
    lower: [[f32; 2]; 11],
    /// Lower lip thickness and the depth to the chin, along v.
    lip: f32,
    chin: f32,
    /// The lips' mean colour, for the cavity's shade (see
    /// [`Mouth::colour_from`]).
    lips: [f32; 3],
    /// Points on the lips (just outside the inner contours) it is taken
    /// from.
    samples: [[f32; 2]; 14],
    /// How far the opening reaches to the subject's right and left of the
    /// middle (the corners, or as far as the lips show under hair).
    half: [f32; 2],
    /// Hair hides the lips (see [`Mouth::learn_hair`]).
    hidden: bool,
    /// The darkest the cavity gets (luma; see [`DARKEST_SHARE`]).
    darkest: f32,
    /// The colour of the upper teeth the opening shows where the photo
    /// shows none (see [`Mouth::with_teeth`]); None until learned, and
    /// where the photo's own teeth show.
    teeth: Option<[f32; 3]>,
    /// Where the map is not zero: x0, y0, x1, y1.
    pub bounds: [f32; 4],
}

/// What one output pixel of a mouth shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Look {
    /// The photo, sampled `d` back from here (d = 0 outside the mouth).
    Shifted([f32; 2]),
    /// The mouth interior: this colour over the photo sampled `d` back
    /// (on the lip line the mouth opened from; `cover` 0..1, below 1 on
    /// the lips' edges).
    Cavity {
        colour: [f32; 3],
        cover: f32,
        d: [f32; 2],
    },
}

impl Mouth {
    /// The mouth of `face` (output pixels).
    pub fn new(face: &Face) -> Self {
        let iod = face.inter_ocular().max(1.0);
        let (r, l) = (face.point(mesh::MOUTH_RIGHT), face.point(mesh::MOUTH_LEFT));
        let len = ((l[0] - r[0]).powi(2) + (l[1] - r[1]).powi(2))
            .sqrt()
            .max(1.0);
        let u = [(l[0] - r[0]) / len, (l[1] - r[1]) / len];
        let v = [-u[1], u[0]];
        let (a, b) = (face.point(mesh::UPPER_LIP), face.point(mesh::LOWER_LIP));
        let mid = [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
        let local = |i: usize| {
            let p = face.point(i);
            let (dx, dy) = (p[0] - mid[0], p[1] - mid[1]);
            [dx * u[0] + dy * u[1], dx * v[0] + dy * v[1]]
        };
        // Sorted across the mouth, so that each lip line is a continuous
        // function of u (a tear in it would tear the frame).
        let sorted = |mut c: [[f32; 2]; 11]| {
            c.sort_by(|a, b| a[0].total_cmp(&b[0]));
            c
        };
        let upper = sorted(UPPER_INNER.map(local));
        let lower = sorted(LOWER_INNER.map(local));
        let lip = (local(LOWER_LIP_BOTTOM)[1] - local(mesh::LOWER_LIP)[1]).max(1.0);
        let chin = (local(mesh::CHIN)[1] - local(mesh::LOWER_LIP)[1]).max(lip) + JAW_FADE_IOD * iod;
        let mut samples = [[0.0f32; 2]; 14];
        for (k, &i) in UPPER_INNER[2..9].iter().enumerate() {
            let p = face.point(i);
            samples[k] = [p[0] - 2.0 * v[0], p[1] - 2.0 * v[1]];
        }
        for (k, &i) in LOWER_INNER[2..9].iter().enumerate() {
            let p = face.point(i);
            samples[7 + k] = [p[0] + 2.0 * v[0], p[1] + 2.0 * v[1]];
        }
        let mut mouth = Mouth {
            mid,
            u,
            v,
            iod,
            upper,
            lower,
            lip,
            chin,
            lips: DEFAULT_LIPS,
            samples,
            half: [upper[0][0].abs(), upper[10][0].abs()],
            hidden: false,
            darkest: 0.0,
            teeth: None,
            bounds: [0.0; 4],
        };
        mouth.bounds = mouth.reach();
        mouth
    }

    /// Where the lips part in the photo, across the mouth's middle: the
    /// upper lip's inner edge and the lower lip's (below teeth the photo
    /// shows), and the mouth's "down".
    pub fn parting(&self) -> ([f32; 2], [f32; 2], [f32; 2]) {
        let top = Self::line(&self.upper, 0.0).unwrap_or(0.0);
        let low = Self::line(&self.lower, 0.0).unwrap_or(0.0).max(top);
        (self.point(0.0, top), self.point(0.0, low), self.v)
    }

    /// The output point at (pu, pv) in the mouth's axes.
    fn point(&self, pu: f32, pv: f32) -> [f32; 2] {
        [
            self.mid[0] + pu * self.u[0] + pv * self.v[0],
            self.mid[1] + pu * self.u[1] + pv * self.v[1],
        ]
    }

    /// The box (output pixels) outside which the map is zero.
    fn reach(&self) -> [f32; 4] {
        let (upper, lower) = (&self.upper, &self.lower);
        let half = upper[0][0].abs().max(upper[10][0].abs()) + 1.0;
        let top = upper.iter().map(|p| p[1]).fold(f32::MAX, f32::min) - 1.0;
        let low = lower.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
        let bottom = low + self.chin + OPEN_IOD * self.iod + 1.0;
        crate::geometry::rect_bounds(self.mid, self.u, self.v, [-half, half], [top, bottom])
    }

    /// Learns the mouth from `image` (the photo at the output size): the
    /// lips' shade for the cavity, and teeth the photo shows below the
    /// mesh's lip line, which stay with the upper lip (Face Mesh often puts
    /// a smile's inner lip line on the upper lip, above its teeth).
    pub fn learn_from(&mut self, image: &image::RgbImage) {
        let mean = |points: &[[f32; 2]]| {
            let px: Vec<[f32; 3]> = points.iter().filter_map(|p| pixel(image, *p)).collect();
            let n = px.len() as f32;
            (n > 0.0).then(|| {
                px.iter()
                    .fold([0.0; 3], |s, c| [s[0] + c[0], s[1] + c[1], s[2] + c[2]])
                    .map(|c| c / n)
            })
        };
        let Some(all) = mean(&self.samples) else {
            return;
        };
        let (darkest, light) = self.tones_around(image);
        self.darkest = DARKEST_SHARE * darkest;
        // Where the inner lip line lies on teeth the samples are white: the
        // lips' hue is kept, their brightness capped, so the interior stays
        // a cavity.
        let scale = (MAX_LIPS_LUMA / luma(all).max(1.0)).min(1.0);
        self.lips = all.map(|c| c * scale);
        let chroma = |c: [f32; 3]| {
            let hi = c[0].max(c[1]).max(c[2]).max(1.0);
            (hi - c[0].min(c[1]).min(c[2])) / hi
        };
        if self.learn_hair(image, luma(all)) {
            return;
        }
        // Teeth are brighter than the darker lip and, in a colour photo,
        // greyer than lips (a grey photo has only brightness to go by).
        let lip = |s: &[[f32; 2]]| mean(s).map_or(luma(all), luma);
        let darker_lip = lip(&self.samples[..7]).min(lip(&self.samples[7..]));
        let colour = chroma(all) > LIPS_CHROMA;
        let teeth = |c: [f32; 3]| {
            luma(c) >= darker_lip + TEETH_OVER_LIPS && (!colour || chroma(c) <= TEETH_CHROMA)
        };
        let (skip, reach) = (TEETH_SKIP_IOD * self.iod, TEETH_MAX_IOD * self.iod);
        // How far below the upper lip's line teeth show, at the contour's
        // middle points.
        let shown = |&[pu, low]: &[f32; 2]| -> Option<f32> {
            let top = Self::line(&self.upper, pu)?;
            let start = low.max(top);
            let at = |pv: f32| pixel(image, self.point(pu, pv)).is_some_and(teeth);
            // The mesh's line may lie a little above the teeth, on the lip.
            let first = (0..=skip as i32)
                .map(|d| start + d as f32)
                .find(|pv| at(*pv))?;
            let mut pv = first;
            while pv < top + reach && at(pv + 1.0) {
                pv += 1.0;
            }
            // Past the last tooth pixel's centre, to its edge.
            Some(pv + 0.5 - top)
        };
        let mut middle: Vec<f32> = self.lower[3..8]
            .iter()
            .map(|p| shown(p).unwrap_or(0.0))
            .collect();
        middle.sort_by(f32::total_cmp);
        let teeth_depth = middle[middle.len() / 2];
        if teeth_depth <= 0.0 {
            // Teeth between the mesh's lines are the photo's own (an open
            // mouth whose lower line the mesh puts under its teeth): none
            // are added under them.
            let between = |&[pu, low]: &[f32; 2]| {
                Self::line(&self.upper, pu).is_some_and(|top| {
                    (top.ceil() as i32..=low.floor() as i32)
                        .filter(|&pv| pixel(image, self.point(pu, pv as f32)).is_some_and(teeth))
                        .count()
                        >= 2
                })
            };
            if !self.lower[3..8].iter().any(between) {
                self.teeth = light.map(teeth_from_light);
            }
            return;
        }
        // One smooth band, narrowing toward the corners (teeth found column
        // by column would give the lip a jagged edge).
        let half = self.upper[0][0].abs().max(self.upper[10][0].abs()).max(1.0);
        for k in 0..self.lower.len() {
            let [pu, low] = self.lower[k];
            if let Some(top) = Self::line(&self.upper, pu) {
                let x = (pu / half).clamp(-1.0, 1.0);
                self.lower[k][1] = low.max(top + teeth_depth * (1.0 - x * x));
            }
        }
        self.bounds = self.reach();
    }

    /// The face's darkest tone around the mouth (luma, see
    /// [`DARKEST_SHARE`]) and its light tone (see [`LIGHT_PERCENTILES`]).
    fn tones_around(&self, image: &image::RgbImage) -> (f32, Option<[f32; 3]>) {
        let r = DARKEST_REACH_IOD * self.iod;
        let step = (r / 50.0).max(1.0);
        let n = (2.0 * r / step) as i32;
        let mut colours: Vec<[f32; 3]> = (0..=n)
            .flat_map(|j| (0..=n).map(move |i| (i, j)))
            .filter_map(|(i, j)| {
                let p = [
                    self.mid[0] - r + i as f32 * step,
                    self.mid[1] - r + j as f32 * step,
                ];
                pixel(image, p)
            })
            .collect();
        if colours.is_empty() {
            return (0.0, None);
        }
        colours.sort_by(|a, b| luma(*a).total_cmp(&luma(*b)));
        let at = |q: f32| ((colours.len() - 1) as f32 * q) as usize;
        let darkest = luma(colours[at(DARKEST_PERCENTILE)]);
        let band = &colours[at(LIGHT_PERCENTILES[0])..=at(LIGHT_PERCENTILES[1])];
        let n = band.len() as f32;
        let light = band
            .iter()
            .fold([0.0; 3], |s, c| [s[0] + c[0], s[1] + c[1], s[2] + c[2]])
            .map(|c| c / n);
        (darkest, Some(light))
    }

    /// Whether hair hides the lips (a moustache over them).
    pub fn hidden(&self) -> bool {
        self.hidden
    }

    /// How far the mouth opens for a frame that opens it by `open` and
    /// smiles by `smile`: under hair the smile parts the lips too.
    pub fn amount(&self, open: f32, smile: f32) -> f32 {
        if self.hidden {
            HIDDEN_OPEN_GAIN * open.max(HIDDEN_SMILE_OPEN * smile)
        } else {
            open
        }
    }

    /// Finds hair over the lips in `image` (`lips`: the luma of the
    /// mesh's lips there): lips are no lighter than the skin under them,
    /// a moustache hanging over them is lighter than the shadow it casts
    /// there by [`HAIR_OVER_SHADOW`], and it reaches up toward the nose.
    /// Then the mouth opens only in the columns where the hair ends just
    /// below the mesh's line, under its edge there, and the cavity takes
    /// the shadow's shade. Face Mesh guesses lips the hair hides, and an
    /// opening on its line corner to corner would be a dark crescent
    /// painted on the hair, with the hair below it dragged down.
    fn learn_hair(&mut self, image: &image::RgbImage, lips: f32) -> bool {
        // Three by three pixels around (pu, pv), against grain.
        let at = |pu: f32, pv: f32| -> Option<[f32; 3]> {
            let mut sum = [0.0f32; 3];
            for du in [-1.0, 0.0, 1.0] {
                for dv in [-1.0, 0.0, 1.0] {
                    let c = pixel(image, self.point(pu + du, pv + dv))?;
                    sum = [sum[0] + c[0], sum[1] + c[1], sum[2] + c[2]];
                }
            }
            Some(sum.map(|c| c / 9.0))
        };
        let (Some(top), Some(low)) = (Self::line(&self.upper, 0.0), Self::line(&self.lower, 0.0))
        else {
            return false;
        };
        let (Some(shadow), Some(high)) = (
            at(0.0, low.max(top) + self.lip + SHADOW_BELOW_IOD * self.iod),
            at(0.0, top - HAIR_ABOVE_IOD * self.iod),
        ) else {
            return false;
        };
        if lips < luma(shadow) + HAIR_OVER_SHADOW || luma(high) < lips - TEETH_OVER_LIPS {
            return false;
        }
        let cut = (lips + luma(shadow)) / 2.0;
        let reach = HAIR_EDGE_IOD * self.iod;
        let below = (SHADOW_DEPTH_IOD * self.iod).max(1.0);
        let dark = |pu: f32, pv: f32| at(pu, pv).is_some_and(|c| luma(c) < cut);
        // The hair's lower edge: the first row from the upper lip's line
        // on that is darker than halfway to the shadow and stays so.
        let edges: Vec<Option<f32>> = (1..10)
            .map(|k| {
                let pu = self.lower[k][0];
                let top = Self::line(&self.upper, pu)?;
                (0..=reach as i32)
                    .map(|d| top + d as f32)
                    .find(|&pv| dark(pu, pv) && dark(pu, pv + below))
            })
            .collect();
        let middle = edges[2..7].iter().filter(|e| e.is_some()).count();
        let found: Vec<usize> = (0..edges.len()).filter(|&i| edges[i].is_some()).collect();
        let (Some(&first), Some(&last)) = (found.first(), found.last()) else {
            return false;
        };
        if middle < 3 || edges[4].is_none() {
            return false;
        }
        // edges[i] is contour point i + 1: the opening narrows to nothing
        // at the next point out, where the hair was not found to end.
        self.half = [
            self.lower[first][0].abs().max(1.0),
            self.lower[last + 2][0].abs().max(1.0),
        ];
        for (i, edge) in edges.iter().enumerate() {
            if let Some(edge) = edge {
                self.lower[i + 1][1] = self.lower[i + 1][1].max(*edge);
            }
        }
        self.lips = shadow;
        self.teeth = Some(high.map(|c| c * HIDDEN_TEETH_TONE));
        self.hidden = true;
        self.bounds = self.reach();
        true
    }

    /// The contour's v at `pu` (linear between its points), or None
    /// beyond the corners. The points are sorted by u: the segment is the
    /// first that reaches `pu` (a count, not a search: this runs for every
    /// pixel of an open mouth).
    fn line(points: &[[f32; 2]; 11], pu: f32) -> Option<f32> {
        if !(pu >= points[0][0] && pu <= points[10][0]) {
            return None;
        }
        let k = points[1..10].iter().filter(|p| p[0] < pu).count();
        let (a, b) = (points[k], points[k + 1]);
        let t = if b[0] - a[0] > 1e-3 {
            (pu - a[0]) / (b[0] - a[0])
        } else {
            0.5
        };
        Some(a[1] + (b[1] - a[1]) * t)
    }

    /// How far the mouth opens at `pu` for `amount`, in pixels.
    fn opening(&self, pu: f32, amount: f32) -> f32 {
        let half = if pu < 0.0 { self.half[0] } else { self.half[1] };
        if half <= 0.0 {
            return 0.0;
        }
        let x = (pu / half).clamp(-1.0, 1.0);
        amount.clamp(0.0, 1.0) * OPEN_IOD * self.iod * open_shape(x * x)
    }

    /// What output point `p` shows with the mouth open by `amount`.
    pub fn look(&self, p: [f32; 2], amount: f32) -> Look {
        let still = Look::Shifted([0.0, 0.0]);
        if amount <= 0.0
            || p[0] < self.bounds[0]
            || p[1] < self.bounds[1]
            || p[0] > self.bounds[2]
            || p[1] > self.bounds[3]
        {
            return still;
        }
        let (dx, dy) = (p[0] - self.mid[0], p[1] - self.mid[1]);
        let pu = dx * self.u[0] + dy * self.u[1];
        let pv = dx * self.v[0] + dy * self.v[1];
        // Above the upper lip nothing moves: the rest is not needed there.
        let Some(top) = Self::line(&self.upper, pu).filter(|&top| pv >= top) else {
            return still;
        };
        let Some(low) = Self::line(&self.lower, pu) else {
            return still;
        };
        // A closed mouth's lips may cross in the mesh.
        let low = low.max(top);
        let h = self.opening(pu, amount);
        if h <= 0.0 {
            return still;
        }
        let shift = |d: f32| Look::Shifted([d * self.v[0], d * self.v[1]]);
        let bottom = low + h;
        if pv >= bottom {
            // The jaw: the lower lip moves whole, the chin below it less.
            let depth = pv - bottom;
            let fade = if depth <= self.lip {
                1.0
            } else {
                let t = ((depth - self.lip) / (self.chin - self.lip).max(1.0)).clamp(0.0, 1.0);
                1.0 - t * t * (3.0 - 2.0 * t)
            };
            return shift(h * fade);
        }
        // What the photo shows between the lips (its teeth) stays with the
        // upper lip; the cavity opens below it.
        if pv < low {
            return still;
        }
        let (from, to) = (low, bottom);
        let t = ((pv - from) / (to - from).max(1e-3)).clamp(0.0, 1.0);
        // Deepest in the middle, lighter toward the lips; the first and
        // last pixel blend into the lip so that its edge stays clean.
        let depth = (std::f32::consts::PI * t).sin();
        let (deep, edge) = if self.hidden {
            (HIDDEN_DEEP, HIDDEN_EDGE)
        } else {
            (CAVITY_DEEP, CAVITY_EDGE)
        };
        let k = edge + (deep - edge) * depth;
        let cover = if self.hidden {
            // In the hair's shadow both edges are soft.
            let feather = (HAIR_FEATHER_IOD * self.iod).max(1.0);
            let x = ((pv - from).min(to - pv) / feather).clamp(0.0, 1.0);
            x * x * (3.0 - 2.0 * x)
        } else {
            (pv - from).min(to - pv).clamp(0.0, 1.0).max(0.5)
        };
        let back = pv - low;
        let colour = self.lips.map(|c| c * k);
        let shade = luma(colour);
        let lift = if shade > 0.0 && shade < self.darkest {
            self.darkest / shade
        } else {
            1.0
        };
        let colour = colour.map(|c| (c * lift).min(255.0));
        let colour = match self.teeth {
            Some(teeth) => self.with_teeth(colour, teeth, pu, t),
            None => colour,
        };
        Look::Cavity {
            colour,
            cover,
            d: [back * self.v[0], back * self.v[1]],
        }
    }

    /// The cavity's `colour` at `pu` and `t` (0 at the upper lip or the
    /// hair's edge, 1 at the lower lip) where the photo shows no teeth:
    /// its upper part shows upper teeth of colour `teeth`, darker toward
    /// the corners. The teeth the parted lips show are what says the mouth
    /// is smiling, not gaping (under hair the lips' shape cannot say it
    /// at all).
    fn with_teeth(&self, colour: [f32; 3], teeth: [f32; 3], pu: f32, t: f32) -> [f32; 3] {
        let half = if pu < 0.0 { self.half[0] } else { self.half[1] };
        let x = (pu / half.max(1.0)).clamp(-1.0, 1.0);
        let share = if self.hidden {
            HIDDEN_TEETH_SHARE
        } else {
            TEETH_SHARE
        };
        let band = 1.0 - smoothstep(0.6 * share, share, t);
        let tone = 1.0 - TEETH_SIDE_SHADE * x * x;
        [0, 1, 2].map(|i| colour[i] + (teeth[i] * tone - colour[i]) * band)
    }

    /// The photo displacement at `p` as a continuous field, for following
    /// points through the map: inside the cavity, the way to the lip line
    /// it opened from.
    pub fn at(&self, p: [f32; 2], amount: f32) -> [f32; 2] {
        match self.look(p, amount) {
            Look::Shifted(d) | Look::Cavity { d, .. } => d,
        }
    }
}

/// Samples of (1 − s)^[`OPEN_SHAPE`] over s in 0..=1, for [`open_shape`].
const SHAPE_STEPS: usize = 256;
static SHAPE: std::sync::LazyLock<[f32; SHAPE_STEPS + 1]> = std::sync::LazyLock::new(|| {
    std::array::from_fn(|i| (1.0 - i as f32 / SHAPE_STEPS as f32).powf(OPEN_SHAPE))
});

/// (1 − `s`)^[`OPEN_SHAPE`] for `s` = x² in 0..1 (clamped), linear between
/// 257 samples: within 2e-4 of `powf`, at a fraction of its cost per pixel.
fn open_shape(s: f32) -> f32 {
    let at = s.clamp(0.0, 1.0) * SHAPE_STEPS as f32;
    let i = (at as usize).min(SHAPE_STEPS - 1);
    let t = at - i as f32;
    SHAPE[i] + (SHAPE[i + 1] - SHAPE[i]) * t
}

/// Teeth in a face whose light tone is `light`: as bright, greyer.
fn teeth_from_light(light: [f32; 3]) -> [f32; 3] {
    let l = luma(light);
    light.map(|c| (l + TEETH_CHROMA_SHARE * (c - l)).clamp(0.0, 255.0))
}

/// Brightness of an RGB colour (Rec. 601 weights).
fn luma(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

/// The photo's colour at `p` (nearest pixel), None outside it.
fn pixel(image: &image::RgbImage, p: [f32; 2]) -> Option<[f32; 3]> {
    let (x, y) = (p[0].round(), p[1].round());
    (x >= 0.0 && y >= 0.0 && x < image.width() as f32 && y < image.height() as f32)
        .then(|| image.get_pixel(x as u32, y as u32).0.map(f32::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A level mouth: corners at x 80 and 120, lips closed on y = 100,
    /// lower lip 8 px thick, chin 40 px below, eyes 60 px apart.
    fn face() -> Face {
        let mut landmarks = vec![[100.0, 60.0, 0.0]; mesh::COUNT];
        landmarks[mesh::RIGHT_EYE_OUTER] = [60.0, 60.0, 0.0];
        landmarks[mesh::RIGHT_EYE_INNER] = [80.0, 60.0, 0.0];
        landmarks[mesh::LEFT_EYE_INNER] = [120.0, 60.0, 0.0];
        landmarks[mesh::LEFT_EYE_OUTER] = [140.0, 60.0, 0.0];
        landmarks[mesh::MOUTH_RIGHT] = [78.0, 100.0, 0.0];
        landmarks[mesh::MOUTH_LEFT] = [122.0, 100.0, 0.0];
        for (k, (&a, &b)) in UPPER_INNER.iter().zip(&LOWER_INNER).enumerate() {
            let x = 80.0 + 4.0 * k as f32;
            landmarks[a] = [x, 100.0, 0.0];
            landmarks[b] = [x, 100.0, 0.0];
        }
        landmarks[LOWER_LIP_BOTTOM] = [100.0, 108.0, 0.0];
        landmarks[mesh::CHIN] = [100.0, 140.0, 0.0];
        Face {
            bbox: [0.0; 4],
            score: 1.0,
            landmarks,
        }
    }

    #[test]
    fn the_fast_lip_line_and_opening_shape_equal_their_definitions() {
        // The first segment whose u range holds pu, linear along it.
        let reference = |points: &[[f32; 2]; 11], pu: f32| {
            points.windows(2).find_map(|w| {
                let (a, b) = (w[0], w[1]);
                (pu >= a[0] && pu <= b[0]).then(|| {
                    let t = if b[0] - a[0] > 1e-3 {
                        (pu - a[0]) / (b[0] - a[0])
                    } else {
                        0.5
                    };
                    a[1] + (b[1] - a[1]) * t
                })
            })
        };
        // Uneven spacing, a repeated u and a kink.
        let xs = [
            -30.0, -22.5, -20.0, -20.0, -9.0, 0.0, 4.0, 11.0, 19.5, 26.0, 31.0,
        ];
        let points: [[f32; 2]; 11] = std::array::from_fn(|i| [xs[i], (i as f32 * 1.7).sin() * 5.0]);
        for k in -700..=700 {
            let pu = k as f32 * 0.05;
            assert_eq!(Mouth::line(&points, pu), reference(&points, pu), "at {pu}");
        }
        for x in xs {
            assert_eq!(
                Mouth::line(&points, x),
                reference(&points, x),
                "at node {x}"
            );
        }
        for k in 0..=10_000 {
            let s = k as f32 / 10_000.0;
            let exact = (1.0 - s).powf(OPEN_SHAPE);
            assert!(
                (open_shape(s) - exact).abs() < 2e-4,
                "at {s}: {} vs {exact}",
                open_shape(s)
            );
        }
        assert_eq!(open_shape(-1.0), 1.0);
        assert_eq!(open_shape(2.0), 0.0);
    }

    #[test]
    fn the_lip_moves_whole_and_the_gap_is_a_dark_cavity() {
        let mut m = Mouth::new(&face());
        m.lips = [200.0, 100.0, 100.0];
        let open = OPEN_IOD * 60.0; // 12 px at the middle
                                    // Closed: nothing changes.
        assert_eq!(m.look([100.0, 104.0], 0.0), Look::Shifted([0.0, 0.0]));
        // Above the lips: still. The lower lip: moved down the whole
        // opening, every row of it by the same amount.
        assert_eq!(m.look([100.0, 98.0], 1.0), Look::Shifted([0.0, 0.0]));
        for y in [0.0, 3.0, 7.0] {
            match m.look([100.0, 100.0 + open + y], 1.0) {
                Look::Shifted(d) => assert!((d[1] - open).abs() < 1e-3, "{y}: {d:?}"),
                other => panic!("{y}: {other:?}"),
            }
        }
        // Below the chin nothing moves; between, less and less.
        assert_eq!(m.look([100.0, 200.0], 1.0), Look::Shifted([0.0, 0.0]));
        // The gap: dark, darkest in the middle.
        let shade = |y: f32| match m.look([100.0, y], 1.0) {
            Look::Cavity { colour, .. } => colour[0],
            other => panic!("{y}: {other:?}"),
        };
        assert!(shade(100.0 + open / 2.0) < shade(101.5));
        assert!(shade(100.0 + open / 2.0) < 0.2 * 200.0 + 1e-3);
        // Toward the corners it opens less; at the corners not at all.
        assert!(m.opening(18.0, 1.0) < m.opening(0.0, 1.0));
        assert_eq!(m.opening(20.0, 1.0), 0.0);
    }

    /// The mouth at 12 px open (OPEN_IOD of 60 px eyes), middle column.
    fn lower_lip_shift(m: &Mouth, y: f32) -> f32 {
        match m.look([100.0, y], 1.0) {
            Look::Shifted(d) => d[1],
            other => panic!("{y}: {other:?}"),
        }
    }

    #[test]
    fn teeth_the_photo_shows_stay_with_the_upper_lip() {
        let mut f = face();
        // The photo's mouth is open 4 px.
        for &b in &LOWER_INNER[1..10] {
            f.landmarks[b][1] = 104.0;
        }
        let m = Mouth::new(&f);
        let open = OPEN_IOD * 60.0;
        assert_eq!(lower_lip_shift(&m, 101.0), 0.0);
        assert_eq!(lower_lip_shift(&m, 103.5), 0.0);
        assert!(matches!(m.look([100.0, 104.5], 1.0), Look::Cavity { .. }));
        assert!((lower_lip_shift(&m, 104.5 + open) - open).abs() < 1e-3);
    }

    /// Lips (red) at x 78..123, y 94..112, with white teeth on `teeth`.
    fn photo(teeth: std::ops::Range<u32>) -> image::RgbImage {
        painted([210, 160, 140], 78..123, 94..112, |_, y| {
            if teeth.contains(&y) {
                [235, 232, 225]
            } else {
                [170, 70, 80]
            }
        })
    }

    /// A 200 × 200 photo of `skin` with `colour(x, y)` painted over the
    /// box `xs` × `ys`.
    fn painted(
        skin: [u8; 3],
        xs: std::ops::Range<u32>,
        ys: std::ops::Range<u32>,
        colour: impl Fn(u32, u32) -> [u8; 3],
    ) -> image::RgbImage {
        let mut img = image::RgbImage::from_pixel(200, 200, image::Rgb(skin));
        for y in ys {
            for x in xs.clone() {
                img.put_pixel(x, y, image::Rgb(colour(x, y)));
            }
        }
        img
    }

    #[test]
    fn teeth_below_the_mesh_lip_line_are_found_in_the_photo() {
        // The mesh closes the mouth on y = 100, but the photo shows white
        // teeth from 2 px below that to y = 108 (the upper lip's edge lies
        // under the mesh's line).
        let mut m = Mouth::new(&face());
        assert!(matches!(m.look([100.0, 101.0], 1.0), Look::Cavity { .. }));
        m.learn_from(&photo(102..108));
        // The teeth stay; the cavity opens under them, in the lips' hue
        // and dark.
        assert_eq!(lower_lip_shift(&m, 101.0), 0.0);
        assert_eq!(lower_lip_shift(&m, 107.0), 0.0);
        let Look::Cavity { colour, .. } = m.look([100.0, 108.5 + OPEN_IOD * 30.0], 1.0) else {
            panic!("no cavity under the teeth");
        };
        assert!(colour[0] > colour[1] && colour[0] < 100.0, "{colour:?}");
        let open = OPEN_IOD * 60.0;
        assert!((lower_lip_shift(&m, 109.0 + open) - open).abs() < 1e-3);
        // Closed lips show no teeth: the mouth opens on the mesh's line.
        let mut closed = Mouth::new(&face());
        closed.learn_from(&photo(0..0));
        assert!(matches!(
            closed.look([100.0, 101.0], 1.0),
            Look::Cavity { .. }
        ));
    }

    #[test]
    fn where_the_photo_shows_no_teeth_the_opening_shows_upper_teeth_over_a_cavity() {
        let mut m = Mouth::new(&face());
        m.learn_from(&photo(0..0));
        assert!(!m.hidden());
        let open = OPEN_IOD * 60.0; // 12 px at the middle
        let shade = |p: [f32; 2]| match m.look(p, 1.0) {
            Look::Cavity { colour, .. } => colour,
            other => panic!("no cavity at {p:?}: {other:?}"),
        };
        // Under the upper lip: teeth, lighter than the lips and greyer
        // than the skin they take their tone from; below them the cavity
        // stays dark.
        let teeth = shade([100.0, 100.0 + 0.2 * open]);
        let skin = [210.0, 160.0, 140.0];
        let chroma = |c: [f32; 3]| c[0].max(c[1]).max(c[2]) - c[0].min(c[1]).min(c[2]);
        assert!(luma(teeth) > luma([170.0, 70.0, 80.0]) + 40.0, "{teeth:?}");
        assert!(chroma(teeth) < 0.5 * chroma(skin), "{teeth:?}");
        let cavity = shade([100.0, 100.0 + 0.85 * open]);
        assert!(
            luma(cavity) < 0.6 * luma(teeth),
            "{cavity:?} under {teeth:?}"
        );
        // Darker toward the corners.
        assert!(luma(shade([90.0, 100.0 + 0.15 * open])) < luma(teeth));
        // Teeth the photo shows are its own: none are added below them.
        let mut own = Mouth::new(&face());
        own.learn_from(&photo(102..108));
        let below = match own.look([100.0, 108.5 + 0.2 * open], 1.0) {
            Look::Cavity { colour, .. } => colour,
            other => panic!("{other:?}"),
        };
        assert!(luma(below) < 100.0, "{below:?}");
        // So are teeth between the mesh's lines, in a mouth the photo
        // shows open.
        let mut f = face();
        for &b in &LOWER_INNER[1..10] {
            f.landmarks[b][1] = 104.0;
        }
        let mut open_photo = Mouth::new(&f);
        open_photo.learn_from(&photo(100..104));
        let under = match open_photo.look([100.0, 104.5 + 0.2 * open], 1.0) {
            Look::Cavity { colour, .. } => colour,
            other => panic!("{other:?}"),
        };
        assert!(luma(under) < 100.0, "{under:?}");
    }

    /// A sepia face whose white moustache (x 70..130, from y 85) hides
    /// the lips: in the middle (x 90..110) it ends 2 px below the mesh's
    /// line (y 100) over the shadowed lower lip, at the sides it hangs on
    /// to y 118.
    fn moustache() -> image::RgbImage {
        painted([175, 160, 135], 70..130, 85..118, |x, y| {
            if (90..110).contains(&x) && y >= 102 {
                [80, 70, 60]
            } else {
                [235, 228, 215]
            }
        })
    }

    #[test]
    fn under_a_moustache_the_mouth_opens_below_the_hair_where_the_lips_show() {
        let mut m = Mouth::new(&face());
        m.learn_from(&moustache());
        assert!(m.hidden());
        // The hair between the mesh's line and its edge stays; the cavity
        // opens under the edge.
        assert_eq!(m.look([100.0, 101.0], 1.0), Look::Shifted([0.0, 0.0]));
        let Look::Cavity { colour, .. } = m.look([100.0, 102.5 + OPEN_IOD * 30.0], 1.0) else {
            panic!("no cavity under the hair");
        };
        // In the shadow's shade, a soft dark rather than a drawn black
        // line, and fading in under the hair's edge.
        assert!(
            luma(colour) >= HIDDEN_DEEP * luma([80.0, 70.0, 60.0]) - 1.0,
            "{colour:?}"
        );
        assert!(colour[0] >= colour[2], "{colour:?}");
        // (The edge is found on the row below the first dark one: the
        // 3 × 3 sampler still sees the hair there.)
        let Look::Cavity { cover, .. } = m.look([100.0, 103.8], 1.0) else {
            panic!("no cavity just under the hair");
        };
        assert!(cover < 0.5, "{cover}");
        // Where the hair hangs on below the line, nothing opens or moves.
        for y in [101.0, 104.0, 110.0, 120.0] {
            assert_eq!(m.look([86.0, y], 1.0), Look::Shifted([0.0, 0.0]), "{y}");
            assert_eq!(m.look([114.0, y], 1.0), Look::Shifted([0.0, 0.0]), "{y}");
        }
        // Under the hair's edge the opening shows upper teeth in the
        // hair's tone, lighter than the shadow below them, and darker
        // toward the corners.
        let shade = |p: [f32; 2]| match m.look(p, 1.0) {
            Look::Cavity { colour, .. } => luma(colour),
            other => panic!("no cavity at {p:?}: {other:?}"),
        };
        let hair = luma([235.0, 228.0, 215.0]);
        let teeth = shade([100.0, 105.0]);
        assert!(
            (teeth - HIDDEN_TEETH_TONE * hair).abs() < 2.0,
            "{teeth} against the hair's {hair}"
        );
        assert!(teeth > shade([100.0, 108.5]) + 50.0);
        assert!(shade([93.0, 104.5]) < teeth);
        // A smile parts the hidden lips, and they open wider than told;
        // visible lips open only when told, as much as told.
        assert!(m.amount(0.0, 1.0) > 0.0);
        assert_eq!(m.amount(0.3, 0.0), HIDDEN_OPEN_GAIN * 0.3);
        assert_eq!(Mouth::new(&face()).amount(0.3, 0.0), 0.3);
        let mut lips = Mouth::new(&face());
        lips.learn_from(&photo(0..0));
        assert!(!lips.hidden());
        assert_eq!(lips.amount(0.0, 1.0), 0.0);
        assert!(matches!(lips.look([86.0, 104.0], 1.0), Look::Cavity { .. }));
    }
}
