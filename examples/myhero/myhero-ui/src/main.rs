//! myhero-ui binary: reads the tutorial's environment variables, logs to
//! stdout and serves until SIGTERM or Ctrl-C.
#![forbid(unsafe_code)]

#[path = "../../service_main.rs"]
mod service_main;

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_main::init_logging();
    let config = myhero_ui::Config::from_env().context("myhero-ui configuration")?;
    myhero_ui::run(config, service_main::shutdown())
        .await
        .context("myhero-ui")
}
