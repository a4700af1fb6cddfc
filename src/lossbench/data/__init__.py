"""Datasets. Each is an `ImageDataModule` subclass that only loads arrays; the protocol
(long-tail subsampling, label noise, validation split, class counts, samplers, loaders) lives in
base.py and the modules it imports.

The classes are imported on first use (PEP 562): importing a light module of this package, such as
catalog.py for `lossbench doctor`, must not import Lightning."""
from __future__ import annotations

import importlib

_MODULE_OF = {"ImageArrays": "base", "ImageDataModule": "base", "Cifar10DataModule": "cifar",
              "Cifar100DataModule": "cifar", "DigitsDataModule": "digits", "Gaussian2dDataModule": "gaussian2d",
              "ImageFolderDataModule": "image_folder", "FashionMnistDataModule": "mnist", "MnistDataModule": "mnist",
              "SyntheticDataModule": "synthetic", "TabularDataModule": "tabular", "SyntheticBinaryDataModule": "synthetic", "Cifar10PairDataModule": "pairs",
              "FashionMnistPairDataModule": "pairs", "DigitsMosaicDataModule": "multilabel",
              "FashionMnistMosaicDataModule": "multilabel", "SyntheticMultiLabelDataModule": "multilabel"}
__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f"lossbench.data.{_MODULE_OF[name]}"), name)
    raise AttributeError(f"module 'lossbench.data' has no attribute {name!r}")
