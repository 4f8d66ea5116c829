"""Training on the preprocessing cache: DataModule, LightningModule, sweeps, MLflow."""
