//! The few DER steps needed to find a certificate's SubjectPublicKeyInfo (RFC 5280 §4.1):
//! Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
//! signature, issuer, validity, subject, subjectPublicKeyInfo, … }, … }.

use crate::TlsError;

/// One DER element: its tag, the whole encoding, and its contents.
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    contents: &'a [u8],
}

fn next(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), TlsError> {
    let bad = TlsError::BadCertificate;
    let (&tag, rest) = input.split_first().ok_or(bad("truncated DER"))?;
    let (&first, rest) = rest.split_first().ok_or(bad("truncated DER length"))?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad("unsupported DER length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(bad("DER element longer than its input"));
    }
    let header = input.len() - rest.len();
    Ok((
        Tlv {
            tag,
            whole: &input[..header + len],
            contents: &rest[..len],
        },
        &rest[len..],
    ))
}

/// The DER of the SubjectPublicKeyInfo of an X.509 certificate.
pub(crate) fn spki(cert_der: &[u8]) -> Result<&[u8], TlsError> {
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0;
    let (cert, _) = next(cert_der)?;
    let (tbs, _) = next(cert.contents)?;
    if cert.tag != SEQUENCE || tbs.tag != SEQUENCE {
        return Err(TlsError::BadCertificate("not a certificate SEQUENCE"));
    }
    let mut rest = tbs.contents;
    let (first, after) = next(rest)?;
    if first.tag == VERSION {
        rest = after;
    }
    // serialNumber, signature, issuer, validity, subject
    for _ in 0..5 {
        rest = next(rest)?.1;
    }
    let (spki, _) = next(rest)?;
    if spki.tag != SEQUENCE {
        return Err(TlsError::BadCertificate(
            "SubjectPublicKeyInfo is not a SEQUENCE",
        ));
    }
    Ok(spki.whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_is_the_key_rcgen_put_there() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["gate.example".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(spki(cert.der()).unwrap(), key.public_key_der().as_slice());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(matches!(
            spki(&[0x30, 0x05, 1]),
            Err(TlsError::BadCertificate(_))
        ));
        assert!(matches!(spki(b""), Err(TlsError::BadCertificate(_))));
        assert!(matches!(
            spki(&[0x04, 0x00]),
            Err(TlsError::BadCertificate(_))
        ));
    }
}
