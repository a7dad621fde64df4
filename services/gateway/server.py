"""Start the gateway: ser.v1.CallAnalysis and ser.v1.Jobs on one port (default 50050)."""
from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health
from ser.v1 import analysis_pb2, analysis_pb2_grpc, jobs_pb2, jobs_pb2_grpc

from services.common.limits import Group, RpcLimits
from services.common.logs import configure_logging
from services.common.server import build_server, serve_forever, stop_server
from services.gateway.call_analysis import CallAnalysisServicer
from services.gateway.downstream import Downstream
from services.gateway.jobs_api import JobsServicer
from services.jobs.client import JobClient
from shared.settings import Settings

NAME = "gateway"
CALL_ANALYSIS = analysis_pb2.DESCRIPTOR.services_by_name["CallAnalysis"].full_name  # "ser.v1.CallAnalysis"
JOBS = jobs_pb2.DESCRIPTOR.services_by_name["Jobs"].full_name  # "ser.v1.Jobs"


def rpc_limits(settings: Settings) -> RpcLimits:
    """The caps on the gateway's long-lived RPCs (``services.common.limits``): every streaming method of its
    services belongs to a group, so one added later cannot go uncapped by mistake."""
    groups = [
        Group("event streams", settings.gateway_max_watches, "SER_GATEWAY_MAX_WATCHES",
              frozenset({f"/{JOBS}/WatchJob"}), item="event stream"),
        Group("uploads", settings.gateway_max_uploads, "SER_GATEWAY_MAX_UPLOADS",
              frozenset({f"/{CALL_ANALYSIS}/AnalyzeUpload"}), item="upload"),
        Group("live streams", settings.gateway_max_streams, "SER_GATEWAY_MAX_STREAMS",
              frozenset({f"/{CALL_ANALYSIS}/AnalyzeStream"}), item="live stream"),
    ]
    capped = {m for g in groups for m in g.methods}
    for service in (analysis_pb2.DESCRIPTOR.services_by_name["CallAnalysis"], jobs_pb2.DESCRIPTOR.services_by_name["Jobs"]):
        for method in service.methods:
            name = f"/{service.full_name}/{method.name}"
            if (method.client_streaming or method.server_streaming) and name not in capped:
                raise RuntimeError(f"the gateway's streaming method {name} belongs to no group of rpc_limits")
    return RpcLimits(groups, idle_s=settings.stream_idle_s)


def _register(settings: Settings, downstream: Downstream, jobs: JobClient | None):
    def register(server: grpc.Server) -> None:
        analysis_pb2_grpc.add_CallAnalysisServicer_to_server(CallAnalysisServicer(settings, downstream), server)
        jobs_pb2_grpc.add_JobsServicer_to_server(JobsServicer(settings, jobs), server)

    return register


@dataclass
class GatewayServer:
    server: grpc.Server
    port: int
    downstream: Downstream
    _health: health.HealthServicer
    limits: RpcLimits

    def stop(self, grace: float = 5.0) -> None:
        stop_server(self.server, self._health, grace)
        self.downstream.close()


def serve(settings: Settings, *, port: int | None = None, jobs: JobClient | None = None) -> GatewayServer:
    """A started server (non-blocking); ``port=0`` binds an ephemeral port. Downstream addresses come
    from ``settings`` (SER_PREPROCESS_ADDR, SER_INFERENCE_ADDR); the job store from SER_REDIS_URL. With
    SER_GATEWAY_TOKEN set, every RPC but health checks needs ``authorization: Bearer <token>``. Its streaming
    RPCs are capped and timed out by ``rpc_limits``."""
    downstream = Downstream(settings)
    limits = rpc_limits(settings)
    server, bound, health_servicer = build_server(NAME, settings, _register(settings, downstream, jobs), port=port,
                                                  health_services=[CALL_ANALYSIS, JOBS], limits=limits)
    server.start()
    return GatewayServer(server, bound, downstream, health_servicer, limits)


def main(port: int | None = None) -> None:
    settings = Settings.from_env()
    configure_logging(settings)
    downstream = Downstream(settings)
    try:
        serve_forever(NAME, settings, _register(settings, downstream, None), port=port,
                      health_services=[CALL_ANALYSIS, JOBS], limits=rpc_limits(settings))
    finally:
        downstream.close()


if __name__ == "__main__":
    main()
