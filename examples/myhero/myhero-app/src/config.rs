//! myhero-app's configuration from the tutorial's environment variables:
//! `myhero_app_key`, `myhero_data_key`, `myhero_data_server` (a URL) or
//! `myhero_data_srv` (a host, as the Kubernetes manifests give it),
//! `myhero_app_mode` (`direct` or `queue`), `myhero_mqtt_host`,
//! `myhero_mqtt_port`; plus `PORT` for the listening port.

use std::net::{Ipv4Addr, SocketAddr};

use crate::Error;

/// How votes reach myhero-data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// POST straight to myhero-data.
    Direct,
    /// Publish to the MQTT broker at (host, port); myhero-ernst records them.
    Queue { host: String, port: u16 },
}

/// Validated settings for one myhero-app process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Key clients send in the `key` header.
    pub app_key: String,
    /// Key sent to myhero-data.
    pub data_key: String,
    /// myhero-data's base URL, without a trailing slash.
    pub data_url: String,
    /// Vote path.
    pub mode: Mode,
    /// Address to listen on (all interfaces, `PORT` or 5000).
    pub listen: SocketAddr,
}

fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    what: &str,
) -> Result<String, Error> {
    lookup(name).filter(|v| !v.is_empty()).ok_or(Error::Config {
        name,
        problem: format!("not set; set it to {what}"),
    })
}

/// `myhero-data` → `http://myhero-data`; URLs are kept, minus a trailing `/`.
pub fn data_url(server: &str) -> String {
    let s = server.trim().trim_end_matches('/');
    if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (name → value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let app_key = required(
            &lookup,
            "myhero_app_key",
            "the key clients send in the `key` header",
        )?;
        let data_key = required(&lookup, "myhero_data_key", "myhero-data's key")?;
        let server = lookup("myhero_data_server")
            .filter(|v| !v.is_empty())
            .or_else(|| lookup("myhero_data_srv").filter(|v| !v.is_empty()));
        let server = server.ok_or(Error::Config {
            name: "myhero_data_server",
            problem: "neither it (a URL) nor myhero_data_srv (a host) is set; set one to myhero-data's address".into(),
        })?;
        let mode = match lookup("myhero_app_mode").as_deref().map(str::trim) {
            None | Some("") | Some("direct") => Mode::Direct,
            Some("queue") => {
                let host = required(
                    &lookup,
                    "myhero_mqtt_host",
                    "the MQTT broker's host (queue mode)",
                )?;
                let port = match lookup("myhero_mqtt_port") {
                    None => 1883,
                    Some(p) => p.trim().parse().map_err(|_| Error::Config {
                        name: "myhero_mqtt_port",
                        problem: format!("{p:?} is not a port number"),
                    })?,
                };
                Mode::Queue { host, port }
            }
            Some(other) => {
                return Err(Error::Config {
                    name: "myhero_app_mode",
                    problem: format!("{other:?} is neither `direct` nor `queue`"),
                });
            }
        };
        let port = match lookup("PORT") {
            None => 5000,
            Some(p) => p.parse().map_err(|_| Error::Config {
                name: "PORT",
                problem: format!("{p:?} is not a port number"),
            })?,
        };
        Ok(Config {
            app_key,
            data_key,
            data_url: data_url(&server),
            mode,
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
    fn the_manifest_env_means_queue_mode_against_http_myhero_data() {
        let c = Config::from_lookup(env(&[
            ("myhero_mqtt_host", "myhero-mosca"),
            ("myhero_mqtt_port", "1883"),
            ("myhero_app_mode", "queue"),
            ("myhero_data_srv", "myhero-data"),
            ("myhero_data_key", "SecureData"),
            ("myhero_app_key", "SecureApp"),
        ]))
        .unwrap();
        assert_eq!(c.data_url, "http://myhero-data");
        assert_eq!(
            c.mode,
            Mode::Queue {
                host: "myhero-mosca".into(),
                port: 1883
            }
        );
        assert_eq!(c.listen.port(), 5000);
    }

    #[test]
    fn compose_style_url_and_errors() {
        let c = Config::from_lookup(env(&[
            ("myhero_data_server", "http://myhero-data:5000/"),
            ("myhero_data_key", "DevData"),
            ("myhero_app_key", "DevApp"),
        ]))
        .unwrap();
        assert_eq!(c.data_url, "http://myhero-data:5000");
        assert_eq!(c.mode, Mode::Direct);
        let e = Config::from_lookup(env(&[("myhero_data_key", "d"), ("myhero_app_key", "a")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("myhero_data_srv"), "{e}");
        let e = Config::from_lookup(env(&[
            ("myhero_data_srv", "x"),
            ("myhero_data_key", "d"),
            ("myhero_app_key", "a"),
            ("myhero_app_mode", "kafka"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("myhero_app_mode") && e.contains("kafka"), "{e}");
    }
}
