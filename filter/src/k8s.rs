//! Kubernetes object filters: pods and services (`[namespace/]namePrefix`), workloads
//! and cluster names.

use flowscope_proto::flow::Workload;

use crate::FilterError;
use crate::view::Pairs;

/// The namespace Hubble assumes when a pod or service filter has no `/`.
const DEFAULT_NAMESPACE: &str = "default";

#[derive(Debug, Clone)]
struct NamespacedName {
    /// `None` matches any namespace (`"/x"`, `"/"`).
    namespace: Option<String>,
    /// Name prefix; empty matches any name.
    prefix: String,
}

/// `source_pod`, `destination_pod`, `source_service`, `destination_service`.
///
/// - `"x"`: namespace `default`, name prefix `x`;
/// - `"ns/"`: any name in `ns`;
/// - `"ns/x"`: name prefix `x` in `ns`;
/// - `"/x"`: name prefix `x` in any namespace;
/// - `"/"`: anything that has a namespace or a name.
///
/// An object whose namespace and name are both empty never matches.
#[derive(Debug, Clone, Default)]
pub(crate) struct NamespacedNameMatcher {
    names: Vec<NamespacedName>,
}

impl NamespacedNameMatcher {
    pub(crate) fn new(field: &'static str, values: &[String]) -> Result<Self, FilterError> {
        let names = values
            .iter()
            .map(|v| parse_namespaced_name(v).ok_or(FilterError::EmptyName { field }))
            .collect::<Result<_, _>>()?;
        Ok(Self { names })
    }

    #[inline]
    pub(crate) fn matches(&self, namespace: &str, name: &str) -> bool {
        if namespace.is_empty() && name.is_empty() {
            return false;
        }
        self.names.iter().any(|f| {
            f.namespace.as_deref().is_none_or(|ns| ns == namespace) && name.starts_with(&f.prefix)
        })
    }
}

fn parse_namespaced_name(value: &str) -> Option<NamespacedName> {
    if value.is_empty() {
        return None;
    }
    Some(match value.split_once('/') {
        Some((ns, rest)) => NamespacedName {
            namespace: (!ns.is_empty()).then(|| ns.to_string()),
            // Like Go's strings.Split(..)[1]: anything after a second '/' is dropped.
            prefix: rest.split('/').next().unwrap_or_default().to_string(),
        },
        None => NamespacedName {
            namespace: Some(DEFAULT_NAMESPACE.to_string()),
            prefix: value.to_string(),
        },
    })
}

/// `source_workload`, `destination_workload`: a filter's name and kind each match if
/// empty or equal, against any workload of the endpoint.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkloadMatcher {
    workloads: Vec<Workload>,
}

impl WorkloadMatcher {
    pub(crate) fn new(workloads: &[Workload]) -> Self {
        Self {
            workloads: workloads.to_vec(),
        }
    }

    #[inline]
    pub(crate) fn matches(&self, endpoint_workloads: &dyn Pairs) -> bool {
        endpoint_workloads.iter().any(|(name, kind)| {
            self.workloads.iter().any(|f| {
                (f.name.is_empty() || f.name == name) && (f.kind.is_empty() || f.kind == kind)
            })
        })
    }
}

/// `source_cluster_name`, `destination_cluster_name`: exact equality.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterNameMatcher {
    names: Vec<String>,
}

impl ClusterNameMatcher {
    pub(crate) fn new(field: &'static str, values: &[String]) -> Result<Self, FilterError> {
        if values.iter().any(String::is_empty) {
            return Err(FilterError::EmptyClusterName { field });
        }
        Ok(Self {
            names: values.to_vec(),
        })
    }

    #[inline]
    pub(crate) fn matches(&self, cluster: &str) -> bool {
        self.names.iter().any(|n| n == cluster)
    }
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;
    use flowscope_proto::flow::{Endpoint, Flow, FlowFilter, Service, Workload};

