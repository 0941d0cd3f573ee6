# Personal CRM backend core. `make dev` runs everything locally; `make test`
# runs every test. See README.md.

SHELL := /bin/bash
GO    ?= go

# Lambdas run on arm64 (Graviton); set BUILD_ARCH=amd64 to run the built
# binaries on an x86-64 machine.
BUILD_ARCH ?= arm64
BUILD_DIR  := .build

# Every function folder; a test keeps them equal to shared/catalog.
FUNCTION_DIRS := $(patsubst %/main.go,%,$(wildcard functions/cmd/*/main.go))
FUNCTION_BINS := $(foreach d,$(FUNCTION_DIRS),$(BUILD_DIR)/$(notdir $(d))/bootstrap)

# The stage and the operator's settings, passed to the CDK app as context
# (prod requires APP_URL and GOOGLE_CLIENT_ID; see infra/README.md).
STAGE ?= dev
CDK_CONTEXT := -c stage=$(STAGE) \
	$(if $(APP_URL),-c appUrl=$(APP_URL)) \
	$(if $(GOOGLE_CLIENT_ID),-c googleClientId=$(GOOGLE_CLIENT_ID)) \
	$(if $(ALARM_EMAIL),-c alarmEmail=$(ALARM_EMAIL)) \
	$(if $(FEATURES),-c features=$(FEATURES)) \
	$(if $(GOOGLE_PUBSUB_TOPIC),-c googlePubsubTopic=$(GOOGLE_PUBSUB_TOPIC)) \
	$(if $(GOOGLE_PUSH_SERVICE_ACCOUNT),-c googlePushServiceAccount=$(GOOGLE_PUSH_SERVICE_ACCOUNT)) \
	$(if $(GOOGLE_PUBSUB_SUBSCRIPTION),-c googlePubsubSubscription=$(GOOGLE_PUBSUB_SUBSCRIPTION)) \
		$(if $(SECRETS_REVISION),-c secretsRevision=$(SECRETS_REVISION)) \
	$(if $(ALLOWED_ORIGINS),-c allowedOrigins=$(ALLOWED_ORIGINS)) \
	$(if $(DOMAIN_NAME),-c domainName=$(DOMAIN_NAME)) \
	$(if $(HOSTED_ZONE_ID),-c hostedZoneId=$(HOSTED_ZONE_ID)) \
	$(if $(CERTIFICATE_ARN),-c certificateArn=$(CERTIFICATE_ARN))
# The pinned CLI; npx puts node_modules/.bin first on PATH, so the CLI and
# the app's jsii runtime run on the pinned Node.
CDK   := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true npx --no-install cdk

.PHONY: dev flag test test-short lint build bench synth diff deploy bootstrap tools clean

## dev: run every route locally on :3000 (PORT), creating and migrating its database
dev:
	$(GO) run ./functions/dev

## flag: a user's feature flags without SQL, e.g. make flag ARGS="enable ai-agents me@example.com"
##       (ARGS: list USER | enable FLAG USER | disable FLAG USER; USER is an email or id; uses DATABASE_URL)
flag:
	$(GO) run ./functions/dev flag $(ARGS)

## test: every test, against real PostgreSQL, Redis, the SQS emulator, RIE and CDK;
## then the library and handler tests again under the race detector
test: tools lint
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -short -timeout 20m ./shared/... ./functions/routes/... ./functions/jobs/... ./functions/ops/...

## test-short: the tests without building every function
test-short:
	$(GO) test -short ./...

## lint: gofmt, go vet and staticcheck (pinned in go.mod)
lint:
	@unformatted="$$(gofmt -l functions shared infra)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## build: every Lambda to .build/<name>/bootstrap (linux/$(BUILD_ARCH))
build: $(FUNCTION_BINS)

$(BUILD_DIR)/%/bootstrap: FORCE
	@dir=$$(ls -d functions/cmd/$* 2>/dev/null); \
	echo "build $*"; \
	CGO_ENABLED=0 GOOS=linux GOARCH=$(BUILD_ARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w" -o $@ ./$$dir

FORCE:

## bench: the performance budgets, one line per figure
bench: tools
	@out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	status=0; $(GO) test -p 1 -run '^$$' -bench 'BenchmarkColdStart|BenchmarkColdRequest|BenchmarkWarmRequest|BenchmarkWarmCachedRequest|BenchmarkCacheRatios|BenchmarkJobsBudget|BenchmarkMailPipeline|BenchmarkCapacitySimulation|BenchmarkCalendarSync|BenchmarkContactFigures' -benchtime=1x -timeout 30m \
		./functions ./functions/routes/contacts ./functions/jobs/contactextraction ./functions/jobs/emailsync ./functions/jobs/calendarsync >"$$out" 2>&1 || status=$$?; \
	grep -E '^[a-z_0-9-]+ [0-9.]+ ' "$$out" || true; \
	if [ $$status -ne 0 ]; then echo "benchmarks failed:"; grep -E -A5 '^(--- FAIL|FAIL|panic)' "$$out"; exit $$status; fi

## synth: build the functions, then synthesize the CloudFormation template into cdk.out
##        (offline, no AWS credentials needed)
synth: tools build
	$(CDK) synth $(CDK_CONTEXT) --quiet --no-notices

## diff: build, then show what a deploy would change
diff: tools build
	$(CDK) diff $(CDK_CONTEXT) --no-notices

## deploy: build, then deploy the stage (STAGE=dev|prod, APP_URL, GOOGLE_CLIENT_ID, ALARM_EMAIL, FEATURES,
##         GOOGLE_PUBSUB_TOPIC, GOOGLE_PUSH_SERVICE_ACCOUNT and GOOGLE_PUBSUB_SUBSCRIPTION (Gmail push),
##         SECRETS_REVISION: change it to make running functions read their secrets again,
##         ALLOWED_ORIGINS, DOMAIN_NAME with HOSTED_ZONE_ID or CERTIFICATE_ARN)
deploy: tools build
	$(CDK) deploy $(CDK_CONTEXT) --no-notices

## bootstrap: prepare the account and region of the current credentials for CDK deploys (once)
bootstrap: tools
	$(CDK) bootstrap --no-notices

## tools: the pinned Node tools (SQS emulator, CDK CLI, Redocly, openapi-typescript, tsc, puppeteer-core)
##        from package-lock.json
tools: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

clean:
	rm -rf $(BUILD_DIR) cdk.out
