# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: demo test lint bench clean-demo

$(BIN)/mcal: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/mcal --version
	touch $@

demo: $(BIN)/mcal
	$(BIN)/mcal phantom --out $(DEMO)/data --patients 120 --scale 0.25 --seed 7 --corrupt 5
	$(BIN)/mcal index --data $(DEMO)/data
	$(BIN)/mcal filters --data $(DEMO)/data --cache $(DEMO)/cache --sample 48
	$(BIN)/mcal preprocess --data $(DEMO)/data --cache $(DEMO)/cache --size 64

test: $(BIN)/mcal
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(BIN)/mcal
	$(BIN)/python bench/p1_adaptive_median.py
	$(BIN)/python bench/p2_preprocess_throughput.py

clean-demo:
	rm -rf $(DEMO)
