//! Holder package for the runnable examples in this directory (`cargo run -p monitor-examples --example NAME`).
