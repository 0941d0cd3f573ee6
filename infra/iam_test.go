package main

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/personalcrm/core/shared/catalog"
)

// TestLeastPrivilege walks every catalog function's role in the template and
// checks it against the entry: no secret, queue or database it does not
// name, and everything it does name.
func TestLeastPrivilege(t *testing.T) {
	eachCatalog(t, func(t *testing.T, s *synthesized) {
		secrets := map[string]string{s.logicalID(s.stack.DatabaseSecret): "database credentials"}
		for v, sec := range s.stack.Secrets {
			secrets[s.logicalID(sec)] = v
		}
		queues := map[string]string{}
		dlqs := map[string]bool{}
		for job, q := range s.stack.Queues {
			queues[s.logicalID(q.queue)] = job
			queues[s.logicalID(q.dlq)] = job + " (dead letters)"
			dlqs[s.logicalID(q.dlq)] = true
		}
		// Functions connect to the proxy, or to the instance without one;
		// migrate, without a proxy, reads the master secret instead.
		database := s.ofType("AWS::RDS::DBInstance")[0]
		if proxies := s.ofType("AWS::RDS::DBProxy"); s.settings.DBProxy {
			database = proxies[0]
		}
		masterSecret := s.logicalID(s.stack.DatabaseSecret)
		cacheUser, cacheGroup := s.cacheUsers()

		for _, fn := range s.fns {
			fnID, r := s.fn(fn.Name)
			role := firstRef(r.Properties["Role"])
			logs := firstRef(r.Properties["LoggingConfig"].(map[string]any)["LogGroup"])
			allowedSecrets := map[string]bool{}
			for _, spec := range secretsOf(fn) {
				allowedSecrets[spec.Var] = true
			}
			sends := map[string]bool{}
			for _, j := range fn.Enqueues {
				sends[j] = true
			}

			granted := map[string]bool{} // what was found, to check nothing is missing
			for _, p := range s.rolePermissions(role) {
				what := p.Action + " on " + p.Resource
				for _, id := range strings.Split(p.Resource, ",") {
					switch {
					case id == masterSecret && !s.settings.DBProxy && databaseUser(fn) == dbUser:
						if p.Action != "secretsmanager:GetSecretValue" {
							t.Errorf("%s: %s: the master secret is only read", fn.Name, what)
						}
						granted["database"] = true
					case secrets[id] != "":
						if !allowedSecrets[secrets[id]] || p.Action != "secretsmanager:GetSecretValue" {
							t.Errorf("%s: %s (secret %s), which its entry does not name", fn.Name, what, secrets[id])
						}
						granted["secret "+secrets[id]] = true
					case queues[id] != "":
						job := queues[id]
						switch {
						case fn.Needs(catalog.QueueStats) && p.Action == "sqs:GetQueueAttributes":
							granted["stats "+job] = true
						case dlqs[id]:
							t.Errorf("%s: %s (queue %s): no function touches a dead-letter queue but to read its depth", fn.Name, what, job)
						case sends[job] && p.Action == "sqs:SendMessage":
							granted["send "+job] = true
						case fn.Kind == catalog.Job && job == fn.Name && strings.HasPrefix(p.Action, "sqs:") && p.Action != "sqs:SendMessage":
							granted[p.Action] = true
						default:
							t.Errorf("%s: %s (queue %s), which its entry does not name", fn.Name, what, job)
						}
					case id == cacheGroup || id == cacheUser:
						if p.Action != "elasticache:Connect" || !fn.Needs(catalog.Cache) {
							t.Errorf("%s: %s, but its entry does not use the cache", fn.Name, what)
						}
						granted[map[bool]string{true: "cache", false: "cache user"}[id == cacheGroup]] = true
					case id == database:
						if p.Action != "rds-db:connect" || !fn.Needs(catalog.Database) || (!s.settings.DBProxy && databaseUser(fn) == dbUser) {
							t.Errorf("%s: %s, but its entry does not use the database", fn.Name, what)
						}
						granted["database"] = true
					case id == logs:
						if !strings.HasPrefix(p.Action, "logs:") {
							t.Errorf("%s: %s", fn.Name, what)
						}
					case id == "*":
						if !strings.HasPrefix(p.Action, "xray:") {
							t.Errorf("%s: %s: only X-Ray may have no resource", fn.Name, what)
						}
					default:
						t.Errorf("%s: %s: unexpected resource", fn.Name, what)
					}
				}
			}

			var want []string
			for v := range allowedSecrets {
				want = append(want, "secret "+v)
			}
			for j := range sends {
				want = append(want, "send "+j)
			}
			if fn.Needs(catalog.Database) {
				want = append(want, "database")
			}
			if fn.Needs(catalog.Cache) {
				want = append(want, "cache", "cache user")
			}
			if fn.Kind == catalog.Job {
				want = append(want, "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage")
			}
			if fn.Needs(catalog.QueueStats) {
				for job := range s.stack.Queues {
					want = append(want, "stats "+job, "stats "+job+" (dead letters)")
				}
			}
			var missing []string
			for _, w := range want {
				if !granted[w] {
					missing = append(missing, w)
				}
			}
			if len(missing) > 0 {
				t.Errorf("%s (%s): missing %v", fn.Name, fnID, missing)
			}

			managed := fmt.Sprint(s.resources[role].Properties["ManagedPolicyArns"])
			if strings.Count(managed, "arn:") != 1 || !strings.Contains(managed, vpcAccessPolicy) {
				t.Errorf("%s: managed policies %s, want only the VPC access policy", fn.Name, managed)
			}
		}
	})
}

