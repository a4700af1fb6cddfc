"""Datasets. Each is an `ImageDataModule` subclass that only loads arrays; the protocol
(long-tail subsampling, label noise, validation split, class counts, samplers, loaders) lives in
base.py and the modules it imports."""
from lossbench.data.base import ImageArrays, ImageDataModule
from lossbench.data.cifar import Cifar10DataModule, Cifar100DataModule
from lossbench.data.digits import DigitsDataModule
from lossbench.data.gaussian2d import Gaussian2dDataModule
from lossbench.data.image_folder import ImageFolderDataModule
from lossbench.data.mnist import FashionMnistDataModule, MnistDataModule
from lossbench.data.synthetic import SyntheticDataModule

__all__ = ["ImageArrays", "ImageDataModule", "Cifar10DataModule", "Cifar100DataModule", "DigitsDataModule",
           "FashionMnistDataModule", "Gaussian2dDataModule", "ImageFolderDataModule", "MnistDataModule", "SyntheticDataModule"]
