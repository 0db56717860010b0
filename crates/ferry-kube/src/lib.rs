//! ferry's Kubernetes target: the delivery engine's `Target` seam over a
//! real cluster through kube-rs. Pure parts — apply order ([`order`]), the
//! ApplySet inventory's ids and prune decision ([`applyset`]), conflict
//! messages ([`conflict`]) — are apart from the IO: the client
//! ([`client`]), discovery ([`discovery`]), server-side apply
//! ([`cluster`]), cluster facts for `ferry cluster` ([`facts`]), the inventory ([`inventory`]), watches ([`watch`]) and the
//! stores `list` reads ([`store`], objects parsed by [`lean`]).
#![forbid(unsafe_code)]

pub mod applyset;
pub mod client;
pub mod cluster;
pub mod conflict;
pub mod discovery;
pub mod error;
pub mod facts;
mod inventory;
pub mod lean;
pub mod order;
pub mod parents;
pub mod store;
mod target_impl;
pub mod watch;

pub use client::ClusterSource;
pub use cluster::{FIELD_MANAGER, KubeTarget};
pub use error::{Error, Result};
pub use target_impl::keys_of;
