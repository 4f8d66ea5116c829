# The two commands of the README: `make demo` and `make test` (`make test-fast` for the edit loop).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: demo test test-fast ui dashboard bench clean-demo

$(BIN)/mcal: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/mcal --version
	touch $@

# The main job: phantom -> preprocess (index + cache) -> leakage audit of the splits -> quickstart sweep, whose end moves the
# registry's champion alias -> predict held-out files (3 benign, 3 malignant) with the champion -> its
# test AUC with a 95% CI on every held-out ROI against the phantom's Bayes ceiling -> how to browse
# -> who holds the champion alias and why (the promotion rule's decision, in words).
# The study is named after the cache's data fingerprint: running the demo again resumes it.
# The phantom is drawn at 0.1 mm pixels (scale 0.5) and cached at that spacing, 48 px, with a
# top-hat: the resolution at which a CNN from random init learns the calcifications' morphology on
# 2 CPU cores (README, "Accuracy on the phantom"); training reads crops only, so no full images.
demo: $(BIN)/mcal
	$(BIN)/mcal phantom --out $(DEMO)/data --patients 600 --scale 0.5 --seed 7 --corrupt 6 \
		--full-images none
	$(BIN)/mcal preprocess --data $(DEMO)/data --cache $(DEMO)/cache --size 48 --spacing-mm 0.1 \
		--enhance tophat --tophat-mm 1
	$(BIN)/mcal audit --cache $(DEMO)/cache --out $(DEMO)/audit
	$(BIN)/mcal sweep sweeps/quickstart.yaml --cache $(DEMO)/cache \
		--study quickstart-$$(basename $$(cat $(DEMO)/cache/LATEST))
	@for label in 0 1; do awk -F, -v want=$$label 'NR == 1 {for (i = 1; i <= NF; i++) col[$$i] = i; next} \
		$$col["split"] == "test" && $$col["label"] == want && n++ < 3 {print "$(DEMO)/data/" $$col["crop_path"]}' \
		$(DEMO)/cache/$$(cat $(DEMO)/cache/LATEST)/index.csv; done > $(DEMO)/held_out.txt
	$(BIN)/mcal predict --model models:/mcal-calc@champion --tta dihedral --out $(DEMO)/predictions.csv \
		$$(cat $(DEMO)/held_out.txt)
	@echo "Above: three held-out benign ROIs, then three malignant ones (the true labels; 'label' is the champion's call)"
	@# every held-out test ROI, with the phantom's true P(malignant) as the reference: the Bayes ceiling
	@awk -F, 'NR == FNR {if (FNR == 1) for (i = 1; i <= NF; i++) t[$$i] = i; \
		else p[$$t["roi_id"]] = $$t["p_malignant"]; next} \
		FNR == 1 {for (i = 1; i <= NF; i++) col[$$i] = i; print "file,label,patient_id,reference"; next} \
		$$col["split"] == "test" {print "$(DEMO)/data/" $$col["crop_path"] "," $$col["label"] "," \
		$$col["patient_id"] "," p[$$col["roi_id"]]}' $(DEMO)/data/phantom_truth.csv \
		$(DEMO)/cache/$$(cat $(DEMO)/cache/LATEST)/index.csv > $(DEMO)/test_labels.csv
	$(BIN)/mcal predict --model models:/mcal-calc@champion --tta dihedral \
		--out $(DEMO)/test_predictions.csv --evaluate --labels $(DEMO)/test_labels.csv $$(tail -n +2 $(DEMO)/test_labels.csv | cut -d, -f1) \
		> $(DEMO)/test_predictions.log
	@sed -n '/metrics on/,$$p' $(DEMO)/test_predictions.log
	@echo "Above: the champion on every held-out test ROI; the reference score is the phantom's true P(malignant), its AUC the Bayes ceiling"
	@echo "Browse the runs, the sweep and the registry: make ui  (MLflow UI on http://127.0.0.1:5000)"
	@echo "Watch or replay the study: make dashboard  (optuna-dashboard on http://127.0.0.1:8080)"
	@echo "Reprint the leaderboard: $(BIN)/mcal leaderboard"
	@$(BIN)/mcal champion

# The MLflow UI on the local store (./mlruns), and optuna-dashboard on the sweeps' studies.
ui: $(BIN)/mcal
	$(BIN)/mcal ui

dashboard: $(BIN)/mcal
	$(BIN)/mcal dashboard

test: $(BIN)/mcal
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# The edit loop: lint and every test but the slow ones (real training, sweeps, servers, browser,
# loader worker processes, a VGG16 checkpoint).
test-fast: $(BIN)/mcal
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not slow"

bench: $(BIN)/mcal
	$(BIN)/python bench/p1_adaptive_median.py
	$(BIN)/python bench/p2_preprocess_throughput.py
	$(BIN)/python bench/p3_loader.py
	$(BIN)/python bench/p4_gpu_throughput.py
	$(BIN)/python bench/p5_sweep_efficiency.py
	$(BIN)/python bench/predict_stream.py

clean-demo:
	rm -rf $(DEMO)
