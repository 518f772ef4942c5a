//! `[alerting]`: who is paged for what, per-alert overrides and the user's own rule files
//! — its on-disk shape ([`AlertingFile`]), its validated model ([`AlertingConfig`]) and
//! the validation between them.
//!
//! ```toml
//! [alerting]
//! email = ["oncall@example.com", "team@example.com"]
//! https = ["https://events.pagerduty.com/integration/KEY/enqueue"]
//! notify = ["critical", "warning"]          # severities sent to SNS (info: Grafana only)
//! rule_files = ["alerts/app.yml"]           # relative to stack.toml
//!
//! [alerting.routes]                         # severity routing per subscriber
//! "team@example.com" = ["warning"]
//!
//! [alerting.rules.HostHighCpu]              # per-alert override
//! threshold = 0.95
//! for = "30m"
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Location, StackError};
use crate::validate::{duration, Ctx};

/// How urgent an alert is: its `severity` label, and which SNS topic it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Someone must act now (pages).
    Critical,
    /// Needs attention within the working day.
    Warning,
    /// Worth seeing on a dashboard; not sent by default.
    Info,
}

impl Severity {
    /// Every severity, most urgent first.
    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];

    /// The label value (`critical`, `warning`, `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }

    /// The severity whose label value is `s`.
    pub fn parse(s: &str) -> Option<Severity> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a subscriber is reached (an SNS subscription protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// `email`: SNS sends a confirmation mail first.
    Email,
    /// `https`: PagerDuty's and Opsgenie's SNS integrations are HTTPS endpoints.
    Https,
}

impl Protocol {
    /// The SNS protocol name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Https => "https",
        }
    }
}

/// One person or system paged through SNS.
#[derive(Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// How it is reached.
    pub protocol: Protocol,
    /// The address or URL (an HTTPS URL often carries an integration key: see
    /// [`Subscriber::display`]).
    pub endpoint: String,
    /// The severities sent to it (from `[alerting.routes]`, else every `notify` severity).
    pub severities: Vec<Severity>,
}

impl Subscriber {
    /// The endpoint as it may be shown: an email address as is, an HTTPS URL as its
    /// scheme and host only (the path and query often hold an integration key).
    pub fn display(&self) -> String {
        redact_endpoint(&self.endpoint)
    }
}

/// `endpoint` as it may be printed: a URL (any scheme) cut to `scheme://host/…`, an
/// email address unchanged.
pub fn redact_endpoint(endpoint: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}/…")
        }
        None => endpoint.to_string(),
    }
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("protocol", &self.protocol)
            .field("endpoint", &self.display())
            .field("severities", &self.severities)
            .finish()
    }
}

/// `[alerting.rules.<AlertName>]`: changes to one shipped alert.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleOverride {
    /// `enabled = false` leaves the alert out.
    pub enabled: bool,
    /// The alert's threshold (its unit is the alert's: a ratio, a count, seconds).
    pub threshold: Option<f64>,
    /// The alert's `for`.
    pub for_: Option<Duration>,
    /// Where the table is, for errors about it (e.g. an alert name that does not exist).
    pub location: Location,
}

/// `[alerting]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingConfig {
    /// Whether alerting is provisioned (default `true` when the table exists).
    pub enabled: bool,
    /// Email and HTTPS subscribers, in file order (emails first).
    pub subscribers: Vec<Subscriber>,
    /// Severities sent to SNS (default critical and warning); each gets one topic.
    pub notify: Vec<Severity>,
    /// The user's own Prometheus rule files, resolved against the stack file's directory.
    pub rule_files: Vec<PathBuf>,
    /// CloudWatch Logs metric filters and alarms on the stack's log group (default `true`).
    pub log_alarms: bool,
    /// Per-alert overrides by alert name.
    pub overrides: BTreeMap<String, RuleOverride>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            enabled: true,
            subscribers: Vec::new(),
            notify: vec![Severity::Critical, Severity::Warning],
            rule_files: Vec::new(),
            log_alarms: true,
            overrides: BTreeMap::new(),
        }
    }
}

/// A list of strings with their positions.
pub type SpannedList = Spanned<Vec<Spanned<String>>>;

/// `[alerting]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingFile {
    /// Default `true`.
    pub enabled: Option<bool>,
    /// Email subscribers.
    pub email: Option<Spanned<Vec<Spanned<String>>>>,
    /// HTTPS subscribers.
    pub https: Option<Spanned<Vec<Spanned<String>>>>,
    /// Severities sent to SNS.
    pub notify: Option<Spanned<Vec<Spanned<String>>>>,
    /// Subscriber → severities.
    pub routes: Option<BTreeMap<Spanned<String>, SpannedList>>,
    /// The user's rule files.
    pub rule_files: Option<Spanned<Vec<Spanned<String>>>>,
    /// Default `true`.
    pub log_alarms: Option<bool>,
    /// Alert name → override.
    pub rules: Option<BTreeMap<Spanned<String>, Spanned<RuleOverrideFile>>>,
}

