//! Open HTTP connections, counted overall and per client address: one past either cap is
//! closed at once, so slow or many clients cannot hold the API or take the file descriptors the
//! MQTT broker, the database and media files need (docs/security.md §3).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The connection counts under the caps of [`crate::config::HttpLimits`].
#[derive(Debug)]
pub struct ConnectionLimiter {
    max: usize,
    max_per_addr: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_addr: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionSlot {
    limiter: Arc<ConnectionLimiter>,
    addr: IpAddr,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The overall cap is reached.
    #[error("{0} HTTP connections are open, the most allowed (http_max_connections)")]
    Total(usize),
    /// This address's cap is reached.
    #[error("{0} HTTP connections from this address are open, the most allowed (http_max_connections_per_addr)")]
    PerAddress(usize),
}

impl ConnectionLimiter {
    /// A limiter admitting `max` connections, `max_per_addr` of them from one address.
    pub fn new(max: usize, max_per_addr: usize) -> Arc<ConnectionLimiter> {
        Arc::new(ConnectionLimiter {
            max,
            max_per_addr,
            open: Mutex::new(Open::default()),
        })
    }

    /// Admits a connection from `addr`, or says which cap it would break.
    pub fn admit(self: &Arc<Self>, addr: IpAddr) -> Result<ConnectionSlot, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= self.max {
            return Err(Refused::Total(self.max));
        }
        let n = open.per_addr.entry(addr).or_insert(0);
        if *n >= self.max_per_addr {
            return Err(Refused::PerAddress(self.max_per_addr));
        }
        *n += 1;
        open.total += 1;
        Ok(ConnectionSlot {
            limiter: self.clone(),
            addr,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_addr.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                open.per_addr.remove(&self.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_overall_and_frees_on_drop() {
        let l = ConnectionLimiter::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), Refused::PerAddress(2));
        let _b1 = l.admit(b).unwrap();
        assert_eq!(l.admit(b).unwrap_err(), Refused::Total(3));
        drop(a1);
        assert_eq!(l.open(), 2);
        let _a3 = l.admit(a).unwrap();
        assert_eq!(l.open(), 3);
    }
}
