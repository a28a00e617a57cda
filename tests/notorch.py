"""The prelude of a subprocess that must run as if torch were not installed (``pip install
fieldguide`` without the ``train`` extra): a meta-path finder refuses torch, timm and
torchvision as a missing package would. ``sys.modules[name] = None`` is not the same: libraries
that probe ``sys.modules`` for an already-imported torch then find ``None`` and break in ways a
real install never does."""

NO_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "timm", "torchvision"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoTorch())
"""
