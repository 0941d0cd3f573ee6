package catalog

import "time"

// Names of the functions, for mains and handlers to look themselves up.
const (
	Health           = "health"
	OpenAPI          = "openapi"
	ContactsList     = "contacts-list"
	ContactsCreate   = "contacts-create"
	ContactsGet      = "contacts-get"
	ContactsUpdate   = "contacts-update"
	ContactsDelete   = "contacts-delete"
	ContactsEnrich   = "contacts-enrich"
	ContactsTimeline = "contacts-timeline"

	AuthLogin             = "auth-login"
	AuthCallback          = "auth-callback"
	AuthLogout            = "auth-logout"
	UserGet               = "user-get"
	UserUpdate            = "user-update"
	UserFeatures          = "user-features"
	UserSessionsList      = "user-sessions-list"
	UserSessionsRevoke    = "user-sessions-revoke"
	UserSessionsRevokeAll = "user-sessions-revoke-all"
	JobsGet               = "jobs-get"

	// A person's own data: disconnecting Google, deleting the account,
	// exporting.
	UserGoogleDisconnect = "user-google-disconnect"
	UserDelete           = "user-delete"
	UserExport           = "user-export"

	EmailsList = "emails-list"
	EmailsGet  = "emails-get"
	EmailsSync = "emails-sync"

	AIAnalyze      = "ai-analyze"
	AIInsightsList = "ai-insights-list"

	WebhooksGmail = "webhooks-gmail"

	CalendarSyncRequest = "calendar-sync-request"

	// Job types: each is a queue and the Lambda that consumes it.
	EmailSync         = "email-sync"
	ContactExtraction = "contact-extraction"
	Enrichment        = "enrichment"
	AIAnalysis        = "ai-analysis"
	CalendarSync      = "calendar-sync"

	// Operations.
	Migrate      = "migrate"
	OutboxRelay  = "outbox-relay"
	Maintenance  = "maintenance"
	SyncAccounts = "sync-accounts"
	GmailWatch   = "gmail-watch"
)

