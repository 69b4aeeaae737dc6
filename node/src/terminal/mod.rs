//! The terminal views of a running node, for a bare server over SSH: [`top`] (health,
//! actors, chain, governance, exports, each second) and [`traces`] (the trace viewer, from a
//! node or from Jaeger). Both read over HTTP what the pull endpoint serves: `/metrics` with the
//! [`alys_exposition`] reader, and the viewer's `/api/`; over https:// and with credentials
//! when the node's port is secured ([`access`]).

pub mod access;
pub mod client;
mod fetch_error;
pub mod model;
pub mod top;
pub mod traces;
