//! The login page: a token in, a session cookie out. The token field is a
//! password field the browser does not autocomplete; the token is never
//! echoed back.

use std::fmt::Write as _;

use crate::html::Esc;

/// The login form's body; `error` explains a refused token.
pub fn login(region: &str, next: &str, error: Option<&str>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<section class=\"login\"><h1>Log in to {}</h1>",
        Esc(region)
    );
    if let Some(e) = error {
        let _ = write!(out, "<p class=\"error\" role=\"alert\">{}</p>", Esc(e));
    }
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/ui/login\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label for=\"token\">API token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required autofocus \
         spellcheck=\"false\" aria-describedby=\"token-help\">\
         <p id=\"token-help\" class=\"help\">A token from <code>ferry token create</code>, \
         or the admin token <code>ferry up</code> wrote to the client config. \
         It is exchanged for a session; the browser never stores it.</p>\
         <button type=\"submit\">Log in</button></form></section>",
        Esc(next)
    );
    out
}
