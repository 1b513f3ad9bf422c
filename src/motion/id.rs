//! A preset's id: 1-40 characters of a-z, 0-9 and `_`, checked once where
//! it is read (a preset file, a job record, a form), so a job names its
//! animation with a value that cannot be a path or markup.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PresetId(String);

/// Not a preset id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a preset id (1-40 characters of a-z, 0-9 and _)")]
pub struct BadPresetId(pub String);

/// Whether `s` is a well-formed name (preset ids, template names).
pub(super) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl PresetId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for PresetId {
    type Err = BadPresetId;

    fn from_str(s: &str) -> Result<Self, BadPresetId> {
        if is_name(s) {
            Ok(Self(s.to_string()))
        } else {
            Err(BadPresetId(s.chars().take(40).collect()))
        }
    }
}

impl TryFrom<String> for PresetId {
    type Error = BadPresetId;

    fn try_from(s: String) -> Result<Self, BadPresetId> {
        s.parse()
    }
}

impl From<PresetId> for String {
    fn from(id: PresetId) -> String {
        id.0
    }
}

impl AsRef<str> for PresetId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PresetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for PresetId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for PresetId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_once_and_read_back_as_text() {
        let id: PresetId = "soft_smile".parse().expect("id");
        assert_eq!(id, "soft_smile");
        assert_eq!(serde_json::to_string(&id).expect("json"), "\"soft_smile\"");
        for bad in ["", "Soft", "../x", "<b>", &"a".repeat(41)] {
            assert!(bad.parse::<PresetId>().is_err(), "{bad}");
            let json = format!("\"{bad}\"");
            assert!(serde_json::from_str::<PresetId>(&json).is_err(), "{bad}");
        }
    }
}
