"""The model registry: manifests, sha256 checks at load, activation, and the shipped model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extraction import registry

ROOT = Path(__file__).resolve().parents[2]
# The shipped base model's fingerprint (sha256 over its files' sha256, see extraction/registry.py).
# Retraining the shipped model changes it: update it together with models/.
SHIPPED_VERSION = "layout-v3"
SHIPPED_SHA256 = "32f6471e68b8d984e0b7dc494bd95091ff003b2a6db37cf6ad38baf5ed255e8d"


def _folder(tmp_path: Path, name: str = "v-test") -> Path:
    f = tmp_path / "src" / name
    f.mkdir(parents=True)
    (f / "config.json").write_text('{"a": 1}\n')
    (f / "model.safetensors").write_bytes(bytes(range(256)) * 4)
    return f


def test_manifest_round_trip_and_flipped_byte(tmp_path):
    src = _folder(tmp_path)
    models = tmp_path / "models"
    dest = registry.register(src, "v-test", models, activate_it=True)
    assert registry.active_version(models) == "v-test"
    folder, manifest = registry.resolve(None, models)
    assert folder == dest and set(manifest.files) == {"config.json", "model.safetensors"}
    weights = dest / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(registry.ModelIntegrityError, match=r"model\.safetensors"):
        registry.resolve("v-test", models)


def test_missing_file_and_tampered_manifest(tmp_path):
    models = tmp_path / "models"
    dest = registry.register(_folder(tmp_path), "v1", models)
    (dest / "config.json").unlink()
    with pytest.raises(registry.ModelIntegrityError, match="missing"):
        registry.verify(dest)
    dest2 = registry.register(_folder(tmp_path, "b"), "v2", models)
    m = json.loads((dest2 / "manifest.json").read_text())
    m["files"]["config.json"] = "0" * 64
    (dest2 / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(registry.ModelIntegrityError):
        registry.verify(dest2)


def test_versions_activation_and_env_override(tmp_path, monkeypatch):
    models = tmp_path / "models"
    registry.register(_folder(tmp_path, "a"), "v1", models)
    registry.register(_folder(tmp_path, "b"), "v2", models)
    assert registry.list_versions(models) == ["v1", "v2"]
    with pytest.raises(registry.ModelNotFound):
        registry.resolve(None, models)
    registry.activate("v2", models)
    assert registry.resolve(None, models)[1].version == "v2"
    monkeypatch.setenv(registry.ENV_MODEL, "v1")
    assert registry.resolve(None, models)[1].version == "v1"
    with pytest.raises(FileExistsError):
        registry.register(_folder(tmp_path, "c"), "v1", models)
    with pytest.raises(registry.ModelNotFound):
        registry.resolve("nope", models)


def test_shipped_model_sha256():
    """The model shipped in models/ matches its manifest, and the manifest is the pinned one."""
    folder = ROOT / "models" / SHIPPED_VERSION
    manifest = registry.verify(folder)
    assert manifest.sha256 == SHIPPED_SHA256
    reg = json.loads((ROOT / "models" / "registry.json").read_text())
    assert reg["active"] == SHIPPED_VERSION
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size <= 30 * 1024 * 1024


def test_activating_a_calibrator_keeps_the_active_model(tmp_path):
    from extraction import registry

    (tmp_path / "registry.json").write_text('{"active": "layout-v3"}\n', encoding="utf-8")
    registry.activate_calibration("calibration-v9", tmp_path)
    assert registry.active_calibration_in(tmp_path) == "calibration-v9"
    assert registry.active_version(tmp_path) == "layout-v3"
