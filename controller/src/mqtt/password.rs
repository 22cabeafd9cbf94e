//! MQTT password hashing in mosquitto's `$7$` format (PBKDF2-HMAC-SHA512).
//!
//! The store keeps every screen's MQTT password only as such a hash, written at registration
//! time. The same string serves twice:
//! - the embedded broker checks a CONNECT password against it with [`verify_mqtt_password`];
//! - `gatecast-controller broker-acl mosquitto` copies it unchanged into a mosquitto password
//!   file (line `screen-id:$7$...`), so an external mosquitto accepts the same password without
//!   the controller ever keeping the plaintext.
//!
//! Format, as `mosquitto_passwd` writes it:
//! `$7$<iterations>$<base64(12-byte salt)>$<base64(PBKDF2-HMAC-SHA512(password, salt, iterations, 64 bytes))>`
//! with standard, padded base64. mosquitto reads the iteration count from the string; we use
//! [`MQTT_PBKDF2_ITERATIONS`] (mosquitto's own default is 101). The passwords gatecast generates
//! are random ([`generate_mqtt_password`], 192 bits), so the iteration count only has to make a
//! leaked hash file a little more expensive to attack, while keeping a broker login cheap.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// PBKDF2 iteration count used by [`hash_mqtt_password`].
pub const MQTT_PBKDF2_ITERATIONS: u32 = 1000;

/// Largest iteration count [`verify_mqtt_password`] accepts from a stored hash; larger values
/// are refused rather than letting one login burn seconds of CPU.
pub const MAX_PBKDF2_ITERATIONS: u32 = 1_000_000;

const SALT_LEN: usize = 12;
const HASH_LEN: usize = 64;
const SHA512_BLOCK: usize = 128;

/// Hashes `pw` with a fresh random salt into mosquitto's `$7$` format.
///
/// The result contains no `:` and no whitespace, so it can go straight into a mosquitto
/// password file after `username:`.
pub fn hash_mqtt_password(pw: &str) -> String {
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    format_hash(pw, &salt, MQTT_PBKDF2_ITERATIONS)
}

/// Whether `pw` matches `stored`, a `$7$` hash as written by [`hash_mqtt_password`] or
/// `mosquitto_passwd`. The final comparison is constant-time. A malformed `stored` string
/// (wrong prefix, bad base64, wrong lengths, zero or more than [`MAX_PBKDF2_ITERATIONS`]
/// iterations) never matches.
pub fn verify_mqtt_password(pw: &str, stored: &str) -> bool {
    let Some(parsed) = parse_hash(stored) else {
        return false;
    };
    let derived = pbkdf2_hmac_sha512(pw.as_bytes(), &parsed.salt, parsed.iterations);
    derived.ct_eq(&parsed.hash).into()
}

/// Domain tag of [`login_verifier`]: a SHA-256 made here is never a SHA-256 of anything else.
const LOGIN_VERIFIER_TAG: &[u8] = b"gatecast-mqtt-login-v1\0";

/// The embedded broker's fast login verifier of a password gatecast generated: hex
/// SHA-256 of a domain tag and the password.
///
/// A slow hash protects guessable passwords; these are 192-bit random
/// ([`generate_mqtt_password`]), so one SHA-256 is as far from a preimage as PBKDF2 and a
/// login costs microseconds instead of a PBKDF2 (which bounded a reconnect storm of 10,000
/// screens, `docs/BENCHMARKS.md`). The `$7$` hash stays beside it for mosquitto's password
/// file (`docs/security.md` §3).
pub fn login_verifier(pw: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(LOGIN_VERIFIER_TAG);
    h.update(pw.as_bytes());
    playlists::hex::encode(&h.finalize())
}

/// Whether `pw` matches `verifier` (from [`login_verifier`]), compared in constant time. A
/// verifier that is not 64 lowercase hex digits never matches.
pub fn verify_login(pw: &str, verifier: &str) -> bool {
    verifier.len() == 64
        && verifier
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && login_verifier(pw)
            .as_bytes()
            .ct_eq(verifier.as_bytes())
            .into()
}

/// Whether `s` is a well-formed `$7$` hash (does not check any password).
pub fn is_mosquitto_hash(s: &str) -> bool {
    parse_hash(s).is_some()
}

