//! The `[[fleets]]` reads of [`super::observe`]: each fleet's members (running instances
//! carrying its `select` tags, the stack's own instances excepted), their instance
//! profiles and roles, the fleet's SSM document and State Manager association, and the
//! stack's customer-managed host policy. Documents are found by the stack's name prefix
//! and proven ours by their tags, so a fleet removed from `stack.toml` is still found
//! (and deleted by the next apply).

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;
use monitor_stack::Stack;

use crate::error::{ReconcileError, Result};
use crate::names::{Names, SSM_CORE_POLICY_ARN};
use crate::policy::parse_document;
use crate::Clients;

/// Everything the fleets own or touch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetsState {
    /// One per fleet in the stack, then one per document of a fleet no longer in it.
    pub fleets: Vec<FleetState>,
    /// The customer-managed host policy `<stack>-host`, if it exists.
    pub host_policy: Option<ManagedPolicyState>,
    /// Instances other than the stack's own hosts holding the stack's instance profile
    /// (what fleets gave them), in any state but terminated: how the stack finds its
    /// profile on instances that left every fleet.
    pub profiled: Vec<ProfiledInstance>,
}

/// An instance that is not one of the stack's hosts but holds the stack's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfiledInstance {
    /// `i-…`.
    pub id: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// One fleet as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetState {
    /// `[[fleets]] name`.
    pub name: String,
    /// Whether `stack.toml` still has the fleet.
    pub in_stack: bool,
    /// Its SSM document.
    pub document: Option<DocumentState>,
    /// Its State Manager association.
    pub association: Option<AssociationState>,
    /// Its running members.
    pub members: Vec<MemberState>,
}

/// The fleet's SSM Command document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentState {
    /// Document name.
    pub name: String,
    /// The default version's content (JSON text).
    pub content: String,
    /// The default version.
    pub default_version: String,
}

/// The fleet's State Manager association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationState {
    /// Association id.
    pub id: String,
    /// Its targets: tag key → values.
    pub targets: BTreeMap<String, Vec<String>>,
    /// `Overview.Status` (`Pending`, `Success`, `Failed`).
    pub status: Option<String>,
    /// `AssociationVersion`: each update makes a new one.
    pub version: Option<String>,
}

/// One running member of a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberState {
    /// `i-…`.
    pub id: String,
    /// ARN of its instance profile, if any.
    pub profile_arn: Option<String>,
    /// The roles in that profile.
    pub roles: Vec<MemberRole>,
    /// Whether its tags can be read from instance metadata (`InstanceMetadataTags`), which
    /// `labels_from_tags` needs.
    pub metadata_tags: bool,
}

/// A role in a member's instance profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRole {
    /// Role name.
    pub name: String,
    /// Whether the stack's host policy is attached to it.
    pub host_policy_attached: bool,
    /// Whether `AmazonSSMManagedInstanceCore` is attached to it.
    pub ssm_core_attached: bool,
}

/// The stack's customer-managed host policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedPolicyState {
    /// Policy ARN.
    pub arn: String,
    /// The default version's document.
    pub document: Option<serde_json::Value>,
    /// Version ids that are not the default (oldest first).
    pub other_versions: Vec<String>,
    /// Roles it is attached to.
    pub attached_roles: Vec<String>,
}

pub(super) async fn observe(
    clients: &Clients,
    names: &Names,
    stack: &Stack,
    account_id: &str,
) -> Result<FleetsState> {
    let host_policy = Box::pin(host_policy(clients, names, account_id)).await?;
    let policy_arn = names.host_policy_arn(account_id);
    let mut documents = Box::pin(documents(clients, names)).await?;
    let mut fleets = Vec::new();
    for f in &stack.fleets {
        let document = documents.remove(&f.name);
        let association = match &document {
            Some(d) => Box::pin(association(clients, &d.name)).await?,
            None => None,
        };
        let select: BTreeMap<String, Vec<String>> = f
            .select
            .iter()
            .map(|(k, v)| (k.clone(), vec![v.clone()]))
            .collect();
        let members = Box::pin(members(clients, names, &select, &policy_arn)).await?;
        fleets.push(FleetState {
            name: f.name.clone(),
            in_stack: true,
            document,
            association,
            members,
        });
    }
    for (name, d) in documents {
        let association = Box::pin(association(clients, &d.name)).await?;
        let members = match &association {
            Some(a) if !a.targets.is_empty() => {
                Box::pin(members(clients, names, &a.targets, &policy_arn)).await?
            }
            _ => Vec::new(),
        };
        fleets.push(FleetState {
            name,
            in_stack: false,
            document: Some(d),
            association,
            members,
        });
    }
    let profiled = Box::pin(profiled(clients, names)).await?;
    Ok(FleetsState {
        fleets,
        host_policy,
        profiled,
    })
}

