//! The faces of photos checked a moment ago, by the photo's content: the
//! review screen, a phone upload and the job that follows all check the
//! same bytes, and the face models run once for them.

use std::collections::VecDeque;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::Found;

/// Photos remembered: a few guests' worth.
const KEEP: usize = 16;

#[derive(Default)]
pub struct Recent {
    entries: Mutex<VecDeque<([u8; 32], Found)>>,
}

fn key(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Recent {
    /// The faces found in exactly these bytes, if they were checked lately.
    pub fn get(&self, bytes: &[u8]) -> Option<Found> {
        let k = key(bytes);
        let entries = self.entries.lock().ok()?;
        entries
            .iter()
            .find(|(e, _)| *e == k)
            .map(|(_, f)| f.clone())
    }

    pub fn put(&self, bytes: &[u8], found: Found) {
        let k = key(bytes);
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|(e, _)| *e != k);
            if entries.len() >= KEEP {
                entries.pop_front();
            }
            entries.push_back((k, found));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_by_content_and_forgets_the_oldest() {
        let recent = Recent::default();
        let found = |n| Found {
            max_faces: n,
            ..Found::default()
        };
        recent.put(b"photo a", found(1));
        assert_eq!(recent.get(b"photo a"), Some(found(1)));
        assert_eq!(recent.get(b"photo b"), None);
        for i in 0..KEEP as u32 {
            recent.put(format!("other {i}").as_bytes(), found(i));
        }
        assert_eq!(recent.get(b"photo a"), None, "the oldest went");
        assert_eq!(recent.get(b"other 15"), Some(found(15)));
    }
}
