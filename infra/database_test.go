package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
)

// joined resolves a template Fn::Join of strings and one attribute,
// putting attr where the attribute is; it returns the attribute's
// resource and name too.
func joined(t *testing.T, v any, attr string) (s, resource, name string) {
	t.Helper()
	j, ok := v.(map[string]any)["Fn::Join"].([]any)
	if !ok || len(j) != 2 {
		t.Fatalf("%v is not an Fn::Join", v)
	}
	var b strings.Builder
	for _, part := range asSlice(j[1]) {
		switch p := part.(type) {
		case string:
			b.WriteString(p)
		case map[string]any:
			ga := strs(p["Fn::GetAtt"])
			if len(ga) != 2 || resource != "" {
				t.Fatalf("part %v of %v", p, v)
			}
			resource, name = ga[0], ga[1]
			b.WriteString(attr)
		}
	}
	return b.String(), resource, name
}

// TestDatabaseConnections: in a stage without RDS Proxy every function
// connects to the instance's endpoint with TLS verified against the RDS
// certificate authorities (a URL shared/db and shared/config accept),
// with an IAM token as crm_app, and migrate with the master secret's
// password as crm; in a stage with one, to the proxy with the system's
// trust store and IAM tokens only.
func TestDatabaseConnections(t *testing.T) {
	for _, stage := range []string{"dev", "prod"} {
		t.Run(stage, func(t *testing.T) {
			s := synth(t, "real", stage, realCatalog)
			instance := s.ofType("AWS::RDS::DBInstance")[0]
			target, attr, port := instance, "Endpoint.Address", instancePort
			if s.settings.DBProxy {
				target, attr, port = s.ofType("AWS::RDS::DBProxy")[0], "Endpoint", proxyPort
			}
			const host = "crm.abc123.us-east-1.rds.amazonaws.com"
			masterSecret := s.logicalID(s.stack.DatabaseSecret)
			checked := 0
			for _, fn := range s.fns {
				if !fn.Needs(catalog.Database) {
					continue
				}
				checked++
				env := s.env(fn.Name)
				url, res, name := joined(t, env[config.VarDatabaseURL], host)
				if res != target || name != attr {
					t.Errorf("%s: DATABASE_URL on %s.%s, want %s.%s", fn.Name, res, name, target, attr)
				}
				user := databaseUser(fn)
				want := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=verify-full", user, host, port, dbName)
				if !s.settings.DBProxy {
					want += "&sslrootcert=" + db.RDSRootCert
				}
				if url != want {
					t.Errorf("%s: DATABASE_URL %s, want %s", fn.Name, url, want)
				}
				cc, err := db.ParseConfig(url)
				if err != nil {
					t.Fatalf("%s: %v", fn.Name, err)
				}
				if (cc.TLSConfig.RootCAs != nil) == s.settings.DBProxy || cc.TLSConfig.ServerName != host {
					t.Errorf("%s: TLS roots %v, server name %q: want the RDS CAs exactly without a proxy", fn.Name, cc.TLSConfig.RootCAs != nil, cc.TLSConfig.ServerName)
				}

				password := !s.settings.DBProxy && fn.Name == catalog.Migrate
				secret := firstRef(env[config.VarDatabaseSecret])
				if iam := env[config.VarDatabaseIAMAuth] == "true"; iam == password || (secret == masterSecret) != password {
					t.Errorf("%s: DATABASE_IAM_AUTH %v, DATABASE_SECRET %q: want the master secret's password %v", fn.Name, env[config.VarDatabaseIAMAuth], secret, password)
				}
				// What the function is configured with passes its own
				// configuration checks (the secret's value stands in).
				vars := map[string]string{"APP_ENV": "production", config.VarDatabaseURL: url}
				if password {
					vars[config.VarDatabaseSecret] = `{"username":"` + dbUser + `","password":"pw"}`
				} else {
					vars[config.VarDatabaseIAMAuth] = "true"
				}
				dbOnly := catalog.Function{Name: fn.Name, Uses: []catalog.Resource{catalog.Database}}
				if _, err := config.Load(context.Background(), dbOnly, config.WithEnv(vars)); err != nil {
					t.Errorf("%s: %v", fn.Name, err)
				}
			}
			if checked == 0 {
				t.Fatal("no function uses the database")
			}

			// Without a proxy, the instance ends sessions frozen
			// environments leave idle; a proxy's are its own to keep.
			groups := s.ofType("AWS::RDS::DBParameterGroup")
			if len(groups) != 1 {
				t.Fatalf("%d parameter groups", len(groups))
			}
			params, _ := s.resources[groups[0]].Properties["Parameters"].(map[string]any)
			want := map[bool]any{false: fmt.Sprint(idleSessionTimeout.Milliseconds()), true: nil}[s.settings.DBProxy]
			if params["idle_session_timeout"] != want || params["rds.force_ssl"] != "1" {
				t.Errorf("parameters %v: want idle_session_timeout %v and rds.force_ssl", params, want)
			}
		})
	}
}

