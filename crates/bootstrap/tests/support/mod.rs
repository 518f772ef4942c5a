//! Helpers shared by this crate's integration tests: shellcheck, and pieces of rendered
//! scripts (a bash function, a heredoc) to run or re-parse on their own.
#![allow(dead_code)] // each test binary uses its own subset
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// `shellcheck -s bash` (all severities) and `bash -n` on `script`, named `name` in
/// failures. Fails if shellcheck is not installed: CI installs it.
pub fn shellcheck(name: &str, script: &str) {
    let version = Command::new("shellcheck").arg("--version").output();
    assert!(
        matches!(&version, Ok(o) if o.status.success()),
        "shellcheck is required for this test (apt-get install shellcheck)"
    );
    let dir = tempdir("sc");
    let p = dir.join(format!("{}.sh", name.replace('/', "_")));
    std::fs::write(&p, script).unwrap();
    let out = Command::new("shellcheck")
        .args(["-s", "bash", "-S", "style"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck {name}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("bash").arg("-n").arg(&p).output().unwrap();
    assert!(
        out.status.success(),
        "bash -n {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory under the system temp dir, unique to this process and `tag`.
pub fn tempdir(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "monitor-bootstrap-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The definition of bash function `name` in `script`: the line `name() {…}`, or the
/// lines from `name() {` to the first line that is `}`.
pub fn bash_function(script: &str, name: &str) -> String {
    let start = format!("{name}() {{");
    let mut lines = script.lines().skip_while(|l| !l.starts_with(&start));
    let first = lines.next().unwrap_or_else(|| panic!("no function {name}"));
    if first.ends_with('}') {
        return format!("{first}\n");
    }
    let mut out = format!("{first}\n");
    for l in lines {
        out.push_str(l);
        out.push('\n');
        if l == "}" {
            return out;
        }
    }
    panic!("function {name} does not end");
}

/// The content of the heredoc fed to the command line starting with `command` (the
/// line is `command <<'MONITOR_BOOTSTRAP_EOF'`).
pub fn heredoc(script: &str, command: &str) -> String {
    let mut lines = script.lines();
    lines
        .by_ref()
        .find(|l| l.starts_with(command) && l.ends_with("<<'MONITOR_BOOTSTRAP_EOF'"))
        .unwrap_or_else(|| panic!("no heredoc for {command}"));
    let mut out = String::new();
    for l in lines {
        if l == "MONITOR_BOOTSTRAP_EOF" {
            return out;
        }
        out.push_str(l);
        out.push('\n');
    }
    panic!("heredoc for {command} does not end");
}
