//! Consumers as pure logic.

pub mod config;
