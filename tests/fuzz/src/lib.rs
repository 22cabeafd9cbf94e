//! Shared fixtures of the gatecast fuzz targets: the fixed keys of `docs/test-vectors/`
//! (controller seed `0x11`×32, device seed `0x22`×32, unrelated seed `0x33`×32), the screen id
//! the vectors use, and a tiny reader over the fuzzer's bytes for the structure-aware targets.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use playlists::keys::{KeySet, SecretKey};

/// Screen id of the test vectors.
pub const SCREEN: &str = "lao-cai-1";

/// The controller key of the test vectors (seed `0x11`×32).
pub fn controller_key() -> SecretKey {
    SecretKey::from_seed([0x11; 32])
}

/// The device key of the test vectors (seed `0x22`×32).
pub fn device_key() -> SecretKey {
    SecretKey::from_seed([0x22; 32])
}

/// An unrelated key (seed `0x33`×32).
pub fn other_key() -> SecretKey {
    SecretKey::from_seed([0x33; 32])
}

/// The key set the generic targets trust: controller and device key (not the unrelated one).
pub fn trusted() -> KeySet {
    KeySet::from_keys([controller_key().public(), device_key().public()])
}

/// Only the controller key.
pub fn controller_trusted() -> KeySet {
    KeySet::from_keys([controller_key().public()])
}

/// A fixed "now" inside the validity window of the test-vector manifest (2025-12-01T00:00:00Z).
pub fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_764_547_200).expect("valid timestamp")
}

/// Reads numbers and choices from the fuzzer's bytes; once the bytes are used up every read
/// returns zero, so every input maps to some value (libFuzzer then learns which bytes matter).
#[derive(Debug)]
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// Wraps the fuzzer input.
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    /// One byte (0 when exhausted).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> u64 {
        (u64::from(self.u32())) | (u64::from(self.u32()) << 32)
    }

    /// A bool.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        if n <= 256 {
            usize::from(self.u8()) % n
        } else {
            self.u32() as usize % n
        }
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    /// Up to `max` raw bytes (the length is read first).
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = self.below(max + 1).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// A lossily decoded string of up to `max` bytes.
    pub fn string(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.bytes(max)).into_owned()
    }

    /// Everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// Whether the input is used up.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
