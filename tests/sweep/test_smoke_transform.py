"""--smoke rewrites each job onto tiny synthetic data and keeps what synthetic data supports."""
from __future__ import annotations

from lossbench.sweep.smoke import smoke_overrides

SYNTHETIC_KEYS = {"num_classes", "imbalance_ratio", "label_noise", "val_fraction", "batch_size", "eval_batch_size",
                  "augment", "sampler"}


def test_smoke_keeps_the_method_and_shrinks_data_and_trainer():
    job = ["data=cifar100_lt", "data.imbalance_ratio=100", "data.root=/data", "data.mean=[0.5,0.4,0.4]",
           "data.label_noise.type=asymmetric", "data.label_noise.rate=0.4", "data.batch_size=128",
           "model=resnet32", "model.classifier=cosine", "trainer=cpu", "trainer.max_epochs=200",
           "trainer.gradient_clip_val=5.0", "loss=ldam", "loss.reweight_from_epoch=160", "seed=2"]
    out = smoke_overrides(job, SYNTHETIC_KEYS, num_classes=100)
    assert out[:3] == ["data=synthetic", "data.num_classes=100", "trainer=smoke"]
    assert {"model=resnet32", "model.classifier=cosine", "loss=ldam", "trainer.gradient_clip_val=5.0", "seed=2",
            "data.imbalance_ratio=100", "data.label_noise.rate=0.4"} <= set(out)
    # DRW switches on inside the two smoke epochs; the rarest of 100 classes at rho=100 keeps ceil(2*100)/100 = 2.
    assert "loss.reweight_from_epoch=1" in out and "data.train_per_class=200" in out
    assert "data.label_noise.type=pairflip" in out  # CIFAR's asymmetric map does not exist for synthetic classes
    assert "data.batch_size=32" in out and "data.eval_batch_size=64" in out
    assert not [o for o in out if o.startswith(("data.root", "data.mean", "trainer.max_epochs", "trainer=cpu"))]


def test_smoke_moves_the_influence_balanced_start_epoch_to_one_and_its_milestones_too():
    job = ["data=cifar10_lt", "scheduler.milestones=[100,160,180]", "loss=ib", "loss.start_epoch=100",
           "loss.weighting=class_balanced", "seed=0"]
    out = smoke_overrides(job, SYNTHETIC_KEYS, num_classes=10)
    assert "loss.start_epoch=1" in out and "loss.start_epoch=100" not in out
    assert {"loss=ib", "loss.weighting=class_balanced", "scheduler.milestones=[1,1,1]"} <= set(out)


def test_smoke_moves_lr_milestones_inside_the_two_epochs():
    out = smoke_overrides(["data=cifar10_lt", "scheduler=multistep", "scheduler.milestones=[160,180]",
                           "scheduler.warmup_epochs=5"], SYNTHETIC_KEYS, num_classes=10)
    assert "scheduler.milestones=[1,1]" in out and "scheduler.warmup_epochs=5" in out


def test_smoke_clips_gradients_unless_the_sweep_sets_a_clip():
    assert "trainer.gradient_clip_val=5.0" in smoke_overrides(["data=cifar10", "loss=squentropy"], SYNTHETIC_KEYS, 10)
    out = smoke_overrides(["data=cifar10", "trainer.gradient_clip_val=1.0"], SYNTHETIC_KEYS, 10)
    assert [o for o in out if o.startswith("trainer.gradient_clip_val")] == ["trainer.gradient_clip_val=1.0"]


def test_smoke_narrows_a_model_with_a_width_and_leaves_the_others_alone():
    resnet_keys = frozenset({"_target_", "depth", "width", "classifier", "head_bias_init", "posthoc_weight_norm_tau"})
    out = smoke_overrides(["data=cifar10", "model=resnet50", "model.width=128", "loss=ce"], SYNTHETIC_KEYS, 10,
                          resnet_keys)
    assert "model=resnet50" in out and "model.width=8" in out and "model.width=128" not in out
    cnn = smoke_overrides(["data=cifar10", "model=resnet32", "loss=ce"], SYNTHETIC_KEYS, 10,
                          frozenset({"_target_", "depth", "classifier"}))
    assert not [o for o in cnn if o.startswith("model.width")]


def test_smoke_of_a_binary_task_runs_on_synthetic_binary():
    out = smoke_overrides(["data=breast_cancer", "data.imbalance_ratio=10", "loss=anyloss"], SYNTHETIC_KEYS, 2,
                          task="binary")
    assert "data=synthetic_binary" in out and "data=synthetic" not in out
    assert not [o for o in out if o.startswith("data.num_classes")] and "data.imbalance_ratio=10" in out
