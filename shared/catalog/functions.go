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
}

var schedules = []Schedule{}