var functions = []Function{
	{
		Name: Health, Kind: Route, Method: "GET", Path: "/health", Access: Public, Tag: "system",
		Summary: "Report whether the database, cache and queue answer",
		Uses:    []Resource{Database, Cache, QueueStats},
		// Per client IP: ample for uptime probes and load balancers, and
		// the checks behind it run at most every few seconds anyway.
		Limit: &Limit{Requests: 60, Per: time.Minute, Burst: 20},
	},
	{
		Name: OpenAPI, Kind: Route, Method: "GET", Path: "/openapi.json", Access: Public, Tag: "system",
		Summary:  "The OpenAPI 3.1 document of this API",
		MemoryMB: 128,
	},
	{
		Name: ContactsList, Kind: Route, Method: "GET", Path: "/v1/contacts", Access: Signed, Tag: "contacts",
		Summary: "List and search the user's contacts",
		Uses:    []Resource{Database, Cache},
	},
	{
		Name: ContactsCreate, Kind: Route, Method: "POST", Path: "/v1/contacts", Access: Signed, Tag: "contacts",
		Summary: "Create a contact",
		Uses:    []Resource{Database, Cache},
		// Generous for a person typing, tight for a script filling the table.
		Limit: &Limit{Requests: 60, Per: time.Minute, Burst: 20},
	},
	{
		Name: ContactsGet, Kind: Route, Method: "GET", Path: "/v1/contacts/{id}", Access: Signed, Tag: "contacts",
		Summary: "Get one contact",
		Uses:    []Resource{Database, Cache},
	},
	{
		Name: ContactsTimeline, Kind: Route, Method: "GET", Path: "/v1/contacts/{id}/timeline", Access: Signed, Tag: "contacts",
		Summary: "The emails and meetings with a contact, newest first",
		Uses:    []Resource{Database},
	},
	{
		Name: ContactsUpdate, Kind: Route, Method: "PATCH", Path: "/v1/contacts/{id}", Access: Signed, Tag: "contacts",
		Summary: "Change some fields of a contact",
		Uses:    []Resource{Database, Cache},
	},
	{
		Name: ContactsDelete, Kind: Route, Method: "DELETE", Path: "/v1/contacts/{id}", Access: Signed, Tag: "contacts",
		Summary: "Delete a contact",
		Uses:    []Resource{Database, Cache},
	},
	{
		Name: ContactsEnrich, Kind: Route, Method: "POST", Path: "/v1/contacts/{id}/enrich", Access: Signed, Tag: "contacts",
		Summary:  "Enrich a contact from the user's Google Contacts: enqueue an enrichment job, one at a time per contact",
		Uses:     []Resource{Database},
		Enqueues: []string{Enrichment},
		Limit:    &Limit{Requests: 30, Per: time.Minute, Burst: 10},
		// Each enrichment calls the People API on the user's quota.
		CostBearing: true,
	},
	{
		Name: AuthLogin, Kind: Route, Method: "GET", Path: "/auth/google/login", Access: Public, Tag: "auth",
		Summary: "Start signing in with Google: redirect to Google's consent screen",
		Uses:    []Resource{Database, Google, Cache},
		// Per client IP: each login writes a sign-in state.
		Limit: &Limit{Requests: 30, Per: time.Minute, Burst: 10},
	},
	{
		Name: AuthCallback, Kind: Route, Method: "GET", Path: "/auth/google/callback", Access: Public, Tag: "auth",
		Summary: "Finish signing in with Google: store the account, start a session and the account's mail sync",
		Uses:    []Resource{Database, Google, TokenKeys, Cache},
		// The account's first mail and calendar syncs, enqueued with the
		// sign-in.
		Enqueues: []string{EmailSync, CalendarSync},
		Limit:    &Limit{Requests: 30, Per: time.Minute, Burst: 10},
		Timeout:  20 * time.Second,
	},
	{
		Name: AuthLogout, Kind: Route, Method: "POST", Path: "/auth/logout", Access: Signed, Tag: "auth",
		Summary: "Sign out: end this session",
		// The cache: signing out drops the session's cached lookup.
		Uses: []Resource{Database, Cache},
	},
	{
		Name: UserGet, Kind: Route, Method: "GET", Path: "/v1/user", Access: Signed, Tag: "user",
		Summary: "The signed-in user",
		Uses:    []Resource{Database},
	},
	{
		Name: UserUpdate, Kind: Route, Method: "PATCH", Path: "/v1/user", Access: Signed, Tag: "user",
		Summary: "Change the signed-in user's profile",
		Uses:    []Resource{Database},
	},
	{
		Name: UserFeatures, Kind: Route, Method: "GET", Path: "/v1/user/features", Access: Signed, Tag: "user",
		Summary: "The feature flags of the signed-in user",
		Uses:    []Resource{Database},
	},
	{
		Name: UserSessionsList, Kind: Route, Method: "GET", Path: "/v1/user/sessions", Access: Signed, Tag: "user",
		Summary: "The signed-in user's live sessions",
		Uses:    []Resource{Database},
	},
	{
		Name: UserSessionsRevoke, Kind: Route, Method: "DELETE", Path: "/v1/user/sessions/{id}", Access: Signed, Tag: "user",
		Summary: "End one of the signed-in user's sessions",
		// The cache: ending a session drops its cached lookup.
		Uses: []Resource{Database, Cache},
	},
	{
		Name: UserSessionsRevokeAll, Kind: Route, Method: "POST", Path: "/v1/user/sessions/revoke-all", Access: Signed, Tag: "user",
		Summary: "Sign out everywhere: end every session of the signed-in user, this one included",
		// The cache: ending the sessions drops their cached lookups.
		Uses: []Resource{Database, Cache},
		// A person signs out everywhere rarely; a script must not churn
		// the sessions table.
		Limit: &Limit{Requests: 10, Per: time.Minute, Burst: 5},
	},
}

