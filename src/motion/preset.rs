//! Preset files: parsing, validation and per-frame evaluation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::curve::{sample, Keyframe};
use super::id::{is_name, PresetId};
use super::template::Template;
use crate::backend::Backend;

/// Languages a preset label may be given in; `en` is required.
pub use crate::i18n::LANGUAGES;

#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    #[error("cannot read preset {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("preset {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("preset {id}: {message}")]
    Invalid { id: String, message: String },
    #[error("no presets found in {0}")]
    Empty(PathBuf),
    #[error("two presets share the id {0}")]
    Duplicate(String),
}

/// An expression parameter a preset can animate. Named for the face, not
/// for any one backend's mechanics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    Smile,
    Laugh,
    WinkLeft,
    WinkRight,
    Blink,
    BrowRaise,
    MouthOpen,
    /// Degrees, positive tilts the chin up.
    HeadPitch,
    /// Degrees, positive turns to the subject's left.
    HeadYaw,
    /// Degrees, positive tilts clockwise as seen by the viewer.
    HeadRoll,
    Breath,
}

impl Param {
    /// The inclusive range a keyframe value must lie in.
    pub fn range(self) -> (f32, f32) {
        match self {
            Param::HeadPitch | Param::HeadYaw | Param::HeadRoll => (-15.0, 15.0),
            _ => (0.0, 1.0),
        }
    }
}

/// All expression parameters at one instant. Absent curves are 0 (neutral).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Expression {
    pub smile: f32,
    pub laugh: f32,
    pub wink_left: f32,
    pub wink_right: f32,
    pub blink: f32,
    pub brow_raise: f32,
    pub mouth_open: f32,
    pub head_pitch: f32,
    pub head_yaw: f32,
    pub head_roll: f32,
    pub breath: f32,
}

impl Expression {
    fn set(&mut self, p: Param, v: f32) {
        let slot = match p {
            Param::Smile => &mut self.smile,
            Param::Laugh => &mut self.laugh,
            Param::WinkLeft => &mut self.wink_left,
            Param::WinkRight => &mut self.wink_right,
            Param::Blink => &mut self.blink,
            Param::BrowRaise => &mut self.brow_raise,
            Param::MouthOpen => &mut self.mouth_open,
            Param::HeadPitch => &mut self.head_pitch,
            Param::HeadYaw => &mut self.head_yaw,
            Param::HeadRoll => &mut self.head_roll,
            Param::Breath => &mut self.breath,
        };
        *slot = v;
    }

    /// The same expression at `k` times the strength. Eye closures (wink,
    /// blink) stay as they are: half a wink is not a wink.
    pub fn scaled(&self, k: f32) -> Expression {
        Expression {
            smile: self.smile * k,
            laugh: self.laugh * k,
            brow_raise: self.brow_raise * k,
            mouth_open: self.mouth_open * k,
            head_pitch: self.head_pitch * k,
            head_yaw: self.head_yaw * k,
            head_roll: self.head_roll * k,
            breath: self.breath * k,
            ..*self
        }
    }

    /// How far from neutral the face is, 0..1: drives whole-photo motion.
    pub fn intensity(&self) -> f32 {
        let expr = self
            .smile
            .max(self.laugh)
            .max(self.wink_left)
            .max(self.wink_right)
            .max(self.brow_raise)
            .max(self.mouth_open);
        expr.clamp(0.0, 1.0)
    }
}

/// How the clip returns to its first frame so that it loops seamlessly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopStyle {
    /// Curves describe the forward half (0 .. duration/2); the second half
    /// plays it mirrored.
    #[default]
    Pingpong,
    /// Curves cover the whole duration and end on their first values.
    Cycle,
}

/// A preset file exactly as written on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetFile {
    pub id: String,
    pub label: BTreeMap<String, String>,
    pub duration_s: f32,
    pub fps: u32,
    #[serde(rename = "loop", default)]
    pub loop_style: LoopStyle,
    /// Animator backends that render this preset well; empty = all.
    #[serde(default)]
    pub backends: Vec<Backend>,
    /// Display order on the kiosk (lower first).
    #[serde(default)]
    pub order: i32,
    /// A LivePortrait driving template (`templates/NAME.json` beside the
    /// preset) that drives the face instead of curves.
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub curves: BTreeMap<Param, Vec<Keyframe>>,
}

