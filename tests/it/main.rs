//! Cross-crate integration tests. One test binary (faster to link than one per file).
//! Real processes only: Prometheus, node_exporter, Alertmanager, moto (see
//! `monitor-testkit`). Binaries under test must be built first (`cargo build --workspace`).

mod agent;
mod durability;
mod faults;
