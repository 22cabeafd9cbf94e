//! The gatecast player agent library.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
