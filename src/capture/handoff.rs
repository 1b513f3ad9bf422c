//! Photos handed over from a guest's phone: the kiosk opens a slot and
//! shows its link as a QR code, the phone uploads into it on the guest
//! listener, and the kiosk picks the photo up for review. Slots live in
//! memory for a few minutes: nothing is stored until the guest presses
//! "Use this photo" on the kiosk, which makes an ordinary upload of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A slot nobody used is forgotten after this.
pub const SLOT_TTL: Duration = Duration::from_secs(10 * 60);
/// One kiosk screen has one slot open at a time; a few more cover reloads.
const MAX_SLOTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffState {
    Waiting,
    /// A phone has the upload page open (or is sending): the guest is
    /// choosing a photo, so the kiosk screen waits for them.
    Opened,
    Received,
}

struct Slot {
    created: Instant,
    photo: Option<Arc<Vec<u8>>>,
    /// An upload into this slot is being read and checked.
    receiving: bool,
    /// A phone loaded the slot's upload page.
    opened: bool,
}

/// Why an upload into a slot cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No such slot (never opened, expired or closed).
    Unknown,
    /// Another upload into it is still being read.
    Busy,
}

#[derive(Default)]
pub struct Handoffs {
    slots: Mutex<HashMap<HandoffCode, Slot>>,
}

/// A slot's code: 128 random bits, written as 32 lowercase hex digits in
/// its link. Unguessable: the slot's only protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandoffCode([u8; 16]);

/// Not a slot code (wrong length or not lowercase hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an upload link's code")]
pub struct BadCode;

impl std::str::FromStr for HandoffCode {
    type Err = BadCode;

    fn from_str(s: &str) -> Result<Self, BadCode> {
        if s.len() != 32 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(BadCode);
        }
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| BadCode)?;
        Ok(Self(bytes))
    }
}

impl std::fmt::Display for HandoffCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl Handoffs {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<HandoffCode, Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|_, s| s.created.elapsed() < SLOT_TTL);
        slots
    }

    /// A new slot's code.
    pub fn open(&self) -> HandoffCode {
        let mut bytes = [0u8; 16];
        // An unguessable code is the slot's only protection.
        getrandom::fill(&mut bytes).expect("OS random source");
        let code = HandoffCode(bytes);
        let mut slots = self.slots();
        while slots.len() >= MAX_SLOTS {
            let Some(oldest) = slots.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k) else {
                break;
            };
            slots.remove(&oldest);
        }
        slots.insert(
            code,
            Slot {
                created: Instant::now(),
                photo: None,
                receiving: false,
                opened: false,
            },
        );
        code
    }

    pub fn state(&self, code: HandoffCode) -> Option<HandoffState> {
        self.slots().get(&code).map(|s| match s.photo {
            Some(_) => HandoffState::Received,
            None if s.opened || s.receiving => HandoffState::Opened,
            None => HandoffState::Waiting,
        })
    }

    /// A phone loaded `code`'s upload page. False: no such slot.
    pub fn page_opened(&self, code: HandoffCode) -> bool {
        match self.slots().get_mut(&code) {
            Some(slot) => {
                slot.opened = true;
                true
            }
            None => false,
        }
    }

    /// Marks the start of an upload into `code`'s slot: one at a time per
    /// slot, checked before the body is read. [`end`](Self::end) clears it.
    pub fn begin(&self, code: HandoffCode) -> Result<(), Refused> {
        match self.slots().get_mut(&code) {
            None => Err(Refused::Unknown),
            Some(slot) if slot.receiving => Err(Refused::Busy),
            Some(slot) => {
                slot.receiving = true;
                Ok(())
            }
        }
    }

    pub fn end(&self, code: HandoffCode) {
        if let Some(slot) = self.slots().get_mut(&code) {
            slot.receiving = false;
        }
    }

    /// Puts a checked photo into an open slot; a second upload replaces
    /// the first (the guest picked a better one). False: no such slot.
    pub fn deliver(&self, code: HandoffCode, photo: Vec<u8>) -> bool {
        match self.slots().get_mut(&code) {
            Some(slot) => {
                slot.photo = Some(Arc::new(photo));
                true
            }
            None => false,
        }
    }

    pub fn photo(&self, code: HandoffCode) -> Option<Arc<Vec<u8>>> {
        self.slots().get(&code).and_then(|s| s.photo.clone())
    }

    pub fn close(&self, code: HandoffCode) {
        self.slots().remove(&code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_takes_one_upload_at_a_time() {
        let h = Handoffs::default();
        let code = h.open();
        let never: HandoffCode = "0".repeat(32).parse().expect("code");
        assert_eq!(h.begin(never), Err(Refused::Unknown));
        assert_eq!(h.begin(code), Ok(()));
        assert_eq!(h.state(code), Some(HandoffState::Opened), "sending");
        assert_eq!(h.begin(code), Err(Refused::Busy));
        h.end(code);
        assert_eq!(h.begin(code), Ok(()));
    }

    #[test]
    fn slot_lifecycle() {
        let h = Handoffs::default();
        let code = h.open();
        assert_eq!(code.to_string().parse(), Ok(code), "{code}");
        assert_eq!(h.state(code), Some(HandoffState::Waiting));
        assert!(h.photo(code).is_none());
        assert!(h.page_opened(code));
        assert_eq!(h.state(code), Some(HandoffState::Opened));
        assert!(h.deliver(code, vec![1, 2, 3]));
        assert!(h.deliver(code, vec![4]));
        assert_eq!(h.state(code), Some(HandoffState::Received));
        assert_eq!(h.photo(code).as_deref(), Some(&vec![4]));
        h.close(code);
        assert_eq!(h.state(code), None);
        assert!(!h.deliver(code, vec![5]));
        assert!(!h.page_opened(code));
    }

    #[test]
    fn slots_are_bounded_and_codes_checked() {
        let h = Handoffs::default();
        let first = h.open();
        for _ in 0..MAX_SLOTS {
            h.open();
        }
        assert_eq!(h.state(first), None, "the oldest slot made room");
        for bad in ["../../etc/passwd", &"A".repeat(32), "", &"0".repeat(31)] {
            assert_eq!(bad.parse::<HandoffCode>(), Err(BadCode), "{bad}");
        }
    }
}
