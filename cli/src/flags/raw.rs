//! `--allowlist` / `--denylist`: FlowFilter JSON, checked against the proto schema so that a
//! misspelt field is an error instead of an empty filter that matches every flow.

use std::collections::HashMap;
use std::sync::OnceLock;

use flowscope_proto::flow::FlowFilter;
use prost::Message;
use prost_types::field_descriptor_proto::Type;
use prost_types::{DescriptorProto, FileDescriptorSet};
use serde::Deserialize;

use super::FlagError;

/// Every message of the wire contract by full name (`.flow.FlowFilter`).
fn messages() -> &'static HashMap<String, DescriptorProto> {
    static MESSAGES: OnceLock<HashMap<String, DescriptorProto>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        let mut out = HashMap::new();
        // The descriptor set is generated at build time from the same .proto files as the
        // types, so it always decodes; an empty index would only disable the check.
        if let Ok(set) = FileDescriptorSet::decode(flowscope_proto::FILE_DESCRIPTOR_SET) {
            for file in set.file {
                let prefix = match file.package() {
                    "" => String::new(),
                    p => format!(".{p}"),
                };
                for msg in file.message_type {
                    index(&mut out, &prefix, msg);
                }
            }
        }
        out
    })
}

fn index(out: &mut HashMap<String, DescriptorProto>, prefix: &str, msg: DescriptorProto) {
    let name = format!("{prefix}.{}", msg.name());
    for nested in &msg.nested_type {
        index(out, &name, nested.clone());
    }
    out.insert(name, msg);
}

/// The first key of `value` (a JSON object for message `message`) that names no field,
/// recursively, as a dotted path (`event_type.bogus`). Proto names and JSON (camelCase)
/// names are both fields, as for protojson.
fn unknown_field(value: &serde_json::Value, message: &str) -> Option<String> {
    let serde_json::Value::Object(map) = value else {
        return None;
    };
    let desc = messages().get(message)?;
    for (key, child) in map {
        let Some(field) = desc
            .field
            .iter()
            .find(|f| f.name() == key || f.json_name() == key)
        else {
            return Some(key.clone());
        };
        if field.r#type() != Type::Message || field.type_name().starts_with(".google.protobuf") {
            continue;
        }
        let is_map = messages()
            .get(field.type_name())
            .and_then(|m| m.options.as_ref())
            .is_some_and(|o| o.map_entry());
        if is_map {
            continue;
        }
        let items: Vec<&serde_json::Value> = match child {
            serde_json::Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for item in items {
            if let Some(inner) = unknown_field(item, field.type_name()) {
                return Some(format!("{key}.{inner}"));
            }
        }
    }
    None
}

/// Parses one `--allowlist` / `--denylist` value: zero or more FlowFilter JSON objects (as
/// Go's `json.Decoder` loop accepts, several objects may follow each other). A field that
/// FlowFilter does not have is rejected by name.
pub(super) fn parse_raw_filters(
    flag: &'static str,
    raw: &str,
) -> Result<Vec<FlowFilter>, FlagError> {
    let decode_error = |source| FlagError::RawFilter {
        flag,
        value: raw.to_string(),
        source,
    };
    let mut out = Vec::new();
    for value in serde_json::Deserializer::from_str(raw).into_iter::<serde_json::Value>() {
        let value = value.map_err(decode_error)?;
        if let Some(field) = unknown_field(&value, ".flow.FlowFilter") {
            return Err(FlagError::UnknownRawField {
                flag,
                value: raw.to_string(),
                field,
            });
        }
        out.push(FlowFilter::deserialize(value).map_err(decode_error)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flow_filter_field_is_known_and_nothing_else() {
        assert!(messages().contains_key(".flow.FlowFilter"));
        let ok = r#"{"source_ip":["1.1.1.1"],"destinationPod":["a/"],
            "event_type":[{"type":4,"match_sub_type":true}],
            "http_header":[{"key":"k","value":"v"}],"tcp_flags":[{"SYN":true}],
            "experimental":{"cel_expression":["true"]},"source_workload":[{"name":"w"}]}"#;
        assert_eq!(parse_raw_filters("allowlist", ok).expect("valid").len(), 1);
        let unknown = |raw: &str| match parse_raw_filters("allowlist", raw) {
            Err(FlagError::UnknownRawField { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(unknown(r#"{"bogus_field":1}"#), "bogus_field");
        assert_eq!(
            unknown(r#"{"verdict":[1]} {"sourcePodd":["x"]}"#),
            "sourcePodd"
        );
        assert_eq!(
            unknown(r#"{"event_type":[{"type":1},{"typo":1}]}"#),
            "event_type.typo"
        );
        assert_eq!(
            unknown(r#"{"experimental":{"cel":["x"]}}"#),
            "experimental.cel"
        );
    }
}
