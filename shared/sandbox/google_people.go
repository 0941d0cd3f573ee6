package sandbox

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// GooglePerson is a person in someone's sandbox Google Contacts.
type GooglePerson struct {
	// ResourceName is set by AddPerson when empty ("people/c…").
	ResourceName          string
	GivenName, FamilyName string
	Emails                []string
	// Company and JobTitle are the person's current organization.
	Company, JobTitle string
	Phones            []string
	URLs              []string
	// PhotoURL is a photo of the person; empty answers Google's default
	// picture (a letter), marked default.
	PhotoURL string
}

// peopleBook is one person's Google Contacts. Like Google's, searches
// read a cache that a search with an empty query (the warm-up Google asks
// clients to send first) brings up to date: they see the contacts there
// were at the last warm-up, and none before the first.
type peopleBook struct {
	people []*GooglePerson
	warm   int
}

// The People API's person fields that searchContacts's readMask may name.
var personFields = []string{"addresses", "ageRanges", "biographies", "birthdays", "calendarUrls", "clientData",
	"coverPhotos", "emailAddresses", "events", "externalIds", "genders", "imClients", "interests", "locales",
	"locations", "memberships", "metadata", "miscKeywords", "names", "nicknames", "occupations", "organizations",
	"phoneNumbers", "photos", "relations", "sipAddresses", "skills", "urls", "userDefined"}

const readMaskHelp = "Valid paths are documented at https://developers.google.com/people/api/rest/v1/people/get."

func (g *Google) book(email string) *peopleBook {
	if g.books == nil {
		g.books = map[string]*peopleBook{}
	}
	key := strings.ToLower(email)
	b, ok := g.books[key]
	if !ok {
		b = &peopleBook{}
		g.books[key] = b
	}
	return b
}

// AddPerson adds p to the Google Contacts of the person with email and
// returns its resource name. Searches find it after their next warm-up.
func (g *Google) AddPerson(email string, p GooglePerson) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.book(email)
	if p.ResourceName == "" {
		p.ResourceName = fmt.Sprintf("people/c%d", 4000000000000000000+len(b.people)*7919+len(g.books))
	}
	b.people = append(b.people, &p)
	return p.ResourceName
}

// people serves the People API methods with the access tokens the
// sandbox issued, when they carry a contacts scope; calls count as
// "people" and "people <method>".
func (g *Google) people(h func(w http.ResponseWriter, r *http.Request, b *peopleBook)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		method := r.URL.Path[strings.LastIndexByte(r.URL.Path, ':')+1:]
		u, ok := g.apiCall(w, r, apiMethod{
			service: "people.googleapis.com", short: "people", method: method,
			rpc:    "google.people.v1.PeopleService." + strings.ToUpper(method[:1]) + method[1:],
			scopes: peopleScopes, fail: &g.peopleFail,
		})
		if !ok {
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		h(w, r, g.book(u.Email))
	}
}

// peopleSearch answers people.searchContacts: the contacts of the warm
// cache whose names, email addresses, phone numbers or organizations
// have a word starting with the query, case-insensitively, with the
// fields of readMask. An empty query warms the cache and finds nothing.
func (g *Google) peopleSearch(w http.ResponseWriter, r *http.Request, b *peopleBook) {
	q := r.URL.Query()
	mask := strings.Split(q.Get("readMask"), ",")
	if q.Get("readMask") == "" {
		gmailError(w, http.StatusBadRequest, "readMask is required. Please specify one or more valid paths. "+readMaskHelp, "badRequest")
		return
	}
	for _, p := range mask {
		if !slices.Contains(personFields, strings.TrimSpace(p)) {
			gmailError(w, http.StatusBadRequest, fmt.Sprintf("Invalid readMask path %q. %s", p, readMaskHelp), "badRequest")
			return
		}
	}
	size := 10
	if s := q.Get("pageSize"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			gmailError(w, http.StatusBadRequest, "Invalid pageSize.", "badRequest")
			return
		}
		if v > 0 {
			size = min(v, 30)
		}
	}
	query := strings.ToLower(strings.TrimSpace(q.Get("query")))
	if query == "" {
		b.warm = len(b.people)
		writeGmail(w, map[string]any{})
		return
	}
	var results []map[string]any
	for _, p := range b.people[:b.warm] {
		if len(results) < size && p.matches(query) {
			results = append(results, map[string]any{"person": p.json(mask)})
		}
	}
	body := map[string]any{}
	if len(results) > 0 {
		body["results"] = results
	}
	writeGmail(w, body)
}

// matches reports whether a word of the person's searchable fields starts
// with query.
func (p *GooglePerson) matches(query string) bool {
	values := append([]string{p.GivenName + " " + p.FamilyName, p.Company}, p.Emails...)
	values = append(values, p.Phones...)
	for _, v := range values {
		v = strings.ToLower(v)
		for i := range v {
			if (i == 0 || unicode.IsSpace(rune(v[i-1]))) && strings.HasPrefix(v[i:], query) {
				return true
			}
		}
	}
	return false
}

// json is the person as the People API answers it, with the fields of
// mask.
func (p *GooglePerson) json(mask []string) map[string]any {
	id := strings.TrimPrefix(p.ResourceName, "people/c")
	meta := func(primary bool) map[string]any {
		m := map[string]any{"source": map[string]any{"type": "CONTACT", "id": id}}
		if primary {
			m["primary"] = true
		}
		return m
	}
	out := map[string]any{"resourceName": p.ResourceName, "etag": "%EgcBAgkLLjc9GgQBAgUHIgx" + id}
	list := func(field string, values []string, item func(string) map[string]any) {
		var items []map[string]any
		for i, v := range values {
			it := item(v)
			it["metadata"] = meta(i == 0)
			items = append(items, it)
		}
		if len(items) > 0 {
			out[field] = items
		}
	}
	for _, f := range mask {
		switch strings.TrimSpace(f) {
		case "names":
			if display := strings.TrimSpace(p.GivenName + " " + p.FamilyName); display != "" {
				list("names", []string{display}, func(d string) map[string]any {
					return map[string]any{"displayName": d, "givenName": p.GivenName, "familyName": p.FamilyName,
						"displayNameLastFirst": strings.Trim(p.FamilyName+", "+p.GivenName, ", "), "unstructuredName": d}
				})
			}
		case "emailAddresses":
			list("emailAddresses", p.Emails, func(e string) map[string]any {
				return map[string]any{"value": e, "type": "work", "formattedType": "Work"}
			})
		case "organizations":
			if p.Company != "" || p.JobTitle != "" {
				list("organizations", []string{p.Company}, func(c string) map[string]any {
					o := map[string]any{"type": "work", "formattedType": "Work", "current": true}
					if c != "" {
						o["name"] = c
					}
					if p.JobTitle != "" {
						o["title"] = p.JobTitle
					}
					return o
				})
			}
		case "phoneNumbers":
			list("phoneNumbers", p.Phones, func(n string) map[string]any {
				return map[string]any{"value": n, "type": "mobile", "formattedType": "Mobile"}
			})
		case "urls":
			list("urls", p.URLs, func(u string) map[string]any {
				return map[string]any{"value": u, "type": "homePage", "formattedType": "Home Page"}
			})
		case "photos":
			photo := map[string]any{"url": p.PhotoURL}
			if p.PhotoURL == "" {
				photo = map[string]any{"url": "https://lh3.googleusercontent.com/cm/sandbox-default-" + id, "default": true}
			}
			photo["metadata"] = meta(true)
			out["photos"] = []map[string]any{photo}
		}
	}
	return out
}
