//! The ports file (`--ports_file_dir`, `ports_file_dir`): the Go server writes
//! `<basename of argv[0]>_<pid>.ports` into that folder once its listeners are up, with the
//! URLs it listens on as JSON, and removes it at exit. Test harnesses and orchestration wait
//! for it (the official JavaScript client's test launcher among them).

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// What the ports file lists: the client listener and the monitor, with their schemes.
pub struct Listeners {
    pub client: SocketAddr,
    /// `tls` instead of `nats` when clients must use TLS (INFO's `tls_required`).
    pub client_tls: bool,
    pub monitor: Option<SocketAddr>,
    pub monitor_https: bool,
    /// The WebSocket listener and its scheme (`ws`, `wss`).
    pub websocket: Option<(SocketAddr, &'static str)>,
}

/// The file's path: `<dir>/<basename of argv[0]>_<pid>.ports`, as Go names it.
pub fn path(dir: &str) -> PathBuf {
    let program = std::env::args_os()
        .next()
        .map(|arg0| {
            Path::new(&arg0)
                .file_name()
                .map_or_else(|| arg0.clone(), |name| name.to_os_string())
        })
        .unwrap_or_else(|| "natrix".into());
    let mut name = program;
    name.push(format!("_{}.ports", std::process::id()));
    Path::new(dir).join(name)
}

/// Go's JSON (`{"nats":[...],"monitoring":[...]}`, keys in its order, empty lists left out).
pub fn contents(listeners: &Listeners) -> String {
    let client_scheme = if listeners.client_tls { "tls" } else { "nats" };
    let mut fields = vec![("nats", urls(client_scheme, listeners.client))];
    if let Some(monitor) = listeners.monitor {
        let scheme = if listeners.monitor_https {
            "https"
        } else {
            "http"
        };
        fields.push(("monitoring", urls(scheme, monitor)));
    }
    if let Some((websocket, scheme)) = listeners.websocket {
        fields.push(("websocket", urls(scheme, websocket)));
    }
    let body: Vec<String> = fields
        .into_iter()
        .filter(|(_, urls)| !urls.is_empty())
        .map(|(key, urls)| format!("{key:?}:{}", serde_json::Value::from(urls)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// Writes the file (mode 0666 before the umask, as Go's `os.WriteFile`).
pub fn write(dir: &str, listeners: &Listeners) -> std::io::Result<PathBuf> {
    let path = path(dir);
    std::fs::write(&path, contents(listeners))?;
    Ok(path)
}

/// Go's `formatURL`: `scheme://host:port` for the listener's address, or, for a wildcard
/// address, for every address of every network interface (Go's `resolveHostPorts`).
fn urls(scheme: &str, address: SocketAddr) -> Vec<String> {
    let port = address.port();
    let hosts = if address.ip().is_unspecified() {
        interface_addresses()
    } else {
        vec![address.ip().to_canonical()]
    };
    hosts
        .into_iter()
        .map(|ip| format!("{scheme}://{}", SocketAddr::new(ip, port)))
        .collect()
}

/// The IP addresses of the host's interfaces, interface by interface (in index order, IPv4
/// before IPv6 within one), as Go's `net.Interfaces` and `Addrs` list them.
fn interface_addresses() -> Vec<IpAddr> {
    let mut found: Vec<(u32, IpAddr)> = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `list`, which freeifaddrs releases below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Vec::new();
    }
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list getifaddrs returned, not yet freed.
        let current = unsafe { &*entry };
        entry = current.ifa_next;
        if current.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr whose family says its type.
        let family = i32::from(unsafe { (*current.ifa_addr).sa_family });
        let ip = match family {
            libc::AF_INET => {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let inet = unsafe { &*(current.ifa_addr as *const libc::sockaddr_in) };
                IpAddr::V4(Ipv4Addr::from(u32::from_be(inet.sin_addr.s_addr)))
            }
            libc::AF_INET6 => {
                // SAFETY: an AF_INET6 address is a sockaddr_in6.
                let inet6 = unsafe { &*(current.ifa_addr as *const libc::sockaddr_in6) };
                IpAddr::V6(Ipv6Addr::from(inet6.sin6_addr.s6_addr))
            }
            _ => continue,
        };
        // SAFETY: ifa_name is a NUL-terminated interface name owned by the list.
        let name = unsafe { CStr::from_ptr(current.ifa_name) };
        // SAFETY: if_nametoindex reads the NUL-terminated name only.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        found.push((index, ip));
    }
    // SAFETY: `list` came from getifaddrs and is freed once; no reference into it survives.
    unsafe { libc::freeifaddrs(list) };
    // getifaddrs lists every IPv4 address before every IPv6 one; a stable sort by interface
    // index gives Go's order.
    found.sort_by_key(|(index, _)| *index);
    found.into_iter().map(|(_, ip)| ip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_named_after_the_program_and_pid_and_holds_go_json() {
        let name = path("/tmp/x");
        let name = name.to_string_lossy();
        assert!(name.starts_with("/tmp/x/"), "{name}");
        assert!(
            name.ends_with(&format!("_{}.ports", std::process::id())),
            "{name}"
        );
        let listeners = Listeners {
            client: "127.0.0.1:4222".parse().expect("addr"),
            client_tls: true,
            monitor: Some("127.0.0.1:8222".parse().expect("addr")),
            monitor_https: false,
            websocket: None,
        };
        assert_eq!(
            contents(&listeners),
            r#"{"nats":["tls://127.0.0.1:4222"],"monitoring":["http://127.0.0.1:8222"]}"#
        );
        let wildcard = Listeners {
            client: "[::]:4222".parse().expect("addr"),
            client_tls: false,
            monitor: None,
            monitor_https: false,
            websocket: None,
        };
        assert!(contents(&wildcard).contains("nats://127.0.0.1:4222"));
        assert!(!contents(&wildcard).contains("monitoring"));
    }
}
