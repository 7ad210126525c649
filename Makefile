# Paint Your Video — every target is listed by `make help`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
comma := ,

# Options of the main targets (override on the command line: make stylize VIDEO=clip.mp4 STYLE=a.jpg,b.jpg)
VIDEO ?= samples/vtest.avi
STYLE ?= samples/starry_night.jpg
# make demo's clip and painting, shipped in the repository (demo/README.md: sources and licences)
DEMO_VIDEO := demo/vtest.mp4
DEMO_STYLE := demo/starry_night.jpg
CONTENT ?= samples/building.jpg
OUT ?=
WIDTH ?= 384
# width of the written film or image (empty: the input's own, at most 3840); WIDTH is the width the method paints at
OUTPUT_WIDTH ?=
BACKBONE ?= auto
BENCH ?= full
# Web studio (make app)
HOST ?= 127.0.0.1
PORT ?= 7860
# pytest-xdist workers for `make test` (auto: one per core; 0 runs the suite in one process)
TEST_WORKERS ?= auto

.DEFAULT_GOAL := help
# Dataset and classifier
DIR ?= data/flickr
N ?= 20000
DATA ?= $(DIR)/manifest.csv
MODELS ?= models
# extra `paintvid finetune` options (none: FinetuneConfig's recipe, head first, then block 5 under L2-SP)
FINETUNE_ARGS ?=

# Fast mode: training content (scraped photos when present, else the samples)
FAST ?=
TRAIN_CONTENT ?= $(wildcard data/flickr/images/photo) samples/building.jpg samples/vtest.avi samples/Megamind.avi

# Arbitrary-style network (make train-arbitrary): paintings (a fifth held out by artwork) and content to train on
PAINTINGS ?= ../shared/data/images/painting
ARB_CONTENT ?= ../shared/data/images/photo ../shared/data/video
ARB_OUT ?= $(MODELS)/arbitrary_$(if $(FAST),quick,default)_$(shell git rev-parse --short HEAD 2>/dev/null || echo local).npz
STUDENT_OUT ?= $(MODELS)/student_$(if $(FAST),quick,default).npz

# Video defaults: a few seconds of the sample clip at WIDTH
SECONDS ?= 2
STYLIZE_ARGS ?=

# the backbone `make stylize` and `make demo` use: BACKBONE, with auto = the fine-tuned one when present, else bundled
BACKBONE_WEIGHTS = $(if $(filter auto,$(BACKBONE)),$(if $(wildcard $(MODELS)/backbone.weights.h5),$(MODELS)/backbone.weights.h5,bundled),$(BACKBONE))

.PHONY: help install test lint samples demo stylize-image stylize scrape finetune evaluate train-style train-arbitrary distill-arbitrary notebooks bench app docs docs-serve clean

help: ## list every target with what it does
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with pinned dependencies (TensorFlow CPU, Keras 3, OpenCV contrib)

test: $(STAMP) ## run the test suite (pytest -n TEST_WORKERS; about 8 min on 2 AVX-512 BF16 cores)
	$(BIN)/pytest -q -n $(TEST_WORKERS)

lint: $(STAMP) ## run ruff and import-linter (the floor plan in ARCHITECTURE.md)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

samples: ## put a real painting and real clips into samples/ (from Debian's opencv-doc)
	@bash scripts/fetch_samples.sh samples

demo: $(STAMP) ## the main job on the bundled sample (demo/): 2 s of OpenCV's vtest clip at 384 px as The Starry Night
	@$(BIN)/python scripts/estimate_demo.py $(DEMO_VIDEO) --width $(WIDTH) --weights $(BACKBONE_WEIGHTS) \
		2>/dev/null || true
	@$(MAKE) --no-print-directory stylize VIDEO=$(DEMO_VIDEO) STYLE=$(DEMO_STYLE)

stylize: $(STAMP) $(if $(filter samples/%,$(VIDEO) $(subst $(comma), ,$(STYLE))),samples) ## stylise VIDEO with STYLE (comma-separated for several) into out/; BACKBONE=auto|bundled|imagenet|PATH
	@mkdir -p out
	$(BIN)/paintvid video $(VIDEO) $(subst $(comma), ,$(STYLE)) \
		-o $(or $(OUT),out/$(basename $(notdir $(VIDEO)))_stylized.mp4) \
		--width $(WIDTH) $(if $(OUTPUT_WIDTH),--output-width $(OUTPUT_WIDTH)) \
		$(if $(filter tree.avi vtest.avi Megamind.avi,$(notdir $(VIDEO))),--seconds $(SECONDS)) \
		--weights $(BACKBONE_WEIGHTS) \
		--side-by-side $(STYLIZE_ARGS)

