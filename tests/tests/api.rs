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

/// Field masks at any depth, as Hubble's `parser/fieldmask` applies them, and several
/// followers that ask for the same mask each get every flow (they share one encoding).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_field_masks_and_shared_followers() {
    use flowscope_proto::flow::{Flow, Layer4, Layer7, Tcp, layer4, layer7};
    use flowscope_proto::observer::GetFlowsRequest;
    use flowscope_proto::observer::get_flows_response::ResponseTypes;

    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        buffer_capacity: 63,
        ..Default::default()
    });
    let mut client = flowd.client().await;
    let mask = |paths: &[&str]| {
        Some(flowscope_proto::types::FieldMask {
            paths: paths.iter().map(|s| s.to_string()).collect(),
        })
    };
    // Followers first, so that they see the flows as they are written.
    let mut followers = Vec::new();
    for _ in 0..3 {
        let req = GetFlowsRequest {
            follow: true,
            field_mask: mask(&["l7.http.code", "l4.TCP.source_port"]),
            ..Default::default()
        };
        followers.push(client.get_flows(req).await.unwrap().into_inner());
    }
    let p = flowd.producer();
    for i in 0..5u64 {
        let e = http_entry(
            EntryType::Response,
            2_000 + i,
            "10.0.0.1:4000",
            8,
            "10.244.1.7:80",
            0,
            "GET",
            "h",
            "/",
            200 + i as u32,
            &[("x-request-id", "r")],
        );
        p.send(&prost::Message::encode_to_vec(&e)).unwrap();
    }
    let want = |code: u32| Flow {
        l4: Some(Layer4 {
            protocol: Some(layer4::Protocol::Tcp(Tcp {
                source_port: 80,
                ..Default::default()
            })),
        }),
        l7: Some(Layer7 {
            record: Some(layer7::Record::Http(flowscope_proto::flow::Http {
                code,
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    for mut stream in followers {
        for i in 0..5u32 {
            let resp = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
                .await
                .expect("a flow within 10 s")
                .expect("stream open")
                .expect("ok");
            // time and node_name are not in the mask: unset at the top too.
            assert!(resp.time.is_none() && resp.node_name.is_empty());
            match resp.response_types {
                Some(ResponseTypes::Flow(f)) => assert_eq!(f, want(200 + i)),
                other => panic!("{other:?}"),
            }
        }
    }
    // An invalid path at any depth is InvalidArgument.
    let err = client
        .get_flows(GetFlowsRequest {
            field_mask: mask(&["l7.http.nope"]),
            ..Default::default()
        })
        .await
        .expect_err("invalid mask");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

/// `peer.Peer/Notify`: flowd announces itself with its Observer API address, keeps the
/// stream open, and the address serves the Observer API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_service_announces_this_node() {
    use flowscope_proto::peer::peer_client::PeerClient;
    use flowscope_proto::peer::{ChangeNotificationType, NotifyRequest};

    let port = flowscope_tests::free_port();
    let flowd = Flowd::start(FlowdOptions {
        state_yaml: STATE,
        extra_args: vec![format!("--listen-address=127.0.0.1:{port}")],
        ..Default::default()
    });
    let mut peers = PeerClient::new(flowd.channel().await);
    let mut stream = peers.notify(NotifyRequest {}).await.unwrap().into_inner();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("a notification within 10 s")
        .expect("stream open")
        .expect("ok");
    assert_eq!(first.name, "kind-worker");
    assert_eq!(first.address, format!("127.0.0.1:{port}"));
    assert_eq!(first.r#type, ChangeNotificationType::PeerAdded as i32);
    assert!(first.tls.is_none(), "plaintext API: no TLS server name");
    // The stream stays open: nothing more arrives while the node is alone.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), stream.next())
            .await
            .is_err()
    );
    // The announced address is an Observer API.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", first.address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut observer = flowscope_proto::observer::observer_client::ObserverClient::new(channel);
    let st = observer
        .server_status(ServerStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(st.max_flows, 4095);
}
