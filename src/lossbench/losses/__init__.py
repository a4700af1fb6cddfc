"""The loss library: `build_loss(name, num_classes=..., class_counts=..., **params)`.

Importing this package registers every loss (one module per loss or family); `list_losses()` then
names them all. See docs/LOSSES.md for the formulas, papers and defaults.
"""
from lossbench.losses.base import ClassificationLoss
from lossbench.losses.registry import build_loss, get_loss_class, list_losses, register_loss

# Registration happens on import: keep one import per loss module here.
from lossbench.losses import (  # noqa: E402,F401  isort: skip
    alf, anl, anyloss, asl, bi_tempered, binary, brier, ce, class_balanced, comp_sum, dual_focal, elr, encouraging,
    ensloss, eql, flsd, focal, ib, js, lade, label_aware_smoothing, ldam, ldr, legendretron, logit_adjust, mbls, mdca,
    mmce, multilabel, pairwise_margin, poly, seesaw, spherical_z, square, squentropy, symmetric, taylor, vs)

from lossbench.losses.alf import AELLoss, AGCELoss, AULLoss, NCEandAELLoss, NCEandAGCELoss, NCEandAULLoss  # noqa: E402
from lossbench.losses.anl import ANLCELoss  # noqa: E402
from lossbench.losses.anyloss import AnyLoss  # noqa: E402
from lossbench.losses.asl import AsymmetricSingleLabelLoss  # noqa: E402
from lossbench.losses.bi_tempered import BiTemperedLoss  # noqa: E402
from lossbench.losses.binary import (BCELoss, BinaryFocalLoss, BinaryLoss, BinaryMSELoss, ExponentialLoss,  # noqa: E402
                                     HingeLoss, SigmoidRampLoss, SquaredHingeLoss)
from lossbench.losses.brier import BrierLoss  # noqa: E402
from lossbench.losses.ce import CrossEntropyLoss  # noqa: E402
from lossbench.losses.class_balanced import ClassBalancedFocalLoss, ClassBalancedSigmoidLoss  # noqa: E402
from lossbench.losses.comp_sum import CompSumLoss, GeneralizedCrossEntropyLoss  # noqa: E402
from lossbench.losses.dual_focal import DualFocalLoss  # noqa: E402
from lossbench.losses.elr import ELRLoss  # noqa: E402
from lossbench.losses.encouraging import EncouragingLoss  # noqa: E402
from lossbench.losses.ensloss import EnsLoss  # noqa: E402
from lossbench.losses.eql import EqualizationLoss  # noqa: E402
from lossbench.losses.flsd import FLSDLoss  # noqa: E402
from lossbench.losses.focal import FocalLoss  # noqa: E402
from lossbench.losses.ib import IBFocalLoss, IBLoss  # noqa: E402
from lossbench.losses.js import JensenShannonLoss  # noqa: E402
from lossbench.losses.lade import LADELoss  # noqa: E402
from lossbench.losses.label_aware_smoothing import LabelAwareSmoothingLoss  # noqa: E402
from lossbench.losses.ldam import LDAMLoss  # noqa: E402
from lossbench.losses.ldr import LDRKLLoss  # noqa: E402
from lossbench.losses.legendretron import LegendreTronLoss  # noqa: E402
from lossbench.losses.logit_adjust import BalancedSoftmaxLoss, LogitAdjustedLoss  # noqa: E402
from lossbench.losses.mbls import MbLSLoss  # noqa: E402
from lossbench.losses.mdca import MDCALoss  # noqa: E402
from lossbench.losses.mmce import MMCELoss  # noqa: E402
from lossbench.losses.multilabel import (AsymmetricMultiLabelLoss, BCEMultiLabelLoss, DiceLoss,  # noqa: E402
                                         DistributionBalancedLoss, FocalMultiLabelLoss, GumbelBCELoss,
                                         MultiLabelLoss)
from lossbench.losses.pairwise_margin import PairwiseMarginLoss  # noqa: E402
from lossbench.losses.poly import Poly1CrossEntropyLoss, Poly1FocalLoss  # noqa: E402
from lossbench.losses.seesaw import SeesawLoss  # noqa: E402
from lossbench.losses.spherical_z import SphericalZLoss  # noqa: E402
from lossbench.losses.square import SquareLoss  # noqa: E402
from lossbench.losses.squentropy import SquentropyLoss  # noqa: E402
from lossbench.losses.symmetric import MAELoss, NCEandRCELoss, NormalizedCrossEntropyLoss, SymmetricCrossEntropyLoss  # noqa: E402,E501
from lossbench.losses.taylor import TaylorCrossEntropyLoss  # noqa: E402
from lossbench.losses.vs import VSLoss  # noqa: E402

__all__ = ["ClassificationLoss", "build_loss", "get_loss_class", "list_losses", "register_loss",
           "AELLoss", "AGCELoss", "ANLCELoss", "AULLoss", "AnyLoss", "AsymmetricMultiLabelLoss", "BCEMultiLabelLoss",
           "DiceLoss", "DistributionBalancedLoss", "FocalMultiLabelLoss", "GumbelBCELoss", "MultiLabelLoss", "AsymmetricSingleLabelLoss", "BCELoss",
           "BalancedSoftmaxLoss", "BiTemperedLoss", "BinaryFocalLoss", "BinaryLoss", "BinaryMSELoss", "BrierLoss", "ClassBalancedFocalLoss", "ClassBalancedSigmoidLoss", "CompSumLoss",
           "CrossEntropyLoss", "DualFocalLoss", "ELRLoss", "EncouragingLoss", "EnsLoss", "EqualizationLoss", "ExponentialLoss", "FLSDLoss",
           "FocalLoss", "GeneralizedCrossEntropyLoss", "HingeLoss", "IBFocalLoss", "IBLoss", "JensenShannonLoss", "LADELoss",
           "LDAMLoss", "LDRKLLoss", "LabelAwareSmoothingLoss", "LegendreTronLoss", "LogitAdjustedLoss", "MAELoss", "MDCALoss",
           "MMCELoss", "MbLSLoss", "NCEandAELLoss", "NCEandAGCELoss", "NCEandAULLoss", "NCEandRCELoss",
           "NormalizedCrossEntropyLoss", "PairwiseMarginLoss", "Poly1CrossEntropyLoss", "Poly1FocalLoss", "SeesawLoss", "SigmoidRampLoss", "SphericalZLoss",
           "SquareLoss", "SquaredHingeLoss", "SquentropyLoss", "SymmetricCrossEntropyLoss", "TaylorCrossEntropyLoss", "VSLoss"]
