"""The protos as a contract for other languages: buf's lint rules, no breaking change since the
last release, language options that let Go and Java generate (Java with Debian's protoc; Go's
plugin, protoc-gen-go, is not installable here: its options are checked in the descriptors)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grpc_tools
import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
RELEASE = PROTOS / "release" / "overcast.binpb"


@pytest.fixture(scope="module")
def buf() -> Path:
    if shutil.which("npm") is None:
        pytest.fail("npm not found: the contract checks need Node.js 18+ and npm (CI installs them)")
    proc = subprocess.run(
        [ROOT / "scripts" / "node_tools.sh"], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip()) / ".bin" / "buf"


def _run(*args: object, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_buf_lint_passes(buf: Path) -> None:
    proc = _run(buf, "lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_protos_are_buf_formatted(buf: Path) -> None:
    proc = _run(buf, "format", "--diff", "--exit-code", "--path", "protos/overcast")
    assert proc.returncode == 0, "run buf format -w --path protos/overcast:\n" + proc.stdout


def test_no_breaking_change_since_the_release(buf: Path) -> None:
    proc = _run(buf, "breaking", "--against", RELEASE)
    assert proc.returncode == 0, "breaking change (make api-release after a decision record):\n" + proc.stdout


def test_the_breaking_check_catches_a_renumbered_field(buf: Path, tmp_path: Path) -> None:
    shutil.copytree(PROTOS, tmp_path / "protos")
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    server = tmp_path / "protos" / "overcast" / "v1" / "server.proto"
    text = server.read_text()
    assert "string fault = 9" in text
    server.write_text(text.replace("string fault = 9", "string fault = 99"))
    proc = _run(buf, "breaking", "--against", RELEASE, cwd=tmp_path)
    assert proc.returncode != 0
    assert "fault" in proc.stdout or "9" in proc.stdout, proc.stdout


def _protoc(*args: str) -> subprocess.CompletedProcess[str]:
    files = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "overcast").rglob("*.proto"))
    return subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", *args, *files],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_java_generates_one_class_per_message_in_dev_overcast(tmp_path: Path) -> None:
    # grpcio-tools' protoc has no Java generator: Debian's protoc (protobuf-compiler) has.
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.fail("protoc not found: apt-get install protobuf-compiler (CI installs it)")
    files = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "overcast").rglob("*.proto"))
    # The well-known types (google/protobuf/*.proto) come with grpcio-tools: Debian ships them
    # in libprotobuf-dev, which protobuf-compiler does not pull in.
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    proc = subprocess.run(
        [protoc, f"-I{PROTOS}", f"-I{well_known}", f"--java_out={tmp_path}", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    public, agent = tmp_path / "dev" / "overcast" / "v1", tmp_path / "dev" / "overcast" / "agent" / "v1"
    assert (public / "Server.java").is_file() and (public / "VmState.java").is_file()
    assert (public / "ServerProto.java").is_file()
    assert (agent / "AgentCommand.java").is_file()
    assert not list(tmp_path.rglob("*OuterClass.java"))


def test_every_file_names_its_go_package_and_other_languages(tmp_path: Path) -> None:
    out = tmp_path / "contract.binpb"
    proc = _protoc(f"--descriptor_set_out={out}", "--include_imports")
    assert proc.returncode == 0, proc.stderr
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    ours = [f for f in files if f.package.startswith("overcast.")]
    assert {f.package for f in ours} == {"overcast.v1", "overcast.agent.v1"}
    for f in ours:
        o = f.options
        go_path, _, go_name = o.go_package.partition(";")
        assert go_path.startswith("github.com/overcast-cloud/overcast/gen/go/"), f.name
        assert go_path.endswith(f.package.replace(".", "/")), f.name
        assert go_name in ("overcastv1", "agentv1"), f.name
        assert o.java_package == "dev." + f.package and o.java_multiple_files, f.name
        assert o.java_outer_classname and o.csharp_namespace and o.php_namespace, f.name
        assert o.ruby_package and o.objc_class_prefix, f.name
