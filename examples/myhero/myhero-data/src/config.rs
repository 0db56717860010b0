//! myhero-data's configuration, read only from the tutorial's environment
//! variables (`myhero_data_key`, `myhero_data_dir`) plus `PORT` for the
//! listening port, through an injected lookup so tests pass their own.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::Error;

/// Where the original image keeps its data (the tutorial's compose file).
pub const DEFAULT_DIR: &str = "/app/data/";
/// The port every myhero HTTP service listens on inside its container.
pub const DEFAULT_PORT: u16 = 5000;

/// Validated settings for one myhero-data process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The shared key clients send in the `key` header.
    pub key: String,
    /// Directory holding `myhero_options.txt` and `votes.log`.
    pub dir: PathBuf,
    /// Address to listen on (all interfaces, `PORT` or 5000).
    pub listen: SocketAddr,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (name → value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let key = lookup("myhero_data_key")
            .filter(|k| !k.is_empty())
            .ok_or(Error::Config {
                name: "myhero_data_key",
                problem: "not set; set it to the shared key clients send in the `key` header"
                    .into(),
            })?;
        let dir = PathBuf::from(
            lookup("myhero_data_dir")
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| DEFAULT_DIR.into()),
        );
        let port = match lookup("PORT") {
            None => DEFAULT_PORT,
            Some(p) => p.parse().map_err(|_| Error::Config {
                name: "PORT",
                problem: format!("{p:?} is not a port number (1-65535)"),
            })?,
        };
        Ok(Config {
            key,
            dir,
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_follow_the_tutorial() {
        let c = Config::from_lookup(env(&[("myhero_data_key", "DevData")])).unwrap();
        assert_eq!(c.key, "DevData");
        assert_eq!(c.dir, PathBuf::from("/app/data/"));
        assert_eq!(c.listen.port(), 5000);
    }

    #[test]
    fn missing_key_and_bad_port_are_named() {
        let e = Config::from_lookup(env(&[])).unwrap_err().to_string();
        assert!(e.contains("myhero_data_key"), "{e}");
        let e = Config::from_lookup(env(&[("myhero_data_key", "k"), ("PORT", "http")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("PORT") && e.contains("http"), "{e}");
    }
}
