//! The keepsake card on the venue's photo printer: the card itself
//! (`card`), the raster formats printers take (`raster`), the printer's
//! IPP (`ipp`) and what its state means for a guest (`status`), the print
//! queue in the store (`queue`) and the task that drives it (`service`).
//!
//! A printer is never trusted to be there: every call has a timeout, an
//! unreachable printer is a state shown to staff and guests, and a card
//! that cannot print now is held (a few per printer) until it can.

pub mod card;
pub mod ipp;
pub mod queue;
pub mod raster;
pub mod service;
pub mod status;

pub use queue::{PrintQueue, PrintRecord, PrintState, Requester};
pub use service::{PrintRequestError, Printing};
pub use status::{PrinterState, PrinterStatus};
