//! `[[fleets]]`: instances a team already runs, enrolled by their tags. Per fleet an SSM
//! Command document of the stack's own (the rendered bootstrap, `action` install or
//! uninstall) and a State Manager association targeting the fleet's tags, so SSM also
//! enrols instances that get the tags later. A member without an instance profile gets
//! the stack's; a member whose role someone else owns gets the stack's customer-managed
//! host policy attached only with `attach_to_existing_roles = true`, and is otherwise
//! listed in the plan's notes. Nothing else on those instances or roles is touched, and
//! `destroy` uninstalls through the same document before removing what the stack added.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::IamInstanceProfileSpecification;
use aws_sdk_ssm::types::{DocumentFormat, DocumentType, Target};
use serde::Serialize;

use super::{ignore_not_found, ssm, Env, Known, StepOutput};
use crate::error::{ReconcileError, Result};
use crate::family::iam::PolicyTemplate;
use crate::names::{sha256_hex, Names, SSM_CORE_POLICY_ARN};
use crate::observe::{profile_name, stack_profile_associations, FleetState, MemberState, Observed};
use crate::plan::{Action, Change, Detail, Resource, ResourceKind, KNOWN_AFTER_APPLY};
use crate::poll::{retry_transient, GaveUp};
use crate::Desired;

/// The document parameter choosing install or uninstall.
const ACTION: &str = monitor_bootstrap::FLEET_ACTION_PARAMETER;
/// How many members run the enrolment at once, and how many may fail before SSM stops:
/// a member on an unsupported OS refuses (named in its output) without stopping the rest.
const MAX_CONCURRENCY: &str = "25%";
const MAX_ERRORS: &str = "100%";

/// What apply does for a fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FleetOp {
    /// CreateDocument, or UpdateDocument + UpdateDocumentDefaultVersion.
    PutDocument {
        /// `[[fleets]] name`.
        fleet: String,
        /// Whether the document exists (update) or not (create).
        exists: bool,
        /// The content; `None`: rendered once the AMP workspace this apply creates is
        /// known.
        #[serde(skip)]
        content: Option<String>,
    },
    /// CreateAssociation, or UpdateAssociation with the whole definition (which re-runs
    /// the enrolment on every member).
    PutAssociation {
        /// `[[fleets]] name`.
        fleet: String,
        /// The association to update; `None`: create one.
        id: Option<String>,
        /// Tag key → values the association targets.
        targets: BTreeMap<String, Vec<String>>,
    },
    /// SendCommand `action=uninstall` to the members (and wait), then DeleteAssociation.
    DeleteAssociation {
        /// `[[fleets]] name`.
        fleet: String,
        /// Association id.
        id: String,
        /// Members the uninstall runs on.
        members: Vec<String>,
    },
    /// DeleteDocument.
    DeleteDocument {
        /// Document name.
        name: String,
    },
    /// AssociateIamInstanceProfile with the stack's profile.
    AssociateProfile {
        /// `i-…`.
        instance: String,
    },
    /// DisassociateIamInstanceProfile (the stack's profile only).
    DisassociateProfile {
        /// `i-…`.
        instance: String,
    },
    /// CreatePolicy, or CreatePolicyVersion (default), deleting the oldest other
    /// version first when IAM's five are used.
    PutHostPolicy {
        /// Whether the policy exists.
        exists: bool,
        /// Its document.
        document: PolicyTemplate,
        /// The version to delete first, if any.
        delete_version: Option<String>,
    },
    /// AttachRolePolicy of the host policy to a role the stack does not own.
    AttachHostPolicy {
        /// Role name.
        role: String,
    },
    /// Detach the host policy from every role, delete its other versions, DeletePolicy.
    DeleteHostPolicy,
}

fn targets(select: &BTreeMap<String, String>) -> BTreeMap<String, Vec<String>> {
    select
        .iter()
        .map(|(k, v)| (k.clone(), vec![v.clone()]))
        .collect()
}

