//! myhero-ui: serves the single static page in `static/index.html` with its
//! heading (per version: v1 "Make ONE voice heard!!!", v2 "Make TWO voices
//! heard!!!", v3 "Make THREE voices heard!!!") and the browser's settings
//! (`myhero_app_server`, `myhero_app_key`) filled in. Every request is logged
//! to stdout, which the tutorial's mirroring use case watches.
#![forbid(unsafe_code)]

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

const PAGE: &str = include_str!("../static/index.html");

/// The one error type of myhero-ui.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required environment variable is missing or unusable.
    #[error("environment variable {name}: {problem}")]
    Config { name: &'static str, problem: String },
    /// The listener could not be opened or serving failed.
    #[error("http server on {addr}: {source}")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Validated settings for one myhero-ui process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The app's public URL, as the browser reaches it.
    pub app_server: String,
    /// The app key the browser sends.
    pub app_key: String,
    /// `v1`, `v2` or `v3`; picks the heading.
    pub version: String,
    /// Address to listen on (all interfaces, `PORT` or 80).
    pub listen: SocketAddr,
}

/// The heading a version shows.
pub fn heading(version: &str) -> Option<&'static str> {
    match version {
        "v1" => Some("Make ONE voice heard!!!"),
        "v2" => Some("Make TWO voices heard!!!"),
        "v3" => Some("Make THREE voices heard!!!"),
        _ => None,
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `myhero_app_server`, `myhero_app_key`, `myhero_ui_version`
    /// (default v1) and `PORT` through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let need = |name: &'static str, what: &str| {
            lookup(name).filter(|v| !v.is_empty()).ok_or(Error::Config {
                name,
                problem: format!("not set; set it to {what}"),
            })
        };
        let app_server = need(
            "myhero_app_server",
            "myhero-app's URL as the browser reaches it",
        )?
        .trim_end_matches('/')
        .to_string();
        let app_key = need("myhero_app_key", "myhero-app's key")?;
        let version = lookup("myhero_ui_version")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "v1".into());
        if heading(&version).is_none() {
            return Err(Error::Config {
                name: "myhero_ui_version",
                problem: format!("{version:?} is not v1, v2 or v3"),
            });
        }
        let port = match lookup("PORT") {
            None => 80,
            Some(p) => p.parse().map_err(|_| Error::Config {
                name: "PORT",
                problem: format!("{p:?} is not a port number"),
            })?,
        };
        Ok(Config {
            app_server,
            app_key,
            version,
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        })
    }
}

/// The page with its heading filled in.
pub fn render(config: &Config) -> String {
    PAGE.replace(
        "__MYHERO_HEADING__",
        heading(&config.version).unwrap_or_default(),
    )
}

/// `config.js`: the browser's settings as a JSON object (with `<` escaped).
pub fn config_js(config: &Config) -> String {
    let settings = serde_json::json!({ "app_server": config.app_server, "app_key": config.app_key, "version": config.version });
    format!(
        "window.MYHERO = {};\n",
        settings.to_string().replace('<', "\\u003c")
    )
}

/// The UI's router: the page at `/` and `/index.html`.
pub fn router(config: &Config) -> Router {
    let page: Arc<str> = render(config).into();
    let js: Arc<str> = config_js(config).into();
    let serve = move || {
        let page = page.clone();
        async move {
            (
                [(header::CACHE_CONTROL, "no-store")],
                Html(page.to_string()),
            )
                .into_response()
        }
    };
    let script = move || {
        let js = js.clone();
        async move {
            (
                [
                    (header::CONTENT_TYPE, "text/javascript"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                js.to_string(),
            )
                .into_response()
        }
    };
    Router::new()
        .route("/", get(serve.clone()))
        .route("/index.html", get(serve))
        .route("/config.js", get(script))
        .layer(middleware::from_fn(log_request))
}

async fn log_request(req: Request, next: Next) -> Response {
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let resp = next.run(req).await;
    tracing::info!(%method, %uri, status = resp.status().as_u16(), "request");
    resp
}

/// Serves the page on `config.listen` until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let addr = config.listen;
    let io = |source| Error::Serve { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(io)?;
    tracing::info!(addr = %listener.local_addr().map_err(io)?, version = %config.version, app = %config.app_server, "myhero-ui listening");
    axum::serve(listener, router(&config))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(io)?;
    tracing::info!("myhero-ui stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        Config::from_lookup(|n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn each_version_renders_its_heading_and_settings() {
        for (v, h) in [
            ("v1", "Make ONE voice heard!!!"),
            ("v2", "Make TWO voices heard!!!"),
            ("v3", "Make THREE voices heard!!!"),
        ] {
            let c = config(&[
                ("myhero_app_server", "http://app.example/"),
                ("myhero_app_key", "Secure</script>App"),
                ("myhero_ui_version", v),
            ])
            .unwrap();
            let page = render(&c);
            assert!(
                page.contains(&format!("<h1 id=\"heading\">{h}</h1>")),
                "{v}"
            );
            let js = config_js(&c);
            assert!(js.contains("\"app_server\":\"http://app.example\""), "{js}");
            assert!(
                !js.contains("Secure</script>App"),
                "settings must not close a script element"
            );
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let e = config(&[("myhero_app_key", "k")]).unwrap_err().to_string();
        assert!(e.contains("myhero_app_server"), "{e}");
        let e = config(&[
            ("myhero_app_server", "x"),
            ("myhero_app_key", "k"),
            ("myhero_ui_version", "v9"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("v9"), "{e}");
    }
}
