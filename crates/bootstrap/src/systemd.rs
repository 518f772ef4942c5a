//! systemd unit files as typed data: sections of `Key=Value` lines, rendered with a
//! check that no value could break out of its line.
//!
//! The sandbox and resource limits of the services this crate installs live here, next
//! to the renderer, as one list per unit ([`NODE_EXPORTER_HARDENING`],
//! [`AGENT_HARDENING`]): [`UnitFile::render`] adds the list of the unit it renders
//! ([`hardening_for`] its path) to the `[Service]` section, so no rendered unit can miss
//! it. A key the unit sets itself keeps the unit's value.

use crate::BootstrapError;

/// `[Service]` sandbox and limits of node_exporter.
///
/// It must still read `/proc`, `/sys` and every mount point (the `filesystem` collector
/// `statfs`es each mount; `diskstats`, `netdev`, … read `/proc` and `/sys`), so what would
/// hide or replace any of them is left out on purpose: `ProtectHome=read-only` rather than
/// `yes` (which would put an empty mount over `/home` and report its size instead),
/// no `PrivateDevices` (`/dev` and `/dev/shm` are mount points it reports), no
/// `ProtectProc`/`ProcSubset`, no `ProtectClock` (its seccomp filter denies the read-only
/// `adjtimex` of the `timex` collector) and no `ProtectHostname` (a private UTS namespace
/// would freeze `node_uname_info{nodename}` at start). Read-only views
/// (`ProtectSystem=strict`, `ProtectKernelTunables`, `ProtectControlGroups`) are fine.
/// `AF_NETLINK` stays allowed: the `netdev` collector reads interface statistics over
/// rtnetlink by default (`--collector.netdev.netlink`); `AF_UNIX` is the `systemd`
/// collector's D-Bus. `MemoryMax`/`TasksMax` are several times its usual ~30 MiB and ~15
/// threads (it runs with `GOMAXPROCS=1`).
pub const NODE_EXPORTER_HARDENING: &[(&str, &str)] = &[
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "read-only"),
    ("PrivateTmp", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    (
        "RestrictAddressFamilies",
        "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
    ),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("MemoryDenyWriteExecute", "yes"),
    ("SystemCallArchitectures", "native"),
    ("CapabilityBoundingSet", ""),
    ("MemoryMax", "256M"),
    ("TasksMax", "128"),
];

/// `[Service]` sandbox and limits of monitor-agent.
///
/// A dynamic user whose only writable place is its `StateDirectory` (`/var/lib/` +
/// [`AGENT_STATE_DIRECTORY`], where [`crate::agent::QUEUE_DIR`] is), network only over IP
/// and Unix sockets. `MemoryMax` bounds the whole agent: its defaults hold one scrape body
/// (`body_size_limit` 64 MiB decoded, `sample_limit` 200,000) and the disk queue's
/// buffers well below it; if it is still reached, the kernel kills the agent, systemd
/// restarts it and the on-disk queue resumes where it was. `MALLOC_ARENA_MAX=1`: the
/// agent's few threads share one glibc malloc arena instead of one each, which cut its
/// peak RSS at 1,500 series from 13.7 to 11.9 MiB at no measurable CPU cost.
/// `MALLOC_MMAP_THRESHOLD_` and `MALLOC_TRIM_THRESHOLD_` at 32 MiB (glibc's largest
/// mmap threshold): a scrape's buffers (page, encoded samples, request) are reused from
/// the heap instead of mapped, faulted in and unmapped every scrape — at 100,000 series
/// 7,900 → 840 page faults/s and 1.48 → 1.16 CPU s per million samples, for 88 → 105 MiB
/// peak RSS (`docs/BENCHMARKS.md`; `bench/agents.py` runs it with the same environment).
pub const AGENT_HARDENING: &[(&str, &str)] = &[
    // One line: a key is set once (a unit's own `Environment=` would replace it whole).
    (
        "Environment",
        "MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=33554432",
    ),
    ("DynamicUser", "yes"),
    ("StateDirectory", AGENT_STATE_DIRECTORY),
    ("StateDirectoryMode", "0700"),
    ("UMask", "0077"),
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("MemoryDenyWriteExecute", "yes"),
    ("SystemCallArchitectures", "native"),
    ("CapabilityBoundingSet", ""),
    ("MemoryMax", "512M"),
    ("TasksMax", "256"),
];

