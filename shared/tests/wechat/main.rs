//! Tests of `wxopen::wechat` against an in-test stub server and an in-memory store double.

mod client;
mod support;
mod token;