// Jobs: time-limited, retried with backoff up to MaxAttempts deliveries,
// then dead (their message in the type's dead-letter queue).
var jobFunctions = []Function{
	{
		Name: EmailSync, Kind: Job,
		Summary:  "Sync one mail account and enqueue contact extraction for new mail",
		MemoryMB: 512, Timeout: 5 * time.Minute, MaxConcurrency: 5,
		MaxAttempts: 5, BatchSize: 1,
		Uses: []Resource{Database, Google, TokenKeys},
		// Itself: a run that leaves part of a mailbox for later enqueues
		// the job that continues.
		Enqueues: []string{ContactExtraction, EmailSync},
	},
	{
		Name: ContactExtraction, Kind: Job,
		Summary: "Find the people an email was exchanged with and record them as contacts",
		Timeout: 30 * time.Second, MaxAttempts: 5, BatchSize: 10,
		// Ten environments drain ~5,000 messages a second, far more than
		// email-sync produces, within the connection budget (CAPACITY.md).
		MaxConcurrency: 10,
		// The cache: its writes invalidate the user's cached contacts.
		Uses: []Resource{Database, Cache},
	},
	{
		Name: Enrichment, Kind: Job,
		Summary: "Fill a contact's details from the user's Google Contacts",
		Timeout: time.Minute, MaxConcurrency: 2, MaxAttempts: 3, BatchSize: 5,
		// The cache: its writes invalidate the user's cached contacts.
		Uses: []Resource{Database, Google, TokenKeys, Cache},
	},
	{
		Name: AIAnalysis, Kind: Job,
		Summary:  "Analyse a user's contacts and mail with a language model",
		MemoryMB: 512, Timeout: 5 * time.Minute, MaxConcurrency: 5,
		MaxAttempts: 3, BatchSize: 1,
		Uses: []Resource{Database, OpenAI},
	},
	{
		Name: CalendarSync, Kind: Job,
		Summary: "Sync one Google account's calendar and record its past meetings as interactions with contacts",
		// One environment: what is left of the connection budget
		// (CAPACITY.md). An incremental sync is a call or two and a few
		// statements, so one drains a schedule period's syncs.
		MemoryMB: 512, Timeout: 5 * time.Minute, MaxConcurrency: 1,
		MaxAttempts: 5, BatchSize: 1,
		// The cache: its writes invalidate the user's cached contacts.
		Uses: []Resource{Database, Google, TokenKeys, Cache},
		// Itself: a run that leaves part of a calendar for later enqueues
		// the job that continues.
		Enqueues: []string{CalendarSync},
	},
}

// Operations: run at deploy (migrate) or on a schedule.
var opFunctions = []Function{
	{
		Name: Migrate, Kind: Op,
		Summary: "Apply the database migrations; run at every deploy",
		Timeout: 5 * time.Minute, MaxConcurrency: 1,
		Uses: []Resource{Database},
	},
	{
		Name: OutboxRelay, Kind: Op,
		Summary: "Send jobs that are due and were not sent when their transaction committed",
		Timeout: time.Minute, MaxConcurrency: 1,
		Uses:     []Resource{Database},
		Enqueues: []string{EmailSync, ContactExtraction, Enrichment, AIAnalysis, CalendarSync},
	},
	{
		Name: SyncAccounts, Kind: Op,
		Summary: "Enqueue an incremental mail and calendar sync of every Google account that can sync and was not synced lately",
		Timeout: time.Minute, MaxConcurrency: 1,
		Uses:     []Resource{Database},
		Enqueues: []string{EmailSync, CalendarSync},
	},
	{
		Name: GmailWatch, Kind: Op,
		Summary: "Ask Gmail to publish the changes of every mailbox that takes push notifications to the Pub/Sub topic, " +
			"renewing the watches before they expire",
		Timeout: 5 * time.Minute, MaxConcurrency: 1,
		// The token keys: it opens the accounts' tokens to call Gmail.
		Uses: []Resource{Database, Google, TokenKeys},
	},
	{
		Name: Maintenance, Kind: Op,
		Summary: "Delete finished jobs past retention, expired sessions and expired verification tokens; " +
			"seal provider tokens sealed with an older key again with the newest",
		Timeout: 5 * time.Minute, MaxConcurrency: 1,
		// The token keys: it opens provider tokens and seals them again.
		Uses: []Resource{Database, TokenKeys},
	},
}

