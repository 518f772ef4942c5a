//! Cross-crate integration tests. One test binary (faster to link than one per file).
//! Real processes only: Prometheus, node_exporter, Alertmanager, moto (see
//! `monitor-testkit`). Binaries under test must be built first (`cargo build --workspace`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agent;
mod alerting;
mod allowlist;
mod durability;
mod faults;
mod hostile;
mod verify;
mod verify_logs;
mod verify_stack;
