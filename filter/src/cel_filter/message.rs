//! A proto message as a CEL value, read lazily from its wire encoding.
//!
//! Field selection follows cel-go's proto3 semantics: a field the message type declares
//! always has a value (its default when unset: `0`, `""`, `[]`, an empty message, `null`
//! for a wrapper, the epoch for a Timestamp), and [`ProtoMsg::has_field`] tells whether it
//! was set, as `has()` does. A name the type does not declare is an error.

use std::fmt;

use cel::ExecutionError;
use cel::common::traits::Indexer;
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelDuration, CelInt, CelList, CelNull, CelString, CelTimestamp,
    CelUInt, Type,
};
use cel::common::value::{CowVal, Val};

use super::PresenceKey;
use super::schema::{Field, FieldKind, MessageType, SCHEMA, Scalar, WellKnown};

static DYN: Type = cel::common::types::DYN_TYPE;

/// One field as the wire holds it.
#[derive(Debug, Clone, Copy)]
enum Wire<'v> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'v [u8]),
    Fixed32(u32),
}

fn malformed() -> ExecutionError {
    ExecutionError::function_error("_._", "malformed message encoding")
}

fn read_varint(buf: &mut &[u8]) -> Result<u64, ExecutionError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or_else(malformed)?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(malformed())
}

fn take<'v>(buf: &mut &'v [u8], n: usize) -> Result<&'v [u8], ExecutionError> {
    if buf.len() < n {
        return Err(malformed());
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// The next `(field number, value)` of an encoded message.
fn next_field<'v>(buf: &mut &'v [u8]) -> Result<(u64, Wire<'v>), ExecutionError> {
    let key = read_varint(buf)?;
    let value = match key & 7 {
        0 => Wire::Varint(read_varint(buf)?),
        1 => {
            let b = take(buf, 8)?;
            Wire::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| malformed())?))
        }
        2 => {
            let len = usize::try_from(read_varint(buf)?).map_err(|_| malformed())?;
            Wire::Bytes(take(buf, len)?)
        }
        5 => {
            let b = take(buf, 4)?;
            Wire::Fixed32(u32::from_le_bytes(b.try_into().map_err(|_| malformed())?))
        }
        _ => return Err(malformed()),
    };
    Ok((key >> 3, value))
}

/// Every occurrence of field `number` in `bytes`, in order.
fn occurrences<'v>(mut bytes: &'v [u8], number: u32) -> Result<Vec<Wire<'v>>, ExecutionError> {
    let mut found = Vec::new();
    while !bytes.is_empty() {
        let (n, w) = next_field(&mut bytes)?;
        if n == u64::from(number) {
            found.push(w);
        }
    }
    Ok(found)
}

type Boxed<'v> = Box<dyn Val + 'v>;

fn scalar<'v>(s: Scalar, w: Wire<'v>) -> Result<Boxed<'v>, ExecutionError> {
    // Casts reinterpret the wire bits as protobuf defines for each type.
    #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
    Ok(match (s, w) {
        (Scalar::Int, Wire::Varint(v)) => Box::new(CelInt::from(v as i64)),
        (Scalar::SInt, Wire::Varint(v)) => {
            Box::new(CelInt::from((v >> 1) as i64 ^ -((v & 1) as i64)))
        }
        (Scalar::SFixed32, Wire::Fixed32(v)) => Box::new(CelInt::from(i64::from(v as i32))),
        (Scalar::SFixed64, Wire::Fixed64(v)) => Box::new(CelInt::from(v as i64)),
        (Scalar::UInt, Wire::Varint(v)) | (Scalar::Fixed64, Wire::Fixed64(v)) => {
            Box::new(CelUInt::from(v))
        }
        (Scalar::Fixed32, Wire::Fixed32(v)) => Box::new(CelUInt::from(u64::from(v))),
        (Scalar::Bool, Wire::Varint(v)) => Box::new(CelBool::from(v != 0)),
        (Scalar::Float, Wire::Fixed32(v)) => {
            Box::new(CelDouble::from(f64::from(f32::from_bits(v))))
        }
        (Scalar::Double, Wire::Fixed64(v)) => Box::new(CelDouble::from(f64::from_bits(v))),
        (Scalar::String, Wire::Bytes(b)) => Box::new(CelString::from(
            std::str::from_utf8(b).map_err(|_| malformed())?,
        )),
        (Scalar::Bytes, Wire::Bytes(b)) => Box::new(CelBytes::from(b)),
        _ => return Err(malformed()),
    })
}

