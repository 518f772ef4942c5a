//! Holder package for the workspace's cross-crate integration tests (`tests/it/`).
