//! The animator backends, by name: one typed value for the configuration
//! (`animator`), the presets (`backends = [...]`), a job's request and
//! record, and the staff's re-render choice. The backends themselves live
//! in `animate`; this is only what each is called.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Whole-photo motion: a slow push-in with a slight tilt.
    Gentle,
    /// Face-aware mesh warp on the CPU (needs the face models).
    Meshwarp,
    /// LivePortrait's networks (`liveportrait_dir`) on TensorRT, CUDA or
    /// the CPU; falls back to meshwarp.
    Liveportrait,
}

/// Not a backend's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("there is no animator backend `{0}`")]
pub struct UnknownBackend(pub String);

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Gentle, Backend::Meshwarp, Backend::Liveportrait];

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Gentle => "gentle",
            Backend::Meshwarp => "meshwarp",
            Backend::Liveportrait => "liveportrait",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Backend {
    type Err = UnknownBackend;

    /// The exact lowercase name; what a person typed is quoted back at
    /// most 40 characters long.
    fn from_str(s: &str) -> Result<Self, UnknownBackend> {
        Backend::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| UnknownBackend(s.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_as_text_and_json() {
        for b in Backend::ALL {
            assert_eq!(b.as_str().parse(), Ok(b));
            let json = serde_json::to_string(&b).expect("json");
            assert_eq!(json, format!("\"{b}\""), "stored jobs keep their text");
        }
        assert!("Meshwarp".parse::<Backend>().is_err());
        let long = "x".repeat(100);
        assert_eq!(long.parse::<Backend>().map_err(|e| e.0.len()), Err(40));
    }
}