/// The only backend that can play a driving template.
pub const TEMPLATE_BACKEND: Backend = Backend::Liveportrait;

/// A validated preset.
#[derive(Debug, Clone)]
pub struct Preset {
    pub file: PresetFile,
    /// `file.id`, checked.
    key: PresetId,
    frame_count: u32,
    template: Option<std::sync::Arc<Template>>,
}

impl Preset {
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, PresetError> {
        let file: PresetFile = toml::from_str(text).map_err(|e| PresetError::Parse {
            path: origin.to_path_buf(),
            message: e.message().to_string(),
        })?;
        let mut preset = Self::validate(file)?;
        if let Some(name) = &preset.file.template {
            let dir = origin.parent().unwrap_or(Path::new("."));
            let path = dir.join("templates").join(format!("{name}.json"));
            let template = Template::load(&path).map_err(|message| PresetError::Invalid {
                id: preset.file.id.clone(),
                message: format!("template {}: {message}", path.display()),
            })?;
            preset.template = Some(std::sync::Arc::new(template));
        }
        Ok(preset)
    }

    pub fn validate(file: PresetFile) -> Result<Self, PresetError> {
        let checked = check_id(&file)
            .and_then(|()| check_labels(&file))
            .and_then(|()| check_timing(&file))
            .and_then(|()| check_template(&file))
            .and_then(|()| check_curves(&file));
        if let Err(message) = checked {
            return Err(PresetError::Invalid {
                id: file.id.clone(),
                message,
            });
        }
        let key = file
            .id
            .parse()
            .map_err(|e: super::BadPresetId| PresetError::Invalid {
                id: file.id.clone(),
                message: e.to_string(),
            })?;
        let frame_count = (file.duration_s * file.fps as f32).round() as u32;
        Ok(Self {
            file,
            key,
            frame_count,
            template: None,
        })
    }

    pub fn id(&self) -> &str {
        &self.file.id
    }

    /// The id as the typed value jobs keep.
    pub fn key(&self) -> &PresetId {
        &self.key
    }

    /// The driving template, for presets that have one.
    pub fn template(&self) -> Option<&Template> {
        self.template.as_deref()
    }

    pub fn fps(&self) -> u32 {
        self.file.fps
    }

    /// Frames in one loop; frame `frame_count` would equal frame 0.
    pub fn frame_count(&self) -> u32 {
        self.frame_count
    }

    /// Label in `lang`, falling back to English.
    pub fn label(&self, lang: &str) -> &str {
        self.file
            .label
            .get(lang)
            .or_else(|| self.file.label.get("en"))
            .map_or(self.file.id.as_str(), String::as_str)
    }

    pub fn supports_backend(&self, backend: Backend) -> bool {
        self.file.backends.is_empty() || self.file.backends.contains(&backend)
    }

    /// Curve time in seconds for frame `index` of the loop.
    pub fn curve_time(&self, index: u32) -> f32 {
        let n = self.frame_count.max(1) as f32;
        let phase = (index % self.frame_count.max(1)) as f32 / n;
        match self.file.loop_style {
            LoopStyle::Pingpong => (1.0 - (2.0 * phase - 1.0).abs()) * self.file.duration_s / 2.0,
            LoopStyle::Cycle => phase * self.file.duration_s,
        }
    }

    /// The frame where the expression peaks: used for posters and sheets.
    /// On a plateau, the middle of it (for a ping-pong loop, the turn).
    pub fn peak_frame(&self) -> u32 {
        let intensity: Vec<f32> = (0..self.frame_count)
            .map(|i| self.at_frame(i).intensity())
            .collect();
        let max = intensity.iter().copied().fold(0.0_f32, f32::max);
        let peaks: Vec<u32> = (0..self.frame_count)
            .filter(|&i| intensity[i as usize] >= max - 1e-4)
            .collect();
        peaks.get(peaks.len() / 2).copied().unwrap_or(0)
    }

