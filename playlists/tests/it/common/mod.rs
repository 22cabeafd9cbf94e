//! Support shared by several test modules.

pub mod fixtures;