stylize-image: $(STAMP) $(if $(filter samples/%,$(CONTENT) $(subst $(comma), ,$(STYLE))),samples) ## stylise CONTENT with STYLE at WIDTH into out/ (a few minutes on 2 cores)
	@mkdir -p out
	$(BIN)/paintvid image $(CONTENT) $(subst $(comma), ,$(STYLE)) -o $(or $(OUT),out/$(basename $(notdir $(CONTENT)))_stylized.png) \
		--width $(WIDTH) $(if $(OUTPUT_WIDTH),--output-width $(OUTPUT_WIDTH)) --iterations 200

scrape: $(STAMP) ## collect N labelled Flickr images into DIR (needs FLICKR_API_KEY and FLICKR_API_SECRET)
	@if [ -z "$$FLICKR_API_KEY" ] || [ -z "$$FLICKR_API_SECRET" ]; then \
		echo "make scrape: set FLICKR_API_KEY and FLICKR_API_SECRET (get a key at https://www.flickr.com/services/apps/create/)" >&2; \
		exit 2; fi
	$(BIN)/paintvid scrape --out $(DIR) -n $(N) $(if $(API_URL),--api-url $(API_URL))

finetune: $(STAMP) ## train the painting-vs-photo classifier on DATA (manifest or folder tree) into MODELS/, fine-tuning VGG16 block 5
	$(BIN)/paintvid finetune --data $(DATA) --out $(MODELS) $(FINETUNE_ARGS)

evaluate: $(STAMP) ## evaluate MODELS/classifier.keras on the test split of DATA (JSON + PNGs in MODELS/eval/)
	$(BIN)/paintvid evaluate --model $(MODELS)/classifier.keras --data $(DATA) --out $(MODELS)/eval

train-style: $(STAMP) samples ## train a fast network for STYLE into OUT (default models/<style>[_fast].keras); FAST=1 = tiny demo in minutes
	$(BIN)/paintvid train-style $(STYLE) --content $(TRAIN_CONTENT) $(if $(FAST),--fast) \
		--out $(or $(OUT),$(MODELS)/$(basename $(notdir $(STYLE)))$(if $(FAST),_fast).keras)

train-arbitrary: $(STAMP) ## train the any-painting network on PAINTINGS and ARB_CONTENT into ARB_OUT (default recipe ≤ 3 h on 2 cores; FAST=1 = minutes); reruns resume
	$(BIN)/paintvid train-arbitrary --paintings $(PAINTINGS) --content $(ARB_CONTENT) $(if $(FAST),--fast) --out $(ARB_OUT)

distill-arbitrary: $(STAMP) ## train the slim any-painting student from the pretrained network on PAINTINGS and ARB_CONTENT into STUDENT_OUT (FAST=1 = minutes); reruns resume
	$(BIN)/paintvid distill-arbitrary --paintings $(PAINTINGS) --content $(ARB_CONTENT) $(if $(FAST),--fast) --out $(STUDENT_OUT)

notebooks: $(STAMP) ## execute the video-evaluation (runs in out/, or RUNS=name=dir,...), dataset (DATA) and classifier (MODELS/eval) notebooks that have inputs into out/notebooks/; skips the rest saying what to run first
	$(BIN)/python scripts/run_notebooks.py --out out/notebooks --runs "$(RUNS)" --runs-dir $(CURDIR)/out \
		--manifest $(abspath $(DATA)) --eval-dir $(abspath $(MODELS)/eval)

bench: $(STAMP) samples ## run the benchmarks and write bench/results.json (BENCH=quick for a short subset)
	$(BIN)/python -m benchmarks.run --out bench/results.json --mode $(BENCH)

app: $(STAMP) samples ## start the web studio on http://127.0.0.1:PORT (default 7860; HOST=0.0.0.0 opens it to the network)
	$(BIN)/paintvid app --host $(HOST) --port $(PORT)

docs: $(STAMP) ## build the documentation site into site/ (mkdocs build --strict; the CLI and Make pages are generated)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(STAMP) ## preview the documentation site on http://127.0.0.1:8000/ while editing docs/
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

clean: ## remove build artefacts (keeps .venv, samples/ and data/)
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache out site
