//! TCP inside pods' network namespaces: connect to an address in a pod, and
//! listen on an address in a pod. The socket is created by a thread that
//! entered the namespace; the connect and accept then run on tokio.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::sys::in_netns;

/// Connects to `addr` inside the namespace at `netns` (`None`: the host's).
pub async fn dial(
    netns: Option<&Path>,
    addr: SocketAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let socket = match netns {
        None => {
            if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            }
        }
        Some(ns) => {
            let v4 = addr.is_ipv4();
            let std_sock = in_netns(ns.to_path_buf(), move || {
                let domain = if v4 {
                    socket2::Domain::IPV4
                } else {
                    socket2::Domain::IPV6
                };
                let s = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
                s.set_nonblocking(true)?;
                Ok(std::net::TcpStream::from(s))
            })
            .await?;
            TcpSocket::from_std_stream(std_sock)
        }
    };
    match tokio::time::timeout(timeout, socket.connect(addr)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect to {addr} timed out"),
        )),
    }
}

/// Listens on `addr` inside the namespace at `netns`.
pub async fn listen(netns: &Path, addr: SocketAddr) -> io::Result<TcpListener> {
    let l = in_netns(netns.to_path_buf(), move || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        s.set_reuse_address(true)?;
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        s.listen(1024)?;
        Ok(std::net::TcpListener::from(s))
    })
    .await?;
    TcpListener::from_std(l)
}
