//! The config loader never panics, whatever the text: every failure is a `ConfigError`
//! with a key and, when the text has one, a line within the file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_collector::config::AgentConfig;
use proptest::prelude::*;

const VALID: &str = "[agent]\nlisten = \"127.0.0.1:9465\"\n[labels]\nenv = \"dev\"\n\
[[scrape]]\njob = \"node\"\nurl = \"http://u:p@127.0.0.1:9100/metrics\"\ninterval = \"15s\"\n\
sample_limit = 10\n[remote_write]\nurl = \"http://127.0.0.1:9090/api/v1/write\"\n\
sigv4 = { region = \"eu-west-1\" }\n[queue]\nmax_memory = \"1MiB\"\n";

fn check(text: &str) {
    if let Err(e) = AgentConfig::from_toml_str(text, "f.toml") {
        assert!(!e.key.is_empty(), "{e}");
        assert!(e.line <= text.matches('\n').count() + 1, "{e}");
        assert!(!e.to_string().contains(":p@"), "{e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_toml_like_text_never_panics(
        text in "([a-z_\\[\\]{}=\",.\\n 0-9:/@-]|scrape|remote_write|sigv4|interval){0,200}"
    ) {
        check(&text);
    }

    #[test]
    fn a_valid_file_with_a_cut_or_a_byte_changed_never_panics(
        cut in 0usize..VALID.len(),
        pos in 0usize..VALID.len(),
        byte in prop::sample::select(b"\"=[]{}.,\n 0a-#".to_vec()),
    ) {
        check(&VALID[..cut]);
        let mut b = VALID.as_bytes().to_vec();
        b[pos] = byte;
        check(&String::from_utf8(b).unwrap());
        let mut b = VALID.as_bytes().to_vec();
        b.insert(pos, byte);
        check(&String::from_utf8(b).unwrap());
    }
}
