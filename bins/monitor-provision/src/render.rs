//! `monitor-provision render`: load the stack, render every host, write the result.
//!
//! Layout: `OUT/<host>/user-data` (exactly what EC2 receives, before base64) and each
//! file the script writes under its on-host path, e.g.
//! `OUT/web-1/opt/aws/aws-otel-collector/etc/config.yaml`, so the output can be read and
//! diffed. A host directory is replaced on the next render only if it carries the
//! marker file written here; anything else is left alone.
//!
//! `OUT/_alerting/` (a name no host can have) holds the stack's rule files, one per AMP
//! rule-groups namespace (`rules/<namespace>.yml`), and `alertmanager-local.yml`: the
//! stack's routing with every notified severity sent to `--alert-webhook` (what
//! `scripts/local-stack.sh` runs).
//!
//! `OUT/_fleets/<fleet>/` holds each `[[fleets]]` entry's SSM document
//! (`document.json`, what SSM runs) and its two scripts (`install.sh`, `uninstall.sh`).
//! `OUT/_groups/<group>/user-data` is each `[[groups]]` entry's launch template user_data.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use monitor_bootstrap::{RenderedHost, PLACEHOLDER_WORKSPACE_ID, USER_DATA_LIMIT};

use crate::Failure;

/// Marks a directory as written (and replaceable) by `render`.
const MARKER: &str = ".monitor-provision-render";

/// Flags of `render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The stack file.
    #[arg(long, short, value_name = "FILE", default_value = "stack.toml")]
    pub config: PathBuf,
    /// Output directory; one sub-directory per host.
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// AMP workspace id (`ws-…`). Without it the remote-write URL holds a clearly marked
    /// placeholder.
    #[arg(long, value_name = "ID")]
    pub workspace_id: Option<String>,
    /// The webhook `_alerting/alertmanager-local.yml` notifies.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:9095/alerts"
    )]
    pub alert_webhook: String,
}

/// The directory of the alerting files.
const ALERTING_DIR: &str = "_alerting";
/// The directory of the fleets' SSM documents.
const FLEETS_DIR: &str = "_fleets";
/// The directory of the groups' launch template user_data.
const GROUPS_DIR: &str = "_groups";

pub fn run(args: &RenderArgs) -> Result<(), Failure> {
    let stack = monitor_stack::load(&args.config)?;
    let inputs = monitor_reconcile::allowlist::render_inputs(&stack, args.workspace_id.clone())?;
    // Render everything before writing anything: a bad host leaves no partial output.
    let hosts = monitor_bootstrap::render_all(&stack, &inputs)?;
    let namespaces = monitor_alerts::stack_rules(&stack)?;
    let fleets = stack
        .fleets
        .iter()
        .map(|f| monitor_bootstrap::render_fleet(&stack, f, &inputs))
        .collect::<Result<Vec<_>, _>>()?;
    let groups = stack
        .groups
        .iter()
        .map(|g| monitor_bootstrap::render_group(&stack, g, &inputs))
        .collect::<Result<Vec<_>, _>>()?;
    for h in &hosts {
        let dir = write_host(&args.out, h)?;
        println!(
            "{}: user-data {} of {USER_DATA_LIMIT} bytes, {} files -> {}",
            h.host,
            h.user_data.len(),
            h.files.len(),
            dir.display()
        );
    }
    for f in &fleets {
        let dir = out_dir(&args.out, &format!("{FLEETS_DIR}/{}", f.fleet))?;
        write_file(&dir.join("document.json"), &f.document, 0o644)?;
        write_file(&dir.join("install.sh"), &f.install, 0o755)?;
        write_file(&dir.join("uninstall.sh"), &f.uninstall, 0o755)?;
        println!(
            "fleet {}: SSM document {} bytes -> {}",
            f.fleet,
            f.document.len(),
            dir.display()
        );
    }
    for g in &groups {
        let dir = out_dir(&args.out, &format!("{GROUPS_DIR}/{}", g.host))?;
        write_file(&dir.join("user-data"), &g.user_data, 0o644)?;
        println!(
            "group {}: launch template user-data {} of {USER_DATA_LIMIT} bytes -> {}",
            g.host,
            g.user_data.len(),
            dir.display()
        );
    }
    let dir = out_dir(&args.out, ALERTING_DIR)?;
    for ns in &namespaces {
        write_file(
            &dir.join(format!("rules/{}.yml", ns.name)),
            &ns.file.to_yaml(),
            0o644,
        )?;
    }
    let notify = stack.alerting.clone().unwrap_or_default().notify;
    let local = monitor_alerts::alertmanager::config(
        &notify,
        &monitor_alerts::alertmanager::Delivery::Webhook {
            url: args.alert_webhook.clone(),
        },
        monitor_alerts::alertmanager::Timing::default(),
        &[],
    );
    write_file(&dir.join("alertmanager-local.yml"), &local, 0o644)?;
    println!(
        "alerting: {} rule file(s), alertmanager-local.yml -> {}",
        namespaces.len(),
        dir.display()
    );
    if args.workspace_id.is_none() {
        eprintln!(
            "note: no --workspace-id: the remote-write URL uses the placeholder {PLACEHOLDER_WORKSPACE_ID}"
        );
    }
    Ok(())
}

/// `out/name`, emptied of a previous render and marked as this command's.
fn out_dir(out: &Path, name: &str) -> Result<PathBuf, Failure> {
    let dir = out.join(name);
    clear_previous(&dir)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Failure::Output { path, source }
    };
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    let marker = dir.join(MARKER);
    fs::write(
        &marker,
        "written by `monitor-provision render`; this directory is replaced by the next render\n",
    )
    .map_err(io(&marker))?;
    Ok(dir)
}

fn write_host(out: &Path, host: &RenderedHost) -> Result<PathBuf, Failure> {
    let dir = out_dir(out, &host.host)?;
    write_file(&dir.join("user-data"), &host.user_data, 0o644)?;
    for f in &host.files {
        let rel = Path::new(f.path.trim_start_matches('/'));
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(Failure::Refused(format!(
                "on-host path {} is not a plain absolute path",
                f.path
            )));
        }
        write_file(&dir.join(rel), &f.content, f.mode)?;
    }
    Ok(dir)
}

/// Removes a previous render of this host (so stale files do not linger), but only a
/// directory this command created.
fn clear_previous(dir: &Path) -> Result<(), Failure> {
    let io = |source| Failure::Output {
        path: dir.to_path_buf(),
        source,
    };
    match fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(e)),
        Ok(mut entries) => {
            if dir.join(MARKER).is_file() {
                fs::remove_dir_all(dir).map_err(io)
            } else if entries.next().is_none() {
                Ok(())
            } else {
                Err(Failure::Refused(format!(
                    "refusing to overwrite {}: it is not empty and was not written by \
                     `monitor-provision render` (no {MARKER} file); choose another --out",
                    dir.display()
                )))
            }
        }
    }
}

fn write_file(path: &Path, content: &str, mode: u32) -> Result<(), Failure> {
    let io = |source| Failure::Output {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    fs::write(path, content).map_err(io)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io)
}