    pub fn at_frame(&self, index: u32) -> Expression {
        self.at_time(self.curve_time(index))
    }

    pub fn at_time(&self, t: f32) -> Expression {
        let mut e = Expression::default();
        for (param, keys) in &self.file.curves {
            e.set(*param, sample(keys, t));
        }
        e
    }
}

/// 1-40 characters of a-z, 0-9 and `_`: a preset's id, a template's name.
fn check_id(file: &PresetFile) -> Result<(), String> {
    if !is_name(&file.id) {
        return Err("id must be 1-40 characters of a-z, 0-9 and _".into());
    }
    Ok(())
}

/// English is required; every label in a kiosk language, 1-40 characters.
fn check_labels(file: &PresetFile) -> Result<(), String> {
    if !file.label.contains_key("en") {
        return Err("label.en is required".into());
    }
    for (lang, text) in &file.label {
        if !LANGUAGES.contains(&lang.as_str()) {
            return Err(format!(
                "label.{lang}: language must be one of {LANGUAGES:?}"
            ));
        }
        if text.trim().is_empty() || text.chars().count() > 40 {
            return Err(format!("label.{lang} must be 1-40 characters"));
        }
    }
    Ok(())
}

fn check_timing(file: &PresetFile) -> Result<(), String> {
    if !(file.duration_s.is_finite() && (1.0..=15.0).contains(&file.duration_s)) {
        return Err("duration_s must be between 1 and 15 seconds".into());
    }
    if !(10..=60).contains(&file.fps) {
        return Err("fps must be between 10 and 60".into());
    }
    Ok(())
}

/// Curves, or a driving template for the one backend that plays them.
fn check_template(file: &PresetFile) -> Result<(), String> {
    match &file.template {
        None if file.curves.is_empty() => {
            Err("at least one curve (or a template) is required".into())
        }
        Some(name) if !is_name(name) => {
            Err("template must be 1-40 characters of a-z, 0-9 and _".into())
        }
        Some(_) if file.backends != [TEMPLATE_BACKEND] => Err(format!(
            "a preset with a template must set backends = [\"{TEMPLATE_BACKEND}\"]"
        )),
        _ => Ok(()),
    }
}

/// Keyframes rise through the loop's span with values in the parameter's
/// range; a cycle ends where it began, so the seam does not jump.
fn check_curves(file: &PresetFile) -> Result<(), String> {
    let span = match file.loop_style {
        LoopStyle::Pingpong => file.duration_s / 2.0,
        LoopStyle::Cycle => file.duration_s,
    };
    for (param, keys) in &file.curves {
        let name = serde_json::to_string(param).unwrap_or_default();
        let (lo, hi) = param.range();
        if keys.is_empty() {
            return Err(format!("curve {name} has no keyframes"));
        }
        let mut last_t = 0.0_f32;
        for key in keys {
            if !key.t.is_finite() || key.t < last_t || key.t > span + 1e-4 {
                return Err(format!(
                    "curve {name}: keyframe times must rise from 0 to {span} s"
                ));
            }
            if !key.v.is_finite() || key.v < lo || key.v > hi {
                return Err(format!("curve {name}: values must lie in {lo}..{hi}"));
            }
            last_t = key.t;
        }
        if file.loop_style == LoopStyle::Cycle {
            let (first, last) = (sample(keys, 0.0), sample(keys, span));
            if (first - last).abs() > 1e-4 {
                return Err(format!(
                    "curve {name}: a cycle loop must end on its first value"
                ));
            }
        }
    }
    Ok(())
}

