//! The node's integration tests use the workspace's shared harness, plus the demo node
//! started from this package's binary (only its own tests know where cargo built it).
#![allow(dead_code, unused_imports)]

pub use alys_test_support::*;

/// The project's own demo node as a test subject.
pub mod node;

/// Debian's chromium, headless, driven over the DevTools protocol.
pub mod browser;

/// A terminal program in a tmux session: keys in, the screen out.
pub mod tmux;

/// Jaeger v2 alone on loopback, from the stack's programs.
pub mod jaeger;
