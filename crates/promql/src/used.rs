//! Which metrics an expression reads: the allowlist of what a collector must ship
//! is derived from the dashboards', rules' and checks' own PromQL with this, never kept
//! by hand.

use std::collections::BTreeSet;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, VectorSelector};

/// Grafana's template variables replaced by values the parser accepts
/// (`$__rate_interval`, `$__interval`, `$__range` by durations, `$name`/`${name}` by
/// `x`), so a panel's expression can be parsed as PromQL.
pub fn without_grafana_variables(expr: &str) -> String {
    let e = expr
        .replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h");
    let mut out = String::with_capacity(e.len());
    let mut chars = e.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            for n in chars.by_ref() {
                if n == '}' {
                    break;
                }
            }
        } else {
            while chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_')
            {
                chars.next();
            }
        }
        out.push('x');
    }
    out
}

/// The metrics an expression selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsedMetrics {
    /// Exact names: each selector's name or `__name__="…"` matcher.
    pub names: BTreeSet<String>,
    /// Name regexes (`{__name__=~"…"}`), as written (Prometheus anchors them).
    pub patterns: BTreeSet<String>,
    /// Every vector selector with its label matchers, as PromQL (`node_load1{job="node"}`;
    /// a range selector's inner selector): each can be queried on its own to prove that
    /// what the expression reads is there.
    pub selectors: BTreeSet<String>,
}

impl UsedMetrics {
    /// Adds `other`'s names and patterns.
    pub fn extend(&mut self, other: UsedMetrics) {
        self.names.extend(other.names);
        self.patterns.extend(other.patterns);
        self.selectors.extend(other.selectors);
    }
}

/// The metrics `expr` selects: the name of every vector and range selector, or its
/// `__name__="…"` or `__name__=~"…"` matcher. A selector that does not say which names it
/// matches (none, or only `!=`/`!~`) is an error, so an allowlist built from these is
/// never silently short.
///
/// # Errors
/// The parser's message, or the selector that names no metric.
pub fn metric_names(expr: &str) -> Result<UsedMetrics, String> {
    let ast = parser::parse(expr).map_err(|e| format!("{expr}: {e}"))?;
    let mut out = UsedMetrics::default();
    walk(&ast, &mut out).map_err(|e| format!("{expr}: {e}"))?;
    Ok(out)
}

fn selector(vs: &VectorSelector, out: &mut UsedMetrics) -> Result<(), String> {
    let mut bare = vs.clone();
    bare.offset = None;
    bare.at = None;
    out.selectors.insert(bare.to_string());
    if let Some(name) = &vs.name {
        out.names.insert(name.clone());
        return Ok(());
    }
    for m in vs.matchers.matchers.iter().filter(|m| m.name == "__name__") {
        match &m.op {
            MatchOp::Equal => {
                out.names.insert(m.value.clone());
                return Ok(());
            }
            MatchOp::Re(_) => {
                out.patterns.insert(m.value.clone());
                return Ok(());
            }
            _ => {}
        }
    }
    Err(format!("a selector that does not name its metrics: {vs}"))
}

fn walk(e: &Expr, out: &mut UsedMetrics) -> Result<(), String> {
    match e {
        Expr::VectorSelector(vs) => selector(vs, out),
        Expr::MatrixSelector(ms) => selector(&ms.vs, out),
        Expr::Aggregate(a) => {
            walk(&a.expr, out)?;
            a.param.as_deref().map_or(Ok(()), |p| walk(p, out))
        }
        Expr::Unary(u) => walk(&u.expr, out),
        Expr::Binary(b) => {
            walk(&b.lhs, out)?;
            walk(&b.rhs, out)
        }
        Expr::Paren(p) => walk(&p.expr, out),
        Expr::Subquery(s) => walk(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().try_for_each(|a| walk(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(e: &str) -> Vec<String> {
        metric_names(e).unwrap().names.into_iter().collect()
    }

    #[test]
    fn every_selector_of_every_shape_is_found() {
        assert_eq!(
            names(&crate::cpu_utilisation("instance_id=\"i-1\"", "1m")),
            ["node_cpu_seconds_total"]
        );
        assert_eq!(
            names("sum by (host) (rate(a_total[5m])) / on (host) group_left b > bool 0.5 or {__name__=\"c\", x=\"1\"} unless absent(d) + max_over_time(e[1h:1m]) - -f"),
            ["a_total", "b", "c", "d", "e", "f"]
        );
        assert_eq!(names("topk(3, g)"), ["g"]);
        assert_eq!(names("vector(1)"), Vec::<String>::new());
    }

    #[test]
    fn each_selector_is_kept_with_its_matchers_and_without_offset() {
        let u = metric_names(
            "rate(a_total{job=\"node\",mode!~\"idle|iowait\"}[5m] offset 1h) / on () group_left b @ 100",
        )
        .unwrap();
        assert_eq!(
            u.selectors.into_iter().collect::<Vec<_>>(),
            ["a_total{job=\"node\",mode!~\"idle|iowait\"}", "b"]
        );
    }

    #[test]
    fn a_selector_that_cannot_be_listed_is_an_error_not_a_gap() {
        let u = metric_names("rate({__name__=~\"node_(a|b)_total\"}[5m]) + c").unwrap();
        assert_eq!(
            u.patterns.into_iter().collect::<Vec<_>>(),
            ["node_(a|b)_total"]
        );
        assert_eq!(u.names.into_iter().collect::<Vec<_>>(), ["c"]);
        let e = metric_names("{__name__!~\"node_.*\", job=\"x\"}").unwrap_err();
        assert!(e.contains("does not name its metrics"), "{e}");
        assert!(metric_names("rate(x[").is_err());
    }

    #[test]
    fn grafana_variables_are_replaced_so_panels_parse() {
        let e = without_grafana_variables(
            "rate(node_network_receive_bytes_total{instance_id=~\"$instance\",env=~\"${env}\"}[$__rate_interval])",
        );
        assert_eq!(
            e,
            "rate(node_network_receive_bytes_total{instance_id=~\"x\",env=~\"x\"}[5m])"
        );
        assert_eq!(names(&e), ["node_network_receive_bytes_total"]);
    }
}