/// Loads every `*.toml` in `dir`, sorted by (order, id).
pub fn load_dir(dir: &Path) -> Result<Vec<Preset>, PresetError> {
    let io = |source| PresetError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut presets: Vec<Preset> = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| PresetError::Io {
            path: path.clone(),
            source,
        })?;
        let preset = Preset::from_toml(&text, &path)?;
        if presets.iter().any(|p| p.id() == preset.id()) {
            return Err(PresetError::Duplicate(preset.id().to_string()));
        }
        presets.push(preset);
    }
    if presets.is_empty() {
        return Err(PresetError::Empty(dir.to_path_buf()));
    }
    presets.sort_by(|a, b| (a.file.order, a.id()).cmp(&(b.file.order, b.id())));
    Ok(presets)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMILE: &str = r#"
        id = "t_smile"
        duration_s = 4.0
        fps = 25
        label = { en = "Smile", de = "Lächeln" }
        [curves]
        smile = [ { t = 0.0, v = 0.0 }, { t = 1.5, v = 1.0 }, { t = 2.0, v = 1.0 } ]
        head_roll = [ { t = 0.0, v = 0.0 }, { t = 2.0, v = 3.0, ease = "linear" } ]
    "#;

    fn parse(text: &str) -> Result<Preset, PresetError> {
        Preset::from_toml(text, Path::new("test.toml"))
    }

    #[test]
    fn pingpong_loops_back_to_the_first_frame() {
        let p = parse(SMILE).expect("valid");
        assert_eq!(p.frame_count(), 100);
        assert_eq!(p.curve_time(0), 0.0);
        assert_eq!(p.curve_time(50), 2.0);
        // Mirrored: frame 50-k equals frame 50+k, and "frame 100" is frame 0.
        let (a, b) = (p.at_frame(40), p.at_frame(60));
        assert!((a.smile - b.smile).abs() < 1e-5 && (a.head_roll - b.head_roll).abs() < 1e-5);
        assert_eq!(p.at_frame(100), p.at_frame(0));
        assert!((p.at_frame(1).smile - p.at_frame(99).smile).abs() < 1e-6);
        assert_eq!(p.peak_frame(), 50);
        assert_eq!(p.at_frame(50).head_roll, 3.0);
        assert_eq!(p.label("de"), "Lächeln");
        assert_eq!(p.label("fr"), "Smile");
    }

    #[test]
    fn cycle_must_end_where_it_starts() {
        let open = SMILE.replace("duration_s = 4.0", "duration_s = 2.0\nloop = \"cycle\"");
        let err = parse(&open).expect_err("ends at 1.0, not 0.0");
        assert!(err.to_string().contains("cycle"), "{err}");
        let closed = r#"
            id = "c" 
            duration_s = 2.0
            fps = 10
            loop = "cycle"
            label = { en = "C" }
            [curves]
            blink = [ { t = 0.0, v = 0.0 }, { t = 1.0, v = 1.0 }, { t = 2.0, v = 0.0 } ]
        "#;
        let p = parse(closed).expect("valid cycle");
        assert_eq!(p.curve_time(10), 1.0);
        assert_eq!(p.at_frame(10).blink, 1.0);
    }

    #[test]
    fn rejects_bad_files_with_a_reason() {
        let cases = [
            (SMILE.replace("t_smile", "../evil"), "id must"),
            (SMILE.replace("fps = 25", "fps = 0"), "fps"),
            (
                SMILE.replace("duration_s = 4.0", "duration_s = 100.0"),
                "duration_s",
            ),
            (SMILE.replace("v = 3.0", "v = 45.0"), "values must lie"),
            (SMILE.replace("t = 1.5", "t = 2.5"), "keyframe times"),
            (SMILE.replace("smile = [", "grin = ["), "grin"),
            (SMILE.replace("en = \"Smile\", ", ""), "label.en"),
            (SMILE.replace("de = ", "xx = "), "language"),
            (SMILE.replace("fps = 25", "fps = 25\ncolour = 1"), "colour"),
            ("not toml [".to_string(), ""),
        ];
        for (text, needle) in cases {
            let err = parse(&text).expect_err(needle);
            assert!(
                err.to_string().contains(needle),
                "{err} should mention {needle}"
            );
        }
    }

    #[test]
    fn shipped_presets_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
        let presets = load_dir(&dir).expect("presets/ loads");
        for id in ["soft_smile", "big_smile", "smile_wink", "gentle_laugh"] {
            assert!(presets.iter().any(|p| p.id() == id), "missing {id}");
        }
        for p in &presets {
            for lang in LANGUAGES {
                assert!(
                    p.file.label.contains_key(lang),
                    "{} lacks label.{lang}",
                    p.id()
                );
            }
        }
    }
}