// jobRoutes are the routes of the job queue.
var jobRoutes = []Function{
	{
		Name: JobsGet, Kind: Route, Method: "GET", Path: "/v1/jobs/{id}", Access: Signed, Tag: "jobs",
		Summary: "Get the state of one of the user's jobs",
		Uses:    []Resource{Database},
	},
}

// emailRoutes are the routes of the user's synced mail.
var emailRoutes = []Function{
	{
		Name: EmailsList, Kind: Route, Method: "GET", Path: "/v1/emails", Access: Signed, Tag: "emails",
		Summary: "List and search the user's synced emails, newest first",
		Uses:    []Resource{Database},
	},
	{
		Name: EmailsGet, Kind: Route, Method: "GET", Path: "/v1/emails/{id}", Access: Signed, Tag: "emails",
		Summary: "Get one synced email",
		Uses:    []Resource{Database},
	},
	{
		Name: EmailsSync, Kind: Route, Method: "POST", Path: "/v1/emails/sync", Access: Signed, Tag: "emails",
		Summary:  "Sync the user's Google mail now: enqueue an email-sync job, one at a time per account",
		Uses:     []Resource{Database},
		Enqueues: []string{EmailSync},
		Limit:    &Limit{Requests: 10, Per: time.Minute, Burst: 5},
		// A full sync reads up to 2000 messages from Gmail.
		CostBearing: true,
	},
}

// calendarRoutes are the routes of the user's calendar.
var calendarRoutes = []Function{
	{
		Name: CalendarSyncRequest, Kind: Route, Method: "POST", Path: "/v1/calendar/sync", Access: Signed, Tag: "calendar",
		Summary:  "Sync the user's Google Calendar now: enqueue a calendar-sync job, one at a time per account",
		Uses:     []Resource{Database},
		Enqueues: []string{CalendarSync},
		Limit:    &Limit{Requests: 10, Per: time.Minute, Burst: 5},
		// A full sync reads 15 months of events from Google Calendar.
		CostBearing: true,
	},
}

// aiRoutes are the routes of AI analysis.
var aiRoutes = []Function{
	{
		Name: AIAnalyze, Kind: Route, Method: "POST", Path: "/v1/ai/analyze", Access: Signed, Tag: "ai",
		Summary: "Ask for an AI analysis (contact-summary, ...): enqueue an ai-analysis job, one at a time per type and contact",
		// The cache: the rate limiter's backend.
		Uses:     []Resource{Database, Cache},
		Enqueues: []string{AIAnalysis},
		// Each analysis is a paid model call.
		Limit:       &Limit{Requests: 60, Per: time.Hour, Burst: 10},
		CostBearing: true,
	},
	{
		Name: AIInsightsList, Kind: Route, Method: "GET", Path: "/v1/ai/insights", Access: Signed, Tag: "ai",
		Summary: "List the user's AI insights, newest first",
		Uses:    []Resource{Database},
	},
}

// webhookRoutes are the routes outside services call.
var webhookRoutes = []Function{
	{
		Name: WebhooksGmail, Kind: Route, Method: "POST", Path: "/webhooks/gmail", Access: Public, Tag: "webhooks",
		Summary: "Receive a Gmail push notification from Pub/Sub: enqueue an incremental email-sync of the mailbox's accounts, " +
			"one at a time per account",
		Uses:     []Resource{Database},
		Enqueues: []string{EmailSync},
		// Per client IP: Pub/Sub pushes from a few Google addresses, and
		// answers a 429 by backing off and redelivering. A mailbox's push
		// adds at most one sync (the singleton), so this is ample.
		Limit: &Limit{Requests: 600, Per: time.Minute, Burst: 100},
	},
}

