package catalog

import "time"

// Names of the functions, for mains and handlers to look themselves up.
const (
	Health         = "health"
	OpenAPI        = "openapi"
	ContactsList   = "contacts-list"
	ContactsCreate = "contacts-create"
	ContactsGet    = "contacts-get"
	ContactsUpdate = "contacts-update"
	ContactsDelete = "contacts-delete"

	AuthLogin          = "auth-login"
	AuthCallback       = "auth-callback"
	AuthLogout         = "auth-logout"
	UserGet            = "user-get"
	UserUpdate         = "user-update"
	UserFeatures       = "user-features"
	UserSessionsList   = "user-sessions-list"
	UserSessionsRevoke = "user-sessions-revoke"
)

var functions = []Function{
	{
		Name: Health, Kind: Route, Method: "GET", Path: "/health", Access: Public, Tag: "system",
		Summary: "Report the health of the database, cache and queue",
		Uses:    []Resource{Database, Cache},
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
		Name: AuthLogin, Kind: Route, Method: "GET", Path: "/auth/google/login", Access: Public, Tag: "auth",
		Summary: "Start signing in with Google: redirect to Google's consent screen",
		Uses:    []Resource{Database, Google},
	},
	{
		Name: AuthCallback, Kind: Route, Method: "GET", Path: "/auth/google/callback", Access: Public, Tag: "auth",
		Summary: "Finish signing in with Google: store the account and start a session",
		Uses:    []Resource{Database, Google, TokenKeys},
		Timeout: 20 * time.Second,
	},
	{
		Name: AuthLogout, Kind: Route, Method: "POST", Path: "/auth/logout", Access: Signed, Tag: "auth",
		Summary: "Sign out: end this session",
		Uses:    []Resource{Database},
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
		Uses:    []Resource{Database},
	},
}

var schedules = []Schedule{}
