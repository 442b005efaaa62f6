//! The routes: each parses its request, calls one operation of [`crate::ops`], renders it.

pub mod svc;
