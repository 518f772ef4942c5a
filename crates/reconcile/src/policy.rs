//! IAM policy documents as typed structs: the EC2 trust policy and the inline permissions
//! policy, scoped to the stack's AMP workspace ARN and log group ARN only.

use serde::{Deserialize, Serialize};

/// An IAM policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// Always `2012-10-17`.
    #[serde(rename = "Version")]
    pub version: String,
    /// The statements.
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Statement id.
    #[serde(rename = "Sid", skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    /// `Allow`.
    #[serde(rename = "Effect")]
    pub effect: String,
    /// Trust policies only: who may assume the role.
    #[serde(rename = "Principal", skip_serializing_if = "Option::is_none", default)]
    pub principal: Option<Principal>,
    /// Actions.
    #[serde(rename = "Action")]
    pub action: Vec<String>,
    /// Resources (permission policies only).
    #[serde(rename = "Resource", skip_serializing_if = "Option::is_none", default)]
    pub resource: Option<Vec<String>>,
}

/// A service principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// e.g. `ec2.amazonaws.com`.
    #[serde(rename = "Service")]
    pub service: String,
}

const VERSION: &str = "2012-10-17";

/// The role's trust policy: only EC2 may assume it.
pub fn trust_policy() -> PolicyDocument {
    PolicyDocument {
        version: VERSION.into(),
        statement: vec![Statement {
            sid: None,
            effect: "Allow".into(),
            principal: Some(Principal {
                service: "ec2.amazonaws.com".into(),
            }),
            action: vec!["sts:AssumeRole".into()],
            resource: None,
        }],
    }
}

/// `arn:aws:logs:<region>:<account>:log-group:<name>`.
pub fn log_group_arn(region: &str, account: &str, group: &str) -> String {
    format!("arn:aws:logs:{region}:{account}:log-group:{group}")
}

/// The inline policy of the EC2 role: `aps:RemoteWrite` on the workspace only, and the
/// CloudWatch Agent's log-shipping actions on the log group (and its streams) only.
///
/// The agent creates one stream per instance (`{instance_id}`), describes streams to find
/// its sequence position and puts events; it never needs CreateLogGroup (the group exists
/// before the host) nor PutRetentionPolicy (the provisioner owns retention).
pub fn host_policy(
    workspace_arn: &str,
    region: &str,
    account: &str,
    group: &str,
) -> PolicyDocument {
    let group_arn = log_group_arn(region, account, group);
    PolicyDocument {
        version: VERSION.into(),
        statement: vec![
            Statement {
                sid: Some("AmpRemoteWrite".into()),
                effect: "Allow".into(),
                principal: None,
                action: vec!["aps:RemoteWrite".into()],
                resource: Some(vec![workspace_arn.to_string()]),
            },
            Statement {
                sid: Some("CloudWatchLogsShip".into()),
                effect: "Allow".into(),
                principal: None,
                action: vec![
                    "logs:CreateLogStream".into(),
                    "logs:DescribeLogStreams".into(),
                    "logs:PutLogEvents".into(),
                ],
                resource: Some(vec![group_arn.clone(), format!("{group_arn}:*")]),
            },
        ],
    }
}

/// Parses a policy document as IAM returns it: GetRolePolicy and GetRole give it
/// URL-encoded (RFC 3986), some emulators give plain JSON.
pub fn parse_document(text: &str) -> Option<serde_json::Value> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str(trimmed).ok();
    }
    serde_json::from_str(&percent_decode(text)?).ok()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Whether two policy documents mean the same, ignoring key order and whether a
/// one-element list was written as a bare string.
pub fn same_policy(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    normalise(a) == normalise(b)
}

fn normalise(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("Action" | "Resource", Value::String(_))
                        | ("Statement", Value::Object(_)) => Value::Array(vec![v.clone()]),
                        _ => v.clone(),
                    };
                    (k.clone(), normalise(&v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_policy_is_scoped() {
        let p = host_policy(
            "arn:aws:aps:eu-west-1:123456789012:workspace/ws-1",
            "eu-west-1",
            "123456789012",
            "/monitoring-test/system",
        );
        let json = serde_json::to_value(&p).unwrap();
        let text = json.to_string();
        assert!(!text.contains("\"*\""), "{text}");
        assert_eq!(
            json["Statement"][0]["Resource"][0],
            "arn:aws:aps:eu-west-1:123456789012:workspace/ws-1"
        );
        assert_eq!(
            json["Statement"][1]["Resource"][1],
            "arn:aws:logs:eu-west-1:123456789012:log-group:/monitoring-test/system:*"
        );
    }

    #[test]
    fn parses_url_encoded_documents() {
        let doc = serde_json::to_string(&trust_policy()).unwrap();
        let encoded: String = doc
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let v = parse_document(&encoded).unwrap();
        assert!(same_policy(
            &v,
            &serde_json::to_value(trust_policy()).unwrap()
        ));
        let bare: serde_json::Value = serde_json::json!({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}});
        assert!(same_policy(
            &bare,
            &serde_json::to_value(trust_policy()).unwrap()
        ));
    }
}
