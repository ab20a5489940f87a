//! `GetFlowsRequest.field_mask` at any depth, as Hubble's `parser/fieldmask` applies it.
//!
//! Paths are checked against the Flow message's own descriptor (every component a field,
//! all but the last a singular message, Go's `fieldmaskpb.IsValid`), normalised (a path
//! covers its sub-paths) and compiled into a tree of field numbers. Applying the tree
//! follows Hubble's `FieldMask.Copy` into a reused Flow: a field named as a leaf is copied
//! when the flow has it; a field with sub-paths is always present in the result (Hubble
//! creates it with `Mutable`), holding only the masked parts of the flow's value.

use std::collections::HashMap;
use std::sync::OnceLock;

use prost::Message;
use prost_types::FileDescriptorSet;
use prost_types::field_descriptor_proto::{Label, Type};

use super::wire;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid field mask path {0:?}")]
pub struct FieldMaskError(pub String);

/// One level of a compiled mask: field numbers in path order, each kept whole (`None`)
/// or masked by a sub-tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MaskNode {
    pub fields: Vec<(u32, Option<MaskNode>)>,
}

impl MaskNode {
    pub fn get(&self, number: u32) -> Option<&Option<MaskNode>> {
        self.fields
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, s)| s)
    }

    /// Writes the masked copy of a message body (`src`, possibly empty) into `out`.
    pub fn filter(&self, src: &[u8], out: &mut Vec<u8>) -> Result<(), wire::WireError> {
        let mut seen: u64 = 0;
        for f in wire::fields(src) {
            let f = f?;
            let Some(i) = self.fields.iter().position(|(n, _)| *n == f.number) else {
                continue;
            };
            match &self.fields[i].1 {
                None => out.extend_from_slice(f.raw),
                Some(sub) if f.wire_type == wire::LEN => {
                    let at = wire::begin(out, f.number);
                    sub.filter(f.body, out)?;
                    wire::end(out, at);
                }
                Some(_) => return Err(wire::WireError(0)),
            }
            if i < 64 {
                seen |= 1 << i;
            }
        }
        // Masked sub-messages the flow does not have are still created, empty but for
        // their own masked sub-messages.
        for (i, (number, sub)) in self.fields.iter().enumerate() {
            if let Some(sub) = sub
                && (i >= 64 || seen & (1 << i) == 0)
            {
                let at = wire::begin(out, *number);
                sub.filter(&[], out)?;
                wire::end(out, at);
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct FieldInfo {
    number: u32,
    /// The message type of a singular message field.
    message: Option<String>,
}

/// Field names → info, per fully qualified message name (`.flow.Flow`).
type Schema = HashMap<String, HashMap<String, FieldInfo>>;

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut out = Schema::new();
        let Ok(set) = FileDescriptorSet::decode(flowscope_proto::FILE_DESCRIPTOR_SET) else {
            return out;
        };
        fn add(out: &mut Schema, prefix: &str, msgs: &[prost_types::DescriptorProto]) {
            for m in msgs {
                let name = format!("{prefix}.{}", m.name());
                let fields = m
                    .field
                    .iter()
                    .map(|f| {
                        let singular_message =
                            f.r#type() == Type::Message && f.label() != Label::Repeated;
                        let info = FieldInfo {
                            number: u32::try_from(f.number()).unwrap_or(0),
                            message: singular_message.then(|| f.type_name().to_string()),
                        };
                        (f.name().to_string(), info)
                    })
                    .collect();
                out.insert(name.clone(), fields);
                add(out, &name, &m.nested_type);
            }
        }
        for file in &set.file {
            let pkg = if file.package().is_empty() {
                String::new()
            } else {
                format!(".{}", file.package())
            };
            add(&mut out, &pkg, &file.message_type);
        }
        out
    })
}

