"""The contract as files: subgraph SDL and the composed supergraph under ``schema/``.

Composition uses the Guild's ``@theguild/federation-composition`` (``federation/``, installed
with ``npm ci --prefix federation``): a schema that does not compose fails here, not in a gateway.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from omnigraph.api.schema import build_schema
from omnigraph.api.subgraphs import SUBGRAPHS

__all__ = [
    "COMPOSER",
    "CompositionError",
    "compose_supergraph",
    "expected_schema_files",
    "stale_schema_files",
    "write_schema_files",
]

COMPOSER = Path(__file__).resolve().parents[3] / "federation" / "compose.mjs"
SUPERGRAPH = "supergraph.graphql"
SINGLE_PROCESS = "omnigraph.graphql"


class CompositionError(RuntimeError):
    """The subgraphs do not compose, or the composer is not installed."""


def subgraph_files() -> dict[str, str]:
    """Subgraph name -> SDL, for the four domain subgraphs."""
    return {name: build_schema(subgraph=name).as_str() + "\n" for name in SUBGRAPHS}


def single_process_file() -> str:
    """The single-process graph's SDL: itself a valid subgraph, serving every domain."""
    return build_schema().as_str() + "\n"


def compose_supergraph(subgraphs: dict[str, str], composer: Path = COMPOSER) -> str:
    node = shutil.which("node")
    if node is None or not (composer.parent / "node_modules").is_dir():
        raise CompositionError(
            "federation composer not installed: run `npm ci --prefix federation`"
        )
    with tempfile.TemporaryDirectory() as folder:
        specs = []
        for name, sdl in subgraphs.items():
            path = Path(folder) / f"{name}.graphql"
            path.write_text(sdl)
            specs.append(f"{name}={path}")
        out = Path(folder) / SUPERGRAPH
        done = subprocess.run(
            [node, str(composer), str(out), *specs],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise CompositionError(done.stderr.strip() or "composition failed")
        return out.read_text()


def expected_schema_files() -> dict[str, str]:
    subgraphs = subgraph_files()
    files = {f"{name}.graphql": sdl for name, sdl in subgraphs.items()}
    files[SINGLE_PROCESS] = single_process_file()
    files[SUPERGRAPH] = compose_supergraph(subgraphs)
    return files


def write_schema_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in expected_schema_files().items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written


def stale_schema_files(folder: Path) -> list[Path]:
    return [
        folder / name
        for name, text in expected_schema_files().items()
        if not (folder / name).is_file() or (folder / name).read_text() != text
    ]
