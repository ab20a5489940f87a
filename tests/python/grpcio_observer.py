"""A Python grpcio client of flowd's Observer API, driven by tests/tests/grpcio.rs.

Generates the Python stubs from the repository's proto files into a temporary directory,
then, over one channel to --target (e.g. unix:///run/flowscope/hubble.sock or
127.0.0.1:4244):

1. ServerStatus, printed as {"call": "ServerStatus", "response": {...}};
2. GetFlows(number=N), printed as {"call": "GetFlows", "flows": [...]};
3. GetFlows(number=1, follow=True): the first flow is printed as
   {"call": "follow", "first": {...}}, then the script waits for one more flow (the caller
   sends it after reading the first), printed as {"call": "follow", "next": {...}}.

One JSON object per line on stdout; an RPC error is printed as {"error": ...} and the
script exits 1. Messages are converted with protobuf's json_format, proto field names kept.
"""

import argparse
import importlib.resources
import json
import os
import sys
import tempfile


def generate_stubs(proto_dir, out_dir):
    from grpc_tools import protoc

    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    files = ["observer/observer.proto", "flow/flow.proto", "relay/relay.proto"]
    args = [
        "protoc",
        f"-I{proto_dir}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
    ] + [os.path.join(proto_dir, f) for f in files]
    if protoc.main(args) != 0:
        sys.exit(f"protoc failed on {files} in {proto_dir}")


def emit(obj):
    print(json.dumps(obj), flush=True)


def flows_of(responses, count):
    """The first `count` flows among GetFlows responses (other response types skipped)."""
    from google.protobuf import json_format

    for resp in responses:
        if resp.WhichOneof("response_types") == "flow":
            yield json_format.MessageToDict(resp.flow, preserving_proto_field_name=True)
            count -= 1
            if count == 0:
                return


def run(target, number, timeout):
    import grpc
    from google.protobuf import json_format
    from observer import observer_pb2, observer_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = observer_pb2_grpc.ObserverStub(channel)
        status = stub.ServerStatus(observer_pb2.ServerStatusRequest(), timeout=timeout)
        emit({
            "call": "ServerStatus",
            "response": json_format.MessageToDict(status, preserving_proto_field_name=True),
        })

        responses = stub.GetFlows(observer_pb2.GetFlowsRequest(number=number), timeout=timeout)
        emit({"call": "GetFlows", "flows": list(flows_of(responses, number))})

        follow = stub.GetFlows(
            observer_pb2.GetFlowsRequest(number=1, follow=True), timeout=timeout
        )
        flows = flows_of(follow, 2)
        for step in ("first", "next"):
            flow = next(flows, None)
            if flow is None:
                emit({"error": "follow stream ended", "details": f"before the {step} flow"})
                sys.exit(1)
            emit({"call": "follow", step: flow})
        follow.cancel()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto-dir", required=True, help="the repository's proto/proto")
    parser.add_argument("--target", required=True, help="gRPC target of flowd's Observer API")
    parser.add_argument("--number", type=int, default=3, help="flows GetFlows asks for")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    args = parser.parse_args()

    import grpc

    with tempfile.TemporaryDirectory(prefix="flowscope-stubs-") as stubs:
        generate_stubs(args.proto_dir, stubs)
        sys.path.insert(0, stubs)
        try:
            run(args.target, args.number, args.timeout)
        except grpc.RpcError as e:
            emit({"error": str(e.code()), "details": e.details()})
            sys.exit(1)


if __name__ == "__main__":
    main()
