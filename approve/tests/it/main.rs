//! Integration tests of `gatecast-approve`: they run the real binary.
#![forbid(unsafe_code)]

mod keys_and_policy;
