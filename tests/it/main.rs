//! The integration tests, one binary: a module per area, so the crate and
//! its dependencies are linked once (see Cargo.toml: `autotests = false`).

mod common;

mod admin;
mod admin_https;
mod clock;
mod crash;
mod encodings;
mod engines;
mod expression;
mod face;
mod faults;
mod firmware;
mod groups;
mod hostile;
mod kiosk;
mod kiosk_ui;
mod languages;
mod liveportrait;
mod meshwarp;
mod network;
mod payments;
mod printing;
mod retention_faults;
mod selftest;
mod spine;
mod startup;
mod systemd;
mod worker_faults;
