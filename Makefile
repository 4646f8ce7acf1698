# Two commands do all the set-up on a fresh machine (see README.md):
#   make run   - create .venv, install auditlens, start the viewer on the embedded demo
#   make test  - create/update .venv, run every check: ruff, mypy, pytest (Qt offscreen)
#   make check - the quick loop: ruff, mypy, the tests not marked slow; make fmt - fix formatting
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
QT_APT := libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0 fonts-dejavu-core
GUI_APT := libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xkb1

.PHONY: run test check fmt lint typecheck pytest bench clean check-qt package

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "Python's venv module is missing. Install it with:"; \
	  echo "  apt-get install -y python3-venv"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Qt needs a few shared libraries from the system; say which are missing, with the one line to fix it.
check-qt: $(STAMP)
	@QT_QPA_PLATFORM=offscreen $(BIN)/python -c 'from PySide6 import QtWidgets, QtGui' 2>/dev/null || { \
	  echo "Qt cannot load: some system libraries are missing. Install them with:"; \
	  echo "  apt-get install -y $(QT_APT)"; exit 1; }

run: check-qt
	@QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-} $(BIN)/python -c 'from PySide6 import QtWidgets; import sys; a=QtWidgets.QApplication(sys.argv)' 2>/dev/null || { \
	  echo "Qt cannot open a window here (no display, or the xcb libraries are missing)."; \
	  echo "On a desktop Debian:  apt-get install -y $(GUI_APT)"; \
	  echo "Without a display:    xvfb-run -s '-screen 0 1600x1000x24' make run"; exit 1; }
	$(BIN)/auditlens demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench docs/img
	$(BIN)/ruff format --check src tests bench docs/img

typecheck: $(STAMP)
	$(BIN)/mypy

# Two runs: every test on two workers (pytest-xdist), except the few marked `serial` (they assert
# a time or latency bound, which a second worker's load would decide), which run alone after,
# collected from their modules only (SERIAL_MODULES; tests/test_serial_modules.py keeps the list
# whole). PYTEST_ARGS applies to the first run; give PYTEST_SERIAL_ARGS for the second.
PYTEST_WORKERS ?= 2
SERIAL_MODULES := tests/server/test_login_flood.py tests/server/test_multiprocess.py \
                  tests/ui/test_app_demo.py tests/ui/test_task_trail.py
PYTEST_SERIAL_ARGS ?= $(SERIAL_MODULES)
pytest: check-qt
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal -m "not serial" $(PYTEST_ARGS)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m serial $(PYTEST_SERIAL_ARGS)

test: lint typecheck pytest

# The quick loop while working: lint, types and every test not marked slow or serial (its pytest
# part ~1.5 min on two busy cores; 1,700 tests).
check: lint typecheck check-qt
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "not slow and not serial" $(PYTEST_ARGS)

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench docs/img
	$(BIN)/ruff format src tests bench docs/img

# Desktop bundle for this machine (packaging/, README "Desktop builds"), then a headless smoke
# test of the built bundle: a broken bundle fails here, not on an auditor's workstation.
PKG_STAMP := $(VENV)/.package-stamp
$(PKG_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[package]'
	@touch $(PKG_STAMP)

package: check-qt $(PKG_STAMP)
	@if [ "$$(uname -s)" = Linux ] && ! command -v objdump >/dev/null; then \
	  echo "PyInstaller needs objdump and readelf. Install them with:"; \
	  echo "  apt-get install -y binutils"; exit 1; fi
	QT_QPA_PLATFORM=offscreen $(BIN)/python packaging/make_icons.py build/icons
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN --distpath dist \
	  --workpath build/pyinstaller packaging/auditlens.spec
	dist/auditlens/auditlens --version
	QT_QPA_PLATFORM=offscreen dist/auditlens/auditlens selfcheck
	@du -sh dist/auditlens

bench: $(STAMP)
	$(BIN)/python bench/core.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
