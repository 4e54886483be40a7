# One-command setup for Debian 12 (QGIS 3.22 LTR from apt). `make demo` and `make test` install first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DAKD := $(VENV)/bin/dakd
STAMP := $(VENV)/.installed
# pip takes a local CPU wheel for this exact pin where one exists; other specs may download a CUDA build.
TORCH_SPEC ?= torch==2.13.0
APT_PACKAGES := qgis python3-qgis qgis-providers python3-gdal gdal-bin python3-venv
export QT_QPA_PLATFORM ?= offscreen

.PHONY: install test test-engine test-qgis demo bench lint docs package default-model clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@if ! /usr/bin/python3 -c "import qgis.core" 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing QGIS 3.22 from Debian (about 1-2 minutes)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	  else \
	    echo "QGIS is not installed: run 'sudo apt-get install $(APT_PACKAGES)' for the plugin tests."; \
	  fi; \
	fi
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "numpy<2" "attrs>=23" "$(TORCH_SPEC)"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,lint,onnx,docs]"
	touch $(STAMP)

test: install
	$(PY) -m pytest

test-engine: install
	$(PY) -m pytest -m "not qgis"

test-qgis: install
	$(PY) -m pytest -m qgis

demo: install
	$(DAKD) detect resources/sample/sample_scene.tif --out demo-out --overwrite
	@echo 'The default model has seen only simulated scenes: read "The model and its honest limits" (docs/model.md) before trusting it.'

bench: install
	$(PY) bench/detect.py

# The same checks run as a pre-commit hook (.pre-commit-config.yaml). mypy reads [tool.mypy] in pyproject.toml;
# flake8 ignores what ruff format writes on purpose (E203 in slices, E701/E704 for one-line stubs).
lint: install
	$(VENV)/bin/ruff check engine tests bench dakd_qgis
	$(VENV)/bin/ruff format --check engine tests bench dakd_qgis
	$(VENV)/bin/flake8 --max-line-length 120 --extend-ignore E203,E701,E704 dakd_qgis
	$(VENV)/bin/bandit -q -r dakd_qgis engine
	$(VENV)/bin/mypy

# The documentation site (docs/, mkdocs.yml), built offline; --strict fails on any broken link, anchor or reference.
# tests/test_docs.py runs the same build. Open build/site/index.html.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir build/site

