//! `FlowFilter.experimental.cel_expression`: CEL expressions over the whole flow, as
//! Hubble evaluates them.
//!
//! The flow is the variable `_flow`, a `flow.Flow` message whose fields carry their
//! `.proto` names (`_flow.IP.source`, `_flow.l4.TCP.destination_port`), and expressions
//! are read in the `flow` container, so enum constants are written `Verdict.DROPPED` (or
//! `flow.Verdict.DROPPED`) and are ints, as enum fields are. A filter's expressions match a
//! flow when any of them evaluates to `true`; an error or a non-bool result does not match.
//!
//! Each expression is parsed and checked once, when the filter is built. Evaluating encodes
//! the flow and reads the fields the expression selects straight from that encoding.

mod check;
mod message;
mod schema;

use std::sync::{Arc, LazyLock};

use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue, SelectExpr};
use cel::common::types::{self, CelBool, CelInt, CelString, Kind};
use cel::common::value::{CowVal, StaticVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Env, ExecutionError, Value};
use prost::Message as _;

use crate::FilterError;
use crate::view::FlowView;
use message::ProtoMsg;
use schema::SCHEMA;

/// The variable holding the flow.
const FLOW_VARIABLE: &str = "_flow";
/// Its message type.
const FLOW_TYPE: &str = "flow.Flow";
/// The container names are resolved in.
const CONTAINER: &str = "flow";
/// The longest expression accepted, in code points (Hubble's parser limit).
const MAX_EXPRESSION_CHARS: usize = 4096;
/// The function `has(x.f)` is rewritten to, so that proto messages answer it by field
/// presence rather than by whether the field can be read.
const HAS_FUNCTION: &str = "@has_field";

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // Neither can fail: the container name is valid and the function is new.
    let _ = env.set_container(CONTAINER);
    let _ = env.add_overload(
        HAS_FUNCTION,
        "has_field_dyn_string",
        vec![types::DYN_TYPE, types::STRING_TYPE],
        has_field,
    );
    Arc::new(env)
});

/// The key a message's indexer answers `has()` for; no expression can make one.
#[derive(Debug, Clone)]
pub(super) struct PresenceKey(String);

static PRESENCE_KEY_TYPE: types::Type = types::Type::new_unspecified_type("@presence_key");

impl Val for PresenceKey {
    fn get_type(&self) -> &types::Type {
        &PRESENCE_KEY_TYPE
    }
    fn cel_type() -> &'static types::Type {
        &PRESENCE_KEY_TYPE
    }
    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
impl StaticVal for PresenceKey {}

impl PresenceKey {
    pub(super) fn field(&self) -> &str {
        &self.0
    }
}

/// `has(target.field)`: field presence on a message, key presence on a map.
fn has_field<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [target, field] = args.as_slice() else {
        return Err(ExecutionError::invalid_argument_count(2, args.len()));
    };
    let field = message::field_name(field.as_ref())?;
    let indexer = target.as_indexer().ok_or_else(|| {
        ExecutionError::no_such_overload("has", vec![target.get_type().name().to_string()])
    })?;
    let is_message = target.get_type().kind() == Kind::Struct
        && SCHEMA.message_index(target.get_type().name()).is_some();
    let present = if is_message {
        let v = indexer.get(&PresenceKey(field.to_string()))?;
        v.downcast_ref::<CelBool>().is_some_and(|b| bool::from(*b))
    } else {
        match indexer.get(&CelString::from(field)) {
            Ok(_) => true,
            Err(ExecutionError::NoSuchKey(_)) => false,
            Err(e) => return Err(e),
        }
    };
    Ok(CowVal::owned(CelBool::from(present)))
}

/// Rewrites every `has(x.f)` into a call of [`HAS_FUNCTION`].
fn rewrite_presence(e: &mut IdedExpr) {
    if let Expr::Select(sel) = &mut e.expr
        && sel.test
    {
        let SelectExpr { operand, field, .. } = std::mem::take(sel);
        let field_expr = IdedExpr {
            id: e.id,
            expr: Expr::Literal(LiteralValue::String(CelString::from(field))),
        };
        e.expr = Expr::Call(CallExpr {
            func_name: HAS_FUNCTION.to_string(),
            target: None,
            args: vec![*operand, field_expr],
        });
    }
    match &mut e.expr {
        Expr::Select(sel) => rewrite_presence(&mut sel.operand),
        Expr::Call(call) => {
            if let Some(t) = &mut call.target {
                rewrite_presence(t);
            }
            call.args.iter_mut().for_each(rewrite_presence);
        }
        Expr::List(list) => list.elements.iter_mut().for_each(rewrite_presence),
        Expr::Map(map) => {
            for entry in &mut map.entries {
                if let cel::common::ast::EntryExpr::MapEntry(m) = &mut entry.expr {
                    rewrite_presence(&mut m.key);
                    rewrite_presence(&mut m.value);
                }
            }
        }
        Expr::Comprehension(c) => {
            for part in [
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ] {
                rewrite_presence(part);
            }
        }
        Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) | Expr::Struct(_) => {}
    }
}

/// Parses and checks one expression.
fn compile(source: &str) -> Result<IdedExpr, String> {
    let chars = source.chars().count();
    if chars > MAX_EXPRESSION_CHARS {
        return Err(format!(
            "expression code point size exceeds limit: size: {chars}, limit {MAX_EXPRESSION_CHARS}"
        ));
    }
    if SCHEMA.message_index(FLOW_TYPE).is_none() {
        return Err(format!("message type {FLOW_TYPE} is unknown"));
    }
    let mut expr = ENV.parser().parse(source).map_err(|e| e.to_string())?;
    check::check(&expr)?;
    rewrite_presence(&mut expr);
    Ok(expr)
}

/// Resolves `_flow` and the enum constants during one evaluation.
struct Variables<'a> {
    flow: ProtoMsg<'a>,
}

impl VariableResolver for Variables<'_> {
    fn resolve<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'b>> {
        if name == FLOW_VARIABLE {
            return Some(CowVal::Borrowed(&self.flow));
        }
        SCHEMA
            .enum_constant(name)
            .map(|v| CowVal::owned(CelInt::from(v)))
    }
}

/// The compiled expressions of one `FlowFilter`.
#[derive(Debug, Clone)]
pub(crate) struct CelExpressions {
    programs: Arc<[IdedExpr]>,
}

impl CelExpressions {
    pub(crate) fn new(sources: &[String]) -> Result<Self, FilterError> {
        let programs = sources
            .iter()
            .map(|s| {
                compile(s).map_err(|reason| FilterError::InvalidCelExpression {
                    expression: s.clone(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { programs })
    }

    /// Whether any expression evaluates to `true` for `flow`.
    pub(crate) fn matches_flow<V: FlowView + ?Sized>(&self, flow: &V) -> bool {
        let Some(flow_type) = SCHEMA.message_index(FLOW_TYPE) else {
            return false;
        };
        let bytes = flow.proto_flow().encode_to_vec();
        let vars = Variables {
            flow: ProtoMsg::new(flow_type, &bytes),
        };
        let mut ctx = Context::with_env(Arc::clone(&ENV));
        ctx.set_variable_resolver(&vars);
        self.programs
            .iter()
            .any(|p| matches!(Value::resolve(p, &ctx), Ok(Value::Bool(true))))
    }
}

#[cfg(test)]
mod tests;
