//! Harness for gatecast's end-to-end tests: finds binaries, free ports, external programs.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
