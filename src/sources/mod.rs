//! Sources of measurements that are not the node's own code paths.

pub mod backoff;
pub mod system;
