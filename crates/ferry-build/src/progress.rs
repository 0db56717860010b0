//! Build progress as events, so the CLI can print `docker build`-like step
//! lines and the delivery engine can log or count them.

/// Something that happened during a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A stage starts (`index` is its position in the Dockerfile).
    Stage {
        index: usize,
        name: Option<String>,
        base: String,
    },
    /// Step `n` of `total` in the stage starts.
    Step {
        stage: usize,
        n: usize,
        total: usize,
        text: String,
    },
    /// The step's result came from the cache.
    Cached,
    /// A line of a RUN step's output.
    Output(String),
    /// The step produced a layer.
    Layer { digest: String, size: u64 },
    /// The base image is being pulled.
    Pulling(String),
    /// Something the user should know (an unused `--build-arg`).
    Warning(String),
    /// The image is complete.
    Done { digest: String },
}

/// Receives events; must be cheap.
pub type Progress<'a> = &'a (dyn Fn(Event) + Sync);

/// Formats an event the way `docker build` prints steps, one line each.
pub fn render(ev: &Event) -> String {
    match ev {
        Event::Stage {
            index,
            name: Some(n),
            base,
        } => format!("[stage {index}: {n}] FROM {base}"),
        Event::Stage {
            index,
            name: None,
            base,
        } => format!("[stage {index}] FROM {base}"),
        Event::Step { n, total, text, .. } => format!("STEP {n}/{total}: {text}"),
        Event::Cached => " ---> Using cache".to_string(),
        Event::Output(l) => format!("  | {l}"),
        Event::Layer { digest, size } => format!(" ---> layer {} ({size} bytes)", short(digest)),
        Event::Pulling(r) => format!(" ---> pulling {r}"),
        Event::Warning(w) => format!("WARNING: {w}"),
        Event::Done { digest } => format!("built {digest}"),
    }
}

/// `sha256:0123456789ab...` → `0123456789ab`.
pub fn short(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    &hex[..hex.len().min(12)]
}
