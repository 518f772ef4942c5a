//! Cross-crate integration tests. One test binary (faster to link than one per file).
