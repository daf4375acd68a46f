# Two commands do everything on a fresh machine:
#   make demo   - set up .venv, run the whole job on the bundled sample week (signed report in
#                 out/demo/2026-W47/), verify it, and print a few ad-hoc queries
#   make test   - set up .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
WEEK    = --source sample_data/archive --from 2026-11-16 --to 2026-11-23 --policy sample_data/policy.yaml
DEMO_CACHE ?= .cache/demo

.PHONY: demo test test-fast bench clean

$(BIN)/ingress-audit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

demo: $(BIN)/ingress-audit
	$(BIN)/ingress-audit stage $(WEEK) --cache-dir $(DEMO_CACHE)
	@# exit 1 means "controls failed at or above --fail-on": the planted incidents, expected here.
	@# No --sign-key: the report is signed with a development key, and says so on its cover.
	$(BIN)/ingress-audit --quiet run $(WEEK) --cache-dir $(DEMO_CACHE) --out out/demo/2026-W47 || [ $$? -eq 1 ]
	$(BIN)/ingress-audit verify out/demo/2026-W47
	@echo "the report: out/demo/2026-W47/report.pdf (and report.html)"
	$(BIN)/ingress-audit query $(WEEK) --cache-dir $(DEMO_CACHE) \
	  "SELECT source_kind, count(*) AS requests, count(DISTINCT client_ip) AS clients, min(ts) AS first, max(ts) AS last FROM http_requests GROUP BY ALL ORDER BY requests DESC"
	$(BIN)/ingress-audit query $(WEEK) --cache-dir $(DEMO_CACHE) \
	  "SELECT client_ip, host, count(*) AS failed_logins FROM http_requests WHERE path LIKE '%login%' AND status = 401 GROUP BY ALL ORDER BY failed_logins DESC LIMIT 5"
	$(BIN)/ingress-audit query $(WEEK) --cache-dir $(DEMO_CACHE) \
	  "SELECT ts, \"user\", verb, namespace, name FROM audit_events WHERE resource = 'ingresses' AND verb IN ('create','update','patch','delete') AND stage = 'ResponseComplete' ORDER BY ts"
	$(BIN)/ingress-audit query $(WEEK) --cache-dir $(DEMO_CACHE) \
	  "SELECT reason, count(*) AS n FROM rejects GROUP BY ALL ORDER BY n DESC"

test: $(BIN)/ingress-audit
	$(BIN)/pytest -n 2 -q

test-fast: $(BIN)/ingress-audit
	$(BIN)/pytest -n 2 -q -m "not slow"

bench: $(BIN)/ingress-audit
	$(BIN)/python benchmarks/bench_stage.py --nginx-lines 10000000 --audit-events 1000000
	$(BIN)/python benchmarks/bench_controls.py --nginx-lines 10000000 --audit-events 1000000
	$(BIN)/python benchmarks/bench_report.py

clean:
	rm -rf $(VENV) .cache build dist
