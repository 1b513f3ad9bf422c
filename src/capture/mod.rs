//! Getting a photo into the kiosk: uploads and (later) the camera.
//!
//! Everything that arrives from outside is checked here before any other
//! module sees it: `photo` validates and decodes image bytes.

pub mod photo;
