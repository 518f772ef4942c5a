//! `config::AgentConfig::from_toml_str` on arbitrary text.
//!
//! Input: the bytes as UTF-8, lossily (a config file is read with `read_to_string`, so
//! only valid UTF-8 reaches the parser; invalid bytes become U+FFFD).
//!
//! Checks, besides "never panics": every error names the file first — its Display
//! starts with `fuzz.toml:` — and its line is 0 (unknown) or a line of the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monitor_collector::config::AgentConfig;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = AgentConfig::from_toml_str(&text, "fuzz.toml") {
        let shown = e.to_string();
        assert!(shown.starts_with("fuzz.toml:"), "error without the file: {shown:?}");
        assert_eq!(e.file, "fuzz.toml");
        let lines = text.matches('\n').count() + 1;
        assert!(e.line <= lines, "line {} of a {lines}-line text: {shown:?}", e.line);
        assert!(!e.key.is_empty(), "empty key: {shown:?}");
    }
});
