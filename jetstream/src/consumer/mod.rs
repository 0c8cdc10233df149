//! Consumers as pure logic.

pub mod config;
pub mod ids;
pub mod status;
pub mod wire;
