package main

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// The parts of an OpenAPI 3.1 document the reference page shows.
type (
	oaDocument struct {
		Info struct {
			Title       string `json:"title"`
			Version     string `json:"version"`
			Description string `json:"description"`
		} `json:"info"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas         map[string]*oaSchema `json:"schemas"`
			SecuritySchemes map[string]struct {
				Type        string `json:"type"`
				Scheme      string `json:"scheme"`
				In          string `json:"in"`
				Name        string `json:"name"`
				Description string `json:"description"`
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	oaOperation struct {
		OperationID string                `json:"operationId"`
		Summary     string                `json:"summary"`
		Description string                `json:"description"`
		Tags        []string              `json:"tags"`
		Parameters  []oaParameter         `json:"parameters"`
		RequestBody *oaBody               `json:"requestBody"`
		Responses   map[string]oaResponse `json:"responses"`
		Security    []map[string][]string `json:"security"`
	}
	oaParameter struct {
		Name        string    `json:"name"`
		In          string    `json:"in"`
		Description string    `json:"description"`
		Required    bool      `json:"required"`
		Schema      *oaSchema `json:"schema"`
	}
	oaBody struct {
		Description string             `json:"description"`
		Required    bool               `json:"required"`
		Content     map[string]oaMedia `json:"content"`
	}
	oaResponse struct {
		Description string             `json:"description"`
		Content     map[string]oaMedia `json:"content"`
	}
	oaMedia struct {
		Schema *oaSchema `json:"schema"`
	}
	oaSchema struct {
		Ref         string               `json:"$ref"`
		Type        any                  `json:"type"`
		Format      string               `json:"format"`
		Description string               `json:"description"`
		Items       *oaSchema            `json:"items"`
		Enum        []any                `json:"enum"`
		Properties  map[string]*oaSchema `json:"properties"`
		Required    []string             `json:"required"`
	}
)

// The reference page's view of the document.
type (
	docsPage struct {
		Title, Version, Description string
		Operations                  []docsOperation
		Schemas                     []docsSchema
		Security                    []docsField
	}
	docsOperation struct {
		Anchor, Method, Path, ID, Summary, Description string
		Tags                                           []string
		Auth                                           string
		Parameters                                     []docsField
		Body                                           []docsMedia
		Responses                                      []docsResponse
	}
	docsField struct {
		Name, In, Type, Description string
		Required                    bool
	}
	docsMedia struct {
		Type   string
		Schema docsType
	}
	docsResponse struct {
		Status, Description string
		Content             []docsMedia
	}
	// docsType is a schema's type as text, linked to the schema it
	// names, if any.
	docsType struct {
		Text, Link string
	}
	docsSchema struct {
		Name, Description string
		Fields            []docsSchemaField
	}
	docsSchemaField struct {
		Name, Description string
		Type              docsType
		Required          bool
	}
)

var methodOrder = []string{"get", "put", "post", "patch", "delete", "head", "options", "trace"}

// readDocs turns an OpenAPI document into the reference page's view:
// every operation by path and method, and every schema by name.
func readDocs(raw []byte) (*docsPage, error) {
	var d oaDocument
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("the OpenAPI document: %w", err)
	}
	p := &docsPage{Title: d.Info.Title, Version: d.Info.Version, Description: d.Info.Description}
	paths := make([]string, 0, len(d.Paths))
	for path := range d.Paths {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		for _, method := range methodOrder {
			raw, ok := d.Paths[path][method]
			if !ok {
				continue
			}
			var op oaOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("the OpenAPI document: %s %s: %w", method, path, err)
			}
			p.Operations = append(p.Operations, docsOp(method, path, op))
		}
	}
	names := make([]string, 0, len(d.Components.Schemas))
	for name := range d.Components.Schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := d.Components.Schemas[name]
		ds := docsSchema{Name: name, Description: s.Description}
		fields := make([]string, 0, len(s.Properties))
		for f := range s.Properties {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			ds.Fields = append(ds.Fields, docsSchemaField{Name: f, Description: s.Properties[f].Description,
				Type: typeOf(s.Properties[f]), Required: slices.Contains(s.Required, f)})
		}
		p.Schemas = append(p.Schemas, ds)
	}
	schemes := make([]string, 0, len(d.Components.SecuritySchemes))
	for name := range d.Components.SecuritySchemes {
		schemes = append(schemes, name)
	}
	sort.Strings(schemes)
	for _, name := range schemes {
		s := d.Components.SecuritySchemes[name]
		kind := s.Type
		switch {
		case s.Scheme != "":
			kind += " " + s.Scheme
		case s.In != "":
			kind += " in " + s.In + " " + s.Name
		}
		p.Security = append(p.Security, docsField{Name: name, Type: kind, Description: s.Description})
	}
	return p, nil
}

func docsOp(method, path string, op oaOperation) docsOperation {
	o := docsOperation{
		Anchor: "op-" + op.OperationID, Method: strings.ToUpper(method), Path: path, ID: op.OperationID,
		Summary: op.Summary, Description: op.Description, Tags: op.Tags, Auth: "none",
	}
	if op.OperationID == "" {
		o.Anchor = "op-" + method + strings.NewReplacer("/", "-", "{", "", "}", "").Replace(path)
	}
	var auths []string
	for _, req := range op.Security {
		for name := range req {
			auths = append(auths, name)
		}
	}
	if len(auths) > 0 {
		sort.Strings(auths)
		o.Auth = strings.Join(auths, " or ")
	}
	for _, prm := range op.Parameters {
		o.Parameters = append(o.Parameters, docsField{Name: prm.Name, In: prm.In, Type: typeOf(prm.Schema).Text,
			Description: prm.Description, Required: prm.Required || prm.In == "path"})
	}
	if op.RequestBody != nil {
		o.Body = media(op.RequestBody.Content)
	}
	codes := make([]string, 0, len(op.Responses))
	for code := range op.Responses {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		r := op.Responses[code]
		o.Responses = append(o.Responses, docsResponse{Status: code, Description: r.Description, Content: media(r.Content)})
	}
	return o
}

func media(content map[string]oaMedia) []docsMedia {
	types := make([]string, 0, len(content))
	for t := range content {
		types = append(types, t)
	}
	sort.Strings(types)
	out := make([]docsMedia, 0, len(types))
	for _, t := range types {
		out = append(out, docsMedia{Type: t, Schema: typeOf(content[t].Schema)})
	}
	return out
}

// typeOf describes a schema in a few words: the component it refers to,
// else its type (and format, items or values).
func typeOf(s *oaSchema) docsType {
	if s == nil {
		return docsType{Text: "any"}
	}
	if s.Ref != "" {
		name := s.Ref[strings.LastIndex(s.Ref, "/")+1:]
		return docsType{Text: name, Link: "#schema-" + name}
	}
	var t string
	switch v := s.Type.(type) {
	case string:
		t = v
	case []any:
		var parts []string
		for _, p := range v {
			parts = append(parts, fmt.Sprint(p))
		}
		t = strings.Join(parts, " or ")
	default:
		t = "any"
	}
	if t == "array" || strings.HasPrefix(t, "array ") {
		item := typeOf(s.Items)
		return docsType{Text: strings.Replace(t, "array", "array of "+item.Text, 1), Link: item.Link}
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	if len(s.Enum) > 0 {
		var vals []string
		for _, e := range s.Enum {
			vals = append(vals, fmt.Sprint(e))
		}
		t += ": " + strings.Join(vals, ", ")
	}
	return docsType{Text: t}
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} reference</title>
<link rel="stylesheet" href="/assets/local.css"></head><body>
<p><a href="/">Home</a> · <a href="/openapi.json">openapi.json</a></p>
<h1>{{.Title}} <small>{{.Version}}</small></h1>
<p>{{.Description}}</p>
<h2>Operations</h2>
<table id="operations"><thead><tr><th>Method</th><th>Path</th><th>Summary</th></tr></thead><tbody>
{{range .Operations}}<tr><td><code>{{.Method}}</code></td><td><a href="#{{.Anchor}}"><code>{{.Path}}</code></a></td><td>{{.Summary}}</td></tr>
{{end}}</tbody></table>
{{range .Operations}}<section class="op" id="{{.Anchor}}">
<h3><code>{{.Method}} {{.Path}}</code></h3>
<p>{{.Summary}}</p>{{with .Description}}<p>{{.}}</p>{{end}}
<p class="meta">Operation <code>{{.ID}}</code>{{with .Tags}} · tags: {{range $i, $t := .}}{{if $i}}, {{end}}{{$t}}{{end}}{{end}} · authentication: {{.Auth}}</p>
{{with .Parameters}}<h4>Parameters</h4><table><thead><tr><th>Name</th><th>In</th><th>Type</th><th>Description</th></tr></thead><tbody>
{{range .}}<tr><td><code>{{.Name}}</code>{{if .Required}} <em>required</em>{{end}}</td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>
{{end}}</tbody></table>{{end}}
{{with .Body}}<h4>Request body</h4><ul>{{range .}}<li><code>{{.Type}}</code>: {{template "type" .Schema}}</li>{{end}}</ul>{{end}}
<h4>Responses</h4><table><thead><tr><th>Status</th><th>Description</th><th>Body</th></tr></thead><tbody>
{{range .Responses}}<tr><td><code>{{.Status}}</code></td><td>{{.Description}}</td><td>{{range .Content}}<code>{{.Type}}</code>: {{template "type" .Schema}} {{end}}</td></tr>
{{end}}</tbody></table>
</section>
{{end}}
<h2>Authentication</h2><table><tbody>
{{range .Security}}<tr><td><code>{{.Name}}</code></td><td>{{.Type}}</td><td>{{.Description}}</td></tr>
{{end}}</tbody></table>
<h2>Schemas</h2>
{{range .Schemas}}<section class="schema" id="schema-{{.Name}}"><h3>{{.Name}}</h3>{{with .Description}}<p>{{.}}</p>{{end}}
{{with .Fields}}<table><thead><tr><th>Field</th><th>Type</th><th>Description</th></tr></thead><tbody>
{{range .}}<tr><td><code>{{.Name}}</code>{{if .Required}} <em>required</em>{{end}}</td><td>{{template "type" .Type}}</td><td>{{.Description}}</td></tr>
{{end}}</tbody></table>{{end}}</section>
{{end}}
</body></html>
{{define "type"}}{{if .Link}}<a href="{{.Link}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}{{end}}`))

// docs serves GET /docs: the API reference, rendered on the server from
// the OpenAPI document GET /openapi.json serves, with no script and
// nothing from elsewhere.
func docs(document []byte) (http.HandlerFunc, error) {
	page, err := readDocs(document)
	if err != nil {
		return nil, err
	}
	return func(w http.ResponseWriter, r *http.Request) {
		writePage(w, http.StatusOK, docsTemplate, page)
	}, nil
}
