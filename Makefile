# Twilio in a box -- everyday commands.  `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The runtime with the webrtc extra (`make run`; browser phone calls, skipped by its marker on
# 32-bit ARM); the test extra on top of it (test, check, lint, typecheck, bench).
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DEPLOY_STAMP := $(VENV)/.installed-deploy
NODE_STAMP := tests/node/node_modules/.installed
# The Voice JavaScript SDK's browser bundle the panel serves at /sdk/twilio.min.js (from npm,
# pinned in web/sdk/package-lock.json; git-ignored, never committed).
SDK := web/sdk/twilio.min.js
DEB_PACKAGES := espeak-ng sox libsox-fmt-mp3 alsa-utils chromium debootstrap gammu smstools postgresql

.PHONY: run sdk test check test-deploy lint typecheck bench deps clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[webrtc]'
	touch $(STAMP)

# pytest, mypy, ruff, import-linter, hypothesis, schemathesis, playwright, twilio (the `test` extra).
$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,webrtc]'
	touch $(TEST_STAMP)

# Debian packages the tests use (installed only when running as root and missing).
deps:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	  case "$$missing" in *smstools*) (systemctl disable --now smstools || service smstools stop) \
	    >/dev/null 2>&1 || true;; esac; \
	  case "$$missing" in *postgresql*) (systemctl disable --now postgresql || service postgresql stop) \
	    >/dev/null 2>&1 || true;; esac; \
	fi

# Without npm (or offline) the appliance still runs: /sdk/twilio.min.js answers 404 then.
run: $(STAMP)
	@$(MAKE) --no-print-directory sdk || echo "warning: the Voice SDK bundle was not built" \
	  "(npm missing or offline): the panel answers 404 at /sdk/twilio.min.js until \`make sdk\`"
	$(BIN)/appliance run

sdk: $(SDK)

$(SDK): web/sdk/package.json web/sdk/package-lock.json
	cd web/sdk && npm ci --no-audit --no-fund --loglevel=error
	cp web/sdk/node_modules/@twilio/voice-sdk/dist/twilio.min.js $(SDK).tmp
	mv $(SDK).tmp $(SDK)

# The fast tests of `make check`: pure cores, parsers and in-process units (no daemon, no browser).
UNIT_TESTS := tests/sms/test_codec.py tests/sms/test_pdu.py tests/twiml tests/store \
	tests/webhooks tests/voice/test_call.py tests/voice/test_dtmf.py tests/voice/test_tones.py \
	tests/voice/test_dial_ringtones.py \
	tests/voice/test_playback.py tests/voice/test_recorder.py tests/voice/test_tts.py \
	tests/voice/test_audio.py tests/voice/test_mulaw.py tests/modem/test_probe.py \
	tests/modem/test_ussd.py::TestCodec tests/twimlets/test_twimlets.py tests/test_docs.py \
	tests/oncall/test_rotation.py tests/oncall/test_supportplan.py tests/clients/test_tokens.py tests/clients/test_pstream.py \
	tests/clients/test_offer.py tests/clients/test_invitation.py

# The whole suite: lint, types, import contracts, every test (daemon, browser, Node, deployment).
test: $(TEST_STAMP) $(DEPLOY_STAMP) $(NODE_STAMP) $(SDK) deps lint typecheck
	$(BIN)/pytest -q --durations=25

# The panel's screenshots in docs/panel/ (docs/panel.md), retaken by the accessibility pass;
# `make test` puts its own in var/screenshots/panel/ and leaves the tracked ones alone.
screenshots: $(TEST_STAMP) $(NODE_STAMP) deps
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest -q tests/web/test_accessibility.py

# The inner loop (under 3 minutes): lint, types, import contracts and the unit tests.
check: $(TEST_STAMP) deps lint typecheck
	$(BIN)/pytest -q $(UNIT_TESTS)

# Ansible and ansible-lint for deploy/ansible (the `deploy` extra, pinned).
$(DEPLOY_STAMP): $(TEST_STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,webrtc,deploy]'
	touch $(DEPLOY_STAMP)

# twilio-node (pinned in tests/node/package-lock.json) for tests/api/test_node_client.py.
$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# The deployment alone (also part of `make test`): ansible-lint (production profile), the unit
# under systemd-analyze, and the playbook converged twice into a bookworm root that debootstrap
# builds afresh here (`make test` reuses the one cached in var/deploy/).  Needs root.
test-deploy: $(TEST_STAMP) $(DEPLOY_STAMP) deps
	APPLIANCE_TEST_DEPLOY_COLD=1 $(BIN)/pytest -q tests/system/test_deploy.py

lint: $(TEST_STAMP)
	$(BIN)/ruff check appliance tests bench web
	$(BIN)/ruff format --check appliance tests bench web
	$(BIN)/lint-imports --no-logo

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

bench: $(TEST_STAMP)
	@if [ "$$(id -u)" = "0" ] && ! command -v wrk >/dev/null; then \
	  (apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)) >/dev/null; fi
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache tests/node/node_modules \
	  web/sdk/node_modules $(SDK)