/// monitor-agent's `StateDirectory=`: `/var/lib/monitor-agent`, which holds the queue.
pub const AGENT_STATE_DIRECTORY: &str = "monitor-agent";

/// The sandbox of the unit installed at `unit_path` ([`crate::NODE_EXPORTER_UNIT_PATH`],
/// [`crate::AGENT_UNIT_PATH`]); `None` for any other path.
pub fn hardening_for(unit_path: &str) -> Option<&'static [(&'static str, &'static str)]> {
    match unit_path {
        crate::NODE_EXPORTER_UNIT_PATH => Some(NODE_EXPORTER_HARDENING),
        crate::AGENT_UNIT_PATH => Some(AGENT_HARDENING),
        _ => None,
    }
}

/// A unit file: `[Unit]`, `[Service]`, `[Install]`, … in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitFile {
    /// Sections in file order.
    pub sections: Vec<Section>,
}

/// One `[Name]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Section name without brackets.
    pub name: String,
    /// `Key=Value` entries in order (keys may repeat, as systemd allows).
    pub entries: Vec<(String, String)>,
}

impl UnitFile {
    /// Appends a section built from `(key, value)` pairs.
    pub fn section(mut self, name: &str, entries: &[(&str, &str)]) -> Self {
        self.sections.push(Section {
            name: name.to_string(),
            entries: entries
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        });
        self
    }

    /// Appends `entries` to the `[Service]` section, skipping the keys it already sets
    /// (the unit's own value wins). A unit without `[Service]` is returned unchanged.
    pub fn hardened(mut self, entries: &[(&str, &str)]) -> Self {
        if let Some(service) = self.sections.iter_mut().find(|s| s.name == "Service") {
            for (k, v) in entries {
                if !service.entries.iter().any(|(have, _)| have == k) {
                    service.entries.push(((*k).to_string(), (*v).to_string()));
                }
            }
        }
        self
    }

    /// The unit file text, with the sandbox of the unit installed at `what` (see
    /// [`hardening_for`]) added to its `[Service]` section.
    ///
    /// # Errors
    /// [`BootstrapError::UnsafeContent`] if a key or value holds a newline or a key is not
    /// a plain identifier.
    pub fn render(&self, what: &str) -> Result<String, BootstrapError> {
        match hardening_for(what) {
            Some(h) => self.clone().hardened(h).render_as_is(what),
            None => self.render_as_is(what),
        }
    }

