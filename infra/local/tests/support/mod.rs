//! The harness of the tests that drive the whole system: [`wxopen_local::testing`] (shared with
//! the operator CLI's tests), and the browser-driven tests' WebDriver session.

#![allow(dead_code, unused_imports)]

pub mod browser;

pub use wxopen_local::testing::*;
