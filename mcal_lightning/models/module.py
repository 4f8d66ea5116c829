"""The LightningModule: normalisation on the device, BCE on one logit, metrics, kept outputs.

The network is injected (a ``ClassifierNet`` from ``build_network``) and the module stays thin:
the optimizer and schedule follow ``finetuning`` and the two-stage freezing comes with the module
as its ``TwoStageFinetuning`` callback (``configure_callbacks``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection

from mcal_lightning.data.aux_targets import AUX_CLASSES, aux_loss
from mcal_lightning.evaluation.metrics import binary_metrics
from mcal_lightning.models.backbones import ClassifierNet, build_network
from mcal_lightning.models.concept import ConceptLayer
from mcal_lightning.models.finetuning import (
    TwoStageFinetuning,
    network_param_groups,
    one_cycle,
    optimizer_steps_per_epoch,
    planned_epochs,
    trainable_param_groups,
)
from mcal_lightning.models.tta import check_mode, tta_probabilities

# one gray value for the ImageNet statistics, as timm does for 1-channel models
IMAGENET_GRAY_MEAN = (0.485 + 0.456 + 0.406) / 3
IMAGENET_GRAY_STD = (0.229 + 0.224 + 0.225) / 3
KEPT_STAGES = ("val", "test")

Batch = Mapping[str, Tensor] | Sequence[Tensor] | Tensor


def trainer_precision() -> str:
    """The Trainer's precision: bf16 mixed where the GPU supports it, else full float32."""
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def unpack_batch(batch: Batch) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """(images, labels, sample indices), None where the batch has none.

    Accepts a dict with keys "image", "label" and optionally "index", a tuple
    (images, labels[, indices]), or a bare image tensor (prediction).
    """
    if isinstance(batch, Tensor):
        return batch, None, None
    if isinstance(batch, Mapping):
        return batch["image"], batch.get("label"), batch.get("index")
    images, *rest = batch
    labels = rest[0] if rest else None
    indices = rest[1] if len(rest) > 1 else None
    return images, labels, indices


def to_unit_float(images: Tensor) -> Tensor:
    """(B, 1, H, W) float32 in [0, 1]: integer dtypes scaled by their maximum, floats as given."""
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.dtype.is_floating_point:
        return images.float()
    return images.float() / torch.iinfo(images.dtype).max