// TestDatabaseIngress: the instance's port admits the functions only when
// they connect to it, the proxy otherwise, and the secret rotation
// function; nothing is open to an address range.
func TestDatabaseIngress(t *testing.T) {
	for _, stage := range []string{"dev", "prod"} {
		t.Run(stage, func(t *testing.T) {
			s := synth(t, "real", stage, realCatalog)
			instance := s.ofType("AWS::RDS::DBInstance")[0]
			instanceSG := s.securityGroup(t, "DatabaseSecurityGroup")
			functionsSG := s.securityGroup(t, "FunctionsSecurityGroup")
			want := map[string]bool{functionsSG: !s.settings.DBProxy}
			if s.settings.DBProxy {
				want[s.securityGroup(t, "ProxySecurityGroup")] = true
			}
			from := map[string]int{}
			for _, id := range s.ofType("AWS::EC2::SecurityGroupIngress") {
				p := s.resources[id].Properties
				if firstRef(p["GroupId"]) != instanceSG {
					continue
				}
				if p["CidrIp"] != nil || p["CidrIpv6"] != nil || !instancePortOf(p["FromPort"], instance) || !instancePortOf(p["ToPort"], instance) {
					t.Errorf("%s: %v", id, p)
				}
				from[firstRef(p["SourceSecurityGroupId"])]++
			}
			if n := len(asSlice(s.resources[instanceSG].Properties["SecurityGroupIngress"])); n != 0 {
				t.Errorf("the instance's security group has %d inline rules", n)
			}
			rotation := 0
			for sg, n := range from {
				switch {
				case n != 1:
					t.Errorf("%d rules from %s", n, sg)
				case want[sg]:
					delete(want, sg)
				case strings.Contains(sg, "Rotation"):
					rotation++
				default:
					t.Errorf("the instance admits %s", sg)
				}
			}
			for sg, w := range want {
				if w {
					t.Errorf("the instance does not admit %s", sg)
				}
			}
			if rotation != 1 {
				t.Errorf("%d rotation functions reach the instance, want 1 (from %v)", rotation, from)
			}
		})
	}
}

// securityGroup is the logical id of the one security group whose
// construct id is id.
func (s *synthesized) securityGroup(t *testing.T, id string) string {
	t.Helper()
	var found []string
	for _, sg := range s.ofType("AWS::EC2::SecurityGroup") {
		if strings.HasPrefix(sg, id) && len(sg) == len(id)+8 {
			found = append(found, sg)
		}
	}
	if len(found) != 1 {
		t.Fatalf("security groups %s: %v", id, found)
	}
	return found[0]
}

// instancePortOf: a rule's port is the instance's, as a number or as the
// instance's Endpoint.Port.
func instancePortOf(v any, instance string) bool {
	if m, ok := v.(map[string]any); ok {
		return fmt.Sprint(m["Fn::GetAtt"]) == fmt.Sprint([]any{instance, "Endpoint.Port"})
	}
	return num(v) == instancePort
}
