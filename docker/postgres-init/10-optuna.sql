-- Runs once, when the postgres volume is first initialised. POSTGRES_DB (mlflow) is the MLflow
-- backend; the Optuna study storage gets a database of its own, because both keep their schema
-- version in a table named alembic_version.
CREATE DATABASE optuna;
