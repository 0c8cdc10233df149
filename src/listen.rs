//! Listening sockets with the Go server's rules: one server per port, dual-stack wildcards,
//! and Go's error texts.
//!
//! Owns: choosing the socket address for a configured host and port, binding the shards'
//! listeners so that no second process can share their port, and the monitoring listener.
//! Must not touch: accepting connections (the shards and the monitor do that).
//!
//! Exclusive ownership with per-shard listeners: every shard has its own listening socket on
//! the client port (SO_REUSEPORT, so the kernel spreads connections), and SO_REUSEPORT would
//! also let a second Natrix started on the same port join the group and take half of the new
//! clients. So the first socket binds and listens *without* SO_REUSEPORT: the kernel then
//! refuses it while any other socket listens on the port, whoever owns it, exactly as a Go
//! server's plain listener is refused. Only once it listens does it get SO_REUSEPORT, and the
//! other shards' sockets join it. A second Natrix's first socket, never SO_REUSEPORT, always
//! conflicts with ours (and ours with its, whichever listens first), so exactly one of two
//! processes racing for a port wins. A program of the same user that binds the port with
//! SO_REUSEPORT on purpose can still join; nothing that starts a NATS server does.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

use crate::errno::go_errno_text;

/// The listen backlog (Go uses the kernel's `somaxconn`, which caps this anyway).
const BACKLOG: i32 = 4096;

/// A listening socket that could not be set up, in Go's words: `listen tcp HOST:PORT: bind:
/// address already in use`. Not recoverable: the port belongs to someone else or the address
/// is wrong.
#[derive(Debug, thiserror::Error)]
#[error("listen tcp {host_port}: {operation}: {reason}")]
pub struct ListenError {
    /// `host:port` as configured (Go's `net.JoinHostPort`).
    pub host_port: String,
    /// The system call that failed (`bind`, `listen`, `socket`, or `lookup` for a bad host).
    pub operation: &'static str,
    /// The reason as Go's `syscall.Errno` spells it (`address already in use`).
    pub reason: String,
}

/// Go's `net.JoinHostPort`: brackets around an IPv6 host.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The socket address Go's `net.Listen("tcp", host:port)` binds: a wildcard host (`0.0.0.0`,
/// `::` or empty) is the IPv6 wildcard with IPv4-mapped addresses, so the listener takes IPv4
/// and IPv6 clients alike (on a host without IPv6, the IPv4 wildcard); any other host is
/// resolved and its first IPv4 address used (its first address when it has none).
pub fn listen_address(host: &str, port: u16) -> Result<(SocketAddr, bool), ListenError> {
    let host_port = join_host_port(host, port);
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let wildcard = host.is_empty() || literal.is_some_and(|ip| ip.is_unspecified());
    if wildcard {
        return Ok((
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            true,
        ));
    }
    if let Some(ip) = literal {
        return Ok((SocketAddr::new(ip, port), false));
    }
    // Go listens on the first IPv4 address of a name, else its first address.
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|error| ListenError {
            host_port: host_port.clone(),
            operation: "lookup",
            reason: go_errno_text(&error),
        })?
        .collect();
    let address = addresses
        .iter()
        .find(|address| address.is_ipv4())
        .or_else(|| addresses.first())
        .copied()
        .ok_or_else(|| ListenError {
            host_port,
            operation: "lookup",
            reason: "no such host".into(),
        })?;
    Ok((address, false))
}

