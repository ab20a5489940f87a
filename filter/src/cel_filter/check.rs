//! The checks cel-go's type checker makes that matter to a filter, run once per expression
//! on its parsed form: every name is declared (`_flow`, an enum constant, a type, or a
//! comprehension variable), every field selected on `_flow` exists, and the result is not
//! known to be something other than a `bool`. Results the check cannot type (an index, a
//! function of the standard library returning `dyn`) are left to evaluation, where a
//! non-bool result does not match.
//!
//! It also bounds comprehension nesting: the interpreter has no cost budget, and an
//! expression of a few thousand characters could otherwise nest loops into hours.

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};

use super::schema::{FieldKind, SCHEMA, Scalar, WellKnown};
use super::{CONTAINER, ENV, FLOW_VARIABLE};

/// How deep comprehensions (`all`, `exists`, `map`, ...) may nest.
pub(crate) const MAX_COMPREHENSION_DEPTH: usize = 2;

/// What the check knows of a value's type.
#[derive(Debug, Clone)]
enum Ty {
    Bool,
    /// A message of the schema.
    Msg(usize),
    /// A list, of messages of the schema when known.
    List(Option<usize>),
    /// Any other known type, by its CEL name.
    Other(&'static str),
    /// Not known before evaluation.
    Dyn,
}

impl Ty {
    fn name(&self) -> String {
        match self {
            Ty::Bool => "bool".to_string(),
            Ty::Msg(idx) => SCHEMA.message(*idx).cel_type.name().to_string(),
            Ty::List(Some(idx)) => format!("list({})", SCHEMA.message(*idx).cel_type.name()),
            Ty::List(None) => "list".to_string(),
            Ty::Other(n) => (*n).to_string(),
            Ty::Dyn => "dyn".to_string(),
        }
    }
}

struct Checker {
    /// Comprehension variables in scope, innermost last.
    scope: Vec<(String, Ty)>,
    depth: usize,
}

/// Checks `expr`; the error says what is wrong, as cel-go's checker would.
pub(crate) fn check(expr: &IdedExpr) -> Result<(), String> {
    let mut c = Checker {
        scope: Vec::new(),
        depth: 0,
    };
    match c.infer(expr)? {
        Ty::Bool | Ty::Dyn => Ok(()),
        other => Err(format!(
            "got {:?}, wanted \"bool\" result type",
            other.name()
        )),
    }
}

fn field_type(kind: FieldKind, repeated: bool) -> Ty {
    match (kind, repeated) {
        (FieldKind::Message(idx), true) => Ty::List(Some(idx)),
        (FieldKind::Scalar(_), true) => Ty::List(None),
        (FieldKind::Message(idx), false) => match SCHEMA.message(idx).well_known {
            WellKnown::No => Ty::Msg(idx),
            WellKnown::Timestamp => Ty::Other("google.protobuf.Timestamp"),
            WellKnown::Duration => Ty::Other("google.protobuf.Duration"),
            WellKnown::Wrapper => match SCHEMA.message(idx).field("value").map(|f| f.kind) {
                Some(FieldKind::Scalar(Scalar::Bool)) => Ty::Bool,
                Some(kind) => field_type(kind, false),
                None => Ty::Dyn,
            },
        },
        (FieldKind::Scalar(s), false) => Ty::Other(match s {
            Scalar::Int | Scalar::SInt | Scalar::SFixed32 | Scalar::SFixed64 => "int",
            Scalar::UInt | Scalar::Fixed32 | Scalar::Fixed64 => "uint",
            Scalar::Bool => return Ty::Bool,
            Scalar::Float | Scalar::Double => "double",
            Scalar::String => "string",
            Scalar::Bytes => "bytes",
        }),
    }
}

/// The type of a function's result, when the function alone decides it.
fn call_type(name: &str) -> Option<Ty> {
    use operators as op;
    Some(match name {
        op::LOGICAL_AND
        | op::LOGICAL_OR
        | op::LOGICAL_NOT
        | op::EQUALS
        | op::NOT_EQUALS
        | op::GREATER
        | op::GREATER_EQUALS
        | op::LESS
        | op::LESS_EQUALS
        | op::IN
        | op::NOT_STRICTLY_FALSE
        | "matches"
        | "startsWith"
        | "endsWith"
        | "contains"
        | "bool" => Ty::Bool,
        "size" | "int" | "getFullYear" | "getMonth" | "getDayOfYear" | "getDayOfMonth"
        | "getDate" | "getDayOfWeek" | "getHours" | "getMinutes" | "getSeconds"
        | "getMilliseconds" => Ty::Other("int"),
        "uint" => Ty::Other("uint"),
        "double" => Ty::Other("double"),
        "string" => Ty::Other("string"),
        "bytes" => Ty::Other("bytes"),
        "timestamp" => Ty::Other("google.protobuf.Timestamp"),
        "duration" => Ty::Other("google.protobuf.Duration"),
        "type" => Ty::Other("type"),
        _ => return None,
    })
}

impl Checker {
    fn infer(&mut self, e: &IdedExpr) -> Result<Ty, String> {
        match &e.expr {
            Expr::Unspecified => Err("empty expression".to_string()),
            Expr::Literal(l) => Ok(match l {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Bytes(_) => Ty::Other("bytes"),
                LiteralValue::Double(_) => Ty::Other("double"),
                LiteralValue::Int(_) => Ty::Other("int"),
                LiteralValue::Null => Ty::Other("null_type"),
                LiteralValue::String(_) => Ty::Other("string"),
                LiteralValue::UInt(_) => Ty::Other("uint"),
            }),
            Expr::Ident(name) => match self.scope.iter().rev().find(|(v, _)| v == name) {
                Some((_, ty)) => Ok(ty.clone()),
                None => self.resolve_name(&[name.as_str()]),
            },
            Expr::Select(sel) => {
                if let Some(segments) = self.name_segments(e) {
                    return self.resolve_name(&segments);
                }
                let operand = self.infer(&sel.operand)?;
                let ty = select(&operand, &sel.field)?;
                Ok(if sel.test { Ty::Bool } else { ty })
            }
            Expr::Call(call) => {
                if let Some(target) = &call.target {
                    self.infer(target)?;
                }
                let mut args = Vec::with_capacity(call.args.len());
                for a in &call.args {
                    args.push(self.infer(a)?);
                }
                Ok(self.call_result(&call.func_name, &args))
            }
            Expr::List(list) => {
                for el in &list.elements {
                    self.infer(el)?;
                }
                Ok(Ty::List(None))
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(m) = &entry.expr {
                        self.infer(&m.key)?;
                        self.infer(&m.value)?;
                    }
                }
                Ok(Ty::Other("map"))
            }
            Expr::Struct(s) => Err(format!(
                "undeclared reference to message type '{}'",
                s.type_name
            )),
            Expr::Comprehension(c) => {
                self.depth += 1;
                if self.depth > MAX_COMPREHENSION_DEPTH {
                    return Err(format!(
                        "comprehensions (all, exists, exists_one, map, filter) nest deeper than {MAX_COMPREHENSION_DEPTH}"
                    ));
                }
                let range = self.infer(&c.iter_range)?;
                let accu = self.infer(&c.accu_init)?;
                let elem = match range {
                    Ty::List(Some(idx)) => Ty::Msg(idx),
                    _ => Ty::Dyn,
                };
                let outer = self.scope.len();
                self.scope.push((c.iter_var.clone(), elem));
                if let Some(v2) = &c.iter_var2 {
                    self.scope.push((v2.clone(), Ty::Dyn));
                }
                self.scope.push((c.accu_var.clone(), accu));
                let result = self
                    .infer(&c.loop_cond)
                    .and_then(|_| self.infer(&c.loop_step))
                    .and_then(|_| self.infer(&c.result));
                self.scope.truncate(outer);
                self.depth -= 1;
                result
            }
        }
    }

