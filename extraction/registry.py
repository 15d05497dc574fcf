"""The model registry: versioned model folders under `models/`, checked byte for byte at load.

A version is a folder `models/<version>/` holding the model's files (config.json,
model.safetensors, tokenizer.json, calibration.json, card.json, ...) and `manifest.json`, which
lists the sha256 of every other file. `models/registry.json` names the active version; the
environment variable `GONGKAI_MODEL` (a version name or a folder path) overrides it. A folder whose
files do not match their manifest (a flipped byte, a missing file) refuses to load.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from extraction.errors import GongkaiError

MODELS_DIR = Path(os.environ.get("GONGKAI_MODELS_DIR", Path(__file__).resolve().parents[1] / "models"))
MANIFEST = "manifest.json"
REGISTRY = "registry.json"
ENV_MODEL = "GONGKAI_MODEL"


class ModelIntegrityError(GongkaiError):
    """A model folder whose files do not match the sha256 of its manifest."""

    code = "model_integrity"


class ModelNotFound(GongkaiError):
    code = "model_not_found"


class Manifest(BaseModel):
    version: str = Field(description="Version name, e.g. layout-v1")
    kind: str = Field(default="layout", description="What the model does")
    created: str = Field(description="UTC timestamp of registration")
    files: dict[str, str] = Field(description="File name → sha256 of its bytes")
    sha256: str = Field(description="sha256 over the sorted (name, file sha256) pairs: the version's fingerprint")


class RegistryFile(BaseModel):
    active: str | None = Field(default=None, description="The version labelers load by default")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fingerprint(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{files[name]}\n".encode())
    return h.hexdigest()


def write_manifest(folder: Path, version: str | None = None, kind: str = "layout") -> Manifest:
    """Hash every file of `folder` (but the manifest) into its manifest.json."""
    folder = Path(folder)
    files = {p.name: file_sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    manifest = Manifest(
        version=version or folder.name,
        kind=kind,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        files=files,
        sha256=_fingerprint(files),
    )
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=1) + "\n", encoding="utf-8")
    return manifest


def verify(folder: Path) -> Manifest:
    """The folder's manifest, after checking every listed file's sha256 (raises ModelIntegrityError)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise ModelIntegrityError(f"{folder} has no {MANIFEST}")
    manifest = Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    if _fingerprint(manifest.files) != manifest.sha256:
        raise ModelIntegrityError(f"{path}: the manifest's own fingerprint does not match its files")
    for name, digest in manifest.files.items():
        f = folder / name
        if not f.is_file():
            raise ModelIntegrityError(f"{folder.name}: {name} is missing")
        if file_sha256(f) != digest:
            raise ModelIntegrityError(f"{folder.name}: {name} does not match its sha256 (corrupt or modified)")
    return manifest


def _registry(models_dir: Path) -> RegistryFile:
    path = models_dir / REGISTRY
    if not path.is_file():
        return RegistryFile()
    return RegistryFile.model_validate_json(path.read_text(encoding="utf-8"))


def list_versions(models_dir: Path = MODELS_DIR) -> list[str]:
    return sorted(p.name for p in Path(models_dir).iterdir() if (p / MANIFEST).is_file()) if models_dir.is_dir() else []


def active_version(models_dir: Path = MODELS_DIR) -> str | None:
    env = os.environ.get(ENV_MODEL)
    return env or _registry(Path(models_dir)).active


def activate(version: str, models_dir: Path = MODELS_DIR) -> None:
    models_dir = Path(models_dir)
    verify(models_dir / version)
    reg = _registry(models_dir)
    reg.active = version
    (models_dir / REGISTRY).write_text(reg.model_dump_json(indent=1) + "\n", encoding="utf-8")


def resolve(version: str | None = None, models_dir: Path = MODELS_DIR) -> tuple[Path, Manifest]:
    """The verified folder of `version` (a name under models_dir or a path), or of the active one."""
    models_dir = Path(models_dir)
    version = version or active_version(models_dir)
    if not version:
        raise ModelNotFound(f"no model version is active in {models_dir / REGISTRY} and none was given")
    folder = Path(version) if Path(version).is_dir() else models_dir / version
    if not folder.is_dir():
        raise ModelNotFound(f"model version {version!r} not found (known: {', '.join(list_versions(models_dir))})")
    return folder, verify(folder)


def register(source: Path, version: str, models_dir: Path = MODELS_DIR, activate_it: bool = False) -> Path:
    """Copy a trained model folder into the registry as `version` and write its manifest."""
    models_dir = Path(models_dir)
    dest = models_dir / version
    if dest.exists():
        raise FileExistsError(f"model version {version!r} exists already in {models_dir}")
    dest.mkdir(parents=True)
    for p in Path(source).iterdir():
        if p.is_file() and p.name != MANIFEST:
            shutil.copy2(p, dest / p.name)
    write_manifest(dest, version)
    if activate_it:
        activate(version, models_dir)
    return dest


__all__ = [
    "MODELS_DIR",
    "Manifest",
    "ModelIntegrityError",
    "ModelNotFound",
    "activate",
    "active_version",
    "list_versions",
    "register",
    "resolve",
    "verify",
    "write_manifest",
]
