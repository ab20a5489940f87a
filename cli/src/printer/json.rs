//! `-o json` / `-o jsonpb`: one protojson `GetFlowsResponse` per line.
//!
//! protojson writes keys in .proto declaration order, and `observer.proto` declares the
//! `response_types` oneof (`flow`, `node_status`, `lost_events`) *before* `node_name` and
//! `time`. The generated pbjson impl of `GetFlowsResponse` writes oneofs last, so the
//! envelope is assembled here in Hubble's order while every member value still goes
//! through the generated impls and [`flowscope_proto::json`] (compact, HTML-escaped).

use std::io::{self, Write};

use flowscope_proto::observer::GetFlowsResponse;
use flowscope_proto::observer::get_flows_response::ResponseTypes;

/// Appends `"key":<value>` (with a leading comma unless first) to `buf`.
macro_rules! member {
    ($buf:expr, $first:expr, $key:literal, $value:expr) => {{
        if !$first {
            $buf.push(b',');
        }
        $first = false;
        $buf.extend_from_slice(concat!("\"", $key, "\":").as_bytes());
        flowscope_proto::json::write_line(&mut $buf, $value)?;
        // write_line ends the value with '\n'.
        $buf.pop();
    }};
}

/// Writes `resp` as one protojson line in Hubble's key order.
pub fn write_response<W: Write>(out: &mut W, resp: &GetFlowsResponse) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut first = true;
    buf.push(b'{');
    match resp.response_types.as_ref() {
        Some(ResponseTypes::Flow(flow)) => member!(buf, first, "flow", flow),
        Some(ResponseTypes::NodeStatus(status)) => member!(buf, first, "node_status", status),
        Some(ResponseTypes::LostEvents(lost)) => member!(buf, first, "lost_events", lost),
        None => {}
    }
    if !resp.node_name.is_empty() {
        member!(buf, first, "node_name", &resp.node_name);
    }
    if let Some(time) = resp.time.as_ref() {
        member!(buf, first, "time", time);
    }
    let _ = first;
    buf.extend_from_slice(b"}\n");
    out.write_all(&buf)
}
