//! The proto schema CEL expressions see, read once from the descriptor set the proto crate
//! embeds: each message's fields by their `.proto` names, and the enum constants by their
//! qualified names (`flow.Verdict.DROPPED`).

use std::collections::HashMap;
use std::sync::LazyLock;

use cel::common::types::Type;
use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type as FieldType};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

/// How a field's values are written on the wire and shown to CEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    /// int32, int64, enums: varints read as signed.
    Int,
    /// sint32, sint64: zigzag varints.
    SInt,
    /// sfixed32.
    SFixed32,
    /// sfixed64.
    SFixed64,
    /// uint32, uint64.
    UInt,
    Fixed32,
    Fixed64,
    Bool,
    Float,
    Double,
    String,
    Bytes,
}

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    Scalar(Scalar),
    /// An index into [`Schema::messages`].
    Message(usize),
}

#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) number: u32,
    pub(crate) kind: FieldKind,
    pub(crate) repeated: bool,
}

/// Message types CEL shows as values of their own rather than as messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WellKnown {
    /// Not a well-known type: a message with fields.
    No,
    Timestamp,
    Duration,
    /// `google.protobuf.*Value`: its `value` field, or `null` when unset.
    Wrapper,
}

#[derive(Debug)]
pub(crate) struct MessageType {
    pub(crate) cel_type: Type,
    pub(crate) well_known: WellKnown,
    fields: HashMap<String, Field>,
}

impl MessageType {
    pub(crate) fn field(&self, name: &str) -> Option<&Field> {
        self.fields.get(name)
    }

    pub(crate) fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Schema {
    messages: Vec<MessageType>,
    by_name: HashMap<String, usize>,
    enum_constants: HashMap<String, i64>,
}

/// The schema of every message in the embedded descriptor set. The build generates that
/// set; were it unreadable, the schema would be empty and every CEL expression rejected.
pub(crate) static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    FileDescriptorSet::decode(flowscope_proto::FILE_DESCRIPTOR_SET)
        .map(|fds| Schema::new(&fds))
        .unwrap_or_default()
});

impl Schema {
    fn new(fds: &FileDescriptorSet) -> Self {
        let mut s = Schema::default();
        // Pass 1: name every message, so that fields can refer to any of them.
        let mut pending = Vec::new();
        for file in &fds.file {
            let package = file.package();
            for m in &file.message_type {
                s.collect(package, m, &mut pending);
            }
            for e in &file.enum_type {
                s.add_enum(package, e);
            }
        }
        // Pass 2: resolve the field types.
        for (idx, full, msg) in pending {
            let fields = msg
                .field
                .iter()
                .filter_map(|f| Some((f.name().to_string(), s.field(f)?)))
                .collect();
            s.messages[idx].fields = fields;
            debug_assert_eq!(s.by_name.get(&full), Some(&idx));
        }
        s
    }

    fn collect<'d>(
        &mut self,
        scope: &str,
        m: &'d DescriptorProto,
        pending: &mut Vec<(usize, String, &'d DescriptorProto)>,
    ) {
        let full = format!("{scope}.{}", m.name());
        let well_known = match full.as_str() {
            "google.protobuf.Timestamp" => WellKnown::Timestamp,
            "google.protobuf.Duration" => WellKnown::Duration,
            n if n.starts_with("google.protobuf.") && n.ends_with("Value") => WellKnown::Wrapper,
            _ => WellKnown::No,
        };
        let idx = self.messages.len();
        self.messages.push(MessageType {
            cel_type: Type::new_struct(full.clone()),
            well_known,
            fields: HashMap::new(),
        });
        self.by_name.insert(full.clone(), idx);
        for nested in &m.nested_type {
            self.collect(&full, nested, pending);
        }
        for e in &m.enum_type {
            self.add_enum(&full, e);
        }
        pending.push((idx, full, m));
    }

    fn add_enum(&mut self, scope: &str, e: &EnumDescriptorProto) {
        for v in &e.value {
            self.enum_constants.insert(
                format!("{scope}.{}.{}", e.name(), v.name()),
                i64::from(v.number()),
            );
        }
    }

    fn field(&self, f: &prost_types::FieldDescriptorProto) -> Option<Field> {
        use Scalar as S;
        let scalar = |s| Some(FieldKind::Scalar(s));
        let kind = match f.r#type() {
            FieldType::Int32 | FieldType::Int64 | FieldType::Enum => scalar(S::Int),
            FieldType::Sint32 | FieldType::Sint64 => scalar(S::SInt),
            FieldType::Sfixed32 => scalar(S::SFixed32),
            FieldType::Sfixed64 => scalar(S::SFixed64),
            FieldType::Uint32 | FieldType::Uint64 => scalar(S::UInt),
            FieldType::Fixed32 => scalar(S::Fixed32),
            FieldType::Fixed64 => scalar(S::Fixed64),
            FieldType::Bool => scalar(S::Bool),
            FieldType::Float => scalar(S::Float),
            FieldType::Double => scalar(S::Double),
            FieldType::String => scalar(S::String),
            FieldType::Bytes => scalar(S::Bytes),
            FieldType::Message => {
                let name = f.type_name().trim_start_matches('.');
                Some(FieldKind::Message(*self.by_name.get(name)?))
            }
            // Groups are proto2 only; no message CEL sees has one.
            FieldType::Group => None,
        }?;
        Some(Field {
            number: u32::try_from(f.number()).ok()?,
            kind,
            repeated: f.label() == Label::Repeated,
        })
    }

    pub(crate) fn message(&self, idx: usize) -> &MessageType {
        &self.messages[idx]
    }

    pub(crate) fn message_index(&self, full_name: &str) -> Option<usize> {
        self.by_name.get(full_name).copied()
    }

    /// The value of a qualified enum constant such as `flow.Verdict.DROPPED`.
    pub(crate) fn enum_constant(&self, name: &str) -> Option<i64> {
        self.enum_constants.get(name).copied()
    }
}
