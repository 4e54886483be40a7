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

.PHONY: install test test-engine test-qgis demo bench lint package default-model clean

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
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,lint]"
	touch $(STAMP)

test: install
	$(PY) -m pytest

test-engine: install
	$(PY) -m pytest -m "not qgis"

test-qgis: install
	$(PY) -m pytest -m qgis

demo: install
	$(DAKD) detect resources/sample/sample_scene.tif --out demo-out --overwrite

bench: install
	$(PY) bench/detect.py

lint: install
	$(VENV)/bin/ruff check engine tests bench dakd_qgis
	$(VENV)/bin/flake8 --max-line-length 120 dakd_qgis
	$(VENV)/bin/bandit -q -r dakd_qgis engine

# The installable QGIS plugin zip (one top-level dakd_qgis/ folder, engine included): dist/dakd_qgis-VERSION.zip
package:
	/usr/bin/python3 dakd_qgis/package_plugin.py --out dist

clean:
	rm -rf $(VENV) demo-out build dist *.egg-info