# The installable QGIS plugin zip (one top-level dakd_qgis/ folder, engine and documentation site included):
# dist/dakd_qgis-VERSION.zip. Each bundled card's ONNX export (about 15 MB, 10-20 s) ships next to it, so a
# "Detection only" install (OpenVINO, no torch) runs the bundled model: it cannot export one itself.
PACKAGE_ONNX := build/package-onnx
package: docs
	mkdir -p $(PACKAGE_ONNX)
	for card in resources/models/*.json; do \
	  $(PY) -m engine --progress none model export $$card --onnx --out $(PACKAGE_ONNX)/$$(basename $$card .json).onnx \
	  --overwrite || exit 1; done
	/usr/bin/python3 dakd_qgis/package_plugin.py --out dist --site build/site --onnx-dir $(PACKAGE_ONNX)

# The bundled default model (docs/model.md: "How it was made"): simulate the training scenes (fixed seeds), then
# train SAROSS-Net-XS on the CPU with `dakd finetune` (input channels that carry the sea background, the
# robustness augmentations), without generated pairs (--aug-ratio 0: on held-out scenes it beat the same run
# with 0.25x pairs from the CPU-sized SAR-JointNet), in three stages (below). Writes
# resources/models/default.{safetensors,json} and its curves in resources/readme; about four hours on 2 CPU cores
# (18,000 + 9,000 + 6,000 steps of 12). An interrupted run continues with make default-model DM_RESUME=1 (the
# simulated scenes are kept, and a finished stage is not run again).
# The comparison run: make default-model DM_EXTRA="--aug-ratio 0.25" DM_RUN=with-generated DM_OUT=build/with-generated
# Each group below: first seed, last seed, then the `dakd simulate` options; DM_SIM_ALL applies to every group
# first (resources/training/default-model-scenes.json: wider than the simulator's defaults: wind 2-15 m/s, noise
# floor -27 to -20 dB, weaker to stronger damping, long thin discharges, more rain and films).
DM := build/default-model
DM_GROUPS := mixed clean coast large
DM_SCENES := resources/training/default-model-scenes.json
DM_SIM_ALL := --config $(DM_SCENES)
DM_SIM_mixed := 1000 1299 --size 1024 1024 --ships 0 6 --land-probability 0.4
DM_SIM_clean := 2000 2059 --size 1024 1024 --spills 0 --set biogenic_films=[1,3] --set rain_cells=[0,2] --set internal_waves=[0,2] --set low_wind_patches=[0,2]
DM_SIM_coast := 3000 3059 --size 1024 1024 --land-probability 1 --spills 0 2 --ships 2 8 --set harbour_probability=0.6
DM_SIM_large := 4000 4023 --size 2048 2048 --spills 2 4
DM_FEATURES := db,contrast:31,contrast:101,lcn:101
DM_COMMON := --preset cpu-default --seed 0 --val-share 0.08 --device cpu --name dakd-default-sim-xs --aug-ratio 0 \
  --batch-size 12
# Stage 1 (the 0.1.1 default model): 18,000 steps from scratch, 8-bit exports linear in dB only.
DM_FINETUNE := $(DM_COMMON) --steps 18000 --input-features $(DM_FEATURES) --augment robust-db
# Stage 2: 9,000 more steps from stage 1 (it was still improving at its last step) at half the learning rate,
# with 8-bit exports linear in dB, amplitude or intensity.
DM_CONTINUE = $(DM_COMMON) --init $(DM)/$(DM_RUN)-stage1.json --retain 0 --min-gain 0 --steps 9000 --lr 0.00025 --augment robust
# Stage 3: 6,000 more steps from stage 2 with pixels resampled up to 4x coarser (40 m), where stage 2 failed.
DM_WIDEN = $(DM_COMMON) --init $(DM)/$(DM_RUN)-stage2.json --retain 0 --min-gain 0 --steps 6000 --lr 0.00015 --augment robust-wide
DM_SCENE_ARGS = $$(for f in $(DM)/train/*_scene.tif; do echo --scene $$f --label-raster $${f%_scene.tif}_labels.tif; done)
DM_EXTRA ?=
DM_RUN ?= model
DM_OUT ?= resources/models/default
DM_RESUME ?=

default-model: install
ifeq ($(DM_RESUME),)
	rm -rf $(DM)/train && mkdir -p $(DM)/train
	$(foreach g,$(DM_GROUPS),seq $(word 1,$(DM_SIM_$(g))) $(word 2,$(DM_SIM_$(g))) | xargs -P 2 -I{} \
	  $(DAKD) -q --progress none simulate --seed {} --name $(g)-{} --out $(DM)/train --no-quicklook \
	  $(DM_SIM_ALL) $(wordlist 3,99,$(DM_SIM_$(g))) >/dev/null &&) true
endif
	$(PY) -c 'import json, sys; a = sys.argv[1:]; print(json.dumps({"how": "make default-model (three stages)", \
	  "data": "simulated Sentinel-1 IW VV scenes (engine.data.synth), float32 dB GeoTIFF + label rasters", \
	  "note": "simulated data only; trained on a CPU (no GPU was available); see docs/model.md (The model and its honest limits)", \
	  "simulate_all_groups": {"options": a[1], "config": json.load(open(a[1].split()[-1]))}, \
	  "simulate": [dict(group=g, seeds=[int(o.split()[0]), int(o.split()[1])], command="dakd simulate --seed SEED " \
	  f"--name {g}-SEED --no-quicklook " + a[1] + " " + " ".join(o.split()[2:])) for g, o in zip(a[4::2], a[5::2])], \
	  "finetune": "dakd finetune [--scene S_scene.tif --label-raster S_labels.tif for every simulated scene] " + a[0], \
	  "continue": "dakd finetune [the same scenes] " + a[2], "widen": "dakd finetune [the same scenes] " + a[3]}, \
	  indent=1))' "$(DM_FINETUNE) $(DM_EXTRA) --out $(DM)/$(DM_RUN)-stage1" "$(DM_SIM_ALL)" \
	  "$(DM_CONTINUE) $(DM_EXTRA) --out $(DM)/$(DM_RUN)-stage2" "$(DM_WIDEN) $(DM_EXTRA)" \
	  $(foreach g,$(DM_GROUPS),$(g) "$(DM_SIM_$(g))") > $(DM)/$(DM_RUN).recipe.json
	if [ -z "$(DM_RESUME)" ] || { [ ! -f $(DM)/$(DM_RUN)-stage1.json ] && [ ! -f $(DM)/$(DM_RUN)-stage2.json ]; }; then \
	  time $(DAKD) finetune $(DM_SCENE_ARGS) $(DM_FINETUNE) $(DM_EXTRA) --recipe $(DM)/$(DM_RUN).recipe.json \
	  --out $(DM)/$(DM_RUN)-stage1 --work-dir $(DM)/$(DM_RUN)-stage1.work $(if $(DM_RESUME),--resume,--overwrite); fi
	if [ -z "$(DM_RESUME)" ] || [ ! -f $(DM)/$(DM_RUN)-stage2.json ]; then time $(DAKD) finetune $(DM_SCENE_ARGS) \
	  $(DM_CONTINUE) $(DM_EXTRA) --recipe $(DM)/$(DM_RUN).recipe.json --out $(DM)/$(DM_RUN)-stage2 \
	  --work-dir $(DM)/$(DM_RUN)-stage2.work $(if $(DM_RESUME),--resume,--overwrite); fi
	time $(DAKD) finetune $(DM_SCENE_ARGS) $(DM_WIDEN) $(DM_EXTRA) --recipe $(DM)/$(DM_RUN).recipe.json \
	  --out $(DM)/$(DM_RUN) --work-dir $(DM)/$(DM_RUN).work $(if $(DM_RESUME),--resume,--overwrite)
	mkdir -p $(dir $(DM_OUT))
	for ext in safetensors json; do cp $(DM)/$(DM_RUN).$$ext $(DM_OUT).$$ext; done
	# the copied card names its own weights file (the engine loads NAME.safetensors beside NAME.json either way)
	$(PY) -c 'import json, sys; p = sys.argv[1]; c = json.load(open(p)); c["weights"]["file"] = sys.argv[2]; \
	  open(p, "w").write(json.dumps(c, indent=2) + "\n")' $(DM_OUT).json $(notdir $(DM_OUT)).safetensors
ifeq ($(DM_OUT),resources/models/default)
	for curve in loss miou; do cp $(DM)/$(DM_RUN).$$curve.png resources/readme/default-model-$$curve.png; done
endif
	$(DAKD) model info $(DM_OUT).json

clean:
	rm -rf $(VENV) demo-out build dist *.egg-info
