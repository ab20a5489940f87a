//! Grafana dashboards as Grafana reads them: every panel's PromQL targets (rows' nested
//! panels included) and the dashboard's template variables, interpolated as Grafana does
//! before it sends a query to Prometheus.

use serde_json::Value;

/// One `targets[]` entry of one panel.
#[derive(Debug, Clone)]
pub struct PanelQuery {
    pub panel: String,
    pub ref_id: String,
    pub expr: String,
}

/// The PromQL targets of every panel, in dashboard order, including panels nested in rows.
pub fn panel_queries(dashboard: &Value) -> Vec<PanelQuery> {
    let mut out = Vec::new();
    collect(dashboard["panels"].as_array(), &mut out);
    out
}

fn collect(panels: Option<&Vec<Value>>, out: &mut Vec<PanelQuery>) {
    for panel in panels.into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push(PanelQuery {
                    panel: panel["title"].as_str().unwrap_or_default().to_string(),
                    ref_id: target["refId"].as_str().unwrap_or_default().to_string(),
                    expr: expr.to_string(),
                });
            }
        }
        collect(panel["panels"].as_array(), out);
    }
}

/// A `query` template variable.
#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub include_all: bool,
    pub all_value: Option<String>,
    /// The variable's query, e.g. `label_values(hubble_http_requests_total, reporter)`.
    pub query: String,
    /// Grafana's sort option: 2 and 4 are descending.
    pub sort: u64,
}

/// The dashboard's `query` variables in templating order (later ones may use earlier ones).
pub fn variables(dashboard: &Value) -> Vec<Variable> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "query")
        .map(|v| Variable {
            name: v["name"].as_str().unwrap_or_default().to_string(),
            include_all: v["includeAll"].as_bool().unwrap_or(false),
            all_value: v["allValue"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            query: v["query"]["query"]
                .as_str()
                .or_else(|| v["query"].as_str())
                .unwrap_or_default()
                .to_string(),
            sort: v["sort"].as_u64().unwrap_or(0),
        })
        .collect()
}

impl Variable {
    /// The value Grafana uses with "All" selected: the custom all value, else a regex that
    /// matches every value (`.*` also matches series without the label).
    pub fn all(&self) -> String {
        self.all_value.clone().unwrap_or_else(|| ".*".to_string())
    }

    /// `label_values([selector,] label)` split into its selector (if any) and label.
    pub fn label_values(&self) -> Option<(Option<String>, String)> {
        let inner = self
            .query
            .trim()
            .strip_prefix("label_values(")?
            .strip_suffix(')')?;
        Some(match inner.rsplit_once(',') {
            Some((sel, label)) => (Some(sel.trim().to_string()), label.trim().to_string()),
            None => (None, inner.trim().to_string()),
        })
    }

    /// The value Grafana selects by default among `values` (sorted ascending): the first in
    /// the variable's sort order, or empty when there is none.
    pub fn default_value(&self, values: &[String]) -> String {
        let pick = if matches!(self.sort, 2 | 4 | 6) {
            values.last()
        } else {
            values.first()
        };
        pick.cloned().unwrap_or_default()
    }
}

/// Grafana's interpolation: `${name}` and `$name` of the given variables, and the built-in
/// interval variables (`$__rate_interval`, `$__interval`, `$__range`…) all set to `interval`.
/// Anything else, such as `$1` in `label_replace`, is left alone.
pub fn interpolate(expr: &str, vars: &[(String, String)], interval: &str) -> String {
    let mut names: Vec<(String, String)> = vars.to_vec();
    for builtin in [
        "__rate_interval",
        "__interval",
        "__range",
        "__auto_interval",
    ] {
        names.push((builtin.to_string(), interval.to_string()));
    }
    // Longest first, so `$source_namespace` is not read as `$source` + `_namespace`.
    names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    'outer: while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        for (name, value) in &names {
            let braced = format!("{{{name}}}");
            if let Some(tail) = after.strip_prefix(&braced) {
                out.push_str(value);
                rest = tail;
                continue 'outer;
            }
            if let Some(tail) = after.strip_prefix(name.as_str())
                && !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            {
                out.push_str(value);
                rest = tail;
                continue 'outer;
            }
        }
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_variables_and_builtins_but_not_regex_groups() {
        let vars = vec![
            ("source".to_string(), "S".to_string()),
            ("source_namespace".to_string(), ".*".to_string()),
        ];
        let got = interpolate(
            r#"label_replace(x{a=~"$source_namespace", b="${source}"}[$__rate_interval], "s", "$1", "d", "(.*)")"#,
            &vars,
            "30s",
        );
        assert_eq!(
            got,
            r#"label_replace(x{a=~".*", b="S"}[30s], "s", "$1", "d", "(.*)")"#
        );
    }

    #[test]
    fn finds_targets_in_collapsed_rows() {
        let d: Value = serde_json::json!({"panels": [
            {"title": "r", "type": "row", "panels": [
                {"title": "inner", "targets": [{"expr": "up", "refId": "A"}]}
            ]},
            {"title": "top", "targets": [{"expr": "x", "refId": "B"}, {"refId": "C"}]}
        ]});
        let q = panel_queries(&d);
        let got: Vec<_> = q
            .iter()
            .map(|q| (q.panel.as_str(), q.expr.as_str()))
            .collect();
        assert_eq!(got, [("inner", "up"), ("top", "x")]);
    }

    #[test]
    fn splits_label_values_queries() {
        let v = Variable {
            name: "w".into(),
            include_all: false,
            all_value: None,
            query: r#"label_values(m{c=~"${cluster}"}, destination_workload)"#.into(),
            sort: 2,
        };
        assert_eq!(
            v.label_values(),
            Some((
                Some(r#"m{c=~"${cluster}"}"#.to_string()),
                "destination_workload".to_string()
            ))
        );
        assert_eq!(v.default_value(&["a".into(), "b".into()]), "b");
        assert_eq!(v.default_value(&[]), "");
    }
}
