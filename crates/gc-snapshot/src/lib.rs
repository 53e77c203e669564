//! lunette-gc-snapshot: the object-graph walk for VM snapshots and rollback (see the
//! rollback issue). The VM types are designed to be walked from one root with stable ids.

#![forbid(unsafe_code)]
