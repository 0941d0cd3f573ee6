package config

import (
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/personalcrm/core/shared/catalog"
)

// QueueURLPrefix starts the name of every queue URL variable.
const QueueURLPrefix = "QUEUE_URL_"

// QueueURLVar names the variable holding the SQS queue URL of a job type:
// email-sync -> QUEUE_URL_EMAIL_SYNC.
func QueueURLVar(jobType string) string {
	return QueueURLPrefix + strings.ToUpper(strings.ReplaceAll(jobType, "-", "_"))
}

// validateJobs reads the queue URLs and checks the job settings. In
// production a function needs the URL of every queue it sends to, a job
// the URL of its own queue (to delay its retries), and one that reads the
// queues' depths (QueueStats) the URL of every queue.
func validateJobs(cfg *Config, vars map[string]string, p *problemList) {
	prod := cfg.Env == Production
	fn := cfg.Function

	known := map[string]string{} // variable -> job type
	for _, j := range catalog.Jobs() {
		known[QueueURLVar(j.Name)] = j.Name
	}
	var names []string
	for k := range vars {
		if strings.HasPrefix(k, QueueURLPrefix) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		raw := vars[name]
		job, ok := known[name]
		switch {
		case !ok:
			p.add(name, "names no job type of the catalog")
			continue
		case raw == "":
			continue
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") == "":
			p.add(name, "must be an SQS queue URL such as https://sqs.eu-west-1.amazonaws.com/123456789012/queue")
			continue
		case prod && u.Scheme != "https":
			p.add(name, "must use https in production")
			continue
		}
		if cfg.QueueURLs == nil {
			cfg.QueueURLs = map[string]string{}
		}
		cfg.QueueURLs[job] = raw
	}
	if prod {
		needed := append([]string(nil), fn.Enqueues...)
		if fn.Kind == catalog.Job {
			needed = append(needed, fn.Name)
		}
		if fn.Needs(catalog.QueueStats) {
			for _, j := range catalog.Jobs() {
				needed = append(needed, j.Name)
			}
		}
		for _, job := range needed {
			if vars[QueueURLVar(job)] == "" {
				p.add(QueueURLVar(job), "required in production: the SQS queue URL of "+job)
			}
		}
	}

	if cfg.JobsRetentionDays < 1 || cfg.JobsRetentionDays > 3650 {
		p.add(VarJobsRetentionDays, "must be a number of days between 1 and 3650")
	}
	var patterns []string
	for _, pat := range cfg.ExtractIgnore {
		pat = strings.ToLower(strings.TrimSpace(pat))
		if pat == "" {
			continue
		}
		if _, err := path.Match(pat, ""); err != nil {
			p.add(VarExtractIgnore, fmt.Sprintf("%q is not a valid pattern; use * and ? as in *@example.com", pat))
			break
		}
		patterns = append(patterns, pat)
	}
	cfg.ExtractIgnore = patterns
}
