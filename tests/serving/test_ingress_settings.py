"""`[serving] ingress` becomes Ray Serve settings of the head the lab starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_lab.backends.training.local_head import LocalHead, serve_environment
from mlops_lab.errors import UsageError


def test_haproxy_gets_its_own_files_and_ports_per_head(tmp_path: Path) -> None:
    one = LocalHead(tmp_path / "a" / ".mlops" / "ray", serve_ingress="haproxy")
    two = LocalHead(tmp_path / "b" / ".mlops" / "ray", serve_ingress="haproxy")
    first = serve_environment(one.serve_ingress, one.haproxy_dir)
    second = serve_environment(two.serve_ingress, two.haproxy_dir)
    assert first["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    for key in ("RAY_SERVE_HAPROXY_SOCKET_PATH", "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH"):
        assert first[key].startswith(str(one.haproxy_dir)) and first[key] != second[key]
        # Serve puts the sockets in a folder named by the 56-character node id
        assert len(first[key]) + 57 <= 97
    ports = [
        "RAY_SERVE_HAPROXY_STATS_PORT",
        "RAY_SERVE_HAPROXY_METRICS_PORT",
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT",
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT",
    ]
    # Serve's fixed defaults are shared by every head on the machine: with one fallback
    # proxy port, a second head's HAProxy sent requests to the first head's proxy (404)
    assert len({first[p] for p in ports} | {second[p] for p in ports}) == 2 * len(ports)
    # Serve's 30 s draining period made every undeploy take over 30 s behind its own HAProxy
    assert float(first["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"]) <= 5


def test_proxy_leaves_serve_at_its_defaults(tmp_path: Path) -> None:
    assert serve_environment("proxy", tmp_path) == {}


def test_haproxy_is_the_default(tmp_path: Path) -> None:
    assert LocalHead(tmp_path).serve_ingress == "haproxy"


def test_an_unknown_ingress_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="must be one of haproxy, proxy"):
        LocalHead(tmp_path, serve_ingress="nginx")