// TestNoOtherRoleReadsAppSecrets: outside the functions, nothing in the
// stack may read an application secret, send to a job queue or connect to
// the cache.
func TestNoOtherRoleReadsAppSecrets(t *testing.T) {
	eachCatalog(t, func(t *testing.T, s *synthesized) {
		fnRoles := map[string]bool{}
		for _, fn := range s.fns {
			_, r := s.fn(fn.Name)
			fnRoles[firstRef(r.Properties["Role"])] = true
		}
		watched := map[string]string{}
		for v, sec := range s.stack.Secrets {
			watched[s.logicalID(sec)] = "secret " + v
		}
		for job, q := range s.stack.Queues {
			watched[s.logicalID(q.queue)] = "queue " + job
		}
		user, group := s.cacheUsers()
		watched[user], watched[group] = "cache user", "cache"
		scheduleTargets := map[string]bool{}
		for _, id := range s.ofType("AWS::Scheduler::Schedule") {
			tg := s.resources[id].Properties["Target"].(map[string]any)
			scheduleTargets[firstRef(tg["RoleArn"])+"/"+firstRef(tg["Arn"])] = true
		}
		for _, role := range s.ofType("AWS::IAM::Role") {
			if fnRoles[role] {
				continue
			}
			for _, p := range s.rolePermissions(role) {
				for _, id := range strings.Split(p.Resource, ",") {
					if watched[id] != "" && !scheduleTargets[role+"/"+id] {
						t.Errorf("role %s: %s on %s", role, p.Action, watched[id])
					}
				}
			}
		}
	})
}

// permission is one allowed action on one resource: the logical ids the
// resource refers to (comma-separated, sorted) or its literal value.
type permission struct {
	Action, Resource string
}

// rolePermissions lists every action a role is allowed, from the policies
// attached to it and its inline policies.
func (s *synthesized) rolePermissions(role string) []permission {
	var docs []any
	for _, id := range s.ofType("AWS::IAM::Policy") {
		p := s.resources[id].Properties
		if refs(p["Roles"])[role] {
			docs = append(docs, p["PolicyDocument"])
		}
	}
	for _, p := range asSlice(s.resources[role].Properties["Policies"]) {
		docs = append(docs, p.(map[string]any)["PolicyDocument"])
	}
	seen := map[permission]bool{}
	for _, doc := range docs {
		for _, st := range statements(doc) {
			if st["Effect"] != "Allow" {
				continue
			}
			for _, a := range strs(st["Action"]) {
				for _, res := range listOf(st["Resource"]) {
					seen[permission{a, resourceName(res)}] = true
				}
			}
		}
	}
	var out []permission
	for p := range seen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func resourceName(res any) string {
	if s, ok := res.(string); ok {
		return s
	}
	var ids []string
	for id := range refs(res) {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

func statements(doc any) []map[string]any {
	d, _ := doc.(map[string]any)
	var out []map[string]any
	for _, st := range listOf(d["Statement"]) {
		out = append(out, st.(map[string]any))
	}
	return out
}

func listOf(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func strs(v any) []string {
	var out []string
	for _, x := range listOf(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// refs collects the logical ids a template value refers to (Ref and
// Fn::GetAtt), leaving out pseudo parameters.
func refs(v any) map[string]bool {
	out := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["Ref"].(string); ok && !strings.HasPrefix(r, "AWS::") {
				out[r] = true
			}
			if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) > 0 {
				out[fmt.Sprint(ga[0])] = true
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(v)
	return out
}

// firstRef is the one logical id a value refers to, or "" when it refers to
// none or several.
func firstRef(v any) string {
	r := refs(v)
	if len(r) != 1 {
		return ""
	}
	for id := range r {
		return id
	}
	return ""
}
