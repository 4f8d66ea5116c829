# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: demo test ui dashboard bench clean-demo

$(BIN)/mcal: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/mcal --version
	touch $@

# The main job: phantom -> preprocess (index + cache) -> leakage audit of the splits -> quickstart sweep, whose end moves the
# registry's champion alias -> predict held-out files with the champion -> how to browse it all.
# The study is named after the cache's data fingerprint: running the demo again resumes it.
demo: $(BIN)/mcal
	$(BIN)/mcal phantom --out $(DEMO)/data --patients 120 --scale 0.25 --seed 7 --corrupt 5
	$(BIN)/mcal preprocess --data $(DEMO)/data --cache $(DEMO)/cache --size 64
	$(BIN)/mcal audit --cache $(DEMO)/cache --out $(DEMO)/audit
	$(BIN)/mcal sweep sweeps/quickstart.yaml --cache $(DEMO)/cache \
		--study quickstart-$$(basename $$(cat $(DEMO)/cache/LATEST))
	$(BIN)/mcal predict --model models:/mcal-calc@champion --out $(DEMO)/predictions.csv \
		$$(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) col[$$i] = i; next} \
		$$col["split"] == "test" && n++ < 6 {print "$(DEMO)/data/" $$col["crop_path"]}' \
		$(DEMO)/cache/$$(cat $(DEMO)/cache/LATEST)/index.csv)
	@echo "Browse the runs, the sweep and the registry: make ui  (MLflow UI on http://127.0.0.1:5000)"
	@echo "Watch or replay the study: make dashboard  (optuna-dashboard on http://127.0.0.1:8080)"
	@echo "Reprint the leaderboard: $(BIN)/mcal leaderboard"

# The MLflow UI on the local store (./mlruns), and optuna-dashboard on the sweeps' studies.
ui: $(BIN)/mcal
	$(BIN)/mcal ui

dashboard: $(BIN)/mcal
	$(BIN)/mcal dashboard

test: $(BIN)/mcal
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(BIN)/mcal
	$(BIN)/python bench/p1_adaptive_median.py
	$(BIN)/python bench/p2_preprocess_throughput.py
	$(BIN)/python bench/p3_loader.py
	$(BIN)/python bench/p4_gpu_throughput.py
	$(BIN)/python bench/p5_sweep_efficiency.py

clean-demo:
	rm -rf $(DEMO)