    fn render_as_is(&self, what: &str) -> Result<String, BootstrapError> {
        let mut out = String::new();
        for (i, s) in self.sections.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push('[');
            out.push_str(&s.name);
            out.push_str("]\n");
            for (k, v) in &s.entries {
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(BootstrapError::UnsafeContent {
                        what: what.to_string(),
                        detail: format!("unit key `{k}` is not a plain identifier"),
                    });
                }
                if v.contains(['\n', '\r']) {
                    return Err(BootstrapError::UnsafeContent {
                        what: what.to_string(),
                        detail: format!("value of `{k}` contains a line break"),
                    });
                }
                out.push_str(k);
                out.push('=');
                out.push_str(v);
                out.push('\n');
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sections_in_order() {
        let u = UnitFile::default()
            .section("Unit", &[("Description", "x")])
            .section("Install", &[("WantedBy", "multi-user.target")]);
        assert_eq!(
            u.render("t").unwrap(),
            "[Unit]\nDescription=x\n\n[Install]\nWantedBy=multi-user.target\n"
        );
    }

    #[test]
    fn rejects_line_breaks() {
        let u = UnitFile::default().section("Service", &[("ExecStart", "a\nb")]);
        assert!(u.render("t").is_err());
    }

    fn entries(text: &str) -> Vec<(&str, &str)> {
        text.lines().filter_map(|l| l.split_once('=')).collect()
    }

    #[test]
    fn installed_units_get_their_sandbox_once_and_keep_their_own_values() {
        let unit = UnitFile::default()
            .section("Unit", &[("Description", "x")])
            .section(
                "Service",
                &[("ExecStart", "/bin/true"), ("MemoryMax", "1G")],
            )
            .section("Install", &[("WantedBy", "multi-user.target")]);
        for path in [crate::NODE_EXPORTER_UNIT_PATH, crate::AGENT_UNIT_PATH] {
            let text = unit.render(path).unwrap();
            let e = entries(&text);
            let mut keys: Vec<&str> = e.iter().map(|(k, _)| *k).collect();
            let n = keys.len();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), n, "a key repeats:\n{text}");
            assert!(e.contains(&("MemoryMax", "1G")), "{text}");
            assert!(e.contains(&("NoNewPrivileges", "yes")), "{text}");
            assert!(e.contains(&(
                "TasksMax",
                hardening_for(path)
                    .unwrap()
                    .iter()
                    .find(|(k, _)| *k == "TasksMax")
                    .unwrap()
                    .1
            )));
            // Everything lands in [Service], before [Install].
            let service = text.split("[Install]").next().unwrap();
            assert!(service.contains("ProtectSystem=strict"), "{text}");
        }
        // Other units are rendered as they are.
        assert!(!unit
            .render("/etc/systemd/system/other.service")
            .unwrap()
            .contains("NoNewPrivileges"));
        // No [Service]: unchanged.
        let plain = UnitFile::default().section("Unit", &[("Description", "x")]);
        assert_eq!(plain.clone().hardened(AGENT_HARDENING), plain);
    }

    #[test]
    fn both_services_have_the_baseline_sandbox_and_limits() {
        for h in [NODE_EXPORTER_HARDENING, AGENT_HARDENING] {
            let get = |k: &str| h.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
            for (k, v) in [
                ("NoNewPrivileges", "yes"),
                ("ProtectSystem", "strict"),
                ("PrivateTmp", "yes"),
                ("ProtectKernelTunables", "yes"),
                ("ProtectKernelModules", "yes"),
                ("ProtectControlGroups", "yes"),
                ("LockPersonality", "yes"),
                ("RestrictRealtime", "yes"),
                ("RestrictSUIDSGID", "yes"),
                ("SystemCallArchitectures", "native"),
                ("CapabilityBoundingSet", ""),
            ] {
                assert_eq!(get(k), Some(v), "{k}");
            }
            assert!(get("MemoryMax").is_some_and(|m| m.ends_with('M')));
            assert!(get("TasksMax").is_some_and(|t| t.parse::<u32>().is_ok()));
            assert!(get("ProtectHome").is_some());
            assert!(
                get("ReadWritePaths").is_none(),
                "the state directory is enough"
            );
        }
    }

    #[test]
    fn node_exporter_still_sees_proc_sys_devices_and_mount_points() {
        let get = |k: &str| {
            NODE_EXPORTER_HARDENING
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| *v)
        };
        for hidden in [
            "PrivateDevices",
            "ProtectProc",
            "ProcSubset",
            "ProtectClock",
            "ProtectHostname",
            "DynamicUser",
            "PrivateNetwork",
        ] {
            assert_eq!(get(hidden), None, "{hidden}");
        }
        assert_eq!(get("ProtectHome"), Some("read-only"));
        let families = get("RestrictAddressFamilies").unwrap();
        assert!(
            families.split(' ').any(|f| f == "AF_NETLINK"),
            "netdev uses rtnetlink"
        );
    }

    #[test]
    fn the_agent_queue_is_inside_its_state_directory() {
        let state = format!("/var/lib/{AGENT_STATE_DIRECTORY}/");
        assert!(
            crate::agent::QUEUE_DIR.starts_with(&state),
            "{}",
            crate::agent::QUEUE_DIR
        );
        assert!(AGENT_HARDENING.contains(&("StateDirectory", AGENT_STATE_DIRECTORY)));
        assert!(AGENT_HARDENING.contains(&("DynamicUser", "yes")));
    }
}
