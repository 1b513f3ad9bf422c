//! SmileLoop: a photo-animation kiosk. A guest's portrait comes alive as a
//! short seamless loop, shown watermarked on the kiosk, paid for and
//! downloaded in HD on the guest's phone.
//!
//! One module per domain: `capture` (photos in), `motion` (presets),
//! `animate` (backends), `encode` (GStreamer), `render` (one job's outputs),
//! `jobs` (store, worker, retention), `payments`, `money` (amounts in minor units), `metrics` (for a fleet), `selftest` (is the box ready?), `admin` (staff sign-in,
//! audit, export), `web` (the listeners), `config`, `clock` (wall and
//! monotonic time, passed in), and
//! `app`, the boot sequence that ties them together, and `cli`, the
//! `smileloop` command's subcommands.

pub mod admin;
pub mod animate;
pub mod app;
pub mod backend;
pub mod capture;
pub mod cli;
pub mod clock;
pub mod config;
pub mod encode;
pub mod face;
pub mod geometry;
pub mod i18n;
pub mod jobs;
pub mod metrics;
pub mod money;
pub mod motion;
pub mod payments;
pub mod print;
pub mod render;
pub mod selftest;
pub mod service;
pub mod state;
pub mod web;

#[cfg(test)]
mod layers;