fn scalar_default<'v>(s: Scalar) -> Boxed<'v> {
    match s {
        Scalar::Int | Scalar::SInt | Scalar::SFixed32 | Scalar::SFixed64 => {
            Box::new(CelInt::from(0))
        }
        Scalar::UInt | Scalar::Fixed32 | Scalar::Fixed64 => Box::new(CelUInt::from(0)),
        Scalar::Bool => Box::new(CelBool::from(false)),
        Scalar::Float | Scalar::Double => Box::new(CelDouble::from(0.0)),
        Scalar::String => Box::new(CelString::from("")),
        Scalar::Bytes => Box::new(CelBytes::from(Vec::new())),
    }
}

/// `(seconds, nanos)` of an encoded Timestamp or Duration.
fn seconds_nanos(bytes: &[u8]) -> Result<(i64, i32), ExecutionError> {
    let mut buf = bytes;
    let (mut secs, mut nanos) = (0i64, 0i32);
    while !buf.is_empty() {
        // Casts reinterpret the varint bits as int64/int32.
        #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
        match next_field(&mut buf)? {
            (1, Wire::Varint(v)) => secs = v as i64,
            (2, Wire::Varint(v)) => nanos = v as i32,
            _ => {}
        }
    }
    Ok((secs, nanos))
}

fn timestamp<'v>(bytes: &[u8]) -> Result<Boxed<'v>, ExecutionError> {
    let (secs, nanos) = seconds_nanos(bytes)?;
    let nanos = u32::try_from(nanos).map_err(|_| malformed())?;
    let t = chrono::DateTime::from_timestamp(secs, nanos).ok_or_else(malformed)?;
    Ok(Box::new(CelTimestamp::from(t.fixed_offset())))
}

fn duration<'v>(bytes: &[u8]) -> Result<Boxed<'v>, ExecutionError> {
    let (secs, nanos) = seconds_nanos(bytes)?;
    let d = chrono::Duration::seconds(secs) + chrono::Duration::nanoseconds(i64::from(nanos));
    Ok(Box::new(CelDuration::from(d)))
}

/// The CEL value of a set message field of type `idx`.
fn message<'v>(idx: usize, bytes: &'v [u8]) -> Result<Boxed<'v>, ExecutionError> {
    let ty = SCHEMA.message(idx);
    match ty.well_known {
        WellKnown::No => Ok(Box::new(ProtoMsg { ty: idx, bytes })),
        WellKnown::Timestamp => timestamp(bytes),
        WellKnown::Duration => duration(bytes),
        WellKnown::Wrapper => ProtoMsg { ty: idx, bytes }.field_value("value"),
    }
}

/// The CEL value of an unset message field of type `idx`.
fn message_default<'v>(idx: usize) -> Result<Boxed<'v>, ExecutionError> {
    match SCHEMA.message(idx).well_known {
        WellKnown::Wrapper => Ok(Box::new(CelNull)),
        _ => message(idx, &[]),
    }
}

/// A message of the schema, borrowing its encoding.
#[derive(Clone, Copy)]
pub(crate) struct ProtoMsg<'v> {
    ty: usize,
    bytes: &'v [u8],
}

impl fmt::Debug for ProtoMsg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{{{} bytes}}",
            self.schema().cel_type.name(),
            self.bytes.len()
        )
    }
}

impl<'v> ProtoMsg<'v> {
    /// The message of type `ty` (an index from the schema) encoded in `bytes`.
    pub(crate) fn new(ty: usize, bytes: &'v [u8]) -> Self {
        Self { ty, bytes }
    }

