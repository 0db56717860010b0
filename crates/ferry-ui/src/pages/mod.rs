//! The pages' bodies, rendered from data (pure): each function returns
//! HTML for `html::layout` to wrap, or a fragment the live stream sends to
//! replace the element of the same id.

pub mod app;
pub mod apps;
pub mod delivery_map;
pub mod diff;
pub mod login;
pub mod overview;
pub mod pipelines;
pub mod pods;
pub mod registry;
pub mod serverless;
pub mod traffic;

/// An error page's body.
pub fn error(status: u16, message: &str) -> String {
    format!(
        "<h1>{status}</h1><p class=\"error\" role=\"alert\">{}</p><p><a href=\"/ui\">Back to the overview</a></p>",
        crate::html::Esc(message)
    )
}
