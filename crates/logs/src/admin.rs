//! Log group lifecycle for the provisioner: read a group's state, create it (idempotently)
//! with its retention and tags, delete it. `monitor-reconcile` calls these instead of
//! talking to CloudWatch Logs itself, so every CloudWatch Logs call stays in this crate.
//!
//! All three are safe to repeat: creating a group that exists only reconciles its
//! retention and tags, deleting a group that is gone reports `false`.

use std::collections::{BTreeMap, HashMap};

use crate::{Client, LogsError};

/// What CloudWatch Logs says about one log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupInfo {
    /// The group name.
    pub name: String,
    /// The group ARN without the trailing `:*` (`arn:aws:logs:<region>:<account>:log-group:<name>`).
    pub arn: String,
    /// Retention in days; `None` = never expire.
    pub retention_days: Option<i32>,
    /// The group's tags.
    pub tags: BTreeMap<String, String>,
}

/// The group named exactly `name`, with its tags, or `None` if there is none.
///
/// # Errors
/// [`LogsError`] from DescribeLogGroups / ListTagsForResource.
pub async fn describe_log_group(
    client: &Client,
    name: &str,
) -> Result<Option<LogGroupInfo>, LogsError> {
    let mut token: Option<String> = None;
    loop {
        let out = client
            .describe_log_groups()
            .log_group_name_prefix(name)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| LogsError::from_sdk("DescribeLogGroups", e))?;
        if let Some(g) = out
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
        {
            let arn = g
                .arn()
                .map(|a| a.trim_end_matches(":*").to_string())
                .unwrap_or_default();
            let tags = if arn.is_empty() {
                BTreeMap::new()
            } else {
                client
                    .list_tags_for_resource()
                    .resource_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| LogsError::from_sdk("ListTagsForResource", e))?
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default()
            };
            return Ok(Some(LogGroupInfo {
                name: name.to_string(),
                arn,
                retention_days: g.retention_in_days(),
                tags,
            }));
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// Makes sure the group `name` exists with `retention_days` and at least `tags`: creates
/// it if missing (an `ResourceAlreadyExistsException` from a concurrent or interrupted
/// run counts as success), sets the retention if it differs, adds missing tags. Returns
/// the group as it is afterwards and whether it was created.
///
/// # Errors
/// [`LogsError`] from CreateLogGroup / PutRetentionPolicy / TagResource.
pub async fn ensure_log_group(
    client: &Client,
    name: &str,
    retention_days: i32,
    tags: &BTreeMap<String, String>,
) -> Result<(LogGroupInfo, bool), LogsError> {
    let mut created = false;
    let existing = describe_log_group(client, name).await?;
    if existing.is_none() {
        let tag_map: HashMap<String, String> =
            tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        match client
            .create_log_group()
            .log_group_name(name)
            .set_tags(Some(tag_map))
            .send()
            .await
        {
            Ok(_) => created = true,
            Err(e) => match LogsError::from_sdk("CreateLogGroup", e) {
                LogsError::Service { code, .. } if code == "ResourceAlreadyExistsException" => {}
                other => return Err(other),
            },
        }
    }
    let current = match existing {
        Some(g) => g,
        None => describe_log_group(client, name)
            .await?
            .ok_or_else(|| LogsError::NotFound {
                action: "DescribeLogGroups",
                message: format!("log group {name} not visible right after CreateLogGroup"),
            })?,
    };
    if current.retention_days != Some(retention_days) {
        client
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(retention_days)
            .send()
            .await
            .map_err(|e| LogsError::from_sdk("PutRetentionPolicy", e))?;
    }
    let missing: HashMap<String, String> = tags
        .iter()
        .filter(|(k, v)| current.tags.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !missing.is_empty() && !current.arn.is_empty() {
        client
            .tag_resource()
            .resource_arn(&current.arn)
            .set_tags(Some(missing))
            .send()
            .await
            .map_err(|e| LogsError::from_sdk("TagResource", e))?;
    }
    let mut after = current;
    after.retention_days = Some(retention_days);
    after
        .tags
        .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok((after, created))
}

/// Deletes the group `name`; `Ok(false)` when it did not exist.
///
/// # Errors
/// [`LogsError`] from DeleteLogGroup other than not-found.
pub async fn delete_log_group(client: &Client, name: &str) -> Result<bool, LogsError> {
    match client.delete_log_group().log_group_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e) => match LogsError::from_sdk("DeleteLogGroup", e) {
            LogsError::NotFound { .. } => Ok(false),
            other => Err(other),
        },
    }
}

/// A metric filter counting matching events: value 1 per event into `namespace/metric_name`
/// (no dimensions, so an alarm on the metric needs none either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricFilter {
    /// Filter name.
    pub name: String,
    /// Filter pattern.
    pub pattern: String,
    /// CloudWatch metric namespace.
    pub namespace: String,
    /// CloudWatch metric name.
    pub metric_name: String,
}

/// The metric filters of group `group` whose names start with `prefix`.
///
/// # Errors
/// [`LogsError`] from DescribeMetricFilters (a missing group gives an empty list).
pub async fn metric_filters(
    client: &Client,
    group: &str,
    prefix: &str,
) -> Result<Vec<MetricFilter>, LogsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = match client
            .describe_metric_filters()
            .log_group_name(group)
            .filter_name_prefix(prefix)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) => match LogsError::from_sdk("DescribeMetricFilters", e) {
                LogsError::NotFound { .. } => return Ok(out),
                other => return Err(other),
            },
        };
        for f in page.metric_filters() {
            let t = f.metric_transformations().first();
            out.push(MetricFilter {
                name: f.filter_name().unwrap_or_default().to_string(),
                pattern: f.filter_pattern().unwrap_or_default().to_string(),
                namespace: t
                    .map(|t| t.metric_namespace().to_string())
                    .unwrap_or_default(),
                metric_name: t.map(|t| t.metric_name().to_string()).unwrap_or_default(),
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Creates or replaces the metric filter `f` on group `group` (PutMetricFilter is an
/// upsert by name).
///
/// # Errors
/// [`LogsError`] from PutMetricFilter or building the transformation.
pub async fn put_metric_filter(
    client: &Client,
    group: &str,
    f: &MetricFilter,
) -> Result<(), LogsError> {
    let t = aws_sdk_cloudwatchlogs::types::MetricTransformation::builder()
        .metric_name(&f.metric_name)
        .metric_namespace(&f.namespace)
        .metric_value("1")
        .build()
        .map_err(|e| LogsError::InvalidRequest(format!("metric filter {}: {e}", f.name)))?;
    client
        .put_metric_filter()
        .log_group_name(group)
        .filter_name(&f.name)
        .filter_pattern(&f.pattern)
        .metric_transformations(t)
        .send()
        .await
        .map_err(|e| LogsError::from_sdk("PutMetricFilter", e))?;
    Ok(())
}

/// Deletes the metric filter `name` of group `group`; `Ok(false)` when it did not exist.
///
/// # Errors
/// [`LogsError`] from DeleteMetricFilter other than not-found.
pub async fn delete_metric_filter(
    client: &Client,
    group: &str,
    name: &str,
) -> Result<bool, LogsError> {
    match client
        .delete_metric_filter()
        .log_group_name(group)
        .filter_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => match LogsError::from_sdk("DeleteMetricFilter", e) {
            LogsError::NotFound { .. } => Ok(false),
            other => Err(other),
        },
    }
}
