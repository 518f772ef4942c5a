//! The AWS side of `monitor-verify`: the Grafana checks ([`verify_grafana`]), and the
//! whole-stack checkup of `monitor-verify --config stack.toml` ([`checkup`]), which finds
//! the workspace and the hosts by the stack's tags ([`discover`]) and the hosts' SSM state
//! ([`ssm`]). Built on [`crate::observe`], so verify chooses exactly what plan and apply
//! chose.

mod checkup;
mod discover;
mod grafana;
pub mod ssm;

pub use checkup::{checkup, expected_labels, CheckupOptions};
pub use discover::{
    aws_checks, discover, from_observed, Discovered, DiscoveredFleet, DiscoveredGroup,
    DiscoveredGroupInstance, DiscoveredHost, DiscoveredMember,
};
pub use grafana::{expected_content, verify_grafana};
