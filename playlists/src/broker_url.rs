//! The broker address as players and the controller are given it: `mqtt://host[:port]`
//! (`tcp://` is accepted as a synonym; the port defaults to 1883). It travels in the enrolment
//! response and the configuration files (`docs/protocol.md` §7).

/// The default MQTT port.
pub const DEFAULT_PORT: u16 = 1883;

/// Why a broker URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("broker URL {url:?} is not valid: {why}")]
pub struct BrokerUrlError {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Splits a broker URL into host (IPv6 without brackets) and port.
pub fn parse(url: &str) -> Result<(String, u16), BrokerUrlError> {
    let bad = |why| BrokerUrlError {
        url: url.to_string(),
        why,
    };
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| bad("expected mqtt://host:port"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
        return Err(bad("expected mqtt://host:port with nothing after the port"));
    }
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in IPv6 host"))?;
            match after {
                "" => (h, None),
                p => (
                    h,
                    Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| bad("expected :port after ]"))?,
                    ),
                ),
            }
        }
        None => match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        },
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("port is not a number 1-65535"))?,
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_urls() {
        for (url, host, port) in [
            ("mqtt://127.0.0.1:1883", "127.0.0.1", 1883),
            ("mqtt://127.0.0.1:1884", "127.0.0.1", 1884),
            ("tcp://broker.local", "broker.local", 1883),
            ("mqtt://broker.local", "broker.local", 1883),
            ("tcp://h:1/", "h", 1),
            ("mqtt://[::1]:1884/", "::1", 1884),
            ("mqtt://[::1]:1885", "::1", 1885),
            ("mqtt://h:1884", "h", 1884),
            ("mqtt://h", "h", 1883),
        ] {
            assert_eq!(parse(url).unwrap(), (host.to_string(), port), "{url}");
        }
    }

    #[test]
    fn refused_urls_say_why() {
        for bad in [
            "",
            "h:1",
            "mqtts://h:1",
            "http://h:1",
            "mqtt://",
            "mqtt://h:x",
            "mqtt://h:0",
            "mqtt://u@h:1",
            "mqtt://h:1/x",
            "mqtt://h:1/path",
            "mqtt://h:1?x",
            "mqtt://:1",
            "mqtt://[::1",
            "mqtt://[::1]x",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }
}
