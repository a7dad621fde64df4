"""Generate the Python stubs of protos/ser/v1/*.proto (messages, gRPC stubs and .pyi type stubs).

The stubs are committed next to the .proto files so that a fresh clone imports ``ser.v1`` without
a build step; tests/contract/test_codegen_drift.py fails when they drift from the .proto files.
Run ``python -m services.common.codegen`` (``make proto``) after editing a contract.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parents[2] / "protos"
PROTO_PACKAGE_DIR = Path("ser") / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    """The contract sources, relative to ``root`` (as protoc wants them with ``-I root``)."""
    return sorted(p.relative_to(root) for p in (root / PROTO_PACKAGE_DIR).glob("*.proto"))


def protoc_args(out_dir: Path, root: Path = PROTO_ROOT) -> list[str]:
    """The exact protoc command line (without the program name)."""
    well_known = resources.files("grpc_tools") / "_proto"
    return [
        f"-I{root}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *(str(p) for p in proto_files(root)),
    ]


def generated_files(out_dir: Path, root: Path = PROTO_ROOT) -> list[Path]:
    """Every stub path that generating into ``out_dir`` produces."""
    stems = [p.with_suffix("") for p in proto_files(root)]
    return [out_dir / f"{stem}{suffix}" for stem in stems for suffix in GENERATED_SUFFIXES]


def generate(out_dir: Path, root: Path = PROTO_ROOT) -> list[Path]:
    """Run grpc_tools.protoc on every contract, writing stubs under ``out_dir/ser/v1``."""
    from grpc_tools import protoc

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rc = protoc.main(["grpc_tools.protoc", *protoc_args(out_dir, root)])
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit code {rc}")
    paths = generated_files(out_dir, root)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RuntimeError(f"protoc did not write {missing}")
    return paths


def main() -> None:
    paths = generate(PROTO_ROOT)
    for path in paths:
        print(path.relative_to(PROTO_ROOT.parent))


if __name__ == "__main__":
    main()
