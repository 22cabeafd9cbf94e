//! TODO(issue 2): manifest