/// The live (associating or associated) associations of the stack's instance profile,
/// as `(instance id, association id)`, optionally of one instance only. The one read of
/// which instances hold the stack's profile (EC2 has no instance filter on a profile).
///
/// # Errors
/// The mapped EC2 error.
pub async fn stack_profile_associations(
    clients: &Clients,
    names: &Names,
    instance: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let mut req = clients
            .ec2
            .describe_iam_instance_profile_associations()
            .filters(
                Filter::builder()
                    .name("state")
                    .values("associating")
                    .values("associated")
                    .build(),
            )
            .set_next_token(token);
        if let Some(id) = instance {
            req = req.filters(Filter::builder().name("instance-id").values(id).build());
        }
        let page = req.send().await.map_err(|e| {
            ReconcileError::from_sdk("ec2:DescribeIamInstanceProfileAssociations", e)
        })?;
        for a in page.iam_instance_profile_associations() {
            let ours = a
                .iam_instance_profile()
                .and_then(|p| p.arn())
                .is_some_and(|arn| profile_name(arn) == names.instance_profile);
            if let (true, Some(i), Some(id)) = (ours, a.instance_id(), a.association_id()) {
                out.push((i.to_string(), id.to_string()));
            }
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Instances holding the stack's profile that are not the stack's own.
async fn profiled(clients: &Clients, names: &Names) -> Result<Vec<ProfiledInstance>> {
    let ids: Vec<String> = stack_profile_associations(clients, names, None)
        .await?
        .into_iter()
        .map(|(instance, _)| instance)
        .collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(100) {
        let page = clients
            .ec2
            .describe_instances()
            .set_instance_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:DescribeInstances", e))?;
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            let tags = super::ec2::instance_tags(i);
            let terminated = i
                .state()
                .and_then(|s| s.name())
                .is_some_and(|n| n.as_str() == "terminated");
            if terminated || names.owns(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                continue;
            }
            out.push(ProfiledInstance {
                id: i.instance_id().unwrap_or_default().to_string(),
                tags,
            });
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The stack's fleet documents by fleet name (owned: name prefix and both tags).
async fn documents(clients: &Clients, names: &Names) -> Result<BTreeMap<String, DocumentState>> {
    let prefix = names.fleet_prefix();
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = clients
            .ssm
            .list_documents()
            .filters(
                aws_sdk_ssm::types::DocumentKeyValuesFilter::builder()
                    .key("Owner")
                    .values("Self")
                    .build(),
            )
            .max_results(50)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ssm:ListDocuments", e))?;
        for d in page.document_identifiers() {
            let Some(name) = d.name() else { continue };
            let Some(fleet) = name.strip_prefix(&prefix) else {
                continue;
            };
            let mut tags: Vec<(String, String)> = d
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            if tags.is_empty() {
                tags = clients
                    .ssm
                    .list_tags_for_resource()
                    .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Document)
                    .resource_id(name)
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("ssm:ListTagsForResource", e))?
                    .tag_list()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
            }
            if !names.owns(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                continue;
            }
            let doc = clients
                .ssm
                .get_document()
                .name(name)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("ssm:GetDocument", e))?;
            out.insert(
                fleet.to_string(),
                DocumentState {
                    name: name.to_string(),
                    content: doc.content().unwrap_or_default().to_string(),
                    default_version: doc.document_version().unwrap_or_default().to_string(),
                },
            );
        }
        // The end is a missing token (AWS) or an empty one (moto).
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// The association running `document` (named like it).
async fn association(clients: &Clients, document: &str) -> Result<Option<AssociationState>> {
    let out = clients
        .ssm
        .list_associations()
        .association_filter_list(
            aws_sdk_ssm::types::AssociationFilter::builder()
                .key(aws_sdk_ssm::types::AssociationFilterKey::AssociationName)
                .value(document)
                .build()
                .map_err(|e| ReconcileError::Failed(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("ssm:ListAssociations", e))?;
    let Some(a) = out
        .associations()
        .iter()
        .find(|a| a.name() == Some(document))
    else {
        return Ok(None);
    };
    let targets = a
        .targets()
        .iter()
        .filter_map(|t| {
            let key = t.key()?.strip_prefix("tag:")?;
            Some((key.to_string(), t.values().to_vec()))
        })
        .collect();
    Ok(Some(AssociationState {
        id: a.association_id().unwrap_or_default().to_string(),
        targets,
        status: a.overview().and_then(|o| o.status()).map(str::to_string),
        version: a.association_version().map(str::to_string),
    }))
}

/// Running instances carrying every `select` tag (one of its values), except the stack's
/// own, with their profiles' roles.
async fn members(
    clients: &Clients,
    names: &Names,
    select: &BTreeMap<String, Vec<String>>,
    policy_arn: &str,
) -> Result<Vec<MemberState>> {
    let mut filters: Vec<Filter> = select
        .iter()
        .map(|(k, v)| {
            Filter::builder()
                .name(format!("tag:{k}"))
                .set_values(Some(v.clone()))
                .build()
        })
        .collect();
    filters.push(
        Filter::builder()
            .name("instance-state-name")
            .values("running")
            .build(),
    );
    let mut out = Vec::new();
    let mut profiles: BTreeMap<String, Vec<MemberRole>> = BTreeMap::new();
    let mut token = None;
    loop {
        let page = clients
            .ec2
            .describe_instances()
            .set_filters(Some(filters.clone()))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:DescribeInstances", e))?;
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            if names.owns(
                i.tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            ) {
                continue;
            }
            let profile_arn = i
                .iam_instance_profile()
                .and_then(|p| p.arn())
                .map(str::to_string);
            let roles = match &profile_arn {
                None => Vec::new(),
                Some(arn) => match profiles.get(arn) {
                    Some(r) => r.clone(),
                    None => {
                        let r = Box::pin(profile_roles(clients, arn, policy_arn)).await?;
                        profiles.insert(arn.clone(), r.clone());
                        r
                    }
                },
            };
            out.push(MemberState {
                id: i.instance_id().unwrap_or_default().to_string(),
                profile_arn,
                roles,
                metadata_tags: i
                    .metadata_options()
                    .and_then(|m| m.instance_metadata_tags())
                    .is_some_and(|t| t.as_str() == "enabled"),
            });
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The name of the instance profile `arn` (the last path segment).
pub fn profile_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

async fn profile_roles(
    clients: &Clients,
    profile_arn: &str,
    policy_arn: &str,
) -> Result<Vec<MemberRole>> {
    let profile = clients
        .iam
        .get_instance_profile()
        .instance_profile_name(profile_name(profile_arn))
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:GetInstanceProfile", e))?;
    let mut out = Vec::new();
    for r in profile
        .instance_profile()
        .map(|p| p.roles())
        .unwrap_or_default()
    {
        let attached = clients
            .iam
            .list_attached_role_policies()
            .role_name(r.role_name())
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:ListAttachedRolePolicies", e))?;
        let arns: Vec<&str> = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .collect();
        out.push(MemberRole {
            name: r.role_name().to_string(),
            host_policy_attached: arns.contains(&policy_arn),
            ssm_core_attached: arns.contains(&SSM_CORE_POLICY_ARN),
        });
    }
    Ok(out)
}

async fn host_policy(
    clients: &Clients,
    names: &Names,
    account_id: &str,
) -> Result<Option<ManagedPolicyState>> {
    let arn = names.host_policy_arn(account_id);
    let policy = match clients.iam.get_policy().policy_arn(&arn).send().await {
        Ok(out) => match out.policy {
            Some(p) => p,
            None => return Ok(None),
        },
        Err(e) => {
            let e = ReconcileError::from_sdk("iam:GetPolicy", e);
            return if e.is_not_found() { Ok(None) } else { Err(e) };
        }
    };
    let mut tags = policy.tags().to_vec();
    if tags.is_empty() {
        tags = clients
            .iam
            .list_policy_tags()
            .policy_arn(&arn)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:ListPolicyTags", e))?
            .tags()
            .to_vec();
    }
    if !names.owns(tags.iter().map(|t| (t.key(), t.value()))) {
        return Err(ReconcileError::NotOurs {
            kind: "IAM policy",
            name: names.host_policy.clone(),
            stack: names.stack.clone(),
        });
    }
    let default_version = policy.default_version_id().unwrap_or("v1").to_string();
    let version = clients
        .iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(&default_version)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:GetPolicyVersion", e))?;
    let document = version
        .policy_version()
        .and_then(|v| v.document())
        .and_then(parse_document);
    let versions = clients
        .iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:ListPolicyVersions", e))?;
    let mut other: Vec<(i64, String)> = versions
        .versions()
        .iter()
        .filter(|v| !v.is_default_version())
        .filter_map(|v| {
            Some((
                v.create_date().map_or(0, |d| d.secs()),
                v.version_id()?.to_string(),
            ))
        })
        .collect();
    other.sort();
    let entities = clients
        .iam
        .list_entities_for_policy()
        .policy_arn(&arn)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:ListEntitiesForPolicy", e))?;
    Ok(Some(ManagedPolicyState {
        arn,
        document,
        other_versions: other.into_iter().map(|(_, v)| v).collect(),
        attached_roles: entities
            .policy_roles()
            .iter()
            .filter_map(|r| r.role_name().map(str::to_string))
            .collect(),
    }))
}
