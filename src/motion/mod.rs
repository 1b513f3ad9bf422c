//! Animation presets: what a guest picks ("soft smile", "wink", …) and the
//! keyframed expression curves that drive every animator backend.
//!
//! A preset is one TOML file in `presets/`. Parameters are named after the
//! expression (smile, wink, head roll…), never after a particular warp, so
//! that the whole-photo, mesh-warp and LivePortrait backends read the same
//! files. Everything here is pure: loading validates, evaluation is a plain
//! function of the frame index.

mod curve;
mod id;
mod preset;
mod template;

pub use curve::{Ease, Keyframe};
pub use id::{BadPresetId, PresetId};
pub use preset::{
    load_dir, Expression, LoopStyle, Param, Preset, PresetError, PresetFile, LANGUAGES,
};
pub use template::{DrivingFrame, Template};
