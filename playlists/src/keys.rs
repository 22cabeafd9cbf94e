//! TODO(issue 2): keys
