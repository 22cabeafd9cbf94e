//! TODO(issue 2): schedule
