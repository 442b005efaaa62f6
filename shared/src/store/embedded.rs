//! Embedded store (issue 3).