    fn call_result(&self, name: &str, args: &[Ty]) -> Ty {
        use operators as op;
        if let Some(ty) = call_type(name) {
            return ty;
        }
        match name {
            op::ADD | op::SUBSTRACT | op::MULTIPLY | op::DIVIDE | op::MODULO | op::NEGATE => {
                match args.first() {
                    Some(t @ (Ty::Other(_) | Ty::List(_))) => t.clone(),
                    _ => Ty::Other("dyn (arithmetic)"),
                }
            }
            op::CONDITIONAL => match (args.get(1), args.get(2)) {
                (Some(Ty::Bool), _) | (_, Some(Ty::Bool)) => Ty::Bool,
                (Some(a), Some(b)) if !matches!(a, Ty::Dyn) && !matches!(b, Ty::Dyn) => a.clone(),
                _ => Ty::Dyn,
            },
            _ => Ty::Dyn,
        }
    }

    /// The segments of `e` when it spells a qualified name (`a.b.c`) that does not start at
    /// a comprehension variable.
    fn name_segments<'e>(&self, e: &'e IdedExpr) -> Option<Vec<&'e str>> {
        let mut segments = Vec::new();
        let mut cur = e;
        loop {
            match &cur.expr {
                Expr::Ident(name) => {
                    if self.scope.iter().any(|(v, _)| v == name) {
                        return None;
                    }
                    segments.push(name.as_str());
                    segments.reverse();
                    return Some(segments);
                }
                Expr::Select(sel) if !sel.test => {
                    segments.push(sel.field.as_str());
                    cur = &sel.operand;
                }
                _ => return None,
            }
        }
    }

    /// Resolves a qualified name as the interpreter does: the longest prefix that names
    /// something (in the `flow` container first), then field selections on it.
    fn resolve_name(&self, segments: &[&str]) -> Result<Ty, String> {
        if let Some(&name) = segments.first()
            && name.is_empty()
        {
            return Err(undeclared(name));
        }
        for len in (1..=segments.len()).rev() {
            let name = segments[..len].join(".");
            let base = if segments[0] == FLOW_VARIABLE && len == 1 {
                SCHEMA.message_index(super::FLOW_TYPE).map(Ty::Msg)
            } else {
                [format!("{CONTAINER}.{name}"), name.clone()]
                    .iter()
                    .find_map(|candidate| {
                        if SCHEMA.enum_constant(candidate).is_some() {
                            Some(Ty::Other("int"))
                        } else if ENV.types().find_type(candidate).is_some() {
                            Some(Ty::Other("type"))
                        } else {
                            None
                        }
                    })
            };
            if let Some(mut ty) = base {
                for field in &segments[len..] {
                    ty = select(&ty, field)?;
                }
                return Ok(ty);
            }
        }
        Err(undeclared(&segments.join(".")))
    }
}

fn undeclared(name: &str) -> String {
    format!("undeclared reference to '{name}' (in container '{CONTAINER}')")
}

/// The type of `operand.field`.
fn select(operand: &Ty, field: &str) -> Result<Ty, String> {
    match operand {
        Ty::Msg(idx) => {
            let msg = SCHEMA.message(*idx);
            let f = msg.field(field).ok_or_else(|| {
                format!(
                    "undefined field '{field}' in message '{}'",
                    msg.cel_type.name()
                )
            })?;
            Ok(field_type(f.kind, f.repeated))
        }
        Ty::Dyn | Ty::Other("map") => Ok(Ty::Dyn),
        other => Err(format!(
            "type '{}' does not support field selection",
            other.name()
        )),
    }
}
