//! gRPC by the RPC semantic conventions (being written).
