//! ferry-build: daemonless image builds from Dockerfiles.
//!
//! - [`parse`] turns a Dockerfile into stages and typed instructions
//!   (pure; errors carry file, line and column);
//! - [`expand`] does the reference's word splitting and `$VAR` substitution;
//! - [`ignore`] applies `.dockerignore` patterns;
//! - [`entitlement`] says what a build must be allowed (`RUN --network=host`
//!   needs `--allow network.host`).
#![forbid(unsafe_code)]

pub mod entitlement;
pub mod error;
pub mod expand;
pub mod ignore;
pub mod parse;

pub use entitlement::Entitlement;
pub use error::{Error, InputError, Pos, Result};
pub use parse::{Dockerfile, parse};
pub mod exec;
pub mod output;
pub mod progress;

pub use exec::{BuildOptions, Built, build, build_parsed};
pub use progress::Event;
