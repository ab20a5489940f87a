//! Protobuf drain clients: a followed GetFlows whose responses are only decoded and handed
//! to a callback, so that the server is measured and not a client's text output.

use super::*;

/// Follows GetFlows at `server` (any address `flowctl --server` takes) on a thread of its
/// own and hands every response to `seen` until it returns false or the stream ends.
pub fn follow_flows(
    server: String,
    mut seen: impl FnMut(&GetFlowsResponse) -> bool + Send + 'static,
) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut client = flowscope_cli::client::connect(&server).await.unwrap();
            let req = flowscope_proto::observer::GetFlowsRequest {
                follow: true,
                ..Default::default()
            };
            let mut stream = client.get_flows(req).await.unwrap().into_inner();
            while let Ok(Some(resp)) = stream.message().await {
                if !seen(&resp) {
                    break;
                }
            }
        });
    });
}