/// `[alerting.rules.<AlertName>]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverrideFile {
    /// Default `true`.
    pub enabled: Option<bool>,
    /// New threshold.
    pub threshold: Option<Spanned<f64>>,
    /// New `for`.
    #[serde(rename = "for")]
    pub for_: Option<Spanned<String>>,
}

type Result<T> = std::result::Result<T, StackError>;

pub(crate) fn validate_alerting(
    ctx: &Ctx<'_>,
    f: &Spanned<AlertingFile>,
) -> Result<AlertingConfig> {
    let f = f.get_ref();
    let notify = match &f.notify {
        None => AlertingConfig::default().notify,
        Some(list) => severities(ctx, list, "alerting.notify")?,
    };
    let mut subscribers = Vec::new();
    for (protocol, list) in [(Protocol::Email, &f.email), (Protocol::Https, &f.https)] {
        let Some(list) = list else { continue };
        for (i, e) in list.get_ref().iter().enumerate() {
            let key = format!("alerting.{}[{i}]", protocol.as_str());
            let endpoint = e.get_ref();
            check_endpoint(protocol, endpoint).map_err(|m| ctx.bad(e, &key, m))?;
            if subscribers
                .iter()
                .any(|s: &Subscriber| &s.endpoint == endpoint)
            {
                return Err(ctx.bad(
                    e,
                    &key,
                    format!("`{}` is listed twice", redact_endpoint(endpoint)),
                ));
            }
            subscribers.push(Subscriber {
                protocol,
                endpoint: endpoint.clone(),
                severities: notify.clone(),
            });
        }
    }
    for (who, sevs) in f.routes.iter().flatten() {
        let key = format!("alerting.routes.\"{}\"", redact_endpoint(who.get_ref()));
        let Some(s) = subscribers
            .iter_mut()
            .find(|s| &s.endpoint == who.get_ref())
        else {
            return Err(ctx.bad(
                who,
                &key,
                "routes a subscriber that is not listed in alerting.email or alerting.https".into(),
            ));
        };
        let wanted = severities(ctx, sevs, &key)?;
        if let Some(off) = wanted.iter().find(|v| !notify.contains(v)) {
            return Err(ctx.bad(
                sevs,
                &key,
                format!("severity `{off}` is not sent to SNS: add it to alerting.notify"),
            ));
        }
        s.severities = wanted;
    }
    let base = ctx.path.parent().unwrap_or(Path::new(""));
    let rule_files = f
        .rule_files
        .iter()
        .flat_map(|l| l.get_ref().iter().enumerate())
        .map(|(i, p)| {
            let path = base.join(p.get_ref());
            if path.is_file() {
                Ok(path)
            } else {
                Err(ctx.bad(
                    p,
                    &format!("alerting.rule_files[{i}]"),
                    format!(
                        "no such file: {} (paths are relative to the stack file)",
                        path.display()
                    ),
                ))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let mut overrides = BTreeMap::new();
    for (name, o) in f.rules.iter().flatten() {
        let key = format!("alerting.rules.{}", name.get_ref());
        let r = o.get_ref();
        if let Some(t) = &r.threshold {
            if !t.get_ref().is_finite() {
                return Err(ctx.bad(
                    t,
                    &format!("{key}.threshold"),
                    "must be a finite number".into(),
                ));
            }
        }
        let for_ = r
            .for_
            .as_ref()
            .map(|d| duration(ctx, d, &format!("{key}.for")))
            .transpose()?;
        overrides.insert(
            name.get_ref().clone(),
            RuleOverride {
                enabled: r.enabled.unwrap_or(true),
                threshold: r.threshold.as_ref().map(|t| *t.get_ref()),
                for_,
                location: Location::of_span(ctx.path, ctx.text, Some(name.span())),
            },
        );
    }
    Ok(AlertingConfig {
        enabled: f.enabled.unwrap_or(true),
        subscribers,
        notify,
        rule_files,
        log_alarms: f.log_alarms.unwrap_or(true),
        overrides,
    })
}

fn severities(
    ctx: &Ctx<'_>,
    list: &Spanned<Vec<Spanned<String>>>,
    key: &str,
) -> Result<Vec<Severity>> {
    let mut out = Vec::new();
    for v in list.get_ref() {
        let s = Severity::parse(v.get_ref()).ok_or_else(|| {
            ctx.bad(
                v,
                key,
                format!(
                    "`{}` is not a severity: use critical, warning or info",
                    v.get_ref()
                ),
            )
        })?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.sort();
    Ok(out)
}

fn check_endpoint(protocol: Protocol, e: &str) -> std::result::Result<(), String> {
    match protocol {
        Protocol::Email => {
            let ok = e.split_once('@').is_some_and(|(user, domain)| {
                !user.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !e.chars().any(|c| c.is_whitespace() || c == ',')
            });
            if ok {
                Ok(())
            } else {
                Err(format!("`{e}` is not an email address"))
            }
        }
        Protocol::Https => {
            let rest = e.strip_prefix("https://").ok_or_else(|| {
                format!(
                    "`{}` is not an https:// URL (SNS HTTPS subscriptions; plain http is refused)",
                    redact_endpoint(e)
                )
            })?;
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(format!("`{}` has no host", redact_endpoint(e)));
            }
            Ok(())
        }
    }
}
