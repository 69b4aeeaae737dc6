//! Programs built on the `alys-telemetry` library: the simulated Alys node ([`demo`]) and the
//! governance node ([`governance_node`]) that the `alys-telemetry` command runs. A real node
//! depends on the library alone; nothing here is part of what it pays for.

pub mod demo;
pub mod governance_node;
pub mod terminal;