    fn schema(&self) -> &'static MessageType {
        SCHEMA.message(self.ty)
    }

    fn declared(&self, name: &str) -> Result<&'static Field, ExecutionError> {
        self.schema().field(name).ok_or_else(|| {
            ExecutionError::no_such_key(&format!(
                "no such field '{name}' in {}",
                self.schema().cel_type.name()
            ))
        })
    }

    /// Whether field `name` is set, as `has()` tests it for proto3: a scalar that is not
    /// its default, a non-empty list, a set message.
    pub(crate) fn has_field(&self, name: &str) -> Result<bool, ExecutionError> {
        let field = self.declared(name)?;
        let mut bytes = self.bytes;
        while !bytes.is_empty() {
            if next_field(&mut bytes)?.0 == u64::from(field.number) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The value of field `name`, its default when unset.
    fn field_value(&self, name: &str) -> Result<Boxed<'v>, ExecutionError> {
        let field = self.declared(name)?;
        let found = occurrences(self.bytes, field.number)?;
        if field.repeated {
            let mut items: Vec<Boxed<'v>> = Vec::with_capacity(found.len());
            for w in found {
                match (field.kind, w) {
                    (FieldKind::Message(idx), Wire::Bytes(b)) => items.push(message(idx, b)?),
                    (FieldKind::Scalar(s @ (Scalar::String | Scalar::Bytes)), w) => {
                        items.push(scalar(s, w)?);
                    }
                    (FieldKind::Scalar(s), Wire::Bytes(mut packed)) => {
                        while !packed.is_empty() {
                            items.push(scalar(s, packed_element(s, &mut packed)?)?);
                        }
                    }
                    (FieldKind::Scalar(s), w) => items.push(scalar(s, w)?),
                    (FieldKind::Message(_), _) => return Err(malformed()),
                }
            }
            return Ok(Box::new(CelList::from(items)));
        }
        // A message field written more than once is merged; the last scalar wins. The
        // encoder never writes either twice, so the last occurrence is the value.
        match (field.kind, found.last()) {
            (FieldKind::Scalar(s), Some(&w)) => scalar(s, w),
            (FieldKind::Scalar(s), None) => Ok(scalar_default(s)),
            (FieldKind::Message(idx), Some(Wire::Bytes(b))) => message(idx, b),
            (FieldKind::Message(_), Some(_)) => Err(malformed()),
            (FieldKind::Message(idx), None) => message_default(idx),
        }
    }
}

/// One element of a packed repeated scalar field.
fn packed_element<'v>(s: Scalar, packed: &mut &'v [u8]) -> Result<Wire<'v>, ExecutionError> {
    Ok(match s {
        Scalar::Fixed32 | Scalar::SFixed32 | Scalar::Float => {
            let b = take(packed, 4)?;
            Wire::Fixed32(u32::from_le_bytes(b.try_into().map_err(|_| malformed())?))
        }
        Scalar::Fixed64 | Scalar::SFixed64 | Scalar::Double => {
            let b = take(packed, 8)?;
            Wire::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| malformed())?))
        }
        _ => Wire::Varint(read_varint(packed)?),
    })
}

/// The field name a selection or `has()` asks for.
pub(crate) fn field_name(idx: &dyn Val) -> Result<&str, ExecutionError> {
    idx.downcast_ref::<CelString>()
        .map(CelString::inner)
        .ok_or_else(|| ExecutionError::UnexpectedType {
            got: idx.get_type().name().to_string(),
            want: "string".to_string(),
        })
}

impl Indexer for ProtoMsg<'_> {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        if let Some(key) = idx.downcast_ref::<PresenceKey>() {
            return Ok(CowVal::owned(CelBool::from(self.has_field(key.field())?)));
        }
        self.field_value(field_name(idx)?).map(CowVal::Owned)
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

impl Val for ProtoMsg<'_> {
    fn get_type(&self) -> &Type {
        &self.schema().cel_type
    }

    fn cel_type() -> &'static Type
    where
        Self: Sized,
    {
        &DYN
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn into_indexer<'v>(self: Box<Self>) -> Option<Box<dyn Indexer + 'v>>
    where
        Self: 'v,
    {
        Some(self)
    }

    /// Two messages are equal when they are of the same type and every field is equal.
    fn equals(&self, other: &dyn Val) -> bool {
        if other.get_type() != self.get_type() {
            return false;
        }
        let Some(theirs) = other.as_indexer() else {
            return false;
        };
        self.schema().field_names().all(|name| {
            let key = CelString::from(name);
            match (self.get(&key), theirs.get(&key)) {
                (Ok(a), Ok(b)) => a.equals(b.as_ref()),
                _ => false,
            }
        })
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(*self)
    }
}