/// Compiles the paths of a mask on `flow.Flow`; `None` when there are none.
pub fn compile(paths: &[String]) -> Result<Option<MaskNode>, FieldMaskError> {
    if paths.is_empty() {
        return Ok(None);
    }
    let schema = schema();
    let mut root = MaskNode::default();
    for path in paths {
        let mut msg = ".flow.Flow";
        let mut numbers = Vec::new();
        let parts: Vec<&str> = path.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let field = schema
                .get(msg)
                .and_then(|fields| fields.get(*part))
                .ok_or_else(|| FieldMaskError(path.clone()))?;
            numbers.push(field.number);
            if i + 1 < parts.len() {
                msg = field
                    .message
                    .as_deref()
                    .ok_or_else(|| FieldMaskError(path.clone()))?;
            }
        }
        insert(&mut root, &numbers);
    }
    Ok(Some(root))
}

/// Adds one path; a shorter path covers (and replaces) the longer ones under it.
fn insert(node: &mut MaskNode, path: &[u32]) {
    let Some((&first, rest)) = path.split_first() else {
        return;
    };
    let i = match node.fields.iter().position(|(n, _)| *n == first) {
        Some(i) => i,
        None => {
            let sub = (!rest.is_empty()).then(MaskNode::default);
            node.fields.push((first, sub));
            if rest.is_empty() {
                return;
            }
            node.fields.len() - 1
        }
    };
    if rest.is_empty() {
        node.fields[i].1 = None;
    } else if let Some(sub) = node.fields[i].1.as_mut() {
        insert(sub, rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscope_proto::flow::{Endpoint, Flow, Layer4, Tcp, Udp, layer4};

    fn paths(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    fn apply(p: &[&str], f: &Flow) -> Flow {
        let m = compile(&paths(p)).expect("valid").expect("some");
        let mut out = Vec::new();
        m.filter(&f.encode_to_vec(), &mut out).expect("filter");
        Flow::decode(out.as_slice()).expect("decodes")
    }

    #[test]
    fn validates_every_component() {
        for ok in [
            "time",
            "IP",
            "Summary",
            "l7.http.code",
            "l4.TCP.source_port",
            "l4.TCP.flags.SYN",
            "source.labels",
            "trace_context.parent.trace_id",
        ] {
            assert!(compile(&paths(&[ok])).is_ok(), "{ok}");
        }
        for bad in [
            "nope",
            "source.nope",
            "ip",
            "l7.http.headers.key",
            "source.labels.x",
            "time.seconds.x",
            "",
        ] {
            assert_eq!(
                compile(&paths(&[bad])),
                Err(FieldMaskError(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(compile(&[]), Ok(None));
    }

    #[test]
    fn deep_paths_keep_only_their_leaves() {
        let f = Flow {
            verdict: 1,
            l4: Some(Layer4 {
                protocol: Some(layer4::Protocol::Tcp(Tcp {
                    source_port: 80,
                    destination_port: 9,
                    flags: None,
                })),
            }),
            source: Some(Endpoint {
                identity: 7,
                pod_name: "p".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let got = apply(&["l4.TCP.source_port", "source.identity"], &f);
        assert_eq!(
            got,
            Flow {
                l4: Some(Layer4 {
                    protocol: Some(layer4::Protocol::Tcp(Tcp {
                        source_port: 80,
                        ..Default::default()
                    })),
                }),
                source: Some(Endpoint {
                    identity: 7,
                    ..Default::default()
                }),
                ..Default::default()
            }
        );
        // A shorter path covers the longer one, in either order.
        assert_eq!(apply(&["source.identity", "source"], &f).source, f.source);
        assert_eq!(apply(&["source", "source.identity"], &f).source, f.source);
    }

    #[test]
    fn masked_sub_messages_exist_even_when_the_flow_lacks_them() {
        // Hubble's Copy creates them with Mutable.
        let udp = Flow {
            l4: Some(Layer4 {
                protocol: Some(layer4::Protocol::Udp(Udp {
                    source_port: 53,
                    destination_port: 9,
                })),
            }),
            ..Default::default()
        };
        let got = apply(&["l4.TCP.source_port", "l7.http.code"], &udp);
        assert_eq!(
            got.l4,
            Some(Layer4 {
                protocol: Some(layer4::Protocol::Tcp(Tcp::default())),
            })
        );
        assert!(got.l7.is_some_and(|l7| l7.record.is_some()));
    }
}
