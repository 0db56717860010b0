//! myhero-ernst's configuration from the tutorial's environment variables:
//! `myhero_mqtt_host`, `myhero_mqtt_port`, `myhero_data_srv` (or
//! `myhero_data_server`, a URL) and `myhero_data_key`.

use crate::Error;

/// Validated settings for one myhero-ernst process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Broker host.
    pub mqtt_host: String,
    /// Broker port (1883 by default).
    pub mqtt_port: u16,
    /// myhero-data's base URL.
    pub data_url: String,
    /// Key sent to myhero-data.
    pub data_key: String,
    /// MQTT client id; fixed so the broker keeps the session across restarts.
    pub client_id: String,
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

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (name → value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let mqtt_host = required(&lookup, "myhero_mqtt_host", "the MQTT broker's host")?;
        let mqtt_port = match lookup("myhero_mqtt_port") {
            None => 1883,
            Some(p) => p.trim().parse().map_err(|_| Error::Config {
                name: "myhero_mqtt_port",
                problem: format!("{p:?} is not a port number"),
            })?,
        };
        let server = lookup("myhero_data_server")
            .filter(|v| !v.is_empty())
            .or_else(|| lookup("myhero_data_srv").filter(|v| !v.is_empty()));
        let server = server.ok_or(Error::Config {
            name: "myhero_data_srv",
            problem: "neither it (a host) nor myhero_data_server (a URL) is set; set one to myhero-data's address".into(),
        })?;
        let data_key = required(&lookup, "myhero_data_key", "myhero-data's key")?;
        Ok(Config {
            mqtt_host,
            mqtt_port,
            data_url: myhero_app::data_url(&server),
            data_key,
            client_id: "myhero-ernst".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_env_is_enough() {
        let pairs = [
            ("myhero_mqtt_host", "myhero-mosca"),
            ("myhero_mqtt_port", "1883"),
            ("myhero_data_srv", "myhero-data"),
            ("myhero_data_key", "SecureData"),
        ];
        let c = Config::from_lookup(|n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        assert_eq!(c.data_url, "http://myhero-data");
        assert_eq!((c.mqtt_host.as_str(), c.mqtt_port), ("myhero-mosca", 1883));
        let e = Config::from_lookup(|_| None).unwrap_err().to_string();
        assert!(e.contains("myhero_mqtt_host"), "{e}");
    }
}