/// A new random MQTT password: 24 bytes from the OS generator, base64url without padding
/// (32 characters from `A-Z a-z 0-9 - _`).
pub fn generate_mqtt_password() -> String {
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn format_hash(pw: &str, salt: &[u8], iterations: u32) -> String {
    let hash = pbkdf2_hmac_sha512(pw.as_bytes(), salt, iterations);
    format!(
        "$7${iterations}${}${}",
        STANDARD.encode(salt),
        STANDARD.encode(hash)
    )
}

struct ParsedHash {
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse_hash(stored: &str) -> Option<ParsedHash> {
    let rest = stored.strip_prefix("$7$")?;
    let mut parts = rest.split('$');
    let iterations_text = parts.next()?;
    let salt_b64 = parts.next()?;
    let hash_b64 = parts.next()?;
    if parts.next().is_some()
        || iterations_text.is_empty()
        || !iterations_text.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let iterations: u32 = iterations_text.parse().ok()?;
    if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
        return None;
    }
    let salt = STANDARD.decode(salt_b64).ok()?;
    let hash = STANDARD.decode(hash_b64).ok()?;
    if salt.is_empty() || salt.len() > 64 || hash.len() != HASH_LEN {
        return None;
    }
    Some(ParsedHash {
        iterations,
        salt,
        hash,
    })
}

/// HMAC-SHA512 with the key pads precomputed once per password.
struct HmacSha512 {
    inner: Sha512,
    outer: Sha512,
}

impl HmacSha512 {
    fn new(key: &[u8]) -> Self {
        let mut block = [0u8; SHA512_BLOCK];
        if key.len() > SHA512_BLOCK {
            block[..64].copy_from_slice(&Sha512::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut ipad = [0u8; SHA512_BLOCK];
        let mut opad = [0u8; SHA512_BLOCK];
        for i in 0..SHA512_BLOCK {
            ipad[i] = block[i] ^ 0x36;
            opad[i] = block[i] ^ 0x5c;
        }
        let mut inner = Sha512::new();
        inner.update(ipad);
        let mut outer = Sha512::new();
        outer.update(opad);
        HmacSha512 { inner, outer }
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 64] {
        let mut inner = self.inner.clone();
        for part in parts {
            inner.update(part);
        }
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// PBKDF2-HMAC-SHA512 with a 64-byte output (one block, so `T1` is the whole key).
fn pbkdf2_hmac_sha512(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 64] {
    let prf = HmacSha512::new(password);
    let mut u = prf.mac(&[salt, &1u32.to_be_bytes()]);
    let mut out = u;
    for _ in 1..iterations {
        u = prf.mac(&[&u]);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use playlists::hex::encode as hex;

    #[test]
    fn mqtt_pbkdf2_sha512_known_vector() {
        // PBKDF2-HMAC-SHA512, P = "password", S = "salt", c = 1, dkLen = 64.
        assert_eq!(
            hex(&pbkdf2_hmac_sha512(b"password", b"salt", 1)),
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252\
             c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"
        );
        // c = 2
        assert_eq!(
            hex(&pbkdf2_hmac_sha512(b"password", b"salt", 2)),
            "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53c\
             f76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e"
        );
    }

    #[test]
    fn mqtt_password_verifies_a_mosquitto_passwd_line() {
        // Written by `mosquitto_passwd -c -b file alice secret` (mosquitto 2.0.11).
        let stored = "$7$101$stgx9JoNgNLly3wm$F122HbQDDczLRQqisSwfkmiEc1L3qNrb2aq4LA09HfQ8XoWt/qlyJil5r9sqsdwJ0uXU/oOJi/ZegEcEN+bvfQ==";
        assert!(verify_mqtt_password("secret", stored));
        assert!(!verify_mqtt_password("Secret", stored));
        assert!(!verify_mqtt_password("", stored));
    }

    #[test]
    fn mqtt_password_round_trip_and_fresh_salt() {
        let pw = generate_mqtt_password();
        assert_eq!(pw.len(), 32);
        let a = hash_mqtt_password(&pw);
        let b = hash_mqtt_password(&pw);
        assert_ne!(a, b, "each hash gets its own salt");
        assert!(a.starts_with(&format!("$7${MQTT_PBKDF2_ITERATIONS}$")));
        assert!(!a.contains(':') && !a.contains(char::is_whitespace));
        assert!(is_mosquitto_hash(&a));
        assert!(verify_mqtt_password(&pw, &a));
        assert!(verify_mqtt_password(&pw, &b));
        assert!(!verify_mqtt_password("wrong", &a));
    }

    #[test]
    fn mqtt_password_malformed_hashes_never_match() {
        let good = format_hash("pw", b"saltsaltsalt", 3);
        assert!(verify_mqtt_password("pw", &good));
        let fields: Vec<&str> = good.split('$').collect();
        let (salt, hash) = (fields[3], fields[4]);
        for bad in [
            String::new(),
            "pw".to_string(),
            good.replacen("$7$", "$6$", 1),
            format!("$7$0${salt}${hash}"),
            format!("$7$-3${salt}${hash}"),
            format!("$7$+3${salt}${hash}"),
            format!("$7$99999999999${salt}${hash}"),
            format!("$7${}${salt}${hash}", MAX_PBKDF2_ITERATIONS + 1),
            format!("$7$3$${hash}"),
            format!("$7$3${salt}$"),
            format!("$7$3${salt}${}", &hash[..hash.len() - 4]),
            format!("$7$3${salt}${hash}$"),
            format!("$7$3$!!!!${hash}"),
        ] {
            assert!(!is_mosquitto_hash(&bad), "{bad:?} parsed");
            assert!(!verify_mqtt_password("pw", &bad), "{bad:?} matched");
        }
    }

    #[test]
    fn mqtt_hmac_long_key_is_hashed_first() {
        // A key longer than the block size must behave like its SHA-512 digest.
        let long = [7u8; 200];
        let digest = Sha512::digest(long);
        assert_eq!(
            pbkdf2_hmac_sha512(&long, b"s", 2),
            pbkdf2_hmac_sha512(&digest, b"s", 2)
        );
    }

    #[test]
    fn mqtt_login_verifier_matches_only_its_password() {
        let pw = generate_mqtt_password();
        let v = login_verifier(&pw);
        assert_eq!(v.len(), 64);
        assert!(verify_login(&pw, &v));
        assert!(!verify_login(&generate_mqtt_password(), &v));
        assert!(
            !verify_login(&pw, &v.to_uppercase()),
            "only the form we write"
        );
        assert!(!verify_login(&pw, &v[..63]));
        assert!(!verify_login(&pw, ""));
        // Domain separation: not a bare SHA-256 of the password.
        assert_ne!(v, playlists::hex::sha256_hex(pw.as_bytes()));
    }
}
