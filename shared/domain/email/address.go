package email

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"
)

// Address is one mailbox of an address header.
type Address struct {
	// Name is the display name, decoded; empty when there is none.
	Name string
	// Email is the address, lower-cased.
	Email string
}

// Limits of what ParseAddresses keeps.
const (
	// MaxAddressLen is RFC 5321's limit on a path.
	MaxAddressLen = 254
	// MaxNameLen bounds a display name, in characters.
	MaxNameLen = 200
	// MaxAddresses bounds the addresses taken from one header.
	MaxAddresses = 500
)

// parser decodes RFC 2047 encoded words in any charset the WHATWG
// encoding standard knows (what mail clients emit), not only the UTF-8,
// ISO-8859-1 and US-ASCII of net/mail's default.
var parser = &mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charsetReader}}

func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, fmt.Errorf("charset %q: %w", charset, err)
	}
	return enc.NewDecoder().Reader(input), nil
}

// ParseAddresses reads the mailboxes of an address header (From, To, Cc,
// Bcc, Reply-To) as RFC 5322 defines it: display names quoted or not,
// RFC 2047 encoded words, comments, groups ("Team: a@x, b@y;"), in any
// case. Real mail is often malformed, so it is lenient: when the header
// as a whole does not parse, each comma-separated part is tried on its
// own and, failing that, a bare address inside it is taken. What cannot
// be read is skipped; addresses come back lower-cased, without
// duplicates, in header order.
func ParseAddresses(header string) []Address {
	header = strings.TrimSpace(unfold.Replace(header))
	if header == "" {
		return nil
	}
	list, err := parser.ParseList(header)
	if err != nil {
		list = nil
		for _, part := range splitList(header) {
			if a, err := parser.Parse(part); err == nil {
				list = append(list, a)
			} else if l, err := parser.ParseList(part); err == nil {
				list = append(list, l...) // a group
			} else if addr := bareAddress(part); addr != "" {
				list = append(list, &mail.Address{Address: addr})
			}
		}
	}
	var out []Address
	seen := map[string]bool{}
	for _, a := range list {
		if len(out) >= MaxAddresses {
			break
		}
		addr, ok := normalizeAddress(a.Address)
		if !ok || seen[addr] {
			continue
		}
		seen[addr] = true
		out = append(out, Address{Name: cleanName(a.Name, addr), Email: addr})
	}
	return out
}

// unfold undoes header folding (RFC 5322 2.2.3): a line break followed by
// white space is that white space; a stray line break is a space.
var unfold = strings.NewReplacer("\r\n ", " ", "\r\n\t", "\t", "\n ", " ", "\n\t", "\t", "\r\n", " ", "\n", " ", "\r", " ")

// splitList splits a header at the commas and semicolons that separate
// its parts, not those in quotes, comments or angle brackets. Group
// names ("Team:") are dropped.
func splitList(s string) []string {
	var parts []string
	var b strings.Builder
	depth, angle, quoted, escaped := 0, false, false, false
	flush := func() {
		p := strings.TrimSpace(b.String())
		b.Reset()
		if p != "" {
			parts = append(parts, p)
		}
	}
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && (quoted || depth > 0):
			escaped = true
		case r == '"' && depth == 0:
			quoted = !quoted
		case quoted:
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth > 0:
		case r == '<':
			angle = true
		case r == '>':
			angle = false
		case !angle && (r == ',' || r == ';'):
			flush()
			continue
		case !angle && r == ':' && !strings.Contains(b.String(), "@"):
			b.Reset() // a group's name
			continue
		}
		b.WriteRune(r)
	}
	flush()
	return parts
}

// bareAddress finds something shaped like an address in s, preferring one
// in angle brackets: the last resort for "John Smith john@example.com".
func bareAddress(s string) string {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`<>,;"()[]`, r)
	}) {
		if strings.Count(f, "@") == 1 {
			return f
		}
	}
	return ""
}

// normalizeAddress lower-cases addr and checks it is a plausible mailbox:
// one @, a local part and a domain with a dot or "localhost", nothing
// that cannot be in an address, within RFC 5321's length.
func normalizeAddress(addr string) (string, bool) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if len(addr) > MaxAddressLen || !utf8.ValidString(addr) {
		return "", false
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", false
	}
	local, domain := addr[:at], addr[at+1:]
	if strings.ContainsAny(domain, "@\"\\") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", false
	}
	if !strings.Contains(domain, ".") && domain != "localhost" {
		return "", false
	}
	for _, r := range addr {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>,;()[]", r) {
			return "", false
		}
	}
	if local == "" || strings.Contains(local, "@") && !strings.HasPrefix(local, "\"") {
		return "", false
	}
	return addr, true
}

// cleanName trims a display name, collapses its white space, drops
// control characters, and drops it when it says nothing but the address.
func cleanName(name, addr string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError:
			return -1
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	name = strings.Trim(name, `"' `)
	if strings.EqualFold(name, addr) || strings.EqualFold(strings.Trim(name, "<>"), addr) {
		return ""
	}
	if utf8.RuneCountInString(name) > MaxNameLen {
		r := []rune(name)
		name = strings.TrimSpace(string(r[:MaxNameLen]))
	}
	return name
}
