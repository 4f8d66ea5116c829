"""Can a backbone from random init see the phantom's morphology at all? Clean vs noisy labels.

The phantom's malignancy label is drawn from P(malignant | calcification type), so even a model
that reads every ROI's type perfectly meets heavy label noise. This bench trains the same
network twice on the same cached ROIs with a plain PyTorch loop: once on the real label and once
on the noiseless *type-group* label (1 unless the ROI's true type is one of the four benign-looking
ones: coarse, lucent-centred, round and regular, vascular). If the network cannot learn even the
noiseless label in the budget, the shortfall is representation and optimisation, not label noise.

Each epoch prints the training AUC and the test AUC against both labels; the peer in the same run
is the morphology ceiling (the true P(malignant)) on the same test ROIs. Every run is an MLflow
run in the experiment 'learnability'. Augmentation is the lossless dihedral group only.

--aux-weight W adds the training module's auxiliary loss: a linear head on the head's hidden
layer predicts each training ROI's annotated calc type and distribution (data.aux_targets).

Run: python bench/learnability.py --cache DATASET --truth PHANTOM/phantom_truth.csv
     [--target both|real|group] [--arch resnet34] [--epochs 6] [--lr 1e-3] [--batch-size 32]
     [--dropout 0.5] [--weight-decay 0.01] [--optimizer adamw|sgd] [--torchvision-init]
     [--aux-weight 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch.nn.functional import binary_cross_entropy_with_logits
from torchvision.models.resnet import BasicBlock, Bottleneck

from mcal_lightning.data.aux_targets import AUX_CLASSES, aux_loss, aux_target_table
from mcal_lightning.models.backbones import ClassifierNet, build_network
from mcal_lightning.tracking.store import tracking_uri
from preprocessing.cache import open_cache
from preprocessing.phantom.constants import BENIGN_LOOKING_TYPES


def dihedral(batch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """One random element of the square's symmetry group for the whole batch (lossless)."""
    if rng.random() < 0.5:
        batch = batch.flip(-1)
    if rng.random() < 0.5:
        batch = batch.flip(-2)
    return batch.transpose(-1, -2) if rng.random() < 0.5 else batch


def standardised(images: np.ndarray, train: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.array(images, dtype=np.float32))[:, None]
    return (x - x[train].mean()) / x[train].std()


def predict(net: torch.nn.Module, x: torch.Tensor, rows: np.ndarray) -> np.ndarray:
    net.eval()
    with torch.no_grad():
        probs = [torch.sigmoid(net(x[rows[i:i + 256]])) for i in range(0, len(rows), 256)]
    net.train()
    return torch.cat(probs).numpy()


def with_aux(net: ClassifierNet, aux: torch.nn.Linear | None,
             x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Malignancy logits and, with an auxiliary head, its logits on the head's hidden layer."""
    if aux is None:
        return net(x), None
    hidden = net.hidden(x)
    return net.head[-1](hidden).squeeze(-1), aux(hidden)


def torchvision_default_init(net: torch.nn.Module) -> None:
    """Undo the zero-initialised residual blocks (build_network's random init): every block's
    last batch norm scale at 1, as torchvision initialises it."""
    for block in net.modules():
        if isinstance(block, BasicBlock):
            torch.nn.init.ones_(block.bn2.weight)
        elif isinstance(block, Bottleneck):
            torch.nn.init.ones_(block.bn3.weight)


def make_optimiser(params: list[torch.nn.Parameter],
                   args: argparse.Namespace) -> torch.optim.Optimizer:
    if args.optimizer == "sgd":
        return torch.optim.SGD(params, lr=args.lr, momentum=0.9, nesterov=True,
                               weight_decay=args.weight_decay)
    return torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)


