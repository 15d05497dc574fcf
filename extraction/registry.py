"""The model registry: versioned model folders under `models/`, checked byte for byte at load.

A version is a folder `models/<version>/` holding the model's files (config.json,
model.safetensors, tokenizer.json, calibration.json, card.json, ...) and `manifest.json`, which
lists the sha256 of every other file. `registry.json` of the models folder names the active version;
the environment variable `GONGKAI_MODEL` (a version name or a folder path) overrides it. A folder
whose files do not match their manifest (a flipped byte, a missing file) refuses to load.

Two folders: the shipped one (`models/` of the source tree, `SHIPPED_DIR`, read-only at run time:
its `registry.json` names `layout-v3`), and `GONGKAI_MODELS_DIR` when set (the service's folder of
trained models, `<GONGKAI_DATA_DIR>/models`). With `GONGKAI_MODELS_DIR` set, that folder's
`registry.json` decides the active version, and a version it does not hold, or no `registry.json`
at all, falls back to the shipped folder: a process pointed at the service's models folder uses the
model the service activated; one that is not uses the shipped model.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from extraction.errors import GongkaiError

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "models"
ENV_MODELS_DIR = "GONGKAI_MODELS_DIR"
MODELS_DIR = Path(os.environ.get(ENV_MODELS_DIR) or SHIPPED_DIR)
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
    calibration: str | None = Field(
        default=None, description="The active cell calibrator of every input kind (models/calibration/<version>)"
    )


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


def _layers(models_dir: Path | None, shipped: Path | None) -> tuple[Path, Path | None]:
    """(the models folder, the shipped folder it falls back on or None). No folder given: MODELS_DIR,
    falling back on the shipped one when GONGKAI_MODELS_DIR names another folder."""
    if models_dir is None:
        models_dir, shipped = MODELS_DIR, shipped or SHIPPED_DIR
    models_dir = Path(models_dir)
    if shipped is not None and Path(shipped).resolve() == models_dir.resolve():
        shipped = None
    return models_dir, shipped


def list_versions(models_dir: Path | None = None, shipped: Path | None = None) -> list[str]:
    models_dir, shipped = _layers(models_dir, shipped)
    found = {p.name for d in (models_dir, shipped) if d and d.is_dir() for p in d.iterdir() if (p / MANIFEST).is_file()}
    return sorted(found)


def active_version(models_dir: Path | None = None, shipped: Path | None = None) -> str | None:
    """GONGKAI_MODEL, else the models folder's registry.json, else (a fallback given) the shipped one's."""
    models_dir, shipped = _layers(models_dir, shipped)
    env = os.environ.get(ENV_MODEL)
    return env or _registry(models_dir).active or (_registry(shipped).active if shipped else None)


def activate(version: str, models_dir: Path | None = None, shipped: Path | None = None) -> None:
    """Name `version` active in the models folder's registry.json (the version may be a shipped one)."""
    models_dir, shipped = _layers(models_dir, shipped)
    resolve(version, models_dir, shipped)  # verifies the files byte for byte
    reg = _registry(models_dir)
    reg.active = version
    _write_registry(models_dir, reg)


def active_calibration_in(models_dir: Path) -> str | None:
    """The cell calibrator a models folder's registry.json names active (extraction.calibration)."""
    return _registry(Path(models_dir)).calibration


def activate_calibration(version: str, models_dir: Path) -> None:
    """Name a cell-calibrator version active in the models folder's registry.json."""
    reg = _registry(Path(models_dir))
    reg.calibration = version
    _write_registry(Path(models_dir), reg)


def _write_registry(models_dir: Path, reg: RegistryFile) -> None:
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / f".{REGISTRY}.tmp"
    tmp.write_text(reg.model_dump_json(indent=1) + "\n", encoding="utf-8")
    tmp.replace(models_dir / REGISTRY)  # a reader never sees half a file


def resolve(
    version: str | None = None, models_dir: Path | None = None, shipped: Path | None = None
) -> tuple[Path, Manifest]:
    """The verified folder of `version` (a name under the models folder, else the shipped one, or a
    path), or of the active one."""
    models_dir, shipped = _layers(models_dir, shipped)
    version = version or active_version(models_dir, shipped)
    if not version:
        raise ModelNotFound(f"no model version is active in {models_dir / REGISTRY} and none was given")
    folder = Path(version) if Path(version).is_dir() else models_dir / version
    if not folder.is_dir() and shipped is not None and (shipped / version).is_dir():
        folder = shipped / version
    if not folder.is_dir():
        known = ", ".join(list_versions(models_dir, shipped))
        raise ModelNotFound(f"model version {version!r} not found (known: {known})")
    return folder, verify(folder)


def register(source: Path, version: str, models_dir: Path | None = None, activate_it: bool = False) -> Path:
    """Copy a trained model folder into the registry as `version` and write its manifest."""
    models_dir = Path(models_dir or MODELS_DIR)
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
    "SHIPPED_DIR",
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
