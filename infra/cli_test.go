package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/personalcrm/core/shared/catalog"
)

// TestCLISynthOffline runs what `make synth` runs after building the
// functions: the pinned CDK CLI (npx --no-install cdk synth, which runs
// `go run ./infra` from cdk.json), here on placeholder bootstraps. It
// runs without AWS credentials or configuration and, where the test may
// create a network namespace (root with unshare), without any network.
func TestCLISynthOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the CDK CLI and compiles the app")
	}
	root, err := repoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", ".bin", "cdk")); err != nil {
		t.Fatal("the pinned CDK CLI is not installed: run `make tools` (npm ci)")
	}
	assets := t.TempDir()
	for _, fn := range catalog.All() {
		if err := os.MkdirAll(filepath.Join(assets, fn.Name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(assets, fn.Name, "bootstrap"), []byte("placeholder "+fn.Name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir() // no ~/.aws, no CDK cache

	for _, c := range []struct {
		stage   string
		context []string
	}{
		{"dev", nil},
		{"prod", []string{"-c", "appUrl=https://app.example.com/", "-c", "googleClientId=1234-abc.apps.googleusercontent.com", "-c", "alarmEmail=ops@example.com"}},
		// On a custom domain, both ways, with further web apps.
		{"dev", []string{"-c", "domainName=api.example.com", "-c", "hostedZoneId=" + testHostedZone,
			"-c", "allowedOrigins=https://app.example.com,https://admin.example.com"}},
		{"dev", []string{"-c", "domainName=api.example.com", "-c", "certificateArn=" + testCertificateARN}},
	} {
		t.Run(strings.Join(append([]string{c.stage}, c.context...), " "), func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"--no-install", "cdk", "synth", "-c", "stage=" + c.stage, "-c", "assetRoot=" + assets,
				"--quiet", "--no-notices", "-o", out}, c.context...)
			cmd := offline(t, "npx", args...)
			cmd.Dir = root
			cmd.Env = cliEnv(home)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("cdk synth: %v\n%s", err, b)
			}
			b, err := os.ReadFile(filepath.Join(out, "crm-"+c.stage+".template.json"))
			if err != nil {
				t.Fatal(err)
			}
			var tpl struct {
				Resources map[string]struct {
					Type       string
					Properties map[string]any
				}
			}
			if err := json.Unmarshal(b, &tpl); err != nil {
				t.Fatal(err)
			}
			ours := 0
			for _, r := range tpl.Resources {
				if r.Type == "AWS::Lambda::Function" && r.Properties["Runtime"] == "provided.al2023" {
					ours++
				}
			}
			if ours != len(catalog.All()) {
				t.Errorf("%d functions in the template, want %d", ours, len(catalog.All()))
			}
			domains := 0
			for _, r := range tpl.Resources {
				if r.Type == "AWS::ApiGatewayV2::DomainName" {
					domains++
				}
			}
			if want := strings.Count(strings.Join(c.context, " "), "domainName="); domains != want {
				t.Errorf("%d custom domains in the template, want %d", domains, want)
			}
		})
	}

	// prod refuses to synthesize without what identifies the deployment.
	cmd := offline(t, "npx", "--no-install", "cdk", "synth", "-c", "stage=prod", "-c", "assetRoot="+assets, "--quiet", "--no-notices", "-o", t.TempDir())
	cmd.Dir = root
	cmd.Env = cliEnv(home)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "appUrl is required") {
		t.Errorf("prod without appUrl: %v\n%s", err, b)
	}
}

// cliEnv is the environment of the CLI: this process's, without anything
// that could reach an AWS account, and with the pinned Node first.
func cliEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "CDK_") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "GOFLAGS=-mod=readonly", "GOPROXY=off",
		"CDK_DISABLE_CLI_TELEMETRY=true", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20",
		"GOCACHE="+goEnv("GOCACHE"), "GOMODCACHE="+goEnv("GOMODCACHE"))
}

func goEnv(name string) string {
	b, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// offline runs the command in a network namespace of its own, which has
// no network at all, when this process may make one.
func offline(t *testing.T, name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		if unshare, err := exec.LookPath("unshare"); err == nil && exec.Command(unshare, "-n", "true").Run() == nil {
			return exec.Command(unshare, append([]string{"-n", "--", name}, args...)...)
		}
	}
	t.Log("no network namespace: running with the network, still without AWS credentials")
	return exec.Command(name, args...)
}
