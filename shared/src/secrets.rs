//! Implemented in its own issue.