class CalcClassifier(pl.LightningModule):
    """Benign (0) vs malignant (1) microcalcification ROIs from an injected ClassifierNet.

    net: the network, or its ``config`` dict, from which ``load_from_checkpoint`` rebuilds it
    with random weights before loading the checkpoint's. pos_weight: BCE weight of the malignant
    class (e.g. n_benign / n_malignant). mean/std: normalisation of the [0, 1] gray images.
    The fine-tuning arguments are TwoStageFinetuning's.

    aux_weight > 0 adds a linear head on the head's hidden layer that predicts each training
    ROI's calc type and distribution (``data.aux_targets``; aux_targets: their (n_rows, 2) table
    by cache row). Its cross-entropy, times aux_weight, joins the training loss; the network and
    its predictions are unchanged, and a checkpoint needs no aux_targets to load. A net with a
    concept head (``models.concept``) trains on that cross-entropy alone: its malignancy logit
    is read from the predicted type, so the BCE is only reported.

    tta ("none", "flips", "dihedral"): validate and test score each ROI by its probability
    averaged over its flipped or rotated copies (``models.tta``); training and the per-epoch
    validation inside a fit are unchanged.

    Per-sample outputs of the last val/test epoch stay in ``last_outputs[stage]``
    ("probs", "logits", "labels", "losses", "indices"; CPU tensors) and the metric values in
    ``last_metrics[stage]`` (floats, plus "confmat" [[TN, FP], [FN, TP]]).
    """

    def __init__(self, net: ClassifierNet | Mapping[str, Any], lr_max: float = 1e-3,
                 lr_min: float = 2e-6, weight_decay: float = 0.01, freeze_epochs: int = 1,
                 pct_start: float = 0.25, train_bn: bool = False, pos_weight: float | None = None,
                 mean: float = IMAGENET_GRAY_MEAN, std: float = IMAGENET_GRAY_STD,
                 aux_weight: float = 0.0, aux_targets: Tensor | None = None,
                 tta: str = "none") -> None:
        super().__init__()
        check_mode(tta)
        if isinstance(net, Mapping):
            net = build_network(**net)
        self.save_hyperparameters(ignore=["net", "aux_targets"])
        # the net's config joins the hyperparameters so that checkpoints can rebuild it
        self.save_hyperparameters({"net": dict(getattr(net, "config", {}))})
        self.net = net
        self.register_buffer("pos_weight", None if pos_weight is None else torch.tensor(pos_weight))
        self.aux_head = None
        if aux_weight:
            self.aux_head = nn.Linear(net.head[-1].in_features, sum(AUX_CLASSES))
        self.register_buffer("aux_targets", aux_targets, persistent=False)
        self.train_aux_loss = MeanMetric()
        self.train_metrics = binary_metrics("train/")
        self.val_metrics = binary_metrics("val/")
        self.test_metrics = binary_metrics("test/")
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        self.channels_last = False
        self.finetuning: TwoStageFinetuning | None = None
        self.last_outputs: dict[str, dict[str, Tensor]] = {}
        self.last_metrics: dict[str, dict[str, Any]] = {}
        self.batch_outputs: dict[str, list[dict[str, Tensor]]] = {s: [] for s in KEPT_STAGES}

    def normalise(self, images: Tensor) -> Tensor:
        """Loader images (compact integers or [0, 1] floats) -> the network's float input."""
        images = (to_unit_float(images) - self.hparams.mean) / self.hparams.std
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def forward(self, images: Tensor) -> Tensor:
        """Loader images -> (B,) malignancy logits."""
        return self.net(self.normalise(images))

    @property
    def concept_layer(self) -> ConceptLayer | None:
        last = self.net.head[-1]
        return last if isinstance(last, ConceptLayer) else None

    def forward_with_aux(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(B,) malignancy logits and (B, types + distributions) auxiliary logits."""
        hidden = self.net.hidden(self.normalise(images))
        concept = self.concept_layer
        if concept is not None:
            logits = concept.concepts(hidden)
            return concept.malignancy(logits).squeeze(-1), logits
        return self.net.head[-1](hidden).squeeze(-1), self.aux_head(hidden)

    def evaluation_logits(self, images: Tensor) -> Tensor:
        """(B,) logits, of the probability averaged over the tta views when tta is on.

        The per-epoch validation of a fit scores each ROI once: it only monitors (pruning,
        checkpoint choice), and tta would multiply its cost by the number of views.
        """
        fitting = self._trainer is not None and self.trainer.state.fn == TrainerFn.FITTING
        if self.hparams.tta == "none" or fitting:
            return self(images)
        return torch.logit(tta_probabilities(self, images, self.hparams.tta).double()).float()

    def per_sample_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none",
                                                  pos_weight=self.pos_weight)

    def metrics(self, stage: str) -> MetricCollection:
        return getattr(self, f"{stage}_metrics")

    def mean_loss(self, stage: str) -> MeanMetric:
        return getattr(self, f"{stage}_loss")

    def shared_step(self, batch: Batch, stage: str) -> Tensor:
        images, labels, indices = unpack_batch(batch)
        if labels is None:
            raise ValueError(f"{stage} batches need labels")
        labels = labels.float().view(-1)
        with_aux = stage == "train" and (self.concept_layer is not None or (
            self.aux_head is not None and self.aux_targets is not None))
        if with_aux and (indices is None or self.aux_targets is None):
            raise ValueError("training on calc type and distribution needs their targets "
                             "(aux_targets) and each batch's cache rows to find them")
        aux_logits = None
        if with_aux:
            logits, aux_logits = self.forward_with_aux(images)
        elif stage == "train":
            logits = self(images)
        else:
            logits = self.evaluation_logits(images)
        losses = self.per_sample_loss(logits, labels)
        loss = losses.mean()
        if aux_logits is not None:
            extra = aux_loss(aux_logits, self.aux_targets[indices.to(self.aux_targets.device)])
            self.train_aux_loss.update(extra.detach())
            loss = extra if self.concept_layer is not None else (
                loss + self.hparams.aux_weight * extra)
        probs = torch.sigmoid(logits.detach().float())
        self.metrics(stage).update(probs, labels.long())
        self.mean_loss(stage).update(losses.detach())
        if stage in KEPT_STAGES:
            self.keep_batch(stage, logits.detach().float(), labels, losses.detach(), indices)
        return loss

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self.shared_step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.shared_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self.shared_step(batch, "test")

    def predict_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """(B,) malignancy probabilities."""
        images, _, _ = unpack_batch(batch)
        return torch.sigmoid(self(images).float())

    def keep_batch(self, stage: str, logits: Tensor, labels: Tensor, losses: Tensor,
                   indices: Tensor | None) -> None:
        if indices is None:  # position in the (unshuffled) evaluation loader instead
            start = sum(len(kept["labels"]) for kept in self.batch_outputs[stage])
            indices = torch.arange(start, start + len(labels))
        # logits as well: probabilities saturate in float32, and calibration rescales logits
        kept = {"probs": torch.sigmoid(logits), "logits": logits, "labels": labels,
                "losses": losses.float(), "indices": indices}
        self.batch_outputs[stage].append({k: v.detach().cpu() for k, v in kept.items()})

    def publish_epoch(self, stage: str) -> None:
        """Log the epoch's metrics and, for val/test, gather its per-sample outputs.

        Every cross-process reduction happens here, in the same order on every rank under DDP
        (torchmetrics syncs on compute); what is logged is already reduced. Lightning's own
        sync_dist would reduce lazily, and its progress bar, present on rank 0 alone, would start
        that reduction out of step with the other ranks: a deadlock.
        """
        metrics, mean_loss = self.metrics(stage), self.mean_loss(stage)
        if any(metric.update_called for metric in metrics.values()):
            values = metrics.compute()
            loss = mean_loss.compute()
            confmat = values.pop(f"{stage}/confmat")
            tn, fp, fn, tp = confmat.flatten().float()
            counts = {f"{stage}/tn": tn, f"{stage}/fp": fp, f"{stage}/fn": fn, f"{stage}/tp": tp}
            self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=False)
            self.log_dict({**values, **counts}, sync_dist=False)
            scalars = {name.split("/", 1)[1]: value.item() for name, value in values.items()}
            self.last_metrics[stage] = {**scalars, "confmat": confmat.cpu()}
        metrics.reset()
        mean_loss.reset()
        batches = self.batch_outputs.get(stage)
        if batches:
            self.last_outputs[stage] = {key: torch.cat([kept[key] for kept in batches])
                                        for key in batches[0]}
            batches.clear()

    def on_train_epoch_end(self) -> None:
        self.publish_epoch("train")
        if self.train_aux_loss.update_called:
            self.log("train/aux_loss", self.train_aux_loss.compute(), sync_dist=False)
            self.train_aux_loss.reset()

    def on_validation_epoch_start(self) -> None:
        self.batch_outputs["val"].clear()

    def on_validation_epoch_end(self) -> None:
        self.publish_epoch("val")

    def on_test_epoch_start(self) -> None:
        self.batch_outputs["test"].clear()

    def on_test_epoch_end(self) -> None:
        self.publish_epoch("test")

    def use_channels_last_on_cuda(self) -> None:
        """channels_last convolutions are faster on CUDA tensor cores (bf16 in particular)."""
        if self.device.type == "cuda" and not self.channels_last:
            self.net.to(memory_format=torch.channels_last)
            self.channels_last = True

    def on_fit_start(self) -> None:
        self.use_channels_last_on_cuda()

    def on_test_start(self) -> None:
        self.use_channels_last_on_cuda()

    def on_predict_start(self) -> None:
        self.use_channels_last_on_cuda()

    def configure_callbacks(self) -> list[Callback]:
        # validate/test after fit run on the trainer that already holds this module's callback:
        # handing it over again would only make Lightning announce that it replaced itself
        if self.finetuning is not None and self.finetuning in self.trainer.callbacks:
            return []
        hp = self.hparams
        self.finetuning = TwoStageFinetuning(hp.freeze_epochs, hp.lr_min, hp.lr_max,
                                             hp.pct_start, hp.train_bn)
        return [self.finetuning]

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        """AdamW (fastai's Adam: decoupled weight decay, betas 0.9/0.99, eps 1e-5), one-cycle.

        The first cycle spans stage 1 (freeze_epochs) or, with freeze_epochs=0, the whole run;
        TwoStageFinetuning starts the second when it unfreezes the backbone.
        """
        hp = self.hparams
        groups = network_param_groups(self.net, hp.lr_min, hp.lr_max)
        if self.aux_head is not None:  # trains with the head, at its rate, from the start
            groups += trainable_param_groups(self.aux_head, hp.lr_max)
        optimizer = torch.optim.AdamW(groups, lr=hp.lr_max, betas=(0.9, 0.99), eps=1e-5,
                                      weight_decay=hp.weight_decay)
        epochs = planned_epochs(self.trainer)
        stage_epochs = min(hp.freeze_epochs, epochs) if hp.freeze_epochs > 0 else epochs
        steps = stage_epochs * optimizer_steps_per_epoch(self.trainer)
        scheduler = one_cycle(optimizer, steps, hp.pct_start)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler,
                                                         "interval": "step"}}