/// Binds `count` listening sockets on one port for the shards (see the module doc): the first
/// exclusively, the others joining it with SO_REUSEPORT. Port 0 picks a free port.
pub fn bind_shard_listeners(
    host: &str,
    port: u16,
    count: usize,
) -> Result<Vec<TcpListener>, ListenError> {
    let host_port = join_host_port(host, port);
    let (address, dual_stack) = listen_address(host, port)?;
    let first = bind_exclusive(address, dual_stack, &host_port)?;
    let fail = |operation: &'static str| {
        let host_port = host_port.clone();
        move |error: io::Error| ListenError {
            host_port,
            operation,
            reason: go_errno_text(&error),
        }
    };
    let socket = Socket::from(first);
    // Only now that the port is ours may the other shards' sockets share it.
    socket.set_reuse_port(true).map_err(fail("setsockopt"))?;
    let bound = socket.local_addr().map_err(fail("getsockname"))?;
    let bound = bound
        .as_socket()
        .ok_or_else(|| fail("getsockname")(io::Error::other("not an inet socket")))?;
    let mut listeners = vec![TcpListener::from(socket)];
    for _ in 1..count {
        let socket = new_socket(bound, dual_stack).map_err(fail("socket"))?;
        socket.set_reuse_port(true).map_err(fail("setsockopt"))?;
        socket.bind(&bound.into()).map_err(fail("bind"))?;
        socket.listen(BACKLOG).map_err(fail("listen"))?;
        listeners.push(socket.into());
    }
    Ok(listeners)
}

/// One listening socket no other process can share (the monitoring port), at Go's address
/// for `host`; port 0 picks a free port.
pub fn bind_single(host: &str, port: u16) -> Result<TcpListener, ListenError> {
    let host_port = join_host_port(host, port);
    let (address, dual_stack) = listen_address(host, port)?;
    bind_exclusive(address, dual_stack, &host_port)
}

/// Binds and listens without SO_REUSEPORT. SO_REUSEADDR (as Go sets it) only lets the port be
/// taken while connections of a previous server linger in TIME_WAIT; it never admits a second
/// listener.
fn bind_exclusive(
    address: SocketAddr,
    dual_stack: bool,
    host_port: &str,
) -> Result<TcpListener, ListenError> {
    let fail = |operation: &'static str| {
        move |error: io::Error| ListenError {
            host_port: host_port.to_string(),
            operation,
            reason: go_errno_text(&error),
        }
    };
    let socket = match new_socket(address, dual_stack) {
        Ok(socket) => socket,
        // No IPv6 on this host: the wildcard is IPv4's, as Go falls back.
        Err(_) if dual_stack => {
            let ipv4 = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), address.port());
            new_socket(ipv4, false).map_err(fail("socket"))?
        }
        Err(error) => return Err(fail("socket")(error)),
    };
    let target = match socket.domain() {
        Ok(domain) if domain == Domain::IPV4 && address.is_ipv6() => {
            SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), address.port())
        }
        _ => address,
    };
    socket.bind(&target.into()).map_err(fail("bind"))?;
    socket.listen(BACKLOG).map_err(fail("listen"))?;
    Ok(socket.into())
}

fn new_socket(address: SocketAddr, dual_stack: bool) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if dual_stack && address.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_hosts_listen_dual_stack_and_others_as_written() {
        for host in ["0.0.0.0", "::", "[::]", ""] {
            let (address, dual) = listen_address(host, 4222).expect("wildcard");
            assert_eq!(address, "[::]:4222".parse().expect("addr"), "{host}");
            assert!(dual, "{host}");
        }
        let (address, dual) = listen_address("127.0.0.1", 4222).expect("ipv4");
        assert_eq!(address, "127.0.0.1:4222".parse().expect("addr"));
        assert!(!dual);
        assert_eq!(join_host_port("::1", 4222), "[::1]:4222");
    }

    #[test]
    fn a_second_group_cannot_take_a_port_the_first_listens_on() {
        let ours = bind_shard_listeners("127.0.0.1", 0, 3).expect("free port");
        let port = ours[0].local_addr().expect("addr").port();
        let error = bind_shard_listeners("127.0.0.1", port, 2).expect_err("port is taken");
        assert_eq!(
            error.to_string(),
            format!("listen tcp 127.0.0.1:{port}: bind: address already in use")
        );
        assert!(bind_single("127.0.0.1", port).is_err());
        drop(ours);
        assert!(
            bind_single("127.0.0.1", port).is_ok(),
            "free again once closed"
        );
    }
}
