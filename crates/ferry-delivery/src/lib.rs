//! ferry's delivery engine.
#![forbid(unsafe_code)]

pub mod diff;
pub mod error;
pub mod health;
pub mod history;
pub mod object;
pub mod render;
pub mod sync;
pub mod target;

pub use error::{Error, Result};
