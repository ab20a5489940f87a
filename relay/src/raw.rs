//! `GetFlowsResponse`s crossing the relay as the bytes the node sent.
//!
//! The relay needs only a response's time (for ordering) and its kind (to tell a node's
//! status or lost events from a flow); the flow itself, by far the largest part, is passed
//! through untouched. So a node's responses are read with [`NodeCodec`], which scans the
//! top-level fields of each message and keeps its bytes, and the relay's own stream writes
//! those bytes as they came. Nodes set `node_name` on every response and flow themselves.

use bytes::{Buf, BufMut, Bytes};
use flowscope_proto::observer::{GetFlowsRequest, GetFlowsResponse};
use prost::Message;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use flowscope_proto::get_flows_response_fields::{FLOW, LOST_EVENTS, NODE_NAME, NODE_STATUS, TIME};

/// What a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Flow,
    NodeStatus,
    LostEvents,
    /// None of the above (a newer node's response type): passed through.
    Other,
}

/// One encoded `GetFlowsResponse` with what the relay reads of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawResponse {
    pub bytes: Bytes,
    /// The response's `time` in nanoseconds since the epoch ([`i128::MIN`] without one).
    pub time_ns: i128,
    pub kind: Kind,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScanError {
    #[error("truncated GetFlowsResponse")]
    Truncated,
    #[error("malformed GetFlowsResponse: {0}")]
    Malformed(&'static str),
}

impl RawResponse {
    /// A response the relay makes itself (a node status).
    pub fn encode(resp: &GetFlowsResponse) -> Self {
        RawResponse {
            bytes: Bytes::from(resp.encode_to_vec()),
            time_ns: resp.time.as_ref().map_or(i128::MIN, |t| {
                i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos)
            }),
            kind: match &resp.response_types {
                Some(flowscope_proto::observer::get_flows_response::ResponseTypes::Flow(_)) => {
                    Kind::Flow
                }
                Some(flowscope_proto::observer::get_flows_response::ResponseTypes::NodeStatus(
                    _,
                )) => Kind::NodeStatus,
                Some(flowscope_proto::observer::get_flows_response::ResponseTypes::LostEvents(
                    _,
                )) => Kind::LostEvents,
                None => Kind::Other,
            },
        }
    }

    /// Reads the time and kind of an encoded response.
    pub fn scan(bytes: Bytes) -> Result<Self, ScanError> {
        let mut buf = &bytes[..];
        let (mut time_ns, mut kind) = (i128::MIN, Kind::Other);
        while !buf.is_empty() {
            let key = varint(&mut buf)?;
            let (field, wire) = (u32::try_from(key >> 3).unwrap_or(u32::MAX), key & 7);
            match (field, wire) {
                (FLOW, 2) => kind = Kind::Flow,
                (NODE_STATUS, 2) => kind = Kind::NodeStatus,
                (LOST_EVENTS, 2) => kind = Kind::LostEvents,
                (TIME, 2) => {
                    let len = length(&mut buf)?;
                    time_ns = timestamp(&buf[..len])?;
                    buf.advance(len);
                    continue;
                }
                (NODE_NAME, 2) => {}
                _ => {}
            }
            skip(&mut buf, wire)?;
        }
        Ok(RawResponse {
            bytes,
            time_ns,
            kind,
        })
    }

    /// The whole message, decoded.
    pub fn decode(&self) -> Result<GetFlowsResponse, prost::DecodeError> {
        GetFlowsResponse::decode(&self.bytes[..])
    }
}

fn varint(buf: &mut &[u8]) -> Result<u64, ScanError> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first().ok_or(ScanError::Truncated)?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(ScanError::Malformed("varint longer than 10 bytes"))
}

fn length(buf: &mut &[u8]) -> Result<usize, ScanError> {
    let len = usize::try_from(varint(buf)?).map_err(|_| ScanError::Truncated)?;
    if len > buf.len() {
        return Err(ScanError::Truncated);
    }
    Ok(len)
}

/// Skips the value of a field of wire type `wire`.
fn skip(buf: &mut &[u8], wire: u64) -> Result<(), ScanError> {
    let n = match wire {
        0 => {
            varint(buf)?;
            return Ok(());
        }
        1 => 8,
        2 => length(buf)?,
        5 => 4,
        _ => return Err(ScanError::Malformed("unsupported wire type")),
    };
    if n > buf.len() {
        return Err(ScanError::Truncated);
    }
    buf.advance(n);
    Ok(())
}

/// A `google.protobuf.Timestamp` as nanoseconds.
fn timestamp(mut buf: &[u8]) -> Result<i128, ScanError> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        match (key >> 3, key & 7) {
            // int64 and int32 as varints (two's complement, as protobuf writes them).
            (1, 0) => seconds = varint(&mut buf)? as i64,
            (2, 0) => nanos = varint(&mut buf)? as i32,
            (_, wire) => skip(&mut buf, wire)?,
        }
    }
    Ok(i128::from(seconds) * 1_000_000_000 + i128::from(nanos))
}

/// Encodes requests (towards the nodes) and raw responses (towards the client).
#[derive(Debug)]
pub struct RawEncoder<T>(std::marker::PhantomData<T>);