// dataRoutes are the routes of what a person decides about their own data.
// Each is rare for a person, and costly: the limits stop a script, never
// a person.
var dataRoutes = []Function{
	{
		Name: UserGoogleDisconnect, Kind: Route, Method: "POST", Path: "/v1/user/google/disconnect", Access: Signed, Tag: "user",
		Summary: "Disconnect the user's Google account: revoke the grant at Google, stop the Gmail watch, delete the tokens; " +
			"contacts, mail and insights stay",
		// Google: the revocation and the watch; the token keys open the
		// tokens to revoke.
		Uses:    []Resource{Database, Google, TokenKeys},
		Timeout: 20 * time.Second,
		Limit:   &Limit{Requests: 10, Per: time.Hour, Burst: 5},
	},
	{
		Name: UserDelete, Kind: Route, Method: "DELETE", Path: "/v1/user", Access: Signed, Tag: "user",
		Summary: "Delete the signed-in user's account and everything that is theirs, after revoking their Google grant",
		// The cache: what it holds of the user, their sessions included,
		// goes with them.
		Uses:    []Resource{Database, Google, TokenKeys, Cache},
		Timeout: 20 * time.Second,
		Limit:   &Limit{Requests: 10, Per: time.Hour, Burst: 3},
	},
	{
		Name: UserExport, Kind: Route, Method: "GET", Path: "/v1/user/export", Access: Signed, Tag: "user",
		Summary: "Everything the system holds about the signed-in user, as one JSON document",
		Uses:    []Resource{Database},
		// Within API Gateway's 30 seconds.
		Timeout: 25 * time.Second,
		Limit:   &Limit{Requests: 10, Per: time.Hour, Burst: 3},
	},
}

// MailSyncPeriod is how often every account's mail is synced without
// anyone asking. A quarter of an hour brings new correspondents in within
// the hour they write, while an idle mailbox costs one Gmail history call
// per period (far within Gmail's per-user quota) and a sync (at most
// email-sync's five minutes) ends long before the next is due.
const MailSyncPeriod = 15 * time.Minute

// jobSchedules run the queue's periodic work.
var jobSchedules = []Schedule{
	{
		Name: "outbox", Every: time.Minute, Target: OutboxRelay,
		Summary: "Send jobs left unsent in the outbox and delayed jobs that are now due",
	},
	{
		Name: "maintenance", Every: 24 * time.Hour, Target: Maintenance,
		Summary: "Delete finished jobs past retention, expired sessions and expired verification tokens; " +
			"seal provider tokens again with the newest key",
	},
	{
		Name: "mail-sync", Every: MailSyncPeriod, Target: SyncAccounts,
		Summary: "Enqueue a mail sync of every account not synced in the last period",
	},
	{
		// Gmail's watches last 7 days; Google advises renewing them daily.
		Name: "gmail-watch", Every: 24 * time.Hour, Target: GmailWatch,
		Summary: "Renew the Gmail watch of every mailbox that takes push notifications",
	},
}

// The job queue's entries are kept in lists of their own; they follow the
// routes above, so All still lists routes first.
func init() {
	functions = append(functions, jobRoutes...)
	functions = append(functions, emailRoutes...)
	functions = append(functions, calendarRoutes...)
	functions = append(functions, aiRoutes...)
	functions = append(functions, webhookRoutes...)
	functions = append(functions, dataRoutes...)
	functions = append(functions, jobFunctions...)
	functions = append(functions, opFunctions...)
	schedules = append(schedules, jobSchedules...)
}

var schedules = []Schedule{}
