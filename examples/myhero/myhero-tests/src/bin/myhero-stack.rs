//! myhero-stack: one binary that runs any myhero service, chosen by its
//! first argument (`data`, `app`, `ernst`, `ui`), configured by the same
//! environment variables as the per-service binaries. The end-to-end tests
//! run it because Cargo only hands a package's tests its own binaries.
#![forbid(unsafe_code)]

#[path = "../../../service_main.rs"]
mod service_main;

use anyhow::{Context, bail};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_main::init_logging();
    let which = std::env::args().nth(1).unwrap_or_default();
    match which.as_str() {
        "data" => {
            myhero_data::run(
                myhero_data::Config::from_env().context("myhero-data configuration")?,
                service_main::shutdown(),
            )
            .await?
        }
        "app" => {
            myhero_app::run(
                myhero_app::Config::from_env().context("myhero-app configuration")?,
                service_main::shutdown(),
            )
            .await?
        }
        "ernst" => {
            myhero_ernst::run(
                myhero_ernst::Config::from_env().context("myhero-ernst configuration")?,
                service_main::shutdown(),
            )
            .await?
        }
        "ui" => {
            myhero_ui::run(
                myhero_ui::Config::from_env().context("myhero-ui configuration")?,
                service_main::shutdown(),
            )
            .await?
        }
        other => bail!("unknown service {other:?}; run `myhero-stack data|app|ernst|ui`"),
    }
    Ok(())
}