fn short(sha: &str) -> String {
    format!("sha256:{}", &sha[..12.min(sha.len())])
}

/// Whether a member's roles include one the stack does not own.
fn foreign_roles<'a>(names: &Names, m: &'a MemberState) -> Vec<&'a crate::observe::MemberRole> {
    m.roles.iter().filter(|r| r.name != names.role).collect()
}

/// The apply plan's fleet changes.
pub(crate) fn plan(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let names = &desired.names;
    let mut changes = Vec::new();
    let mut attach: BTreeMap<String, String> = BTreeMap::new();
    // An instance in two fleets gets the profile once.
    let mut given: BTreeSet<&str> = BTreeSet::new();
    for f in &desired.fleets {
        let doc_name = names.fleet_document(&f.fleet.name);
        let state = observed
            .fleets
            .fleets
            .iter()
            .find(|s| s.in_stack && s.name == f.fleet.name);
        let doc = state.and_then(|s| s.document.as_ref());
        let doc_changed = match (doc, &f.document) {
            (None, _) => {
                changes.push(
                    Change::new(
                        Resource::new(ResourceKind::SsmDocument, &doc_name, None),
                        Action::Create,
                        format!("no enrolment document for fleet `{}`", f.fleet.name),
                        FleetOp::PutDocument {
                            fleet: f.fleet.name.clone(),
                            exists: false,
                            content: f.document.clone(),
                        },
                    )
                    .detail(Detail::new(
                        "content",
                        None,
                        Some(&f.document.as_deref().map_or_else(
                            || KNOWN_AFTER_APPLY.to_string(),
                            |d| short(&sha256_hex(d)),
                        )),
                    )),
                );
                true
            }
            (Some(d), want) if want.as_deref() != Some(d.content.as_str()) => {
                changes.push(
                    Change::new(
                        Resource::new(
                            ResourceKind::SsmDocument,
                            &doc_name,
                            Some(format!("version {}", d.default_version)),
                        ),
                        Action::Update,
                        "the bootstrap changed: a new document version (members are not replaced)",
                        FleetOp::PutDocument {
                            fleet: f.fleet.name.clone(),
                            exists: true,
                            content: want.clone(),
                        },
                    )
                    .detail(Detail::new(
                        "content",
                        Some(&short(&sha256_hex(&d.content))),
                        Some(&want.as_deref().map_or_else(
                            || KNOWN_AFTER_APPLY.to_string(),
                            |w| short(&sha256_hex(w)),
                        )),
                    )),
                );
                true
            }
            _ => false,
        };
        let members = state.map_or(&[][..], |s| s.members.as_slice());
        let want_targets = targets(&f.fleet.select);
        let assoc = state.and_then(|s| s.association.as_ref());
        let target_text = |t: &BTreeMap<String, Vec<String>>| {
            t.iter()
                .map(|(k, v)| format!("tag:{k}={}", v.join("|")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match assoc {
            None => changes.push(
                Change::new(
                    Resource::new(ResourceKind::SsmAssociation, &doc_name, None),
                    Action::Create,
                    format!(
                        "enrols the {} running member(s) now and every instance that gets the tags later",
                        members.len()
                    ),
                    FleetOp::PutAssociation {
                        fleet: f.fleet.name.clone(),
                        id: None,
                        targets: want_targets.clone(),
                    },
                )
                .detail(Detail::new("targets", None, Some(&target_text(&want_targets)))),
            ),
            Some(a) if doc_changed || a.targets != want_targets => {
                let mut c = Change::new(
                    Resource::new(ResourceKind::SsmAssociation, &doc_name, Some(a.id.clone())),
                    Action::Update,
                    format!(
                        "re-runs the enrolment on the {} running member(s)",
                        members.len()
                    ),
                    FleetOp::PutAssociation {
                        fleet: f.fleet.name.clone(),
                        id: Some(a.id.clone()),
                        targets: want_targets.clone(),
                    },
                );
                if a.targets != want_targets {
                    c = c.detail(Detail::new(
                        "targets",
                        Some(&target_text(&a.targets)),
                        Some(&target_text(&want_targets)),
                    ));
                }
                changes.push(c);
            }
            Some(_) => {}
        }
        for m in members {
            if m.profile_arn.is_none() && given.insert(m.id.as_str()) {
                changes.push(
                    Change::new(
                        Resource::new(ResourceKind::InstanceProfileAssociation, &m.id, None),
                        Action::Create,
                        format!(
                            "member of fleet `{}` without an instance profile",
                            f.fleet.name
                        ),
                        FleetOp::AssociateProfile {
                            instance: m.id.clone(),
                        },
                    )
                    .detail(Detail::new(
                        "profile",
                        None,
                        Some(&names.instance_profile),
                    )),
                );
            } else if m.profile_arn.is_some() && f.fleet.attach_to_existing_roles {
                for r in foreign_roles(names, m) {
                    if !r.host_policy_attached {
                        attach.insert(r.name.clone(), m.id.clone());
                    }
                }
            }
        }
    }
    for (role, instance) in &attach {
        changes.push(Change::new(
            Resource::new(
                ResourceKind::IamRolePolicyAttachment,
                format!("{role}/{}", names.host_policy),
                None,
            ),
            Action::Create,
            format!(
                "role of {instance} is not the stack's (attach_to_existing_roles = true): \
                 it gets remote_write and log shipping, nothing else on it changes"
            ),
            FleetOp::AttachHostPolicy { role: role.clone() },
        ));
    }
    changes.extend(plan_host_policy(desired, observed));
    // A member of a fleet still in the stack keeps the stack's profile when another
    // fleet it was in goes.
    let kept: BTreeSet<&str> = observed
        .fleets
        .fleets
        .iter()
        .filter(|s| s.in_stack)
        .flat_map(|s| s.members.iter().map(|m| m.id.as_str()))
        .collect();
    let mut removed: BTreeSet<&str> = kept.clone();
    for s in observed.fleets.fleets.iter().filter(|s| !s.in_stack) {
        changes.extend(remove_fleet(names, s, &removed, "no longer in stack.toml"));
        removed.extend(s.members.iter().map(|m| m.id.as_str()));
    }
    // The stack's profile on an instance in no fleet any more (its tags changed, or its
    // fleet's association was gone when the fleet was removed). A stopped instance that
    // still carries a fleet's tags keeps it.
    for p in &observed.fleets.profiled {
        let selected = desired
            .fleets
            .iter()
            .any(|f| f.fleet.select.iter().all(|(k, v)| p.tags.get(k) == Some(v)));
        if !selected && !removed.contains(p.id.as_str()) {
            changes.push(disassociate(
                &p.id,
                "holds the stack's profile but is in no fleet (its tags no longer match)",
            ));
        }
    }
    changes
}

fn disassociate(instance: &str, why: &str) -> Change {
    Change::new(
        Resource::new(ResourceKind::InstanceProfileAssociation, instance, None),
        Action::Delete,
        format!("{why}: the stack's profile comes off (the instance keeps running)"),
        FleetOp::DisassociateProfile {
            instance: instance.to_string(),
        },
    )
}

fn plan_host_policy(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let names = &desired.names;
    let wanted = desired
        .fleets
        .iter()
        .any(|f| f.fleet.attach_to_existing_roles);
    let arn = names.host_policy_arn(&desired.account_id);
    let cur = observed.fleets.host_policy.as_ref();
    let template = PolicyTemplate::HostWrite {
        workspace_arn: observed.amp_workspace().map(|w| w.arn.clone()),
        log_group_arn: desired.log_group_arn(),
    };
    let resource =
        |id: Option<String>| Resource::new(ResourceKind::IamPolicy, &names.host_policy, id);
    match (wanted, cur) {
        (true, None) => vec![Change::new(
            resource(None),
            Action::Create,
            "customer-managed copy of the host policy for roles the stack does not own",
            FleetOp::PutHostPolicy {
                exists: false,
                document: template,
                delete_version: None,
            },
        )],
        (true, Some(p)) => {
            let want = template.document(None).ok().map(|d| d.to_value());
            let same = match (&p.document, &want) {
                (Some(c), Some(w)) => crate::policy::same_policy(c, w),
                _ => false,
            };
            if same {
                return Vec::new();
            }
            vec![Change::new(
                resource(Some(arn)),
                Action::Update,
                "scoped to the current workspace and log group (a new default version)",
                FleetOp::PutHostPolicy {
                    exists: true,
                    document: template,
                    delete_version: (p.other_versions.len() >= 4)
                        .then(|| p.other_versions[0].clone()),
                },
            )]
        }
        (false, Some(_)) => vec![Change::new(
            resource(Some(arn)),
            Action::Delete,
            "no fleet sets attach_to_existing_roles (detached from every role first)",
            FleetOp::DeleteHostPolicy,
        )],
        (false, None) => Vec::new(),
    }
}

/// Everything a fleet added: the association (after an uninstall on its members), the
/// document, the stack's profile on its members (except those in `kept`).
fn remove_fleet(names: &Names, s: &FleetState, kept: &BTreeSet<&str>, why: &str) -> Vec<Change> {
    let doc_name = names.fleet_document(&s.name);
    let mut changes = Vec::new();
    // A member still in another fleet keeps what that fleet installed.
    let members: Vec<String> = s
        .members
        .iter()
        .filter(|m| !kept.contains(m.id.as_str()))
        .map(|m| m.id.clone())
        .collect();
    if let Some(a) = &s.association {
        changes.push(Change::new(
            Resource::new(ResourceKind::SsmAssociation, &doc_name, Some(a.id.clone())),
            Action::Delete,
            format!(
                "{why}: uninstalls from the {} member(s) first; the instances keep running",
                members.len()
            ),
            FleetOp::DeleteAssociation {
                fleet: s.name.clone(),
                id: a.id.clone(),
                members: members.clone(),
            },
        ));
    }
    if let Some(d) = &s.document {
        changes.push(Change::new(
            Resource::new(
                ResourceKind::SsmDocument,
                &doc_name,
                Some(format!("version {}", d.default_version)),
            ),
            Action::Delete,
            why,
            FleetOp::DeleteDocument {
                name: d.name.clone(),
            },
        ));
    }
    for m in s.members.iter().filter(|m| !kept.contains(m.id.as_str())) {
        if m.profile_arn
            .as_deref()
            .is_some_and(|a| profile_name(a) == names.instance_profile)
        {
            changes.push(disassociate(&m.id, why));
        }
    }
    changes
}

/// The destroy plan's fleet changes: every fleet's association (with the uninstall),
/// document and profile associations, and the host policy.
pub(crate) fn plan_destroy(names: &Names, observed: &Observed) -> Vec<Change> {
    // An instance in two fleets loses the stack's profile once.
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut changes = Vec::new();
    for s in &observed.fleets.fleets {
        changes.extend(remove_fleet(names, s, &done, "destroy"));
        done.extend(s.members.iter().map(|m| m.id.as_str()));
    }
    for p in &observed.fleets.profiled {
        if !done.contains(p.id.as_str()) {
            changes.push(disassociate(&p.id, "destroy"));
        }
    }
    if let Some(p) = &observed.fleets.host_policy {
        changes.push(Change::new(
            Resource::new(
                ResourceKind::IamPolicy,
                &names.host_policy,
                Some(p.arn.clone()),
            ),
            Action::Delete,
            format!(
                "detached from {} role(s) first; nothing else on them changes",
                p.attached_roles.len()
            ),
            FleetOp::DeleteHostPolicy,
        ));
    }
    changes
}

/// What the plan cannot change but the operator must know: members whose role is not the
/// stack's (without the opt-in), roles without the SSM agent's policy.
pub(crate) fn notes(desired: &Desired, observed: &Observed) -> Vec<String> {
    let names = &desired.names;
    let mut out = Vec::new();
    for f in &desired.fleets {
        let Some(s) = observed
            .fleets
            .fleets
            .iter()
            .find(|s| s.in_stack && s.name == f.fleet.name)
        else {
            continue;
        };
        if s.members.is_empty() {
            out.push(format!(
                "fleet `{}`: no running instance carries its tags yet; SSM enrols them when they do",
                f.fleet.name
            ));
        }
        let tags_off: Vec<&str> = s
            .members
            .iter()
            .filter(|m| !m.metadata_tags)
            .map(|m| m.id.as_str())
            .collect();
        if !f.fleet.labels_from_tags.is_empty() && !tags_off.is_empty() {
            out.push(format!(
                "fleet `{}`: instance metadata tags are off on {}: the enrolment reads \
                 labels_from_tags from them and refuses until they are on (the stack does not \
                 change your instances' metadata options): aws ec2 \
                 modify-instance-metadata-options --instance-metadata-tags enabled \
                 --instance-id <id>",
                f.fleet.name,
                tags_off.join(", ")
            ));
        }
        for m in &s.members {
            for r in foreign_roles(names, m) {
                if !f.fleet.attach_to_existing_roles && !r.host_policy_attached {
                    out.push(format!(
                        "fleet `{}`: {} has role `{}`, which the stack does not own: skipped \
                         (set attach_to_existing_roles = true to attach {}, or allow \
                         aps:RemoteWrite and logs:PutLogEvents on it yourself)",
                        f.fleet.name, m.id, r.name, names.host_policy
                    ));
                }
                if !r.ssm_core_attached {
                    out.push(format!(
                        "fleet `{}`: role `{}` of {} lacks {SSM_CORE_POLICY_ARN}: SSM reaches \
                         the instance only if something else allows it (e.g. Default Host \
                         Management Configuration)",
                        f.fleet.name, r.name, m.id
                    ));
                }
            }
        }
    }
    out
}

fn ssm_tags(names: &Names, fleet: &str) -> Result<Vec<aws_sdk_ssm::types::Tag>> {
    let mut tags = names.owner_tags();
    tags.insert(
        monitor_stack::defaults::FLEET_LABEL.to_string(),
        fleet.to_string(),
    );
    tags.into_iter()
        .map(|(k, v)| {
            aws_sdk_ssm::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ReconcileError::Failed(e.to_string()))
        })
        .collect()
}

fn ssm_targets(t: &BTreeMap<String, Vec<String>>) -> Vec<Target> {
    t.iter()
        .map(|(k, v)| {
            Target::builder()
                .key(format!("tag:{k}"))
                .set_values(Some(v.clone()))
                .build()
        })
        .collect()
}

/// Runs one fleet operation.
pub(crate) async fn apply(env: &Env<'_>, known: &Known, op: &FleetOp) -> Result<StepOutput> {
    let ssm = &env.clients.ssm;
    let names = &env.names;
    match op {
        FleetOp::PutDocument {
            fleet,
            exists,
            content,
        } => Box::pin(async move {
            let name = names.fleet_document(fleet);
            let content = match (content, &known.amp) {
                (Some(c), _) => c.clone(),
                (None, Some(ws)) => {
                    let f = env
                        .stack
                        .fleets
                        .iter()
                        .find(|f| &f.name == fleet)
                        .ok_or_else(|| {
                            ReconcileError::Failed(format!("no fleet {fleet} in the stack"))
                        })?;
                    crate::desired::render_fleet(env.stack, f, &ws.id)?
                }
                (None, None) => {
                    return Err(ReconcileError::Failed(format!(
                        "document of fleet {fleet} not rendered: no AMP workspace"
                    )))
                }
            };
            if !exists {
                ssm.create_document()
                    .name(&name)
                    .content(&content)
                    .document_type(DocumentType::Command)
                    .document_format(DocumentFormat::Json)
                    .set_tags(Some(ssm_tags(names, fleet)?))
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("ssm:CreateDocument", e))?;
                return Ok(StepOutput::message(format!("created SSM document {name}")));
            }
            let updated = ssm
                .update_document()
                .name(&name)
                .content(&content)
                .document_format(DocumentFormat::Json)
                .document_version("$LATEST")
                .send()
                .await;
            let version = match updated {
                Ok(out) => out
                    .document_description()
                    .and_then(|d| d.document_version())
                    .unwrap_or_default()
                    .to_string(),
                Err(e) => {
                    let e = ReconcileError::from_sdk("ssm:UpdateDocument", e);
                    if e.code() != Some("DuplicateDocumentContent") {
                        return Err(e);
                    }
                    // The content is a version already (an apply stopped before making it
                    // the default): the latest version is it.
                    ssm.describe_document()
                        .name(&name)
                        .send()
                        .await
                        .map_err(|e| ReconcileError::from_sdk("ssm:DescribeDocument", e))?
                        .document()
                        .and_then(|d| d.latest_version())
                        .unwrap_or_default()
                        .to_string()
                }
            };
            ssm.update_document_default_version()
                .name(&name)
                .document_version(&version)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("ssm:UpdateDocumentDefaultVersion", e))?;
            Ok(StepOutput::message(format!(
                "SSM document {name}: version {version} is the default"
            )))
        })
        .await,
        FleetOp::PutAssociation { fleet, id, targets } => Box::pin(async move {
            let name = names.fleet_document(fleet);
            match id {
                None => {
                    let out = ssm
                        .create_association()
                        .name(&name)
                        .association_name(&name)
                        .document_version("$DEFAULT")
                        .set_targets(Some(ssm_targets(targets)))
                        .parameters(ACTION, vec!["install".to_string()])
                        .max_concurrency(MAX_CONCURRENCY)
                        .max_errors(MAX_ERRORS)
                        .set_tags(Some(ssm_tags(names, fleet)?))
                        .send()
                        .await
                        .map_err(|e| ReconcileError::from_sdk("ssm:CreateAssociation", e))?;
                    let id = out
                        .association_description()
                        .and_then(|a| a.association_id())
                        .unwrap_or_default();
                    Ok(StepOutput::message(format!(
                        "created association {name} ({id})"
                    )))
                }
                Some(id) => {
                    // UpdateAssociation overwrites every optional field left out: send the
                    // whole definition.
                    ssm.update_association()
                        .association_id(id)
                        .name(&name)
                        .association_name(&name)
                        .document_version("$DEFAULT")
                        .set_targets(Some(ssm_targets(targets)))
                        .parameters(ACTION, vec!["install".to_string()])
                        .max_concurrency(MAX_CONCURRENCY)
                        .max_errors(MAX_ERRORS)
                        .send()
                        .await
                        .map_err(|e| ReconcileError::from_sdk("ssm:UpdateAssociation", e))?;
                    Ok(StepOutput::message(format!(
                        "updated association {name}: the enrolment re-runs on its members"
                    )))
                }
            }
        })
        .await,
        FleetOp::DeleteAssociation { fleet, id, members } => Box::pin(async move {
            let name = names.fleet_document(fleet);
            // Only members whose SSM agent is online can run the uninstall; the others
            // are named (what was installed stays until they are reachable again).
            let online = Box::pin(crate::verify::ssm::instance_information(env.clients, members)).await?;
            let (reachable, offline): (Vec<String>, Vec<String>) = members
                .iter()
                .cloned()
                .partition(|m| online.get(m).is_some_and(|i| i.online()));
            // SendCommand takes at most 50 instance ids.
            for chunk in reachable.chunks(50) {
                let sent = ssm
                    .send_command()
                    .document_name(&name)
                    .set_instance_ids(Some(chunk.to_vec()))
                    .parameters(ACTION, vec!["uninstall".to_string()])
                    .comment(format!(
                        "monitor-provision: remove stack {} from fleet {fleet}",
                        names.stack
                    ))
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("ssm:SendCommand", e))?;
                let command_id = sent
                    .command()
                    .and_then(|c| c.command_id())
                    .ok_or_else(|| {
                        ReconcileError::Failed("SendCommand returned no command id".into())
                    })?
                    .to_string();
                for m in chunk {
                    ssm::wait_invocation(env, &command_id, m)
                        .await
                        .map_err(|e| {
                            ReconcileError::Failed(format!(
                                "uninstall on {m} (fleet {fleet}) did not succeed, so the \
                                 association is kept: {e}"
                            ))
                        })?;
                }
            }
            let skipped = if offline.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} not reachable through SSM, left as they are)",
                    offline.join(", ")
                )
            };
            ssm.delete_association()
                .association_id(id)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("ssm:DeleteAssociation", e))
                .map(drop)
                .or_else(ignore_not_found)?;
            Ok(StepOutput::message(format!(
                "uninstalled from {} member(s){skipped} and deleted association {name}",
                reachable.len()
            )))
        })
        .await,
        FleetOp::DeleteDocument { name } => Box::pin(async move {
            ssm.delete_document()
                .name(name)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("ssm:DeleteDocument", e))
                .map(drop)
                .or_else(ignore_not_found)?;
            Ok(StepOutput::message(format!("deleted SSM document {name}")))
        })
        .await,
        FleetOp::AssociateProfile { instance } => Box::pin(async move {
            let profile = &names.instance_profile;
            let out = retry_transient(
                &env.opts.iam_propagation,
                crate::ec2::is_profile_propagation,
                |_, _| {},
                || async {
                    env.clients
                        .ec2
                        .associate_iam_instance_profile()
                        .instance_id(instance)
                        .iam_instance_profile(
                            IamInstanceProfileSpecification::builder()
                                .name(profile)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| ReconcileError::from_sdk("ec2:AssociateIamInstanceProfile", e))
                },
            )
            .await;
            match out {
                Ok(_) => Ok(StepOutput::message(format!(
                    "{instance}: instance profile {profile}"
                ))),
                Err(GaveUp::Permanent(e) | GaveUp::Deadline(e)) => Err(e),
            }
        })
        .await,
        FleetOp::DisassociateProfile { instance } => Box::pin(async move {
            for (_, id) in stack_profile_associations(env.clients, names, Some(instance)).await? {
                env.clients
                    .ec2
                    .disassociate_iam_instance_profile()
                    .association_id(id)
                    .send()
                    .await
                    .map_err(|e| {
                        ReconcileError::from_sdk("ec2:DisassociateIamInstanceProfile", e)
                    })?;
            }
            Ok(StepOutput::message(format!(
                "{instance}: the stack's instance profile is off"
            )))
        })
        .await,
        FleetOp::PutHostPolicy {
            exists,
            document,
            delete_version,
        } => Box::pin(async move {
            let doc = document.document(known.amp.as_ref().map(|a| a.arn.as_str()))?;
            let arn = names.host_policy_arn(&env.observed.account_id);
            let iam = &env.clients.iam;
            if !exists {
                let tags = names
                    .owner_tags()
                    .into_iter()
                    .map(|(k, v)| {
                        aws_sdk_iam::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                            .map_err(|e| ReconcileError::Failed(e.to_string()))
                    })
                    .collect::<Result<Vec<_>>>()?;
                iam.create_policy()
                    .policy_name(&names.host_policy)
                    .description(format!(
                        "remote_write and log shipping for fleet members of monitoring stack {} (managed by monitor-provision)",
                        names.stack
                    ))
                    .policy_document(doc.to_json())
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("iam:CreatePolicy", e))?;
                return Ok(StepOutput::message(format!(
                    "created IAM policy {}",
                    names.host_policy
                )));
            }
            if let Some(v) = delete_version {
                delete_policy_version(env, &arn, v).await?;
            }
            iam.create_policy_version()
                .policy_arn(&arn)
                .policy_document(doc.to_json())
                .set_as_default(true)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("iam:CreatePolicyVersion", e))?;
            Ok(StepOutput::message(format!(
                "IAM policy {}: new default version",
                names.host_policy
            )))
        })
        .await,
        FleetOp::AttachHostPolicy { role } => Box::pin(async move {
            env.clients
                .iam
                .attach_role_policy()
                .role_name(role)
                .policy_arn(names.host_policy_arn(&env.observed.account_id))
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("iam:AttachRolePolicy", e))?;
            Ok(StepOutput::message(format!(
                "attached {} to role {role}",
                names.host_policy
            )))
        })
        .await,
        FleetOp::DeleteHostPolicy => Box::pin(async move {
            let arn = names.host_policy_arn(&env.observed.account_id);
            let iam = &env.clients.iam;
            // Every role, user and group it is attached to, every page.
            let mut detached = 0;
            let mut marker = None;
            loop {
                let page = match iam
                    .list_entities_for_policy()
                    .policy_arn(&arn)
                    .set_marker(marker)
                    .send()
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        let e = ReconcileError::from_sdk("iam:ListEntitiesForPolicy", e);
                        if e.is_not_found() {
                            return Ok(StepOutput::message(format!(
                                "IAM policy {} already gone",
                                names.host_policy
                            )));
                        }
                        return Err(e);
                    }
                };
                for role in page.policy_roles().iter().filter_map(|r| r.role_name()) {
                    detach(env, role).await?;
                    detached += 1;
                }
                for user in page.policy_users().iter().filter_map(|u| u.user_name()) {
                    iam.detach_user_policy()
                        .user_name(user)
                        .policy_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| ReconcileError::from_sdk("iam:DetachUserPolicy", e))
                        .map(drop)
                        .or_else(ignore_not_found)?;
                }
                for group in page.policy_groups().iter().filter_map(|g| g.group_name()) {
                    iam.detach_group_policy()
                        .group_name(group)
                        .policy_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| ReconcileError::from_sdk("iam:DetachGroupPolicy", e))
                        .map(drop)
                        .or_else(ignore_not_found)?;
                }
                marker = page
                    .marker()
                    .filter(|_| page.is_truncated())
                    .map(str::to_string);
                if marker.is_none() {
                    break;
                }
            }
            let versions = iam
                .list_policy_versions()
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("iam:ListPolicyVersions", e))?;
            for v in versions
                .versions()
                .iter()
                .filter(|v| !v.is_default_version())
            {
                if let Some(id) = v.version_id() {
                    delete_policy_version(env, &arn, id).await?;
                }
            }
            iam.delete_policy()
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("iam:DeletePolicy", e))
                .map(drop)
                .or_else(ignore_not_found)?;
            Ok(StepOutput::message(format!(
                "detached IAM policy {} from {detached} role(s) and deleted it",
                names.host_policy
            )))
        })
        .await,
    }
}

async fn delete_policy_version(env: &Env<'_>, arn: &str, version: &str) -> Result<()> {
    env.clients
        .iam
        .delete_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:DeletePolicyVersion", e))
        .map(drop)
        .or_else(ignore_not_found)
}

async fn detach(env: &Env<'_>, role: &str) -> Result<()> {
    env.clients
        .iam
        .detach_role_policy()
        .role_name(role)
        .policy_arn(env.names.host_policy_arn(&env.observed.account_id))
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:DetachRolePolicy", e))
        .map(drop)
        .or_else(ignore_not_found)
}