    fn pod_flow(src: (&str, &str), dst: (&str, &str)) -> Flow {
        Flow {
            source: Some(endpoint(src.0, src.1)),
            destination: Some(endpoint(dst.0, dst.1)),
            ..Default::default()
        }
    }

    fn svc_flow(src: (&str, &str), dst: (&str, &str)) -> Flow {
        Flow {
            source_service: Some(Service {
                namespace: src.0.into(),
                name: src.1.into(),
            }),
            destination_service: Some(Service {
                namespace: dst.0.into(),
                name: dst.1.into(),
            }),
            ..Default::default()
        }
    }

    fn pods(src: &[&str], dst: &[&str]) -> FlowFilter {
        FlowFilter {
            source_pod: strings(src),
            destination_pod: strings(dst),
            ..Default::default()
        }
    }

    #[test]
    fn source_pod_without_namespace_means_default() {
        let f = pods(&["xwing", "kube-system/coredns-"], &[]);
        assert!(matches(&f, &pod_flow(("default", "xwing"), ("", ""))));
        assert!(matches(&f, &pod_flow(("default", "xwing-t-65b"), ("", ""))));
        assert!(matches(
            &f,
            &pod_flow(("kube-system", "coredns-12345"), ("", ""))
        ));
        assert!(!matches(
            &f,
            &pod_flow(("kube-system", "-coredns-12345"), ("", ""))
        ));
        assert!(!matches(&f, &pod_flow(("kube-system", "xwing"), ("", ""))));
        assert!(!matches(&f, &pod_flow(("", "xwing"), ("default", "xwing"))));
        assert!(!matches(&f, &Flow::default()));
    }

    #[test]
    fn destination_pod() {
        let f = pods(&[], &["default/tiefighter"]);
        assert!(matches(
            &f,
            &pod_flow(("x", "y"), ("default", "tiefighter"))
        ));
        assert!(!matches(
            &f,
            &pod_flow(("default", "tiefighter"), ("x", "y"))
        ));
    }

    #[test]
    fn namespace_only_and_any_namespace() {
        let ns = pods(&["kube-system/"], &[]);
        assert!(matches(
            &ns,
            &pod_flow(("kube-system", "anything"), ("", ""))
        ));
        assert!(!matches(&ns, &pod_flow(("default", "anything"), ("", ""))));

        let any_ns = pods(&["/core"], &[]);
        assert!(matches(
            &any_ns,
            &pod_flow(("kube-system", "coredns"), ("", ""))
        ));
        assert!(matches(&any_ns, &pod_flow(("other", "core"), ("", ""))));
        assert!(!matches(
            &any_ns,
            &pod_flow(("kube-system", "dns"), ("", ""))
        ));

        let all = pods(&["/"], &[]);
        assert!(matches(&all, &pod_flow(("kube-system", ""), ("", ""))));
        assert!(matches(&all, &pod_flow(("", "bare-pod"), ("", ""))));
        assert!(!matches(&all, &pod_flow(("", ""), ("a", "b"))));
    }

    #[test]
    fn empty_pod_is_an_error() {
        assert_eq!(
            error(&pods(&["ok", ""], &[])),
            "invalid filter: source_pod: empty value, expected [namespace/][<name>]"
        );
        assert!(error(&pods(&[], &[""])).starts_with("invalid filter: destination_pod:"));
    }

    #[test]
    fn services() {
        let f = FlowFilter {
            source_service: strings(&["deathstar", "kube-system/kube-dns"]),
            ..Default::default()
        };
        assert!(matches(&f, &svc_flow(("default", "deathstar"), ("", ""))));
        assert!(matches(
            &f,
            &svc_flow(("kube-system", "kube-dns"), ("", ""))
        ));
        assert!(!matches(&f, &svc_flow(("default", "xwing"), ("", ""))));
        assert!(!matches(&f, &svc_flow(("", ""), ("default", "deathstar"))));

        let f = FlowFilter {
            destination_service: strings(&["default/", "kube-system/kube-"]),
            ..Default::default()
        };
        assert!(matches(&f, &svc_flow(("", ""), ("default", "xwing"))));
        assert!(matches(
            &f,
            &svc_flow(("", ""), ("kube-system", "kube-dns"))
        ));
        assert!(!matches(
            &f,
            &svc_flow(("", ""), ("kube-system", "coredns"))
        ));
        assert!(!matches(&f, &svc_flow(("default", "xwing"), ("", ""))));

        let e = error(&FlowFilter {
            destination_service: strings(&[""]),
            ..Default::default()
        });
        assert!(
            e.starts_with("invalid filter: destination_service: empty value"),
            "{e}"
        );
    }

