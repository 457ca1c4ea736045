# The kit's commands. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test lint bench claims student annotate site checkpoints clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[test,site]"
	touch $(STAMP)

# JupyterLab on this machine only (127.0.0.1), protected by a fresh random token, which is printed
# here because Jupyter hides a token it was given. Another port: make lab PORT=8890. As root (a
# container or a classroom VM) Jupyter refuses to start without --allow-root, so it is added there.
PORT ?= 8888
lab: $(STAMP)
	@token=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(32))'); \
	echo; echo "  Open http://127.0.0.1:$(PORT)/lab?token=$$token"; echo; \
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 \
		--ServerApp.port=$(PORT) --ServerApp.port_retries=0 --IdentityProvider.token="$$token" \
		$(if $(filter 0,$(shell id -u)),--allow-root)

test: $(STAMP)
	$(BIN)/ruff check course_lib tests notebooks benchmarks tools site
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check course_lib tests notebooks benchmarks tools site

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# Every lesson under seed shifts K = 0..9 and 1 or 2 torch threads; fragile asserts go to docs/claims.md.
# Fewer runs: make claims ARGS="--seeds 0-1 --threads 1 --notebooks 05,09"
claims: $(STAMP)
	$(BIN)/python benchmarks/claims.py $(ARGS)

# The student edition: nbgrader's release of the notebooks (solutions blanked), written to build/student/.
student: $(STAMP)
	$(BIN)/python -m course_lib.student_edition --out build/student

# After editing or adding a lesson: its nbgrader, slide and Colab metadata (make test checks it).
annotate: $(STAMP)
	$(BIN)/python tools/annotate_notebooks.py

# The course website: every lesson executed afresh, then Sphinx + MyST-NB into build/site/.
site: $(STAMP)
	$(BIN)/python site/build.py --fresh

checkpoints: $(STAMP)
	$(BIN)/python -m course_lib.pretrain

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis

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
