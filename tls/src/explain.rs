//! A TLS failure in words an operator can act on (docs/security.md §3 rows 60–64).

use std::error::Error;

use rustls::{AlertDescription, CertificateError};

use crate::TlsError;

/// What a TLS client says when the other end does not speak TLS.
pub const NOT_TLS: &str = "server did not answer TLS: is this a plain mqtt:// or http:// port?";
/// What a plain client says when the other end speaks TLS.
pub const IS_TLS: &str =
    "server answered with TLS to a plain connection: use mqtts:// or https:// for this port";

/// Walks `err` and its sources, finds the TLS failure in it, and says what it is: expired or
/// not yet valid certificate, wrong host name (with the names the certificate has), unknown
/// issuer, pin mismatch (with both pins), TLS spoken to a plain port and the reverse.
/// Anything else comes back as the chain of messages joined with `": "`.
pub fn explain(err: &(dyn Error + 'static)) -> String {
    let mut texts = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(words) = one(e) {
            return words;
        }
        let text = e.to_string();
        // Many errors repeat their source in their own message: keep it once.
        if !texts.last().is_some_and(|t: &String| t.contains(&text)) {
            texts.push(text);
        }
        cur = e.source();
    }
    let all = texts.join(": ");
    from_text(&all).map(str::to_string).unwrap_or(all)
}

fn one(e: &(dyn Error + 'static)) -> Option<String> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(rustls_words(r));
    }
    if let Some(t @ TlsError::PinMismatch { .. }) = e.downcast_ref::<TlsError>() {
        return Some(t.to_string());
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        // io::Error::source skips its own payload: look at it directly.
        if let Some(inner) = io.get_ref() {
            let inner: &(dyn Error + 'static) = inner;
            if let Some(words) = one(inner) {
                return Some(words);
            }
        }
        if io.kind() == std::io::ErrorKind::UnexpectedEof && io.to_string().contains("handshake") {
            return Some(NOT_TLS.to_string());
        }
    }
    None
}

fn rustls_words(e: &rustls::Error) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => certificate_words(c),
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => NOT_TLS.to_string(),
        E::AlertReceived(
            a @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown),
        ) => format!("the other side refused our certificate ({a:?})"),
        E::AlertReceived(AlertDescription::ProtocolVersion) | E::PeerIncompatible(_) => {
            format!("no TLS version or cipher in common (TLS 1.3 or 1.2 needed): {e}")
        }
        other => format!("TLS failed: {other}"),
    }
}

fn certificate_words(c: &CertificateError) -> String {
    use CertificateError as C;
    const DAY: u64 = 86_400;
    match c {
        C::Expired => "the server's certificate has expired".into(),
        C::ExpiredContext { time, not_after } => format!(
            "the server's certificate has expired ({} days ago)",
            time.as_secs().saturating_sub(not_after.as_secs()) / DAY
        ),
        C::NotValidYet => {
            "the server's certificate is not yet valid: check this machine's clock".into()
        }
        C::NotValidYetContext { time, not_before } => format!(
            "the server's certificate is not yet valid (valid in {} days): check this machine's clock",
            not_before.as_secs().saturating_sub(time.as_secs()).div_ceil(DAY)
        ),
        C::NotValidForName => "wrong host name: the server's certificate is not for the host name dialled".into(),
        C::NotValidForNameContext { expected, presented } => format!(
            "wrong host name: the server's certificate is for {}, not for {}",
            if presented.is_empty() { "no name".to_string() } else { presented.join(", ") },
            expected.to_str()
        ),
        C::UnknownIssuer => "unknown issuer: the server's certificate is not signed by a trusted CA \
             (give the right CA file, or pin the certificate)"
            .into(),
        C::BadSignature => "the server's certificate has a bad signature".into(),
        C::Other(other) => match other.0.downcast_ref::<TlsError>() {
            Some(t) => t.to_string(),
            None => format!("the server's certificate was refused: {other}"),
        },
        other => format!("the server's certificate was refused: {other}"),
    }
}

/// Recognises, in the messages of libraries that hide their TLS or protocol error in text,
/// a plain client answered by TLS and the reverse.
fn from_text(all: &str) -> Option<&'static str> {
    let lower = all.to_ascii_lowercase();
    if lower.contains("tls handshake eof") || lower.contains("corrupt message") {
        return Some(NOT_TLS);
    }
    // hyper reading an HTTP response that is a TLS alert; an MQTT client reading a TLS
    // record (0x15 or 0x16, then the version 0x0303 read as a length of 768) as a packet.
    if lower.contains("invalid http version")
        || lower.contains("expected connack")
        || lower.contains("malformed packet")
        || lower.contains("promised boundary crossed: 768")
    {
        return Some(IS_TLS);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connecting to the broker")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn finds_a_rustls_error_inside_an_io_error_inside_another_error() {
        let inner = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let err = Outer(std::io::Error::new(std::io::ErrorKind::InvalidData, inner));
        assert!(
            explain(&err).starts_with("unknown issuer"),
            "{}",
            explain(&err)
        );
    }

    #[test]
    fn names_the_host_names_a_certificate_has() {
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: rustls::pki_types::ServerName::try_from("gate.example").unwrap(),
            presented: vec!["DnsName(\"other.example\")".into()],
        });
        let words = explain(&e);
        assert!(words.contains("wrong host name"), "{words}");
        assert!(
            words.contains("other.example") && words.contains("gate.example"),
            "{words}"
        );
    }

    #[test]
    fn plain_port_and_unknown_errors() {
        let e = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert_eq!(explain(&e), NOT_TLS);
        let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert_eq!(explain(&eof), NOT_TLS);
        let other = std::io::Error::other("boom");
        assert_eq!(explain(&other), "boom");
    }
}
