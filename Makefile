# The kit's commands. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The pinned set of the term (tools/lock.py): make lab / make test install exactly these versions.
LOCK := requirements.lock
EXTRAS := test,site

.PHONY: lab test lint bench claims student annotate site checkpoints lock upgrade-check clean

# The stamp holds a copy of the lock it was installed from (tests/test_environment.py compares them).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -c $(LOCK) pip
	$(BIN)/python -m pip install -c $(LOCK) -e ".[$(EXTRAS)]"
	cp $(LOCK) $(STAMP)

# Re-resolve the newest versions pyproject.toml allows, with pip, into requirements.lock (needs the
# network; a throwaway venv in build/). Commit the result: that freezes the set for a term.
# make lock KEEP=1 keeps every pinned version and pins only what a new requirement adds.
lock:
	$(PYTHON) tools/lock.py write $(if $(KEEP),--keep) --extras $(EXTRAS)

# The newest allowed versions in a separate venv (.venv-upgrade, never .venv): what changed against
# the lock and which tests break, into build/upgrade-check.md. Fewer tests: make upgrade-check ARGS="tests"
upgrade-check: $(STAMP)
	$(BIN)/python tools/lock.py upgrade-check --extras $(EXTRAS) -- $(ARGS)

# JupyterLab on this machine only (127.0.0.1), protected by a fresh random token, which is printed
# here because Jupyter hides a token it was given. Another port: make lab PORT=8890. As root (a
# container or a classroom VM) Jupyter refuses to start without --allow-root, so it is added there.
# It opens on lesson 00, with the course's JupyterLab defaults from jupyter-config/ (no news pop-up,
# no update check; a user's own settings still win and are not changed).
PORT ?= 8888
FIRST_LESSON := 00_introduction.ipynb
lab: $(STAMP)
	@token=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(32))'); \
	echo; echo "  Open http://127.0.0.1:$(PORT)/lab/tree/$(FIRST_LESSON)?token=$$token"; echo; \
	JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter-config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 \
		--ServerApp.port=$(PORT) --ServerApp.port_retries=0 --IdentityProvider.token="$$token" \
		--LabApp.default_url=/lab/tree/$(FIRST_LESSON) \
		$(if $(filter 0,$(shell id -u)),--allow-root)

# The site's browser-side tools (MathJax, axe-core), exactly as site/package-lock.json pins them.
NODE_STAMP := site/node_modules/.package-lock.json
$(NODE_STAMP): site/package.json site/package-lock.json
	npm ci --prefix site --no-audit --no-fund

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check course_lib tests notebooks benchmarks tools site deploy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check course_lib tests notebooks benchmarks tools site deploy

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# Every lesson under seed shifts K = 0..9 and 1 or 2 torch threads; fragile asserts go to docs/claims.md.
# Fewer runs: make claims ARGS="--seeds 0-1 --threads 1 --notebooks 05,09"; the report alone: ARGS=--report-only
claims: $(STAMP)
	$(BIN)/python benchmarks/claims.py $(ARGS)

# The student edition: nbgrader's release of the notebooks (solutions blanked), written to build/student/.
student: $(STAMP)
	$(BIN)/python -m course_lib.student_edition --out build/student

# After editing or adding a lesson: its nbgrader, slide and Colab metadata (make test checks it).
annotate: $(STAMP)
	$(BIN)/python tools/annotate_notebooks.py

# The course website: every lesson executed afresh, then Sphinx + MyST-NB into build/site/.
site: $(STAMP) $(NODE_STAMP)
	$(BIN)/python site/build.py --fresh

checkpoints: $(STAMP)
	$(BIN)/python -m course_lib.pretrain

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis .venv-upgrade

# The class hub (deploy/hub): configurable-http-proxy from npm (deploy/hub's lock file) and JupyterHub
# on 127.0.0.1:8000 (make hub PORT=8010), students get the student edition, the teacher nbgrader's
# formgrader. The first start creates build/hub/roster.csv and prints the teacher's password.
HUB_PROXY := deploy/hub/node_modules/.package-lock.json
$(HUB_PROXY): deploy/hub/package-lock.json
	cd deploy/hub && npm ci --ignore-scripts --no-audit --no-fund

.PHONY: hub hub-loadtest
hub: PORT = 8000
hub: $(STAMP) $(HUB_PROXY) student
	$(BIN)/python deploy/hub/launch.py --port $(PORT)

# A class of STUDENTS (default 6) on loopback, end to end: log in, run lesson 00, submit, collect,
# autograde. Several sizes in a row, with the sizing figures: make hub-loadtest STUDENTS=1,5,10,20
STUDENTS ?= 6
hub-loadtest: $(STAMP) $(HUB_PROXY)
	$(BIN)/python deploy/hub/loadtest.py --students $(STUDENTS) $(ARGS)

test: $(HUB_PROXY)
