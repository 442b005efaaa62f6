//! The operations behind the routes: no HTTP, typed outcomes, failures classified once.

pub mod services;