    fn workload_flow(src: &[(&str, &str)], dst: &[(&str, &str)]) -> Flow {
        let ep = |ws: &[(&str, &str)]| Endpoint {
            workloads: ws
                .iter()
                .map(|(name, kind)| Workload {
                    name: (*name).into(),
                    kind: (*kind).into(),
                })
                .collect(),
            ..Default::default()
        };
        Flow {
            source: Some(ep(src)),
            destination: Some(ep(dst)),
            ..Default::default()
        }
    }

    fn wl(name: &str, kind: &str) -> Workload {
        Workload {
            name: name.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn source_workload_name_and_kind() {
        let f = FlowFilter {
            source_workload: vec![wl("client", "Deployment")],
            ..Default::default()
        };
        assert!(matches(
            &f,
            &workload_flow(&[("client", "Deployment")], &[])
        ));
        assert!(matches(
            &f,
            &workload_flow(&[("x", "Job"), ("client", "Deployment")], &[])
        ));
        assert!(!matches(
            &f,
            &workload_flow(&[("client", "StatefulSet")], &[])
        ));
        assert!(!matches(
            &f,
            &workload_flow(&[("server", "Deployment")], &[])
        ));
        assert!(!matches(
            &f,
            &workload_flow(&[], &[("client", "Deployment")])
        ));
    }

    #[test]
    fn destination_workload_wildcards() {
        let by_kind = FlowFilter {
            destination_workload: vec![wl("", "DaemonSet")],
            ..Default::default()
        };
        assert!(matches(
            &by_kind,
            &workload_flow(&[], &[("cilium", "DaemonSet")])
        ));
        assert!(!matches(
            &by_kind,
            &workload_flow(&[], &[("cilium", "Deployment")])
        ));

        let by_name = FlowFilter {
            destination_workload: vec![wl("cilium", "")],
            ..Default::default()
        };
        assert!(matches(
            &by_name,
            &workload_flow(&[], &[("cilium", "Deployment")])
        ));
        assert!(!matches(
            &by_name,
            &workload_flow(&[], &[("hubble", "Deployment")])
        ));
        assert!(!matches(&by_name, &Flow::default()));
    }

    fn cluster_flow(src: &str, dst: &str) -> Flow {
        Flow {
            source: Some(Endpoint {
                cluster_name: src.into(),
                ..Default::default()
            }),
            destination: Some(Endpoint {
                cluster_name: dst.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn cluster_names() {
        let f = FlowFilter {
            source_cluster_name: strings(&["east", "west"]),
            ..Default::default()
        };
        assert!(matches(&f, &cluster_flow("west", "x")));
        assert!(!matches(&f, &cluster_flow("north", "east")));
        assert!(!matches(&f, &Flow::default()));

        let f = FlowFilter {
            destination_cluster_name: strings(&["east"]),
            ..Default::default()
        };
        assert!(matches(&f, &cluster_flow("x", "east")));
        assert!(!matches(&f, &cluster_flow("east", "eastern")));

        assert_eq!(
            error(&FlowFilter {
                source_cluster_name: strings(&[""]),
                ..Default::default()
            }),
            "invalid filter: source_cluster_name: cluster name must not be empty"
        );
        assert!(
            error(&FlowFilter {
                destination_cluster_name: strings(&["a", ""]),
                ..Default::default()
            })
            .starts_with("invalid filter: destination_cluster_name:")
        );
    }
}
