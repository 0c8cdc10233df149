//! The official JavaScript client in a real browser: see `browser_test` below.