def train_one(x: torch.Tensor, y: np.ndarray, y_real: np.ndarray, train: np.ndarray,
              args: argparse.Namespace, target: str, aux_targets: torch.Tensor) -> float:
    """Train on y, print per-epoch AUCs, log them to MLflow; returns the last test AUC (real)."""
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    net = build_network(args.arch, weights="none", dropout=args.dropout)
    if args.torchvision_init:
        torchvision_default_init(net)
    aux = torch.nn.Linear(net.head[-1].in_features, sum(AUX_CLASSES)) if args.aux_weight else None
    optimiser = make_optimiser([*net.parameters(), *(aux.parameters() if aux else [])], args)
    rows, test = np.flatnonzero(train), np.flatnonzero(~train)
    steps_per_epoch = len(rows) // args.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, args.lr, pct_start=0.25,
                                                   total_steps=args.epochs * steps_per_epoch)
    pos_weight = torch.tensor((1 - y[rows]).sum() / max(y[rows].sum(), 1.0))
    real_auc = float("nan")
    with mlflow.start_run(run_name=f"{args.arch}-{target}"):
        mlflow.log_params({**vars(args), "target": target, "train_rois": len(rows)})
        for epoch in range(args.epochs):
            started, seen, labels = time.perf_counter(), [], []
            order = rng.permutation(rows)
            for step in range(steps_per_epoch):
                batch = order[step * args.batch_size:(step + 1) * args.batch_size]
                logits, aux_logits = with_aux(net, aux, dihedral(x[batch], rng))
                loss = binary_cross_entropy_with_logits(logits, torch.from_numpy(y[batch]),
                                                        pos_weight=pos_weight)
                if aux_logits is not None:
                    loss = loss + args.aux_weight * aux_loss(aux_logits, aux_targets[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                seen.append(torch.sigmoid(logits.detach()).numpy())
                labels.append(y[batch])
            probs = predict(net, x, test)
            train_auc = roc_auc_score(np.concatenate(labels), np.concatenate(seen))
            target_auc, real_auc = roc_auc_score(y[test], probs), roc_auc_score(y_real[test], probs)
            mlflow.log_metrics({"train/auroc": train_auc, "test/auroc_target": target_auc,
                                "test/auroc": real_auc}, step=epoch)
            print(f"{target:<6}{epoch:>6}{time.perf_counter() - started:>8.0f}{train_auc:>11.3f}"
                  f"{target_auc:>18.3f}{real_auc:>16.3f}", flush=True)
    return real_auc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, required=True, help="a cache dataset folder")
    parser.add_argument("--truth", type=Path, required=True, help="the phantom's truth CSV")
    parser.add_argument("--target", choices=("both", "real", "group"), default="both")
    parser.add_argument("--arch", default="resnet34")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--aux-weight", type=float, default=0.0,
                        help="weight of the auxiliary calc type + distribution loss (0 = off)")
    parser.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw",
                        help="sgd: Nesterov momentum 0.9")
    parser.add_argument("--torchvision-init", action="store_true",
                        help="ResNet blocks as torchvision initialises them, not as the identity")
    args = parser.parse_args()
    cached = open_cache(args.cache)
    table = cached.table
    truth = pd.read_csv(args.truth, dtype={"roi_id": str}).set_index("roi_id").loc[table.roi_id]
    train = (table["split"] == "train").to_numpy()
    y_real = table["label"].to_numpy(np.float32)
    y_group = (~truth["calc_type"].isin(BENIGN_LOOKING_TYPES)).to_numpy(np.float32)
    x = standardised(cached.images, train)
    aux_targets = torch.from_numpy(aux_target_table(table))[table["row"].to_numpy()]
    ceiling = roc_auc_score(y_real[~train], truth["p_malignant"].to_numpy()[~train])
    group_auc = roc_auc_score(y_real[~train], y_group[~train])
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment("learnability")
    print(f"{args.arch} from random init, {train.sum()} train / {(~train).sum()} test ROIs; "
          f"test Bayes ceiling {ceiling:.3f}; the type-group label itself scores {group_auc:.3f}")
    print(f"{'target':<6}{'epoch':>6}{'sec':>8}{'train AUC':>11}{'test AUC (target)':>18}"
          f"{'test AUC (real)':>16}")
    targets = ("real", "group") if args.target == "both" else (args.target,)
    for target in targets:
        y = y_group if target == "group" else y_real
        last = train_one(x, y, y_real, train, args, target, aux_targets)
        print(f"{target}: last test AUC (real label) {last:.3f} = {last / ceiling:.2f} of the "
              "ceiling")


if __name__ == "__main__":
    main()
