//! What clients talk to: the Observer gRPC API (plus health and reflection) and `/metrics`.

pub mod agent_events;
pub mod authority;
pub mod flows;
pub mod go_format;
pub mod grpc;
pub mod metrics;
pub mod peer;

use std::sync::Arc;

use flowscope_proto::observer::observer_server::ObserverServer;
use flowscope_proto::peer::peer_server::PeerServer;
use tonic::service::Routes;

use crate::observer::ObserverHandle;

/// The health-check name `hubble status` asks for.
pub const HEALTH_SERVICE: &str = "hubble.server.Observer";

/// Builds the gRPC routes: Observer, health (`hubble.server.Observer` and `""` SERVING) and
/// server reflection (v1 and v1alpha, so grpcurl works).
pub async fn grpc_routes(
    handle: Arc<ObserverHandle>,
    peer: peer::PeerService,
) -> Result<Routes, tonic_reflection::server::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(HEALTH_SERVICE, tonic_health::ServingStatus::Serving)
        .await;
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    reporter
        .set_serving::<ObserverServer<grpc::ObserverService>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(flowscope_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(flowscope_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let observer = flows::ObserverApi::new(handle);
    Ok(Routes::new(observer)
        .add_service(PeerServer::new(peer))
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha))
}
