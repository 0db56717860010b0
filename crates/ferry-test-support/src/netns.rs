//! A network namespace made by a test, deleted on drop, and loopback
//! forwarders across it. A Kubernetes node runs inside the namespace, so pod
//! and node addresses exist only there; the forwarders let it reach a host
//! loopback service (the API server, a registry) at the same `127.0.0.1`
//! address, and let the test reach an address inside. A socket stays in the
//! namespace it was created in, so each listener is made by a short-lived
//! thread that entered the namespace, and every copy loop runs outside.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread;

use nix::sched::{CloneFlags, setns};

/// A named network namespace (`ip netns add`), with `lo` up.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name`, deleting a stale one of that name first.
    pub fn create(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        run_ip(&["netns", "add", name]);
        run_ip(&["-n", name, "link", "set", "lo", "up"]);
        Netns {
            name: name.to_string(),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `cmd` inside the namespace (`ip netns exec`).
    pub fn exec(&self, cmd: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .expect("run ip netns exec")
    }

    /// A command prefixed to run in the namespace (network only: the
    /// process shares the host's mounts, as a node's daemons must).
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path().display()))
            .arg("--")
            .arg(program);
        c
    }

    /// Makes the host's `127.0.0.1:<port>` of `host` reachable inside the
    /// namespace at the same address.
    pub fn forward_in(&self, host: SocketAddr) {
        let listener = self.bind_inside(host);
        spawn_forwarder(listener, move || TcpStream::connect(host));
    }

    /// A host loopback address that reaches `inside` (an address inside the
    /// namespace, such as a pod's).
    pub fn forward_out(&self, inside: SocketAddr) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a host loopback port");
        let addr = listener.local_addr().expect("local addr");
        let path = self.path();
        spawn_forwarder(listener, move || connect_inside(&path, inside));
        addr
    }

    fn bind_inside(&self, addr: SocketAddr) -> TcpListener {
        let path = self.path();
        thread::spawn(move || -> io::Result<TcpListener> {
            enter(&path)?;
            TcpListener::bind(addr)
        })
        .join()
        .expect("bind thread")
        .unwrap_or_else(|e| panic!("bind {addr} inside {}: {e}", self.name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn run_ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Moves the calling thread into the namespace at `path`.
fn enter(path: &std::path::Path) -> io::Result<()> {
    let f = File::open(path)?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// Connects to `addr` from a thread inside the namespace at `path`.
fn connect_inside(path: &std::path::Path, addr: SocketAddr) -> io::Result<TcpStream> {
    let path = path.to_path_buf();
    thread::spawn(move || {
        enter(&path)?;
        TcpStream::connect(addr)
    })
    .join()
    .map_err(|_| io::Error::other("connect thread panicked"))?
}

/// Accepts on `listener` for the life of the process; each connection is
/// joined to a stream from `connect` and copied both ways.
fn spawn_forwarder<F>(listener: TcpListener, connect: F)
where
    F: Fn() -> io::Result<TcpStream> + Send + 'static,
{
    thread::spawn(move || {
        for down in listener.incoming().flatten() {
            let Ok(up) = connect() else { continue };
            let (Ok(down2), Ok(up2)) = (down.try_clone(), up.try_clone()) else {
                continue;
            };
            thread::spawn(move || pipe(down, up));
            thread::spawn(move || pipe(up2, down2));
        }
    });
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Write);
}
