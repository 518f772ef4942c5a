//! `examples/agent.toml` is a valid config, and every value it shows is the default the
//! loader applies when the key is left out — so the example cannot drift from the code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_collector::config::AgentConfig;
use std::path::PathBuf;

fn example_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/agent.toml")
}

/// The example with every line that sets an optional key removed.
fn required_keys_only(text: &str) -> String {
    const REQUIRED: &[&str] = &["job", "url", "sigv4", "env", "role", "team"];
    text.lines()
        .filter(|l| {
            let l = l.trim_start();
            match l.split_once('=') {
                Some((k, _)) if !l.starts_with('#') => REQUIRED.contains(&k.trim()),
                _ => true,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_agent_config_is_valid_and_shows_the_defaults() {
    let path = example_path();
    let full = AgentConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&path).unwrap();
    let minimal = AgentConfig::from_toml_str(&required_keys_only(&text), "minimal.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        full, minimal,
        "a value in examples/agent.toml is not the default"
    );
    assert_eq!(full.scrape.len(), 1);
    assert_eq!(full.scrape[0].body_size_limit, 64 << 20);
    assert_eq!(full.queue.max_memory_bytes, 256 << 20);
    assert_eq!(full.queue.dir, None);
}

#[test]
fn a_load_error_names_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("agent.toml");
    let text = std::fs::read_to_string(example_path())
        .unwrap()
        .replace("interval = \"15s\"", "interval = 15");
    std::fs::write(&p, &text).unwrap();
    let e = AgentConfig::load(&p).unwrap_err();
    let line = text
        .lines()
        .position(|l| l.starts_with("interval = 15"))
        .unwrap()
        + 1;
    assert_eq!(e.line, line);
    assert_eq!(e.key, "scrape[0].interval");
    assert!(
        e.to_string()
            .starts_with(&format!("{}:{line}: scrape[0].interval: ", p.display())),
        "{e}"
    );
}
