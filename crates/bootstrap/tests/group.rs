//! `[[groups]]` user_data: every instance names itself at boot — the script's own
//! `fill_instance_id` (bash + sed) is run on the rendered collector configs with an
//! instance id and an availability zone, and the configs re-parsed — the zone is checked
//! before it is used, the group's name is its `group` label, and shellcheck is clean.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use monitor_bootstrap::{
    adot::AdotConfig, agent, render_group, render_host, RenderInputs, RenderedHost,
    ADOT_CONFIG_PATH, AVAILABILITY_ZONE_SENTINEL, INSTANCE_ID_SENTINEL,
};
use monitor_stack::Stack;

mod support;

const WS: &str = "ws-0123abcd-4567-89ef-0123-456789abcdef";

fn stack(kind: &str) -> Stack {
    let collector = match kind {
        "adot" => "[collector]\nkind = \"adot\"\n".to_string(),
        _ => format!(
            "[collector]\nkind = \"monitor-agent\"\n\
             agent_url = \"https://downloads.example.com/monitor-agent\"\nagent_sha256 = \"{}\"\n",
            "1f".repeat(32)
        ),
    };
    let text = format!(
        "name = \"monitoring-test\"\n{collector}\n\
         [[hosts]]\nname = \"web-1\"\nlabels = {{ env = \"prod\", role = \"web\", team = \"platform\" }}\n\
         [[groups]]\nname = \"api\"\narchitecture = \"arm64\"\nmin = 1\nmax = 3\ndesired = 2\n\
         labels = {{ env = \"prod\", role = \"api\", team = \"platform\" }}\n"
    );
    monitor_stack::from_toml_str(&text, Path::new("stack.toml")).unwrap()
}

fn render(kind: &str) -> RenderedHost {
    let s = stack(kind);
    let inputs = RenderInputs {
        workspace_id: Some(WS.into()),
        ..Default::default()
    };
    render_group(&s, &s.groups[0], &inputs).unwrap()
}

/// The external labels of a collector config file after the script's substitution.
fn labels_after_fill(
    r: &RenderedHost,
    instance_id: &str,
    zone: &str,
) -> Vec<std::collections::BTreeMap<String, String>> {
    let func = r
        .user_data
        .lines()
        .find(|l| l.starts_with("fill_instance_id() {"))
        .unwrap();
    let dir = support::tempdir("group");
    let mut out = Vec::new();
    for f in r.files.iter().filter(|f| f.fills_instance_id) {
        let p = dir.join("config");
        std::fs::write(&p, &f.content).unwrap();
        let status = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -euo pipefail\n{func}\ninstance_id={instance_id}\navailability_zone={zone}\nfill_instance_id \"$1\""
            ))
            .arg("fill")
            .arg(&p)
            .status()
            .unwrap();
        assert!(status.success());
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains(INSTANCE_ID_SENTINEL) && !text.contains(AVAILABILITY_ZONE_SENTINEL));
        out.push(if f.path == ADOT_CONFIG_PATH {
            let c: AdotConfig = serde_yaml_ng::from_str(&text).unwrap();
            c.exporters.prometheusremotewrite.external_labels
        } else {
            let c: agent::AgentConfig = toml::from_str(&text).unwrap();
            c.labels
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn each_instance_names_itself_from_instance_metadata() {
    for kind in ["adot", "monitor-agent"] {
        let r = render(kind);
        assert_eq!(r.host, "api");
        let all = labels_after_fill(&r, "i-0123456789abcdef0", "eu-west-1b");
        assert_eq!(all.len(), 1, "{kind}: one collector config");
        let l = &all[0];
        assert_eq!(l["host"], "i-0123456789abcdef0", "{kind}");
        assert_eq!(l["instance_id"], "i-0123456789abcdef0", "{kind}");
        assert_eq!(l["availability_zone"], "eu-west-1b", "{kind}");
        assert_eq!(l["group"], "api", "{kind}");
        assert_eq!(l["role"], "api", "{kind}");
        assert!(!l.contains_key("fleet"), "{kind}");
    }
}

#[test]
fn the_zone_is_read_and_checked_before_any_file_is_filled() {
    let ud = render("adot").user_data;
    let read = ud
        .find("/latest/meta-data/placement/availability-zone")
        .expect("reads the zone");
    let check = ud
        .find("[[ \"${availability_zone}\" =~ ^[a-z0-9-]{4,40}$ ]] || die")
        .expect("checks the zone");
    let first_fill = ud.find("\nfill_instance_id ").expect("fills");
    assert!(read < check && check < first_fill);
    // The pattern refuses what sed would read as syntax.
    for (zone, ok) in [
        ("eu-west-1a", true),
        ("us-west-2-lax-1a", true),
        ("a/b", false),
        ("a&b", false),
        ("", false),
    ] {
        let status = Command::new("bash")
            .arg("-c")
            .arg("[[ \"$1\" =~ ^[a-z0-9-]{4,40}$ ]]")
            .arg("check")
            .arg(zone)
            .status()
            .unwrap();
        assert_eq!(status.success(), ok, "{zone:?}");
    }
}

#[test]
fn hosts_render_as_before_and_groups_only_differ_in_identity() {
    let s = stack("adot");
    let inputs = RenderInputs {
        workspace_id: Some(WS.into()),
        ..Default::default()
    };
    let host = render_host(&s, &s.hosts[0], &inputs).unwrap().user_data;
    assert!(
        !host.contains("availability"),
        "a host's script is unchanged"
    );
    let group = render("adot").user_data;
    assert!(group.contains("user_data for the instances of Auto Scaling group api (arm64)"));
    assert!(group.contains("log \"instance ${instance_id} of group api (arm64) bootstrapped"));
    assert!(group.contains("[[ \"$(uname -m)\" == aarch64 ]]"));
}

#[test]
fn shellcheck_clean() {
    for kind in ["adot", "monitor-agent"] {
        support::shellcheck(&format!("group-{kind}"), &render(kind).user_data);
    }
}
