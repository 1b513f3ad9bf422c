//! Keyframed curves with easing.

use serde::{Deserialize, Serialize};

/// How a curve travels *into* a keyframe from the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ease {
    Linear,
    /// Smooth start and stop (cubic smoothstep): the natural default for faces.
    #[default]
    InOut,
    In,
    Out,
    /// Keep the previous value until the keyframe, then jump.
    Hold,
}

impl Ease {
    /// Maps segment progress `x` in [0, 1] to eased progress in [0, 1].
    pub fn apply(self, x: f32) -> f32 {
        let x = x.clamp(0.0, 1.0);
        match self {
            Ease::Linear => x,
            Ease::InOut => x * x * (3.0 - 2.0 * x),
            Ease::In => x * x,
            Ease::Out => 1.0 - (1.0 - x) * (1.0 - x),
            Ease::Hold => {
                if x >= 1.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keyframe {
    /// Seconds from the start of the curve.
    pub t: f32,
    /// Parameter value at `t`.
    pub v: f32,
    #[serde(default)]
    pub ease: Ease,
}

/// Value of a keyframed curve at time `t`. Before the first key the first
/// value holds, after the last the last value holds. `keys` must be sorted
/// by time (preset validation guarantees it) and non-empty.
pub fn sample(keys: &[Keyframe], t: f32) -> f32 {
    let Some(first) = keys.first() else {
        return 0.0;
    };
    if t <= first.t {
        return first.v;
    }
    for pair in keys.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if t <= b.t {
            let span = b.t - a.t;
            if span <= f32::EPSILON {
                return b.v;
            }
            let x = b.ease.apply((t - a.t) / span);
            return a.v + (b.v - a.v) * x;
        }
    }
    keys[keys.len() - 1].v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(t: f32, v: f32, ease: Ease) -> Keyframe {
        Keyframe { t, v, ease }
    }

    #[test]
    fn eases_hit_their_ends() {
        for e in [Ease::Linear, Ease::InOut, Ease::In, Ease::Out] {
            assert_eq!(e.apply(0.0), 0.0, "{e:?}");
            assert!((e.apply(1.0) - 1.0).abs() < 1e-6, "{e:?}");
            assert!(e.apply(0.5) > 0.0 && e.apply(0.5) < 1.0, "{e:?}");
        }
        assert_eq!(Ease::Hold.apply(0.99), 0.0);
        assert_eq!(Ease::InOut.apply(0.5), 0.5);
        assert!(Ease::In.apply(0.5) < 0.5 && Ease::Out.apply(0.5) > 0.5);
    }

    #[test]
    fn sample_interpolates_and_clamps() {
        let keys = [k(1.0, 0.0, Ease::Linear), k(2.0, 1.0, Ease::Linear)];
        assert_eq!(sample(&keys, 0.0), 0.0);
        assert_eq!(sample(&keys, 1.5), 0.5);
        assert_eq!(sample(&keys, 3.0), 1.0);
        let eased = [k(0.0, 0.0, Ease::Linear), k(1.0, 1.0, Ease::InOut)];
        assert!(sample(&eased, 0.25) < 0.25);
        assert_eq!(sample(&[], 1.0), 0.0);
    }

    #[test]
    fn coincident_keys_jump() {
        let keys = [
            k(0.0, 0.0, Ease::Linear),
            k(1.0, 0.0, Ease::Linear),
            k(1.0, 1.0, Ease::Linear),
        ];
        assert_eq!(sample(&keys, 1.0), 0.0);
        assert_eq!(sample(&keys, 1.01), 1.0);
    }
}
