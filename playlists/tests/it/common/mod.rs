//! Support shared by several test modules.

pub mod approvals;
pub mod fixtures;