/// Decodes requests (from the client) and raw responses (from the nodes).
#[derive(Debug)]
pub struct RawDecoder<T>(std::marker::PhantomData<T>);

/// What the codec carries: a request or a raw response.
pub trait Wire: Sized + Send + 'static {
    fn write(&self, buf: &mut EncodeBuf<'_>);
    fn read(buf: &mut DecodeBuf<'_>) -> Result<Self, Status>;
}

impl Wire for GetFlowsRequest {
    fn write(&self, buf: &mut EncodeBuf<'_>) {
        // An EncodeBuf grows as needed, so encoding cannot run out of room.
        let _ = self.encode(buf);
    }
    fn read(buf: &mut DecodeBuf<'_>) -> Result<Self, Status> {
        GetFlowsRequest::decode(buf).map_err(|e| Status::invalid_argument(e.to_string()))
    }
}

impl Wire for RawResponse {
    fn write(&self, buf: &mut EncodeBuf<'_>) {
        buf.put_slice(&self.bytes);
    }
    fn read(buf: &mut DecodeBuf<'_>) -> Result<Self, Status> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        RawResponse::scan(bytes).map_err(|e| Status::internal(e.to_string()))
    }
}

impl<T: Wire> Encoder for RawEncoder<T> {
    type Item = T;
    type Error = Status;
    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.write(buf);
        Ok(())
    }
}

impl<T: Wire> Decoder for RawDecoder<T> {
    type Item = T;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<T>, Status> {
        T::read(buf).map(Some)
    }
}

/// The codec of `GetFlows` on both sides of the relay, encoding `E` and decoding `D`:
/// requests are protobuf messages, responses stay encoded ([`RawResponse`]).
#[derive(Debug)]
pub struct WireCodec<E, D>(std::marker::PhantomData<(E, D)>);

impl<E, D> Default for WireCodec<E, D> {
    fn default() -> Self {
        WireCodec(std::marker::PhantomData)
    }
}

/// The node side: requests out, raw responses in.
pub type NodeCodec = WireCodec<GetFlowsRequest, RawResponse>;
/// The client side: raw responses out, requests in.
pub type ServeCodec = WireCodec<RawResponse, GetFlowsRequest>;

impl<E: Wire, D: Wire> Codec for WireCodec<E, D> {
    type Encode = E;
    type Decode = D;
    type Encoder = RawEncoder<E>;
    type Decoder = RawDecoder<D>;
    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder(std::marker::PhantomData)
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder(std::marker::PhantomData)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscope_proto::flow::Flow;
    use flowscope_proto::flow::LostEvent;
    use flowscope_proto::observer::get_flows_response::ResponseTypes;
    use flowscope_proto::types::Timestamp;

    fn response(seconds: i64, nanos: i32, what: Option<ResponseTypes>) -> GetFlowsResponse {
        GetFlowsResponse {
            node_name: "node-a".into(),
            time: Some(Timestamp { seconds, nanos }),
            response_types: what,
        }
    }

    #[test]
    fn scanning_reads_the_time_and_kind_and_keeps_the_bytes() {
        let flow = Flow {
            node_name: "node-a".into(),
            ..Default::default()
        };
        let cases = [
            (
                response(1_700_000_000, 123, Some(ResponseTypes::Flow(flow))),
                Kind::Flow,
            ),
            (
                response(-5, 7, Some(ResponseTypes::LostEvents(LostEvent::default()))),
                Kind::LostEvents,
            ),
            (response(0, 0, None), Kind::Other),
        ];
        for (resp, kind) in cases {
            let bytes = Bytes::from(resp.encode_to_vec());
            let raw = RawResponse::scan(bytes.clone()).expect("scans");
            assert_eq!(raw.kind, kind);
            assert_eq!(raw, RawResponse::encode(&resp));
            assert_eq!(raw.bytes, bytes);
            assert_eq!(raw.decode().expect("decodes"), resp);
        }
        let t = RawResponse::scan(Bytes::from(response(2, 5, None).encode_to_vec()));
        assert_eq!(t.expect("scans").time_ns, 2_000_000_005);
        let none = GetFlowsResponse::default().encode_to_vec();
        assert_eq!(
            RawResponse::scan(Bytes::from(none)).expect("scans").time_ns,
            i128::MIN
        );
    }

    #[test]
    fn truncated_or_malformed_responses_are_errors() {
        let full =
            response(1_700_000_000, 1, Some(ResponseTypes::Flow(Flow::default()))).encode_to_vec();
        for cut in 1..full.len() {
            let r = RawResponse::scan(Bytes::copy_from_slice(&full[..cut]));
            // A cut at a field boundary is a shorter valid message; elsewhere it's an error.
            if let Ok(raw) = r {
                assert!(raw.decode().is_ok(), "cut at {cut}");
            }
        }
        assert_eq!(
            RawResponse::scan(Bytes::from_static(&[0x0b])),
            Err(ScanError::Malformed("unsupported wire type"))
        );
        assert_eq!(
            RawResponse::scan(Bytes::from_static(&[0xff; 11])),
            Err(ScanError::Malformed("varint longer than 10 bytes"))
        );
        assert_eq!(
            RawResponse::scan(Bytes::from_static(&[0x0a, 0x05, 0x01])),
            Err(ScanError::Truncated)
        );
    }
}
