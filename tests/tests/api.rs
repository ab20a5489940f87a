//! The Observer API surface a Hubble client relies on, exercised over gRPC against the real
//! flowd: health, reflection, the version header, ServerStatus and GetNamespaces.

#![allow(clippy::unwrap_used)]

use flowscope_proto::cilium::EntryType;
use flowscope_proto::observer::{GetNamespacesRequest, GetNodesRequest, ServerStatusRequest};
use flowscope_server::parser::l7::build::http_entry;
use flowscope_tests::{Flowd, FlowdOptions};
use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const STATE: &str = "node_name: kind-worker\nendpoints:\n  - name: details-1\n    namespace: bookinfo\n    labels: {app: details}\n    ips: [10.244.1.7]\n    identity: 25001\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reflection_status_and_namespaces() {
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        buffer_capacity: 7,
        ..Default::default()
    });
    let p = flowd.producer();
    for i in 0..9u64 {
        let e = http_entry(
            EntryType::Request,
            1_000 + i,
            "10.0.0.1:1",
            8,
            "10.244.1.7:80",
            0,
            "GET",
            "h",
            "/",
            0,
            &[],
        );
        p.send(&prost::Message::encode_to_vec(&e)).unwrap();
    }
    flowd.wait_metric(
        r#"flowscope_source_records_decoded_total{source="access_log"}"#,
        9.0,
    );

    let mut client = flowd.client().await;

    // ServerStatus, with the version header.
    let resp = client.server_status(ServerStatusRequest {}).await.unwrap();
    assert!(resp.metadata().get("hubble-server-version").is_some());
    let st = resp.into_inner();
    assert_eq!((st.num_flows, st.max_flows, st.seen_flows), (7, 7, 9));
    assert!(st.uptime_ns > 0);
    assert!(st.num_connected_nodes.is_none(), "unset on a node");
    assert!(!st.version.is_empty());

    let ns = client
        .get_namespaces(GetNamespacesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ns.namespaces.len(), 1);
    assert_eq!(ns.namespaces[0].namespace, "bookinfo");

    let err = client.get_nodes(GetNodesRequest {}).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);

    // Health: the service name hubble status asks for, and the server as a whole.
    let channel = flowd.channel().await;
    let mut health = HealthClient::new(channel.clone());
    for service in ["hubble.server.Observer", ""] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "hubble.server.Observer".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);

    // Reflection lists the Observer service and resolves its descriptors.
    let mut refl = ServerReflectionClient::new(channel);
    let reqs = tokio_stream::iter(vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "observer.Observer".into(),
            )),
        },
    ]);
    let mut out = refl
        .server_reflection_info(reqs)
        .await
        .unwrap()
        .into_inner();
    match out.next().await.unwrap().unwrap().message_response.unwrap() {
        MessageResponse::ListServicesResponse(l) => {
            let names: Vec<_> = l.service.iter().map(|s| s.name.as_str()).collect();
            assert!(names.contains(&"observer.Observer"), "{names:?}");
            assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
        }
        other => panic!("{other:?}"),
    }
    match out.next().await.unwrap().unwrap().message_response.unwrap() {
        MessageResponse::FileDescriptorResponse(f) => assert!(!f.file_descriptor_proto.is_empty()),
        other => panic!("{other:?}"),
    }
}
