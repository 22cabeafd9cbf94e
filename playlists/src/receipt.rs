//! TODO(issue 2): receipt
