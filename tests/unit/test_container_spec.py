"""From the site's [run] table to the docker run argv, and back from inspect."""

from __future__ import annotations

import shlex

from siteproof.remote.docker import ContainerSpec, parse_image_list
from siteproof.runtime import container_spec, tcp_host_ports
from siteproof.site import RunSpec


def test_container_spec_publishes_exposed_tcp_ports_without_site_ports() -> None:
    spec = container_spec(
        RunSpec(),
        image="app:1",
        name="c",
        exposed_ports=["8080/tcp", "53/udp", "9000/tcp"],
        network="net",
        run_id="r1",
    )

    assert spec.ports == ("8080:8080", "9000:9000")
    assert spec.labels == {"siteproof.run": "r1"}


def test_run_argv_never_pulls_and_keeps_site_values_intact() -> None:
    run = RunSpec(
        ports=("127.0.0.1:8501:8501",),
        env={"GREETING": "hello world; rm -rf /"},
        volumes=("/data/app:/app/data:ro",),
        user="1000:1000",
        restart="always",
        entrypoint=("/bin/sh", "-c"),
        command=("exec app --port 8501",),
    )
    spec = container_spec(
        run, image="app:1", name="c", exposed_ports=[], network="n", run_id="r"
    )

    argv = spec.run_argv()

    assert argv[:6] == ["docker", "run", "-d", "--pull", "never", "--name"]
    assert "GREETING=hello world; rm -rf /" in argv
    assert argv[argv.index("--entrypoint") + 1] == "/bin/sh"
    assert argv[-3:] == ["app:1", "-c", "exec app --port 8501"]
    assert shlex.split(shlex.join(argv)) == argv


def test_run_argv_empty_entrypoint_clears_it() -> None:
    argv = ContainerSpec(image="a:1", name="c", entrypoint=()).run_argv()

    assert argv[-3:] == ["--entrypoint", "", "a:1"]


def test_tcp_host_ports_prefers_live_bindings() -> None:
    document = {
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": ""}]}},
        "NetworkSettings": {
            "Ports": {
                "80/tcp": [
                    {"HostIp": "0.0.0.0", "HostPort": "49153"},
                    {"HostIp": "::", "HostPort": "49153"},
                ],
                "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "53"}],
                "9000/tcp": None,
            }
        },
    }

    assert tcp_host_ports(document) == (49153,)


def test_tcp_host_ports_of_a_dead_container_come_from_its_config() -> None:
    document = {
        "HostConfig": {"PortBindings": {"8080/tcp": [{"HostPort": "18080"}]}},
        "NetworkSettings": {"Ports": {}},
    }

    assert tcp_host_ports(document) == (18080,)


def test_parse_image_list_keeps_ids_and_real_tags() -> None:
    text = (
        "sha256:aaa app:1\nsha256:aaa app:latest\nsha256:bbb <none>:<none>\n"
        "WARNING: something\n"
    )

    images = parse_image_list(text)

    assert [(i.id, i.tags) for i in images] == [
        ("sha256:aaa", ("app:1", "app:latest")),
        ("sha256:bbb", ()),
    ]
