//! `/metrics`: the Prometheus registry over HTTP.
//!
//! The Prometheus text format 0.0.4 by default; OpenMetrics 1.0.0 when the `Accept` header
//! prefers `application/openmetrics-text` (as Prometheus' scraper does). Exemplars exist
//! only in OpenMetrics; the text format drops them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn router(registry: Arc<Registry>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| {
            let registry = registry.clone();
            async move {
                let accept = headers
                    .get_all(header::ACCEPT)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect::<Vec<_>>()
                    .join(",");
                let mut body = String::new();
                if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &registry) {
                    return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
                }
                if wants_openmetrics(&accept) {
                    let body = help_as_registered(&body);
                    ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], body).into_response()
                } else {
                    (
                        [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
                        openmetrics_to_text(&body),
                    )
                        .into_response()
                }
            }
        }),
    )
}

pub async fn serve(addr: SocketAddr, registry: Arc<Registry>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router(registry)).await
}

/// True if `accept` ranks `application/openmetrics-text` above zero and at least as high as
/// the text format (`text/plain`, `text/*`, `*/*`). Ties go to the text format.
pub fn wants_openmetrics(accept: &str) -> bool {
    let mut om: Option<f32> = None;
    let mut text: Option<f32> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, v)| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let slot = match media.as_str() {
            "application/openmetrics-text" => &mut om,
            "text/plain" | "text/*" | "*/*" => &mut text,
            _ => continue,
        };
        *slot = Some(slot.map_or(q, |old| old.max(q)));
    }
    match om {
        Some(q) if q > 0.0 => q > text.unwrap_or(0.0),
        _ => false,
    }
}

/// The help text as registered: prometheus-client appends a `.` to every help text, which
/// Go's client (and so Hubble) does not.
fn registered_help(text: &str) -> &str {
    text.strip_suffix('.').unwrap_or(text)
}

/// The OpenMetrics exposition with each `# HELP` text as registered.
pub fn help_as_registered(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        match line.strip_prefix("# HELP ") {
            Some(rest) => {
                out.push_str("# HELP ");
                out.push_str(registered_help(rest));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Rewrites prometheus-client's OpenMetrics exposition as Prometheus text 0.0.4 the way
/// Go's client writes it: counter families are named with their `_total` samples, `info`
/// becomes a gauge and `unknown` untyped; help texts lose the `.` prometheus-client adds;
/// values and bucket bounds are Go-formatted (`1`, not `1.0`), `le` last; exemplars,
/// `# UNIT` and `# EOF` are dropped.
pub fn openmetrics_to_text(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut help: Option<(&str, &str)> = None;
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, registered_help(text)));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "info" => ("_info", "gauge"),
                "unknown" => ("", "untyped"),
                "stateset" => ("", "gauge"),
                "gaugehistogram" => ("", "histogram"),
                other => ("", other),
            };
            if let Some((help_name, text)) = help.take().filter(|(n, _)| *n == name) {
                out.push_str("# HELP ");
                out.push_str(help_name);
                out.push_str(suffix);
                out.push(' ');
                out.push_str(text);
                out.push('\n');
            }
            out.push_str("# TYPE ");
            out.push_str(name);
            out.push_str(suffix);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        super::go_format::push_sample(&mut out, without_exemplar(line));
        out.push('\n');
    }
    out
}

/// The sample line without its ` # {…} value [timestamp]` exemplar.
fn without_exemplar(line: &str) -> &str {
    let bytes = line.as_bytes();
    // Skip the label set: `#` may appear inside quoted label values.
    let mut i = match line.find(['{', ' ']) {
        Some(i) if bytes[i] == b'{' => {
            let mut in_quotes = false;
            let mut j = i + 1;
            while j < bytes.len() {
                match bytes[j] {
                    b'\\' if in_quotes => j += 1,
                    b'"' => in_quotes = !in_quotes,
                    b'}' if !in_quotes => break,
                    _ => {}
                }
                j += 1;
            }
            j
        }
        Some(i) => i,
        None => return line,
    };
    i = i.min(line.len());
    match line[i..].find(" # ") {
        Some(e) => &line[..i + e],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        // Prometheus 2.x's scrape header.
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(wants_openmetrics("application/openmetrics-text"));
        assert!(wants_openmetrics(
            "Application/OpenMetrics-Text; version=1.0.0"
        ));
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics("text/plain"));
        assert!(!wants_openmetrics(
            "text/plain;version=0.0.4,application/openmetrics-text;q=0.5"
        ));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0.5,*/*"));
        assert!(wants_openmetrics("application/openmetrics-text,*/*;q=0.8"));
    }

    #[test]
    fn text_format_from_openmetrics() {
        let om = concat!(
            "# HELP hubble_http_requests Count of HTTP requests.\n",
            "# TYPE hubble_http_requests counter\n",
            "hubble_http_requests_total{method=\"GET\",x=\"a # {b}\\\" # c\"} 2 # {traceID=\"abc\"} 1.0 1700000000.5\n",
            "hubble_http_requests_total 1\n",
            "# HELP d Duration.\n",
            "# TYPE d histogram\n",
            "# UNIT d seconds\n",
            "d_bucket{le=\"0.005\"} 1 # {traceID=\"abc\"} 0.003 1700000000.5\n",
            "d_bucket{le=\"+Inf\"} 1\n",
            "d_sum 0.003\n",
            "d_count 1\n",
            "# HELP g A gauge.\n",
            "# TYPE g gauge\n",
            "g 3\n",
            "# HELP i Build.\n",
            "# TYPE i info\n",
            "i_info{version=\"1\"} 1\n",
            "# EOF\n",
        );
        assert_eq!(
            openmetrics_to_text(om),
            concat!(
                "# HELP hubble_http_requests_total Count of HTTP requests\n",
                "# TYPE hubble_http_requests_total counter\n",
                "hubble_http_requests_total{method=\"GET\",x=\"a # {b}\\\" # c\"} 2\n",
                "hubble_http_requests_total 1\n",
                "# HELP d Duration\n",
                "# TYPE d histogram\n",
                "d_bucket{le=\"0.005\"} 1\n",
                "d_bucket{le=\"+Inf\"} 1\n",
                "d_sum 0.003\n",
                "d_count 1\n",
                "# HELP g A gauge\n",
                "# TYPE g gauge\n",
                "g 3\n",
                "# HELP i_info Build\n",
                "# TYPE i_info gauge\n",
                "i_info{version=\"1\"} 1\n",
            )
        );
    }

    #[tokio::test]
    async fn serves_both_formats() {
        use prometheus_client::metrics::counter::Counter;
        let mut registry = Registry::default();
        let c = Counter::<u64>::default();
        registry.register("c", "A counter", c.clone());
        c.inc();
        let app = router(Arc::new(registry));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let get = |accept: Option<&'static str>| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
            s.write_all(format!("GET /metrics HTTP/1.0\r\n{accept}\r\n").as_bytes())
                .await
                .expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).await.expect("read");
            out
        };
        let text = get(None).await;
        assert!(
            text.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
            "{text}"
        );
        assert!(
            text.ends_with("# HELP c_total A counter\n# TYPE c_total counter\nc_total 1\n"),
            "{text}"
        );
        let om = get(Some("application/openmetrics-text;version=1.0.0")).await;
        assert!(
            om.contains("content-type: application/openmetrics-text; version=1.0.0"),
            "{om}"
        );
        assert!(
            om.ends_with("# HELP c A counter\n# TYPE c counter\nc_total 1\n# EOF\n"),
            "{om}"
        );
    }
}
