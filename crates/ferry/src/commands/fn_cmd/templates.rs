//! The function templates `ferry fn new` writes: each a Dockerfile built
//! `FROM scratch` (nothing is pulled), a Knative Service manifest
//! `service.yaml` starting at zero, and the function's source.
//!
//! - `http-sh`: a shell script answering every request to `/` as CGI under
//!   busybox httpd; the project carries the host's static busybox
//!   (`/bin/busybox`), copied in by `fn new`.
//! - `http-rust`: a std-only Rust HTTP server (keep-alive, `PORT`),
//!   compiled on the host as a static binary by `fn deploy` (`cargo build
//!   --release` with `-C target-feature=+crt-static`, copied to `fn-bin`)
//!   and copied into the image: ferry's builder runs RUN steps in the image's own rootfs and
//!   cannot pull a Rust toolchain image here.

/// One file of a template: path in the project, contents, executable.
pub type File = (&'static str, String, bool);

/// The template names, as `--template` takes them.
pub const NAMES: [&str; 2] = ["http-sh", "http-rust"];

/// The files of template `name` for function `fname`.
pub fn files(name: &str, fname: &str) -> Option<Vec<File>> {
    let mut out = vec![("service.yaml", service(fname), false)];
    match name {
        "http-sh" => {
            out.push(("Dockerfile", SH_DOCKERFILE.to_string(), false));
            out.push(("handler.sh", SH_HANDLER.replace("{name}", fname), true));
        }
        "http-rust" => {
            out.push((
                "Dockerfile",
                RUST_DOCKERFILE.replace("{name}", fname),
                false,
            ));
            out.push(("Cargo.toml", RUST_CARGO.replace("{name}", fname), false));
            out.push(("src/main.rs", RUST_MAIN.replace("{name}", fname), false));
            out.push((".dockerignore", "target\n".to_string(), false));
        }
        _ => return None,
    }
    Some(out)
}

/// The Knative Service: no pod until the first request (the image is
/// pre-warmed), back to zero after a minute without one.
fn service(name: &str) -> String {
    format!(
        r#"# The function's Knative Service. `ferry fn deploy` builds the image,
# pushes it to the region's registry and applies this file with `image`
# set to what it pushed.
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {name}
spec:
  template:
    metadata:
      annotations:
        # No pod until the first request; the image is pulled and unpacked
        # on the region beforehand (ferry.dev/prewarm, on by default).
        autoscaling.knative.dev/initial-scale: "0"
        # Back to zero after this long without a request.
        autoscaling.knative.dev/window: "60s"
    spec:
      containers:
      - image: fn/{name}
        ports:
        - containerPort: 8080
"#
    )
}

const SH_DOCKERFILE: &str = r#"# busybox httpd runs handler.sh (as /www/cgi-bin/index.cgi) for requests to /.
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY handler.sh /www/cgi-bin/index.cgi
EXPOSE 8080
# The container's PID 1 ignores signals it has no handler for: the shell's
# trap makes SIGTERM stop httpd at once instead of after the grace period.
CMD ["sh", "-c", "trap 'kill $! 2>/dev/null; exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
"#;

const SH_HANDLER: &str = r#"#!/bin/sh
# The function {name}: CGI under busybox httpd. The request body is on
# stdin (CONTENT_LENGTH bytes); print headers, a blank line, the answer.
body=""
[ -n "$CONTENT_LENGTH" ] && body=$(head -c "$CONTENT_LENGTH")
printf 'Content-Type: text/plain\r\n\r\n'
echo "hello from {name} (sh): ${body:-no data}"
"#;

const RUST_DOCKERFILE: &str = r#"# The binary is built on the host by `ferry fn deploy` (static, as fn-bin).
FROM scratch
COPY fn-bin /fn
EXPOSE 8080
CMD ["/fn"]
"#;

const RUST_CARGO: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"

[dependencies]

[profile.release]
opt-level = 3
strip = true

[workspace]
"#;

const RUST_MAIN: &str = r#"//! The function {name}: a small HTTP/1.1 server (std only, keep-alive)
//! on $PORT answering every request with a line naming the request body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

fn handle(body: &[u8]) -> String {
    let data = String::from_utf8_lossy(body);
    let data = if data.is_empty() { "no data".into() } else { data };
    format!("hello from {name} (rust): {data}\n")
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let http10 = line.trim_end().ends_with("HTTP/1.0");
        let (mut length, mut close) = (0usize, http10);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap_or((h, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().unwrap_or(0),
                "connection" => close = v.trim().eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        r.read_exact(&mut body)?;
        let answer = handle(&body);
        // One write per response: several small ones would wait for the
        // client's delayed ACK (Nagle), 40 ms each.
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{answer}",
            answer.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        out.write_all(response.as_bytes())?;
        if close {
            return Ok(());
        }
    }
}

// A container's PID 1 ignores signals it has no handler for: without this
// SIGTERM would be ignored and every scale-down would wait out the pod's
// grace period.
extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn _exit(status: i32) -> !;
}

extern "C" fn on_term(_: i32) {
    // Only async-signal-safe calls in a handler.
    unsafe { _exit(0) }
}

fn main() {
    const SIGTERM: i32 = 15;
    unsafe { signal(SIGTERM, on_term) };
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = TcpListener::bind(format!("0.0.0.0:{port}")).expect("bind");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || serve(stream));
    }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_a_dockerfile_and_a_service_named_after_the_function() {
        for t in NAMES {
            let files = files(t, "hello").unwrap();
            let get = |p: &str| files.iter().find(|f| f.0 == p).map(|f| f.1.clone());
            assert!(get("Dockerfile").unwrap().starts_with('#'), "{t}");
            assert!(
                get("service.yaml").unwrap().contains("name: hello\n"),
                "{t}"
            );
        }
        assert!(files("http-cobol", "x").is_none());
    }
}
